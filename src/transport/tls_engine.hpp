#pragma once
// A TLS server session (OpenSSL) that does no I/O and keeps no buffers of its own between calls:
// the caller reads the socket into its own (per io thread) scratch buffer, hands the ciphertext
// in, gets plaintext out into another scratch buffer, and writes whatever TLS wants to send from
// a string it passes in. Used by the WSS listener (src/ws/listener.cpp); websocketpp-free and
// C++17, so that the SIP TLS transport may use it too.

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace sipws::transport {

/// One server-side TLS session (TLS 1.2 / 1.3 as the SSL_CTX allows: RFC 5246, RFC 8446) over
/// borrowed buffers. OpenSSL reads ciphertext from, and writes it to, a BIO of sipws's own that
/// points into the caller's buffers for the duration of one call only (OpenSSL's memory BIOs and
/// BIO pairs keep their high-water allocation, about 17 kB each way, for the connection's life).
/// With SSL_MODE_RELEASE_BUFFERS OpenSSL frees its record buffers whenever no partial record is
/// pending, so an idle session holds only OpenSSL's SSL object and its cipher state (a few kB).
///
/// Errors are values (Status::Failed, write() false, error()); nothing throws. Not copyable or
/// movable (OpenSSL keeps a pointer to it). Thread: the caller's; one thread at a time.
class TlsEngine {
 public:
  /// What read() produced.
  enum class Status {
    Data,       ///< `got` > 0 bytes of application data were written to `plain`
    NeedInput,  ///< every input byte was consumed (a partial record waits inside OpenSSL)
    Closed,     ///< the peer sent close_notify (RFC 8446 s.6.1): no more application data
    Failed,     ///< fatal TLS error (garbage, failed handshake, bad record MAC): see error()
  };

  /// A server session on `ctx` (SSL_set_accept_state). Returns nullptr if OpenSSL cannot
  /// allocate one (out of memory). `ctx` must outlive the engine.
  static std::unique_ptr<TlsEngine> make_server(SSL_CTX* ctx);

  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  /// Decrypts: consumes ciphertext from the front of `in` (advancing it) and writes at most
  /// `cap` plaintext bytes to `plain`, setting `got`. Handshake messages, session tickets and
  /// alerts that TLS sends meanwhile are appended to `out` (the caller writes them to the peer,
  /// in order, before anything it writes later). Call again until it returns NeedInput (then
  /// `in` is empty), Closed or Failed; after Failed the session is unusable (an alert for the
  /// peer may be in `out`).
  Status read(std::string_view& in, char* plain, std::size_t cap, std::size_t& got,
              std::string& out);

  /// Encrypts `size` bytes of application data as one or more records appended to `out`.
  /// Returns false (see error()) if the session cannot send: handshake not done, closed, failed.
  bool write(const char* data, std::size_t size, std::string& out);

  /// Appends a close_notify alert (RFC 8446 s.6.1) to `out` if the handshake completed and
  /// none was sent yet; otherwise does nothing.
  void shutdown(std::string& out);

  /// True once the handshake completed (application data may flow).
  bool handshake_done() const;

  /// The last OpenSSL error of a Failed read() or a false write(), for debug logs ("" if none).
  const std::string& error() const { return error_; }

  /// The OpenSSL session (tests, cipher and protocol queries). Owned by the engine.
  SSL* native_handle() { return ssl_.get(); }

  /// Where the engine's BIO reads from and writes to during one call (null outside calls).
  struct Io {
    std::string_view* in = nullptr;
    std::string* out = nullptr;
  };

 private:
  struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  explicit TlsEngine(SSL* ssl) : ssl_(ssl) {}
  void fail(const char* what, int ret);

  std::unique_ptr<SSL, SslFree> ssl_;
  Io io_;
  std::string error_;
};

}  // namespace sipws::transport
