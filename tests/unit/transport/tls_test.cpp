#include "transport/tls.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_util.hpp"
#include "transport/transport_layer.hpp"

namespace sipws::transport {
namespace {

namespace fs = std::filesystem;
namespace ssl = boost::asio::ssl;
using boost::asio::ip::tcp;
using test::counter;
using test::run_until;
using test::shared;

const IpAddress kLoopback = boost::asio::ip::make_address("127.0.0.1");

/// A fresh directory under the system temp dir, removed at the end of the test.
struct TempDir {
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "sipws-tls-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(DevCertificate, CreatedOnceWithPrivateKeyMode0600) {
  TempDir tmp;
  const std::string dir = (tmp.path / "certs" / "nested").string();  // created on demand
  const DevCertificate c = ensure_dev_certificate(dir);
  ASSERT_TRUE(fs::exists(c.cert_path));
  ASSERT_TRUE(fs::exists(c.key_path));
  struct stat st {};
  ASSERT_EQ(::stat(c.key_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string cert = slurp(c.cert_path);
  const std::string key = slurp(c.key_path);
  EXPECT_EQ(cert.rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
  EXPECT_NE(key.find("PRIVATE KEY-----"), std::string::npos);

  const DevCertificate again = ensure_dev_certificate(dir);
  EXPECT_EQ(again.cert_path, c.cert_path);
  EXPECT_EQ(slurp(again.cert_path), cert);  // not regenerated
  EXPECT_EQ(slurp(again.key_path), key);

  // The pair loads as a server context (key matches certificate).
  EXPECT_NO_THROW(make_server_tls_context(c.cert_path, c.key_path));
}

TEST(TlsContext, LoadErrorsNameTheFile) {
  TempDir tmp;
  const DevCertificate c = ensure_dev_certificate(tmp.path.string());
  const std::string missing = (tmp.path / "missing.pem").string();
  try {
    make_server_tls_context(missing, c.key_path);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  try {
    make_server_tls_context(c.cert_path, missing);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  try {
    make_client_tls_context(true, missing);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert = ensure_dev_certificate(tmp.path.string());
    server = std::make_unique<TransportLayer>(io);
    server->set_handler(&server_handler);
    server->listen_tls(Endpoint{kLoopback, 0},
                       make_server_tls_context(cert.cert_path, cert.key_path));
    lp = *server->listen_point(Protocol::Tls);
  }
  TempDir tmp;
  DevCertificate cert;
  boost::asio::io_context io;
  test::RecordingHandler server_handler;
  std::unique_ptr<TransportLayer> server;
  ListenPoint lp;
};

TEST_F(TlsTest, ClientExchangeThroughListenTls) {
  auto ctx = make_client_tls_context(true, cert.cert_path);
  ssl::stream<tcp::socket> client(io, *ctx);
  SSL_set_tlsext_host_name(client.native_handle(), "localhost");
  client.set_verify_callback(ssl::host_name_verification("localhost"));
  bool handshaken = false;
  boost::system::error_code hs_ec;
  client.lowest_layer().async_connect(
      tcp::endpoint(lp.local.address, lp.local.port), [&](const boost::system::error_code& ec) {
        ASSERT_FALSE(ec) << ec.message();
        client.async_handshake(ssl::stream_base::client, [&](const boost::system::error_code& e) {
          hs_ec = e;
          handshaken = true;
        });
      });
  ASSERT_TRUE(run_until(io, [&] { return handshaken; }));
  ASSERT_FALSE(hs_ec) << hs_ec.message();

  const std::string req = test::options_request("tls-1");
  bool written = false;
  boost::asio::async_write(client, boost::asio::buffer(req),
                           [&](const boost::system::error_code&, std::size_t) { written = true; });
  ASSERT_TRUE(run_until(io, [&] { return server_handler.got.size() == 1; }));
  const Source src = server_handler.got[0].src;
  EXPECT_EQ(src.protocol, Protocol::Tls);
  EXPECT_NE(src.flow, kNoFlow);
  EXPECT_EQ(src.local, lp.local);
  EXPECT_EQ(server_handler.got[0].msg.call_id(), "tls-1");
  EXPECT_EQ(lp.advertised, "127.0.0.1");

  const std::string resp = test::ok_response("tls-1");
  ASSERT_TRUE(server->send(Destination{Protocol::Tls, src.peer, src.flow, {}}, shared(resp)));
  std::string got;
  std::array<char, 4096> buf{};
  std::function<void()> read = [&] {
    client.async_read_some(boost::asio::buffer(buf),
                           [&](const boost::system::error_code& ec, std::size_t n) {
                             if (ec) return;
                             got.append(buf.data(), n);
                             read();
                           });
  };
  read();
  ASSERT_TRUE(run_until(io, [&] { return got.size() >= resp.size(); }));
  EXPECT_EQ(got, resp);
}

TEST_F(TlsTest, OutgoingTlsVerifiesTheServerAndReusesTheFlow) {
  TransportLayer client(io);
  test::RecordingHandler client_handler;
  client.set_handler(&client_handler);
  client.set_tls_client_context(make_client_tls_context(true, cert.cert_path));
  const Destination dest{Protocol::Tls, lp.local, kNoFlow, "localhost"};
  ASSERT_TRUE(client.send(dest, shared(test::options_request("tls-out-1"))));
  ASSERT_TRUE(client.send(dest, shared(test::options_request("tls-out-2"))));
  ASSERT_TRUE(run_until(io, [&] { return server_handler.got.size() == 2; }));
  EXPECT_EQ(server_handler.got[0].msg.call_id(), "tls-out-1");
  EXPECT_EQ(server_handler.got[1].msg.call_id(), "tls-out-2");
  EXPECT_EQ(server_handler.got[0].src.flow, server_handler.got[1].src.flow);
  EXPECT_EQ(client.flows().size(), 1u);
  EXPECT_EQ(server->flows().size(), 1u);

  // The server answers over its flow; the client sees it on its own outgoing flow.
  const Source& s = server_handler.got[0].src;
  ASSERT_TRUE(server->send(Destination{Protocol::Tls, s.peer, s.flow, {}},
                           shared(test::ok_response("tls-out-1"))));
  ASSERT_TRUE(run_until(io, [&] { return client_handler.got.size() == 1; }));
  EXPECT_EQ(client_handler.got[0].src.protocol, Protocol::Tls);
  EXPECT_EQ(client_handler.got[0].src.peer, lp.local);
  EXPECT_NE(client.flows().find(client_handler.got[0].src.flow), nullptr);
}

TEST_F(TlsTest, OutgoingTlsToAnUntrustedServerFails) {
  TempDir other_dir;
  const DevCertificate other = ensure_dev_certificate(other_dir.path.string());
  TransportLayer client(io);
  client.set_tls_client_context(make_client_tls_context(true, other.cert_path));
  std::vector<FlowId> closed;
  client.flows().on_close([&](FlowId id, Protocol) { closed.push_back(id); });
  const auto failures = counter("transport_tls_handshake_failures");
  ASSERT_TRUE(client.send(Destination{Protocol::Tls, lp.local, kNoFlow, "localhost"},
                          shared(test::options_request("untrusted"))));
  ASSERT_TRUE(run_until(io, [&] { return closed.size() == 1; }));
  EXPECT_EQ(client.flows().size(), 0u);
  EXPECT_GE(counter("transport_tls_handshake_failures"), failures + 1);
  EXPECT_TRUE(server_handler.got.empty());
}

TEST_F(TlsTest, WrongHostNameIsRejected) {
  TransportLayer client(io);
  client.set_tls_client_context(make_client_tls_context(true, cert.cert_path));
  std::vector<FlowId> closed;
  client.flows().on_close([&](FlowId id, Protocol) { closed.push_back(id); });
  ASSERT_TRUE(client.send(Destination{Protocol::Tls, lp.local, kNoFlow, "sip.example.com"},
                          shared(test::options_request("wrong-name"))));
  ASSERT_TRUE(run_until(io, [&] { return closed.size() == 1; }));
  EXPECT_TRUE(server_handler.got.empty());
}

TEST_F(TlsTest, IpLiteralDestinationIsCheckedAgainstIpSubjectAltName) {
  TransportLayer client(io);
  client.set_tls_client_context(make_client_tls_context(true, cert.cert_path));
  ASSERT_TRUE(client.send(Destination{Protocol::Tls, lp.local, kNoFlow, {}},
                          shared(test::options_request("by-ip"))));
  ASSERT_TRUE(run_until(io, [&] { return server_handler.got.size() == 1; }));
  EXPECT_EQ(server_handler.got[0].msg.call_id(), "by-ip");
}

TEST(TlsHandshake, SilentClientIsDroppedAfterTheHandshakeTimeout) {
  TempDir tmp;
  const DevCertificate cert = ensure_dev_certificate(tmp.path.string());
  boost::asio::io_context io;
  TransportLimits limits;
  limits.handshake_timeout = std::chrono::milliseconds(50);
  TransportLayer server(io, limits);
  server.listen_tls(Endpoint{kLoopback, 0}, make_server_tls_context(cert.cert_path, cert.key_path));
  std::vector<FlowId> closed;
  server.flows().on_close([&](FlowId id, Protocol) { closed.push_back(id); });
  const auto timeouts = counter("transport_handshake_timeouts");
  const Endpoint at = server.listen_point(Protocol::Tls)->local;
  tcp::socket silent(io);
  silent.connect(tcp::endpoint(at.address, at.port));
  bool eof = false;
  std::array<char, 64> buf{};
  silent.async_read_some(boost::asio::buffer(buf),
                         [&](const boost::system::error_code& ec, std::size_t) { eof = !!ec; });
  ASSERT_TRUE(run_until(io, [&] { return eof && closed.size() == 1; }));
  EXPECT_EQ(server.flows().size(), 0u);
  EXPECT_EQ(counter("transport_handshake_timeouts"), timeouts + 1);
}

TEST(TlsHandshake, OutgoingHandshakeToASilentServerTimesOut) {
  boost::asio::io_context io;
  TransportLimits limits;
  limits.handshake_timeout = std::chrono::milliseconds(50);
  TransportLayer client(io, limits);
  client.set_tls_client_context(make_client_tls_context(false, {}));
  tcp::acceptor silent(io, tcp::endpoint(kLoopback, 0));
  tcp::socket accepted(io);
  silent.async_accept(accepted, [](const boost::system::error_code&) {});
  std::vector<FlowId> closed;
  client.flows().on_close([&](FlowId id, Protocol) { closed.push_back(id); });
  const auto e = silent.local_endpoint();
  ASSERT_TRUE(client.send(Destination{Protocol::Tls, Endpoint{e.address(), e.port()}, kNoFlow, {}},
                          shared(test::options_request("silent"))));
  ASSERT_TRUE(run_until(io, [&] { return closed.size() == 1; }));
  EXPECT_EQ(client.flows().size(), 0u);
}

}  // namespace
}  // namespace sipws::transport
