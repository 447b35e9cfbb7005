#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

#include "socket_probe.hpp"
#include "test_util.hpp"
#include "transport/transport_layer.hpp"

namespace sipws::transport {
namespace {

using boost::asio::ip::tcp;
using test::counter;
using test::run_until;
using test::shared;

const IpAddress kLoopback = boost::asio::ip::make_address("127.0.0.1");

Endpoint to_ep(const tcp::endpoint& e) { return Endpoint{e.address(), e.port()}; }

/// A TCP peer socket that records what it reads and whether the other side closed.
struct TcpPeer {
  explicit TcpPeer(boost::asio::io_context& io) : socket(io) {}
  void connect(const Endpoint& to) { socket.connect(tcp::endpoint(to.address, to.port)); }
  void start_reading() {
    socket.async_read_some(boost::asio::buffer(buf),
                           [this](const boost::system::error_code& ec, std::size_t n) {
                             if (ec) {
                               eof = true;
                               return;
                             }
                             got.append(buf.data(), n);
                             start_reading();
                           });
  }
  void write(const std::string& s) { boost::asio::write(socket, boost::asio::buffer(s)); }
  tcp::socket socket;
  std::array<char, 4096> buf{};
  std::string got;
  bool eof = false;
};

class TcpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tl = std::make_unique<TransportLayer>(io);
    tl->set_handler(&handler);
    tl->listen_tcp(Endpoint{kLoopback, 0});
    lp = *tl->listen_point(Protocol::Tcp);
    tl->flows().on_close([this](FlowId id, Protocol p) { closed.emplace_back(id, p); });
  }
  boost::asio::io_context io;
  test::RecordingHandler handler;
  std::unique_ptr<TransportLayer> tl;
  ListenPoint lp;
  std::vector<std::pair<FlowId, Protocol>> closed;
};

TEST_F(TcpTest, TwoMessagesInOneWriteAreFramedAndStampedWithTheFlow) {
  TcpPeer peer(io);
  peer.connect(lp.local);
  peer.write(test::options_request("one") + test::options_request("two", "body!"));
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 2; }));
  EXPECT_EQ(handler.got[0].msg.call_id(), "one");
  EXPECT_EQ(handler.got[1].msg.call_id(), "two");
  EXPECT_EQ(handler.got[1].msg.body(), "body!");
  const Source& src = handler.got[0].src;
  EXPECT_EQ(src.protocol, Protocol::Tcp);
  EXPECT_NE(src.flow, kNoFlow);
  EXPECT_EQ(src.flow, handler.got[1].src.flow);
  EXPECT_EQ(src.peer, to_ep(peer.socket.local_endpoint()));
  EXPECT_EQ(src.local, lp.local);
  auto flow = tl->flows().find(src.flow);
  ASSERT_NE(flow, nullptr);
  EXPECT_EQ(flow->protocol(), Protocol::Tcp);
  EXPECT_EQ(flow->peer(), src.peer);
  EXPECT_EQ(tl->flows().find_by_peer(Protocol::Tcp, src.peer), flow);
}

TEST_F(TcpTest, MessageSplitOverSeveralWritesIsReassembled) {
  TcpPeer peer(io);
  peer.connect(lp.local);
  const std::string msg = test::options_request("split", "0123456789");
  const std::size_t cuts[] = {0, 7, 60, msg.size() - 12, msg.size() - 3, msg.size()};
  for (std::size_t i = 0; i + 1 < std::size(cuts); ++i) {
    peer.write(msg.substr(cuts[i], cuts[i + 1] - cuts[i]));
    if (i + 2 < std::size(cuts)) {
      // Give the server a chance to read the partial bytes; nothing may be delivered yet.
      io.restart();
      io.run_for(std::chrono::milliseconds(20));
      EXPECT_TRUE(handler.got.empty()) << "delivered after part " << i;
    }
  }
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));
  EXPECT_EQ(handler.got[0].msg.call_id(), "split");
  EXPECT_EQ(handler.got[0].msg.body(), "0123456789");
}

TEST_F(TcpTest, CrlfCrlfPingGetsCrlfPong) {
  TcpPeer peer(io);
  peer.connect(lp.local);
  peer.start_reading();
  peer.write("\r\n\r\n");
  ASSERT_TRUE(run_until(io, [&] { return peer.got.size() >= 2; }));
  EXPECT_EQ(peer.got, "\r\n");
  // A ping split across two writes is still one ping, and the flow keeps working.
  peer.write("\r\n");
  io.restart();
  io.run_for(std::chrono::milliseconds(20));
  peer.write("\r\n" + test::options_request("after-ping"));
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));
  ASSERT_TRUE(run_until(io, [&] { return peer.got.size() >= 4; }));
  EXPECT_EQ(peer.got, "\r\n\r\n");
  EXPECT_EQ(handler.got[0].msg.call_id(), "after-ping");
}

TEST_F(TcpTest, UnparsableRequestGets400AndFlowStaysOpen) {
  TcpPeer peer(io);
  peer.connect(lp.local);
  peer.start_reading();
  const auto errors = counter("sip_parse_errors");
  peer.write(test::bad_request("tcp-bad"));
  ASSERT_TRUE(run_until(io, [&] { return peer.got.find("\r\n\r\n") != std::string::npos; }));
  EXPECT_EQ(peer.got.rfind("SIP/2.0 400", 0), 0u) << peer.got;
  EXPECT_NE(peer.got.find("tcp-bad"), std::string::npos);
  EXPECT_EQ(counter("sip_parse_errors"), errors + 1);
  peer.write(test::options_request("still-open"));
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));
  EXPECT_FALSE(peer.eof);
}

TEST_F(TcpTest, UnframableStreamGets400ThenIsClosed) {
  TcpPeer peer(io);
  peer.connect(lp.local);
  peer.start_reading();
  std::string no_length = test::options_request("no-length");
  no_length.erase(no_length.find("Content-Length: 0\r\n"), std::strlen("Content-Length: 0\r\n"));
  const auto framing = counter("transport_stream_framing_errors");
  peer.write(no_length);
  ASSERT_TRUE(run_until(io, [&] { return peer.eof; }));
  EXPECT_EQ(peer.got.rfind("SIP/2.0 400", 0), 0u) << peer.got;
  EXPECT_EQ(counter("transport_stream_framing_errors"), framing + 1);
  ASSERT_TRUE(run_until(io, [&] { return tl->flows().size() == 0; }));
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].second, Protocol::Tcp);
  EXPECT_TRUE(handler.got.empty());
}

TEST_F(TcpTest, ReplyOverTheFlowThenPeerCloseRemovesIt) {
  TcpPeer peer(io);
  peer.connect(lp.local);
  peer.start_reading();
  peer.write(test::options_request("reply"));
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));
  const FlowId id = handler.got[0].src.flow;
  const std::string resp = test::ok_response("reply");
  // dest.flow wins even though the endpoint is wrong.
  ASSERT_TRUE(tl->send(Destination{Protocol::Tcp, Endpoint{kLoopback, 9}, id, {}}, shared(resp)));
  ASSERT_TRUE(run_until(io, [&] { return peer.got.size() >= resp.size(); }));
  EXPECT_EQ(peer.got, resp);
  peer.socket.close();
  ASSERT_TRUE(run_until(io, [&] { return !closed.empty(); }));
  EXPECT_EQ(closed[0], std::make_pair(id, Protocol::Tcp));
  EXPECT_EQ(tl->flows().find(id), nullptr);
  EXPECT_EQ(tl->flows().size(), 0u);
}

TEST_F(TcpTest, AcceptedAndDialledConnectionsSetTcpNoDelay) {
  // Nagle's algorithm would hold the second of two back-to-back messages (100 Trying, 180)
  // until the peer's delayed ACK (~40 ms).
  TcpPeer peer(io);
  peer.connect(lp.local);
  peer.write(test::options_request("nodelay"));
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));
  EXPECT_EQ(sipws::test::tcp_no_delay(lp.local, to_ep(peer.socket.local_endpoint())), true);
  EXPECT_EQ(sipws::test::tcp_no_delay(to_ep(peer.socket.local_endpoint()), lp.local), false);

  tcp::acceptor server(io, tcp::endpoint(kLoopback, 0));
  const Endpoint server_ep = to_ep(server.local_endpoint());
  TcpPeer remote(io);
  bool accepted = false;
  server.async_accept(remote.socket, [&](const boost::system::error_code& ec) { accepted = !ec; });
  ASSERT_TRUE(tl->send(Destination{Protocol::Tcp, server_ep, kNoFlow, {}},
                       shared(test::options_request("out"))));
  ASSERT_TRUE(run_until(io, [&] { return accepted; }));
  auto flow = tl->flows().find_by_peer(Protocol::Tcp, server_ep);
  ASSERT_NE(flow, nullptr);
  ASSERT_TRUE(run_until(io, [&] { return flow->local().port != 0; }));
  EXPECT_EQ(sipws::test::tcp_no_delay(flow->local(), server_ep), true);
}

TEST_F(TcpTest, OutgoingSendConnectsAndReusesTheFlow) {
  tcp::acceptor server(io, tcp::endpoint(kLoopback, 0));
  const Endpoint server_ep = to_ep(server.local_endpoint());
  int accepted = 0;
  TcpPeer remote(io);
  server.async_accept(remote.socket, [&](const boost::system::error_code& ec) {
    if (!ec) ++accepted;
  });
  const std::string first = test::options_request("out-1");
  const std::string second = test::options_request("out-2");
  ASSERT_TRUE(tl->send(Destination{Protocol::Tcp, server_ep, kNoFlow, {}}, shared(first)));
  ASSERT_EQ(tl->flows().size(), 1u);  // registered while connecting
  ASSERT_TRUE(tl->send(Destination{Protocol::Tcp, server_ep, kNoFlow, {}}, shared(second)));
  ASSERT_TRUE(run_until(io, [&] { return accepted == 1; }));
  remote.start_reading();
  ASSERT_TRUE(run_until(io, [&] { return remote.got.size() >= first.size() + second.size(); }));
  EXPECT_EQ(remote.got, first + second);

  // The server answers on the same connection: the handler sees it on the same flow.
  auto flow = tl->flows().find_by_peer(Protocol::Tcp, server_ep);
  ASSERT_NE(flow, nullptr);
  remote.write(test::ok_response("out-1"));
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));
  EXPECT_EQ(handler.got[0].src.flow, flow->id());
  EXPECT_EQ(handler.got[0].src.peer, server_ep);
  EXPECT_TRUE(handler.got[0].msg.is_response());
  EXPECT_EQ(flow->local(), to_ep(remote.socket.remote_endpoint()));

  // A third send after the peer closed: the flow is gone and a new connection is opened.
  remote.socket.close();
  ASSERT_TRUE(run_until(io, [&] { return !closed.empty(); }));
  EXPECT_EQ(closed[0], std::make_pair(flow->id(), Protocol::Tcp));
  TcpPeer remote2(io);
  server.async_accept(remote2.socket, [&](const boost::system::error_code& ec) {
    if (!ec) ++accepted;
  });
  ASSERT_TRUE(tl->send(Destination{Protocol::Tcp, server_ep, flow->id(), {}}, shared(first)));
  ASSERT_TRUE(run_until(io, [&] { return accepted == 2; }));
  EXPECT_EQ(tl->flows().size(), 1u);
  EXPECT_EQ(flow->send(shared(first)), false);  // the old flow is closed for good
}

TEST_F(TcpTest, ConnectFailureRemovesTheFlowCountsAndIsReported) {
  // A port that was just free: bind, read the port, close.
  Endpoint dead;
  {
    tcp::acceptor a(io, tcp::endpoint(kLoopback, 0));
    dead = to_ep(a.local_endpoint());
  }
  std::vector<std::pair<Protocol, Endpoint>> reported;
  tl->on_connect_failed([&](Protocol p, const Endpoint& ep) {
    EXPECT_EQ(tl->flows().size(), 0u);  // reported once the flow is gone
    reported.emplace_back(p, ep);
  });
  const auto failures = counter("transport_connect_failures");
  ASSERT_TRUE(tl->send(Destination{Protocol::Tcp, dead, kNoFlow, {}}, shared("x")));
  EXPECT_TRUE(reported.empty());  // never from within the send
  ASSERT_TRUE(run_until(io, [&] { return !closed.empty(); }));
  EXPECT_EQ(tl->flows().size(), 0u);
  EXPECT_EQ(counter("transport_connect_failures"), failures + 1);
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0].first, Protocol::Tcp);
  EXPECT_EQ(reported[0].second, dead);
}

TEST_F(TcpTest, AnAcceptedOrEstablishedFlowThatClosesIsNotAConnectFailure) {
  std::size_t reported = 0;
  tl->on_connect_failed([&](Protocol, const Endpoint&) { ++reported; });
  tcp::acceptor server(io, tcp::endpoint(kLoopback, 0));
  tcp::socket accepted(io);
  server.async_accept(accepted, [](const boost::system::error_code&) {});
  ASSERT_TRUE(tl->send(Destination{Protocol::Tcp, to_ep(server.local_endpoint()), kNoFlow, {}},
                       shared(test::options_request("est"))));
  TcpPeer peer(io);  // and an accepted flow
  peer.connect(lp.local);
  ASSERT_TRUE(run_until(io, [&] { return accepted.is_open() && tl->flows().size() == 2; }));
  accepted.close();  // both peers go away after their connections were established
  peer.socket.close();
  ASSERT_TRUE(run_until(io, [&] { return closed.size() == 2; }));
  EXPECT_EQ(reported, 0u);
}

TEST_F(TcpTest, ShutdownClosesListenerAndFlows) {
  TcpPeer peer(io);
  peer.connect(lp.local);
  peer.start_reading();
  peer.write(test::options_request("bye"));
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));
  tl->shutdown();
  EXPECT_EQ(tl->flows().size(), 0u);
  EXPECT_EQ(closed.size(), 1u);
  ASSERT_TRUE(run_until(io, [&] { return peer.eof; }));
  TcpPeer late(io);
  boost::system::error_code ec;
  late.socket.connect(tcp::endpoint(lp.local.address, lp.local.port), ec);
  EXPECT_TRUE(ec);
}

TEST_F(TcpTest, DeliverAnswersWsStylePingOnTheFlow) {
  // deliver() is also the entry point of src/ws/: a CRLFCRLF message on a flow gets CRLF.
  TcpPeer peer(io);
  peer.connect(lp.local);
  peer.start_reading();
  peer.write(test::options_request("for-flow"));
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));
  tl->deliver(shared("\r\n\r\n"), handler.got[0].src);
  ASSERT_TRUE(run_until(io, [&] { return peer.got.size() >= 2; }));
  EXPECT_EQ(peer.got, "\r\n");
}

TEST(TcpLimits, OversizedStreamMessageIsAnsweredAndTheFlowClosed) {
  boost::asio::io_context io;
  test::RecordingHandler handler;
  TransportLayer tl(io, TransportLimits{600});
  tl.set_handler(&handler);
  tl.listen_tcp(Endpoint{kLoopback, 0});
  TcpPeer peer(io);
  peer.connect(tl.listen_point(Protocol::Tcp)->local);
  peer.start_reading();
  const auto framing = counter("transport_stream_framing_errors");
  peer.write(test::options_request("huge", std::string(2000, 'z')));
  ASSERT_TRUE(run_until(io, [&] { return peer.eof; }));
  EXPECT_EQ(peer.got.rfind("SIP/2.0 5", 0), 0u) << peer.got;  // 513 Message Too Large
  EXPECT_EQ(counter("transport_stream_framing_errors"), framing + 1);
  EXPECT_TRUE(handler.got.empty());
  ASSERT_TRUE(run_until(io, [&] { return tl.flows().size() == 0; }));
}

TEST(TcpLimits, DeliverAnswersOversizedMessageWith513OnItsFlow) {
  // deliver() is the entry point of WS flows too: an oversized message gets 513 when possible.
  boost::asio::io_context io;
  test::RecordingHandler handler;
  TransportLayer tl(io, TransportLimits{600});
  tl.set_handler(&handler);
  tl.listen_tcp(Endpoint{kLoopback, 0});
  TcpPeer peer(io);
  peer.connect(tl.listen_point(Protocol::Tcp)->local);
  peer.start_reading();
  peer.write(test::options_request("small"));
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));
  const auto drops = counter("transport_oversize_drops");
  tl.deliver(shared(test::options_request("big", std::string(1000, 'q'))), handler.got[0].src);
  ASSERT_TRUE(run_until(io, [&] { return peer.got.find("\r\n\r\n") != std::string::npos; }));
  EXPECT_EQ(peer.got.rfind("SIP/2.0 513", 0), 0u) << peer.got;
  EXPECT_EQ(counter("transport_oversize_drops"), drops + 1);
  EXPECT_EQ(handler.got.size(), 1u);
}

TEST(TcpLimits, PerIpLimitClosesTheExtraConnectionAndServesTheOthers) {
  boost::asio::io_context io;
  test::RecordingHandler handler;
  TransportLimits limits;
  limits.limiter = std::make_shared<ConnectionLimiter>(ConnectionLimits{0, 1, {}});
  TransportLayer tl(io, limits);
  tl.set_handler(&handler);
  tl.listen_tcp(Endpoint{kLoopback, 0});
  const auto at = tl.listen_point(Protocol::Tcp)->local;
  const auto rejected = counter("transport_limit_per_ip_rejected");

  TcpPeer first(io);
  first.connect(at);
  first.start_reading();
  first.write(test::options_request("first"));
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));

  // A second connection from the same address is closed at once and counted.
  TcpPeer second(io);
  second.connect(at);
  second.start_reading();
  ASSERT_TRUE(run_until(io, [&] { return second.eof; }));
  EXPECT_EQ(counter("transport_limit_per_ip_rejected"), rejected + 1);
  EXPECT_EQ(tl.flows().size(), 1u);

  // The first is still served; once it is gone, a new connection is admitted.
  first.write(test::options_request("first-again"));
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 2; }));
  first.socket.close();
  ASSERT_TRUE(run_until(io, [&] { return tl.flows().size() == 0; }));
  TcpPeer third(io);
  third.connect(at);
  third.start_reading();
  third.write(test::options_request("third"));
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 3; }));
}

}  // namespace
}  // namespace sipws::transport
