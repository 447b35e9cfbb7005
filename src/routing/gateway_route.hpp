#pragma once
// Least-cost routing to PSTN gateways (the seed's LCR): routes on the dialled number, gateways
// tried serially by priority (weight spreads equal priorities) with failover.

#include <functional>
#include <string>

#include "common/reloadable.hpp"
#include "proxy/domains.hpp"
#include "proxy/request_context.hpp"
#include "routing/dial_plan.hpp"

namespace sipws::routing {

/// Request processor "gateway-route", after call-class, for initial INVITEs whose Request-URI
/// is a number in a local domain that is no local user (ctx.local_user() empty and no binding):
/// the first `routes` entry matching the dialled number (and the From pattern) gives the
/// gateways (GatewayTable::select); each becomes a serial target (Request-URI with strip and
/// prefix applied; continue_on = the route's `failover_on`; response_timeout =
/// `gateway_timeout`) and the chain stops there (SkipChain: no location lookup). A caller who
/// may not leave sipws (a stranger let in by foreign_callers=allow, a trusted peer without
/// `relay`) gets 403 "Relaying denied"; a route whose gateways are all disabled, 503. No route:
/// Continue (location lookup answers 404 / 480). Thread: core io thread.
class GatewayRouteProcessor final : public proxy::RequestProcessor {
 public:
  /// True if `aor` has bindings (a registered user is never routed to a gateway).
  using HasBindings = std::function<bool(const std::string& aor)>;
  GatewayRouteProcessor(const proxy::Domains& domains, const Reloadable<DialPlan>& plan,
                        HasBindings has_bindings, Random& random);

  std::string_view name() const override { return "gateway-route"; }
  proxy::Action process(proxy::RequestContext& ctx) override;

 private:
  const proxy::Domains& domains_;
  const Reloadable<DialPlan>& plan_;
  HasBindings has_bindings_;
  Random& random_;
};

}  // namespace sipws::routing
