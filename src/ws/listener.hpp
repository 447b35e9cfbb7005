#pragma once
// SIP over WebSocket listener (RFC 7118) on websocketpp. This header shows no websocketpp type:
// the rest of sipws is C++20 and websocketpp 0.8.2 compiles only as C++17 (see CMakeLists.txt).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/net.hpp"
#include "common/timer.hpp"
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
  std::string method;        ///< "POST", "GET"...
  std::string resource;      ///< request target, e.g. "/login"
  std::string host;          ///< Host header
  std::string content_type;  ///< Content-Type header ("" if absent)
  std::string cookie;        ///< Cookie header ("" if absent)
  std::string origin;        ///< Origin header ("" if absent)
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
  /// If not empty, an upgrade's Origin must equal one of these ("https://example.com:8443"),
  /// else it is refused with 403 (counted as ws_origin_rejected). Plain GETs are not checked.
  std::vector<std::string> allowed_origins;
  HandshakeAuthFn handshake_auth;  ///< optional; refusals counted as ws_auth_rejected
  HttpHandlerFn http_handler;      ///< optional; plain HTTP requests (e.g. POST /login)
};

class ListenerImpl;

/// Accepts WebSocket upgrades that offer the `sip` subprotocol (RFC 7118 s.4; others are
/// refused with HTTP 400/426), creates one transport::Flow per connection in `flows`, passes
/// each WS message (text or binary frame) to `deliver`, removes the flow on close, and pings
/// idle flows. Thread: core io thread (runs on `io`).
class Listener {
 public:
  Listener(boost::asio::io_context& io, transport::FlowTable& flows, DeliverFn deliver,
           ListenerConfig cfg);
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

}  // namespace sipws::ws
