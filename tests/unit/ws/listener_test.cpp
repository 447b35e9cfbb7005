// ws::Listener against real websocketpp clients (and raw sockets for plain HTTP) on 127.0.0.1,
// everything on one io_context run by the test thread, the listener's timers on a manual clock
// (fixture in ws_test_util.hpp).

#include "ws/listener.hpp"

#include <gtest/gtest.h>

#include "ws_test_util.hpp"

namespace sipws::ws {
namespace {

using namespace test;
namespace fs = std::filesystem;
namespace wsp = websocketpp;
using namespace std::chrono_literals;

TEST_F(WsListenerTest, AcceptsSipSubprotocolAndEchoesItIn101) {
  start();
  EXPECT_EQ(listener_->protocol(), Protocol::Ws);
  WsClient client(io_, uri());
  ASSERT_TRUE(run_until([&] { return client.opened || client.failed; }));
  ASSERT_TRUE(client.opened);
  EXPECT_EQ(client.con->get_response_code(), wsp::http::status_code::switching_protocols);
  EXPECT_EQ(client.con->get_response_header("Sec-WebSocket-Protocol"), "sip");
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1; }));
  auto flow = flows_.all().front();
  EXPECT_EQ(flow->protocol(), Protocol::Ws);
  EXPECT_EQ(flow->peer(), client.local());
  EXPECT_EQ(flow->local(), listener_->local_endpoint());
  EXPECT_NE(flow->id(), kNoFlow);
}

TEST_F(WsListenerTest, SelectsSipAmongOtherOfferedSubprotocols) {
  start();
  WsClient client(io_, uri(), {"chat", "sip"});
  ASSERT_TRUE(run_until([&] { return client.opened || client.failed; }));
  ASSERT_TRUE(client.opened);
  EXPECT_EQ(client.con->get_response_header("Sec-WebSocket-Protocol"), "sip");
}

TEST_F(WsListenerTest, RefusesUpgradeWithoutSipSubprotocol) {
  start();
  const auto rejected_before = counter("ws_handshake_rejected");
  WsClient no_proto(io_, uri(), {});
  WsClient other_proto(io_, uri(), {"chat"});
  ASSERT_TRUE(run_until([&] {
    return (no_proto.opened || no_proto.failed) && (other_proto.opened || other_proto.failed);
  }));
  EXPECT_TRUE(no_proto.failed);
  EXPECT_TRUE(other_proto.failed);
  EXPECT_EQ(no_proto.con->get_response_code(), wsp::http::status_code::bad_request);
  EXPECT_EQ(other_proto.con->get_response_code(), wsp::http::status_code::bad_request);
  EXPECT_EQ(flows_.size(), 0u);
  EXPECT_EQ(counter("ws_handshake_rejected"), rejected_before + 2);
}

TEST_F(WsListenerTest, TextAndBinaryMessagesAreDeliveredWithSource) {
  start();
  WsClient client(io_, uri());
  ASSERT_TRUE(run_until([&] { return client.opened || client.failed; }));
  ASSERT_TRUE(client.opened);
  const std::string text = "OPTIONS sip:localhost SIP/2.0\r\nContent-Length: 0\r\n\r\n";
  const std::string binary("MESSAGE sip:a@b SIP/2.0\r\n\r\n\xff\x00\xfe", 30);
  client.send(text, wsp::frame::opcode::text);
  client.send(binary, wsp::frame::opcode::binary);
  ASSERT_TRUE(run_until([&] { return delivered_.size() == 2; }));
  ASSERT_EQ(flows_.size(), 1u);
  const auto flow = flows_.all().front();
  EXPECT_EQ(delivered_[0].first, text);
  EXPECT_EQ(delivered_[1].first, binary);
  for (const auto& [bytes, src] : delivered_) {
    EXPECT_EQ(src.protocol, Protocol::Ws);
    EXPECT_EQ(src.flow, flow->id());
    EXPECT_EQ(src.peer, client.local());
    EXPECT_EQ(src.local, listener_->local_endpoint());
    EXPECT_EQ(flows_.find(src.flow), flow);
  }
}

TEST_F(WsListenerTest, FlowSendUsesTextForUtf8AndBinaryOtherwise) {
  start();
  WsClient client(io_, uri());
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1 && client.opened; }));
  auto flow = flows_.all().front();
  const std::string ascii = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
  const std::string utf8 = "MESSAGE sip:b SIP/2.0\r\n\r\nh\xc3\xa9llo";
  const std::string bytes("SIP/2.0 200 OK\r\n\r\n\xff\xfe\x00\x01", 22);
  EXPECT_TRUE(flow->send(std::make_shared<const std::string>(ascii)));
  EXPECT_TRUE(flow->send(std::make_shared<const std::string>(utf8)));
  EXPECT_TRUE(flow->send(std::make_shared<const std::string>(bytes)));
  EXPECT_FALSE(flow->send(nullptr));
  ASSERT_TRUE(run_until([&] { return client.received.size() == 3; }));
  EXPECT_EQ(client.received[0], std::make_pair(wsp::frame::opcode::text, ascii));
  EXPECT_EQ(client.received[1], std::make_pair(wsp::frame::opcode::text, utf8));
  EXPECT_EQ(client.received[2], std::make_pair(wsp::frame::opcode::binary, bytes));
}

TEST_F(WsListenerTest, ClientCloseRemovesFlowOnceAndNotifiesObserver) {
  start();
  std::vector<std::pair<FlowId, Protocol>> closed;
  flows_.on_close([&](FlowId id, Protocol p) { closed.emplace_back(id, p); });
  WsClient client(io_, uri());
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1 && client.opened; }));
  auto flow = flows_.all().front();
  const FlowId id = flow->id();
  client.close();
  ASSERT_TRUE(run_until([&] { return client.closed && flows_.size() == 0; }));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].first, id);
  EXPECT_EQ(closed[0].second, Protocol::Ws);
  EXPECT_EQ(flows_.find(id), nullptr);
  EXPECT_FALSE(flow->send(std::make_shared<const std::string>("late")));
}

TEST_F(WsListenerTest, FlowCloseClosesWith1000AndRemovesFlow) {
  start();
  WsClient client(io_, uri());
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1 && client.opened; }));
  auto flow = flows_.all().front();
  flow->close();
  EXPECT_FALSE(flow->send(std::make_shared<const std::string>("after close")));
  ASSERT_TRUE(run_until([&] { return client.closed && flows_.size() == 0; }));
  EXPECT_EQ(client.remote_close_code, wsp::close::status::normal);
}

TEST_F(WsListenerTest, OversizedMessageClosesWith1009) {
  ListenerConfig cfg;
  cfg.max_message_size = 1024;
  start(cfg);
  const auto before = counter("ws_oversized_messages");
  WsClient client(io_, uri());
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1 && client.opened; }));
  client.send(std::string(1000, 'a'), wsp::frame::opcode::text);  // fits
  ASSERT_TRUE(run_until([&] { return delivered_.size() == 1; }));
  client.send(std::string(2000, 'b'), wsp::frame::opcode::text);
  ASSERT_TRUE(run_until([&] { return client.closed && flows_.size() == 0; }));
  EXPECT_EQ(client.remote_close_code, wsp::close::status::message_too_big);
  EXPECT_EQ(delivered_.size(), 1u);
  EXPECT_EQ(counter("ws_oversized_messages"), before + 1);
}

TEST_F(WsListenerTest, KeepAliveClosesFlowThatDoesNotAnswerPings) {
  ListenerConfig cfg;
  cfg.ping_interval = 30s;
  cfg.pong_timeout = 10s;
  cfg.first_message_timeout = 0ms;  // these clients send no SIP message
  start(cfg);
  const auto before = counter("ws_keepalive_timeouts");
  const auto pings_before = counter("ws_keepalive_pings");
  WsClient silent(io_, uri(), {"sip"}, /*answer_pings=*/false);
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1 && silent.opened; }));
  // Idle for less than ping_interval: no ping yet.
  advance(cfg.ping_interval - 1ms);
  ASSERT_TRUE(settle(silent));
  EXPECT_EQ(silent.pings, 0);
  advance(1ms);
  EXPECT_EQ(counter("ws_keepalive_pings"), pings_before + 1);
  ASSERT_TRUE(run_until([&] { return silent.pings == 1; }));
  // No pong: dropped at pong_timeout, not before.
  advance(cfg.pong_timeout - 1ms);
  EXPECT_EQ(counter("ws_keepalive_timeouts"), before);
  EXPECT_EQ(flows_.size(), 1u);
  advance(1ms);
  EXPECT_EQ(counter("ws_keepalive_timeouts"), before + 1);
  ASSERT_TRUE(run_until([&] { return flows_.size() == 0; }));
  EXPECT_TRUE(run_until([&] { return silent.closed || silent.failed; }));
}

TEST_F(WsListenerTest, KeepAliveKeepsAnsweringClientOpen) {
  ListenerConfig cfg;
  cfg.ping_interval = 30s;
  cfg.pong_timeout = 10s;
  cfg.first_message_timeout = 0ms;  // these clients send no SIP message
  start(cfg);
  const auto before = counter("ws_keepalive_timeouts");
  WsClient client(io_, uri());
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1 && client.opened; }));
  // Each round: to the sweep (every ping_interval from start()), a ping, the client's pong (and
  // nothing else) read by the listener, then past pong_timeout.
  for (int round = 1; round <= 4; ++round) {
    advance(round == 1 ? cfg.ping_interval : cfg.ping_interval - cfg.pong_timeout);
    ASSERT_TRUE(run_until([&] { return client.pings == round; }));
    ASSERT_TRUE(settle(client));
    advance(cfg.pong_timeout);
    ASSERT_EQ(flows_.size(), 1u) << "round " << round;
  }
  EXPECT_EQ(counter("ws_keepalive_timeouts"), before);
  ASSERT_TRUE(settle(client));
  EXPECT_FALSE(client.closed);
}

TEST_F(WsListenerTest, NoPingsWhenIntervalIsZero) {
  ListenerConfig cfg;
  cfg.ping_interval = 0ms;
  cfg.first_message_timeout = 0ms;
  start(cfg);
  const auto pings_before = counter("ws_keepalive_pings");
  WsClient client(io_, uri(), {"sip"}, false);
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1 && client.opened; }));
  advance(std::chrono::hours(1));
  EXPECT_EQ(counter("ws_keepalive_pings"), pings_before);
  ASSERT_TRUE(settle(client));
  EXPECT_EQ(client.pings, 0);
  EXPECT_EQ(flows_.size(), 1u);
}

TEST_F(WsListenerTest, StopClosesFlowsWith1001AndStopsAccepting) {
  start();
  WsClient client(io_, uri());
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1 && client.opened; }));
  const std::string u = uri();
  listener_->stop();
  ASSERT_TRUE(run_until([&] { return client.closed && flows_.size() == 0; }));
  EXPECT_EQ(client.remote_close_code, wsp::close::status::going_away);
  WsClient late(io_, u);
  ASSERT_TRUE(run_until([&] { return late.opened || late.failed; }));
  EXPECT_TRUE(late.failed);
  EXPECT_EQ(flows_.size(), 0u);
}

TEST_F(WsListenerTest, DestroyingListenerRemovesItsFlows) {
  start();
  std::vector<FlowId> closed;
  flows_.on_close([&](FlowId id, Protocol) { closed.push_back(id); });
  WsClient client(io_, uri());
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1 && client.opened; }));
  listener_.reset();
  EXPECT_EQ(flows_.size(), 0u);
  EXPECT_EQ(closed.size(), 1u);
  EXPECT_TRUE(run_until([&] { return client.closed || client.failed; }));
}

TEST_F(WsListenerTest, WssHandshakeMessagesAndSend) {
  const auto cert = transport::ensure_dev_certificate(tls_dir());
  ListenerConfig cfg;
  cfg.tls = transport::make_server_tls_context(cert.cert_path, cert.key_path);
  start(cfg);
  EXPECT_EQ(listener_->protocol(), Protocol::Wss);
  WssClient client(io_, uri("wss"));
  ASSERT_TRUE(run_until([&] { return client.opened || client.failed; }));
  ASSERT_TRUE(client.opened);
  EXPECT_EQ(client.con->get_response_header("Sec-WebSocket-Protocol"), "sip");
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1; }));
  auto flow = flows_.all().front();
  EXPECT_EQ(flow->protocol(), Protocol::Wss);
  client.send("REGISTER sip:localhost SIP/2.0\r\n\r\n", wsp::frame::opcode::text);
  ASSERT_TRUE(run_until([&] { return delivered_.size() == 1; }));
  EXPECT_EQ(delivered_[0].second.protocol, Protocol::Wss);
  EXPECT_EQ(delivered_[0].second.flow, flow->id());
  EXPECT_EQ(delivered_[0].second.peer, client.local());
  EXPECT_TRUE(flow->send(std::make_shared<const std::string>("SIP/2.0 200 OK\r\n\r\n")));
  ASSERT_TRUE(run_until([&] { return client.received.size() == 1; }));
  EXPECT_EQ(client.received[0].first, wsp::frame::opcode::text);

  WssClient refused(io_, uri("wss"), {});
  ASSERT_TRUE(run_until([&] { return refused.opened || refused.failed; }));
  EXPECT_TRUE(refused.failed);
  EXPECT_EQ(refused.con->get_response_code(), wsp::http::status_code::bad_request);

  client.close();
  ASSERT_TRUE(run_until([&] { return client.closed; }));
  ASSERT_TRUE(run_until([&] { return flows_.size() == 0; }));
}

TEST_F(WsListenerTest, WssKeepAliveDropsSilentClientAtThePongTimeout) {
  const auto cert = transport::ensure_dev_certificate(tls_dir());
  ListenerConfig cfg;
  cfg.tls = transport::make_server_tls_context(cert.cert_path, cert.key_path);
  cfg.ping_interval = 30s;
  cfg.pong_timeout = 10s;
  cfg.first_message_timeout = 0ms;  // these clients send no SIP message
  start(cfg);
  WssClient silent(io_, uri("wss"), {"sip"}, /*answer_pings=*/false);
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1 && silent.opened; }));
  advance(cfg.ping_interval);
  ASSERT_TRUE(run_until([&] { return silent.pings == 1; }));
  advance(cfg.pong_timeout);
  // The socket is dropped (no TLS shutdown to wait for): the client sees the end at once.
  ASSERT_TRUE(run_until([&] { return flows_.size() == 0; }));
  EXPECT_TRUE(run_until([&] { return silent.closed || silent.failed; }));
}

TEST_F(WsListenerTest, OriginAllowList) {
  ListenerConfig cfg;
  cfg.allowed_origins = {"https://phone.example.com"};
  cfg.allow_no_origin = false;
  start(cfg);
  const auto before = counter("ws_origin_rejected");
  WsClient good(io_, uri(), {"sip"}, true, {{"Origin", "https://phone.example.com"}});
  WsClient bad(io_, uri(), {"sip"}, true, {{"Origin", "https://evil.example.com"}});
  WsClient none(io_, uri(), {"sip"});
  ASSERT_TRUE(run_until([&] {
    return (good.opened || good.failed) && (bad.opened || bad.failed) &&
           (none.opened || none.failed);
  }));
  EXPECT_TRUE(good.opened);
  EXPECT_TRUE(bad.failed);
  EXPECT_TRUE(none.failed);
  EXPECT_EQ(bad.con->get_response_code(), wsp::http::status_code::forbidden);
  EXPECT_EQ(counter("ws_origin_rejected"), before + 2);
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1; }));
}

TEST_F(WsListenerTest, HandshakeAuthHookChallengesAndAccepts) {
  std::vector<HandshakeRequest> seen;
  ListenerConfig cfg;
  cfg.handshake_auth = [&](const HandshakeRequest& r) {
    seen.push_back(r);
    HandshakeVerdict v;
    if (r.cookie != "session=ok") {
      v.status = 401;
      v.headers.emplace_back("WWW-Authenticate", "Digest realm=\"sipws\", nonce=\"n1\"");
    }
    return v;
  };
  start(cfg);
  const auto before = counter("ws_auth_rejected");
  WsClient anon(io_, uri(), {"sip"});
  ASSERT_TRUE(run_until([&] { return anon.opened || anon.failed; }));
  EXPECT_TRUE(anon.failed);
  EXPECT_EQ(anon.con->get_response_code(), wsp::http::status_code::unauthorized);
  EXPECT_EQ(anon.con->get_response_header("WWW-Authenticate"),
            "Digest realm=\"sipws\", nonce=\"n1\"");
  EXPECT_EQ(counter("ws_auth_rejected"), before + 1);
  EXPECT_EQ(flows_.size(), 0u);

  WsClient user(io_, uri(), {"sip"}, true, {{"Cookie", "session=ok"}});
  ASSERT_TRUE(run_until([&] { return user.opened || user.failed; }));
  EXPECT_TRUE(user.opened);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].cookie, "session=ok");
  EXPECT_EQ(seen[1].resource, "/");
  EXPECT_EQ(seen[1].peer, user.local());
  // Without the sip subprotocol the hook is not even asked.
  WsClient no_sip(io_, uri(), {}, true, {{"Cookie", "session=ok"}});
  ASSERT_TRUE(run_until([&] { return no_sip.opened || no_sip.failed; }));
  EXPECT_TRUE(no_sip.failed);
  EXPECT_EQ(seen.size(), 2u);
}

class WsHttpTest : public WsListenerTest {
 protected:
  void SetUp() override {
    tmp_ = make_temp_dir();
    ASSERT_FALSE(tmp_.empty());
    fs::create_directories(tmp_ + "/www");
    std::ofstream(tmp_ + "/www/index.html") << "<html>demo</html>";
    std::ofstream(tmp_ + "/www/app.js") << "console.log(1);";
    std::ofstream(tmp_ + "/x") << "outside the root";
    ListenerConfig cfg;
    cfg.www_root = tmp_ + "/www";
    start(cfg);
  }
  std::string get(const std::string& target) {
    return raw_http("GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  }
};

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

TEST_F(WsHttpTest, ServesIndexAndFilesWithContentType) {
  std::string r = get("/");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 200")) << r;
  EXPECT_NE(r.find("Content-Type: text/html"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\n\r\n<html>demo</html>"), std::string::npos) << r;
  r = get("/app.js");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 200")) << r;
  EXPECT_NE(r.find("Content-Type: text/javascript"), std::string::npos) << r;
  EXPECT_NE(r.find("console.log(1);"), std::string::npos) << r;
  EXPECT_EQ(flows_.size(), 0u);
}

TEST_F(WsHttpTest, MissingFileIs404AndTraversalRefused) {
  std::string r = get("/missing.html");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 404")) << r;
  r = get("/../x");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 403")) << r;
  EXPECT_EQ(r.find("outside the root"), std::string::npos) << r;
  r = get("/%2e%2e/x");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 403")) << r;
}

TEST_F(WsHttpTest, NonGetIs405) {
  const std::string r = raw_http(
      "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 405")) << r;
}

TEST_F(WsHttpTest, WebSocketUpgradeStillWorksWithWwwRoot) {
  WsClient client(io_, uri());
  ASSERT_TRUE(run_until([&] { return client.opened || client.failed; }));
  EXPECT_TRUE(client.opened);
}

TEST_F(WsListenerTest, HttpsGetServedOnWssPort) {
  const auto cert = transport::ensure_dev_certificate(tls_dir());
  fs::create_directories(tmp_ + "/www");
  std::ofstream(tmp_ + "/www/index.html") << "<html>secure demo</html>";
  ListenerConfig cfg;
  cfg.tls = transport::make_server_tls_context(cert.cert_path, cert.key_path);
  cfg.www_root = tmp_ + "/www";
  start(cfg);
  std::string r = raw_https("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 200")) << r;
  EXPECT_NE(r.find("Content-Type: text/html"), std::string::npos) << r;
  EXPECT_NE(r.find("<html>secure demo</html>"), std::string::npos) << r;
  r = raw_https("GET /nope.js HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 404")) << r;
}

TEST_F(WsListenerTest, PlainGetWithoutWwwRootIsRefused) {
  start();
  const std::string r = raw_http("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 426")) << r;
}

}  // namespace
}  // namespace sipws::ws
