#include "transport/connection_limiter.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sipws::transport {
namespace {

IpAddress ip(const char* s) { return boost::asio::ip::make_address(s); }
using Verdict = ConnectionLimiter::Verdict;

TEST(IpNetwork, ParsesHostsAndCidrs) {
  auto n = IpNetwork::parse("10.1.0.0/16");
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->contains(ip("10.1.200.3")));
  EXPECT_FALSE(n->contains(ip("10.2.0.1")));
  EXPECT_TRUE(n->contains(ip("::ffff:10.1.0.9")));  // IPv4-mapped
  auto h = IpNetwork::parse("192.0.2.1");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->prefix, 32u);
  EXPECT_TRUE(h->contains(ip("192.0.2.1")));
  EXPECT_FALSE(h->contains(ip("192.0.2.2")));
  auto v6 = IpNetwork::parse("2001:db8::/33");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(ip("2001:db8:7fff::1")));
  EXPECT_FALSE(v6->contains(ip("2001:db8:8000::1")));
  EXPECT_FALSE(v6->contains(ip("10.1.0.1")));
  EXPECT_TRUE(IpNetwork::parse("0.0.0.0/0")->contains(ip("8.8.8.8")));
  for (const char* bad : {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "host.example", "1.2.3.4/x"}) {
    EXPECT_FALSE(IpNetwork::parse(bad)) << bad;
  }
}

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
