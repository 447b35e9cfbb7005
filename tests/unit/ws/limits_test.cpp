// Abuse limits and framing of ws::Listener on real sockets (127.0.0.1, 127.0.0.2): connection
// limits (429/503), slowloris handshake deadline, first-message deadline and message rate (1008),
// invalid UTF-8 (1007), unmasked frames (1002), fragmented messages, dead flows. Deadlines and
// the rate's token bucket run on the fixture's manual clock.

#include <gtest/gtest.h>

#include "ws/listener.hpp"
#include "ws_test_util.hpp"

namespace sipws::ws {
namespace {

using namespace test;
using namespace std::chrono_literals;
namespace wsp = websocketpp;

const std::string kOptions =
    "OPTIONS sip:localhost SIP/2.0\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bK1\r\n"
    "Content-Length: 0\r\n\r\n";

/// Same fixture as listener_test.cpp, own suite name.
class WsLimitsTest : public WsListenerTest {};

bool done(const WsClient& c) { return c.opened || c.failed; }

std::shared_ptr<transport::ConnectionLimiter> limiter(std::size_t total, std::size_t per_ip,
                                                      std::vector<std::string> exempt = {}) {
  transport::ConnectionLimits l;
  l.max_total = total;
  l.max_per_ip = per_ip;
  for (const auto& e : exempt) l.exempt.push_back(*transport::IpNetwork::parse(e));
  return std::make_shared<transport::ConnectionLimiter>(l);
}

TEST_F(WsLimitsTest, PerIpLimitAnswers429AndOtherAddressesAreStillServed) {
  ListenerConfig cfg;
  cfg.limiter = limiter(0, 2);
  start(cfg);
  const auto before = counter("ws_limit_per_ip_rejected");
  WsClient a(io_, uri()), b(io_, uri());
  ASSERT_TRUE(run_until([&] { return a.opened && b.opened; }));
  WsClient c(io_, uri());
  ASSERT_TRUE(run_until([&] { return done(c); }));
  EXPECT_TRUE(c.failed);
  EXPECT_EQ(c.con->get_response_code(), wsp::http::status_code::too_many_requests);
  EXPECT_EQ(c.con->get_response_header("Retry-After"), "5");
  EXPECT_EQ(counter("ws_limit_per_ip_rejected"), before + 1);
  EXPECT_EQ(flows_.size(), 2u);

  // Another source address is not affected by 127.0.0.1's count.
  auto other = raw_peer("127.0.0.2");
  other->write(upgrade_request());
  ASSERT_TRUE(run_until([&] { return other->upgraded(); })) << other->in;
  ASSERT_TRUE(run_until([&] { return flows_.size() == 3; }));

  // A slot comes back when a connection closes.
  a.close();
  ASSERT_TRUE(run_until([&] { return a.closed && flows_.size() == 2; }));
  ASSERT_TRUE(run_until(
      [&] { return cfg.limiter->from(boost::asio::ip::make_address("127.0.0.1")) == 1; }));
  WsClient d(io_, uri());
  ASSERT_TRUE(run_until([&] { return done(d); }));
  EXPECT_TRUE(d.opened);
}

TEST_F(WsLimitsTest, ExemptNetworkIsNotLimitedPerIp) {
  ListenerConfig cfg;
  cfg.limiter = limiter(0, 1, {"127.0.0.0/8"});
  start(cfg);
  WsClient a(io_, uri()), b(io_, uri()), c(io_, uri());
  ASSERT_TRUE(run_until([&] { return done(a) && done(b) && done(c); }));
  EXPECT_TRUE(a.opened && b.opened && c.opened);
}

TEST_F(WsLimitsTest, TotalLimitAnswers503) {
  ListenerConfig cfg;
  cfg.limiter = limiter(1, 0);
  start(cfg);
  const auto before = counter("ws_limit_total_rejected");
  WsClient a(io_, uri());
  ASSERT_TRUE(run_until([&] { return done(a); }));
  ASSERT_TRUE(a.opened);
  WsClient b(io_, uri());
  ASSERT_TRUE(run_until([&] { return done(b); }));
  EXPECT_TRUE(b.failed);
  EXPECT_EQ(b.con->get_response_code(), wsp::http::status_code::service_unavailable);
  EXPECT_EQ(b.con->get_response_header("Retry-After"), "5");
  EXPECT_EQ(counter("ws_limit_total_rejected"), before + 1);
  // The admitted client is still served.
  a.send(kOptions, wsp::frame::opcode::text);
  ASSERT_TRUE(run_until([&] { return delivered_.size() == 1; }));
}

TEST_F(WsLimitsTest, SlowlorisIsDroppedAfterHandshakeTimeoutWhileOthersAreServed) {
  ListenerConfig cfg;
  cfg.handshake_timeout = 10s;
  cfg.first_message_timeout = 0ms;  // the good client sends its first message at the end
  cfg.limiter = limiter(0, 0);      // no limit, but it counts the accepted connections
  start(cfg);
  const auto before = counter("ws_handshake_timeouts");
  auto silent = raw_peer();   // TCP only
  auto partial = raw_peer();  // an incomplete request
  partial->write("GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n");
  WsClient good(io_, uri());
  ASSERT_TRUE(run_until([&] { return done(good); }));
  EXPECT_TRUE(good.opened);
  ASSERT_TRUE(run_until([&] { return cfg.limiter->total() == 3; }));  // all three accepted
  ASSERT_TRUE(settle(*partial));

  // Just before the deadline both are still there; at it, both are dropped.
  advance(cfg.handshake_timeout - 1ms);
  EXPECT_EQ(counter("ws_handshake_timeouts"), before);
  EXPECT_EQ(cfg.limiter->total(), 3u);
  advance(1ms);
  EXPECT_EQ(counter("ws_handshake_timeouts"), before + 2);
  ASSERT_TRUE(run_until([&] { return silent->eof && partial->eof; }));
  EXPECT_EQ(silent->in, "");
  EXPECT_EQ(cfg.limiter->total(), 1u);

  // The upgraded client is not subject to the handshake deadline: still open and served.
  advance(2 * cfg.handshake_timeout);
  ASSERT_TRUE(settle(good));
  EXPECT_FALSE(good.closed);
  EXPECT_EQ(flows_.size(), 1u);
  good.send(kOptions, wsp::frame::opcode::text);
  ASSERT_TRUE(run_until([&] { return delivered_.size() == 1; }));
}

TEST_F(WsLimitsTest, WssSlowlorisWithoutTlsHandshakeIsDropped) {
  const auto cert = transport::ensure_dev_certificate(tls_dir());
  ListenerConfig cfg;
  cfg.tls = transport::make_server_tls_context(cert.cert_path, cert.key_path);
  cfg.handshake_timeout = 300ms;
  cfg.limiter = limiter(0, 0);
  start(cfg);
  const auto before = counter("ws_handshake_timeouts");
  auto silent = raw_peer();
  ASSERT_TRUE(run_until([&] { return cfg.limiter->total() == 1; }));
  advance(299ms);
  EXPECT_EQ(counter("ws_handshake_timeouts"), before);
  advance(1ms);
  EXPECT_EQ(counter("ws_handshake_timeouts"), before + 1);
  ASSERT_TRUE(run_until([&] { return silent->eof; }));
  EXPECT_EQ(cfg.limiter->total(), 0u);
}

TEST_F(WsLimitsTest, HandshakeDeadlineAlsoRunsOnTheRealClock) {
  // The io thread's AsioTimerService (the daemon's) drives the same deadline: the wait ends
  // with the event it waits for.
  ListenerConfig cfg;
  cfg.handshake_timeout = 50ms;
  start(cfg, /*real_clock=*/true);
  const auto before = counter("ws_handshake_timeouts");
  auto silent = raw_peer();
  ASSERT_TRUE(run_until([&] { return silent->eof; }));
  EXPECT_EQ(counter("ws_handshake_timeouts"), before + 1);
}

TEST_F(WsLimitsTest, FirstMessageTimeoutClosesSilentFlowWith1008) {
  ListenerConfig cfg;
  cfg.first_message_timeout = 30s;
  start(cfg);
  const auto before = counter("ws_first_message_timeouts");
  WsClient silent(io_, uri());
  WsClient talker(io_, uri());
  ASSERT_TRUE(run_until([&] { return silent.opened && talker.opened && flows_.size() == 2; }));
  talker.send(kOptions, wsp::frame::opcode::text);
  ASSERT_TRUE(run_until([&] { return delivered_.size() == 1; }));
  advance(cfg.first_message_timeout - 1ms);
  EXPECT_EQ(counter("ws_first_message_timeouts"), before);
  ASSERT_TRUE(settle(silent));
  EXPECT_FALSE(silent.closed);
  advance(1ms);
  EXPECT_EQ(counter("ws_first_message_timeouts"), before + 1);
  ASSERT_TRUE(run_until([&] { return silent.closed; }));
  EXPECT_EQ(silent.remote_close_code, wsp::close::status::policy_violation);
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1; }));
  // The talker sent in time: still open and served.
  ASSERT_TRUE(settle(talker));
  EXPECT_FALSE(talker.closed);
  talker.send(kOptions, wsp::frame::opcode::text);
  ASSERT_TRUE(run_until([&] { return delivered_.size() == 2; }));
}

TEST_F(WsLimitsTest, MessageRateAboveLimitClosesWith1008AndSparesOtherFlows) {
  ListenerConfig cfg;
  cfg.max_message_rate = 5;
  start(cfg);
  const auto before = counter("ws_rate_limited");
  WsClient flood(io_, uri());
  WsClient calm(io_, uri());
  ASSERT_TRUE(run_until([&] { return flood.opened && calm.opened; }));
  // One over the bucket (the clock stands still: nothing refills it): nothing is left unread
  // when the 1008 goes out (websocketpp drops the connection right after a 1008 frame; unread
  // input would turn that into a reset).
  for (int i = 0; i < 6; ++i) flood.send(kOptions, wsp::frame::opcode::text);
  ASSERT_TRUE(run_until([&] { return flood.closed || flood.failed; }));
  EXPECT_EQ(flood.remote_close_code, wsp::close::status::policy_violation);
  EXPECT_EQ(counter("ws_rate_limited"), before + 1);
  EXPECT_EQ(delivered_.size(), 5u);
  // The other flow has its own bucket: five at once empty it, and one second refills it.
  const auto flooded = delivered_.size();
  for (int i = 0; i < 5; ++i) calm.send(kOptions, wsp::frame::opcode::text);
  ASSERT_TRUE(run_until([&] { return delivered_.size() == flooded + 5; }));
  advance(1s);
  for (int i = 0; i < 5; ++i) calm.send(kOptions, wsp::frame::opcode::text);
  ASSERT_TRUE(run_until([&] { return delivered_.size() == flooded + 10; }));
  ASSERT_TRUE(settle(calm));
  EXPECT_FALSE(calm.closed);
  EXPECT_EQ(counter("ws_rate_limited"), before + 1);
}

/// Upgrades a RawPeer and returns it once the 101 is in.
#define UPGRADED_PEER(name)                                             \
  auto name = raw_peer();                                               \
  name->write(upgrade_request());                                       \
  ASSERT_TRUE(run_until([&] { return name->upgraded(); })) << name->in; \
  ASSERT_TRUE(run_until([&] { return flows_.size() >= 1; }))

TEST_F(WsLimitsTest, InvalidUtf8TextFrameClosesWith1007) {
  start();
  const auto before = counter("ws_invalid_utf8");
  UPGRADED_PEER(peer);
  peer->write(ws_frame(0x1, "MESSAGE sip:a@b SIP/2.0\r\n\r\n\xff\xfe"));
  ASSERT_TRUE(run_until([&] { return close_code_of(server_frames(peer->in)) != -1; }));
  EXPECT_EQ(close_code_of(server_frames(peer->in)), 1007);
  EXPECT_TRUE(delivered_.empty());
  ASSERT_TRUE(run_until([&] { return flows_.size() == 0; }));
  EXPECT_EQ(counter("ws_invalid_utf8"), before + 1);
}

TEST_F(WsLimitsTest, UnmaskedClientFrameClosesWith1002) {
  start();
  const auto before = counter("ws_protocol_errors");
  UPGRADED_PEER(peer);
  peer->write(ws_frame(0x1, kOptions, true, /*masked=*/false));
  ASSERT_TRUE(run_until([&] { return close_code_of(server_frames(peer->in)) != -1; }));
  EXPECT_EQ(close_code_of(server_frames(peer->in)), 1002);
  EXPECT_TRUE(delivered_.empty());
  ASSERT_TRUE(run_until([&] { return flows_.size() == 0; }));
  EXPECT_EQ(counter("ws_protocol_errors"), before + 1);
}

TEST_F(WsLimitsTest, FragmentedMessageIsReassembledIntoOneSipMessage) {
  start();
  UPGRADED_PEER(peer);
  const std::string a = kOptions.substr(0, 10), b = kOptions.substr(10, 30),
                    c = kOptions.substr(40);
  peer->write(ws_frame(0x1, a, /*fin=*/false) + ws_frame(0x0, b, false) +
              ws_frame(0x9, "ping in between") +  // control frames may interleave (s.5.4)
              ws_frame(0x0, c, true));
  ASSERT_TRUE(run_until([&] { return delivered_.size() == 1; }));
  EXPECT_EQ(delivered_[0].first, kOptions);
  // Binary fragments with non-UTF-8 bytes are reassembled too.
  const std::string bin("MESSAGE sip:a@b SIP/2.0\r\n\r\n\xff\x00\xfe", 30);
  peer->write(ws_frame(0x2, bin.substr(0, 7), false) + ws_frame(0x0, bin.substr(7), true));
  ASSERT_TRUE(run_until([&] { return delivered_.size() == 2; }));
  EXPECT_EQ(delivered_[1].first, bin);
  ASSERT_TRUE(settle(*peer));
  EXPECT_EQ(close_code_of(server_frames(peer->in)), -1);
}

TEST_F(WsLimitsTest, FragmentedMessageOverSizeLimitClosesWith1009) {
  ListenerConfig cfg;
  cfg.max_message_size = 1024;
  start(cfg);
  UPGRADED_PEER(peer);
  const std::string part(600, 'x');
  peer->write(ws_frame(0x1, part, false) + ws_frame(0x0, part, true));
  ASSERT_TRUE(run_until([&] { return close_code_of(server_frames(peer->in)) != -1; }));
  EXPECT_EQ(close_code_of(server_frames(peer->in)), 1009);
  EXPECT_TRUE(delivered_.empty());
}

TEST_F(WsLimitsTest, PeerVanishingRemovesFlowAtOnceAndCountsDeadFlow) {
  start();
  std::vector<FlowId> closed;
  flows_.on_close([&](FlowId id, Protocol) { closed.push_back(id); });
  const auto before = counter("ws_flows_dead");
  UPGRADED_PEER(peer);
  WsClient polite(io_, uri());
  ASSERT_TRUE(run_until([&] { return polite.opened && flows_.size() == 2; }));
  boost::system::error_code ec;
  peer->sock.close(ec);  // no close frame: the peer is gone
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1; }));
  EXPECT_EQ(closed.size(), 1u);
  EXPECT_EQ(counter("ws_flows_dead"), before + 1);
  polite.close();  // a clean close is not a dead flow
  ASSERT_TRUE(run_until([&] { return flows_.size() == 0; }));
  EXPECT_EQ(counter("ws_flows_dead"), before + 1);
}

TEST_F(WsLimitsTest, WildcardOriginsAndNoOriginSwitch) {
  ListenerConfig cfg;
  cfg.allowed_origins = {"https://*.example.com", "http://localhost:8080"};
  start(cfg);
  const auto before = counter("ws_origin_rejected");
  WsClient sub(io_, uri(), {"sip"}, true, {{"Origin", "https://phone.eu.example.com"}});
  WsClient apex(io_, uri(), {"sip"}, true, {{"Origin", "https://example.com"}});
  WsClient port(io_, uri(), {"sip"}, true, {{"Origin", "https://phone.example.com:8443"}});
  WsClient local(io_, uri(), {"sip"}, true, {{"Origin", "http://localhost:8080"}});
  WsClient none(io_, uri(), {"sip"});
  ASSERT_TRUE(run_until(
      [&] { return done(sub) && done(apex) && done(port) && done(local) && done(none); }));
  EXPECT_TRUE(sub.opened);
  EXPECT_TRUE(apex.failed);
  EXPECT_EQ(apex.con->get_response_code(), wsp::http::status_code::forbidden);
  EXPECT_TRUE(port.failed);
  EXPECT_TRUE(local.opened);
  EXPECT_TRUE(none.opened);  // allow_no_origin defaults to true (native clients)
  EXPECT_EQ(counter("ws_origin_rejected"), before + 2);
}

}  // namespace
}  // namespace sipws::ws
