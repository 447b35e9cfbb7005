#include "proxy/drain.hpp"

namespace sipws::proxy {

Action DrainProcessor::process(RequestContext& ctx) {
  if (!draining_.load(std::memory_order_relaxed)) return Action::Continue;
  if (!ctx.original().to().tag().empty()) return Action::Continue;  // within a dialog
  refused_.inc();
  ctx.respond_unavailable("Service Unavailable - Shutting Down", kRetryAfterS);
  return Action::Respond;
}

}  // namespace sipws::proxy
