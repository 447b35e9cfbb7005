// ws::Listener's own socket and TLS handling (websocketpp's iostream transport behind it): bytes
// cut anywhere (several frames in one read, one frame over many reads, partial TLS records),
// garbage instead of a TLS handshake, and the close-handshake timeout that sipws keeps itself.

#include <gtest/gtest.h>

#include <string>

#include "../transport/mem_tls_client.hpp"
#include "ws/listener.hpp"
#include "ws_test_util.hpp"

namespace sipws::ws {
namespace {

using namespace test;
using namespace std::chrono_literals;

const std::string kOptions = "OPTIONS sip:localhost SIP/2.0\r\nContent-Length: 0\r\n\r\n";

/// A raw TCP peer speaking TLS through a MemTlsClient, so that the test decides how the
/// ciphertext is cut into writes.
struct TlsPeer {
  std::unique_ptr<RawPeer> raw;
  sipws::test::MemTlsClient tls;
  std::size_t seen = 0;  ///< bytes of raw->in already given to `tls`
  std::string plain;     ///< plaintext received so far

  /// Passes what arrived to the TLS client; returns true once its handshake is done.
  bool pump() {
    tls.receive(std::string_view(raw->in).substr(seen));
    seen = raw->in.size();
    const bool done = tls.handshake();
    if (done) plain += tls.read_plain();
    return done;
  }
  /// Sends the client's pending ciphertext, `chunk` bytes per write.
  void flush(std::size_t chunk = SIZE_MAX) {
    const std::string out = tls.take_output();
    for (std::size_t pos = 0; pos < out.size(); pos += chunk) raw->write(out.substr(pos, chunk));
  }
};

class WsListenerIoTest : public WsListenerTest {
 protected:
  void start_wss(ListenerConfig cfg = {}) {
    const auto cert = transport::ensure_dev_certificate(tls_dir());
    cfg.tls = transport::make_server_tls_context(cert.cert_path, cert.key_path);
    start(cfg);
  }

  /// A TLS peer whose handshake is done, its ciphertext sent `chunk` bytes per write.
  std::unique_ptr<TlsPeer> tls_peer(std::size_t chunk = SIZE_MAX) {
    auto p = std::make_unique<TlsPeer>();
    p->raw = raw_peer();
    p->tls.handshake();
    p->flush(chunk);
    EXPECT_TRUE(run_until([&] {
      const bool done = p->pump();
      p->flush(chunk);
      return done || p->raw->eof;
    }));
    return p;
  }

  static sipws::Endpoint peer_local(RawPeer& p) {
    const auto ep = p.sock.local_endpoint();
    return sipws::Endpoint{ep.address(), ep.port()};
  }

  /// Writes `bytes` in `chunk`-byte writes, letting the listener run between them.
  void write_in_pieces(RawPeer& peer, const std::string& bytes, std::size_t chunk) {
    for (std::size_t pos = 0; pos < bytes.size(); pos += chunk) {
      peer.write(bytes.substr(pos, chunk));
      io_.poll();
    }
  }
};

TEST_F(WsListenerIoTest, SeveralFramesInOneReadAndOneFrameOverManyReads) {
  start();
  auto peer = raw_peer();
  // The upgrade and three frames in one write.
  peer->write(upgrade_request() + ws_frame(0x1, kOptions) + ws_frame(0x2, "B") +
              ws_frame(0x1, kOptions + "x"));
  ASSERT_TRUE(run_until([&] { return delivered_.size() == 3 && peer->upgraded(); })) << peer->in;
  EXPECT_EQ(delivered_[0].first, kOptions);
  EXPECT_EQ(delivered_[1].first, "B");
  EXPECT_EQ(delivered_[2].first, kOptions + "x");
  // One 40 kB frame in 1000 writes of 40 bytes.
  const std::string big = "MESSAGE sip:a@b SIP/2.0\r\n\r\n" + std::string(40000, 'm');
  write_in_pieces(*peer, ws_frame(0x1, big), 40);
  ASSERT_TRUE(run_until([&] { return delivered_.size() == 4; }));
  EXPECT_EQ(delivered_[3].first, big);
  EXPECT_EQ(flows_.size(), 1u);
  EXPECT_EQ(close_code_of(server_frames(peer->in)), -1);
}

TEST_F(WsListenerIoTest, WssPartialRecordsAndSeveralRecordsPerRead) {
  ListenerConfig cfg;
  start_wss(cfg);
  auto peer = tls_peer(7);  // the TLS handshake in 7-byte writes
  ASSERT_FALSE(peer->raw->eof);
  // The upgrade and two frames in one record, cut into 5-byte writes.
  peer->tls.write(upgrade_request() + ws_frame(0x1, kOptions) + ws_frame(0x1, "second"));
  const std::string cipher = peer->tls.take_output();
  write_in_pieces(*peer->raw, cipher, 5);
  ASSERT_TRUE(run_until([&] { return delivered_.size() == 2; }));
  ASSERT_TRUE(run_until([&] {
    peer->pump();
    return peer->plain.find("\r\n\r\n") != std::string::npos;
  }));
  EXPECT_EQ(peer->plain.rfind("HTTP/1.1 101", 0), 0u) << peer->plain;
  EXPECT_EQ(delivered_[0].first, kOptions);
  EXPECT_EQ(delivered_[0].second.protocol, Protocol::Wss);
  EXPECT_EQ(delivered_[1].first, "second");
  // Three records (one frame each, the last one 20 kB: two records) in one write.
  peer->tls.write(ws_frame(0x1, "a"));
  peer->tls.write(ws_frame(0x1, "b"));
  peer->tls.write(ws_frame(0x1, std::string(20000, 'c')));
  peer->flush();
  ASSERT_TRUE(run_until([&] { return delivered_.size() == 5; }));
  EXPECT_EQ(delivered_[2].first, "a");
  EXPECT_EQ(delivered_[3].first, "b");
  EXPECT_EQ(delivered_[4].first, std::string(20000, 'c'));
  // And back: a reply through the flow.
  ASSERT_EQ(flows_.size(), 1u);
  EXPECT_TRUE(flows_.all().front()->send(std::make_shared<const std::string>("SIP/2.0 200 OK")));
  ASSERT_TRUE(run_until([&] {
    peer->pump();
    return server_frames(peer->plain).size() == 1;
  }));
  EXPECT_EQ(server_frames(peer->plain)[0], std::make_pair(0x1, std::string("SIP/2.0 200 OK")));
}

TEST_F(WsListenerIoTest, WssGarbageInsteadOfTlsHandshakeIsDropped) {
  start_wss();
  const auto before = counter("ws_tls_handshake_failures");
  auto peer = raw_peer();
  peer->write(upgrade_request());  // plain HTTP on the TLS port
  ASSERT_TRUE(run_until([&] { return peer->eof; }));
  EXPECT_EQ(peer->in.find("HTTP/1.1"), std::string::npos) << peer->in;
  EXPECT_EQ(counter("ws_tls_handshake_failures"), before + 1);
  EXPECT_EQ(flows_.size(), 0u);
  // The listener still serves TLS.
  WssClient good(io_, uri("wss"));
  ASSERT_TRUE(run_until([&] { return good.opened || good.failed; }));
  EXPECT_TRUE(good.opened);
}

TEST_F(WsListenerIoTest, PeerThatNeverAnswersOurCloseIsDroppedAfterTheCloseHandshakeTimeout) {
  ListenerConfig cfg;
  cfg.close_handshake_timeout = 2s;
  start(cfg);
  const auto dead_before = counter("ws_flows_dead");
  auto peer = raw_peer();
  peer->write(upgrade_request());
  ASSERT_TRUE(run_until([&] { return peer->upgraded() && flows_.size() == 1; }));
  flows_.all().front()->close();
  ASSERT_TRUE(run_until([&] { return close_code_of(server_frames(peer->in)) == 1000; }));
  // The peer does not answer: the server waits for its close frame until the timeout...
  advance(cfg.close_handshake_timeout - 1ms);
  ASSERT_TRUE(settle(*peer));
  EXPECT_FALSE(peer->eof);
  EXPECT_EQ(flows_.size(), 1u);
  // ...then ends the connection.
  advance(1ms);
  ASSERT_TRUE(run_until([&] { return peer->eof; }));
  ASSERT_TRUE(run_until([&] { return flows_.size() == 0; }));
  EXPECT_EQ(counter("ws_flows_dead"), dead_before);  // sipws closed it: not a dead peer
}

TEST_F(WsListenerIoTest, WssPeerThatNeverAnswersOurCloseIsDroppedToo) {
  ListenerConfig cfg;
  cfg.close_handshake_timeout = 2s;
  start_wss(cfg);
  auto peer = tls_peer();
  peer->tls.write(upgrade_request());
  peer->flush();
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1; }));
  flows_.all().front()->close();
  ASSERT_TRUE(run_until([&] {
    peer->pump();
    return close_code_of(server_frames(peer->plain)) == 1000;
  }));
  advance(cfg.close_handshake_timeout - 1ms);
  ASSERT_TRUE(settle(*peer->raw));
  EXPECT_FALSE(peer->raw->eof);
  advance(1ms);
  ASSERT_TRUE(run_until([&] { return peer->raw->eof; }));
  ASSERT_TRUE(run_until([&] { return flows_.size() == 0; }));
}

TEST_F(WsListenerIoTest, PeerThatNeverClosesItsSideIsDroppedAfterTheShutdownTimeout) {
  start();
  auto peer = raw_peer();
  peer->write(upgrade_request());
  ASSERT_TRUE(run_until([&] { return peer->upgraded() && flows_.size() == 1; }));
  flows_.all().front()->close();
  ASSERT_TRUE(run_until([&] { return close_code_of(server_frames(peer->in)) == 1000; }));
  // The peer answers the close frame but keeps its side of the TCP connection open: sipws
  // half-closes at once and closes the socket 1 s later (kShutdownTimeout).
  peer->write(ws_frame(0x8, std::string("\x03\xe8", 2)));
  ASSERT_TRUE(run_until([&] { return peer->eof && flows_.size() == 0; }));
  const int server_fd = sipws::test::tcp_socket_fd(listener_->local_endpoint(), peer_local(*peer));
  ASSERT_GE(server_fd, 0);
  advance(999ms);
  EXPECT_EQ(sipws::test::tcp_socket_fd(listener_->local_endpoint(), peer_local(*peer)), server_fd);
  advance(1ms);
  EXPECT_EQ(sipws::test::tcp_socket_fd(listener_->local_endpoint(), peer_local(*peer)), -1);
}

TEST_F(WsListenerIoTest, PeerAnsweringOurCloseIsClosedAtOnce) {
  ListenerConfig cfg;
  cfg.close_handshake_timeout = 60s;  // must not be what ends the connection
  start(cfg);
  auto peer = raw_peer();
  peer->write(upgrade_request());
  ASSERT_TRUE(run_until([&] { return peer->upgraded() && flows_.size() == 1; }));
  flows_.all().front()->close();
  ASSERT_TRUE(run_until([&] { return close_code_of(server_frames(peer->in)) == 1000; }));
  peer->write(ws_frame(0x8, std::string("\x03\xe8", 2)));  // the peer's close frame (1000)
  ASSERT_TRUE(run_until([&] { return peer->eof && flows_.size() == 0; }));
}

}  // namespace
}  // namespace sipws::ws
