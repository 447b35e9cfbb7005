#include "routing/alias.hpp"

#include "common/counters.hpp"
#include "sip/text.hpp"

namespace sipws::routing {

using proxy::Action;
using sip::Method;

AliasProcessor::AliasProcessor(const proxy::Domains& domains, store::AsyncStore& store,
                               HasBindings has_bindings)
    : domains_(domains), store_(store), has_bindings_(std::move(has_bindings)) {}

Action AliasProcessor::process(proxy::RequestContext& ctx) {
  Counter& hits = SIPWS_COUNTER("alias_hits");
  sip::Message& req = ctx.request();
  const Method m = req.method();
  if (m == Method::Register || m == Method::Ack || m == Method::Cancel) return Action::Continue;
  if (req.count(sip::HeaderId::Route) > 0) return Action::Continue;
  if (req.request_uri().scheme == sip::Scheme::Tel) {
    // RFC 3261 s.19.1.6: the equivalent SIP URI in our primary domain.
    const std::string number = sip::text::dialled_number(req.request_uri().user);
    if (number.empty() || domains_.primary().empty()) {
      ctx.respond(404, "Not Found");
      return Action::Respond;
    }
    req.set_request_uri("sip:" + number + "@" + domains_.primary() + ";user=phone");
  }
  const auto aor = domains_.local_aor(req.request_uri());
  if (!aor || (has_bindings_ && has_bindings_(*aor))) return Action::Continue;
  const std::string user = sip::text::dialled_number(req.request_uri().user);
  auto resume = ctx.pause_handle();
  if (!resume) return Action::Continue;
  // ctx stays valid while the chain is paused (the proxy core keeps it).
  store_.find_alias(
      user, [&ctx, resume, hit = &hits](const store::Result<std::optional<std::string>>& aor) {
        if (!aor) {
          // Not a miss: going on could answer 404 to a number that exists.
          ctx.respond_store_unavailable();
          resume(Action::Respond);
          return;
        }
        if (*aor) {
          hit->inc();
          ctx.request().set_request_uri("sip:" + **aor);
        }
        resume(Action::Continue);
      });
  return Action::Pause;
}

}  // namespace sipws::routing
