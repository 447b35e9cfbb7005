#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>
#include <filesystem>

#include "test_util.hpp"
#include "transport/tls.hpp"
#include "transport/transport_layer.hpp"

namespace sipws::transport {
namespace {

using boost::asio::ip::tcp;
using boost::asio::ip::udp;
using test::run_until;
using test::shared;

const IpAddress kV4 = boost::asio::ip::make_address("127.0.0.1");
const IpAddress kV6 = boost::asio::ip::make_address("::1");

TEST(Ipv6, UdpRepliesLeaveFromTheListenerOfThePeersFamily) {
  boost::asio::io_context io;
  test::RecordingHandler handler;
  TransportLayer tl(io);
  tl.set_handler(&handler);
  tl.listen_udp(Endpoint{kV4, 0});
  tl.listen_udp(Endpoint{kV6, 0});
  ASSERT_EQ(tl.listen_points().size(), 2u);
  const ListenPoint v4 = tl.listen_points()[0];
  const ListenPoint v6 = tl.listen_points()[1];
  EXPECT_EQ(v6.advertised, "[::1]");
  EXPECT_EQ(tl.listen_point(Protocol::Udp)->local, v4.local);  // the first one

  udp::socket peer(io, udp::endpoint(kV6, 0));
  peer.send_to(boost::asio::buffer(test::options_request("v6")),
               udp::endpoint(v6.local.address, v6.local.port));
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));
  EXPECT_EQ(handler.got[0].src.local, v6.local);
  EXPECT_TRUE(handler.got[0].src.peer.address.is_v6());

  // No flow, no hint: the selector picks the v6 socket for a v6 peer.
  const auto pe = peer.local_endpoint();
  ASSERT_TRUE(tl.send(Destination{Protocol::Udp, Endpoint{pe.address(), pe.port()}, kNoFlow, {}},
                      shared(test::ok_response("v6"))));
  std::array<char, 2048> buf{};
  udp::endpoint from;
  std::size_t n = 0;
  bool got = false;
  peer.async_receive_from(boost::asio::buffer(buf), from,
                          [&](const boost::system::error_code& ec, std::size_t len) {
                            got = !ec;
                            n = len;
                          });
  ASSERT_TRUE(run_until(io, [&] { return got; }));
  EXPECT_EQ(std::string(buf.data(), n), test::ok_response("v6"));
  EXPECT_EQ(from.port(), v6.local.port);
}

TEST(Ipv6, TcpFlowOverLoopbackV6) {
  boost::asio::io_context io;
  test::RecordingHandler handler;
  TransportLayer tl(io);
  tl.set_handler(&handler);
  tl.listen_tcp(Endpoint{kV6, 0});
  const ListenPoint lp = *tl.listen_point(Protocol::Tcp);
  EXPECT_EQ(lp.advertised, "[::1]");
  tcp::socket s(io);
  s.connect(tcp::endpoint(lp.local.address, lp.local.port));
  boost::asio::write(s, boost::asio::buffer(test::options_request("v6-tcp")));
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));
  EXPECT_EQ(handler.got[0].src.protocol, Protocol::Tcp);
  EXPECT_EQ(handler.got[0].src.peer.port, s.local_endpoint().port());
}

TEST(Ipv6, OutgoingTlsIsVerifiedAgainstTheIpv6SubjectAltName) {
  namespace fs = std::filesystem;
  std::string tmpl = (fs::temp_directory_path() / "sipws-v6-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const DevCertificate cert = ensure_dev_certificate(tmpl);
  boost::asio::io_context io;
  test::RecordingHandler handler;
  TransportLayer server(io);
  server.set_handler(&handler);
  server.listen_tls(Endpoint{kV6, 0}, make_server_tls_context(cert.cert_path, cert.key_path));
  TransportLayer client(io);
  client.set_tls_client_context(make_client_tls_context(true, cert.cert_path));
  ASSERT_TRUE(client.send(
      Destination{Protocol::Tls, server.listen_point(Protocol::Tls)->local, kNoFlow, {}},
      shared(test::options_request("v6-tls"))));
  ASSERT_TRUE(run_until(io, [&] { return handler.got.size() == 1; }));
  EXPECT_EQ(handler.got[0].msg.call_id(), "v6-tls");
  std::error_code ec;
  fs::remove_all(tmpl, ec);
}

}  // namespace
}  // namespace sipws::transport
