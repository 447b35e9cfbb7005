#include "conn.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "sip_text.hpp"
#include "ws_client.hpp"

namespace sipws::load {
namespace {

constexpr std::size_t kReadChunk = std::size_t{64} * 1024;
constexpr std::size_t kMaxMessage = std::size_t{1024} * 1024;

/// One receive buffer per generator thread: reads land here, only leftovers are copied.
thread_local char t_rbuf[kReadChunk];

}  // namespace

const char* proto_name(Proto p) {
  switch (p) {
    case Proto::Udp:
      return "udp";
    case Proto::Tcp:
      return "tcp";
    case Proto::Ws:
      return "ws";
    case Proto::Wss:
      return "wss";
  }
  return "?";
}

bool parse_ipv4(std::string_view host, in_addr& out) {
  std::string h(host == "localhost" ? "127.0.0.1" : host);
  return inet_pton(AF_INET, h.c_str(), &out) == 1;
}

std::optional<Url> parse_url(std::string_view s, std::string& error) {
  Url u;
  std::string_view rest;
  if (s.starts_with("ws://")) {
    u.proto = Proto::Ws;
    rest = s.substr(5);
  } else if (s.starts_with("wss://")) {
    u.proto = Proto::Wss;
    rest = s.substr(6);
  } else if (s.starts_with("udp:")) {
    u.proto = Proto::Udp;
    rest = s.substr(4);
  } else if (s.starts_with("tcp:")) {
    u.proto = Proto::Tcp;
    rest = s.substr(4);
  } else {
    error =
        "expected ws://HOST:PORT[/path], wss://HOST:PORT[/path], udp:HOST:PORT or tcp:HOST:PORT";
    return std::nullopt;
  }
  if (u.proto == Proto::Ws || u.proto == Proto::Wss) {
    std::size_t slash = rest.find('/');
    if (slash != std::string_view::npos) {
      u.path = std::string(rest.substr(slash));
      rest = rest.substr(0, slash);
    }
  }
  std::size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) {
    error = "missing :PORT";
    return std::nullopt;
  }
  u.host = std::string(rest.substr(0, colon));
  std::string_view port = rest.substr(colon + 1);
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), u.port);
  if (ec != std::errc() || p != port.data() + port.size()) {
    error = "bad port '" + std::string(port) + "'";
    return std::nullopt;
  }
  u.addr.sin_family = AF_INET;
  u.addr.sin_port = htons(u.port);
  if (!parse_ipv4(u.host, u.addr.sin_addr)) {
    error = "host must be an IPv4 address or localhost: '" + u.host + "'";
    return std::nullopt;
  }
  return u;
}

SslCtxPtr make_client_ssl_ctx(bool verify) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return ctx;
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (verify) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_default_verify_paths(ctx.get());
  } else {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  }
  return ctx;
}

UdpBatch::~UdpBatch() {
  if (fd_ >= 0) ::close(fd_);
}

bool UdpBatch::open(const Url& target, const in_addr* source, std::string& error) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  int big = 4 * 1024 * 1024;
  setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  if (source) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr = *source;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      error = std::string("bind: ") + std::strerror(errno);
      return false;
    }
  }
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&target.addr), sizeof target.addr) != 0) {
    error = std::string("connect: ") + std::strerror(errno);
    return false;
  }
  socklen_t len = sizeof local_;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&local_), &len);
  for (auto& b : bufs_) b.reserve(2048);
  return true;
}

void UdpBatch::queue(std::string_view msg) {
  if (n_ == kBatch) flush();
  bufs_[n_++].assign(msg);
}

void UdpBatch::flush() {
  if (n_ == 0) return;
  mmsghdr m[kBatch];
  iovec iov[kBatch];
  for (std::size_t i = 0; i < n_; ++i) {
    iov[i] = {bufs_[i].data(), bufs_[i].size()};
    m[i] = {};
    m[i].msg_hdr.msg_iov = &iov[i];
    m[i].msg_hdr.msg_iovlen = 1;
  }
  for (std::size_t sent = 0, round = 0; sent < n_ && round < 8; ++round) {
    int r = ::sendmmsg(fd_, m + sent, static_cast<unsigned>(n_ - sent), MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNREFUSED) continue;  // an earlier datagram's ICMP; retry the rest
      break;                                // EAGAIN: dropped, the operations time out
    }
    sent += static_cast<std::size_t>(r);
  }
  n_ = 0;
}

void Conn::start_shared_udp(UdpBatch& b) {
  proto_ = Proto::Udp;
  batch_ = &b;
  local_ = b.local();
  state_ = State::Open;
  was_open_ = true;
  h_.on_open(*this);
}

Conn::~Conn() {
  if (fd_ >= 0) ::close(fd_);
}

bool Conn::start_client(const Url& u, const in_addr* source, SSL_CTX* tls,
                        std::string_view host_port) {
  proto_ = u.proto;
  server_ = false;
  int type = proto_ == Proto::Udp ? SOCK_DGRAM : SOCK_STREAM;
  fd_ = ::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    fail(ErrorKind::Connect, std::string("socket: ") + std::strerror(errno));
    return false;
  }
  if (type == SOCK_STREAM) {
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (source) {
    int one = 1;
#ifdef IP_BIND_ADDRESS_NO_PORT
    setsockopt(fd_, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr = *source;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      fail(ErrorKind::Connect, std::string("bind: ") + std::strerror(errno));
      return false;
    }
  }
  if (proto_ == Proto::Wss) {
    ssl_.reset(SSL_new(tls));
    SSL_set_fd(ssl_.get(), fd_);
    SSL_set_connect_state(ssl_.get());
    std::string sni(u.host);
    SSL_set_tlsext_host_name(ssl_.get(), sni.c_str());
  }
  if (proto_ == Proto::Ws || proto_ == Proto::Wss) {
    ws_key_ = ws::make_key();
    out_ = ws::client_upgrade(host_port, u.path, ws_key_);
  }
  epoll_event ev{};
  // UDP: level-triggered, one datagram per event (no EAGAIN read per message); streams:
  // edge-triggered, read until a short read.
  ev.events = proto_ == Proto::Udp ? EPOLLIN : (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  ev.data.u64 = id_;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd_, &ev) != 0) {
    fail(ErrorKind::Connect, std::string("epoll_ctl: ") + std::strerror(errno));
    return false;
  }
  state_ = State::Connecting;
  int r = ::connect(fd_, reinterpret_cast<const sockaddr*>(&u.addr), sizeof u.addr);
  if (r != 0 && errno != EINPROGRESS) {
    fail(ErrorKind::Connect, std::string("connect: ") + std::strerror(errno));
    return false;
  }
  if (proto_ == Proto::Udp) connected();
  return state_ != State::Closed;
}

void Conn::adopt_server(int fd, Proto p) {
  fd_ = fd;
  proto_ = p;
  server_ = true;
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = id_;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, fd_, &ev);
  state_ = p == Proto::Ws ? State::Upgrade : State::Open;
  if (state_ == State::Open) {
    was_open_ = true;
    h_.on_open(*this);
  }
  if (state_ != State::Closed) read_all();
}

void Conn::fail(ErrorKind why, std::string msg) {
  last_error_ = std::move(msg);
  close(why);
}

void Conn::close(ErrorKind why) {
  if (state_ == State::Closed) return;
  if (state_ == State::Open && (proto_ == Proto::Ws || proto_ == Proto::Wss) && fd_ >= 0) {
    out_.clear();
    ws::append_frame(out_, ws::kClose, std::string_view("\x03\xe8", 2), !server_, mask_state_);
    if (ssl_) {
      SSL_write(ssl_.get(), out_.data(), static_cast<int>(out_.size()));
    } else {
      [[maybe_unused]] auto n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
    }
  }
  state_ = State::Closed;
  if (fd_ >= 0) {
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd_, nullptr);
    ssl_.reset();
    ::close(fd_);
    fd_ = -1;
  }
  in_.clear();
  in_.shrink_to_fit();
  out_.clear();
  out_.shrink_to_fit();
  frag_.clear();
  h_.on_closed(*this, why, was_open_);
}

void Conn::connected() {
  socklen_t len = sizeof local_;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&local_), &len);
  if (proto_ == Proto::Wss) {
    state_ = State::Tls;
    tls_step();
    return;
  }
  if (proto_ == Proto::Ws) {
    state_ = State::Upgrade;
    flush();
    return;
  }
  state_ = State::Open;
  was_open_ = true;
  h_.on_open(*this);
}

void Conn::tls_step() {
  int r = SSL_do_handshake(ssl_.get());
  if (r == 1) {
    state_ = State::Upgrade;
    flush();
    return;
  }
  int e = SSL_get_error(ssl_.get(), r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  fail(ErrorKind::Connect, std::string("TLS handshake: ") + buf);
}

void Conn::on_event(std::uint32_t events) {
  if (state_ == State::Closed) return;
  if (state_ == State::Connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      fail(ErrorKind::Connect, std::string("connect: ") + std::strerror(err));
      return;
    }
    if (!(events & (EPOLLOUT | EPOLLIN))) return;
    connected();
    if (state_ == State::Closed) return;
  }
  if (state_ == State::Tls) {
    tls_step();
    if (state_ != State::Upgrade) return;
  }
  if (!out_.empty()) flush();
  if (state_ == State::Closed) return;
  read_all();
  if (state_ != State::Closed && (events & (EPOLLERR | EPOLLHUP)) && proto_ != Proto::Udp) {
    close(was_open_ ? ErrorKind::Closed : ErrorKind::Connect);
  }
}

void Conn::send(std::string_view sip) {
  if (state_ != State::Open) return;
  if (batch_) {
    batch_->queue(sip);
    return;
  }
  if (proto_ == Proto::Udp) {
    if (::send(fd_, sip.data(), sip.size(), MSG_NOSIGNAL) < 0 && errno != EAGAIN &&
        errno != ECONNREFUSED) {
      fail(ErrorKind::Closed, std::string("send: ") + std::strerror(errno));
    }
    return;
  }
  if (proto_ == Proto::Tcp) {
    out_.append(sip);
  } else {
    mask_state_ ^= mask_state_ << 13;  // xorshift32: a fresh masking key per frame
    mask_state_ ^= mask_state_ >> 17;
    mask_state_ ^= mask_state_ << 5;
    ws::append_frame(out_, ws::kText, sip, !server_, mask_state_);
  }
  flush();
}

void Conn::flush() {
  while (!out_.empty() && state_ != State::Closed) {
    ssize_t n;
    if (ssl_) {
      int r = SSL_write(ssl_.get(), out_.data(), static_cast<int>(out_.size()));
      if (r <= 0) {
        int e = SSL_get_error(ssl_.get(), r);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return;
        fail(was_open_ ? ErrorKind::Closed : ErrorKind::Connect, "TLS write failed");
        return;
      }
      n = r;
    } else {
      n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        fail(was_open_ ? ErrorKind::Closed : ErrorKind::Connect,
             std::string("send: ") + std::strerror(errno));
        return;
      }
    }
    if (static_cast<std::size_t>(n) == out_.size()) {
      out_.clear();
    } else {
      out_.erase(0, static_cast<std::size_t>(n));
    }
  }
}

void Conn::read_all() {
  for (;;) {
    if (state_ == State::Closed) return;
    ssize_t n;
    if (ssl_) {
      int r = SSL_read(ssl_.get(), t_rbuf, sizeof t_rbuf);
      if (r <= 0) {
        int e = SSL_get_error(ssl_.get(), r);
        if (e == SSL_ERROR_WANT_READ) return;
        if (e == SSL_ERROR_WANT_WRITE) return;
        fail(was_open_ ? ErrorKind::Closed : ErrorKind::Connect, "TLS connection closed");
        return;
      }
      n = r;
    } else {
      n = ::recv(fd_, t_rbuf, sizeof t_rbuf, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        if (proto_ == Proto::Udp && errno == ECONNREFUSED) continue;  // ICMP of an earlier send
        fail(was_open_ ? ErrorKind::Closed : ErrorKind::Connect,
             std::string("recv: ") + std::strerror(errno));
        return;
      }
      if (n == 0 && proto_ != Proto::Udp) {
        fail(was_open_ ? ErrorKind::Closed : ErrorKind::Connect, "closed by the peer");
        return;
      }
    }
    if (proto_ == Proto::Udp) {
      if (n > 0) deliver(std::string_view(t_rbuf, static_cast<std::size_t>(n)));
      return;  // level-triggered: the next datagram comes with the next event
    }
    std::size_t used = 0;
    if (in_.empty()) {
      if (!consume(t_rbuf, static_cast<std::size_t>(n), used)) return;
      if (used < static_cast<std::size_t>(n))
        in_.assign(t_rbuf + used, static_cast<std::size_t>(n) - used);
    } else {
      in_.append(t_rbuf, static_cast<std::size_t>(n));
      if (!consume(in_.data(), in_.size(), used)) return;
      in_.erase(0, used);
    }
    if (in_.size() > kMaxMessage + 16) {
      fail(ErrorKind::Parse, "message over 1 MiB");
      return;
    }
    // A short read drained the socket: the next bytes raise a new edge. TLS may hold
    // decrypted records, so it reads on until WANT_READ.
    if (!ssl_ && static_cast<std::size_t>(n) < sizeof t_rbuf) return;
  }
}

bool Conn::consume(char* data, std::size_t len, std::size_t& used) {
  used = 0;
  while (used < len) {
    if (state_ == State::Closed) return false;
    char* p = data + used;
    std::size_t left = len - used;
    if (state_ == State::Upgrade) {
      std::size_t consumed = 0;
      if (server_) {
        std::string reply;
        ws::Parse r = ws::accept_upgrade(std::string_view(p, left), consumed, reply);
        if (r == ws::Parse::NeedMore) return true;
        out_.append(reply);
        flush();
        if (r == ws::Parse::Bad) {
          fail(ErrorKind::Parse, "bad upgrade request");
          return false;
        }
      } else {
        std::string err;
        ws::Parse r = ws::check_upgrade_response(std::string_view(p, left), ws_key_, consumed, err);
        if (r == ws::Parse::NeedMore) return true;
        if (r == ws::Parse::Bad) {
          fail(ErrorKind::Connect, err);
          return false;
        }
      }
      used += consumed;
      state_ = State::Open;
      was_open_ = true;
      h_.on_open(*this);
      continue;
    }
    if (state_ != State::Open) return true;
    if (proto_ == Proto::Tcp) {
      std::size_t n = stream_message_length(std::string_view(p, left));
      if (n == 0) return true;
      if (n == std::string_view::npos) {
        fail(ErrorKind::Parse, "bad stream framing");
        return false;
      }
      used += n;
      if (n > 2 && !deliver(std::string_view(p, n))) return false;
      continue;
    }
    ws::Frame f;
    ws::Parse r = ws::decode_frame(p, left, kMaxMessage, f);
    if (r == ws::Parse::NeedMore) return true;
    if (r == ws::Parse::Bad) {
      fail(ErrorKind::Parse, "bad WebSocket frame");
      return false;
    }
    used += f.consumed;
    switch (f.opcode) {
      case ws::kPing: {
        std::string pong;
        ws::append_frame(pong, ws::kPong, f.payload, !server_, mask_state_);
        out_.append(pong);
        flush();
        break;
      }
      case ws::kPong:
        break;
      case ws::kClose: {
        std::string why = "WebSocket close from the peer";
        if (f.payload.size() >= 2) {
          auto code = static_cast<unsigned>((static_cast<unsigned char>(f.payload[0]) << 8) |
                                            static_cast<unsigned char>(f.payload[1]));
          why.append(" (").append(std::to_string(code));
          if (f.payload.size() > 2) why.append(" ").append(f.payload.substr(2));
          why.append(")");
        }
        fail(ErrorKind::Closed, why);
        return false;
      }
      default:
        if (f.fin && frag_.empty()) {
          if (!deliver(f.payload)) return false;
        } else {
          frag_.append(f.payload);
          if (f.fin) {
            std::string whole;
            whole.swap(frag_);
            if (!deliver(whole)) return false;
          }
        }
    }
  }
  return true;
}

bool Conn::deliver(std::string_view msg) {
  h_.on_message(*this, msg);
  return state_ != State::Closed;
}

}  // namespace sipws::load
