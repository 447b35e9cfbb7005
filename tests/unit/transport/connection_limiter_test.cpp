#include "transport/connection_limiter.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sipws::transport {
namespace {

IpAddress ip(const char* s) { return boost::asio::ip::make_address(s); }
using Verdict = ConnectionLimiter::Verdict;

TEST(ConnectionLimiter, CountsPerIpAndTotalAndReleasesOnDestruction) {
  ConnectionLimiter lim(ConnectionLimits{3, 2, {}});
  std::vector<ConnectionLimiter::Admission> held;
  held.push_back(lim.admit(ip("192.0.2.1")));
  held.push_back(lim.admit(ip("192.0.2.1")));
  EXPECT_EQ(lim.admit(ip("192.0.2.1")).verdict(), Verdict::PerIpExceeded);
  EXPECT_EQ(lim.from(ip("192.0.2.1")), 2u);
  held.push_back(lim.admit(ip("192.0.2.2")));
  EXPECT_TRUE(held.back().admitted());
  EXPECT_EQ(lim.admit(ip("192.0.2.3")).verdict(), Verdict::TotalExceeded);
  EXPECT_EQ(lim.total(), 3u);
  EXPECT_EQ(lim.from(ip("192.0.2.3")), 0u);
  held.erase(held.begin());
  EXPECT_EQ(lim.total(), 2u);
  EXPECT_EQ(lim.from(ip("192.0.2.1")), 1u);
  EXPECT_TRUE(lim.admit(ip("192.0.2.1")).admitted());  // admitted, then released at once
  EXPECT_EQ(lim.total(), 2u);
  held.clear();
  EXPECT_EQ(lim.total(), 0u);
}

TEST(ConnectionLimiter, ExemptNetworksSkipThePerIpLimitButNotTheTotal) {
  ConnectionLimiter lim(ConnectionLimits{3, 1, {*IpNetwork::parse("10.0.0.0/8")}});
  std::vector<ConnectionLimiter::Admission> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(lim.admit(ip("10.9.9.9")));
    EXPECT_TRUE(held.back().admitted());
  }
  EXPECT_EQ(lim.admit(ip("10.9.9.9")).verdict(), Verdict::TotalExceeded);
}

TEST(ConnectionLimiter, ZeroMeansNoLimitAndAdmissionsMayOutliveTheLimiter) {
  ConnectionLimiter::Admission late;
  {
    ConnectionLimiter lim;
    std::vector<ConnectionLimiter::Admission> held;
    for (int i = 0; i < 100; ++i) held.push_back(lim.admit(ip("::1")));
    EXPECT_EQ(lim.total(), 100u);
    late = lim.admit(ip("::1"));
  }
  EXPECT_TRUE(late.admitted());
}

TEST(ConnectionLimiter, MoveAssignmentReleasesTheOldSlot) {
  ConnectionLimiter lim(ConnectionLimits{0, 1, {}});
  auto a = lim.admit(ip("192.0.2.1"));
  auto b = lim.admit(ip("192.0.2.2"));
  a = std::move(b);
  EXPECT_EQ(lim.from(ip("192.0.2.1")), 0u);
  EXPECT_EQ(lim.from(ip("192.0.2.2")), 1u);
}

}  // namespace
}  // namespace sipws::transport
