// TrustedPeers: matching requests to configured peers by source network, transport and
// From / Request-URI patterns.

#include "auth/trusted_peers.hpp"

#include <gtest/gtest.h>

#include <string>

#include "sip/parser.hpp"

namespace sipws::auth {
namespace {

sip::Message parse(const std::string& text) {
  auto m = sip::parse(text);
  if (!m) {
    ADD_FAILURE() << "parse failed: " << m.error().reason << "\n" << text;
    return {};
  }
  return std::move(m.value());
}

sip::Message invite(const std::string& ruri, const std::string& from) {
  return parse("INVITE " + ruri +
               " SIP/2.0\r\n"
               "Via: SIP/2.0/UDP 203.0.113.5;branch=z9hG4bK776asdhds\r\n"
               "Max-Forwards: 70\r\n"
               "To: <" +
               ruri + ">\r\nFrom: \"Gateway\" <" + from +
               ">;tag=1928301774\r\n"
               "Call-ID: a84b4c76e66710\r\nCSeq: 314159 INVITE\r\nContent-Length: 0\r\n\r\n");
}

Source from(const char* addr, Protocol p = Protocol::Udp) {
  Source s;
  s.protocol = p;
  s.peer = Endpoint{boost::asio::ip::make_address(addr), 5060};
  return s;
}

TrustedPeer peer(const char* net, std::string name) {
  TrustedPeer p;
  p.source = *IpNetwork::parse(net);
  p.name = std::move(name);
  return p;
}

TEST(TrustedPeers, MatchesBySourceNetworkFirstEntryWins) {
  TrustedPeer pbx = peer("203.0.113.5", "pbx");
  TrustedPeer lan = peer("203.0.113.0/24", "lan");
  lan.relay = true;
  const TrustedPeers peers({pbx, lan});
  const auto req = invite("sip:+15551234@sipws.example", "sip:100@pbx.example");
  const TrustedPeer* m = peers.match(from("203.0.113.5"), req);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->name, "pbx");
  EXPECT_FALSE(m->relay);
  m = peers.match(from("203.0.113.77"), req);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->name, "lan");
  EXPECT_TRUE(m->relay);
  EXPECT_EQ(peers.match(from("198.51.100.1"), req), nullptr);
  EXPECT_NE(peers.match(from("::ffff:203.0.113.5"), req), nullptr);  // dual-stack socket
}

TEST(TrustedPeers, TransportMustMatchWhenSet) {
  TrustedPeer tls = peer("203.0.113.5", "tls-only");
  tls.transport = Protocol::Tls;
  const TrustedPeers peers({tls});
  const auto req = invite("sip:bob@sipws.example", "sip:100@pbx.example");
  EXPECT_EQ(peers.match(from("203.0.113.5", Protocol::Udp), req), nullptr);
  EXPECT_EQ(peers.match(from("203.0.113.5", Protocol::Tcp), req), nullptr);
  EXPECT_NE(peers.match(from("203.0.113.5", Protocol::Tls), req), nullptr);
  TrustedPeer any = peer("203.0.113.5", "any");
  const TrustedPeers any_peers({any});
  for (auto p : {Protocol::Udp, Protocol::Tcp, Protocol::Tls, Protocol::Ws, Protocol::Wss}) {
    EXPECT_NE(any_peers.match(from("203.0.113.5", p), req), nullptr);
  }
}

TEST(TrustedPeers, FromAndRequestUriPatternsAreSearched) {
  TrustedPeer gw = peer("203.0.113.0/24", "gw");
  gw.from = std::regex("@pbx\\.example$");
  gw.ruri = std::regex("^sip:\\+1[0-9]+@");
  TrustedPeer fallback = peer("203.0.113.0/24", "fallback");
  fallback.from = std::regex("^sip:admin@");
  const TrustedPeers peers({gw, fallback});
  const auto ok = invite("sip:+15551234@sipws.example", "sip:100@pbx.example");
  ASSERT_NE(peers.match(from("203.0.113.9"), ok), nullptr);
  EXPECT_EQ(peers.match(from("203.0.113.9"), ok)->name, "gw");
  // From fails the first entry's pattern; the second entry's pattern is tried next.
  const auto admin = invite("sip:+15551234@sipws.example", "sip:admin@evil.example");
  ASSERT_NE(peers.match(from("203.0.113.9"), admin), nullptr);
  EXPECT_EQ(peers.match(from("203.0.113.9"), admin)->name, "fallback");
  // Request-URI fails: no match at all.
  EXPECT_EQ(
      peers.match(from("203.0.113.9"), invite("sip:bob@sipws.example", "sip:100@pbx.example")),
      nullptr);
  // The pattern sees the URI only, not the display name or the tag.
  TrustedPeer tagged = peer("203.0.113.0/24", "tagged");
  tagged.from = std::regex("Gateway|tag");
  EXPECT_EQ(TrustedPeers({tagged}).match(from("203.0.113.9"), ok), nullptr);
}

TEST(TrustedPeers, OverlongUrisNeverMatchAPatternAndDoNotCrash) {
  TrustedPeer gw = peer("203.0.113.0/24", "gw");
  gw.from = std::regex("^sip:(a|b)*@pbx\\.example$");  // recursion per character in libstdc++
  const TrustedPeers peers({gw});
  const auto fits =
      invite("sip:bob@sipws.example",
             "sip:" + std::string(TrustedPeers::kMaxPatternInput - 20, 'a') + "@pbx.example");
  EXPECT_NE(peers.match(from("203.0.113.9"), fits), nullptr);
  const auto huge =
      invite("sip:bob@sipws.example", "sip:" + std::string(60000, 'a') + "@pbx.example");
  EXPECT_EQ(peers.match(from("203.0.113.9"), huge), nullptr);
}

TEST(TrustedPeers, ContainsSourceIgnoresTransportAndPatterns) {
  TrustedPeer gw = peer("203.0.113.0/24", "gw");
  gw.transport = Protocol::Tls;
  gw.from = std::regex("^never$");
  TrustedPeer v6 = peer("2001:db8::/32", "v6");
  const TrustedPeers peers({gw, v6});
  EXPECT_TRUE(peers.contains_source(boost::asio::ip::make_address("203.0.113.200")));
  EXPECT_TRUE(peers.contains_source(boost::asio::ip::make_address("2001:db8::1")));
  EXPECT_FALSE(peers.contains_source(boost::asio::ip::make_address("198.51.100.1")));
  EXPECT_FALSE(TrustedPeers().contains_source(boost::asio::ip::make_address("203.0.113.1")));
  EXPECT_TRUE(TrustedPeers().empty());
}

}  // namespace
}  // namespace sipws::auth
