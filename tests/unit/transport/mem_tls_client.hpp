#pragma once
// A TLS client for tests that need exact control of the ciphertext (partial records, one byte at
// a time): OpenSSL on two memory BIOs, no I/O, no certificate check. Shared by the TlsEngine
// tests (tests/unit/transport) and the WSS listener tests (tests/unit/ws).

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <string>
#include <string_view>

namespace sipws::test {

class MemTlsClient {
 public:
  MemTlsClient() : ctx_(SSL_CTX_new(TLS_client_method())) {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    ssl_ = SSL_new(ctx_);
    rbio_ = BIO_new(BIO_s_mem());
    wbio_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_, rbio_, wbio_);
    SSL_set_connect_state(ssl_);
  }
  ~MemTlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  MemTlsClient(const MemTlsClient&) = delete;
  MemTlsClient& operator=(const MemTlsClient&) = delete;

  /// Ciphertext received from the server.
  void receive(std::string_view bytes) {
    if (!bytes.empty()) BIO_write(rbio_, bytes.data(), static_cast<int>(bytes.size()));
  }
  /// Advances the handshake with what was received; true once it is done.
  bool handshake() { return SSL_do_handshake(ssl_) == 1; }
  /// True if the handshake failed for good.
  bool failed() const { return failed_; }
  /// Everything the client wants to send so far (handshake, records, alerts).
  std::string take_output() {
    std::string out;
    char buf[4096];
    int n = 0;
    while ((n = BIO_read(wbio_, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }
  /// Encrypts application data (after the handshake); see take_output().
  void write(std::string_view plain) {
    SSL_write(ssl_, plain.data(), static_cast<int>(plain.size()));
  }
  /// Decrypts every complete record received so far.
  std::string read_plain() {
    std::string out;
    char buf[4096];
    int n = 0;
    while ((n = SSL_read(ssl_, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    const int err = SSL_get_error(ssl_, n);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_ZERO_RETURN) failed_ = true;
    return out;
  }
  /// Sends close_notify (see take_output()).
  void shutdown() { SSL_shutdown(ssl_); }
  /// True once the server's close_notify arrived (read_plain() processes it).
  bool got_close_notify() const { return (SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) != 0; }

 private:
  SSL_CTX* ctx_;
  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;
  BIO* wbio_ = nullptr;
  bool failed_ = false;
};

}  // namespace sipws::test
