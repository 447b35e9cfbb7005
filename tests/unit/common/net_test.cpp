// IpNetwork (address/prefix matching on boost::asio::ip::network_v4/v6, IPv4-mapped addresses
// as IPv4), parse_ip() / is_ip(), unmapped() and IpAddressHash.

#include "common/net.hpp"

#include <gtest/gtest.h>

#include <unordered_set>

namespace sipws {
namespace {

IpAddress ip(const char* s) { return boost::asio::ip::make_address(s); }

TEST(Net, PrivateAddressesAreThoseNoInternetPeerSendsFrom) {
  auto ip = [](const char* t) { return boost::asio::ip::make_address(t); };
  for (const char* p :
       {"10.0.0.5", "172.16.0.1", "172.31.255.255", "192.168.1.20", "100.64.0.1", "100.127.255.254",
        "169.254.3.4", "fd00::1", "fc00::9", "fe80::1", "::ffff:192.168.0.7"}) {
    EXPECT_TRUE(is_private(ip(p))) << p;
  }
  for (const char* p : {"192.0.2.1", "172.15.0.1", "172.32.0.1", "100.63.255.255", "100.128.0.1",
                        "8.8.8.8", "127.0.0.1", "2001:db8::1", "::1", "::ffff:198.51.100.7"}) {
    EXPECT_FALSE(is_private(ip(p))) << p;
  }
}

TEST(IpNetwork, ParsesHostsAndCidrs) {
  auto n = IpNetwork::parse("10.1.0.0/16");
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->contains(ip("10.1.200.3")));
  EXPECT_FALSE(n->contains(ip("10.2.0.1")));
  EXPECT_TRUE(n->contains(ip("::ffff:10.1.0.9")));  // IPv4-mapped
  auto h = IpNetwork::parse("192.0.2.1");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->prefix(), 32u);
  EXPECT_TRUE(h->contains(ip("192.0.2.1")));
  EXPECT_FALSE(h->contains(ip("192.0.2.2")));
  auto v6 = IpNetwork::parse("2001:db8::/33");
  ASSERT_TRUE(v6);
  EXPECT_FALSE(v6->is_v4());
  EXPECT_TRUE(v6->contains(ip("2001:db8:7fff::1")));
  EXPECT_FALSE(v6->contains(ip("2001:db8:8000::1")));
  EXPECT_FALSE(v6->contains(ip("10.1.0.1")));
  EXPECT_TRUE(IpNetwork::parse("0.0.0.0/0")->contains(ip("8.8.8.8")));
  for (const char* bad : {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "host.example", "1.2.3.4/x",
                          "1.2.3.4/-1", "1.2.3.4/ 8", "1.2.3.4/99999999999999999999", "/8"}) {
    EXPECT_FALSE(IpNetwork::parse(bad)) << bad;
  }
}

TEST(IpNetwork, PrefixBoundariesOnBothFamilies) {
  auto n = IpNetwork::parse("192.0.2.128/25");
  ASSERT_TRUE(n);
  EXPECT_FALSE(n->contains(ip("192.0.2.127")));
  EXPECT_TRUE(n->contains(ip("192.0.2.128")));
  EXPECT_TRUE(n->contains(ip("192.0.2.255")));
  EXPECT_FALSE(n->contains(ip("192.0.3.0")));
  auto odd = IpNetwork::parse("2001:db8::/127");
  ASSERT_TRUE(odd);
  EXPECT_TRUE(odd->contains(ip("2001:db8::1")));
  EXPECT_FALSE(odd->contains(ip("2001:db8::2")));
  auto all6 = IpNetwork::parse("::/0");
  ASSERT_TRUE(all6);
  EXPECT_TRUE(all6->contains(ip("2001:db8::1")));
  EXPECT_FALSE(all6->contains(ip("192.0.2.1")));         // an IPv6 network holds no IPv4 address
  EXPECT_FALSE(all6->contains(ip("::ffff:192.0.2.1")));  // ... not even in its mapped form
  EXPECT_TRUE(IpNetwork::parse("::1")->contains(ip("::1")));
  EXPECT_EQ(IpNetwork::parse("::1")->prefix(), 128u);
}

TEST(IpNetwork, HostBitsAreKeptForDisplayButIgnoredForMatching) {
  auto n = IpNetwork::parse("10.1.2.3/16");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->to_string(), "10.1.2.3/16");
  EXPECT_EQ(n->address(), ip("10.1.2.3"));
  EXPECT_TRUE(n->contains(ip("10.1.99.99")));
  EXPECT_EQ(IpNetwork::parse("2001:db8::/32")->to_string(), "2001:db8::/32");
  EXPECT_EQ(IpNetwork(ip("10.0.0.0"), 8), *IpNetwork::parse("10.0.0.0/8"));
  EXPECT_NE(IpNetwork(ip("10.0.0.0"), 9), *IpNetwork::parse("10.0.0.0/8"));
}

TEST(IpNetwork, MappedLiteralsAreIpv4Networks) {
  auto host = IpNetwork::parse("::ffff:192.0.2.1");
  ASSERT_TRUE(host);
  EXPECT_TRUE(host->is_v4());
  EXPECT_EQ(host->prefix(), 32u);
  EXPECT_TRUE(host->contains(ip("192.0.2.1")));
  auto net = IpNetwork::parse("::ffff:10.0.0.0/104");  // 96 + 8
  ASSERT_TRUE(net);
  EXPECT_EQ(*net, *IpNetwork::parse("10.0.0.0/8"));
  EXPECT_TRUE(net->contains(ip("::ffff:10.200.0.1")));
  EXPECT_FALSE(IpNetwork::parse("::ffff:10.0.0.0/8"));  // wider than the mapped range
  EXPECT_TRUE(IpNetwork(ip("::ffff:10.0.0.0"), 8).contains(ip("10.9.9.9")));
}

TEST(IpNetwork, ScopeIdOfALinkLocalPeerDoesNotMatter) {
  auto n = IpNetwork::parse("fe80::/10");
  ASSERT_TRUE(n);
  auto scoped = ip("fe80::1").to_v6();
  scoped.scope_id(3);
  EXPECT_TRUE(n->contains(IpAddress(scoped)));
}

TEST(IpNetwork, DefaultIsTheWholeIpv4Space) {
  IpNetwork any;
  EXPECT_TRUE(any.contains(ip("203.0.113.9")));
  EXPECT_FALSE(any.contains(ip("2001:db8::1")));
  EXPECT_EQ(any.to_string(), "0.0.0.0/0");
}

TEST(Net, ParseIpTellsAddressLiteralsFromNames) {
  EXPECT_EQ(parse_ip("192.0.2.1"), ip("192.0.2.1"));
  EXPECT_EQ(parse_ip("2001:db8::1"), ip("2001:db8::1"));
  EXPECT_TRUE(is_ip("::1"));
  EXPECT_TRUE(is_ip("::ffff:192.0.2.1"));
  for (const char* name : {"", "example.com", "[::1]", "192.0.2.1:5060", "192.0.2", " 192.0.2.1",
                           "256.0.0.1", "2001:db8::g"}) {
    EXPECT_FALSE(parse_ip(name)) << name;
    EXPECT_FALSE(is_ip(name)) << name;
  }
}

TEST(Net, UnmappedAndHash) {
  EXPECT_EQ(unmapped(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
  EXPECT_EQ(unmapped(ip("2001:db8::1")), ip("2001:db8::1"));
  EXPECT_EQ(unmapped(ip("192.0.2.1")), ip("192.0.2.1"));
  std::unordered_set<IpAddress, IpAddressHash> set{ip("192.0.2.1"), ip("2001:db8::1")};
  EXPECT_EQ(set.count(ip("192.0.2.1")), 1u);
  EXPECT_EQ(set.count(ip("2001:db8::1")), 1u);
  EXPECT_EQ(set.count(ip("192.0.2.2")), 0u);
  EXPECT_EQ(IpAddressHash{}(ip("10.0.0.1")), IpAddressHash{}(ip("10.0.0.1")));
}

}  // namespace
}  // namespace sipws
