#pragma once
// SIP over WebSocket listener (RFC 7118). sipws owns the sockets and the TLS; websocketpp runs
// the WebSocket protocol on its iostream transport. This header shows no websocketpp type: the
// rest of sipws is C++20 and websocketpp 0.8.2 compiles only as C++17 (see CMakeLists.txt).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/net.hpp"
#include "common/timer.hpp"
#include "transport/connection_limiter.hpp"
#include "transport/flow.hpp"

namespace sipws::ws {

/// Hands one complete SIP message (one WebSocket message) to the SIP stack, stamped with its
/// Source (protocol WS/WSS, peer, local, FlowId). The daemon binds it to
/// transport::TransportLayer::deliver.
using DeliverFn = std::function<void(std::shared_ptr<const std::string> bytes, const Source& src)>;

/// What the opening handshake offers, for the handshake auth hook (RFC 7118 s.7 leaves
/// WebSocket-level authentication to the server: session cookie, HTTP Digest...).
struct HandshakeRequest {
  Endpoint peer;
  std::string resource;       ///< request target, e.g. "/" or "/ws?token=..."
  std::string origin;         ///< Origin header ("" if absent)
  std::string cookie;         ///< Cookie header ("" if absent)
  std::string authorization;  ///< Authorization header ("" if absent)
};

/// The hook's answer: `status` 0 accepts the upgrade; any other value (401, 403...) refuses it
/// with that HTTP status and `headers` (e.g. WWW-Authenticate for a Digest challenge).
/// An accepted upgrade with a non-empty `identity` ("user@domain") has it bound to the new flow
/// (transport::FlowTable::bind_identity) before the flow carries any message.
struct HandshakeVerdict {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string identity;
};

/// Called once per upgrade that offers `sip` and passes the Origin check. Synchronous, must not
/// block. Thread: core io thread.
using HandshakeAuthFn = std::function<HandshakeVerdict(const HandshakeRequest&)>;

/// A plain HTTP(S) request (not an upgrade) on the WS/WSS port, for the HTTP hook (the session
/// login endpoint of RFC 7118 s.7 handshake auth). The body is read up to 64 KiB (larger: 413).
struct HttpRequest {
  Endpoint peer;
  std::string method;         ///< "POST", "GET"...
  std::string resource;       ///< request target, e.g. "/login"
  std::string host;           ///< Host header
  std::string content_type;   ///< Content-Type header ("" if absent)
  std::string cookie;         ///< Cookie header ("" if absent)
  std::string origin;         ///< Origin header ("" if absent)
  std::string authorization;  ///< Authorization header ("" if absent)
  std::string body;
  bool secure = false;  ///< true on a WSS (HTTPS) listener
};

/// The answer to an HttpRequest.
struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  ///< appended as given (Set-Cookie)
  std::string body;
};

/// Called for every plain HTTP request before static files. Returns false to leave the request
/// to the static files (or 426 without www_root); true if it took it, and then calls `reply`
/// exactly once, at once or later (the listener defers the HTTP response meanwhile, so the hook
/// may wait for the store). Thread: core io thread, for the call and for `reply`.
using HttpHandlerFn =
    std::function<bool(const HttpRequest& req, std::function<void(HttpResponse)> reply)>;

struct ListenerConfig {
  Endpoint listen;                                 ///< port 0 picks a free port
  std::shared_ptr<boost::asio::ssl::context> tls;  ///< set => WSS, else WS
  std::string www_root;                  ///< if not empty, plain HTTP(S) GETs are served from here
  std::size_t max_message_size = 65535;  ///< bytes per WS message; larger closes with 1009
  Millis ping_interval{30000};           ///< idle time before a WS ping; 0 disables pings
  Millis pong_timeout{10000};            ///< no pong/traffic within this after a ping => close
  /// If not empty, an upgrade's Origin must match one of these: exact origins
  /// ("https://example.com:8443") or wildcard hosts ("https://*.example.com"), see OriginPolicy;
  /// else it is refused with 403 (counted as ws_origin_rejected). Plain GETs are not checked.
  /// @throws std::invalid_argument from the Listener constructor for a malformed entry.
  std::vector<std::string> allowed_origins;
  /// An upgrade without an Origin header (native clients) passes the Origin check.
  bool allow_no_origin = true;
  HandshakeAuthFn handshake_auth;  ///< optional; refusals counted as ws_auth_rejected
  /// Connection limits, shared by every WS/WSS listener of the daemon (null = no limits). A
  /// connection counts from TCP accept until it closes; one over the total limit gets HTTP 503,
  /// one over the per-IP limit 429, both with Retry-After (ws_limit_total_rejected,
  /// ws_limit_per_ip_rejected), when its request arrives.
  std::shared_ptr<transport::ConnectionLimiter> limiter;
  /// TCP accepted (TLS included) but no complete upgrade (or plain HTTP exchange) within this:
  /// the connection is dropped (slowloris; counted as ws_handshake_timeouts). Must be > 0.
  Millis handshake_timeout{10000};
  /// Upgraded but no WS message within this: closed with 1008 (ws_first_message_timeouts);
  /// 0 disables.
  Millis first_message_timeout{30000};
  /// After sipws sends a close frame that waits for the peer's (1000 from Flow::close, 1001 from
  /// stop(); RFC 6455 s.7.1.2), a peer that does not answer within this is dropped (TCP
  /// connection closed). Must be > 0. Close frames for errors (1002, 1007, 1008, 1009) drop the
  /// connection once written, without waiting.
  Millis close_handshake_timeout{2000};
  /// Messages per second per flow (token bucket holding one second's worth); a flow above it is
  /// closed with 1008 (ws_rate_limited) and the excess message dropped. 0 disables.
  unsigned max_message_rate = 0;
  /// Bytes a flow may have waiting for its peer to read (what the kernel's socket buffer did
  /// not take): a message that would go past it is not sent, and the flow is dropped at once (TCP
  /// closed, counted as ws_send_queue_overflows): a peer that stops reading cannot make sipws
  /// hold more than this for it. 0: no bound.
  std::size_t max_send_queue = 262144;
  HttpHandlerFn http_handler;  ///< optional; plain HTTP requests (e.g. POST /login)
  /// The subprotocol an upgrade must offer, which the 101 selects: `sip` (RFC 7118 s.4.1); the
  /// admin listener's events socket takes `sipws-events` instead.
  std::string subprotocol = "sip";
  /// Sets SO_REUSEPORT on the listening socket, so that the listeners of several shards (one
  /// io_context each) bind the same address and port and the kernel spreads connections over
  /// them. Every listener sharing the port must set it; without it a second start() on a bound
  /// port throws std::system_error. The first shard may bind port 0, the others then bind the
  /// port it got (local_endpoint()).
  bool reuse_port = false;
};

class ListenerImpl;

/// Accepts WebSocket upgrades that offer the `sip` subprotocol (RFC 7118 s.4; others are
/// refused with HTTP 400) and Sec-WebSocket-Version 13 (RFC 6455 s.4.2.2: any other version, or
/// none as in hixie-76, gets 426 with `Sec-WebSocket-Version: 13`, counted as ws_bad_version;
/// websocketpp's hixie/hybi-07/08 processors never run). Creates one transport::Flow per
/// connection in `flows`, passes each WS message (text or binary frame) to `deliver`, removes
/// the flow on close, and pings idle flows. Close codes it sends: 1000 (Flow::close), 1001
/// (stop), 1002 (WS protocol error), 1007 (invalid UTF-8 in a text message), 1008 (message
/// rate, no first message), 1009 (message over max_message_size). A flow that ends without a
/// closing handshake from the peer (TCP reset/EOF, keep-alive timeout) is counted as
/// ws_flows_dead. Thread: core io thread.
class Listener {
 public:
  /// `timers` is the clock and the timers of every deadline (handshake, first message, pong,
  /// close handshake, shutdown), of the keep-alive sweep and of the accept retry; it runs on
  /// the thread running `io` (the daemon's transport::AsioTimerService of that io_context, a
  /// ManualTimerService in tests) and must outlive the listener. A connection holds a timer
  /// only while one of its deadlines is set.
  Listener(boost::asio::io_context& io, TimerService& timers, transport::FlowTable& flows,
           DeliverFn deliver, ListenerConfig cfg);
  ~Listener();
  /// Binds and starts accepting. @throws std::system_error if the address cannot be bound.
  void start();
  /// The bound endpoint (after start()).
  Endpoint local_endpoint() const;
  Protocol protocol() const;
  /// Stops accepting and closes every WS connection with 1001 (going away).
  void stop();

 private:
  std::unique_ptr<ListenerImpl> impl_;
};

class UpgradeProbeImpl;

/// Runs the listener's opening-handshake checks and message hand-off on bytes instead of a
/// socket (websocketpp's iostream transport): for the fuzzer and for tests that need exact
/// control of the bytes. Same validate code as Listener (see handshake_checks.hpp). One probe
/// is one connection. Thread: the caller's.
class UpgradeProbe {
 public:
  /// The FlowId stamped on every message the probe delivers (it has no FlowTable). No
  /// FlowTable::next_id() ever returns it (shard 1, sequence 0), so a test may add a flow of
  /// this id to a table to catch the replies.
  static constexpr FlowId kFlowId = 1;

  /// `cfg.listen`, `tls`, timeouts, pings and `www_root` are ignored (plain GETs get 426).
  /// @throws std::invalid_argument for a malformed cfg.allowed_origins entry.
  UpgradeProbe(ListenerConfig cfg, DeliverFn deliver, Endpoint peer);
  ~UpgradeProbe();
  /// Feeds bytes read from the peer; returns how many were consumed (fewer once it closed).
  std::size_t feed(const char* data, std::size_t size);
  /// Signals EOF from the peer.
  void eof();
  /// Everything written to the peer so far (HTTP response, WS frames).
  std::string output() const;
  bool open() const;
  /// The close code sipws sent (0 if none).
  int local_close_code() const;

 private:
  std::unique_ptr<UpgradeProbeImpl> impl_;
};

}  // namespace sipws::ws
