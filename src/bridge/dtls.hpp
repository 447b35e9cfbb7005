#pragma once
// DTLS-SRTP (RFC 5763, RFC 5764) on OpenSSL, over memory: datagrams in through on_packet(),
// datagrams out through a callback; no sockets, no threads, no sleeping. The retransmission
// timer is the caller's: it asks next_timeout() and calls on_timeout() when it elapses.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/srtp.hpp"
#include "common/timer.hpp"

// OpenSSL's types, declared so that this header does not pull in <openssl/ssl.h>.
struct ssl_ctx_st;
struct ssl_st;
struct x509_st;
struct evp_pkey_st;

namespace sipws::bridge {

namespace detail {
// RAII deleters for the OpenSSL handles (defined in dtls.cpp).
struct SslCtxFree {
  void operator()(ssl_ctx_st* p) const;
};
struct SslFree {
  void operator()(ssl_st* p) const;
};
struct X509Free {
  void operator()(x509_st* p) const;
};
struct PkeyFree {
  void operator()(evp_pkey_st* p) const;
};
}  // namespace detail

/// The certificate and key that this process shows in every DTLS handshake (RFC 5763 s.5: a
/// self-signed certificate whose fingerprint goes into a=fingerprint), with the one SSL_CTX
/// built on them. Immutable after generate(); share it between all transports and threads.
class DtlsIdentity {
 public:
  /// Generates an ECDSA P-256 key and a self-signed X.509v3 certificate (CN=`common_name`,
  /// SHA-256 signature, random 64-bit serial, valid from one day ago for `validity`), and the
  /// DTLS 1.2 SSL_CTX: ECDHE suites only, use_srtp, the peer certificate always requested.
  /// @throws std::runtime_error on an OpenSSL failure (start-up only).
  static std::shared_ptr<const DtlsIdentity> generate(
      std::string_view common_name = "sipws",
      std::chrono::hours validity = std::chrono::hours(24 * 30));
  DtlsIdentity(const DtlsIdentity&) = delete;
  DtlsIdentity& operator=(const DtlsIdentity&) = delete;

  /// SHA-256 of the DER certificate as in a=fingerprint:sha-256 (RFC 8122 s.5): 32 upper-case
  /// hex pairs separated by colons, "AB:CD:...".
  const std::string& fingerprint_sha256() const { return fingerprint_sha256_; }
  /// The certificate's fingerprint with another hash ("sha-1", "sha-224", "sha-256", "sha-384",
  /// "sha-512", case-insensitive); nullopt for an unsupported name.
  std::optional<std::string> fingerprint(std::string_view alg) const;

 private:
  friend class DtlsTransport;
  DtlsIdentity() = default;

  std::unique_ptr<x509_st, detail::X509Free> cert_;
  std::unique_ptr<evp_pkey_st, detail::PkeyFree> key_;
  std::unique_ptr<ssl_ctx_st, detail::SslCtxFree> ctx_;
  std::string fingerprint_sha256_;
};

/// Our side of the handshake. a=setup:active in OUR SDP (or actpass answered by the peer with
/// passive) => Client; a=setup:passive in ours => Server (RFC 5763 s.5, RFC 4145 s.4).
enum class DtlsRole { Client, Server };

/// SRTP master keys exported from a finished handshake (RFC 5764 s.4.2). Each is master key ||
/// master salt, ready for SrtpSession::make: `local_master` keys what WE send (Outbound),
/// `remote_master` what we receive (Inbound). Client: local = client_write_*, remote =
/// server_write_*; Server the other way round.
struct SrtpKeys {
  SrtpProfile profile = SrtpProfile::AeadAes128Gcm;
  std::vector<std::uint8_t> local_master;
  std::vector<std::uint8_t> remote_master;
};

/// Tunables of a DtlsTransport; the defaults suit browsers.
struct DtlsOptions {
  /// Largest datagram we send, bytes (1200: no IP fragmentation on any path WebRTC works on).
  std::size_t mtu = 1200;
  /// First retransmission timeout; doubles per retransmission up to max_timeout. RFC 6347
  /// s.4.2.4.1 suggests 1 s; WebRTC stacks start far lower because media setup waits on it.
  /// Both are raised to at least kMinTimeout: OpenSSL treats a timer with less than 15 ms left
  /// as expired, so a shorter one would resend each flight at once.
  static constexpr Millis kMinTimeout{20};
  Millis initial_timeout{100};
  Millis max_timeout{3200};
  /// SRTP protection profiles offered (client) or accepted (server), most preferred first.
  /// Empty: no use_srtp extension at all (only useful to test the failure).
  std::vector<SrtpProfile> srtp_profiles = {SrtpProfile::AeadAes128Gcm,
                                            SrtpProfile::Aes128CmSha1_80};
};

/// One DTLS-SRTP association with one peer (RFC 5764), DTLS 1.2 over memory BIOs.
///
/// Life: New -> start() -> Connecting -> Connected (keys() available) -> Closed (close() or
/// the peer's close_notify); Failed from Connecting on any handshake error, a certificate whose
/// fingerprint differs from the peer's a=fingerprint, no SRTP profile negotiated, or too many
/// retransmissions. Failed and Closed are final: later packets are ignored.
///
/// `send` is called with each outgoing datagram (one DTLS flight may be several), always after
/// OpenSSL has returned, so it may deliver synchronously to another transport; it must not
/// destroy this object. Application data from the peer (e.g. an SCTP data channel) is dropped.
///
/// Thread: one at a time (the media session's executor). Not copyable or movable (OpenSSL
/// callbacks hold `this`): keep it in a unique_ptr.
class DtlsTransport {
 public:
  using SendFn = std::function<void(std::span<const std::uint8_t>)>;
  enum class State { New, Connecting, Connected, Failed, Closed };

  /// `remote_fingerprint_alg` / `remote_fingerprint` are the peer's a=fingerprint ("sha-256",
  /// "AB:CD:..."; hex compared case-insensitively). An unsupported algorithm or an OpenSSL
  /// failure makes start() go straight to Failed with error() saying why.
  DtlsTransport(std::shared_ptr<const DtlsIdentity> identity, DtlsRole role,
                std::string remote_fingerprint_alg, std::string_view remote_fingerprint,
                SendFn send, DtlsOptions options = {});
  ~DtlsTransport();
  DtlsTransport(const DtlsTransport&) = delete;
  DtlsTransport& operator=(const DtlsTransport&) = delete;

  /// Client: sends the ClientHello. Server: waits for it. No-op unless New.
  void start();
  /// Feeds one received datagram that demux classified as DTLS. Starts a New transport first.
  /// Drives the handshake (sending the next flight) or, once Connected, processes
  /// retransmitted handshake records, alerts and close_notify. Ignored once Failed or Closed.
  void on_packet(std::span<const std::uint8_t> datagram);
  /// Time until the retransmission timer fires (DTLSv1_get_timeout, rounded up to whole ms;
  /// may be 0 when already due); nullopt when none runs (no flight outstanding, or a final
  /// state).
  std::optional<Millis> next_timeout() const;
  /// Call when next_timeout() has elapsed: retransmits the last flight (DTLSv1_handle_timeout;
  /// RFC 6347 s.4.2.4). Too many retransmissions (OpenSSL gives up after 12) => Failed. Calling
  /// it early is harmless: OpenSSL does nothing before the timer expires.
  void on_timeout();
  /// Sends close_notify if Connected; then Closed. Keys are no longer returned.
  void close();

  State state() const { return state_; }
  DtlsRole role() const { return role_; }
  /// Why the transport Failed (empty otherwise).
  const std::string& error() const { return error_; }
  /// The exported SRTP keys while Connected; nullptr in any other state.
  const SrtpKeys* keys() const { return state_ == State::Connected ? &keys_ : nullptr; }

 private:
  friend struct DtlsCallbacks;

  void handshake_step();
  void read_step();
  void finish_handshake();
  void fail(std::string why);
  void flush();
  bool peer_certificate_matches(x509_st* cert) const;

  std::shared_ptr<const DtlsIdentity> identity_;
  DtlsRole role_;
  std::string remote_alg_;
  std::string remote_fingerprint_;  ///< upper-cased
  SendFn send_;
  DtlsOptions options_;
  State state_ = State::New;
  std::string error_;
  std::string verify_error_;  ///< set by the verify callback on a mismatch
  SrtpKeys keys_;
  std::unique_ptr<ssl_st, detail::SslFree> ssl_;  ///< owns both BIOs
  std::vector<std::vector<std::uint8_t>> pending_out_;
};

/// "new", "connecting", "connected", "failed", "closed".
std::string_view to_string(DtlsTransport::State s);

}  // namespace sipws::bridge
