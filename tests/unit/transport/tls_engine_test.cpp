// transport::TlsEngine against an OpenSSL client on memory BIOs: handshake and data both ways,
// ciphertext cut anywhere, garbage, close_notify, and no record buffers while idle.

#include "transport/tls_engine.hpp"

#include <gtest/gtest.h>
#include <malloc.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "mem_tls_client.hpp"
#include "transport/tls.hpp"

#if defined(__SANITIZE_ADDRESS__)
// The ASan runtime's count of heap bytes in use (compiler-rt's sanitizer/allocator_interface.h,
// which g++ does not install).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace sipws::transport {
namespace {

namespace fs = std::filesystem;
using Status = TlsEngine::Status;

class TlsEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "sipws-tlsengine-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    const DevCertificate cert = ensure_dev_certificate(dir_);
    ctx_ = make_server_tls_context(cert.cert_path, cert.key_path);
    engine_ = TlsEngine::make_server(ctx_->native_handle());
    ASSERT_NE(engine_, nullptr);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  /// Feeds `cipher` to the server `chunk` bytes at a time; returns the plaintext, sends what the
  /// server wrote to the client, and records the last status.
  std::string to_server(const std::string& cipher, std::size_t chunk = SIZE_MAX) {
    std::string plain;
    std::string out;
    for (std::size_t pos = 0; pos < cipher.size() && status_ != Status::Failed; pos += chunk) {
      std::string_view in = std::string_view(cipher).substr(pos, chunk);
      for (;;) {
        std::size_t got = 0;
        status_ = engine_->read(in, buf_, sizeof buf_, got, out);
        if (status_ != Status::Data) break;
        plain.append(buf_, got);
      }
      EXPECT_TRUE(in.empty() || status_ == Status::Failed);
    }
    client_.receive(out);
    return plain;
  }

  /// Runs the handshake, the client's output cut into `chunk`-byte pieces.
  void handshake(std::size_t chunk = SIZE_MAX) {
    for (int i = 0; i < 10 && !(client_.handshake() && engine_->handshake_done()); ++i) {
      to_server(client_.take_output(), chunk);
    }
    ASSERT_TRUE(engine_->handshake_done());
    // TLS 1.3: the server's session tickets reach the client with the next read.
    client_.read_plain();
  }

  /// Bytes malloc'd by SSL_alloc_buffers: about 34 kB if the session held no record buffers.
  std::size_t bytes_to_allocate_buffers() {
    const std::size_t before = allocated_bytes();
    EXPECT_EQ(SSL_alloc_buffers(engine_->native_handle()), 1);
    const std::size_t after = allocated_bytes();
    return after - before;
  }

  /// Bytes in use on the heap: glibc's count, or ASan's when its allocator replaces glibc's.
  static std::size_t allocated_bytes() {
#if defined(__SANITIZE_ADDRESS__)
    return __sanitizer_get_current_allocated_bytes();
#else
    return mallinfo2().uordblks;
#endif
  }

  fs::path dir_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
  std::unique_ptr<TlsEngine> engine_;
  test::MemTlsClient client_;
  Status status_ = Status::NeedInput;
  char buf_[16384];
};

TEST_F(TlsEngineTest, HandshakeThenApplicationDataBothWays) {
  handshake();
  client_.write("REGISTER sip:example.com SIP/2.0\r\n\r\n");
  EXPECT_EQ(to_server(client_.take_output()), "REGISTER sip:example.com SIP/2.0\r\n\r\n");
  EXPECT_EQ(status_, Status::NeedInput);
  std::string out;
  ASSERT_TRUE(engine_->write("SIP/2.0 200 OK\r\n\r\n", 18, out));
  client_.receive(out);
  EXPECT_EQ(client_.read_plain(), "SIP/2.0 200 OK\r\n\r\n");
}

TEST_F(TlsEngineTest, CiphertextOneByteAtATimeAndManyRecordsAtOnce) {
  handshake(1);                       // every handshake record split across reads
  const std::string big(40000, 'x');  // three records
  client_.write("first");
  client_.write(big);
  client_.write("last");
  const std::string cipher = client_.take_output();
  EXPECT_EQ(to_server(cipher, 1), "first" + big + "last");
  client_.write("again");
  client_.write("and again");
  EXPECT_EQ(to_server(client_.take_output()), "againand again");  // two records in one read
}

TEST_F(TlsEngineTest, IdleSessionHoldsNoRecordBuffers) {
  handshake();
  client_.write(std::string(3000, 'r'));
  EXPECT_EQ(to_server(client_.take_output()).size(), 3000u);
  std::string out;
  ASSERT_TRUE(engine_->write(std::string(3000, 'w').data(), 3000, out));
  // Idle: neither the read nor the write buffer (about 17 kB each) is allocated.
  EXPECT_GT(bytes_to_allocate_buffers(), 30000u);
  SSL_free_buffers(engine_->native_handle());

  // A partial record waiting for its end keeps the read buffer (and only then).
  client_.write(std::string(3000, 'p'));
  const std::string cipher = client_.take_output();
  EXPECT_EQ(to_server(cipher.substr(0, 100)), "");
  EXPECT_LT(bytes_to_allocate_buffers(), 20000u);
  EXPECT_EQ(to_server(cipher.substr(100)).size(), 3000u);
}

TEST_F(TlsEngineTest, GarbageFailsTheHandshake) {
  to_server("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_EQ(status_, Status::Failed);
  EXPECT_FALSE(engine_->handshake_done());
  EXPECT_FALSE(engine_->error().empty());
  std::string out;
  EXPECT_FALSE(engine_->write("x", 1, out));
}

TEST_F(TlsEngineTest, CorruptedRecordFails) {
  handshake();
  client_.write("hello");
  std::string cipher = client_.take_output();
  cipher.back() = static_cast<char>(cipher.back() ^ 0x01);  // breaks the record's tag
  to_server(cipher);
  EXPECT_EQ(status_, Status::Failed);
}

TEST_F(TlsEngineTest, CloseNotifyBothWays) {
  handshake();
  std::string out;
  engine_->shutdown(out);
  ASSERT_FALSE(out.empty());
  client_.receive(out);
  client_.read_plain();
  EXPECT_TRUE(client_.got_close_notify());
  out.clear();
  engine_->shutdown(out);  // once only
  EXPECT_TRUE(out.empty());

  client_.shutdown();
  to_server(client_.take_output());
  EXPECT_EQ(status_, Status::Closed);
}

TEST_F(TlsEngineTest, ShutdownBeforeTheHandshakeSendsNothing) {
  std::string out;
  engine_->shutdown(out);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace sipws::transport
