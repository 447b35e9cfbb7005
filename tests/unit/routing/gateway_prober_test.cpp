// OPTIONS probing on a manual clock: schedule, one outstanding probe per gateway, up/down
// transitions and their counters, failure threshold, answers now / later / never / after stop
// or destruction.

#include "routing/gateway_prober.hpp"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sipws::routing {
namespace {

using namespace std::chrono_literals;

Gateway gw(std::string name, std::uint32_t interval_s, bool enabled = true) {
  Gateway g;
  g.name = std::move(name);
  g.uri = "sip:" + g.name + ".example.com";
  g.probe_interval_s = interval_s;
  g.enabled = enabled;
  return g;
}

/// SendOptions fake: answers synchronously with a scripted status per gateway, or keeps the
/// `done` callback for the test to call later (or never).
struct FakeSender {
  struct Sent {
    std::string gateway;
    std::string uri;
    std::function<void(int)> done;
  };
  std::map<std::string, int> sync_status;  // gateway -> status answered at once
  std::vector<Sent> sent;

  GatewayProber::SendOptions fn() {
    return [this](const Gateway& g, const std::function<void(int)>& done) {
      sent.push_back({g.name, g.uri, done});
      if (auto it = sync_status.find(g.name); it != sync_status.end()) done(it->second);
    };
  }
  int count(const std::string& name) const {
    int n = 0;
    for (const auto& s : sent) n += s.gateway == name ? 1 : 0;
    return n;
  }
};

struct ProberTest : ::testing::Test {
  ManualTimerService timers;
  Counters counters;
  FakeSender sender;
  GatewayTable table{{gw("A", 10), gw("B", 30), gw("OFF", 10, false), gw("NOPROBE", 0)}, {}};

  std::unique_ptr<GatewayProber> make(std::uint32_t failures_before_down = 1) {
    GatewayProber::Config cfg;
    cfg.failures_before_down = failures_before_down;
    cfg.counters = &counters;
    return std::make_unique<GatewayProber>(timers, table, sender.fn(), cfg);
  }
  std::uint64_t downs() { return counters.get("gateway_down").value(); }
  std::uint64_t ups() { return counters.get("gateway_up").value(); }
};

TEST(ProbeReply, AnyFinalButTimeout408And503MeansUp) {
  for (int s : {200, 202, 300, 404, 405, 481, 488, 500, 501, 502, 504, 600, 603, 699}) {
    EXPECT_TRUE(probe_reply_means_up(s)) << s;
  }
  for (int s : {0, -1, 100, 180, 199, 408, 503, 700, 1000}) {
    EXPECT_FALSE(probe_reply_means_up(s)) << s;
  }
}

TEST_F(ProberTest, ProbesOnlyEnabledGatewaysWithAnIntervalFirstOnAZeroTimerThenEachInterval) {
  auto prober = make();
  prober->start();
  EXPECT_TRUE(prober->running());
  EXPECT_TRUE(sender.sent.empty());  // nothing is sent from inside start()
  timers.advance(0ms);
  ASSERT_EQ(sender.sent.size(), 2u);
  EXPECT_EQ(sender.sent[0].gateway, "A");
  EXPECT_EQ(sender.sent[0].uri, "sip:A.example.com");
  EXPECT_EQ(sender.sent[1].gateway, "B");
  for (auto& s : sender.sent) s.done(200);

  timers.advance(9999ms);
  EXPECT_EQ(sender.count("A"), 1);
  timers.advance(1ms);  // t = 10 s
  EXPECT_EQ(sender.count("A"), 2);
  sender.sent.back().done(200);
  timers.advance(20s);  // t = 30 s: A sent at 20 s, not answered, so the 30 s tick skips
  EXPECT_EQ(sender.count("A"), 3);
  EXPECT_EQ(sender.count("B"), 2);
  EXPECT_EQ(sender.count("OFF"), 0);
  EXPECT_EQ(sender.count("NOPROBE"), 0);
  prober->start();  // already running: no second schedule
  timers.advance(0ms);
  EXPECT_EQ(sender.count("A"), 3);
  EXPECT_EQ(sender.count("B"), 2);
}

TEST_F(ProberTest, NeverTwoProbesOutstandingForOneGateway) {
  auto prober = make();
  prober->start();
  timers.advance(0ms);
  EXPECT_EQ(sender.count("A"), 1);
  timers.advance(35s);  // three more ticks of A, the first probe still unanswered
  EXPECT_EQ(sender.count("A"), 1);
  sender.sent[0].done(200);
  timers.advance(5s);  // t = 40 s: the next tick sends again
  EXPECT_EQ(sender.count("A"), 2);
}

TEST_F(ProberTest, TimeoutMarksDownOnceThenAnyAnswerMarksUpOnce) {
  sender.sync_status["A"] = 0;  // timeout / transport error
  auto prober = make();
  prober->start();
  timers.advance(0ms);
  EXPECT_FALSE(table.is_up("A"));
  EXPECT_EQ(downs(), 1u);
  timers.advance(20s);  // two more failures: no new transition, no new count
  EXPECT_EQ(sender.count("A"), 3);
  EXPECT_EQ(downs(), 1u);

  sender.sync_status["A"] = 404;  // a host that refuses OPTIONS is alive
  timers.advance(10s);
  EXPECT_TRUE(table.is_up("A"));
  EXPECT_EQ(ups(), 1u);
  timers.advance(10s);
  EXPECT_EQ(ups(), 1u);
  EXPECT_TRUE(table.is_up("B"));  // B was never answered (held): still up, no count
}

TEST_F(ProberTest, Status503And408CountAsFailures) {
  sender.sync_status["A"] = 503;
  sender.sync_status["B"] = 408;
  auto prober = make();
  prober->start();
  timers.advance(0ms);
  EXPECT_FALSE(table.is_up("A"));
  EXPECT_FALSE(table.is_up("B"));
  EXPECT_EQ(downs(), 2u);
  sender.sync_status["A"] = 200;
  timers.advance(10s);
  EXPECT_TRUE(table.is_up("A"));
  EXPECT_FALSE(table.is_up("B"));
}

TEST_F(ProberTest, FailuresBeforeDownAreConsecutive) {
  sender.sync_status["A"] = 0;
  auto prober = make(3);
  prober->start();
  timers.advance(10s);  // failures 1, 2
  EXPECT_TRUE(table.is_up("A"));
  sender.sync_status["A"] = 200;  // success resets the count
  timers.advance(10s);
  sender.sync_status["A"] = 0;
  timers.advance(20s);  // failures 1, 2
  EXPECT_TRUE(table.is_up("A"));
  EXPECT_EQ(downs(), 0u);
  timers.advance(10s);  // failure 3
  EXPECT_FALSE(table.is_up("A"));
  EXPECT_EQ(downs(), 1u);
}

TEST_F(ProberTest, ZeroFailuresBeforeDownActsAsOne) {
  sender.sync_status["A"] = 0;
  auto prober = make(0);
  prober->start();
  timers.advance(0ms);
  EXPECT_FALSE(table.is_up("A"));
}

TEST_F(ProberTest, LateAnswerCountsAndARepeatedDoneIsIgnored) {
  auto prober = make();
  prober->start();
  timers.advance(0ms);
  auto done_a = sender.sent[0].done;
  timers.advance(5s);
  done_a(0);  // answered later: timeout
  EXPECT_FALSE(table.is_up("A"));
  done_a(200);  // a second call for the same probe changes nothing
  EXPECT_FALSE(table.is_up("A"));
  EXPECT_EQ(ups(), 0u);
}

TEST_F(ProberTest, ARecoveredGatewayMarkedDownByTheRouterComesBackOnTheNextProbe) {
  sender.sync_status["A"] = 200;
  auto prober = make();
  prober->start();
  timers.advance(0ms);
  table.set_up("A", false);  // e.g. the gateway-route processor saw a 503
  timers.advance(10s);
  EXPECT_TRUE(table.is_up("A"));
  EXPECT_EQ(ups(), 1u);
}

TEST_F(ProberTest, StopCancelsTimersAndIgnoresOutstandingAnswers) {
  auto prober = make();
  prober->start();
  timers.advance(0ms);
  ASSERT_EQ(sender.sent.size(), 2u);
  prober->stop();
  EXPECT_FALSE(prober->running());
  EXPECT_EQ(timers.pending(), 0u);
  sender.sent[0].done(0);  // arrives after stop: ignored
  EXPECT_TRUE(table.is_up("A"));
  EXPECT_EQ(downs(), 0u);
  timers.advance(60s);
  EXPECT_EQ(sender.sent.size(), 2u);

  // Restart: fresh probes (the old outstanding ones are forgotten).
  prober->start();
  timers.advance(0ms);
  EXPECT_EQ(sender.sent.size(), 4u);
  sender.sent[1].done(0);  // B's answer from before the stop: still ignored
  EXPECT_TRUE(table.is_up("B"));
  sender.sent[3].done(0);
  EXPECT_FALSE(table.is_up("B"));
  prober->stop();
  prober->stop();  // idempotent
}

TEST_F(ProberTest, SafeToDestroyWithProbesOutstanding) {
  auto prober = make();
  prober->start();
  timers.advance(0ms);
  prober.reset();
  EXPECT_EQ(timers.pending(), 0u);
  for (auto& s : sender.sent) s.done(0);  // callbacks outlive the prober: no-ops
  EXPECT_TRUE(table.is_up("A"));
  EXPECT_TRUE(table.is_up("B"));
  timers.advance(60s);
  EXPECT_EQ(sender.sent.size(), 2u);
}

TEST(GatewayProberReload, OldProberStoppedTableReplacedNewProberProbesTheNewTable) {
  ManualTimerService timers;
  Counters counters;
  FakeSender sender;
  auto table =
      std::make_unique<GatewayTable>(std::vector<Gateway>{gw("OLD", 5)}, std::vector<Route>{});
  GatewayProber::Config cfg;
  cfg.counters = &counters;
  auto old_prober = std::make_unique<GatewayProber>(timers, *table, sender.fn(), cfg);
  old_prober->start();
  timers.advance(0ms);
  ASSERT_EQ(sender.sent.size(), 1u);

  // Reload: stop the old prober, replace the table, start a new prober.
  old_prober->stop();
  table = std::make_unique<GatewayTable>(std::vector<Gateway>{gw("NEW", 5)}, std::vector<Route>{});
  GatewayProber prober(timers, *table, sender.fn(), cfg);
  prober.start();
  sender.sent[0].done(0);  // the old table's probe answers now: must not touch anything
  timers.advance(0ms);
  ASSERT_EQ(sender.sent.size(), 2u);
  EXPECT_EQ(sender.sent[1].gateway, "NEW");
  sender.sent[1].done(0);
  EXPECT_FALSE(table->is_up("NEW"));
  old_prober.reset();
  timers.advance(5s);
  EXPECT_EQ(sender.count("NEW"), 2);
  EXPECT_EQ(sender.count("OLD"), 1);
}

TEST(GatewayProberLifetime, SendThatDestroysTheProberSynchronouslyIsSafe) {
  ManualTimerService timers;
  Counters counters;
  GatewayTable table({gw("A", 1)}, {});
  std::unique_ptr<GatewayProber> prober;
  int sends = 0;
  GatewayProber::Config cfg;
  cfg.counters = &counters;
  prober = std::make_unique<GatewayProber>(
      timers, table,
      [&](const Gateway&, const std::function<void(int)>& done) {
        ++sends;
        prober.reset();  // e.g. a reload triggered from inside the send path
        done(0);         // ...and then the answer: a no-op
      },
      cfg);
  prober->start();
  timers.advance(0ms);
  EXPECT_EQ(sends, 1);
  EXPECT_FALSE(prober);
  EXPECT_TRUE(table.is_up("A"));
  timers.advance(10s);
  EXPECT_EQ(sends, 1);
  EXPECT_EQ(timers.pending(), 0u);
}

}  // namespace
}  // namespace sipws::routing
