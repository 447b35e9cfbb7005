#pragma once
// The stateful proxy core (RFC 3261 s.16): the transaction user that runs the request chain
// (the s.16.3 request validation and s.16.4 Route pre-processing, then auth, registrar,
// location...), forwards to the resulting targets in the steps the target chain chooses
// (parallel and serial forking), aggregates responses, runs the failure chain, and handles
// CANCEL and ACK.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/instruments.hpp"
#include "common/net.hpp"
#include "common/timer.hpp"
#include "proxy/call_observer.hpp"
#include "proxy/domains.hpp"
#include "proxy/forward_hook.hpp"
#include "proxy/network_view.hpp"
#include "proxy/peer_rules.hpp"
#include "proxy/request_context.hpp"
#include "proxy/resolver.hpp"
#include "proxy/target_processor.hpp"
#include "proxy/topology_hiding.hpp"
#include "sip/message.hpp"
#include "sip/txn/transaction_layer.hpp"

namespace sipws::proxy {

struct ProxyConfig {
  std::string user_agent = "sipws/0.1";
  /// Key of the Record-Route dialog signatures (RouteSigner); empty = random per process
  /// (dialogs then do not survive a restart).
  std::string route_secret;
  /// In-dialog requests (To tag) and ACKs are relayed only along a Record-Route entry that
  /// sipws signed for that dialog; false (auth=off labs) relays them by their Route or
  /// Request-URI as they come.
  bool strict_dialogs = true;
  /// The shard this core runs on and how many there are (`threads`): branches name the shard
  /// (branch_shard) and, with more than one, Record-Route entries too (route_shard).
  unsigned shard = 0;
  unsigned shards = 1;
};

struct ProxyCoreImpl;

/// Thread: core io thread. Attach the transaction layer before the first message.
/// The request chain starts with the core's own processors, in this order: uri-scheme (416),
/// loose-route (s.16.4), self-options (OPTIONS to sipws: 200), max-forwards (483),
/// loop-detection (482), proxy-require (420), in-dialog (signed Record-Route check, then
/// SkipChain); add_request_processor() appends the policy processors after them.
class ProxyCore final : public sip::txn::TransactionUser {
 public:
  /// `inst`: the counters (proxy_*, and those of the core's own processors and request
  /// contexts) and the token source of branches and To tags; the daemon's default is the
  /// process-wide registry (/metrics) and per_thread_tokens(). All must outlive the core.
  ProxyCore(TimerService& timers, const Domains& domains, NetworkView& net, Resolver& resolver,
            ProxyConfig cfg = {}, Instruments inst = {});
  ~ProxyCore() override;

  /// Wires the transaction layer (responses and forwarded requests go through it) and the
  /// sender used for stateless forwarding (ACK for 2xx).
  void attach(sip::txn::TransactionLayer& txns, sip::txn::Sender& stateless_sender);
  /// Appends a processor to the request chain, after the core's own (order matters: auth,
  /// registrar, lookup...).
  void add_request_processor(std::unique_ptr<RequestProcessor> p);
  /// Appends a failure processor (forward on busy / no answer), asked in order when a serial
  /// step ends without a 2xx.
  void add_failure_processor(std::unique_ptr<FailureProcessor> p);
  /// Adds a processor to the target chain, before the core's q-value processor (which stays
  /// last and decides when no earlier one did): the chain chooses which targets start as one
  /// step and whether the next step starts when a step ends without a 2xx (TargetProcessor).
  void add_target_processor(std::unique_ptr<TargetProcessor> p);
  /// Names the request processor a re-run after a failure starts at (e.g. "alias"): the
  /// retargeted request goes through it and every processor after it. Unset or unknown: no
  /// processor runs again and the new Request-URI is forwarded as it is.
  void set_rerun_from(std::string name);
  /// Sets the hook that sees (and may rewrite) what is forwarded: the media bridge. Optional;
  /// not owned, must outlive the core.
  void set_forward_hook(ForwardHook* hook);
  /// Sets the observer of calls (the call tracker). Optional; not owned, must outlive the core.
  void set_call_observer(CallObserver* observer);
  /// Cancels INVITE server transaction `id` as the UAC's CANCEL would (RFC 3261 s.16.10: its
  /// branches are cancelled, the caller gets 487): the admin API's "end call" before the
  /// answer. False if `id` is not a pending INVITE.
  bool cancel(sip::txn::ServerTxnId id);
  /// Sets the topology-hiding rules (TopologyHiding; null or empty = none): what the core
  /// forwards to a hidden peer, and the responses it sends back to one, are hidden as the last
  /// step before they leave; what arrives from one is revealed as the first step, so the
  /// request chain, the forward hook and dialog signatures see one Call-ID per dialog (the
  /// inside one). A branch keeps the rules it started with (SIGHUP swaps them between
  /// requests).
  void set_topology_hiding(std::shared_ptr<const TopologyHiding> th);
  /// Sets the per-peer adaptations (PeerRules; null or empty = none), applied to every request
  /// the core sends to such a peer, in-dialog requests and ACKs included, as the very last
  /// step: its strip_headers removed, and a request over its max_message_size not sent (the
  /// branch ends with 513 Message Too Large, counted in proxy_too_large_for_peer).
  void set_peer_rules(std::shared_ptr<const PeerRules> rules);

  // sip::txn::TransactionUser
  void on_request(sip::txn::ServerTxnId id, const sip::Message& request,
                  const Source& src) override;
  void on_ack(const sip::Message& ack, const Source& src) override;
  void on_cancel(sip::txn::ServerTxnId invite_id, const sip::Message& cancel) override;
  void on_response(sip::txn::ClientTxnId id, const sip::Message& response) override;
  void on_client_failure(sip::txn::ClientTxnId id, bool transport_error) override;
  void on_stray_response(const sip::Message& response, const Source& src) override;
  void on_server_terminated(sip::txn::ServerTxnId id) override;

  /// Requests in progress (server transactions with a live context).
  std::size_t active_requests() const;

 private:
  std::unique_ptr<ProxyCoreImpl> impl_;
};

}  // namespace sipws::proxy
