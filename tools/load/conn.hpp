#pragma once
// One sipws-load connection over a raw non-blocking socket driven by its thread's epoll loop
// (edge-triggered, registered once): UDP (connected socket, one datagram = one message), TCP
// (Content-Length framing, RFC 3261 s.18.3), WS and WSS (RFC 6455 client or server side, one
// text frame = one SIP message, RFC 7118 s.6; pings answered with pongs). OpenSSL for WSS.
// Thread: the owning generator thread only.

#include <netinet/in.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "stats.hpp"

namespace sipws::load {

enum class Proto { Udp, Tcp, Ws, Wss };
const char* proto_name(Proto p);

/// A parsed --target / --listen: ws://HOST:PORT[/path], wss://..., udp:HOST:PORT, tcp:HOST:PORT.
/// HOST must be an IPv4 literal or "localhost" (no DNS in a load generator's hot path).
struct Url {
  Proto proto = Proto::Ws;
  std::string host;
  std::uint16_t port = 0;
  std::string path = "/";
  sockaddr_in addr{};
};
/// nullopt with `error` set when `s` is not one of the forms above.
std::optional<Url> parse_url(std::string_view s, std::string& error);
/// Parses an IPv4 literal (or "localhost") into `out`.
bool parse_ipv4(std::string_view host, in_addr& out);

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
/// The client context for WSS; `verify`: check the server certificate against the system store.
SslCtxPtr make_client_ssl_ctx(bool verify);

/// The UDP client flows of one thread share one connected socket (as SIPp's `-t u1` does):
/// requests are queued and leave in one sendmmsg per loop iteration, responses arrive in
/// recvmmsg batches and are routed to their flow by the Via branch. Thread: its Worker's.
class UdpBatch {
 public:
  UdpBatch() = default;
  ~UdpBatch();
  UdpBatch(const UdpBatch&) = delete;
  UdpBatch& operator=(const UdpBatch&) = delete;
  /// Opens the socket (bound to `source` if given) and connects it to `target`.
  bool open(const Url& target, const in_addr* source, std::string& error);
  /// Queues one datagram; sends the batch when it is full.
  void queue(std::string_view msg);
  /// Sends what is queued (datagrams the kernel refuses are lost: the operation times out).
  void flush();
  int fd() const { return fd_; }
  const sockaddr_in& local() const { return local_; }

 private:
  static constexpr std::size_t kBatch = 64;
  int fd_ = -1;
  sockaddr_in local_{};
  std::string bufs_[kBatch];
  std::size_t n_ = 0;
};

class Conn;

/// What a Conn reports to its owner. Called on the owning thread, from inside Conn::on_event or
/// Conn::start_client; the handler may call send() or close() on the Conn.
class ConnHandler {
 public:
  virtual ~ConnHandler() = default;
  virtual void on_open(Conn& c) = 0;
  /// One complete SIP message; `msg` is valid during the call only.
  virtual void on_message(Conn& c, std::string_view msg) = 0;
  /// The connection is gone (`why`), once; `was_open`: on_open had been called.
  virtual void on_closed(Conn& c, ErrorKind why, bool was_open) = 0;
};

class Conn {
 public:
  enum class State { Idle, Connecting, Tls, Upgrade, Open, Closed };

  /// `id` goes into the epoll data so that the loop finds this Conn again.
  Conn(ConnHandler& h, int epfd, std::uint64_t id) : h_(h), epfd_(epfd), id_(id) {}
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  /// Client: opens a non-blocking socket to `u` (bound to `source` if given) and starts the
  /// connect / TLS / upgrade sequence; on_open follows (at once for UDP). On failure calls
  /// on_closed(Connect) and returns false.
  bool start_client(const Url& u, const in_addr* source, SSL_CTX* tls, std::string_view host_port);
  /// Client over the thread's shared UDP socket: open at once (on_open is called).
  void start_shared_udp(UdpBatch& b);
  /// Server (respond mode): adopts an accepted socket of protocol `p` (Tcp or Ws).
  void adopt_server(int fd, Proto p);
  /// Handles epoll events for this Conn.
  void on_event(std::uint32_t events);
  /// Sends one SIP message (framed for WS/WSS). Errors close the Conn.
  void send(std::string_view sip);
  /// Closes now (a WS close frame is attempted first when open); on_closed(why) once.
  void close(ErrorKind why);

  State state() const { return state_; }
  bool open() const { return state_ == State::Open; }
  Proto proto() const { return proto_; }
  std::uint64_t id() const { return id_; }
  /// The local address after the connect (Via/Contact of UDP and TCP).
  const sockaddr_in& local() const { return local_; }
  /// Why the last WS upgrade or TLS handshake failed (for --quiet-less diagnostics).
  const std::string& last_error() const { return last_error_; }

 private:
  void connected();
  void tls_step();
  void flush();
  void read_all();
  /// Handles bytes of an open or upgrading stream; returns false if the Conn closed.
  bool consume(char* data, std::size_t len, std::size_t& used);
  bool deliver(std::string_view msg);
  void fail(ErrorKind why, std::string msg);

  ConnHandler& h_;
  int epfd_;
  std::uint64_t id_;
  int fd_ = -1;
  Proto proto_ = Proto::Udp;
  bool server_ = false;
  bool was_open_ = false;
  State state_ = State::Idle;
  std::unique_ptr<SSL, SslDeleter> ssl_;
  UdpBatch* batch_ = nullptr;
  std::string ws_key_;
  std::string in_, out_, frag_;
  std::uint32_t mask_state_ = 0x9e3779b9u;
  sockaddr_in local_{};
  std::string last_error_;
};

}  // namespace sipws::load
