#pragma once
// What the request chain works on (repro's RequestContext): the request as received, the copy
// being forwarded, where it came from, the targets chosen so far, and the response if a
// processor answered.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/instruments.hpp"
#include "common/net.hpp"
#include "common/timer.hpp"
#include "sip/message.hpp"
#include "sip/txn/transaction_layer.hpp"

namespace sipws::proxy {

/// What a processor tells the chain to do next (Envoy's Continue/StopIteration).
enum class Action {
  Continue,   ///< run the next processor
  Pause,      ///< async work started; the processor will call the resume handle later
  Respond,    ///< ctx.response() is set: send it, stop the chain
  SkipChain,  ///< stop the chain and forward to the targets found so far
};

/// One place to send the request (RFC 3261 s.16.5 target set).
struct Target {
  std::string uri;                      ///< the Request-URI to send (a registered contact...)
  std::vector<std::string> route;       ///< Route values to put first (a binding's Path, RFC 3327)
  std::optional<Destination> next_hop;  ///< fixed next hop (the flow a binding registered on)
  float q = 1.0f;                       ///< preference (RFC 3261 s.10.2.1.2); highest first
  /// Serial forking (RFC 3261 s.16.6 step 2): targets of equal q are tried in parallel, lower
  /// q only after every branch of the higher group ended without a 2xx. `continue_on` limits
  /// which final statuses of this target let the walk go on (a gateway fails over on 408 and
  /// 503 only); empty = any non-2xx below 600.
  std::vector<int> continue_on;
  /// No response at all (not even 100) within this time ends the branch as a 408 (a dead
  /// gateway is abandoned after `gateway_timeout`, not Timer B's 32 s). 0 = Timer B alone.
  Millis response_timeout{0};
  /// Called once per branch with the request about to leave and the listen point it leaves
  /// from (Max-Forwards and Record-Route done, Via not yet added): an edge function writes
  /// sipws's own address there (the upstream registrar's Path entry or rewritten Contact,
  /// make_record_route for the address). Empty = nothing.
  std::function<void(sip::Message& request, const ListenPoint& out)> before_send;
  /// Credentials for a 401/407 this target answers (a gateway's `auth_user`/`password`,
  /// Kamailio's uac_auth): given the challenge response and the request as it was before
  /// forwarding, the Authorization / Proxy-Authorization value to send it again with, or
  /// nullopt to relay the challenge. Asked once per destination. Empty = relay every
  /// challenge.
  std::function<std::optional<std::string>(const sip::Message& challenge,
                                           const sip::Message& request)>
      answer_challenge;
  /// The gateway this target is (`gateways` name), for call records; "" for any other.
  std::string gateway;
};

/// How one serial step of a proxied request ended without a 2xx (RFC 3261 s.16.7 step 6):
/// what the failure processors (forward on busy / no answer) decide on.
struct StepOutcome {
  int best_status = 0;     ///< best final status so far (the one the caller would get)
  bool all_busy = false;   ///< every branch of the step answered 486 or 600
  bool no_answer = false;  ///< the ring timeout fired, or every branch ended 408 or 480
};

/// What the loose-route processor found among the Route entries of ours it removed (RFC 3261
/// s.16.4): an in-dialog request is relayed only along entries sipws signed for its dialog,
/// and a flow token in them names the flow to send on.
struct OwnRoutes {
  int count = 0;          ///< entries of ours removed (or a strict router's Request-URI)
  bool signed_ok = true;  ///< every one carried a valid dialog signature (RouteSigner)
  FlowId flow = kNoFlow;  ///< the flow a token in them names; kNoFlow if none (or the sender's)
};

/// Forwarding that applies if the current target fails (the seed's failure routes), set by
/// the call-forward processor for a local user: SIP URIs, empty = none.
struct FailureForward {
  std::string aor;        ///< whose rules these are ("user@domain")
  std::string busy;       ///< 486/600 from every branch
  std::string no_answer;  ///< ring timeout, or 408/480
};

/// State of one request through the chain. Thread: core io thread.
class RequestContext {
 public:
  /// `inst`: where respond() draws To tags from and respond_store_unavailable() counts (the
  /// proxy core's); must outlive the context.
  RequestContext(const sip::Message& request, const Source& src, sip::txn::ServerTxnId txn,
                 Instruments inst = {})
      : original_(request), request_(request), source_(src), txn_(txn), inst_(inst) {}

  /// The request exactly as received.
  const sip::Message& original() const { return original_; }
  /// The copy that will be forwarded; processors may change it (Request-URI, headers).
  sip::Message& request() { return request_; }
  const Source& source() const { return source_; }
  sip::txn::ServerTxnId server_txn() const { return txn_; }
  /// The counters and token source of the core that made this context (processors count and
  /// draw tags through them).
  const Instruments& instruments() const { return inst_; }

  /// Creates the response this context will send when a processor returns Action::Respond:
  /// make_response(original(), status, reason) with a To tag (10 characters of
  /// instruments().tokens) for non-100 responses to a request without one.
  /// Returns it so the processor can add headers (WWW-Authenticate, Contact, Min-Expires...).
  sip::Message& respond(int status, std::string_view reason = {});
  /// respond(503, reason) with `Retry-After: retry_after_s` (RFC 3261 s.21.5.4, s.20.33): this
  /// server cannot serve the request for now (a backend failed, too much work in flight); the
  /// client may retry after that many seconds, or at once at another server (RFC 3263 s.4.3).
  sip::Message& respond_unavailable(std::string_view reason, std::uint32_t retry_after_s);
  /// The answer to a request that needed a store read that failed (store::StoreErrc: an error,
  /// not an absence, so never 401/403/404): respond_unavailable("Service Unavailable - Store
  /// Unavailable", kStoreRetryAfterS), counted as store_unavailable_responses. 503 rather than
  /// 500: the failure is the backend's and temporary as far as the request can tell, which is
  /// what s.21.5.4 describes, and it lets the client fail over to another node (a 500 says
  /// this request met an unexpected condition of ours).
  sip::Message& respond_store_unavailable();
  /// Retry-After of respond_store_unavailable(), seconds.
  static constexpr std::uint32_t kStoreRetryAfterS = 5;
  std::optional<sip::Message>& response() { return response_; }

  std::vector<Target>& targets() { return targets_; }

  /// The identity proven for this request: "user@domain" after digest auth (or flow
  /// handshake auth); empty if none.
  const std::string& identity() const { return identity_; }
  void set_identity(std::string aor) { identity_ = std::move(aor); }

  /// Set by the relay policy when the source is a trusted peer (`trusted_peers`): the request
  /// skips digest auth and call classes; `may_relay` lets it reach non-local targets.
  void set_trusted_peer(std::string name, bool may_relay) {
    trusted_peer_ = std::move(name);
    peer_may_relay_ = may_relay;
  }
  bool from_trusted_peer() const { return !trusted_peer_.empty(); }
  const std::string& trusted_peer() const { return trusted_peer_; }
  /// Set by the relay policy: this request must be authenticated in `realm` although its
  /// From is not a local user (an out->in call with foreign_callers=challenge). Digest auth
  /// then accepts any subscriber of that realm.
  void require_auth(std::string realm) { auth_realm_ = std::move(realm); }
  const std::string& required_auth_realm() const { return auth_realm_; }
  /// May the request leave sipws (a foreign domain, a PSTN gateway)? An authenticated
  /// subscriber, a trusted peer allowed to relay, or a call forwarded by a local user's rule.
  bool may_leave() const {
    return open_relay_ || !identity_.empty() || (from_trusted_peer() && peer_may_relay_) ||
           forwarded_;
  }
  /// auth=off (labs): the relay policy lets every request leave.
  void set_open_relay() { open_relay_ = true; }
  /// Marks the request as retargeted by a local user's forwarding rule (it may then leave on
  /// that user's behalf; call classes still apply).
  void set_forwarded() { forwarded_ = true; }
  bool forwarded() const { return forwarded_; }

  /// The subscriber ("user@domain") the Request-URI names now, set by call-forward once it
  /// found one (gateway routes and call classes leave local users alone); empty otherwise.
  void set_local_user(std::string aor) { local_user_ = std::move(aor); }
  const std::string& local_user() const { return local_user_; }
  /// The caller's groups (call classes), once the call-class processor fetched them.
  std::optional<std::vector<std::string>>& caller_groups() { return caller_groups_; }
  /// Request-URIs this request was retargeted to so far (forward loop detection, History-Info
  /// indexes), in order; the first is the original Request-URI.
  std::vector<std::string>& retargets() { return retargets_; }
  const std::vector<std::string>& retargets() const { return retargets_; }
  /// The Route entries of ours the loose-route processor removed; see OwnRoutes.
  OwnRoutes& own_routes() { return own_routes_; }
  const OwnRoutes& own_routes() const { return own_routes_; }
  /// Forwarding to apply if the current target fails; see FailureForward.
  FailureForward& failure_forward() { return failure_forward_; }
  /// The dial-plan route that chose this request's gateways (its `match`), for call records;
  /// "" if none.
  void set_route_name(std::string name) { route_name_ = std::move(name); }
  const std::string& route_name() const { return route_name_; }
  /// A no-answer time for the next serial step (consumed when it starts); 0 = none.
  void set_ring_timeout(Millis t) { ring_timeout_ = t; }
  Millis take_ring_timeout() { return std::exchange(ring_timeout_, Millis{0}); }
  /// True while the chain runs again after a failure (forward on busy / no answer): a
  /// processor's response then competes with the earlier ones (s.16.7) instead of being sent.
  bool rerun() const { return rerun_; }
  void set_rerun(bool r) { rerun_ = r; }

  /// Sees every response relayed to the client for this request (provisional, 2xx, and the
  /// best final), our Via already removed, before the media hook and the send; responses
  /// sipws makes itself are not shown. The upstream registrar restores the Contacts it
  /// rewrote here. Set by a processor; empty = none.
  void set_response_filter(std::function<void(sip::Message&)> f) {
    response_filter_ = std::move(f);
  }
  const std::function<void(sip::Message&)>& response_filter() const { return response_filter_; }

  /// For Action::Pause: a handle to continue the chain later with the given action (call it
  /// on the core io thread, once). Safe to call after the transaction is gone (no-op).
  std::function<void(Action)> pause_handle() const {
    return resume_factory_ ? resume_factory_() : nullptr;
  }
  /// Set by the proxy core before the chain runs.
  void set_resume_factory(std::function<std::function<void(Action)>()> f) {
    resume_factory_ = std::move(f);
  }

 private:
  sip::Message original_;
  sip::Message request_;
  Source source_;
  sip::txn::ServerTxnId txn_;
  Instruments inst_;
  std::optional<sip::Message> response_;
  std::vector<Target> targets_;
  std::string identity_;
  std::string trusted_peer_;
  bool peer_may_relay_ = false;
  std::string auth_realm_;
  bool forwarded_ = false;
  bool open_relay_ = false;
  std::string local_user_;
  std::string route_name_;
  std::optional<std::vector<std::string>> caller_groups_;
  std::vector<std::string> retargets_;
  FailureForward failure_forward_;
  OwnRoutes own_routes_;
  Millis ring_timeout_{0};
  bool rerun_ = false;
  std::function<std::function<void(Action)>()> resume_factory_;
  std::function<void(sip::Message&)> response_filter_;
};

/// One step of the request chain: one job (max-forwards, digest-auth, registrar...).
/// Thread: core io thread.
class RequestProcessor {
 public:
  virtual ~RequestProcessor() = default;
  /// Short name for logs ("digest-auth").
  virtual std::string_view name() const = 0;
  virtual Action process(RequestContext& ctx) = 0;
};

/// Runs when a serial step ended without a 2xx, before the best response is sent (the seed's
/// failure_route: forward on busy / no answer). Thread: core io thread.
class FailureProcessor {
 public:
  virtual ~FailureProcessor() = default;
  virtual std::string_view name() const = 0;
  /// Returns true after retargeting ctx.request() (Request-URI, Diversion...): the core then
  /// runs the request chain again from its rerun point and forks to the new targets, keeping
  /// the responses so far for aggregation. False: not this processor's case.
  virtual bool on_failure(RequestContext& ctx, const StepOutcome& outcome) = 0;
};

}  // namespace sipws::proxy
