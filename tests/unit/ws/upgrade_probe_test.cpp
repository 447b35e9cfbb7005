// ws::UpgradeProbe: the listener's handshake checks and message hand-off on exact bytes
// (websocketpp's iostream transport), as the ws_upgrade_fuzz target drives them.

#include <gtest/gtest.h>

#include "ws/listener.hpp"
#include "ws_test_util.hpp"

namespace sipws::ws {
namespace {

using namespace test;

const sipws::Endpoint kPeer{boost::asio::ip::make_address("192.0.2.7"), 40000};

struct Probe {
  explicit Probe(ListenerConfig cfg = {})
      : probe(
            std::move(cfg),
            [this](std::shared_ptr<const std::string> b, const Source& s) {
              delivered.emplace_back(*b, s);
            },
            kPeer) {}
  std::string feed(const std::string& bytes) {
    probe.feed(bytes.data(), bytes.size());
    return probe.output();
  }
  std::vector<std::pair<std::string, Source>> delivered;
  UpgradeProbe probe;
};

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

TEST(UpgradeProbe, AcceptsSipUpgradeAndDeliversMessages) {
  Probe p;
  const std::string r = p.feed(upgrade_request());
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 101")) << r;
  EXPECT_NE(r.find("Sec-WebSocket-Protocol: sip\r\n"), std::string::npos) << r;
  EXPECT_TRUE(p.probe.open());
  p.feed(ws_frame(0x1, "OPTIONS sip:x SIP/2.0\r\n\r\n"));
  ASSERT_EQ(p.delivered.size(), 1u);
  EXPECT_EQ(p.delivered[0].first, "OPTIONS sip:x SIP/2.0\r\n\r\n");
  EXPECT_EQ(p.delivered[0].second.protocol, Protocol::Ws);
  EXPECT_EQ(p.delivered[0].second.peer, kPeer);
  p.feed(ws_frame(0x1, ""));  // empty message: counted, not delivered
  EXPECT_EQ(p.delivered.size(), 1u);
}

TEST(UpgradeProbe, RefusesWithoutSipSubprotocol) {
  Probe p;
  const std::string r = p.feed(upgrade_request("", "chat"));
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 400")) << r;
  EXPECT_FALSE(p.probe.open());
}

TEST(UpgradeProbe, OriginPolicyAnswers403) {
  ListenerConfig cfg;
  cfg.allowed_origins = {"https://*.example.com"};
  cfg.allow_no_origin = false;
  Probe bad(cfg), good(cfg), none(cfg);
  EXPECT_TRUE(
      starts_with(bad.feed(upgrade_request("Origin: https://evil.test\r\n")), "HTTP/1.1 403"));
  EXPECT_TRUE(
      starts_with(good.feed(upgrade_request("Origin: https://a.example.com\r\n")), "HTTP/1.1 101"));
  EXPECT_TRUE(starts_with(none.feed(upgrade_request()), "HTTP/1.1 403"));
}

TEST(UpgradeProbe, ConnectionLimitsAnswer429And503WithRetryAfter) {
  transport::ConnectionLimits l;
  l.max_total = 2;
  l.max_per_ip = 1;
  ListenerConfig cfg;
  cfg.limiter = std::make_shared<transport::ConnectionLimiter>(l);
  Probe first(cfg);
  EXPECT_TRUE(starts_with(first.feed(upgrade_request()), "HTTP/1.1 101"));
  Probe second(cfg);  // same peer address
  const std::string r = second.feed(upgrade_request());
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 429")) << r;
  EXPECT_NE(r.find("Retry-After: 5\r\n"), std::string::npos) << r;
  EXPECT_EQ(cfg.limiter->total(), 1u);
  auto other = cfg.limiter->admit(boost::asio::ip::make_address("192.0.2.8"));
  ASSERT_TRUE(other.admitted());
  Probe third(cfg);
  EXPECT_TRUE(starts_with(third.feed(upgrade_request()), "HTTP/1.1 503"));
}

TEST(UpgradeProbe, GarbageGetsAnHttpErrorAndNeverOpens) {
  for (const std::string& bytes :
       {std::string("\x16\x03\x01\x02\x00", 5), std::string("GET / HTTP/1.1\r\n\r\n"),
        std::string("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"),
        std::string("GET / HTTP/9.9\r\nUpgrade: websocket\r\n\r\n")}) {
    Probe p;
    const std::string r = p.feed(bytes);
    p.probe.eof();
    EXPECT_FALSE(p.probe.open()) << bytes;
    EXPECT_TRUE(r.empty() || starts_with(r, "HTTP/1.1 4")) << r;
  }
}

TEST(UpgradeProbe, InvalidUtf8TextFrameGets1007) {
  Probe p;
  p.feed(upgrade_request());
  ASSERT_TRUE(p.probe.open());
  const std::string r = p.feed(ws_frame(0x1, "\xc3\x28"));
  EXPECT_EQ(p.probe.local_close_code(), 1007);
  EXPECT_EQ(close_code_of(server_frames(r)), 1007);
  EXPECT_TRUE(p.delivered.empty());
}

}  // namespace
}  // namespace sipws::ws
