#pragma once
// Forward on busy / no answer (the seed's failure_route with usr_preferences and the b/u
// voicemail prefixes).

#include "proxy/request_context.hpp"

namespace sipws::routing {

/// Failure processor "forward-on-failure": when the call to a local user ended busy (486/600
/// from every branch) or unanswered (ring timeout, 408/480, or no usable binding) and
/// ctx.failure_forward() has a target for that case, retargets the request there (Diversion
/// user-busy / no-answer, History-Info; retarget.hpp) so the core re-runs the chain for it.
/// A forward loop or too many forwards leaves the call to its best response. The caller
/// never sees the 486. Thread: core io thread.
class ForwardOnFailure final : public proxy::FailureProcessor {
 public:
  std::string_view name() const override { return "forward-on-failure"; }
  bool on_failure(proxy::RequestContext& ctx, const proxy::StepOutcome& outcome) override;
};

}  // namespace sipws::routing
