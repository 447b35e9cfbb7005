// The q-value target processor alone (RFC 3261 s.16.6 step 2): which candidates it starts as
// the first step, and whether the next q-group starts after a step ended (Target::continue_on).
// The serial walk through the real core is in serial_failure_test.cpp.

#include "proxy/qvalue_target.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "processor_fixture.hpp"

namespace sipws::proxy {
namespace {

Target target(std::string uri, float q, std::vector<int> continue_on = {}) {
  Target t;
  t.uri = std::move(uri);
  t.q = q;
  t.continue_on = std::move(continue_on);
  return t;
}

std::vector<std::string> uris(const std::vector<Target>& ts) {
  std::vector<std::string> out;
  out.reserve(ts.size());
  for (const auto& t : ts) out.push_back(t.uri);
  return out;
}

class QValueTargetTest : public ::testing::Test {
 protected:
  /// Runs the processor on the first step of `candidates`; returns how many it starts.
  std::size_t first_step(std::vector<Target>& candidates) {
    TargetStep step(*ctx, candidates, {}, nullptr);
    EXPECT_EQ(qvalue.process(step), Action::SkipChain);
    return step.start_count();
  }
  /// Runs it after a step whose branches were `tried`, `candidates` left.
  std::size_t next_step(std::vector<Target>& candidates, const std::vector<TriedTarget>& tried) {
    StepOutcome outcome;
    outcome.best_status = tried.empty() ? 408 : tried.front().status;
    TargetStep step(*ctx, candidates, tried, &outcome);
    EXPECT_EQ(qvalue.process(step), Action::SkipChain);
    return step.start_count();
  }

  sip::Message req = test::request("INVITE", "sip:alice@localhost");
  std::unique_ptr<RequestContext> ctx = test::context(req);
  QValueTargetProcessor qvalue;
};

TEST_F(QValueTargetTest, FirstStepStartsTheHighestQGroupAfterAStableSortByQ) {
  std::vector<Target> c{target("sip:a@h", 0.5f), target("sip:b@h", 1.0f), target("sip:c@h", 0.1f),
                        target("sip:d@h", 1.0f), target("sip:e@h", 0.5f)};
  EXPECT_EQ(first_step(c), 2u);
  EXPECT_EQ(uris(c),
            (std::vector<std::string>{"sip:b@h", "sip:d@h", "sip:a@h", "sip:e@h", "sip:c@h"}));
}

TEST_F(QValueTargetTest, EqualQForksEveryTargetInParallel) {
  std::vector<Target> c{target("sip:a@h", 0.7f), target("sip:b@h", 0.7f), target("sip:c@h", 0.7f)};
  EXPECT_EQ(first_step(c), 3u);
  EXPECT_EQ(uris(c), (std::vector<std::string>{"sip:a@h", "sip:b@h", "sip:c@h"}));
}

TEST_F(QValueTargetTest, NextGroupStartsAfterAStepThatEndedWithAnyStatus) {
  const Target done = target("sip:a@h", 1.0f);
  std::vector<Target> c{target("sip:b@h", 0.5f), target("sip:c@h", 0.5f), target("sip:d@h", 0.2f)};
  EXPECT_EQ(next_step(c, {{&done, 486}}), 2u);
  EXPECT_EQ(uris(c), (std::vector<std::string>{"sip:b@h", "sip:c@h", "sip:d@h"}));
}

TEST_F(QValueTargetTest, NextGroupStartsWhenEveryBranchEndedWithAContinueOnStatus) {
  const Target gw1 = target("sip:gw1@h", 1.0f, {408, 503});
  const Target gw2 = target("sip:gw2@h", 1.0f, {408, 503});
  std::vector<Target> c{target("sip:gw3@h", 0.5f, {408, 503})};
  EXPECT_EQ(next_step(c, {{&gw1, 503}, {&gw2, 408}}), 1u);
}

TEST_F(QValueTargetTest, OneBranchOutsideItsContinueOnEndsTheWalk) {
  const Target gw1 = target("sip:gw1@h", 1.0f, {408, 503});
  const Target gw2 = target("sip:gw2@h", 1.0f, {408, 503});
  std::vector<Target> c{target("sip:gw3@h", 0.5f)};
  EXPECT_EQ(next_step(c, {{&gw1, 503}, {&gw2, 404}}), 0u);
  EXPECT_EQ(c.size(), 1u);  // left as it was
}

TEST_F(QValueTargetTest, NoCandidatesStartsNothing) {
  std::vector<Target> c;
  EXPECT_EQ(first_step(c), 0u);
}

}  // namespace
}  // namespace sipws::proxy
