// Per-peer adaptations (PeerRules: a gateway's or an upstream's `strip_headers` and
// `max_message_size`): applied to every request the core sends to that peer, in-dialog ones
// and ACKs included. Real proxy core, transaction layer and parser, in-memory wire.

#include "proxy/peer_rules.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "loopback.hpp"
#include "proxy/proxy_core.hpp"
#include "sip/parser.hpp"
#include "wire.hpp"

namespace sipws::proxy {
namespace {

using sip::HeaderId;
using test::ip;
using test::Sent;

constexpr const char* kSecret = "peer-rules-test-secret-0123456789";

Source alice() {
  return {Protocol::Udp, {ip("127.0.0.1"), 5062}, {ip("127.0.0.1"), 5060}, kNoFlow};
}

/// A request from alice to `ruri` with an X-Legacy-Unfriendly header and `body_bytes` of body.
std::string request(const std::string& method, const std::string& ruri, const std::string& extra,
                    std::size_t body_bytes = 0, const std::string& branch = "z9hG4bKa1") {
  std::string m = method + " " + ruri +
                  " SIP/2.0\r\n"
                  "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=" +
                  branch +
                  "\r\n"
                  "Max-Forwards: 70\r\n"
                  "From: <sip:alice@localhost>;tag=a1\r\n"
                  "To: <" +
                  ruri + ">" + extra +
                  "\r\n"
                  "Call-ID: peer-rules-1\r\n"
                  "CSeq: 1 " +
                  method +
                  "\r\n"
                  "X-Legacy-Unfriendly: yes\r\n"
                  "User-Agent: a very long user agent string\r\n";
  if (body_bytes > 0) m += "Content-Type: text/plain\r\n";
  m += "Content-Length: " + std::to_string(body_bytes) + "\r\n\r\n" + std::string(body_bytes, 'x');
  return m;
}

class PeerRulesTest : public ::testing::Test {
 protected:
  PeerRulesTest()
      : resolver(timers), core(timers, domains, net, resolver, ProxyConfig{"sipws/0.1", kSecret}) {
    domains.add_domain("localhost");
    domains.add_alias("127.0.0.1");
    core.attach(txns, wire);
    PeerRule legacy;
    legacy.strip_headers = {"X-Legacy-Unfriendly", "User-Agent"};
    legacy.max_message_size = 700;
    core.set_peer_rules(std::make_shared<const PeerRules>(
        std::vector<std::pair<IpAddress, PeerRule>>{{ip("127.0.0.2"), legacy}}));
  }

  void receive(const std::string& text, const Source& src) {
    auto m = sip::parse(text);
    ASSERT_TRUE(m.has_value()) << m.error().reason << "\n" << text;
    txns.receive(*m, src);
  }
  /// Everything sent since the last call, 100 Trying left out.
  std::vector<Sent> sent() {
    std::vector<Sent> out;
    for (auto& s : wire.sent) {
      if (!(s.msg.is_response() && s.msg.status() == 100)) out.push_back(std::move(s));
    }
    wire.sent.clear();
    return out;
  }

  ManualTimerService timers;
  Domains domains;
  test::LoopbackNetwork net;
  test::NoNamesResolver resolver;
  test::Wire wire;
  ProxyCore core;
  sip::txn::TransactionLayer txns{timers, wire, core};
};

TEST_F(PeerRulesTest, HeadersAreStrippedFromInitialAndInDialogRequestsToThePeer) {
  receive(request("INVITE", "sip:9555@127.0.0.2:5080", ""), alice());
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dest.endpoint, (Endpoint{ip("127.0.0.2"), 5080}));
  EXPECT_EQ(out[0].msg.find("X-Legacy-Unfriendly"), nullptr);
  EXPECT_EQ(out[0].msg.find(HeaderId::UserAgent), nullptr);
  // The gateway answers; alice's BYE along sipws's signed Record-Route reaches it stripped too.
  const std::string rr(out[0].msg.find(HeaderId::RecordRoute)->value);
  sip::Message ok = sip::make_response(out[0].msg, 200);
  ok.set_to_tag("g1");
  ok.append(HeaderId::RecordRoute, rr);
  ok.append(HeaderId::Contact, "<sip:9555@127.0.0.2:5080>");
  receive(ok.serialize(),
          {Protocol::Udp, {ip("127.0.0.2"), 5080}, {ip("127.0.0.1"), 5060}, kNoFlow});
  sent();
  std::string bye = request("BYE", "sip:9555@127.0.0.2:5080", ";tag=g1", 0, "z9hG4bKa2");
  bye.replace(bye.find("CSeq: 1 BYE"), 11, "CSeq: 2 BYE\r\nRoute: " + rr);
  receive(bye, alice());
  out = sent();
  ASSERT_FALSE(out.empty());
  ASSERT_TRUE(out[0].msg.is_request()) << out[0].msg.serialize();
  EXPECT_EQ(out[0].msg.method(), sip::Method::Bye);
  EXPECT_EQ(out[0].dest.endpoint, (Endpoint{ip("127.0.0.2"), 5080}));
  EXPECT_EQ(out[0].msg.find("X-Legacy-Unfriendly"), nullptr);
  EXPECT_EQ(out[0].msg.find(HeaderId::UserAgent), nullptr);
}

TEST_F(PeerRulesTest, ARequestOverThePeersSizeIsRefusedWith513AndNotSent) {
  receive(request("MESSAGE", "sip:9555@127.0.0.2:5080", "", 800), alice());
  auto out = sent();
  ASSERT_EQ(out.size(), 1u) << "only the answer: nothing went to the peer";
  EXPECT_TRUE(out[0].msg.is_response());
  EXPECT_EQ(out[0].msg.status(), 513);
  EXPECT_EQ(out[0].msg.reason(), "Message Too Large");
  EXPECT_EQ(out[0].dest.endpoint, alice().peer);
  // Stripping comes first: a request that fits once stripped is sent.
  receive(request("MESSAGE", "sip:9555@127.0.0.2:5080", "", 300, "z9hG4bKa3"), alice());
  out = sent();
  ASSERT_FALSE(out.empty());
  EXPECT_TRUE(out[0].msg.is_request());
  EXPECT_LE(out[0].msg.serialize().size(), 700u);
}

TEST_F(PeerRulesTest, OtherPeersGetTheRequestAsItIs) {
  receive(request("MESSAGE", "sip:bob@127.0.0.3:5090", "", 800), alice());
  auto out = sent();
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].msg.is_request());
  EXPECT_NE(out[0].msg.find("X-Legacy-Unfriendly"), nullptr);
  EXPECT_NE(out[0].msg.find(HeaderId::UserAgent), nullptr);
}

TEST(PeerRules, FindsByAddressIpv4MappedTooFirstRuleWins) {
  PeerRule a;
  a.max_message_size = 1000;
  PeerRule b;
  b.max_message_size = 2000;
  const PeerRules rules({{ip("192.0.2.5"), a}, {ip("::ffff:192.0.2.5"), b}});
  ASSERT_NE(rules.find(ip("192.0.2.5")), nullptr);
  EXPECT_EQ(rules.find(ip("::ffff:192.0.2.5"))->max_message_size, 1000u);
  EXPECT_EQ(rules.find(ip("192.0.2.6")), nullptr);
  EXPECT_TRUE(PeerRules().empty());
}

}  // namespace
}  // namespace sipws::proxy
