// FloodGuard: per-source request limits (pike-like) on a ManualTimerService (no sleeps).

#include "auth/flood_guard.hpp"

#include <gtest/gtest.h>

#include "common/counters.hpp"

namespace sipws::auth {
namespace {

using namespace std::chrono_literals;

IpAddress ip(const char* s) { return boost::asio::ip::make_address(s); }
std::uint64_t counter(const char* name) { return counters().get(name).value(); }

FloodGuardConfig config(std::uint32_t max) {
  FloodGuardConfig c;
  c.max_requests = max;
  c.window = 2s;
  c.block_time = 30s;
  return c;
}

TEST(FloodGuard, BlocksTheRequestAfterMaxWithinTheWindowOnce) {
  ManualTimerService timers;
  FloodGuard g(timers, config(3));
  const auto blocks = counter("flood_blocks");
  const auto refused = counter("flood_blocked_requests");
  for (int i = 0; i < 3; ++i) {
    const FloodCheck c = g.check(ip("192.0.2.1"));
    EXPECT_EQ(c.verdict, FloodVerdict::Allow);
    EXPECT_FALSE(c.started_block);
    timers.advance(600ms);
  }
  const FloodCheck over = g.check(ip("192.0.2.1"));  // 4th, 1.8 s after the first
  EXPECT_EQ(over.verdict, FloodVerdict::Block);
  EXPECT_TRUE(over.started_block);
  EXPECT_TRUE(g.blocked(ip("192.0.2.1")));
  EXPECT_EQ(g.check(ip("192.0.2.2")).verdict, FloodVerdict::Allow);  // other sources unaffected
  // During the block: refused and counted, never a second "started".
  for (int i = 0; i < 50; ++i) {
    const FloodCheck c = g.check(ip("::ffff:192.0.2.1"));
    EXPECT_EQ(c.verdict, FloodVerdict::Block);
    EXPECT_FALSE(c.started_block);
  }
  EXPECT_EQ(counter("flood_blocks") - blocks, 1u);
  EXPECT_EQ(counter("flood_blocked_requests") - refused, 51u);
  EXPECT_EQ(g.active_blocks(), 1u);
}

TEST(FloodGuard, RequestsSpreadBeyondTheWindowAreAllowed) {
  ManualTimerService timers;
  FloodGuard g(timers, config(3));
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(g.check(ip("192.0.2.1")).verdict, FloodVerdict::Allow) << i;
    timers.advance(700ms);  // at most 3 per 2 s window
  }
}

TEST(FloodGuard, BlockIsNotReArmedByRequestsDuringIt) {
  ManualTimerService timers;
  FloodGuard g(timers, config(1));
  g.check(ip("192.0.2.1"));
  ASSERT_TRUE(g.check(ip("192.0.2.1")).started_block);
  for (int i = 0; i < 29; ++i) {
    timers.advance(1s);
    EXPECT_EQ(g.check(ip("192.0.2.1")).verdict, FloodVerdict::Block);
  }
  timers.advance(1s);  // 30 s after the block started, despite the requests during it
  EXPECT_FALSE(g.blocked(ip("192.0.2.1")));
  EXPECT_EQ(g.check(ip("192.0.2.1")).verdict, FloodVerdict::Allow);  // a new window
  const FloodCheck again = g.check(ip("192.0.2.1"));
  EXPECT_EQ(again.verdict, FloodVerdict::Block);
  EXPECT_TRUE(again.started_block);  // a new block is logged again
  EXPECT_EQ(timers.pending(), 0u);
}

TEST(FloodGuard, ExemptNetworksAreNeverCountedNorBlocked) {
  ManualTimerService timers;
  FloodGuardConfig c = config(1);
  c.exempt = {*IpNetwork::parse("10.0.0.0/8"), *IpNetwork::parse("2001:db8::/32")};
  FloodGuard g(timers, c);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(g.check(ip("10.1.2.3")).verdict, FloodVerdict::Allow);
    EXPECT_EQ(g.check(ip("::ffff:10.9.9.9")).verdict, FloodVerdict::Allow);
    EXPECT_EQ(g.check(ip("2001:db8::5")).verdict, FloodVerdict::Allow);
  }
  EXPECT_EQ(g.tracked(), 0u);
  g.check(ip("11.0.0.1"));
  EXPECT_EQ(g.check(ip("11.0.0.1")).verdict, FloodVerdict::Block);
}

TEST(FloodGuard, ZeroMaxRequestsTurnsItOff) {
  ManualTimerService timers;
  FloodGuard g(timers, config(0));
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(g.check(ip("192.0.2.1")).verdict, FloodVerdict::Allow);
  EXPECT_EQ(g.tracked(), 0u);
}

TEST(FloodGuard, UnblockEndsABlock) {
  ManualTimerService timers;
  FloodGuard g(timers, config(1));
  EXPECT_FALSE(g.unblock(ip("192.0.2.1")));
  g.check(ip("192.0.2.1"));
  EXPECT_FALSE(g.unblock(ip("192.0.2.1")));  // counting, not blocked
  g.check(ip("192.0.2.1"));
  EXPECT_TRUE(g.unblock(ip("192.0.2.1")));
  EXPECT_FALSE(g.blocked(ip("192.0.2.1")));
  EXPECT_EQ(g.check(ip("192.0.2.1")).verdict, FloodVerdict::Allow);
}

TEST(FloodGuard, MaxTrackedBoundsMemoryUnderSpoofedSources) {
  ManualTimerService timers;
  FloodGuardConfig c = config(2);
  c.max_tracked = 500;
  FloodGuard g(timers, c);
  for (int i = 0; i < 3; ++i) g.check(ip("203.0.113.7"));
  ASSERT_TRUE(g.blocked(ip("203.0.113.7")));
  for (std::uint32_t i = 0; i < 120000; ++i) {
    g.check(IpAddress(boost::asio::ip::address_v4(0x0a000000u + i)));
    ASSERT_LE(g.tracked(), 500u);
  }
  EXPECT_EQ(g.tracked(), 500u);
  EXPECT_TRUE(g.blocked(ip("203.0.113.7")));  // counting sources were evicted first
  timers.advance(2s);                         // every window closed: only the block is left
  EXPECT_EQ(g.active_blocks(), 1u);
  EXPECT_EQ(g.tracked(), 1u);
  timers.advance(28s);
  EXPECT_EQ(g.active_blocks(), 0u);
  EXPECT_EQ(g.tracked(), 0u);
}

}  // namespace
}  // namespace sipws::auth
