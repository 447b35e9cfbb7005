// DTLS-SRTP over memory (RFC 5763, RFC 5764, RFC 6347) on OpenSSL 3.
#include "bridge/dtls.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/srtp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "common/text.hpp"

namespace sipws::bridge {

namespace detail {
void SslCtxFree::operator()(ssl_ctx_st* p) const { SSL_CTX_free(p); }
void SslFree::operator()(ssl_st* p) const { SSL_free(p); }
void X509Free::operator()(x509_st* p) const { X509_free(p); }
void PkeyFree::operator()(evp_pkey_st* p) const { EVP_PKEY_free(p); }
}  // namespace detail

namespace {

struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};

// Suites for ECDSA certificates (ours, browsers') first; ECDHE-RSA for a peer with an RSA
// certificate when we are the client. Forward secrecy only (RFC 8827 s.6.5).
constexpr const char* kCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA";
constexpr const char* kGroups = "X25519:P-256:P-384";
constexpr char kExporterLabel[] = "EXTRACTOR-dtls_srtp";  // RFC 5764 s.4.2

/// Everything in OpenSSL's error queue for this thread, "; "-separated; clears it.
std::string openssl_errors() {
  std::string out;
  char buf[256];
  while (const unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

const EVP_MD* digest_for(std::string_view alg) {
  const std::string a = text::to_lower(alg);
  // RFC 8122 s.5 hash function textual names; MD5/MD2 are deliberately not accepted.
  if (a == "sha-256") return EVP_sha256();
  if (a == "sha-1") return EVP_sha1();
  if (a == "sha-224") return EVP_sha224();
  if (a == "sha-384") return EVP_sha384();
  if (a == "sha-512") return EVP_sha512();
  return nullptr;
}

/// Upper-case colon-separated hex digest of the DER certificate; empty on failure.
std::string fingerprint_of(X509* cert, const EVP_MD* md) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (cert == nullptr || md == nullptr || X509_digest(cert, md, digest, &len) != 1) return {};
  return text::hex_encode(digest, len, text::HexCase::Upper, ":");
}

const char* use_srtp_name(SrtpProfile p) {
  return p == SrtpProfile::AeadAes128Gcm ? "SRTP_AEAD_AES_128_GCM" : "SRTP_AES128_CM_SHA1_80";
}

}  // namespace

/// The OpenSSL callbacks, a friend of DtlsTransport.
struct DtlsCallbacks {
  static DtlsTransport* from(SSL* ssl) {
    return static_cast<DtlsTransport*>(SSL_get_app_data(ssl));
  }

  // The write side of the SSL: a BIO that turns every write (one DTLS record or flight part,
  // never more than the MTU) into one outgoing datagram, queued until OpenSSL returns.
  static int bio_write(BIO* b, const char* data, int len) {
    auto* self = static_cast<DtlsTransport*>(BIO_get_data(b));
    if (self == nullptr || len < 0) return -1;
    const auto* p = reinterpret_cast<const std::uint8_t*>(data);
    self->pending_out_.emplace_back(p, p + len);
    return len;
  }
  static long bio_ctrl(BIO* b, int cmd, long, void*) {
    switch (cmd) {
      case BIO_CTRL_FLUSH:
        return 1;
      case BIO_CTRL_DGRAM_QUERY_MTU: {
        auto* self = static_cast<DtlsTransport*>(BIO_get_data(b));
        return self != nullptr ? static_cast<long>(self->options_.mtu) : 0;
      }
      case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:  // the MTU we are given is the datagram size
      case BIO_CTRL_WPENDING:
      case BIO_CTRL_PENDING:
      default:
        return 0;
    }
  }
  static int bio_create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
  }
  static int bio_destroy(BIO* b) {
    BIO_set_data(b, nullptr);
    return 1;
  }
  static BIO_METHOD* out_method() {
    static BIO_METHOD* method = [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sipws-dtls-out");
      if (m != nullptr) {
        BIO_meth_set_write(m, &DtlsCallbacks::bio_write);
        BIO_meth_set_ctrl(m, &DtlsCallbacks::bio_ctrl);
        BIO_meth_set_create(m, &DtlsCallbacks::bio_create);
        BIO_meth_set_destroy(m, &DtlsCallbacks::bio_destroy);
      }
      return m;  // lives for the process
    }();
    return method;
  }

  // Peer certificates are self-signed: no chain to trust. The leaf's fingerprint must equal
  // the one in the peer's SDP (RFC 5763 s.5, RFC 8122 s.5); nothing else is checked.
  static int verify(int /*preverify_ok*/, X509_STORE_CTX* store) {
    if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
    auto* ssl =
        static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    DtlsTransport* self = ssl != nullptr ? from(ssl) : nullptr;
    if (self == nullptr) return 0;
    if (self->peer_certificate_matches(X509_STORE_CTX_get_current_cert(store))) return 1;
    self->verify_error_ = "peer certificate does not match a=fingerprint";
    X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return 0;
  }

  // Retransmission timeouts (RFC 6347 s.4.2.4.1): initial_timeout, doubled up to max_timeout.
  static unsigned int timer(SSL* ssl, unsigned int previous_us) {
    const DtlsTransport* self = from(ssl);
    const std::uint64_t floor_us = DtlsOptions::kMinTimeout.count() * 1000;
    const std::uint64_t initial = std::max<std::uint64_t>(
        floor_us, self != nullptr ? self->options_.initial_timeout.count() * 1000 : 1'000'000);
    const std::uint64_t max = std::max<std::uint64_t>(
        initial, self != nullptr ? self->options_.max_timeout.count() * 1000 : 60'000'000);
    if (previous_us == 0) return static_cast<unsigned int>(std::min<std::uint64_t>(initial, max));
    return static_cast<unsigned int>(std::min<std::uint64_t>(std::uint64_t{previous_us} * 2, max));
  }
};

// ---------------------------------------------------------------------------------------------
// DtlsIdentity

std::shared_ptr<const DtlsIdentity> DtlsIdentity::generate(std::string_view common_name,
                                                           std::chrono::hours validity) {
  auto fail = [](const std::string& what) -> std::runtime_error {
    return std::runtime_error("DTLS identity: " + what + ": " + openssl_errors());
  };
  std::shared_ptr<DtlsIdentity> id(new DtlsIdentity());
  id->key_.reset(EVP_EC_gen("P-256"));
  if (!id->key_) throw fail("cannot generate an EC P-256 key");

  id->cert_.reset(X509_new());
  X509* cert = id->cert_.get();
  if (cert == nullptr || X509_set_version(cert, 2) != 1) throw fail("cannot create X509");
  std::unique_ptr<BIGNUM, BnFree> serial(BN_new());
  if (!serial || BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr) {
    throw fail("cannot set the serial number");
  }
  constexpr long kDay = 24L * 3600;
  const long seconds =
      static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(validity).count());
  if (X509_gmtime_adj(X509_getm_notBefore(cert), -kDay) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert), seconds) == nullptr) {
    throw fail("cannot set the validity");
  }
  X509_NAME* name = X509_get_subject_name(cert);
  const std::string cn(common_name);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1 ||
      X509_set_issuer_name(cert, name) != 1 || X509_set_pubkey(cert, id->key_.get()) != 1 ||
      X509_sign(cert, id->key_.get(), EVP_sha256()) <= 0) {
    throw fail("cannot sign the certificate");
  }
  id->fingerprint_sha256_ = fingerprint_of(cert, EVP_sha256());
  if (id->fingerprint_sha256_.empty()) throw fail("cannot hash the certificate");

  id->ctx_.reset(SSL_CTX_new(DTLS_method()));
  SSL_CTX* ctx = id->ctx_.get();
  if (ctx == nullptr) throw fail("cannot create SSL_CTX");
  if (SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) != 1 ||
      SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, id->key_.get()) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1 || SSL_CTX_set_cipher_list(ctx, kCiphers) != 1 ||
      SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    throw fail("cannot configure SSL_CTX");
  }
  // No MTU probing on our BIO, no tickets or resumption (one handshake per call), and no
  // renegotiation (it would change the SRTP keys under us).
  SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     &DtlsCallbacks::verify);
  return id;
}

std::optional<std::string> DtlsIdentity::fingerprint(std::string_view alg) const {
  const EVP_MD* md = digest_for(alg);
  if (md == nullptr) return std::nullopt;
  std::string fp = fingerprint_of(cert_.get(), md);
  if (fp.empty()) return std::nullopt;
  return fp;
}

// ---------------------------------------------------------------------------------------------
// DtlsTransport

std::string_view to_string(DtlsTransport::State s) {
  switch (s) {
    case DtlsTransport::State::New:
      return "new";
    case DtlsTransport::State::Connecting:
      return "connecting";
    case DtlsTransport::State::Connected:
      return "connected";
    case DtlsTransport::State::Failed:
      return "failed";
    case DtlsTransport::State::Closed:
      return "closed";
  }
  return "unknown";
}

DtlsTransport::DtlsTransport(std::shared_ptr<const DtlsIdentity> identity, DtlsRole role,
                             std::string remote_fingerprint_alg,
                             std::string_view remote_fingerprint, SendFn send, DtlsOptions options)
    : identity_(std::move(identity)),
      role_(role),
      remote_alg_(std::move(remote_fingerprint_alg)),
      remote_fingerprint_(text::to_upper(remote_fingerprint)),
      send_(std::move(send)),
      options_(std::move(options)) {
  if (!identity_ || !identity_->ctx_) {
    error_ = "no DTLS identity";
    return;
  }
  if (digest_for(remote_alg_) == nullptr) {
    error_ = "unsupported fingerprint algorithm '" + remote_alg_ + "'";
    return;
  }
  ERR_clear_error();
  ssl_.reset(SSL_new(identity_->ctx_.get()));
  BIO* out =
      DtlsCallbacks::out_method() != nullptr ? BIO_new(DtlsCallbacks::out_method()) : nullptr;
  std::unique_ptr<BIO, BioFree> in(BIO_new(BIO_s_mem()));
  if (!ssl_ || out == nullptr || !in) {
    if (out != nullptr) BIO_free(out);
    ssl_.reset();
    error_ = "cannot create SSL: " + openssl_errors();
    return;
  }
  BIO_set_data(out, this);
  BIO_set_mem_eof_return(in.get(), -1);  // empty means "retry later", not end of file
  SSL_set_bio(ssl_.get(), in.release(), out);
  SSL_set_app_data(ssl_.get(), this);
  DTLS_set_timer_cb(ssl_.get(), &DtlsCallbacks::timer);
  if (DTLS_set_link_mtu(ssl_.get(), static_cast<long>(options_.mtu)) != 1) {
    ssl_.reset();
    error_ = "MTU " + std::to_string(options_.mtu) + " too small for DTLS";
    return;
  }
  if (!options_.srtp_profiles.empty()) {
    std::string list;
    for (auto p : options_.srtp_profiles) {
      if (!list.empty()) list += ':';
      list += use_srtp_name(p);
    }
    if (SSL_set_tlsext_use_srtp(ssl_.get(), list.c_str()) != 0) {  // 0 means success
      ssl_.reset();
      error_ = "cannot set use_srtp: " + openssl_errors();
      return;
    }
  }
  if (role_ == DtlsRole::Client) {
    SSL_set_connect_state(ssl_.get());
  } else {
    SSL_set_accept_state(ssl_.get());
  }
}

DtlsTransport::~DtlsTransport() {
  OPENSSL_cleanse(keys_.local_master.data(), keys_.local_master.size());
  OPENSSL_cleanse(keys_.remote_master.data(), keys_.remote_master.size());
}

void DtlsTransport::start() {
  if (state_ != State::New) return;
  if (!ssl_) {
    state_ = State::Failed;  // error_ says why (constructor)
    return;
  }
  state_ = State::Connecting;
  if (role_ == DtlsRole::Client) handshake_step();
  flush();
}

void DtlsTransport::on_packet(std::span<const std::uint8_t> datagram) {
  if (state_ == State::New) start();
  if (state_ != State::Connecting && state_ != State::Connected) return;
  if (datagram.empty()) return;
  BIO* in = SSL_get_rbio(ssl_.get());
  if (BIO_write(in, datagram.data(), static_cast<int>(datagram.size())) <= 0) return;
  if (state_ == State::Connecting) {
    handshake_step();
  } else {
    read_step();
  }
  // Anything OpenSSL did not consume (a record it could not use) must not prefix the next
  // datagram.
  (void)BIO_reset(in);
  flush();
}

std::optional<Millis> DtlsTransport::next_timeout() const {
  if (state_ != State::Connecting && state_ != State::Connected) return std::nullopt;
  timeval tv{};
  if (DTLSv1_get_timeout(ssl_.get(), &tv) != 1) return std::nullopt;
  return Millis(static_cast<Millis::rep>(tv.tv_sec) * 1000 + (tv.tv_usec + 999) / 1000);
}

void DtlsTransport::on_timeout() {
  if (state_ != State::Connecting && state_ != State::Connected) return;
  ERR_clear_error();
  if (DTLSv1_handle_timeout(ssl_.get()) < 0) {
    fail("DTLS handshake timed out: " + openssl_errors());
  }
  flush();
}

void DtlsTransport::close() {
  if (state_ == State::Connected) {
    ERR_clear_error();
    SSL_shutdown(ssl_.get());  // queues close_notify; we do not wait for the peer's
    ERR_clear_error();
  }
  if (state_ != State::Failed) state_ = State::Closed;
  flush();
}

void DtlsTransport::handshake_step() {
  ERR_clear_error();
  const int r = SSL_do_handshake(ssl_.get());
  if (r == 1) {
    finish_handshake();
    if (state_ == State::Connected) read_step();  // records that followed the Finished
    return;
  }
  const int err = SSL_get_error(ssl_.get(), r);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
  if (!verify_error_.empty()) {
    fail(verify_error_);
  } else {
    std::string why = openssl_errors();
    const long vr = SSL_get_verify_result(ssl_.get());
    if (vr != X509_V_OK)
      why += std::string(why.empty() ? "" : "; ") + X509_verify_cert_error_string(vr);
    fail("DTLS handshake failed: " + (why.empty() ? "error " + std::to_string(err) : why));
  }
}

void DtlsTransport::finish_handshake() {
  // The verify callback already compared the fingerprint; check again on the certificate the
  // session ended up with, so that no path (e.g. a callback not run) yields Connected unchecked.
  if (!peer_certificate_matches(SSL_get0_peer_certificate(ssl_.get()))) {
    fail("peer certificate does not match a=fingerprint");
    return;
  }
  const SRTP_PROTECTION_PROFILE* p = SSL_get_selected_srtp_profile(ssl_.get());
  if (p == nullptr) {
    fail("no SRTP protection profile negotiated (use_srtp, RFC 5764 s.4.1.1)");
    return;
  }
  SrtpProfile profile;
  if (p->id == SRTP_AEAD_AES_128_GCM) {
    profile = SrtpProfile::AeadAes128Gcm;
  } else if (p->id == SRTP_AES128_CM_SHA1_80) {
    profile = SrtpProfile::Aes128CmSha1_80;
  } else {
    fail(std::string("unexpected SRTP profile ") + p->name);
    return;
  }
  // RFC 5764 s.4.2: client_write_key | server_write_key | client_write_salt | server_write_salt.
  const std::size_t key = srtp_key_length(profile);
  const std::size_t salt = srtp_salt_length(profile);
  std::vector<std::uint8_t> m(2 * (key + salt));
  if (SSL_export_keying_material(ssl_.get(), m.data(), m.size(), kExporterLabel,
                                 sizeof(kExporterLabel) - 1, nullptr, 0, 0) != 1) {
    fail("cannot export SRTP keying material: " + openssl_errors());
    return;
  }
  auto master = [&](bool client) {
    std::vector<std::uint8_t> out;
    out.reserve(key + salt);
    const auto* k = m.data() + (client ? 0 : key);
    const auto* s = m.data() + 2 * key + (client ? 0 : salt);
    out.insert(out.end(), k, k + key);
    out.insert(out.end(), s, s + salt);
    return out;
  };
  keys_.profile = profile;
  keys_.local_master = master(role_ == DtlsRole::Client);
  keys_.remote_master = master(role_ != DtlsRole::Client);
  OPENSSL_cleanse(m.data(), m.size());
  state_ = State::Connected;
}

void DtlsTransport::read_step() {
  std::uint8_t buf[2048];
  for (;;) {
    ERR_clear_error();
    const int n = SSL_read(ssl_.get(), buf, sizeof(buf));
    if (n > 0) continue;  // application data (e.g. SCTP): not ours to handle, dropped
    const int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_ZERO_RETURN) {  // the peer's close_notify
      state_ = State::Closed;
      return;
    }
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
    fail("DTLS error: " + openssl_errors());
    return;
  }
}

void DtlsTransport::fail(std::string why) {
  state_ = State::Failed;
  error_ = std::move(why);
}

bool DtlsTransport::peer_certificate_matches(x509_st* cert) const {
  const std::string fp = fingerprint_of(cert, digest_for(remote_alg_));
  return !fp.empty() && fp == remote_fingerprint_;
}

void DtlsTransport::flush() {
  while (!pending_out_.empty()) {
    auto batch = std::move(pending_out_);
    pending_out_.clear();
    for (const auto& d : batch) {
      if (send_) send_(d);
    }
  }
}

}  // namespace sipws::bridge
