#include "transport/tls_engine.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>

namespace sipws::transport {
namespace {

using Io = TlsEngine::Io;

Io& io_of(BIO* b) { return *static_cast<Io*>(BIO_get_data(b)); }

/// Ciphertext for the peer: appended to the caller's string (never blocks, never fails).
int bio_write(BIO* b, const char* data, int len) {
  BIO_clear_retry_flags(b);
  Io& io = io_of(b);
  if (io.out == nullptr || len < 0) return -1;  // outside a call: sipws bug, OpenSSL fails
  io.out->append(data, static_cast<std::size_t>(len));
  return len;
}

/// Ciphertext from the peer: taken from the caller's view; "retry" once it is empty.
int bio_read(BIO* b, char* data, int len) {
  BIO_clear_retry_flags(b);
  Io& io = io_of(b);
  if (io.in == nullptr || io.in->empty() || len <= 0) {
    BIO_set_retry_read(b);
    return -1;
  }
  const std::size_t n = std::min(io.in->size(), static_cast<std::size_t>(len));
  std::memcpy(data, io.in->data(), n);
  io.in->remove_prefix(n);
  return static_cast<int>(n);
}

long bio_ctrl(BIO*, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:  // every write is already in the caller's string
      return 1;
    default:  // no pending bytes, no kTLS, no push/pop
      return 0;
  }
}

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

/// The BIO method, made once per process and never freed (OpenSSL keeps a pointer per BIO).
const BIO_METHOD* borrowed_buffer_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sipws borrowed buffers");
    if (m != nullptr) {
      BIO_meth_set_write(m, bio_write);
      BIO_meth_set_read(m, bio_read);
      BIO_meth_set_ctrl(m, bio_ctrl);
      BIO_meth_set_create(m, bio_create);
    }
    return m;
  }();
  return method;
}

/// Sets `io` for the duration of one OpenSSL call.
class IoScope {
 public:
  IoScope(Io& io, std::string_view* in, std::string* out) : io_(io) {
    io_.in = in;
    io_.out = out;
    ERR_clear_error();  // SSL_get_error needs a clean queue
  }
  ~IoScope() { io_ = Io{}; }
  IoScope(const IoScope&) = delete;
  IoScope& operator=(const IoScope&) = delete;

 private:
  Io& io_;
};

}  // namespace

std::unique_ptr<TlsEngine> TlsEngine::make_server(SSL_CTX* ctx) {
  const BIO_METHOD* method = borrowed_buffer_method();
  if (ctx == nullptr || method == nullptr) return nullptr;
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) return nullptr;
  std::unique_ptr<TlsEngine> engine(new TlsEngine(ssl));
  BIO* bio = BIO_new(method);
  if (bio == nullptr) return nullptr;
  BIO_set_data(bio, &engine->io_);
  SSL_set_bio(ssl, bio, bio);  // one reference, owned by the SSL from now on
  SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
  SSL_set_accept_state(ssl);
  return engine;
}

TlsEngine::~TlsEngine() = default;

void TlsEngine::fail(const char* what, int ret) {
  const unsigned long e = ERR_peek_last_error();
  char buf[256];
  if (e != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
  } else {
    std::snprintf(buf, sizeof buf, "SSL error %d", SSL_get_error(ssl_.get(), ret));
  }
  error_ = std::string(what) + ": " + buf;
  ERR_clear_error();
}

TlsEngine::Status TlsEngine::read(std::string_view& in, char* plain, std::size_t cap,
                                  std::size_t& got, std::string& out) {
  got = 0;
  IoScope scope(io_, &in, &out);
  const int want = static_cast<int>(std::min<std::size_t>(cap, INT_MAX));
  const int r = SSL_read(ssl_.get(), plain, want);
  if (r > 0) {
    got = static_cast<std::size_t>(r);
    return Status::Data;
  }
  switch (SSL_get_error(ssl_.get(), r)) {
    case SSL_ERROR_WANT_READ:
      return Status::NeedInput;
    case SSL_ERROR_ZERO_RETURN:
      return Status::Closed;
    default:
      fail("TLS read", r);
      return Status::Failed;
  }
}

bool TlsEngine::write(const char* data, std::size_t size, std::string& out) {
  if (size == 0) return true;
  IoScope scope(io_, nullptr, &out);
  std::size_t written = 0;
  const int r = SSL_write_ex(ssl_.get(), data, size, &written);
  if (r == 1 && written == size) return true;
  fail("TLS write", r);
  return false;
}

void TlsEngine::shutdown(std::string& out) {
  if (!handshake_done() || (SSL_get_shutdown(ssl_.get()) & SSL_SENT_SHUTDOWN) != 0) return;
  IoScope scope(io_, nullptr, &out);
  SSL_shutdown(ssl_.get());  // 0: close_notify sent, the peer's not awaited (the caller decides)
  ERR_clear_error();
}

bool TlsEngine::handshake_done() const { return SSL_is_init_finished(ssl_.get()) == 1; }

}  // namespace sipws::transport
