#include "proxy/max_forwards.hpp"

namespace sipws::proxy {

Action MaxForwardsProcessor::process(RequestContext& ctx) {
  if (auto mf = ctx.request().max_forwards(); !mf || *mf != 0) return Action::Continue;
  ctx.respond(483, "Too Many Hops");
  return Action::Respond;
}

}  // namespace sipws::proxy
