#include <gtest/gtest.h>

#include <boost/asio/ip/udp.hpp>

#include "test_util.hpp"
#include "transport/transport_layer.hpp"

namespace sipws::transport {
namespace {

using boost::asio::ip::udp;
using test::counter;
using test::run_until;
using test::shared;

const IpAddress kLoopback = boost::asio::ip::make_address("127.0.0.1");

/// A UDP peer with a receive loop that records datagrams.
struct UdpPeer {
  explicit UdpPeer(boost::asio::io_context& io) : socket(io, udp::endpoint(kLoopback, 0)) {
    receive();
  }
  void receive() {
    socket.async_receive_from(boost::asio::buffer(buf), from,
                              [this](const boost::system::error_code& ec, std::size_t n) {
                                if (ec) return;
                                got.emplace_back(buf.data(), n);
                                senders.push_back(from);
                                receive();
                              });
  }
  void send_to(const std::string& bytes, const Endpoint& to) {
    socket.send_to(boost::asio::buffer(bytes), udp::endpoint(to.address, to.port));
  }
  Endpoint local() const {
    auto e = socket.local_endpoint();
    return Endpoint{e.address(), e.port()};
  }
  udp::socket socket;
  std::array<char, 70000> buf{};
  udp::endpoint from;
  std::vector<std::string> got;
  std::vector<udp::endpoint> senders;
};

class UdpTest : public ::testing::Test {
 protected:
  void start(TransportLimits limits = {}) {
    tl = std::make_unique<TransportLayer>(io, limits);
    tl->set_handler(&handler);
    tl->listen_udp(Endpoint{kLoopback, 0});
    lp = *tl->listen_point(Protocol::Udp);
  }
  boost::asio::io_context io;
  test::RecordingHandler handler;
  std::unique_ptr<TransportLayer> tl;
  ListenPoint lp;
};

TEST_F(UdpTest, ListenPointHasResolvedPortAndIpLiteral) {
  start();
  EXPECT_NE(lp.local.port, 0);
  EXPECT_EQ(lp.local.address, kLoopback);
  EXPECT_EQ(lp.advertised, "127.0.0.1");
  EXPECT_EQ(tl->listen_point(Protocol::Tcp), nullptr);
  ASSERT_EQ(tl->listen_points().size(), 1u);
}

TEST_F(UdpTest, DeliversRequestWithSourceAndSendsReplyFromListenerPort) {
  start();
  UdpPeer peer(io);
  peer.send_to(test::options_request("udp-1"), lp.local);
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));
  const auto& e = handler.got[0];
  EXPECT_EQ(e.msg.call_id(), "udp-1");
  EXPECT_EQ(e.msg.method(), sip::Method::Options);
  EXPECT_EQ(e.src.protocol, Protocol::Udp);
  EXPECT_EQ(e.src.peer, peer.local());
  EXPECT_EQ(e.src.local, lp.local);
  EXPECT_EQ(e.src.flow, kNoFlow);

  const std::string reply = test::ok_response("udp-1");
  ASSERT_TRUE(tl->send(Destination{Protocol::Udp, peer.local(), kNoFlow, {}}, shared(reply)));
  ASSERT_TRUE(run_until(io, [&] { return peer.got.size() == 1; }));
  EXPECT_EQ(peer.got[0], reply);
  EXPECT_EQ(peer.senders[0].port(), lp.local.port);
}

TEST_F(UdpTest, MalformedRequestGets400FromListener) {
  start();
  UdpPeer peer(io);
  const auto errors = counter("sip_parse_errors");
  peer.send_to(test::bad_request("udp-bad"), lp.local);
  ASSERT_TRUE(run_until(io, [&] { return peer.got.size() == 1; }));
  EXPECT_EQ(peer.got[0].rfind("SIP/2.0 400", 0), 0u) << peer.got[0];
  EXPECT_NE(peer.got[0].find("udp-bad"), std::string::npos);
  EXPECT_EQ(peer.senders[0].port(), lp.local.port);
  EXPECT_EQ(counter("sip_parse_errors"), errors + 1);
  EXPECT_TRUE(handler.got.empty());
}

TEST_F(UdpTest, OversizedDatagramIsDroppedAndCounted) {
  start(TransportLimits{1000});
  UdpPeer peer(io);
  const auto drops = counter("transport_oversize_drops");
  peer.send_to(test::options_request("too-big", std::string(1200, 'x')), lp.local);
  peer.send_to("\r\n\r\n", lp.local);  // a keep-alive on UDP: dropped, never answered
  peer.send_to(test::options_request("small"), lp.local);
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));
  EXPECT_EQ(handler.got[0].msg.call_id(), "small");
  EXPECT_EQ(counter("transport_oversize_drops"), drops + 1);
  EXPECT_TRUE(peer.got.empty());
}

TEST_F(UdpTest, MessageOfExactlyTheLimitIsAccepted) {
  const std::string base = test::options_request("exact");
  const std::string msg = test::options_request("exact", std::string(200, 'y'));
  start(TransportLimits{msg.size()});
  UdpPeer peer(io);
  peer.send_to(msg, lp.local);
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));
  EXPECT_EQ(handler.got[0].msg.body().size(), 200u);
}

TEST_F(UdpTest, SendFailsWithoutSocketOfThatFamilyOrForDeadWsFlow) {
  start();
  const Endpoint v6{boost::asio::ip::make_address("::1"), 5060};
  EXPECT_FALSE(tl->send(Destination{Protocol::Udp, v6, kNoFlow, {}}, shared("x")));
  EXPECT_FALSE(tl->send(Destination{Protocol::Ws, lp.local, 42, {}}, shared("x")));
  EXPECT_FALSE(tl->send(Destination{Protocol::Wss, lp.local, kNoFlow, {}}, shared("x")));
}

TEST_F(UdpTest, ShutdownStopsSending) {
  start();
  UdpPeer peer(io);
  tl->shutdown();
  EXPECT_FALSE(tl->send(Destination{Protocol::Udp, peer.local(), kNoFlow, {}}, shared("x")));
}

TEST(UdpListen, BindingABusyPortThrows) {
  boost::asio::io_context io;
  TransportLayer a(io);
  a.listen_udp(Endpoint{kLoopback, 0});
  TransportLayer b(io);
  EXPECT_THROW(b.listen_udp(a.listen_point(Protocol::Udp)->local), std::system_error);
}

// A listener on 0.0.0.0 (issue 14): every address of the host reaches it, and each datagram
// says which one it was sent to (IP_PKTINFO). The loopback interface answers all of
// 127.0.0.0/8, so 127.0.0.1 and 127.0.0.2 are two local addresses here.
TEST(UdpWildcard, EachDatagramSaysWhichLocalAddressItWasSentToAndIsAnsweredFromIt) {
  boost::asio::io_context io;
  test::RecordingHandler handler;
  TransportLayer tl(io);
  tl.set_handler(&handler);
  tl.listen_udp(Endpoint{boost::asio::ip::make_address("0.0.0.0"), 0});
  const ListenPoint lp = *tl.listen_point(Protocol::Udp);
  ASSERT_TRUE(lp.local.address.is_unspecified());
  const IpAddress second = boost::asio::ip::make_address("127.0.0.2");
  UdpPeer peer(io);
  peer.send_to(test::options_request("wild-1"), Endpoint{kLoopback, lp.local.port});
  peer.send_to(test::options_request("wild-2"), Endpoint{second, lp.local.port});
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 2; }));
  EXPECT_EQ(handler.got[0].src.local, (Endpoint{kLoopback, lp.local.port}));
  EXPECT_EQ(handler.got[1].src.local, (Endpoint{second, lp.local.port}));
  EXPECT_EQ(handler.got[1].src.peer, peer.local());

  // Each answer leaves from the address its request came to: a peer behind NAT, or one that
  // only accepts answers from where it sent, gets it.
  for (const auto& e : handler.got) {
    ASSERT_TRUE(tl.send(Destination{Protocol::Udp, e.src.peer, kNoFlow, {}, e.src.local},
                        shared(test::ok_response(std::string(e.msg.call_id())))));
  }
  ASSERT_TRUE(run_until(io, [&] { return peer.got.size() == 2; }));
  EXPECT_EQ(peer.senders[0], udp::endpoint(kLoopback, lp.local.port));
  EXPECT_EQ(peer.senders[1], udp::endpoint(second, lp.local.port));
}

TEST(UdpWildcard, ADualStackListenerReportsIpv4DestinationsAsIpv4) {
  boost::asio::io_context io;
  test::RecordingHandler handler;
  TransportLayer tl(io);
  tl.set_handler(&handler);
  try {
    tl.listen_udp(Endpoint{boost::asio::ip::make_address("::"), 0});
  } catch (const std::system_error& e) {
    GTEST_SKIP() << "no IPv6 here: " << e.what();
  }
  const ListenPoint lp = *tl.listen_point(Protocol::Udp);
  const IpAddress second = boost::asio::ip::make_address("127.0.0.2");
  UdpPeer peer(io);
  peer.send_to(test::options_request("wild6-1"), Endpoint{second, lp.local.port});
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));
  EXPECT_EQ(handler.got[0].src.local.address, second);
  ASSERT_TRUE(tl.send(
      Destination{Protocol::Udp, handler.got[0].src.peer, kNoFlow, {}, handler.got[0].src.local},
      shared(test::ok_response("wild6-1"))));
  ASSERT_TRUE(run_until(io, [&] { return peer.got.size() == 1; }));
  EXPECT_EQ(peer.senders[0], udp::endpoint(second, lp.local.port));
}

TEST(UdpWildcard, SourceAddressForIsTheRoutingTablesChoice) {
  boost::asio::io_context io;
  TransportLayer tl(io);
  // `ip route get 127.0.0.2`: local 127.0.0.2 dev lo src 127.0.0.1.
  EXPECT_EQ(tl.source_address_for(boost::asio::ip::make_address("127.0.0.2")), kLoopback);
  EXPECT_EQ(tl.source_address_for(kLoopback), kLoopback);  // cached the second time alike
  EXPECT_EQ(tl.source_address_for(kLoopback), kLoopback);
}

}  // namespace
}  // namespace sipws::transport
