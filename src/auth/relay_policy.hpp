#pragma once
// The relay policy (RFC 3261 s.16 proxy policy; the seed's is_from_local / is_uri_host_local
// logic): who may send what through sipws. It classifies each initial request by the locality
// of its From and of its target and by the trust of its sender, and refuses what would make
// sipws an open relay before anything is forwarded.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "auth/trusted_peers.hpp"
#include "common/counters.hpp"
#include "common/reloadable.hpp"
#include "proxy/domains.hpp"
#include "proxy/request_context.hpp"

namespace sipws::auth {

/// `foreign_callers`: what a stranger (another domain, unauthenticated) may do to local users.
enum class ForeignCallers {
  Challenge,  ///< 407 like any other request (default: closed setup, PBX front end)
  Allow,      ///< SIP federation: reach local users and aliases without a challenge, nothing else
};

/// The reloadable part of the policy (config keys foreign_callers, trusted_peers; auth=off).
struct RelayPolicyConfig {
  ForeignCallers foreign_callers = ForeignCallers::Challenge;
  TrustedPeers trusted_peers;
  /// auth=off: every request may go anywhere (labs and benchmarks only; logged at start).
  bool open = false;
};

/// Request processor "relay-policy", first after flow-identity. For every initial request
/// but ACK and CANCEL:
///  - REGISTER whose Request-URI (local domain or our address with our port) and To are not
///    for a local domain: 403 "Domain Not Served" (never forwarded, never a 500).
///  - A request another cluster node vouched for (set_cluster_peer) is trusted with relay.
///  - A trusted peer (`trusted_peers`: source network, transport, optional From/Request-URI
///    patterns) is marked on ctx (it skips digest-auth and call classes); a non-local target
///    is refused 403 "Relaying denied" unless the peer has `relay`.
///  - With `open` (auth=off) nothing else is checked.
///  - Target: the top Route left after the core removed its own entries, else the
///    Request-URI; local = a local domain or one of sipws's addresses with one of its ports
///    (proxy::Domains::is_self(host, port)), or a tel: URI (a number in our domain).
///  - From a local domain (in->in, in->out): Continue, digest-auth challenges (407).
///  - From another domain to a non-local target (out->out): 403 "Relaying denied", unless a
///    WebSocket handshake already proved an identity.
///  - From another domain to a local target (out->in): `foreign_callers` allow => Continue
///    unauthenticated (ctx.may_leave() stays false: gateways and foreign targets refuse it);
///    challenge => ctx.require_auth(<the target's local domain>): digest-auth answers 407.
/// Counters: relay_denied, relay_register_foreign, relay_trusted. Thread: core io thread.
class RelayPolicyProcessor final : public proxy::RequestProcessor {
 public:
  /// `domains` and `config` must outlive the processor.
  RelayPolicyProcessor(const proxy::Domains& domains, const Reloadable<RelayPolicyConfig>& config);

  /// Cluster mode: names the cluster node that vouched for the request
  /// (ClusterMembership::vouched_by, which also removes the vouching header), nullopt for any
  /// other. A request a node vouched for is trusted with relay: the node that received it from
  /// its sender already applied this policy and digest auth.
  using ClusterPeer = std::function<std::optional<std::string>(sip::Message&)>;
  /// Sets the cluster hook (before traffic).
  void set_cluster_peer(ClusterPeer peer) { cluster_peer_ = std::move(peer); }

  std::string_view name() const override { return "relay-policy"; }
  proxy::Action process(proxy::RequestContext& ctx) override;

 private:
  /// True if the request's next destination is local (see the class comment).
  bool target_is_local(const sip::Message& req) const;

  const proxy::Domains& domains_;
  const Reloadable<RelayPolicyConfig>& config_;
  ClusterPeer cluster_peer_;
  Counter& denied_;
  Counter& register_foreign_;
  Counter& trusted_;
};

}  // namespace sipws::auth
