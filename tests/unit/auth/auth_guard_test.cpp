// AuthGuard: brute-force bans per source IP and per user on a ManualTimerService (no sleeps).

#include "auth/auth_guard.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/counters.hpp"

namespace sipws::auth {
namespace {

using Ban = AuthGuard::Ban;
using namespace std::chrono_literals;

IpAddress ip(const char* s) { return boost::asio::ip::make_address(s); }
std::uint64_t counter(const char* name) { return counters().get(name).value(); }

AuthGuardConfig config(std::uint32_t max_ip, std::uint32_t max_user) {
  AuthGuardConfig c;
  c.max_failures = max_ip;
  c.max_user_failures = max_user;
  c.window = 60s;
  c.ban_time = 600s;
  return c;
}

TEST(AuthGuard, IpIsBannedExactlyAtTheNthFailureWithinTheWindow) {
  ManualTimerService timers;
  AuthGuard g(timers, config(3, 0));
  const auto bans_before = counter("auth_bans_ip");
  EXPECT_EQ(g.record_failure(ip("192.0.2.1"), "alice@example.com"), Ban::None);
  timers.advance(20s);
  EXPECT_EQ(g.record_failure(ip("192.0.2.1"), "bob@example.com"), Ban::None);
  EXPECT_FALSE(g.ip_banned(ip("192.0.2.1")));
  timers.advance(39s);  // 59 s after the first failure: still in its window
  EXPECT_EQ(g.record_failure(ip("192.0.2.1"), "alice@example.com"), Ban::Ip);
  EXPECT_TRUE(g.ip_banned(ip("192.0.2.1")));
  EXPECT_TRUE(g.ip_banned(ip("::ffff:192.0.2.1")));  // the mapped form is the same source
  EXPECT_FALSE(g.ip_banned(ip("192.0.2.2")));
  EXPECT_EQ(counter("auth_bans_ip") - bans_before, 1u);
  EXPECT_EQ(g.active_bans(), 1u);
  // Failures during the ban start nothing new (the caller logged the ban once).
  EXPECT_EQ(g.record_failure(ip("192.0.2.1"), "alice@example.com"), Ban::None);
  EXPECT_EQ(counter("auth_bans_ip") - bans_before, 1u);
}

TEST(AuthGuard, FailuresSpreadBeyondTheWindowDoNotBan) {
  ManualTimerService timers;
  AuthGuard g(timers, config(3, 0));
  const auto src = ip("2001:db8::1");
  EXPECT_EQ(g.record_failure(src, ""), Ban::None);
  EXPECT_EQ(g.record_failure(src, ""), Ban::None);
  timers.advance(60s);  // the window has closed: this opens a new one with a count of 1
  EXPECT_EQ(g.record_failure(src, ""), Ban::None);
  timers.advance(30s);
  EXPECT_EQ(g.record_failure(src, ""), Ban::None);
  EXPECT_FALSE(g.ip_banned(src));
  timers.advance(29s);  // third failure of the second window
  EXPECT_EQ(g.record_failure(src, ""), Ban::Ip);
}

TEST(AuthGuard, BanExpiresByItselfAfterBanTime) {
  ManualTimerService timers;
  AuthGuard g(timers, config(1, 0));
  ASSERT_EQ(g.record_failure(ip("192.0.2.1"), ""), Ban::Ip);
  const auto bans = g.bans();
  ASSERT_EQ(bans.size(), 1u);
  EXPECT_EQ(bans[0].kind, Ban::Ip);
  EXPECT_EQ(bans[0].what, "192.0.2.1");
  EXPECT_EQ(bans[0].until, timers.now() + 600s);
  timers.advance(599s);
  EXPECT_TRUE(g.ip_banned(ip("192.0.2.1")));
  timers.advance(1s);
  EXPECT_FALSE(g.ip_banned(ip("192.0.2.1")));
  EXPECT_EQ(g.active_bans(), 0u);
  EXPECT_TRUE(g.bans().empty());
  EXPECT_EQ(g.tracked(), 0u);
  EXPECT_EQ(timers.pending(), 0u);  // no timers: expiry is checked on each call
  // After the ban, counting starts from zero.
  EXPECT_EQ(g.record_failure(ip("192.0.2.1"), ""), Ban::Ip);  // max 1
}

TEST(AuthGuard, SuccessClearsTheIpCountButNotABan) {
  ManualTimerService timers;
  AuthGuard g(timers, config(3, 0));
  g.record_failure(ip("192.0.2.1"), "alice@example.com");
  g.record_failure(ip("192.0.2.1"), "alice@example.com");
  g.record_success(ip("192.0.2.1"), "alice@example.com");
  EXPECT_EQ(g.record_failure(ip("192.0.2.1"), "alice@example.com"), Ban::None);
  EXPECT_EQ(g.record_failure(ip("192.0.2.1"), "alice@example.com"), Ban::None);
  EXPECT_EQ(g.record_failure(ip("192.0.2.1"), "alice@example.com"), Ban::Ip);
  g.record_success(ip("192.0.2.1"), "alice@example.com");
  EXPECT_TRUE(g.ip_banned(ip("192.0.2.1")));
}

TEST(AuthGuard, UserIsBannedForFailuresFromManyIps) {
  ManualTimerService timers;
  AuthGuard g(timers, config(10, 5));
  const auto bans_before = counter("auth_bans_user");
  std::string addr;
  for (int i = 1; i <= 4; ++i) {
    addr = "198.51.100." + std::to_string(i);
    EXPECT_EQ(g.record_failure(ip(addr.c_str()), "alice@example.com"), Ban::None);
    timers.advance(1s);
  }
  // A success from one of them does not reset the user's count (only that IP's).
  g.record_success(ip("198.51.100.1"), "alice@example.com");
  EXPECT_FALSE(g.user_banned("alice@example.com"));
  EXPECT_EQ(g.record_failure(ip("198.51.100.5"), "alice@example.com"), Ban::User);
  EXPECT_TRUE(g.user_banned("alice@example.com"));
  EXPECT_FALSE(g.user_banned("bob@example.com"));
  for (int i = 1; i <= 5; ++i) {  // no IP got near its own limit
    addr = "198.51.100." + std::to_string(i);
    EXPECT_FALSE(g.ip_banned(ip(addr.c_str())));
  }
  EXPECT_EQ(counter("auth_bans_user") - bans_before, 1u);
  const auto bans = g.bans();
  ASSERT_EQ(bans.size(), 1u);
  EXPECT_EQ(bans[0].kind, Ban::User);
  EXPECT_EQ(bans[0].what, "alice@example.com");
  timers.advance(600s);
  EXPECT_FALSE(g.user_banned("alice@example.com"));
}

TEST(AuthGuard, OneFailureCanStartBothBans) {
  ManualTimerService timers;
  AuthGuard g(timers, config(2, 2));
  EXPECT_EQ(g.record_failure(ip("192.0.2.1"), "alice@example.com"), Ban::None);
  EXPECT_EQ(g.record_failure(ip("192.0.2.1"), "alice@example.com"), Ban::IpAndUser);
  EXPECT_EQ(g.active_bans(), 2u);
}

TEST(AuthGuard, ZeroDisablesEachKindOfBan) {
  ManualTimerService timers;
  AuthGuard g(timers, config(0, 0));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(g.record_failure(ip("192.0.2.1"), "a@b"), Ban::None);
  EXPECT_FALSE(g.ip_banned(ip("192.0.2.1")));
  EXPECT_FALSE(g.user_banned("a@b"));
  EXPECT_EQ(g.tracked(), 0u);
}

TEST(AuthGuard, OverlongAorsAreCountedPerIpOnly) {
  ManualTimerService timers;
  AuthGuard g(timers, config(0, 1));
  const std::string huge(AuthGuard::kMaxAorLength + 1, 'a');
  EXPECT_EQ(g.record_failure(ip("192.0.2.1"), huge), Ban::None);
  EXPECT_FALSE(g.user_banned(huge));
  EXPECT_EQ(g.tracked(), 0u);
  const std::string longest(AuthGuard::kMaxAorLength, 'a');
  EXPECT_EQ(g.record_failure(ip("192.0.2.1"), longest), Ban::User);
}

TEST(AuthGuard, LiftEndsABanAndForgetsTheCount) {
  ManualTimerService timers;
  AuthGuard g(timers, config(2, 2));
  EXPECT_FALSE(g.lift(ip("192.0.2.1")));  // not banned
  g.record_failure(ip("192.0.2.1"), "alice@example.com");
  EXPECT_FALSE(g.lift(ip("192.0.2.1")));  // counting, not banned
  ASSERT_EQ(g.record_failure(ip("192.0.2.1"), "alice@example.com"), Ban::IpAndUser);
  EXPECT_TRUE(g.lift(ip("::ffff:192.0.2.1")));
  EXPECT_FALSE(g.ip_banned(ip("192.0.2.1")));
  EXPECT_TRUE(g.user_banned("alice@example.com"));
  EXPECT_TRUE(g.lift_user("alice@example.com"));
  EXPECT_FALSE(g.lift_user("alice@example.com"));
  EXPECT_FALSE(g.user_banned("alice@example.com"));
  EXPECT_EQ(g.active_bans(), 0u);
  // Counts start again from zero.
  EXPECT_EQ(g.record_failure(ip("192.0.2.1"), "alice@example.com"), Ban::None);
}

TEST(AuthGuard, MaxTrackedBoundsMemoryUnderManyDistinctSources) {
  ManualTimerService timers;
  AuthGuardConfig c = config(3, 3);
  c.max_tracked = 1000;
  AuthGuard g(timers, c);
  // A real attacker from one IP gets banned first ...
  for (int i = 0; i < 3; ++i) g.record_failure(ip("203.0.113.7"), "");
  ASSERT_TRUE(g.ip_banned(ip("203.0.113.7")));
  // ... then 150000 spoofed sources, each with a different user, fail once.
  for (std::uint32_t i = 0; i < 150000; ++i) {
    const IpAddress src{boost::asio::ip::address_v4(0x0a000000u + i)};
    g.record_failure(src, "u" + std::to_string(i) + "@example.com");
    ASSERT_LE(g.tracked(), 1000u);
  }
  EXPECT_EQ(g.tracked(), 1000u);
  // Counting entries were evicted before the ban.
  EXPECT_TRUE(g.ip_banned(ip("203.0.113.7")));
  // The newest sources are still counted.
  const IpAddress last{boost::asio::ip::address_v4(0x0a000000u + 149999)};
  g.record_failure(last, "");
  EXPECT_EQ(g.record_failure(last, ""), Ban::Ip);
}

TEST(AuthGuard, WhenOnlyBansAreTrackedTheOneEndingFirstIsEvicted) {
  ManualTimerService timers;
  AuthGuardConfig c = config(1, 0);
  c.max_tracked = 2;
  AuthGuard g(timers, c);
  g.record_failure(ip("192.0.2.1"), "");
  timers.advance(1s);
  g.record_failure(ip("192.0.2.2"), "");
  timers.advance(1s);
  g.record_failure(ip("192.0.2.3"), "");
  EXPECT_FALSE(g.ip_banned(ip("192.0.2.1")));
  EXPECT_TRUE(g.ip_banned(ip("192.0.2.2")));
  EXPECT_TRUE(g.ip_banned(ip("192.0.2.3")));
  EXPECT_EQ(g.tracked(), 2u);
}

TEST(AuthGuard, ClosedWindowsAreDroppedWithoutPressure) {
  ManualTimerService timers;
  AuthGuard g(timers, config(5, 5));
  for (int i = 0; i < 100; ++i) {
    const IpAddress src{boost::asio::ip::address_v4(0xc0000200u + i)};
    g.record_failure(src, "u" + std::to_string(i));
  }
  EXPECT_EQ(g.tracked(), 200u);
  timers.advance(60s);
  EXPECT_FALSE(g.ip_banned(ip("192.0.2.1")));
  EXPECT_EQ(g.tracked(), 0u);
}

// One guard serves every shard: failures recorded from several threads at once count once each,
// exactly one ban starts, and every thread sees it.
TEST(AuthGuard, FailuresFromSeveralThreadsCountTogether) {
  ManualTimerService timers;  // never advanced while the threads run: now() is only read
  AuthGuard g(timers, config(400, 0));
  const auto bans_before = counter("auth_bans_ip");
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (g.record_failure(ip("192.0.2.7"), {}) == Ban::Ip) started.fetch_add(1);
        (void)g.ip_banned(ip("192.0.2.8"));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(started.load(), 1);
  EXPECT_EQ(counter("auth_bans_ip"), bans_before + 1);
  EXPECT_TRUE(g.ip_banned(ip("192.0.2.7")));
  EXPECT_FALSE(g.ip_banned(ip("192.0.2.8")));
  EXPECT_EQ(g.tracked(), 1u);
}

}  // namespace
}  // namespace sipws::auth
