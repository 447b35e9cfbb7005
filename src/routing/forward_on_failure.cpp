#include "routing/forward_on_failure.hpp"

#include "common/log.hpp"
#include "routing/retarget.hpp"

namespace sipws::routing {

bool ForwardOnFailure::on_failure(proxy::RequestContext& ctx, const proxy::StepOutcome& outcome) {
  proxy::FailureForward& ff = ctx.failure_forward();
  std::string target;
  ForwardReason reason = ForwardReason::NoAnswer;
  if (outcome.all_busy && !ff.busy.empty()) {
    target = ff.busy;
    reason = ForwardReason::UserBusy;
  } else if (outcome.no_answer && !ff.no_answer.empty()) {
    target = ff.no_answer;
  } else {
    return false;
  }
  const std::string aor = ff.aor;
  ff = {};  // these rules are used up; the new target's own apply after the re-run
  if (auto err = retarget(ctx, target, reason)) {
    log::routing().info("forward-on-failure: not forwarding {} to {}: {}", aor, target,
                        err->reason);
    return false;
  }
  return true;
}

}  // namespace sipws::routing
