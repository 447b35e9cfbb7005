#pragma once
// The target chain (repro's target processors): after the request chain has chosen the
// targets, which of them the core forks to now (one step of parallel branches) and, each time
// a step ends without a 2xx, whether and with which targets the next step starts (RFC 3261
// s.16.6 step 2, s.16.7 step 6). The q-value processor (qvalue_target.hpp) is the default.

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "proxy/request_context.hpp"

namespace sipws::proxy {

/// A target of the step that just ended, and how its branch ended.
struct TriedTarget {
  const Target* target = nullptr;  ///< as it was started (never null)
  int status = 0;  ///< its final status (408 when ended here: response or ring timeout)
};

/// What one decision of the target chain works on: the candidates not started yet and, after
/// a step, how it ended. A processor may reorder or drop candidates and chooses how many of
/// the first ones start now. Thread: core io thread.
class TargetStep {
 public:
  /// `outcome` and `tried` describe the step that just ended; nullptr / empty for the first
  /// step of a target set (after the request chain, or after a failure processor retargeted).
  TargetStep(RequestContext& ctx, std::vector<Target>& candidates,
             std::span<const TriedTarget> tried, const StepOutcome* outcome)
      : ctx_(ctx), candidates_(candidates), tried_(tried), outcome_(outcome) {}

  RequestContext& context() { return ctx_; }
  /// Targets not started yet, in the order the request chain (or an earlier processor) left
  /// them; never empty when the chain runs.
  std::vector<Target>& candidates() { return candidates_; }
  /// True for the first step of a target set.
  bool first() const { return outcome_ == nullptr; }
  /// The branches of the step that just ended, in the order they started; empty if first().
  std::span<const TriedTarget> tried() const { return tried_; }
  /// How the step that just ended went. Precondition: !first().
  const StepOutcome& outcome() const { return *outcome_; }
  /// Starts the first `n` candidates now, in parallel, as one step (clamped to their number);
  /// 0, the default, starts nothing: the request then ends (failure processors, best
  /// response; s.16.5's 480 if nothing was ever started).
  void start_first(std::size_t n) { start_ = n < candidates_.size() ? n : candidates_.size(); }
  std::size_t start_count() const { return start_; }

 private:
  RequestContext& ctx_;
  std::vector<Target>& candidates_;
  std::span<const TriedTarget> tried_;
  const StepOutcome* outcome_;
  std::size_t start_ = 0;
};

/// One job of the target chain (q-value serial forking, a gateway failover order...).
/// The core asks the chain, in order, once when a target set is ready and again each time a
/// step ends with no 2xx, no 6xx and no CANCEL while candidates remain. Thread: core io
/// thread.
class TargetProcessor {
 public:
  virtual ~TargetProcessor() = default;
  /// Short name for logs ("q-value").
  virtual std::string_view name() const = 0;
  /// Action::Continue: the next processor decides (this one may have reordered or dropped
  /// candidates); Action::SkipChain: the step is decided (TargetStep::start_first). Pause and
  /// Respond are not target actions: the core treats them as SkipChain.
  virtual Action process(TargetStep& step) = 0;
};

}  // namespace sipws::proxy
