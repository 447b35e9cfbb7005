// RFC 3263 selection rules without a DNS server: NAPTR service mapping and filtering, SRV
// names, RFC 2782 weighted ordering with a scripted random source.

#include "routing/sip_locator.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace sipws::routing {
namespace {

TEST(SipLocatorRules, NaptrServicesMapToTransportsCaseInsensitively) {
  EXPECT_EQ(protocol_of_service("SIP+D2U"), Protocol::Udp);
  EXPECT_EQ(protocol_of_service("sip+d2t"), Protocol::Tcp);
  EXPECT_EQ(protocol_of_service("SIPS+D2T"), Protocol::Tls);
  EXPECT_EQ(protocol_of_service("SIP+D2W"), Protocol::Ws);    // RFC 7118 s.7
  EXPECT_EQ(protocol_of_service("SIPS+D2W"), Protocol::Wss);  // RFC 7118 s.7
  EXPECT_EQ(protocol_of_service("SIP+D2S"), std::nullopt);    // SCTP: not supported
  EXPECT_EQ(protocol_of_service("E2U+sip"), std::nullopt);    // ENUM, not a transport
}

TEST(SipLocatorRules, SrvNamesPerTransport) {
  EXPECT_EQ(srv_name(Protocol::Udp, "example.com"), "_sip._udp.example.com");
  EXPECT_EQ(srv_name(Protocol::Tcp, "example.com"), "_sip._tcp.example.com");
  EXPECT_EQ(srv_name(Protocol::Tls, "example.com"), "_sips._tcp.example.com");
  EXPECT_EQ(srv_name(Protocol::Ws, "example.com"), "_sip._ws.example.com");
  EXPECT_EQ(srv_name(Protocol::Wss, "example.com"), "_sips._ws.example.com");
}

std::vector<NaptrRecord> sample_naptr() {
  return {
      {50, 10, "s", "SIP+D2U", "", "_sip._udp.example.com"},
      {10, 20, "S", "SIP+D2T", "", "_sip._tcp.example.com"},
      {10, 10, "s", "SIPS+D2T", "", "_sips._tcp.example.com"},
      {5, 10, "s", "SIP+D2S", "", "_sip._sctp.example.com"},  // unsupported transport
      {5, 10, "u", "SIP+D2U", "!^.*$!sip:x@y!", ""},          // not an "s" rule
      {20, 10, "s", "SIPS+D2W", "", "_sips._ws.example.com"},
      {30, 10, "s", "SIP+D2W", "", "_sip._ws.example.com"},
  };
}

const std::vector<Protocol> kAll{Protocol::Udp, Protocol::Tcp, Protocol::Tls, Protocol::Ws,
                                 Protocol::Wss};

TEST(SipLocatorRules, NaptrOrderThenPreferenceOnlyUsableRules) {
  auto c = usable_naptr(sample_naptr(), false, kAll);
  ASSERT_EQ(c.size(), 5u);
  EXPECT_EQ(c[0].protocol, Protocol::Tls);
  EXPECT_EQ(c[0].srv, "_sips._tcp.example.com");
  EXPECT_EQ(c[1].protocol, Protocol::Tcp);
  EXPECT_EQ(c[2].protocol, Protocol::Wss);
  EXPECT_EQ(c[3].protocol, Protocol::Ws);
  EXPECT_EQ(c[4].protocol, Protocol::Udp);
}

TEST(SipLocatorRules, NaptrForSipsKeepsOnlySipsServices) {
  auto c = usable_naptr(sample_naptr(), true, kAll);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].protocol, Protocol::Tls);
  EXPECT_EQ(c[1].protocol, Protocol::Wss);
}

TEST(SipLocatorRules, NaptrSkipsTransportsSipwsCannotOpen) {
  auto c = usable_naptr(sample_naptr(), false, {Protocol::Udp, Protocol::Tcp});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].protocol, Protocol::Tcp);
  EXPECT_EQ(c[1].protocol, Protocol::Udp);
}

std::vector<SrvRecord> sample_srv() {
  return {
      {20, 0, 5003, "backup.example.com"},
      {10, 10, 5001, "light.example.com"},
      {10, 30, 5002, "heavy.example.com"},
      {10, 0, 5004, "zero.example.com"},
      {30, 0, 0, "."},  // service not offered there
  };
}

std::vector<std::string> targets(const std::vector<SrvRecord>& v) {
  std::vector<std::string> out;
  for (const auto& r : v) out.push_back(r.target);
  return out;
}

TEST(SipLocatorRules, SrvPriorityFirstWeightZeroFirstInTheRunningSum) {
  // random() == 0 always picks the first record of the running sum: weight 0 ones lead.
  auto low = order_srv(sample_srv(), [](std::uint32_t) { return 0u; });
  EXPECT_EQ(targets(low), (std::vector<std::string>{"zero.example.com", "light.example.com",
                                                    "heavy.example.com", "backup.example.com"}));
  // random() == sum picks the last record reaching it: the heavy one, then the light one.
  auto high = order_srv(sample_srv(), [](std::uint32_t max) { return max; });
  EXPECT_EQ(targets(high), (std::vector<std::string>{"heavy.example.com", "light.example.com",
                                                     "zero.example.com", "backup.example.com"}));
}

TEST(SipLocatorRules, SrvWeightsShareTheFirstPlaceProportionally) {
  std::mt19937 gen(42);
  RandomInt rnd = [&gen](std::uint32_t max) {
    return std::uniform_int_distribution<std::uint32_t>(0, max)(gen);
  };
  std::map<std::string, int> first;
  std::vector<SrvRecord> two = {{10, 10, 5001, "light"}, {10, 30, 5002, "heavy"}};
  for (int i = 0; i < 4000; ++i) ++first[order_srv(two, rnd).front().target];
  // Expected 3:1 (RFC 2782: the chance is weight / sum).
  EXPECT_GT(first["heavy"], 2700);
  EXPECT_LT(first["heavy"], 3300);
  EXPECT_EQ(first["heavy"] + first["light"], 4000);
}

}  // namespace
}  // namespace sipws::routing
