#include "routing/call_forward.hpp"

#include "common/log.hpp"
#include "routing/retarget.hpp"

namespace sipws::routing {

using proxy::Action;

CallForwardProcessor::CallForwardProcessor(const proxy::Domains& domains, store::AsyncStore& store,
                                           const Reloadable<DialPlan>& plan)
    : domains_(domains), store_(store), plan_(plan) {}

std::string CallForwardProcessor::local_aor(const sip::Message& req) const {
  if (req.count(sip::HeaderId::Route) > 0) return {};
  if (req.request_uri().param("gr") != nullptr) return {};  // a GRUU names one device
  return domains_.local_aor(req.request_uri()).value_or(std::string());
}

Action CallForwardProcessor::process(proxy::RequestContext& ctx) {
  if (ctx.request().method() != sip::Method::Invite) return Action::Continue;
  if (local_aor(ctx.request()).empty()) return Action::Continue;
  auto resume = ctx.pause_handle();
  if (!resume) return Action::Continue;
  ctx.failure_forward() = {};
  lookup(ctx, plan_.get(), std::move(resume));
  return Action::Pause;
}

void CallForwardProcessor::lookup(proxy::RequestContext& ctx, std::shared_ptr<DialPlan> plan,
                                  std::function<void(Action)> resume) {
  const std::string aor = local_aor(ctx.request());
  if (aor.empty()) {
    resume(Action::Continue);
    return;
  }
  const auto at = aor.find('@');
  // ctx stays valid while the chain is paused (the proxy core keeps it).
  store_.user_services(
      aor.substr(0, at), aor.substr(at + 1),
      [this, &ctx, aor, plan = std::move(plan),
       resume = std::move(resume)](const store::Result<store::UserServices>& svc) mutable {
        if (!svc) {
          // Unknown rules are not "no rules": the call must not ring where it was forwarded away.
          ctx.respond_store_unavailable();
          resume(Action::Respond);
          return;
        }
        if (!svc->subscriber) {
          resume(Action::Continue);
          return;
        }
        ctx.set_local_user(aor);
        // Unconditional first: the other rules belong to whoever the call ends up at.
        for (const auto& rule : svc->forwards) {
          if (rule.kind != store::ForwardKind::Unconditional) continue;
          const std::string target = forward_target(rule, plan->voicemail);
          if (target.empty()) break;
          if (auto err = retarget(ctx, target, ForwardReason::Unconditional)) {
            ctx.respond(err->status, err->reason);
            resume(Action::Respond);
            return;
          }
          // The new target may be a local user with rules of its own.
          lookup(ctx, std::move(plan), std::move(resume));
          return;
        }
        proxy::FailureForward ff;
        ff.aor = aor;
        for (const auto& rule : svc->forwards) {
          const std::string target = forward_target(rule, plan->voicemail);
          if (target.empty()) {
            log::routing().warn(
                "call-forward: {} forwards {} to voicemail, but no `voicemail` "
                "template is configured for it",
                aor, store::forward_kind_name(rule.kind));
            continue;
          }
          if (rule.kind == store::ForwardKind::Busy) {
            ff.busy = target;
          } else if (rule.kind == store::ForwardKind::NoAnswer) {
            ff.no_answer = target;
            ctx.set_ring_timeout(rule.ring_timeout_s > 0
                                     ? Millis(std::uint64_t{rule.ring_timeout_s} * 1000)
                                     : plan->ring_timeout);
          }
        }
        ctx.failure_forward() = std::move(ff);
        resume(Action::Continue);
      });
}

}  // namespace sipws::routing
