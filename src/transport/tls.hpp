#pragma once
// TLS contexts for the SIP TLS transport (RFC 3261 s.26.2.1, RFC 5630) and WSS, plus the
// self-signed development certificate that `sipws run` creates on first start.

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

namespace sipws::transport {

/// A server context (TLS 1.2+) loaded with a PEM certificate chain and its PEM private key.
/// @throws std::runtime_error naming the file that could not be loaded (start-up only).
/// Thread: any (start-up).
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const std::string& cert_pem_path,
                                                                   const std::string& key_pem_path);

/// The certificate chain and key a TLS server context presents, replaceable while sipws runs
/// (SIGHUP after a certificate renewal): each new handshake takes the newest pair (an OpenSSL
/// certificate callback), connections already up keep theirs, and nothing is closed.
/// Thread: reload() from one thread at a time; handshakes read the pair from any thread.
class ServerCertificate {
 public:
  /// Loads the PEM chain at `cert_pem_path` (leaf first) and the PEM key at `key_pem_path`.
  /// @throws std::runtime_error naming the file (unreadable, malformed, key not the leaf's).
  ServerCertificate(std::string cert_pem_path, std::string key_pem_path);
  ~ServerCertificate();
  ServerCertificate(const ServerCertificate&) = delete;
  ServerCertificate& operator=(const ServerCertificate&) = delete;

  /// Reads both files again. On failure the pair in use stays and the error is thrown
  /// (std::runtime_error naming the file): a half-written renewal never breaks TLS.
  void reload();
  /// Makes `ctx` present this certificate from now on (SSL_CTX_set_cert_cb). `ctx` must not
  /// outlive this object.
  void attach(boost::asio::ssl::context& ctx);
  /// The subject of the leaf certificate in use, e.g. "CN=example.com" (logs, tests).
  std::string subject() const;

  struct Pair;
  struct State;

 private:
  std::string cert_path_, key_path_;
  std::unique_ptr<State> state_;  ///< the pair in use (an atomic shared_ptr: C++20, so hidden)
};

/// A client context (TLS 1.2+) for outgoing TLS connections. With `verify_peer` the server
/// certificate must chain to `ca_file` (PEM) or, if `ca_file` is empty, to the system's
/// default trust store; the host name is checked per connection (SNI from Destination::host).
/// @throws std::runtime_error naming `ca_file` if it cannot be loaded (start-up only).
std::shared_ptr<boost::asio::ssl::context> make_client_tls_context(bool verify_peer,
                                                                   const std::string& ca_file);

/// Paths of the development certificate and its key.
struct DevCertificate {
  std::string cert_path;  ///< PEM certificate, `<dir>/sipws-dev.crt`
  std::string key_path;   ///< PEM private key, `<dir>/sipws-dev.key`, mode 0600
};

/// Ensures a self-signed EC P-256 certificate for CN=localhost (subjectAltName DNS:localhost,
/// IP:127.0.0.1, IP:::1; valid one year) exists in `dir`, creating `dir` if needed. Existing
/// files are kept as they are; if only one of the two exists both are rewritten.
/// @throws std::runtime_error naming the path on any file or OpenSSL failure (start-up only).
DevCertificate ensure_dev_certificate(const std::string& dir);

}  // namespace sipws::transport
