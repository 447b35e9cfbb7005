#include "routing/call_class.hpp"

#include "common/counters.hpp"
#include "common/log.hpp"
#include "sip/text.hpp"

namespace sipws::routing {

using proxy::Action;

namespace {

Counter& denied() {
  Counter& c = SIPWS_COUNTER("call_class_denied");
  return c;
}

/// Applies the verdict for `groups`; true to go on.
bool allowed(proxy::RequestContext& ctx, const DialPlan& plan, const std::string& number,
             const std::vector<std::string>& groups) {
  const auto v = plan.classes.check(number, groups);
  if (v.allowed) return true;
  denied().inc();
  log::routing().info(
      "call-class: {} may not dial {} ({})",
      ctx.identity().empty() ? ctx.source().peer.address.to_string() : ctx.identity(), number,
      v.cls ? v.cls->name : "too long");
  ctx.respond(403, v.reason);
  return false;
}

}  // namespace

CallClassProcessor::CallClassProcessor(store::AsyncStore& store, const Reloadable<DialPlan>& plan)
    : store_(store), plan_(plan) {}

Action CallClassProcessor::process(proxy::RequestContext& ctx) {
  const sip::Message& req = ctx.request();
  if (req.method() != sip::Method::Invite) return Action::Continue;
  if (ctx.from_trusted_peer() || !ctx.local_user().empty()) return Action::Continue;
  const sip::Uri& ruri = req.request_uri();
  if (!ruri.is_sip() && ruri.scheme != sip::Scheme::Tel) return Action::Continue;
  std::shared_ptr<DialPlan> plan = plan_.get();
  if (plan->classes.empty()) return Action::Continue;
  const std::string number = sip::text::dialled_number(ruri.user);
  const CallClass* cls = plan->classes.classify(number);
  if (cls == nullptr || cls->emergency) return Action::Continue;
  if (ctx.caller_groups() || ctx.identity().empty()) {
    static const std::vector<std::string> kNone;
    const auto& groups = ctx.caller_groups() ? *ctx.caller_groups() : kNone;
    return allowed(ctx, *plan, number, groups) ? Action::Continue : Action::Respond;
  }
  auto resume = ctx.pause_handle();
  if (!resume) return Action::Continue;
  const std::string& id = ctx.identity();
  const auto at = id.find('@');
  // ctx stays valid while the chain is paused (the proxy core keeps it).
  store_.user_services(
      id.substr(0, at), at == std::string::npos ? "" : id.substr(at + 1),
      [&ctx, plan, number, resume](const store::Result<store::UserServices>& svc) {
        if (!svc) {
          ctx.respond_store_unavailable();  // never a silent allow
          resume(Action::Respond);
          return;
        }
        ctx.caller_groups() = svc->groups;
        resume(allowed(ctx, *plan, number, svc->groups) ? Action::Continue : Action::Respond);
      });
  return Action::Pause;
}

}  // namespace sipws::routing
