#include "routing/gateway_route.hpp"

#include "auth/digest.hpp"
#include "common/counters.hpp"
#include "common/log.hpp"
#include "common/random.hpp"
#include "sip/text.hpp"

namespace sipws::routing {

using proxy::Action;

GatewayRouteProcessor::GatewayRouteProcessor(const proxy::Domains& domains,
                                             const Reloadable<DialPlan>& plan,
                                             HasBindings has_bindings, Random& random)
    : domains_(domains), plan_(plan), has_bindings_(std::move(has_bindings)), random_(random) {}

Action GatewayRouteProcessor::process(proxy::RequestContext& ctx) {
  Counter& routed = SIPWS_COUNTER("lcr_routed");
  Counter& denied = SIPWS_COUNTER("lcr_denied");
  const sip::Message& req = ctx.request();
  if (req.method() != sip::Method::Invite || !ctx.local_user().empty()) return Action::Continue;
  if (req.count(sip::HeaderId::Route) > 0) return Action::Continue;
  const sip::Uri& ruri = req.request_uri();
  const auto aor = domains_.local_aor(ruri);
  if (!aor || ruri.param("gr") != nullptr) return Action::Continue;
  if (has_bindings_ && has_bindings_(*aor)) return Action::Continue;
  const std::shared_ptr<DialPlan> plan = plan_.get();
  const std::string number = sip::text::dialled_number(ruri.user);
  auto sel = plan->gateways.select(number, req.from().uri.raw, random_);
  if (!sel) return Action::Continue;
  if (!ctx.may_leave()) {
    denied.inc();
    ctx.respond(403, "Relaying denied");
    return Action::Respond;
  }
  if (sel->attempts.empty()) {
    ctx.respond(503, "Service Unavailable - No Gateway Available");
    return Action::Respond;
  }
  routed.inc();
  ctx.set_route_name(sel->route->match_text);
  float q = 1.0f;
  for (auto& a : sel->attempts) {
    proxy::Target t;
    t.uri = std::move(a.request_uri);
    t.q = q;
    q -= 0.001f;  // serial: one gateway per step, in the selected order
    t.continue_on = sel->route->failover_on;
    t.response_timeout = plan->gateway_timeout;
    t.gateway = a.gateway->name;
    if (!a.gateway->strip_headers.empty()) {
      t.before_send = [strip = a.gateway->strip_headers](sip::Message& fwd, const ListenPoint&) {
        for (const auto& name : strip) fwd.remove_all(std::string_view(name));
      };
    }
    if (!a.gateway->password.empty()) {
      t.answer_challenge = [secret =
                                auth::DigestSecret{a.gateway->auth_user, a.gateway->password, {}}](
                               const sip::Message& challenge,
                               const sip::Message& request) -> std::optional<std::string> {
        const auto* h =
            challenge.find(challenge.status() == 401 ? sip::HeaderId::WwwAuthenticate
                                                     : sip::HeaderId::ProxyAuthenticate);
        if (h == nullptr) return std::nullopt;
        return auth::answer_challenge(h->value, secret, request.method_name(),
                                      request.request_uri().raw, 1, random_token(16));
      };
    }
    ctx.targets().push_back(std::move(t));
  }
  log::routing().debug("gateway-route: {} via route {} ({} gateways)", number,
                       sel->route->match_text, sel->attempts.size());
  return Action::SkipChain;
}

}  // namespace sipws::routing
