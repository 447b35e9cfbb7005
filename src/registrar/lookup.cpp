#include "registrar/lookup.hpp"

#include <memory>
#include <optional>

#include "common/counters.hpp"
#include "registrar/registrar.hpp"
#include "sip/message.hpp"

namespace sipws::registrar {
namespace {

using proxy::Action;

}  // namespace

proxy::Target target_for(const Binding& b) {
  proxy::Target t;
  t.uri = b.contact;
  t.route = b.path;
  t.q = b.q;
  if (b.direct) {
    if (b.source.flow != kNoFlow) {
      t.next_hop = Destination{b.source.protocol, b.source.peer, b.source.flow, {}, b.source.local};
    } else if (b.source.protocol == Protocol::Udp) {
      t.next_hop = Destination{Protocol::Udp, b.source.peer, kNoFlow, {}, b.source.local};
    }
    // A TCP/TLS binding whose connection closed is reached through its contact URI.
  }
  return t;
}

LocationLookupProcessor::IsSubscriber is_subscriber_in(store::AsyncStore& store) {
  return [&store](const std::string& aor, std::function<void(store::Result<bool>)> done) {
    const auto at = aor.rfind('@');
    if (at == std::string::npos) return done(false);
    store.find_subscriber(
        aor.substr(0, at), aor.substr(at + 1),
        [done = std::move(done)](const store::Result<std::optional<store::Subscriber>>& s) {
          if (!s) return done(Unexpected(s.error()));
          done(s->has_value());
        });
  };
}

LocationLookupProcessor::LocationLookupProcessor(const proxy::Domains& domains,
                                                 const LocationService& location,
                                                 IsSubscriber is_subscriber, Counters& reg)
    : domains_(domains),
      location_(location),
      is_subscriber_(std::move(is_subscriber)),
      stats_(reg) {}

LocationLookupProcessor::Stats::Stats(Counters& reg)
    : found(reg.get("registrar_lookup_found")),
      not_found(reg.get("registrar_lookup_not_found")),
      unavailable(reg.get("registrar_lookup_unavailable")),
      flow_failed(reg.get("registrar_lookup_flow_failed")) {}

Action LocationLookupProcessor::process(proxy::RequestContext& ctx) {
  const sip::Message& req = ctx.request();
  if (req.method() == sip::Method::Register) return Action::Continue;
  // The core consumed its own Route entries: any left point elsewhere.
  if (req.count(sip::HeaderId::Route) > 0) return Action::Continue;
  const sip::Uri& ruri = req.request_uri();
  if (!ruri.is_sip() || ruri.user.empty()) return Action::Continue;
  // A local domain, or an address of ours (user@<our address> means user@<our domain>), with
  // no port or one of ours (RFC 3261 s.16.5: only the proxy's own domain is looked up).
  const auto local = domains_.local_aor(ruri);
  if (!local || local->back() == '@') return Action::Continue;  // no domain configured
  const std::string& aor = *local;

  // GRUUs (RFC 5627 s.8): a pub-GRUU names the instance, a temp-GRUU its token.
  if (const sip::Param* gr = ruri.param("gr")) {
    std::optional<Binding> b;  // a copy: no pointer into the location service
    bool is_gruu = false;
    if (gr->has_value && !gr->value.empty()) {
      is_gruu = true;
      b = location_.find_instance(aor, "<" + std::string(gr->value) + ">");
    } else if (ruri.user.substr(0, kTempGruuPrefix.size()) == kTempGruuPrefix) {
      is_gruu = true;
      b = location_.find_temp_gruu(ruri.user.substr(kTempGruuPrefix.size()));
      if (!b) {
        stats_.not_found.inc();
        ctx.respond(404, "Not Found");
        return Action::Respond;
      }
    }
    if (is_gruu) {
      if (!b) return unreachable(ctx, aor);
      if (b->flow_dead) {
        stats_.flow_failed.inc();
        ctx.respond(430, "Flow Failed");
        return Action::Respond;
      }
      stats_.found.inc();
      ctx.targets().push_back(target_for(*b));
      return Action::Continue;
    }
  }

  bool dead = false;
  std::vector<proxy::Target>& targets = ctx.targets();
  // Targets already there came from cluster-lookup (bindings held by other nodes).
  std::size_t added = targets.size();
  location_.visit(aor, [&](const Binding& b) {
    if (b.flow_dead) {
      dead = true;  // RFC 5626 s.5.3: never fall back to another route for a dead flow
      return;
    }
    if (auto u = b.uri(); !u || !u->is_sip()) return;  // mailto: etc. cannot be proxied to
    if (b.unreachable) return;  // the NAT keep-alive got no answer: 480 rather than ring it
    targets.push_back(target_for(b));
    ++added;
  });
  if (added > 0) {
    stats_.found.inc();
    return Action::Continue;
  }
  if (dead) {
    stats_.flow_failed.inc();
    ctx.respond(430, "Flow Failed");
    return Action::Respond;
  }
  return unreachable(ctx, aor);
}

Action LocationLookupProcessor::unreachable(proxy::RequestContext& ctx, const std::string& aor) {
  auto answer = [&ctx, &stats = stats_](const store::Result<bool>& known) {
    if (!known) {
      ctx.respond_store_unavailable();  // not a 404: the AOR may well be a subscriber
      return;
    }
    (*known ? stats.unavailable : stats.not_found).inc();
    ctx.respond(*known ? 480 : 404, *known ? "Temporarily Unavailable" : "Not Found");
  };
  if (const bool known = location_.known(aor); known || !is_subscriber_) {
    answer(known);
    return Action::Respond;
  }
  // The hook may answer at once (in-memory) or later (store): the shared state tells the
  // callback whether process() has already returned Pause.
  struct State {
    bool paused = false;
    std::optional<store::Result<bool>> result;
  };
  auto state = std::make_shared<State>();
  auto resume = ctx.pause_handle();
  // `ctx` stays valid while the chain is paused (the core keeps paused contexts alive).
  is_subscriber_(aor, [state, resume, answer](const store::Result<bool>& known) {
    if (!state->paused) {
      state->result = known;
      return;
    }
    answer(known);
    if (resume) resume(Action::Respond);
  });
  if (state->result) {
    answer(*state->result);
    return Action::Respond;
  }
  state->paused = true;
  return Action::Pause;
}

}  // namespace sipws::registrar
