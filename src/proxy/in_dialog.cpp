#include "proxy/in_dialog.hpp"

#include "common/log.hpp"

namespace sipws::proxy {

Action InDialogProcessor::process(RequestContext& ctx) {
  if (ctx.original().to().tag().empty()) return Action::Continue;
  const OwnRoutes& routes = ctx.own_routes();
  if (!strict_ || (routes.count > 0 && routes.signed_ok)) return Action::SkipChain;
  if (routes.count > 0) {
    forged_.inc();
    log::proxy().info("in-dialog {} from {}: Route of ours without a valid dialog signature",
                      ctx.original().method_name(), ctx.source().peer.to_string());
    ctx.respond(403, "Forbidden - Invalid Record-Route Signature");
    return Action::Respond;
  }
  unrouted_.inc();
  const sip::Message& req = ctx.request();
  if (req.count(sip::HeaderId::Route) == 0 && is_self_uri(req.request_uri(), domains_, net_)) {
    ctx.respond(404, "Not Found - No Such Dialog");
  } else {
    ctx.respond(403, "Relaying denied - In-Dialog Request Not Routed Here");
  }
  return Action::Respond;
}

}  // namespace sipws::proxy
