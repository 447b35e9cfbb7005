#include "transport/tls.hpp"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace sipws::transport {
namespace {

namespace ssl = boost::asio::ssl;

// RAII for OpenSSL handles: one deleter per type, never a bare free.
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct ExtFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
struct BnFree {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
struct FileClose {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, ExtFree>;
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
using FilePtr = std::unique_ptr<std::FILE, FileClose>;

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error(what + ": " + path);
}

void restrict_to_tls12(ssl::context& ctx) {
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
}

/// Opens `path` for writing with `mode` (created or truncated; mode forced even if it existed).
FilePtr open_for_write(const std::string& path, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) fail("cannot create file", path);
  if (::fchmod(fd, mode) != 0) {
    ::close(fd);
    fail("cannot chmod file", path);
  }
  std::FILE* f = ::fdopen(fd, "w");
  if (f == nullptr) {
    ::close(fd);
    fail("cannot open file", path);
  }
  return FilePtr(f);
}

void add_ext(X509* cert, int nid, const char* value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &v3, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    throw std::runtime_error(std::string("cannot add certificate extension ") + value);
  }
}

}  // namespace

std::shared_ptr<ssl::context> make_server_tls_context(const std::string& cert_pem_path,
                                                      const std::string& key_pem_path) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  restrict_to_tls12(*ctx);
  ctx->set_options(ssl::context::single_dh_use);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert_pem_path, ec);
  if (ec) fail("cannot load TLS certificate (" + ec.message() + ")", cert_pem_path);
  ctx->use_private_key_file(key_pem_path, ssl::context::pem, ec);
  if (ec) fail("cannot load TLS private key (" + ec.message() + ")", key_pem_path);
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    fail("TLS private key does not match certificate " + cert_pem_path, key_pem_path);
  }
  return ctx;
}

/// A loaded certificate chain and key.
struct ServerCertificate::Pair {
  X509Ptr leaf;
  STACK_OF(X509) * chain = nullptr;  ///< the intermediates (owned)
  PkeyPtr key;
  ~Pair() {
    if (chain != nullptr) sk_X509_pop_free(chain, X509_free);
  }
};

namespace {

std::shared_ptr<const ServerCertificate::Pair> load_pair(const std::string& cert_path,
                                                         const std::string& key_path) {
  auto pair = std::make_shared<ServerCertificate::Pair>();
  FilePtr cf(std::fopen(cert_path.c_str(), "r"));
  if (!cf) fail("cannot read TLS certificate", cert_path);
  pair->leaf.reset(PEM_read_X509(cf.get(), nullptr, nullptr, nullptr));
  if (!pair->leaf) fail("no PEM certificate in", cert_path);
  pair->chain = sk_X509_new_null();
  if (pair->chain == nullptr) fail("out of memory loading", cert_path);
  while (X509* ca = PEM_read_X509(cf.get(), nullptr, nullptr, nullptr)) {
    if (sk_X509_push(pair->chain, ca) == 0) {
      X509_free(ca);
      fail("out of memory loading", cert_path);
    }
  }
  ERR_clear_error();  // the loop ends on "no start line"
  FilePtr kf(std::fopen(key_path.c_str(), "r"));
  if (!kf) fail("cannot read TLS private key", key_path);
  pair->key.reset(PEM_read_PrivateKey(kf.get(), nullptr, nullptr, nullptr));
  if (!pair->key) fail("no PEM private key in", key_path);
  if (X509_check_private_key(pair->leaf.get(), pair->key.get()) != 1) {
    ERR_clear_error();
    fail("TLS private key does not match certificate " + cert_path, key_path);
  }
  return pair;
}

}  // namespace

struct ServerCertificate::State {
  std::atomic<std::shared_ptr<const Pair>> current;
};

ServerCertificate::ServerCertificate(std::string cert_pem_path, std::string key_pem_path)
    : cert_path_(std::move(cert_pem_path)),
      key_path_(std::move(key_pem_path)),
      state_(std::make_unique<State>()) {
  state_->current.store(load_pair(cert_path_, key_path_));
}

ServerCertificate::~ServerCertificate() = default;

void ServerCertificate::reload() { state_->current.store(load_pair(cert_path_, key_path_)); }

void ServerCertificate::attach(ssl::context& ctx) {
  SSL_CTX_set_cert_cb(
      ctx.native_handle(),
      [](SSL* ssl, void* arg) -> int {
        auto* self = static_cast<ServerCertificate*>(arg);
        const auto pair = self->state_->current.load();
        // override = 1: replaces what the context was loaded with, for this connection only.
        return SSL_use_cert_and_key(ssl, pair->leaf.get(), pair->key.get(), pair->chain, 1) == 1
                   ? 1
                   : 0;
      },
      this);
}

std::string ServerCertificate::subject() const {
  const auto pair = state_->current.load();
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(pair->leaf.get()), buf, sizeof buf);
  return buf;
}

std::shared_ptr<ssl::context> make_client_tls_context(bool verify_peer,
                                                      const std::string& ca_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  restrict_to_tls12(*ctx);
  if (!verify_peer) {
    ctx->set_verify_mode(ssl::verify_none);
    return ctx;
  }
  ctx->set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
    if (ec) fail("cannot load the default TLS trust store (" + ec.message() + ")", "(default)");
  } else {
    ctx->load_verify_file(ca_file, ec);
    if (ec) fail("cannot load TLS CA file (" + ec.message() + ")", ca_file);
  }
  return ctx;
}

DevCertificate ensure_dev_certificate(const std::string& dir) {
  namespace fs = std::filesystem;
  DevCertificate out;
  out.cert_path = (fs::path(dir) / "sipws-dev.crt").string();
  out.key_path = (fs::path(dir) / "sipws-dev.key").string();
  std::error_code fec;
  if (fs::exists(out.cert_path, fec) && fs::exists(out.key_path, fec)) return out;
  fs::create_directories(dir, fec);
  if (fec) fail("cannot create directory (" + fec.message() + ")", dir);

  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) throw std::runtime_error("cannot generate EC P-256 key");

  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1) {
    throw std::runtime_error("cannot create X509 certificate");
  }
  BnPtr serial(BN_new());
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    throw std::runtime_error("cannot set certificate serial number");
  }
  constexpr long kOneYear = 365L * 24 * 3600;
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), kOneYear) == nullptr) {
    throw std::runtime_error("cannot set certificate validity");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("localhost"), -1, -1,
                                 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1 || X509_set_pubkey(cert.get(), key.get()) != 1) {
    throw std::runtime_error("cannot set certificate names");
  }
  add_ext(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert.get(), NID_key_usage, "critical,digitalSignature,keyAgreement");
  add_ext(cert.get(), NID_ext_key_usage, "serverAuth,clientAuth");
  add_ext(cert.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
    throw std::runtime_error("cannot sign certificate");
  }

  {
    FilePtr f = open_for_write(out.key_path, 0600);
    if (PEM_write_PrivateKey(f.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
      fail("cannot write private key", out.key_path);
    }
    if (std::fflush(f.get()) != 0) fail("cannot write private key", out.key_path);
  }
  {
    FilePtr f = open_for_write(out.cert_path, 0644);
    if (PEM_write_X509(f.get(), cert.get()) != 1) fail("cannot write certificate", out.cert_path);
    if (std::fflush(f.get()) != 0) fail("cannot write certificate", out.cert_path);
  }
  return out;
}

}  // namespace sipws::transport
