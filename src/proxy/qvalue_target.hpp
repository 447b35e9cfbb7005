#pragma once
// Serial and parallel forking by q-value (RFC 3261 s.16.6 step 2, s.10.2.1.2; repro's
// QValueTargetHandler): the default last processor of the target chain.

#include "proxy/target_processor.hpp"

namespace sipws::proxy {

/// Forks to the targets of the highest q in parallel; lower q-groups start one after the
/// other, each only after every branch of the one before ended without a 2xx and with a
/// status its target lets the walk go on after (Target::continue_on: empty = any). On the
/// first step it orders the candidates by q, highest first, keeping the order of equal q.
/// Always decides (SkipChain). Thread: core io thread.
class QValueTargetProcessor final : public TargetProcessor {
 public:
  std::string_view name() const override { return "q-value"; }
  Action process(TargetStep& step) override;
};

}  // namespace sipws::proxy
