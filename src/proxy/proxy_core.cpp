#include "proxy/proxy_core.hpp"

#include <algorithm>
#include <deque>

#include "common/counters.hpp"
#include "common/log.hpp"
#include "common/text.hpp"
#include "proxy/in_dialog.hpp"
#include "proxy/loop_detection.hpp"
#include "proxy/loose_route.hpp"
#include "proxy/max_forwards.hpp"
#include "proxy/proxy_require.hpp"
#include "proxy/qvalue_target.hpp"
#include "proxy/routing.hpp"
#include "proxy/self_options.hpp"
#include "proxy/uri_scheme.hpp"

namespace sipws::proxy {

using sip::HeaderId;
using sip::Message;
using sip::Method;
using sip::txn::ClientTxnId;
using sip::txn::ServerTxnId;

namespace {

constexpr Millis kTimerC{180000};  // RFC 3261 s.16.6 step 11: > 3 minutes

/// The core's counters, looked up once in the core's registry (Instruments::counters).
struct Stats {
  explicit Stats(Counters& c)
      : requests(c.get("proxy_requests")),
        failovers(c.get("proxy_dns_failovers")),
        forwarded(c.get("proxy_branches_forwarded")),
        local_responses(c.get("proxy_local_responses")),
        acks_forwarded(c.get("proxy_acks_forwarded")),
        acks_dropped(c.get("proxy_acks_dropped")),
        stray_responses(c.get("proxy_stray_responses")),
        resolve_failures(c.get("proxy_resolve_failures")),
        sips_refused(c.get("proxy_sips_refused")),
        forged_routes(c.get("proxy_forged_routes")),
        unrouted_in_dialog(c.get("proxy_unrouted_in_dialog")),
        serial_steps(c.get("proxy_serial_steps")),
        failure_reruns(c.get("proxy_failure_reruns")),
        branch_timeouts(c.get("proxy_branch_timeouts")),
        ring_timeouts(c.get("proxy_ring_timeouts")),
        challenges_answered(c.get("proxy_challenges_answered")),
        too_large_for_peer(c.get("proxy_too_large_for_peer")) {}
  Counter& requests;
  Counter& failovers;  // RFC 3263 s.4.3 retries
  Counter& forwarded;
  Counter& local_responses;
  Counter& acks_forwarded;
  Counter& acks_dropped;
  Counter& stray_responses;
  Counter& resolve_failures;
  Counter& sips_refused;
  Counter& forged_routes;  // bad/no signature
  Counter& unrouted_in_dialog;
  Counter& serial_steps;     // steps after the first
  Counter& failure_reruns;   // forward on failure
  Counter& branch_timeouts;  // response_timeout
  Counter& ring_timeouts;
  Counter& challenges_answered;  // a target's 401/407 answered with its credentials
  Counter& too_large_for_peer;   // over a peer's max_message_size: not sent (513)
};

/// Bound on chain re-runs after failures (forward on busy / no answer) per request.
constexpr int kMaxReruns = 8;

/// Chooses the response to forward when every branch is final (RFC 3261 s.16.7 step 6):
/// a 6xx if any, else the lowest class, and within it the first one received.
bool better(int candidate, int current) {
  if (current == 0) return true;
  const int cc = candidate / 100, cur = current / 100;
  if (cur == 6) return false;
  if (cc == 6) return true;
  return cc < cur;
}

}  // namespace

struct Branch {
  ClientTxnId txn = 0;
  int status = 0;         ///< final status (0 while pending; 408 when timed out locally)
  bool answered = false;  ///< a 2xx came (later 2xx are retransmissions or other dialogs)
  Target target;          ///< what the target chain started (continue_on, response_timeout)
  TimerService::TimerId response_timer = 0;
  std::string branch_id;  ///< the branch parameter of our Via (for the forward hook)
  Message request;
  Destination dest;
  bool started = false;
  bool provisional = false;
  bool final = false;
  bool cancel_pending = false;
  bool cancel_sent = false;
  TimerService::TimerId timer_c = 0;
  /// RFC 3263 s.4.3: the located destinations not tried yet, and the request as it was before
  /// forwarding (for the retry); both empty when there is nothing to fail over to.
  std::vector<Destination> alternatives;
  std::optional<Message> retry_request;
  /// The target answered a 401/407 of this destination already (Target::answer_challenge):
  /// a second challenge is relayed.
  bool challenge_answered = false;
  /// Sent to a hidden peer (TopologyHiding): its responses are revealed with `hiding` and get
  /// back `inside_rr`, the Record-Route entries leading inside that the request lost.
  std::shared_ptr<const TopologyHiding> hiding;
  std::vector<std::string> inside_rr;
};

/// One server transaction being proxied.
struct ServerCtx {
  ServerTxnId id = 0;
  std::shared_ptr<RequestContext> rc;
  std::size_t next_processor = 0;
  bool paused = false;
  bool terminated = false;  ///< the server transaction ended while the chain was paused
  bool invite = false;
  bool final_sent = false;
  bool cancelled = false;
  bool chain_done = false;
  const ListenPoint* in_lp = nullptr;
  /// Every branch of every serial step, in order (a deque: references stay valid while a
  /// later step appends).
  std::deque<Branch> branches;
  std::vector<Target> candidates;  ///< targets not started yet (the target chain's)
  std::vector<TriedTarget> tried;  ///< scratch for the target chain (the step that ended)
  std::size_t step_begin = 0;      ///< first branch of the current step
  TimerService::TimerId ring_timer = 0;
  int reruns = 0;
  std::optional<Message> best;
  bool best_local = false;  ///< best was synthesized here (no downstream response)
  /// The request came from a hidden peer (TopologyHiding): every response to it is hidden.
  std::shared_ptr<const TopologyHiding> hiding;
};

struct ProxyCoreImpl {
  TimerService& timers;
  const Domains& domains;
  NetworkView& net;
  Resolver& resolver;
  ProxyConfig cfg;
  Instruments inst;
  sip::txn::TransactionLayer* txns = nullptr;
  sip::txn::Sender* stateless = nullptr;
  std::vector<std::unique_ptr<RequestProcessor>> chain;
  std::vector<std::unique_ptr<FailureProcessor>> failure_chain;
  /// The target chain; the q-value processor stays last (add_target_processor inserts before).
  std::vector<std::unique_ptr<TargetProcessor>> target_chain;
  std::string rerun_from;  ///< name of the processor a re-run starts at ("" = none)
  RouteSigner signer;
  ForwardHook* hook = nullptr;
  CallObserver* observer = nullptr;
  std::shared_ptr<const TopologyHiding> hiding;  ///< null = no topology hiding
  std::shared_ptr<const PeerRules> peer_rules;   ///< null = none
  std::unordered_map<ServerTxnId, std::unique_ptr<ServerCtx>> servers;
  std::unordered_map<ClientTxnId, std::pair<ServerTxnId, std::size_t>> clients;
  Stats stats;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  std::deque<ListenPoint> client_lps;    ///< see client_listen_point()
  std::deque<ListenPoint> wildcard_lps;  ///< see at_address()

  ProxyCoreImpl(TimerService& t, const Domains& d, NetworkView& n, Resolver& r, ProxyConfig c,
                Instruments i)
      : timers(t),
        domains(d),
        net(n),
        resolver(r),
        cfg(std::move(c)),
        inst(i),
        signer(cfg.route_secret),
        stats(inst.counters) {
    // RFC 3261 s.16.3 (request validation) and s.16.4 (Route pre-processing), in the order
    // of the RFC's steps; the policy processors follow (add_request_processor).
    chain.push_back(std::make_unique<UriSchemeProcessor>());
    chain.push_back(std::make_unique<LooseRouteProcessor>(domains, net, signer));
    chain.push_back(std::make_unique<SelfOptionsProcessor>(domains, net));
    chain.push_back(std::make_unique<MaxForwardsProcessor>());
    chain.push_back(std::make_unique<LoopDetectionProcessor>(net, inst.counters));
    chain.push_back(std::make_unique<ProxyRequireProcessor>());
    chain.push_back(
        std::make_unique<InDialogProcessor>(domains, net, cfg.strict_dialogs, inst.counters));
    target_chain.push_back(std::make_unique<QValueTargetProcessor>());
  }

  // ---------------------------------------------------------------- helpers

  /// The listen point that requests to `addr` (if given) over `p` leave from: the first of
  /// that protocol and family (else of that protocol); a wildcard one as seen from the address
  /// the route to `addr` leaves from (at_address).
  const ListenPoint* listen_point_for(Protocol p, const IpAddress* addr) {
    const ListenPoint* found = nullptr;
    for (const auto& lp : net.listen_points()) {
      if (lp.protocol != p) continue;
      if (addr == nullptr || lp.local.address.is_v6() == addr->is_v6()) {
        found = &lp;
        break;
      }
      if (found == nullptr) found = &lp;
    }
    if (found != nullptr && addr != nullptr && found->local.address.is_unspecified()) {
      if (auto src = net.source_address_for(*addr)) return at_address(*found, *src);
    }
    return found;
  }

  /// Listen point `lp` bound to a wildcard address as seen at `addr`, one of this host's
  /// addresses: its local address is `addr`, and so is what it advertises unless it has an
  /// `advertise` of its own. Stable pointers (std::deque); one per (listen point, address), and
  /// the addresses are the host's own (IP_PKTINFO, the routing table), so it stays small.
  const ListenPoint* at_address(const ListenPoint& lp, const IpAddress& addr) {
    if (addr.is_unspecified() || !lp.local.address.is_unspecified()) return &lp;
    const bool advertised = lp.advertised != lp.local.host_string();
    for (const auto& c : wildcard_lps) {
      if (c.protocol == lp.protocol && c.local.port == lp.local.port && c.local.address == addr &&
          (!advertised || c.advertised == lp.advertised)) {
        return &c;
      }
    }
    ListenPoint c = lp;
    c.local.address = addr;
    if (!advertised) c.advertised = c.local.host_string();
    wildcard_lps.push_back(std::move(c));
    return &wildcard_lps.back();
  }

  /// The WS/WSS "listen point" of requests sent over an outbound WebSocket connection when
  /// sipws has no listener of that protocol: Via and Record-Route carry the WS/WSS token
  /// (RFC 7118 s.5.2) with the host and port of `base` (the incoming listen point, else the
  /// first one). Stable pointers (std::deque). nullptr if sipws listens nowhere.
  const ListenPoint* client_listen_point(Protocol p, const ListenPoint* base) {
    if (base == nullptr && !net.listen_points().empty()) base = &net.listen_points().front();
    if (base == nullptr) return nullptr;
    for (const auto& lp : client_lps) {
      if (lp.protocol == p && lp.local == base->local && lp.advertised == base->advertised &&
          lp.advertised_port == base->advertised_port) {
        return &lp;
      }
    }
    client_lps.push_back(ListenPoint{p, base->local, base->advertised, base->advertised_port});
    return &client_lps.back();
  }

  /// True if `flow` is an open WS/WSS flow. A flow token of ours naming one pins the next hop
  /// even when Route entries remain (RFC 5626 s.5.3): the peer at the other end of a
  /// WebSocket (a browser, or a server sipws connected to as a client, whose own Record-Route
  /// entry is next) may be unreachable but over that connection.
  bool websocket_flow_alive(FlowId flow) const {
    const auto p = net.flow_protocol(flow);
    return p && is_websocket(*p) && net.flow_alive(flow);
  }

  /// RFC 7118 s.5.2 / RFC 6761 s.6.4: a WebSocket client's Contact / Via host.
  static bool is_invalid_host(std::string_view host) {
    constexpr std::string_view kInvalid = ".invalid";
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    if (host.size() < kInvalid.size()) return host == "invalid";
    return text::iequal(host.substr(host.size() - kInvalid.size()), kInvalid);
  }

  /// The listen point a message from `src` arrived on (a wildcard one as seen at the address
  /// it was sent to), else the one requests to its peer would leave from.
  const ListenPoint* listen_point_of(const Source& src) {
    if (const ListenPoint* lp = listen_point_at(src.protocol, src.local)) return lp;
    return listen_point_for(src.protocol, &src.peer.address);
  }

  /// The listen point of protocol `p` bound to `local` (its port, and its address or a
  /// wildcard: then as seen at local's address); nullptr if none.
  const ListenPoint* listen_point_at(Protocol p, const Endpoint& local) {
    const ListenPoint* wildcard = nullptr;
    const ListenPoint* same_port = nullptr;  // only the port matches (a test's Source)
    for (const auto& lp : net.listen_points()) {
      if (lp.protocol != p || lp.local.port != local.port) continue;
      if (lp.local.address == local.address) return &lp;
      if (wildcard == nullptr && lp.local.address.is_unspecified()) wildcard = &lp;
      if (same_port == nullptr) same_port = &lp;
    }
    return wildcard != nullptr ? at_address(*wildcard, local.address) : same_port;
  }

  /// Where request `dest` leaves from: the listener it names (`Destination::local`: a UDP
  /// binding is reached through the listener it registered on), else listen_point_for. A UDP
  /// destination is pinned to it, so that the datagram leaves from what its Via names.
  const ListenPoint* out_listen_point(Destination& dest) {
    const ListenPoint* lp =
        dest.local.port != 0 ? listen_point_at(dest.protocol, dest.local) : nullptr;
    if (lp == nullptr) lp = listen_point_for(dest.protocol, &dest.endpoint.address);
    if (lp != nullptr && dest.protocol == Protocol::Udp) dest.local = lp->local;
    return lp;
  }

  /// Sends a locally generated response through the server transaction.
  void respond_local(ServerCtx& sc, Message rsp) {
    if (sc.final_sent) return;
    stats.local_responses.inc();
    if (!cfg.user_agent.empty() && !rsp.find(HeaderId::Server)) {
      rsp.append(HeaderId::Server, cfg.user_agent);
    }
    if (rsp.status() >= 200) sc.final_sent = true;
    // A non-INVITE's context is freed right after its final response: the transaction layer
    // reports it terminated from a 0 ms timer (and alone absorbs retransmissions on UDP).
    send_response(sc, rsp);
  }

  void respond_status(ServerCtx& sc, int status, std::string_view reason = {}) {
    respond_local(sc, sc.rc->respond(status, reason));
  }

  /// True when the Request-URI or the top Route is a SIPS URI (RFC 3261 s.16.6 step 4).
  static bool is_sips_request(const Message& req) {
    if (req.request_uri().scheme == sip::Scheme::Sips) return true;
    if (const auto* r = req.find(HeaderId::Route)) {
      if (auto na = sip::parse_name_addr(r->value)) return na->uri.scheme == sip::Scheme::Sips;
    }
    return false;
  }

  bool is_self_uri(const sip::Uri& uri) const { return proxy::is_self_uri(uri, domains, net); }

  /// The topology-hiding rules if `address` is a hidden peer's, else null.
  std::shared_ptr<const TopologyHiding> hiding_for(const IpAddress& address) const {
    return hiding && hiding->hides(address) ? hiding : nullptr;
  }
  TopologyHiding::IsOwn own_uri() const {
    return [this](const sip::Uri& u) { return is_self_uri(u); };
  }

  /// Applies the peer rules of `dest` to request `req` about to leave (the last step): strips
  /// its headers; false when it is over the peer's max_message_size (not to be sent).
  bool adapt_for_peer(Message& req, const Destination& dest) {
    const PeerRule* rule = peer_rules ? peer_rules->find(dest.endpoint.address) : nullptr;
    if (rule == nullptr) return true;
    for (const auto& name : rule->strip_headers) req.remove_all(std::string_view(name));
    if (rule->max_message_size == 0) return true;
    const std::size_t size = req.serialize().size();
    if (size <= rule->max_message_size) return true;
    stats.too_large_for_peer.inc();
    log::proxy().warn("{} {} not sent to {}: {} bytes, the peer takes {} (max_message_size)",
                      req.method_name(), req.call_id(), dest.endpoint.to_string(), size,
                      rule->max_message_size);
    return false;
  }

  /// Sends `rsp` through server transaction `ctx`, hidden when the request came from a
  /// hidden peer (the last step before it leaves).
  void send_response(ServerCtx& ctx, Message& rsp, const Destination* from = nullptr) {
    if (observer != nullptr) observer->on_response(ctx.id, *ctx.rc, rsp, from);
    if (ctx.hiding && ctx.in_lp != nullptr) ctx.hiding->hide_response(rsp, *ctx.in_lp, own_uri());
    txns->respond(ctx.id, rsp);
  }

  // ---------------------------------------------------------------- requests

  void on_request(ServerTxnId id, const Message& request, const Source& src) {
    stats.requests.inc();
    auto sc = std::make_unique<ServerCtx>();
    sc->id = id;
    sc->hiding = hiding_for(src.peer.address);
    if (sc->hiding) {
      // From a hidden peer: revealed before anything looks at it (TopologyHiding).
      Message revealed = request;
      sc->hiding->reveal_request(revealed);
      sc->rc = std::make_shared<RequestContext>(revealed, src, id, inst);
    } else {
      sc->rc = std::make_shared<RequestContext>(request, src, id, inst);
    }
    sc->invite = request.method() == Method::Invite;
    sc->in_lp = listen_point_of(src);
    ServerCtx& ctx = *sc;
    servers[id] = std::move(sc);
    if (observer != nullptr) observer->on_request(id, *ctx.rc);
    // RFC 3261 s.18.2.1 / RFC 3581: received and rport for the responses' way back.
    if (auto fixed = via_with_received(request.top_via(), src)) {
      ctx.rc->request().set_top_via(std::move(*fixed));
    }
    // The handle a processor gets when it pauses (made only then, see pause_handle()); the
    // factory's captures fit std::function's local storage: no allocation per request.
    ctx.rc->set_resume_factory([this, id]() {
      return std::function<void(Action)>([this, id, alive = std::weak_ptr<bool>(alive)](Action a) {
        if (alive.expired()) return;
        resume(id, a);
      });
    });
    run_chain(ctx);
  }

  void resume(ServerTxnId id, Action a) {
    auto it = servers.find(id);
    if (it == servers.end() || !it->second->paused) return;
    ServerCtx& ctx = *it->second;
    ctx.paused = false;
    if (ctx.terminated) {
      servers.erase(it);
      return;
    }
    if (ctx.final_sent) return;  // cancelled while paused
    if (!apply(ctx, a)) return;
    run_chain(ctx);
  }

  /// Applies one processor's action; returns true to go on with the chain.
  bool apply(ServerCtx& ctx, Action a) {
    switch (a) {
      case Action::Continue:
        return true;
      case Action::Pause:
        ctx.paused = true;
        return false;
      case Action::Respond: {
        if (!ctx.rc->response()) ctx.rc->respond(500, "Server Internal Error");
        const Message& rsp = *ctx.rc->response();
        if (ctx.rc->rerun()) {
          // A re-run after a failure (the forward target is unknown, not allowed...): this
          // response competes with the earlier ones (s.16.7 step 6).
          record_final(ctx, rsp, true);
          finish(ctx);
          return false;
        }
        // A known user without a usable binding: forwarding on no answer applies too.
        if (rsp.status() == 480 && !ctx.rc->failure_forward().no_answer.empty()) {
          record_final(ctx, rsp, true);
          StepOutcome o;
          o.best_status = 480;
          o.no_answer = true;
          if (try_failure_forward(ctx, o)) return false;
        }
        respond_local(ctx, rsp);
        return false;
      }
      case Action::SkipChain:
        ctx.next_processor = chain.size();
        return true;
    }
    return false;
  }

  void run_chain(ServerCtx& ctx) {
    while (ctx.next_processor < chain.size()) {
      RequestProcessor& p = *chain[ctx.next_processor++];
      const Action a = p.process(*ctx.rc);
      if (!apply(ctx, a)) return;
    }
    ctx.chain_done = true;
    route(ctx);
  }

  /// Runs the failure processors for `outcome`; when one retargets the request, runs the chain
  /// again from the rerun point (its targets become the next step). Returns true if it did.
  bool try_failure_forward(ServerCtx& ctx, const StepOutcome& outcome) {
    if (ctx.cancelled || ctx.final_sent || ctx.reruns >= kMaxReruns) return false;
    // s.16.7 step 5: no new branch after a 6xx, but for forward-on-busy on 600 Busy
    // Everywhere from every branch (the operator's rule, as the seed's failure_route).
    if (outcome.best_status >= 600 && !outcome.all_busy) return false;
    for (auto& fp : failure_chain) {
      if (!fp->on_failure(*ctx.rc, outcome)) continue;
      ++ctx.reruns;
      stats.failure_reruns.inc();
      log::proxy().debug("{}: retargeted to {} after {}", fp->name(),
                         ctx.rc->request().request_uri().raw, outcome.best_status);
      ctx.candidates.clear();
      ctx.rc->targets().clear();
      ctx.rc->response().reset();
      ctx.rc->set_rerun(true);
      ctx.chain_done = false;
      ctx.next_processor = chain.size();
      for (std::size_t k = 0; k < chain.size(); ++k) {
        if (chain[k]->name() == rerun_from) ctx.next_processor = k;
      }
      run_chain(ctx);
      return true;
    }
    return false;
  }

  /// After the chain: forward to its targets, or to the Request-URI / top Route, in the steps
  /// the target chain chooses (by default q-groups, highest first: s.16.6 step 2).
  void route(ServerCtx& ctx) {
    Message& req = ctx.rc->request();
    auto& targets = ctx.rc->targets();
    if (targets.empty()) {
      if (req.count(HeaderId::Route) == 0 && is_self_uri(req.request_uri()) &&
          ctx.rc->own_routes().flow == kNoFlow) {
        // Addressed to us and nobody claimed it: never forward to ourselves.
        const bool reg = req.method() == Method::Register;
        ctx.rc->respond(reg ? 403 : 404, reg ? "Domain Not Served" : "Not Found");
        apply(ctx, Action::Respond);
        return;
      }
      Target t;
      t.uri = std::string(req.request_uri().raw);
      targets.push_back(std::move(t));
    }
    ctx.candidates = std::move(targets);
    targets.clear();
    const std::size_t n = run_target_chain(ctx, nullptr);
    if (n == 0) {
      // s.16.5: the target set is empty after all: 480 Temporarily Unavailable.
      ctx.candidates.clear();
      ctx.rc->respond(480, "Temporarily Unavailable");
      apply(ctx, Action::Respond);
      return;
    }
    start_step(ctx, n);
  }

  /// Asks the target chain how many of ctx.candidates start now (see TargetStep); `ended` is
  /// the outcome of the step that just ended, nullptr for the first step of a target set.
  std::size_t run_target_chain(ServerCtx& ctx, const StepOutcome* ended) {
    ctx.tried.clear();
    if (ended != nullptr) {
      for (std::size_t i = ctx.step_begin; i < ctx.branches.size(); ++i) {
        ctx.tried.push_back({&ctx.branches[i].target, ctx.branches[i].status});
      }
    }
    TargetStep step(*ctx.rc, ctx.candidates, ctx.tried, ended);
    for (auto& tp : target_chain) {
      if (ctx.candidates.empty() || tp->process(step) != Action::Continue) break;
    }
    return step.start_count();
  }

  /// Forks to the first `n` of ctx.candidates in parallel (one branch per target), with the
  /// ring timeout a processor asked for.
  void start_step(ServerCtx& ctx, std::size_t n) {
    const Message& req = ctx.rc->request();
    const std::size_t begin = ctx.branches.size();
    ctx.step_begin = begin;
    for (std::size_t k = 0; k < n; ++k) {
      Branch& b = ctx.branches.emplace_back();
      b.target = std::move(ctx.candidates[k]);
      const Target& t = b.target;
      b.request = req;
      if (t.uri != req.request_uri().raw) b.request.set_request_uri(t.uri);
      for (auto it = t.route.rbegin(); it != t.route.rend(); ++it) {
        b.request.push_front(HeaderId::Route, *it);
      }
      if (t.next_hop) b.dest = *t.next_hop;
      // Kept as it was before forwarding, to send again with credentials.
      if (t.answer_challenge) b.retry_request = b.request;
    }
    ctx.candidates.erase(ctx.candidates.begin(),
                         ctx.candidates.begin() + static_cast<std::ptrdiff_t>(n));
    if (const Millis rt = ctx.rc->take_ring_timeout(); rt.count() > 0 && ctx.invite) {
      ctx.ring_timer = timers.schedule(rt, [this, id = ctx.id]() { on_ring_timeout(id); });
    }
    // A branch may fail at once and end the step (then the next one starts from inside this
    // loop, after the last of these branches): indexes stay valid, the deque only grows.
    for (std::size_t k = 0; k < n; ++k) {
      if (ctx.branches[begin + k].target.next_hop) {
        start_branch(ctx, begin + k);
      } else {
        resolve_branch(ctx, begin + k);
      }
    }
  }

  /// Finds the destination of branch `i` from a flow token, its top Route or Request-URI.
  void resolve_branch(ServerCtx& ctx, std::size_t i) {
    Branch& b = ctx.branches[i];
    const FlowId route_flow = ctx.rc->own_routes().flow;
    if (route_flow != kNoFlow &&
        (b.request.count(HeaderId::Route) == 0 || websocket_flow_alive(route_flow))) {
      if (auto peer = net.flow_peer(route_flow)) {
        b.dest.flow = route_flow;
        b.dest.endpoint = *peer;
        b.dest.protocol = net.flow_protocol(route_flow).value_or(Protocol::Ws);
        start_branch(ctx, i);
        return;
      }
      fail_branch(ctx, i, 430, "Flow Failed");
      return;
    }
    std::optional<sip::Uri> hop_uri;
    if (const auto* r = b.request.find(HeaderId::Route)) {
      if (auto na = sip::parse_name_addr(r->value)) hop_uri = na->uri;
    } else {
      hop_uri = b.request.request_uri();
    }
    std::optional<NextHop> hop;
    if (hop_uri) hop = next_hop_for(*hop_uri);
    if (!hop) {
      fail_branch(ctx, i, 416, "Unsupported URI Scheme");
      return;
    }
    b.dest.protocol = hop->protocol;
    b.dest.endpoint.port = hop->port;
    boost::system::error_code ec;
    auto addr = boost::asio::ip::make_address(hop->host, ec);
    if (!ec) {
      b.dest.endpoint.address = addr;
      start_branch(ctx, i);
      return;
    }
    if (is_websocket(hop->protocol) && is_invalid_host(hop->host)) {
      // A browser's contact (RFC 7118 s.5.2: *.invalid) is reachable only over its flow; other
      // WS/WSS hosts are servers the WebSocket client dials.
      fail_branch(ctx, i, 480, "Temporarily Unavailable");
      return;
    }
    // RFC 3263: NAPTR / SRV / A / AAAA; the branch fails over down the list (s.4.3).
    const bool secure = b.request.request_uri().scheme == sip::Scheme::Sips;
    const ServerTxnId id = ctx.id;
    resolver.locate(*hop_uri, secure,
                    [this, id, i, alive = std::weak_ptr<bool>(alive)](std::vector<Destination> ds) {
                      if (alive.expired()) return;
                      auto it = servers.find(id);
                      if (it == servers.end() || i >= it->second->branches.size()) return;
                      ServerCtx& c = *it->second;
                      // Answered, cancelled or ended meanwhile: nothing to start.
                      if (c.final_sent || c.branches[i].final) {
                        c.branches[i].final = true;
                        return;
                      }
                      if (ds.empty()) {
                        stats.resolve_failures.inc();
                        fail_branch(c, i, 503, "Service Unavailable");
                        return;
                      }
                      Branch& br = c.branches[i];
                      if (br.final) return;  // ended meanwhile (ring timeout, 2xx elsewhere)
                      br.dest = std::move(ds.front());
                      br.alternatives.assign(std::make_move_iterator(ds.begin() + 1),
                                             std::make_move_iterator(ds.end()));
                      if (!br.alternatives.empty() || br.target.answer_challenge) {
                        br.retry_request = br.request;
                      }
                      start_branch(c, i);
                    });
  }

  /// RFC 3263 s.4.3: branch `i`'s destination failed with `status` (503 response or transport
  /// error, 408 timeout, 503 no listener for its transport): sends the same request to the next
  /// located destination with a new Via branch and a new client transaction. Returns false when
  /// none is left, or the request was cancelled or answered; the caller then ends the branch as
  /// usual.
  bool fail_over(ServerCtx& ctx, std::size_t i, int status) {
    Branch& b = ctx.branches[i];
    if (b.alternatives.empty() || !b.retry_request || ctx.cancelled || ctx.final_sent) {
      return false;
    }
    stop_branch_timers(b);
    if (b.txn != 0) clients.erase(b.txn);
    b.txn = 0;
    // The abandoned attempt ends for the hook (the media anchor frees what it held for it);
    // start_branch shows the retry as a new branch.
    if (hook != nullptr && !b.branch_id.empty()) hook->on_branch_end(b.branch_id, status);
    b.branch_id.clear();
    b.dest = std::move(b.alternatives.front());
    b.alternatives.erase(b.alternatives.begin());
    b.request = *b.retry_request;
    if (b.alternatives.empty() && !b.target.answer_challenge) b.retry_request.reset();
    b.challenge_answered = false;  // a new destination may challenge again
    b.started = b.provisional = b.final = b.cancel_pending = b.cancel_sent = false;
    b.status = 0;
    stats.failovers.inc();
    log::proxy().debug("branch {}: {} from the destination, failing over to {} {}", i, status,
                       via_token(b.dest.protocol), b.dest.endpoint.to_string());
    start_branch(ctx, i);
    return true;
  }

  /// A 401/407 `challenge` on branch `i` whose target has credentials for it (a gateway's,
  /// Kamailio's uac_auth): the request is sent again as it was before forwarding, with the
  /// Authorization (401) or Proxy-Authorization (407) the target computed, on a new branch
  /// and client transaction, with the same CSeq (a proxy cannot renumber the caller's
  /// dialog). Once per destination; false if the challenge is to be relayed.
  bool answer_challenge(ServerCtx& ctx, std::size_t i, const Message& challenge) {
    Branch& b = ctx.branches[i];
    if (!b.target.answer_challenge || b.challenge_answered || !b.retry_request || ctx.cancelled ||
        ctx.final_sent) {
      return false;
    }
    auto credentials = b.target.answer_challenge(challenge, *b.retry_request);
    if (!credentials) return false;
    stop_branch_timers(b);
    if (b.txn != 0) clients.erase(b.txn);
    b.txn = 0;
    if (hook != nullptr && !b.branch_id.empty())
      hook->on_branch_end(b.branch_id, challenge.status());
    b.branch_id.clear();
    b.request = *b.retry_request;
    b.request.append(
        challenge.status() == 401 ? HeaderId::Authorization : HeaderId::ProxyAuthorization,
        std::move(*credentials));
    b.challenge_answered = true;
    b.started = b.provisional = b.final = b.cancel_pending = b.cancel_sent = false;
    b.status = 0;
    stats.challenges_answered.inc();
    start_branch(ctx, i);
    return true;
  }

  /// s.16.6 steps 3-10 for one branch, then a client transaction.
  void start_branch(ServerCtx& ctx, std::size_t i) {
    Branch& b = ctx.branches[i];
    if (ctx.cancelled) {
      fail_branch(ctx, i, 487, "Request Terminated");
      return;
    }
    if (b.dest.flow != kNoFlow && !net.flow_alive(b.dest.flow)) {
      fail_branch(ctx, i, 430, "Flow Failed");
      return;
    }
    Message& fwd = b.request;
    // Max-Forwards.
    if (auto mf = fwd.max_forwards()) {
      fwd.set(HeaderId::MaxForwards, std::to_string(*mf - 1));
    } else {
      fwd.set(HeaderId::MaxForwards, "70");
    }
    // A SIPS request travels over TLS/WSS hops only (RFC 3261 s.26.2.2, RFC 5630 s.3.1.3):
    // never downgrade it to UDP, TCP or WS.
    const bool sips = is_sips_request(fwd);
    if (sips && !is_secure(b.dest.protocol)) {
      stats.sips_refused.inc();
      fail_branch(ctx, i, 480, "SIPS Target Not Reachable Over TLS");
      return;
    }
    const ListenPoint* out_lp = out_listen_point(b.dest);
    if (out_lp == nullptr && is_websocket(b.dest.protocol)) {
      out_lp = client_listen_point(b.dest.protocol, ctx.in_lp);
    }
    if (out_lp == nullptr) out_lp = ctx.in_lp;
    if (out_lp == nullptr) {
      if (fail_over(ctx, i, 503)) return;
      fail_branch(ctx, i, 503, "No Listener For Transport");
      return;
    }
    // Record-Route for dialog-creating requests (s.16.6 step 4); two entries when the
    // transport or flow changes, so each side sees the address it can reach.
    const Message& orig = ctx.rc->original();
    const bool creates_dialog = orig.to().tag().empty() && orig.method() != Method::Register &&
                                orig.method() != Method::Options &&
                                orig.method() != Method::Message;
    if (creates_dialog && ctx.in_lp != nullptr) {
      const Source& src = ctx.rc->source();
      const FlowId in_flow = is_reliable(src.protocol) ? src.flow : kNoFlow;
      const bool double_rr = out_lp != ctx.in_lp || in_flow != kNoFlow || b.dest.flow != kNoFlow;
      // Signed for this dialog: only requests of dialogs created here may route back through.
      const std::string sig = signer.sign(orig.call_id(), orig.from().tag());
      const auto shard = cfg.shards > 1 ? std::optional<unsigned>(cfg.shard) : std::nullopt;
      fwd.push_front(HeaderId::RecordRoute,
                     make_record_route(*ctx.in_lp, in_flow, sips, sig, shard));
      if (double_rr) {
        fwd.push_front(HeaderId::RecordRoute,
                       make_record_route(*out_lp, b.dest.flow, sips, sig, shard));
      }
    }
    if (b.target.before_send) b.target.before_send(fwd, *out_lp);
    // Via (s.16.6 step 8) with the loop-detection hash in the branch.
    b.branch_id = make_branch(loop_hash(ctx.rc->request()), cfg.shard, inst.tokens);
    fwd.push_front(HeaderId::Via, make_via(*out_lp, b.branch_id));
    if (hook != nullptr) {
      if (int status = hook->on_forward_request(fwd, ctx.rc->source(), b.dest, b.branch_id);
          status != 0) {
        fwd.pop_front(HeaderId::Via);
        fail_branch(ctx, i, status, {});
        return;
      }
    }
    // Topology hiding last, so the hook and the signatures above saw the inside view.
    b.hiding = hiding_for(b.dest.endpoint.address);
    if (b.hiding) b.hiding->hide_request(fwd, *out_lp, own_uri(), &b.inside_rr);
    if (!adapt_for_peer(fwd, b.dest)) {
      fail_branch(ctx, i, 513, "Message Too Large");
      return;
    }
    b.started = true;
    stats.forwarded.inc();
    if (observer != nullptr) observer->on_branch(ctx.id, b.target, fwd, b.dest);
    b.txn = txns->send_request(fwd, b.dest);
    clients[b.txn] = {ctx.id, i};
    const ClientTxnId cid = b.txn;
    if (ctx.invite) b.timer_c = timers.schedule(kTimerC, [this, cid]() { on_timer_c(cid); });
    if (b.target.response_timeout.count() > 0) {
      b.response_timer =
          timers.schedule(b.target.response_timeout, [this, cid]() { on_response_timeout(cid); });
    }
  }

  void stop_branch_timers(Branch& b) {
    if (b.timer_c != 0) timers.cancel(b.timer_c);
    if (b.response_timer != 0) timers.cancel(b.response_timer);
    b.timer_c = b.response_timer = 0;
  }

  /// Ends a started branch here, before its own final response (no response within its
  /// response_timeout, or the ring timeout): it counts as `status`; a CANCEL follows once it
  /// has sent a provisional response (s.9.1); its later non-2xx responses are ignored, a late
  /// 2xx still wins (s.16.7 step 5).
  void end_branch_here(ServerCtx& ctx, Branch& b, int status) {
    stop_branch_timers(b);
    b.final = true;
    b.status = status;
    send_cancel(ctx, b);
    if (hook != nullptr && !b.branch_id.empty()) hook->on_branch_end(b.branch_id, status);
  }

  /// Branch `cid` got no response at all within its response_timeout (a silent gateway).
  void on_response_timeout(ClientTxnId cid) {
    auto [sc, i] = branch_of(cid);
    if (sc == nullptr) return;
    ServerCtx& ctx = *sc;
    Branch& b = ctx.branches[i];
    b.response_timer = 0;
    if (b.final || b.provisional) return;
    stats.branch_timeouts.inc();
    if (fail_over(ctx, i, 408)) return;
    end_branch_here(ctx, b, 408);
    record_final(ctx, sip::make_response(ctx.rc->original(), 408, "Request Timeout"), true);
    maybe_finish(ctx);
  }

  /// The step's ring timeout fired (forward on no answer): its pending branches are
  /// cancelled and the failure processors run at once.
  void on_ring_timeout(ServerTxnId id) {
    auto it = servers.find(id);
    if (it == servers.end()) return;
    ServerCtx& ctx = *it->second;
    ctx.ring_timer = 0;
    if (ctx.final_sent || ctx.cancelled) return;
    stats.ring_timeouts.inc();
    for (std::size_t i = ctx.step_begin; i < ctx.branches.size(); ++i) {
      Branch& b = ctx.branches[i];
      if (!b.final) end_branch_here(ctx, b, 408);
    }
    record_final(ctx, sip::make_response(ctx.rc->original(), 408, "Request Timeout"), true);
    StepOutcome o = outcome_of(ctx);
    o.no_answer = true;
    if (try_failure_forward(ctx, o)) return;
    finish(ctx);
  }

  /// A branch that ends without a client transaction (no route, dead flow...).
  void fail_branch(ServerCtx& ctx, std::size_t i, int status, std::string_view reason) {
    Message rsp = sip::make_response(ctx.rc->original(), status, reason);
    stop_branch_timers(ctx.branches[i]);
    ctx.branches[i].final = true;
    ctx.branches[i].status = status;
    if (hook != nullptr && !ctx.branches[i].branch_id.empty()) {
      hook->on_branch_end(ctx.branches[i].branch_id, status);
    }
    record_final(ctx, rsp, true);
    maybe_finish(ctx);
  }

  void record_final(ServerCtx& ctx, const Message& rsp, bool local) {
    if (!ctx.best || better(rsp.status(), ctx.best->status())) {
      ctx.best = rsp;
      ctx.best_local = local;
    }
  }

  /// Once every branch is final: the next serial step, a failure processor's new target, or
  /// the best final response (s.16.7 step 6).
  void maybe_finish(ServerCtx& ctx) {
    if (ctx.final_sent) return;
    for (const auto& b : ctx.branches) {
      if (!b.final) return;
    }
    if (ctx.ring_timer != 0) {
      timers.cancel(ctx.ring_timer);
      ctx.ring_timer = 0;
    }
    const StepOutcome o = outcome_of(ctx);
    // s.16.7 steps 5-6: no new step after a 6xx or a CANCEL; otherwise the target chain says.
    if (!ctx.cancelled && !ctx.candidates.empty() && o.best_status < 600) {
      if (const std::size_t n = run_target_chain(ctx, &o); n > 0) {
        stats.serial_steps.inc();
        start_step(ctx, n);
        return;
      }
    }
    if (try_failure_forward(ctx, o)) return;
    finish(ctx);
  }

  /// How the current step ended (see StepOutcome).
  StepOutcome outcome_of(const ServerCtx& ctx) const {
    StepOutcome o;
    o.best_status = ctx.best ? ctx.best->status() : 408;
    o.all_busy = o.no_answer = ctx.step_begin < ctx.branches.size();
    for (std::size_t i = ctx.step_begin; i < ctx.branches.size(); ++i) {
      const int st = ctx.branches[i].status;
      o.all_busy = o.all_busy && (st == 486 || st == 600);
      o.no_answer = o.no_answer && (st == 408 || st == 480);
    }
    return o;
  }

  /// Sends the best final response (s.16.7 step 6; 503 becomes 500).
  void finish(ServerCtx& ctx) {
    if (ctx.final_sent) return;
    if (!ctx.best) {
      respond_status(ctx, 408, "Request Timeout");
      return;
    }
    Message rsp = *ctx.best;
    if (rsp.status() == 503) rsp.set_status(500, "Server Internal Error");
    if (ctx.best_local) {
      respond_status(ctx, rsp.status(), rsp.reason());
      return;
    }
    ctx.final_sent = true;
    if (const auto& f = ctx.rc->response_filter()) f(rsp);
    send_response(ctx, rsp);
  }

  void cancel_branch(ServerCtx& ctx, Branch& b) {
    if (b.final) return;
    send_cancel(ctx, b);
  }

  /// CANCELs a started branch once (s.16.10), or as soon as it sent a provisional response
  /// (s.9.1); nothing for an answered branch.
  void send_cancel(ServerCtx& /*ctx*/, Branch& b) {
    if (!b.started || b.answered || b.cancel_sent) return;
    if (!b.provisional) {
      b.cancel_pending = true;
      return;
    }
    b.cancel_pending = false;
    b.cancel_sent = true;
    Message cancel = sip::make_cancel(b.request);
    txns->send_request(cancel, b.dest);
  }

  void cancel_others(ServerCtx& ctx, std::size_t except) {
    for (std::size_t i = 0; i < ctx.branches.size(); ++i) {
      if (i != except) cancel_branch(ctx, ctx.branches[i]);
    }
  }

  // ---------------------------------------------------------------- responses

  /// The server context and branch index of client transaction `cid`; {nullptr, 0} if gone.
  std::pair<ServerCtx*, std::size_t> branch_of(ClientTxnId cid) {
    auto cit = clients.find(cid);
    if (cit == clients.end()) return {nullptr, 0};
    auto sit = servers.find(cit->second.first);
    if (sit == servers.end()) return {nullptr, 0};
    return {sit->second.get(), cit->second.second};
  }

  void on_response(ClientTxnId cid, const Message& response) {
    auto [sc, i] = branch_of(cid);
    if (sc == nullptr) return;  // response to a CANCEL we sent, or a finished branch
    ServerCtx& ctx = *sc;
    Branch& b = ctx.branches[i];
    Message rsp = response;
    rsp.pop_front(HeaderId::Via);  // s.16.7 step 3
    if (b.hiding) b.hiding->reveal_response(rsp, ctx.rc->request(), b.inside_rr);
    const int status = rsp.status();
    if (b.response_timer != 0) {
      timers.cancel(b.response_timer);
      b.response_timer = 0;
    }
    if (status < 200) {
      b.provisional = true;
      if (status > 100 && b.timer_c != 0) {
        // s.16.7 step 2: a provisional response above 100 restarts Timer C.
        timers.cancel(b.timer_c);
        b.timer_c = timers.schedule(kTimerC, [this, cid]() { on_timer_c(cid); });
      }
      if (b.cancel_pending) send_cancel(ctx, b);
      // s.16.7 step 5: 100 is not forwarded; nor is anything of a branch ended here.
      if (status == 100 || ctx.final_sent || b.final) return;
      if (const auto& f = ctx.rc->response_filter()) f(rsp);
      if (hook != nullptr) hook->on_forward_response(rsp, b.branch_id);
      send_response(ctx, rsp, &b.dest);
      return;
    }
    if (b.timer_c != 0) {
      timers.cancel(b.timer_c);
      b.timer_c = 0;
    }
    if (status < 300) {
      // Every 2xx is forwarded at once, retransmissions included (s.16.7 step 5, RFC 6026);
      // also from a branch ended here (ring timeout): a late answer still wins.
      const bool first = !b.answered;
      b.answered = true;
      b.final = true;
      b.status = status;
      ctx.candidates.clear();
      if (ctx.ring_timer != 0) {
        timers.cancel(ctx.ring_timer);
        ctx.ring_timer = 0;
      }
      ctx.final_sent = true;
      if (const auto& f = ctx.rc->response_filter()) f(rsp);
      if (hook != nullptr) hook->on_forward_response(rsp, b.branch_id);
      send_response(ctx, rsp, &b.dest);
      if (first) {
        cancel_others(ctx, i);
        // The context lives on for Timer L (32 s) to forward further 2xx: this branch will
        // send nothing more (no CANCEL, no fail-over) and no better final can come.
        b.request = Message{};
        b.retry_request.reset();
        b.alternatives.clear();
        ctx.best.reset();
      }
      return;
    }
    if (b.final) return;
    if ((status == 401 || status == 407) && answer_challenge(ctx, i, rsp)) return;
    if (status == 503 && fail_over(ctx, i, 503)) return;  // RFC 3263 s.4.3
    stop_branch_timers(b);
    b.final = true;
    b.status = status;
    if (hook != nullptr) hook->on_branch_end(b.branch_id, status);
    record_final(ctx, rsp, false);
    // A 6xx ends the search (s.16.7 step 5); a ring timeout still ends the branches that
    // never answered, and then no new branch is made (try_failure_forward).
    if (status >= 600) cancel_others(ctx, i);
    maybe_finish(ctx);
  }

  void on_client_failure(ClientTxnId cid, bool transport_error) {
    auto [sc, i] = branch_of(cid);
    if (sc == nullptr) return;
    ServerCtx& ctx = *sc;
    Branch& b = ctx.branches[i];
    if (b.final) return;
    stop_branch_timers(b);
    // RFC 3263 s.4.3: transport error or Timer B/F.
    if (fail_over(ctx, i, transport_error ? 503 : 408)) return;
    if (transport_error) {
      fail_branch(ctx, i, b.dest.flow != kNoFlow ? 480 : 503,
                  b.dest.flow != kNoFlow ? "Temporarily Unavailable" : "Service Unavailable");
    } else {
      fail_branch(ctx, i, 408, "Request Timeout");
    }
  }

  void on_timer_c(ClientTxnId cid) {
    auto [sc, i] = branch_of(cid);
    if (sc == nullptr) return;
    ServerCtx& ctx = *sc;
    Branch& b = ctx.branches[i];
    b.timer_c = 0;
    if (b.final) return;
    cancel_branch(ctx, b);
    fail_branch(ctx, i, 408, "Request Timeout");
  }

  void on_cancel(ServerTxnId invite_id, const Message& /*cancel*/) {
    auto it = servers.find(invite_id);
    if (it == servers.end()) return;
    ServerCtx& ctx = *it->second;
    if (observer != nullptr && !ctx.final_sent && !ctx.cancelled) observer->on_cancel(invite_id);
    ctx.cancelled = true;
    ctx.candidates.clear();
    if (ctx.ring_timer != 0) {
      timers.cancel(ctx.ring_timer);
      ctx.ring_timer = 0;
    }
    bool any_provisional = false;
    for (auto& b : ctx.branches) {
      cancel_branch(ctx, b);
      any_provisional = any_provisional || (b.provisional && !b.final);
    }
    // Nothing downstream can answer 487 for us yet: answer it here (s.16.10).
    if (!any_provisional) respond_status(ctx, 487, "Request Terminated");
  }

  // ---------------------------------------------------------------- ACK for 2xx (s.16.11)

  void on_ack(const Message& ack, const Source& src) {
    Message fwd = ack;
    if (auto th = hiding_for(src.peer.address)) th->reveal_request(fwd);
    const OwnRoutes check = remove_own_routes(fwd, src, domains, net, signer);
    if (cfg.strict_dialogs && (check.count == 0 || !check.signed_ok)) {
      // Only an ACK of a dialog created here, along our signed Record-Route, is relayed.
      (check.count == 0 ? stats.unrouted_in_dialog : stats.forged_routes).inc();
      stats.acks_dropped.inc();
      return;
    }
    const FlowId flow = check.flow;
    if (fwd.count(HeaderId::Route) == 0 && flow == kNoFlow && is_self_uri(fwd.request_uri())) {
      stats.acks_dropped.inc();
      return;
    }
    if (auto mf = fwd.max_forwards(); mf && *mf == 0) {
      stats.acks_dropped.inc();
      return;
    }
    fwd.set(HeaderId::MaxForwards, std::to_string(fwd.max_forwards().value_or(71) - 1));
    Destination dest;
    std::optional<NextHop> hop;
    if (const auto* r = fwd.find(HeaderId::Route)) {
      if (auto na = sip::parse_name_addr(r->value)) hop = next_hop_for(na->uri);
    } else {
      hop = next_hop_for(fwd.request_uri());
    }
    if (flow != kNoFlow && (fwd.count(HeaderId::Route) == 0 || websocket_flow_alive(flow))) {
      auto peer = net.flow_peer(flow);
      if (!peer) {
        stats.acks_dropped.inc();
        return;
      }
      dest.flow = flow;
      dest.endpoint = *peer;
      dest.protocol = net.flow_protocol(flow).value_or(Protocol::Ws);
      send_ack(std::move(fwd), dest, src);
      return;
    }
    if (!hop) {
      stats.acks_dropped.inc();
      return;
    }
    dest.protocol = hop->protocol;
    dest.endpoint.port = hop->port;
    boost::system::error_code ec;
    auto addr = boost::asio::ip::make_address(hop->host, ec);
    if (!ec) {
      dest.endpoint.address = addr;
      send_ack(std::move(fwd), dest, src);
      return;
    }
    if (is_websocket(hop->protocol) && is_invalid_host(hop->host)) {
      stats.acks_dropped.inc();
      return;
    }
    // RFC 3263 for the ACK too; stateless, so only the first destination (no failover).
    std::string target_text;
    if (const auto* r = fwd.find(HeaderId::Route)) {
      if (auto na = sip::parse_name_addr(r->value)) target_text = na->uri.raw;
    } else {
      target_text = fwd.request_uri().raw;
    }
    auto target = sip::parse_uri(target_text);
    if (!target) {
      stats.acks_dropped.inc();
      return;
    }
    const bool secure = fwd.request_uri().scheme == sip::Scheme::Sips;
    resolver.locate(*target, secure,
                    [this, fwd = std::move(fwd), src,
                     alive = std::weak_ptr<bool>(alive)](std::vector<Destination> ds) mutable {
                      if (alive.expired()) return;
                      if (ds.empty()) {
                        stats.acks_dropped.inc();
                        return;
                      }
                      send_ack(std::move(fwd), ds.front(), src);
                    });
  }

  void send_ack(Message fwd, Destination dest, const Source& src) {
    const ListenPoint* out_lp = out_listen_point(dest);
    if (out_lp == nullptr && is_websocket(dest.protocol)) {
      out_lp = client_listen_point(dest.protocol, listen_point_of(src));
    }
    if (out_lp == nullptr) out_lp = listen_point_of(src);
    if (out_lp == nullptr) {
      stats.acks_dropped.inc();
      return;
    }
    // Stateless forwarding: the branch must be the same for retransmissions (s.16.11), so it
    // is derived from the incoming branch.
    std::string seed = loop_hash(fwd);
    std::string branch(kBranchPrefix);
    branch += seed;
    branch += "-a";
    std::string_view in_branch = fwd.top_via().branch();
    std::size_t h = std::hash<std::string_view>{}(in_branch);
    branch += std::to_string(h);
    fwd.push_front(HeaderId::Via, make_via(*out_lp, branch));
    if (hook != nullptr) hook->on_forward_ack(fwd, src, dest);
    if (auto th = hiding_for(dest.endpoint.address))
      th->hide_request(fwd, *out_lp, own_uri(), nullptr);
    if (!adapt_for_peer(fwd, dest)) {
      stats.acks_dropped.inc();
      return;
    }
    stats.acks_forwarded.inc();
    stateless->send(dest, fwd.serialize_shared());
  }

  void on_stray_response(const Message& response, const Source& /*src*/) {
    // With RFC 6026 the INVITE client transaction absorbs 2xx retransmissions for 64*T1, so a
    // response matching nothing is late or not ours: drop and count.
    (void)response;
    stats.stray_responses.inc();
  }

  void on_server_terminated(ServerTxnId id) {
    auto it = servers.find(id);
    if (it == servers.end()) return;
    if (it->second->paused) {
      // A processor still holds the context (e.g. a store lookup): free it on resume.
      it->second->terminated = true;
      it->second->final_sent = true;
      return;
    }
    if (it->second->ring_timer != 0) timers.cancel(it->second->ring_timer);
    for (auto& b : it->second->branches) {
      stop_branch_timers(b);
      if (b.txn != 0) clients.erase(b.txn);
    }
    servers.erase(it);
  }
};

ProxyCore::ProxyCore(TimerService& timers, const Domains& domains, NetworkView& net,
                     Resolver& resolver, ProxyConfig cfg, Instruments inst)
    : impl_(std::make_unique<ProxyCoreImpl>(timers, domains, net, resolver, std::move(cfg), inst)) {
}

ProxyCore::~ProxyCore() = default;

void ProxyCore::attach(sip::txn::TransactionLayer& txns, sip::txn::Sender& stateless_sender) {
  impl_->txns = &txns;
  impl_->stateless = &stateless_sender;
}

void ProxyCore::add_request_processor(std::unique_ptr<RequestProcessor> p) {
  impl_->chain.push_back(std::move(p));
}

void ProxyCore::add_failure_processor(std::unique_ptr<FailureProcessor> p) {
  impl_->failure_chain.push_back(std::move(p));
}

void ProxyCore::add_target_processor(std::unique_ptr<TargetProcessor> p) {
  auto& tc = impl_->target_chain;
  tc.insert(tc.end() - 1, std::move(p));
}

void ProxyCore::set_rerun_from(std::string name) { impl_->rerun_from = std::move(name); }

void ProxyCore::set_forward_hook(ForwardHook* hook) { impl_->hook = hook; }
void ProxyCore::set_call_observer(CallObserver* observer) { impl_->observer = observer; }
bool ProxyCore::cancel(ServerTxnId id) {
  auto it = impl_->servers.find(id);
  if (it == impl_->servers.end() || !it->second->invite || it->second->final_sent) return false;
  impl_->on_cancel(id, Message{});
  return true;
}
void ProxyCore::set_peer_rules(std::shared_ptr<const PeerRules> rules) {
  impl_->peer_rules = rules && !rules->empty() ? std::move(rules) : nullptr;
}
void ProxyCore::set_topology_hiding(std::shared_ptr<const TopologyHiding> th) {
  impl_->hiding = th && !th->empty() ? std::move(th) : nullptr;
}

void ProxyCore::on_request(ServerTxnId id, const Message& request, const Source& src) {
  impl_->on_request(id, request, src);
}
void ProxyCore::on_ack(const Message& ack, const Source& src) { impl_->on_ack(ack, src); }
void ProxyCore::on_cancel(ServerTxnId invite_id, const Message& cancel) {
  impl_->on_cancel(invite_id, cancel);
}
void ProxyCore::on_response(ClientTxnId id, const Message& response) {
  impl_->on_response(id, response);
}
void ProxyCore::on_client_failure(ClientTxnId id, bool transport_error) {
  impl_->on_client_failure(id, transport_error);
}
void ProxyCore::on_stray_response(const Message& response, const Source& src) {
  impl_->on_stray_response(response, src);
}
void ProxyCore::on_server_terminated(ServerTxnId id) { impl_->on_server_terminated(id); }
std::size_t ProxyCore::active_requests() const { return impl_->servers.size(); }

}  // namespace sipws::proxy
