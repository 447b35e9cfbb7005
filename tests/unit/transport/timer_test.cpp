#include "transport/asio_timer.hpp"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <vector>

#include "test_util.hpp"

namespace sipws::transport {
namespace {

using test::run_until;

TEST(AsioTimerService, FiresInOrderAndHonoursCancel) {
  boost::asio::io_context io;
  AsioTimerService timers(io);
  std::vector<int> fired;
  const auto a = timers.schedule(Millis(10), [&] { fired.push_back(1); });
  const auto b = timers.schedule(Millis(20), [&] { fired.push_back(2); });
  const auto c = timers.schedule(Millis(40), [&] { fired.push_back(3); });
  EXPECT_NE(a, 0u);
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  timers.cancel(b);
  timers.cancel(b);  // twice: no-op
  timers.cancel(0);  // no-op
  const auto t0 = timers.now();
  ASSERT_TRUE(run_until(io, [&] { return fired.size() >= 2; }));
  EXPECT_EQ(fired, (std::vector<int>{1, 3}));
  EXPECT_GE(timers.now() - t0, Millis(40));
  timers.cancel(a);  // already fired: no-op
}

TEST(AsioTimerService, CallbackMayScheduleAndCancel) {
  boost::asio::io_context io;
  AsioTimerService timers(io);
  int chained = 0;
  bool victim_fired = false;
  const auto victim = timers.schedule(Millis(30), [&] { victim_fired = true; });
  timers.schedule(Millis(1), [&] {
    timers.cancel(victim);
    timers.schedule(Millis(1), [&] { ++chained; });
  });
  // A sentinel later than the victim: once it fired, the victim would have fired too.
  bool sentinel = false;
  timers.schedule(Millis(60), [&] { sentinel = true; });
  ASSERT_TRUE(run_until(io, [&] { return sentinel; }));
  EXPECT_EQ(chained, 1);
  EXPECT_FALSE(victim_fired);
}

TEST(AsioTimerService, DestroyedServiceNeverCallsBack) {
  boost::asio::io_context io;
  bool fired = false;
  {
    AsioTimerService timers(io);
    timers.schedule(Millis(1), [&] { fired = true; });
  }
  AsioTimerService other(io);
  bool sentinel = false;
  other.schedule(Millis(20), [&] { sentinel = true; });
  ASSERT_TRUE(run_until(io, [&] { return sentinel; }));
  EXPECT_FALSE(fired);
}

TEST(AsioTimerService, AnEarlierTimerScheduledLaterFiresFirstAndTiesKeepTheirOrder) {
  boost::asio::io_context io;
  AsioTimerService timers(io);
  std::vector<int> fired;
  timers.schedule(Millis(80), [&] { fired.push_back(3); });
  timers.schedule(Millis(5), [&] { fired.push_back(1); });  // earlier than the armed one
  for (int i = 0; i < 3; ++i) timers.schedule(Millis(30), [&fired, i] { fired.push_back(10 + i); });
  ASSERT_TRUE(run_until(io, [&] { return fired.size() == 5; }));
  EXPECT_EQ(fired, (std::vector<int>{1, 10, 11, 12, 3}));
}

TEST(AsioTimerService, ZeroDelayRunsAfterTheCurrentHandlerAndCanBeCancelled) {
  boost::asio::io_context io;
  AsioTimerService timers(io);
  std::vector<int> order;
  bool cancelled_fired = false;
  boost::asio::post(io, [&] {
    timers.schedule(Millis(0), [&] { order.push_back(2); });
    const auto gone = timers.schedule(Millis(0), [&] { cancelled_fired = true; });
    timers.cancel(gone);
    order.push_back(1);  // the handler that scheduled them finishes first
  });
  bool sentinel = false;
  timers.schedule(Millis(20), [&] { sentinel = true; });
  ASSERT_TRUE(run_until(io, [&] { return sentinel; }));
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_FALSE(cancelled_fired);
}

TEST(AsioTimerService, UnixTimeIsWallClock) {
  boost::asio::io_context io;
  AsioTimerService timers(io);
  EXPECT_GT(timers.unix_time(), 1'600'000'000);
}

}  // namespace
}  // namespace sipws::transport
