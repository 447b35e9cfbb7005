#include "proxy/qvalue_target.hpp"

#include <algorithm>

namespace sipws::proxy {

namespace {

/// True if the branch's status lets the serial walk go on (Target::continue_on).
bool lets_walk_go_on(const TriedTarget& t) {
  const auto& on = t.target->continue_on;
  return on.empty() || std::find(on.begin(), on.end(), t.status) != on.end();
}

}  // namespace

Action QValueTargetProcessor::process(TargetStep& step) {
  auto& c = step.candidates();
  if (c.empty()) return Action::SkipChain;
  if (step.first()) {
    std::stable_sort(c.begin(), c.end(),
                     [](const Target& a, const Target& b) { return a.q > b.q; });
  } else if (!std::all_of(step.tried().begin(), step.tried().end(), lets_walk_go_on)) {
    return Action::SkipChain;  // nothing starts: the walk ends here
  }
  std::size_t n = 1;
  while (n < c.size() && c[n].q == c.front().q) ++n;
  step.start_first(n);
  return Action::SkipChain;
}

}  // namespace sipws::proxy
