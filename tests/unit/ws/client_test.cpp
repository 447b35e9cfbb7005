// ws::Connector (RFC 7118 client role) against a real ws::Listener on 127.0.0.1 (WS and WSS
// with the dev certificate), and against a bare websocketpp server for the misbehaving-server
// cases. Everything runs on one io_context driven by the test thread; the connector's timers
// (back-off, keep-alive, connect, TLS, open and close deadlines) run on a manual clock that
// only the test moves, the listener's on another one that stands still.

#include "ws/client.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>
#include <websocketpp/base64/base64.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>
#include <websocketpp/sha1/sha1.hpp>

#include "../transport/socket_probe.hpp"
#include "common/counters.hpp"
#include "common/timer.hpp"
#include "transport/flow.hpp"
#include "transport/tls.hpp"
#include "ws/listener.hpp"

namespace sipws::ws {
namespace {

namespace fs = std::filesystem;
namespace wsp = websocketpp;
using namespace std::chrono_literals;
using Bytes = std::shared_ptr<const std::string>;

std::uint64_t counter(const char* name) { return counters().get(name).value(); }

Bytes msg(const std::string& s) { return std::make_shared<const std::string>(s); }

const std::string kOptions =
    "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/WS 127.0.0.1:5060;branch=z9hG4bK-1\r\n"
    "From: <sip:a@example.com>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: c1\r\n"
    "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

std::string numbered(int i) { return kOptions + "X-N: " + std::to_string(i); }

/// A websocketpp server that does what ws::Listener never does: accept an upgrade without
/// selecting `sip`, or ignore pings.
class BareServer {
 public:
  using Server = wsp::server<wsp::config::asio>;

  BareServer(boost::asio::io_context& io, bool select_sip, bool answer_pings) {
    s_.clear_access_channels(wsp::log::alevel::all);
    s_.clear_error_channels(wsp::log::elevel::all);
    s_.init_asio(&io);
    s_.set_reuse_addr(true);
    s_.set_validate_handler([this, select_sip](wsp::connection_hdl h) {
      if (select_sip) s_.get_con_from_hdl(h)->select_subprotocol("sip");
      return true;
    });
    s_.set_open_handler([this](wsp::connection_hdl) { ++opened; });
    s_.set_close_handler([this](wsp::connection_hdl h) {
      ++closed;
      last_close_code = s_.get_con_from_hdl(h)->get_remote_close_code();
    });
    s_.set_ping_handler([this, answer_pings](wsp::connection_hdl, std::string) {
      ++pings;
      return answer_pings;
    });
    s_.listen(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    s_.start_accept();
    boost::system::error_code ec;
    port = s_.get_local_endpoint(ec).port();
  }
  ~BareServer() {
    wsp::lib::error_code ec;
    s_.stop_listening(ec);
  }

  std::uint16_t port = 0;
  int opened = 0;
  int closed = 0;
  int pings = 0;
  int last_close_code = -1;

 private:
  Server s_;
};

/// A TCP server for one connection that reads everything the client sends: with `upgrade` it
/// answers the upgrade request with a 101 selecting `sip` (RFC 6455 s.4.2.2) and nothing else
/// after it (no close frame, no TCP close); without, it answers nothing (not even TLS).
class MuteServer {
 public:
  MuteServer(boost::asio::io_context& io, bool upgrade)
      : acceptor_(io, {boost::asio::ip::make_address("127.0.0.1"), 0}),
        sock_(io),
        upgrade_(upgrade) {
    acceptor_.async_accept(sock_, [this](const boost::system::error_code& ec) {
      if (!ec) read();
    });
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  /// Opcodes of the complete (masked) client frames after the upgrade request.
  std::vector<int> client_opcodes() const {
    std::vector<int> ops;
    auto pos = in.find("\r\n\r\n");
    if (pos == std::string::npos) return ops;
    pos += 4;
    while (pos + 2 <= in.size()) {
      std::size_t len = static_cast<unsigned char>(in[pos + 1]) & 0x7f;
      std::size_t hdr = 2;
      if (len == 126) {
        if (pos + 4 > in.size()) break;
        len = (static_cast<std::size_t>(static_cast<unsigned char>(in[pos + 2])) << 8) |
              static_cast<unsigned char>(in[pos + 3]);
        hdr = 4;
      } else if (len == 127) {
        break;  // not sent in these tests
      }
      if (pos + hdr + 4 + len > in.size()) break;
      ops.push_back(static_cast<unsigned char>(in[pos]) & 0x0f);
      pos += hdr + 4 + len;
    }
    return ops;
  }

  /// Writes `bytes` on the accepted connection.
  void send(std::string bytes) {
    auto keep = std::make_shared<std::string>(std::move(bytes));
    boost::asio::async_write(sock_, boost::asio::buffer(*keep),
                             [keep](const boost::system::error_code&, std::size_t) {});
  }

  std::string in;  ///< every byte received
  bool eof = false;

 private:
  void read() {
    sock_.async_read_some(boost::asio::buffer(buf_),
                          [this](const boost::system::error_code& ec, std::size_t n) {
                            in.append(buf_.data(), n);
                            if (ec) {
                              eof = true;
                              return;
                            }
                            maybe_upgrade();
                            read();
                          });
  }

  void maybe_upgrade() {
    if (!upgrade_ || answered_ || in.find("\r\n\r\n") == std::string::npos) return;
    answered_ = true;
    const std::string name = "Sec-WebSocket-Key: ";
    const auto k = in.find(name);
    const auto e = in.find("\r\n", k);
    if (k == std::string::npos || e == std::string::npos) return;
    const std::string key =
        in.substr(k + name.size(), e - k - name.size()) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char hash[20];
    wsp::sha1::calc(key.data(), key.size(), hash);
    response_ =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        wsp::base64_encode(hash, sizeof hash) + "\r\nSec-WebSocket-Protocol: sip\r\n\r\n";
    boost::asio::async_write(sock_, boost::asio::buffer(response_),
                             [](const boost::system::error_code&, std::size_t) {});
  }

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::socket sock_;
  bool upgrade_;
  bool answered_ = false;
  std::array<char, 4096> buf_{};
  std::string response_;
};

class WsClientTest : public ::testing::Test {
 protected:
  ~WsClientTest() override {
    connector_.reset();
    listener_.reset();
    if (!tmp_.empty()) fs::remove_all(tmp_);
  }

  /// A ws::Listener (WSS with the dev certificate when `tls`) on 127.0.0.1, port 0.
  void start_server(bool tls = false, Millis ping_interval = Millis(0)) {
    ListenerConfig cfg;
    cfg.listen = Endpoint{boost::asio::ip::make_address("127.0.0.1"), 0};
    cfg.ping_interval = ping_interval;
    if (tls) {
      const auto cert = transport::ensure_dev_certificate(tls_dir());
      cfg.tls = transport::make_server_tls_context(cert.cert_path, cert.key_path);
    }
    listener_ = std::make_unique<Listener>(
        io_, server_timers_, server_flows_,
        [this](Bytes b, const Source& s) { server_rx_.emplace_back(*b, s); }, cfg);
    listener_->start();
  }

  void start_connector(ConnectorConfig cfg = {}) {
    cfg.on_connect_failed = [this](Protocol p, const Endpoint& ep) {
      failures_.emplace_back(p, ep);
    };
    connector_ = std::make_unique<Connector>(
        io_, timers_, client_flows_,
        [this](Bytes b, const Source& s) { client_rx_.emplace_back(*b, s); }, std::move(cfg));
  }

  std::string tls_dir() {
    if (tmp_.empty()) {
      std::string tmpl = (fs::temp_directory_path() / "sipws-wsc-XXXXXX").string();
      if (mkdtemp(tmpl.data()) != nullptr) tmp_ = tmpl;
    }
    return tmp_ + "/certs";
  }
  std::string ca_file() { return transport::ensure_dev_certificate(tls_dir()).cert_path; }

  Destination server_dest(Protocol p = Protocol::Ws, std::string host = {}) const {
    Destination d;
    d.protocol = p;
    d.endpoint = listener_->local_endpoint();
    d.host = std::move(host);
    return d;
  }

  /// Runs the io_context (socket I/O) until `pred` holds; returns pred(). The real-time limit
  /// only ends a test whose awaited event never comes (a failure), it is never waited out.
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5s) {
    const auto hang_guard = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= hang_guard) return false;
      io_.run_one_for(20ms);
    }
    return true;
  }

  /// Moves the connector's clock (its timers due fire inside), then runs the ready handlers.
  void advance(Millis d) {
    timers_.advance(d);
    io_.poll();
  }

  /// A connection attempt whose deadline is `left` from now, started when
  /// ws_client_connect_failures was `before`: 1 ms before the deadline nothing failed yet, 1 ms
  /// after one failure is counted.
  void expect_failure_exactly_after(Millis left, std::uint64_t before) {
    advance(left - 1ms);
    EXPECT_EQ(counter("ws_client_connect_failures"), before);
    EXPECT_TRUE(failures_.empty());
    advance(1ms);
    EXPECT_EQ(counter("ws_client_connect_failures"), before + 1);
  }

  /// Runs the io_context until no byte between client flow `f` and its server is unread or
  /// unacknowledged at either end and no handler is ready (see ws_test_util.hpp's settle()).
  bool settle(const transport::Flow& f) {
    const int fa = sipws::test::tcp_socket_fd(f.local(), f.peer());
    const int fb = sipws::test::tcp_socket_fd(f.peer(), f.local());
    if (fa < 0 || fb < 0) return false;
    auto quiet = [&] {
      return sipws::test::tcp_bytes_in_flight(fa) == 0 && sipws::test::tcp_bytes_in_flight(fb) == 0;
    };
    for (int round = 0; round < 100; ++round) {
      if (!run_until(quiet)) return false;
      if (io_.poll() == 0 && quiet()) return true;
    }
    return false;
  }

  /// A port on 127.0.0.1 with nothing listening (bound then closed).
  std::uint16_t closed_port() {
    boost::asio::ip::tcp::acceptor a(io_, {boost::asio::ip::make_address("127.0.0.1"), 0});
    const auto port = a.local_endpoint().port();
    a.close();
    return port;
  }

  boost::asio::io_context io_;
  /// Keeps io_ running while only the manual clock has work pending (a reconnection).
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{
      io_.get_executor()};
  ManualTimerService timers_;         ///< the connector's clock
  ManualTimerService server_timers_;  ///< the listener's clock: never moved
  transport::FlowTable server_flows_;
  transport::FlowTable client_flows_;
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<Connector> connector_;
  std::vector<std::pair<std::string, Source>> server_rx_;
  std::vector<std::pair<std::string, Source>> client_rx_;
  std::vector<std::pair<Protocol, Endpoint>> failures_;
  std::string tmp_;
};

// ---------------------------------------------------------------- pure helpers

TEST(WsUrl, ParsesSchemesHostsPortsAndResources) {
  auto u = parse_ws_url("wss://pbx.example.com:8443/ws/sip");
  ASSERT_TRUE(u);
  EXPECT_TRUE(u->secure);
  EXPECT_EQ(u->protocol(), Protocol::Wss);
  EXPECT_EQ(u->host, "pbx.example.com");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->resource, "/ws/sip");
  EXPECT_FALSE(u->host_is_ip());
  EXPECT_EQ(u->to_string(), "wss://pbx.example.com:8443/ws/sip");

  u = parse_ws_url("WS://127.0.0.1");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->secure);
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->resource, "/");
  EXPECT_TRUE(u->host_is_ip());

  u = parse_ws_url("wss://[::1]/");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->to_string(), "wss://[::1]:443/");

  for (const char* bad :
       {"http://x/", "ws://", "ws://:80/", "ws://h:0/", "ws://h:99999/", "ws://h:/", "ws://u@h/",
        "ws://[::1/", "ws://h:80/a b", "ws//h/", "ws://[nothex]:80/"}) {
    EXPECT_FALSE(parse_ws_url(bad)) << bad;
  }
}

TEST(ReconnectDelay, DoublesFromMinToMaxWithJitter) {
  const Millis min(1000), max(60000);
  EXPECT_EQ(reconnect_delay(0, min, max, 0.5), Millis(1000));
  EXPECT_EQ(reconnect_delay(1, min, max, 0.5), Millis(2000));
  EXPECT_EQ(reconnect_delay(5, min, max, 0.5), Millis(32000));
  EXPECT_EQ(reconnect_delay(6, min, max, 0.5), Millis(60000));
  EXPECT_EQ(reconnect_delay(40, min, max, 0.5), Millis(60000));    // no overflow
  EXPECT_EQ(reconnect_delay(0, min, max, 0.0), Millis(750));       // -25 %
  EXPECT_EQ(reconnect_delay(2, min, max, 0.999), Millis(4998));    // just under +25 %
  EXPECT_EQ(reconnect_delay(10, min, max, 0.999), Millis(60000));  // never above max
}

// ---------------------------------------------------------------- against ws::Listener

TEST_F(WsClientTest, ConnectsOffersSipAndCarriesMessagesBothWays) {
  start_server();
  start_connector();
  const auto opened_before = counter("ws_client_connections_opened");
  ASSERT_TRUE(connector_->send(server_dest(), msg(kOptions)));
  ASSERT_TRUE(run_until([&] { return server_rx_.size() == 1; }));
  EXPECT_EQ(server_rx_[0].first, kOptions);
  EXPECT_EQ(server_rx_[0].second.protocol, Protocol::Ws);
  EXPECT_EQ(counter("ws_client_connections_opened"), opened_before + 1);

  // The client side is a flow in its table, WS, to the listener's endpoint.
  ASSERT_EQ(client_flows_.size(), 1u);
  auto cf = client_flows_.all().front();
  EXPECT_EQ(cf->protocol(), Protocol::Ws);
  EXPECT_EQ(cf->peer(), listener_->local_endpoint());
  EXPECT_EQ(cf->local(), server_rx_[0].second.peer);
  EXPECT_EQ(connector_->open_count(), 1u);

  // The server answers on its flow; the client delivers it stamped with the client flow.
  auto sf = server_flows_.find(server_rx_[0].second.flow);
  ASSERT_TRUE(sf);
  ASSERT_TRUE(sf->send(msg("SIP/2.0 200 OK\r\n\r\n")));
  ASSERT_TRUE(run_until([&] { return client_rx_.size() == 1; }));
  EXPECT_EQ(client_rx_[0].first, "SIP/2.0 200 OK\r\n\r\n");
  EXPECT_EQ(client_rx_[0].second.protocol, Protocol::Ws);
  EXPECT_EQ(client_rx_[0].second.flow, cf->id());
  EXPECT_EQ(client_rx_[0].second.peer, listener_->local_endpoint());
  EXPECT_TRUE(failures_.empty());
}

TEST_F(WsClientTest, BothEndsSetTcpNoDelay) {
  // Nagle's algorithm would hold the second of two back-to-back messages (100 Trying, 180)
  // until the peer's delayed ACK (~40 ms): the listener's and the client's sockets turn it off.
  start_server();
  start_connector();
  ASSERT_TRUE(connector_->send(server_dest(), msg(kOptions)));
  ASSERT_TRUE(run_until([&] { return server_rx_.size() == 1; }));
  ASSERT_EQ(client_flows_.size(), 1u);
  const Endpoint client_end = client_flows_.all().front()->local();
  EXPECT_EQ(sipws::test::tcp_no_delay(listener_->local_endpoint(), client_end), true);
  EXPECT_EQ(sipws::test::tcp_no_delay(client_end, listener_->local_endpoint()), true);
}

TEST_F(WsClientTest, ReusesOneConnectionForEverySendToThatPeer) {
  start_server();
  start_connector();
  const auto connects_before = counter("ws_client_connects");
  // Two sends while connecting (queued, in order), then more once open.
  ASSERT_TRUE(connector_->send(server_dest(), msg(numbered(1))));
  ASSERT_TRUE(connector_->send(server_dest(), msg(numbered(2))));
  ASSERT_TRUE(run_until([&] { return server_rx_.size() == 2; }));
  ASSERT_TRUE(connector_->send(server_dest(), msg(numbered(3))));
  // The flow is also reachable through the table by its id (what the proxy's flow tokens use).
  const FlowId id = client_flows_.all().front()->id();
  ASSERT_TRUE(client_flows_.find(id)->send(msg(numbered(4))));
  ASSERT_TRUE(run_until([&] { return server_rx_.size() == 4; }));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(server_rx_[i].first, numbered(i + 1));
    EXPECT_EQ(server_rx_[i].second.flow, server_rx_[0].second.flow);
  }
  EXPECT_EQ(counter("ws_client_connects"), connects_before + 1);
  EXPECT_EQ(server_flows_.size(), 1u);
  EXPECT_EQ(client_flows_.size(), 1u);
}

TEST_F(WsClientTest, FailedConnectDropsQueuedMessagesAndReportsTheDestination) {
  start_connector();
  Destination d;
  d.protocol = Protocol::Ws;
  d.endpoint = Endpoint{boost::asio::ip::make_address("127.0.0.1"), closed_port()};
  const auto failures_before = counter("ws_client_connect_failures");
  ASSERT_TRUE(connector_->send(d, msg(kOptions)));  // queued: the failure comes later
  ASSERT_TRUE(run_until([&] { return !failures_.empty(); }));
  EXPECT_EQ(failures_[0].first, Protocol::Ws);
  EXPECT_EQ(failures_[0].second, d.endpoint);
  EXPECT_EQ(counter("ws_client_connect_failures"), failures_before + 1);
  EXPECT_EQ(client_flows_.size(), 0u);
  EXPECT_EQ(connector_->open_count(), 0u);
}

TEST_F(WsClientTest, WssVerifiesTheServerAgainstTheConfiguredCa) {
  start_server(/*tls=*/true);
  ConnectorConfig cfg;
  cfg.tls = make_wss_client_context(true, ca_file());
  start_connector(cfg);
  // By address (the certificate's IP:127.0.0.1) and by name (DNS:localhost, sent as SNI).
  ASSERT_TRUE(connector_->send(server_dest(Protocol::Wss), msg(numbered(1))));
  ASSERT_TRUE(connector_->send(server_dest(Protocol::Wss, "localhost"), msg(numbered(2))));
  ASSERT_TRUE(run_until([&] { return server_rx_.size() == 2; })) << failures_.size();
  EXPECT_EQ(server_rx_[0].second.protocol, Protocol::Wss);
  EXPECT_TRUE(failures_.empty());
  // Two connections: one verified for the address, one for the name.
  EXPECT_EQ(client_flows_.size(), 2u);
  for (const auto& f : client_flows_.all()) EXPECT_EQ(f->protocol(), Protocol::Wss);
}

TEST_F(WsClientTest, TransportWsDestinationRidesAnOpenWssFlowToThatAddress) {
  start_server(/*tls=*/true);
  ConnectorConfig cfg;
  cfg.tls = make_wss_client_context(true, ca_file());
  start_connector(cfg);
  ASSERT_TRUE(connector_->send(server_dest(Protocol::Wss), msg(numbered(1))));
  ASSERT_TRUE(run_until([&] { return server_rx_.size() == 1; }));
  // RFC 7118 s.5.2: `transport=ws` also names WSS servers (Kamailio's Record-Route does).
  ASSERT_TRUE(connector_->send(server_dest(Protocol::Ws), msg(numbered(2))));
  ASSERT_TRUE(run_until([&] { return server_rx_.size() == 2; }));
  EXPECT_EQ(server_rx_[1].second.flow, server_rx_[0].second.flow);
  EXPECT_EQ(client_flows_.size(), 1u);
}

TEST_F(WsClientTest, WssRefusesAWrongHostNameOrAnUntrustedCertificate) {
  start_server(/*tls=*/true);
  ConnectorConfig cfg;
  cfg.tls = make_wss_client_context(true, ca_file());
  start_connector(cfg);
  ASSERT_TRUE(connector_->send(server_dest(Protocol::Wss, "sip.example.com"), msg(kOptions)));
  // Reported for WSS, and for WS to that address (transport=ws requests may ride a WSS flow).
  ASSERT_TRUE(run_until([&] { return failures_.size() == 2; }));
  EXPECT_EQ(failures_[0].first, Protocol::Wss);
  EXPECT_EQ(failures_[1].first, Protocol::Ws);
  EXPECT_EQ(failures_[1].second, listener_->local_endpoint());

  // Trust store without the dev certificate (system CAs only).
  failures_.clear();
  ConnectorConfig system_only;
  system_only.tls = make_wss_client_context(true, "");
  start_connector(system_only);
  ASSERT_TRUE(connector_->send(server_dest(Protocol::Wss), msg(kOptions)));
  ASSERT_TRUE(run_until([&] { return failures_.size() == 2; }));
  // The client dropped the connection before its upgrade: nothing can reach the server later.
  EXPECT_TRUE(server_rx_.empty());
  EXPECT_EQ(server_flows_.size(), 0u);
  EXPECT_EQ(client_flows_.size(), 0u);
}

TEST_F(WsClientTest, WssWithoutVerificationAcceptsAnyCertificate) {
  start_server(/*tls=*/true);
  ConnectorConfig cfg;
  cfg.tls = make_wss_client_context(false, "");
  start_connector(cfg);
  ASSERT_TRUE(connector_->send(server_dest(Protocol::Wss, "sip.example.com"), msg(kOptions)));
  ASSERT_TRUE(run_until([&] { return server_rx_.size() == 1; }));
  EXPECT_TRUE(failures_.empty());
}

TEST_F(WsClientTest, WssWithoutTlsContextFailsAtOnce) {
  start_server(/*tls=*/true);
  start_connector();
  EXPECT_FALSE(connector_->send(server_dest(Protocol::Wss), msg(kOptions)));
}

TEST_F(WsClientTest, ConfiguredPeerReconnectsWithBackOffAfterTheServerCloses) {
  start_server();
  ConnectorConfig cfg;
  cfg.reconnect_min = 2s;
  cfg.reconnect_max = 4s;
  start_connector(cfg);
  const auto url =
      parse_ws_url("ws://127.0.0.1:" + std::to_string(listener_->local_endpoint().port) + "/sip");
  ASSERT_TRUE(url);
  connector_->add_peer(*url);
  EXPECT_EQ(connector_->peer_flow(0), kNoFlow);
  connector_->start();
  ASSERT_TRUE(run_until([&] { return connector_->peer_flow(0) != kNoFlow; }));
  const FlowId first = connector_->peer_flow(0);
  ASSERT_EQ(server_flows_.size(), 1u);

  // A request to that address uses the peer's flow.
  ASSERT_TRUE(connector_->send(server_dest(), msg(kOptions)));
  ASSERT_TRUE(run_until([&] { return server_rx_.size() == 1; }));
  EXPECT_EQ(server_flows_.size(), 1u);

  // The server closes it: the client forgets the flow and dials again after the back-off,
  // reconnect_min -25 % .. +25 %: not before 1.5 s, by 2.5 s.
  server_flows_.all().front()->close();
  ASSERT_TRUE(run_until([&] { return client_flows_.find(first) == nullptr; }));
  const auto connects = counter("ws_client_connects");
  advance(1499ms);
  EXPECT_EQ(counter("ws_client_connects"), connects);
  advance(1001ms);
  EXPECT_EQ(counter("ws_client_connects"), connects + 1);
  ASSERT_TRUE(run_until([&] { return connector_->peer_flow(0) != kNoFlow; }));
  EXPECT_NE(connector_->peer_flow(0), first);
  EXPECT_EQ(client_flows_.size(), 1u);
  ASSERT_TRUE(run_until([&] { return server_flows_.size() == 1; }));

  // stop(): closed with 1001, no reconnection however long.
  connector_->stop();
  ASSERT_TRUE(run_until([&] { return server_flows_.size() == 0 && client_flows_.size() == 0; }));
  advance(std::chrono::hours(1));
  EXPECT_EQ(counter("ws_client_connects"), connects + 1);
  EXPECT_EQ(server_flows_.size(), 0u);
  EXPECT_FALSE(connector_->send(server_dest(), msg(kOptions)));
}

TEST_F(WsClientTest, ConfiguredPeerBackOffGrowsWhileTheServerIsDown) {
  ConnectorConfig cfg;
  cfg.reconnect_min = 2s;
  cfg.reconnect_max = 8s;
  start_connector(cfg);
  const auto url = parse_ws_url("ws://127.0.0.1:" + std::to_string(closed_port()) + "/");
  connector_->add_peer(*url);
  connector_->start();
  // Attempt n waits reconnect_delay(n) = min(2 s * 2^n, 8 s) * [0.75, 1.25), at most 8 s.
  const std::vector<std::pair<Millis, Millis>> window{
      {1500ms, 2500ms}, {3000ms, 5000ms}, {6000ms, 8000ms}, {6000ms, 8000ms}};
  for (std::size_t i = 0; i < window.size(); ++i) {
    ASSERT_TRUE(run_until([&] { return failures_.size() == i + 1; })) << "attempt " << i;
    const auto connects = counter("ws_client_connects");
    advance(window[i].first - 1ms);
    EXPECT_EQ(counter("ws_client_connects"), connects) << "too early, gap " << i;
    advance(window[i].second - window[i].first + 1ms);
    EXPECT_EQ(counter("ws_client_connects"), connects + 1) << "not by the end, gap " << i;
  }
  EXPECT_EQ(connector_->peer_flow(0), kNoFlow);
}

TEST_F(WsClientTest, PingsIdleFlowsAndKeepsThoseThatAnswer) {
  start_server();
  ConnectorConfig cfg;
  cfg.ping_interval = 30s;
  cfg.pong_timeout = 10s;
  start_connector(cfg);
  const auto pings_before = counter("ws_client_keepalive_pings");
  const auto timeouts_before = counter("ws_client_keepalive_timeouts");
  ASSERT_TRUE(connector_->send(server_dest(), msg(kOptions)));
  connector_->start();
  ASSERT_TRUE(run_until([&] { return server_rx_.size() == 1; }));
  ASSERT_EQ(client_flows_.size(), 1u);
  const auto flow = client_flows_.all().front();
  // Each round: to the sweep (every ping_interval from start()), a ping, the server's pong (and
  // nothing else) read by the client, then past pong_timeout.
  for (int round = 1; round <= 3; ++round) {
    advance(round == 1 ? cfg.ping_interval : cfg.ping_interval - cfg.pong_timeout);
    EXPECT_EQ(counter("ws_client_keepalive_pings"), pings_before + round);
    ASSERT_TRUE(settle(*flow));
    advance(cfg.pong_timeout);
    ASSERT_EQ(client_flows_.size(), 1u) << "round " << round;
  }
  EXPECT_EQ(counter("ws_client_keepalive_timeouts"), timeouts_before);
  EXPECT_EQ(server_flows_.size(), 1u);
}

TEST_F(WsClientTest, ClosesAFlowWhosePeerIgnoresPings) {
  BareServer bare(io_, /*select_sip=*/true, /*answer_pings=*/false);
  ConnectorConfig cfg;
  cfg.ping_interval = 30s;
  cfg.pong_timeout = 10s;
  start_connector(cfg);
  connector_->start();
  Destination d;
  d.protocol = Protocol::Ws;
  d.endpoint = Endpoint{boost::asio::ip::make_address("127.0.0.1"), bare.port};
  const auto timeouts_before = counter("ws_client_keepalive_timeouts");
  ASSERT_TRUE(connector_->send(d, msg(kOptions)));
  ASSERT_TRUE(run_until([&] { return client_flows_.size() == 1; }));
  advance(cfg.ping_interval);
  ASSERT_TRUE(run_until([&] { return bare.pings == 1; }));
  advance(cfg.pong_timeout - 1ms);
  EXPECT_EQ(counter("ws_client_keepalive_timeouts"), timeouts_before);
  EXPECT_EQ(client_flows_.size(), 1u);
  advance(1ms);
  EXPECT_EQ(counter("ws_client_keepalive_timeouts"), timeouts_before + 1);
  ASSERT_TRUE(run_until([&] { return client_flows_.size() == 0; }));
}

TEST_F(WsClientTest, FailsAServerThatNeverAnswersTheUpgradeAtTheOpenTimeout) {
  // A TCP server that accepts and reads the upgrade request but never answers it.
  boost::asio::ip::tcp::acceptor mute(io_, {boost::asio::ip::make_address("127.0.0.1"), 0});
  boost::asio::ip::tcp::socket accepted(io_);
  std::string request(4096, '\0');
  std::size_t got = 0;
  mute.async_accept(accepted, [&](const boost::system::error_code& ec) {
    if (ec) return;
    accepted.async_read_some(boost::asio::buffer(request),
                             [&](const boost::system::error_code&, std::size_t n) { got = n; });
  });
  ConnectorConfig cfg;
  cfg.open_timeout = 10s;
  start_connector(cfg);
  Destination d;
  d.protocol = Protocol::Ws;
  d.endpoint = Endpoint{boost::asio::ip::make_address("127.0.0.1"), mute.local_endpoint().port()};
  const auto failures_before = counter("ws_client_connect_failures");
  ASSERT_TRUE(connector_->send(d, msg(kOptions)));
  ASSERT_TRUE(run_until([&] { return got > 0; }));  // the upgrade was sent: the deadline runs
  EXPECT_EQ(request.rfind("GET / HTTP/1.1", 0), 0u);
  expect_failure_exactly_after(cfg.open_timeout, failures_before);
  ASSERT_TRUE(run_until([&] { return failures_.size() == 1; }));
  EXPECT_EQ(failures_[0].second, d.endpoint);
  EXPECT_EQ(client_flows_.size(), 0u);
}

TEST_F(WsClientTest, RefusesAServerThatDoesNotSelectSip) {
  BareServer bare(io_, /*select_sip=*/false, /*answer_pings=*/true);
  start_connector();
  Destination d;
  d.protocol = Protocol::Ws;
  d.endpoint = Endpoint{boost::asio::ip::make_address("127.0.0.1"), bare.port};
  const auto refused_before = counter("ws_client_subprotocol_refused");
  ASSERT_TRUE(connector_->send(d, msg(kOptions)));
  ASSERT_TRUE(run_until([&] { return failures_.size() == 1; }));
  EXPECT_EQ(counter("ws_client_subprotocol_refused"), refused_before + 1);
  EXPECT_EQ(client_flows_.size(), 0u);  // never became a flow
  // The client closed the connection (RFC 7118 s.4.1) with 1002.
  ASSERT_TRUE(run_until([&] { return bare.closed == 1; }));
  EXPECT_EQ(bare.last_close_code, 1002);
  // The next send dials again (and fails the same way).
  ASSERT_TRUE(connector_->send(d, msg(kOptions)));
  ASSERT_TRUE(run_until([&] { return failures_.size() == 2; }));
}

TEST_F(WsClientTest, FailsAServerThatNeverCompletesTheTlsHandshakeAtTheTlsTimeout) {
  MuteServer mute(io_, /*upgrade=*/false);  // accepts, reads the ClientHello, answers nothing
  ConnectorConfig cfg;
  cfg.tls = make_wss_client_context(false, "");
  start_connector(cfg);
  Destination d;
  d.protocol = Protocol::Wss;
  d.endpoint = Endpoint{boost::asio::ip::make_address("127.0.0.1"), mute.port()};
  const auto failures_before = counter("ws_client_connect_failures");
  ASSERT_TRUE(connector_->send(d, msg(kOptions)));
  // The clock moves before the TCP connection completes: the TLS deadline counts from it
  // (a connect deadline still running would fire 2 s early).
  timers_.advance(2s);
  ASSERT_TRUE(run_until([&] { return !mute.in.empty(); }));
  EXPECT_EQ(mute.in[0], '\x16');  // a TLS handshake record: the ClientHello
  expect_failure_exactly_after(kClientTlsHandshakeTimeout, failures_before);
  ASSERT_TRUE(run_until([&] { return failures_.size() == 2 && mute.eof; }));
  EXPECT_EQ(failures_[0].first, Protocol::Wss);
  EXPECT_EQ(failures_[0].second, d.endpoint);
  EXPECT_EQ(client_flows_.size(), 0u);
}

TEST_F(WsClientTest, FailsAServerThatNeverAcceptsTheTcpConnectionAtTheConnectTimeout) {
  // A listening socket whose accept queue is full (backlog 0 holds one connection, never
  // accepted): Linux drops further SYNs, so the client's connect stays pending.
  boost::asio::ip::tcp::acceptor full(io_);
  full.open(boost::asio::ip::tcp::v4());
  full.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
  full.listen(0);
  boost::asio::ip::tcp::socket filler(io_);
  filler.connect(full.local_endpoint());
  ConnectorConfig cfg;
  start_connector(cfg);
  Destination d;
  d.protocol = Protocol::Ws;
  d.endpoint = Endpoint{boost::asio::ip::make_address("127.0.0.1"), full.local_endpoint().port()};
  const auto failures_before = counter("ws_client_connect_failures");
  ASSERT_TRUE(connector_->send(d, msg(kOptions)));
  expect_failure_exactly_after(kClientConnectTimeout, failures_before);
  ASSERT_TRUE(run_until([&] { return failures_.size() == 1; }));
  EXPECT_EQ(failures_[0].second, d.endpoint);
  EXPECT_EQ(client_flows_.size(), 0u);
}

TEST_F(WsClientTest, DropsAConnectionWhoseServerNeverAnswersTheCloseAtTheCloseTimeout) {
  MuteServer mute(io_, /*upgrade=*/true);  // 101 with sip, then never a close frame
  start_connector();
  Destination d;
  d.protocol = Protocol::Ws;
  d.endpoint = Endpoint{boost::asio::ip::make_address("127.0.0.1"), mute.port()};
  const auto timeouts_before = counter("ws_client_close_timeouts");
  ASSERT_TRUE(connector_->send(d, msg(kOptions)));
  ASSERT_TRUE(run_until([&] { return mute.client_opcodes() == std::vector<int>{1}; }));
  ASSERT_EQ(client_flows_.size(), 1u);
  connector_->stop();  // close frame 1001
  ASSERT_TRUE(run_until([&] { return mute.client_opcodes() == std::vector<int>{1, 8}; }));
  advance(kClientCloseTimeout - 1ms);
  EXPECT_EQ(counter("ws_client_close_timeouts"), timeouts_before);
  EXPECT_EQ(client_flows_.size(), 1u);
  EXPECT_FALSE(mute.eof);
  advance(1ms);
  EXPECT_EQ(counter("ws_client_close_timeouts"), timeouts_before + 1);
  ASSERT_TRUE(run_until([&] { return client_flows_.size() == 0 && mute.eof; }));
}

TEST_F(WsClientTest, DropsAConnectionWhoseServerClosesButKeepsTcpOpenAtTheCloseTimeout) {
  MuteServer mute(io_, /*upgrade=*/true);
  ConnectorConfig cfg;
  cfg.ping_interval = 30s;
  start_connector(cfg);
  connector_->start();
  Destination d;
  d.protocol = Protocol::Ws;
  d.endpoint = Endpoint{boost::asio::ip::make_address("127.0.0.1"), mute.port()};
  const auto timeouts_before = counter("ws_client_close_timeouts");
  ASSERT_TRUE(connector_->send(d, msg(kOptions)));
  ASSERT_TRUE(run_until([&] { return mute.client_opcodes() == std::vector<int>{1}; }));
  // The server's close frame (1000): websocketpp answers it and waits for the server's TCP
  // close (RFC 6455 s.7.1.1), which never comes.
  mute.send(std::string("\x88\x02\x03\xe8", 4));
  ASSERT_TRUE(run_until([&] { return mute.client_opcodes() == std::vector<int>{1, 8}; }));
  advance(cfg.ping_interval);  // the sweep notices the closing connection
  advance(kClientCloseTimeout - 1ms);
  EXPECT_EQ(counter("ws_client_close_timeouts"), timeouts_before);
  EXPECT_EQ(client_flows_.size(), 1u);
  advance(1ms);
  EXPECT_EQ(counter("ws_client_close_timeouts"), timeouts_before + 1);
  ASSERT_TRUE(run_until([&] { return client_flows_.size() == 0 && mute.eof; }));
}

}  // namespace
}  // namespace sipws::ws
