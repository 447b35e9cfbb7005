#pragma once
// Private to src/ws/*.cpp (includes websocketpp): the opening-handshake checks that the real
// listener and the UpgradeProbe (for the fuzzer and tests) both run, on the same websocketpp
// iostream transport, so that what is fuzzed is what serves. Nothing outside src/ws/ includes
// this.

#include <algorithm>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/core.hpp>
#include <websocketpp/connection_base.hpp>
#include <websocketpp/http/constants.hpp>
#include <websocketpp/http/request.hpp>
#include <websocketpp/logger/stub.hpp>
#include <websocketpp/processors/processor.hpp>

#include "common/counters.hpp"
#include "common/log.hpp"
#include "transport/connection_limiter.hpp"
#include "ws/listener.hpp"
#include "ws/origin_policy.hpp"

namespace sipws::ws::detail {

/// Retry-After (seconds) on 503/429 answers to upgrades refused by the connection limits.
inline constexpr const char* kRetryAfterSeconds = "5";
/// The only WebSocket protocol version sipws speaks: RFC 6455's (s.4.1, s.11.6).
inline constexpr int kWebSocketVersion = 13;

/// websocketpp's HTTP request (the server configs' `request_type`) that applies RFC 6455
/// s.4.2.2 before websocketpp sees the request. websocketpp 0.8.2 picks a processor from
/// Sec-WebSocket-Version as soon as the request is complete (connection::initialize_processor):
/// hixie-76/hybi-00 when the header is missing, hybi-07/08 for 7 and 8 (all answered with a
/// 101), and for any other number a 400 with "Sec-WebSocket-Version: 0,7,8,13", all before the
/// validate handler runs. So once complete, an upgrade (Upgrade: websocket, Connection: upgrade)
/// whose version is not 13 (missing, 0, 7, 8, 14, not a number) loses its Upgrade header: it
/// becomes a plain HTTP request for websocketpp, no processor is ever made for it, and the
/// listener's HTTP handler answers 426 (refuse_if_bad_version) before the HTTP hook or the
/// static files. Thread: the connection's (core io thread).
class VersionCheckedRequest : public websocketpp::http::parser::request {
 public:
  /// websocketpp's request::consume (may throw websocketpp::http::exception, which websocketpp
  /// catches and answers), then the version check once the request is complete.
  std::size_t consume(char const* buf, std::size_t len) {
    const std::size_t n = request::consume(buf, len);
    if (ready() && !checked_) {
      checked_ = true;
      check_version();
    }
    return n;
  }
  /// True if this was an upgrade offering another version than 13.
  bool bad_version() const { return bad_version_; }
  /// The Sec-WebSocket-Version the refused upgrade offered ("" if none).
  const std::string& offered_version() const { return offered_version_; }

 private:
  void check_version() {
    namespace proc = websocketpp::processor;
    if (!proc::is_websocket_handshake(*this)) return;
    if (proc::get_websocket_version(*this) == kWebSocketVersion) return;
    bad_version_ = true;
    offered_version_ = get_header("Sec-WebSocket-Version");
    remove_header("Upgrade");
  }

  bool checked_ = false;
  bool bad_version_ = false;
  std::string offered_version_;
};

/// Base of every sipws websocketpp connection (the configs' `connection_base`): per-connection
/// state that must live exactly as long as the connection. Thread: core io thread.
struct ConnectionState : websocketpp::connection_base {
  /// Counts this connection against the listener's limits from accept until its socket is
  /// closed (the listener resets it then) or the connection is destroyed.
  transport::ConnectionLimiter::Admission admission;
  /// Set by the transport when the connection is accepted (ConnectionLimiter verdict applied).
  bool admission_done = false;
};

/// The websocketpp server config of the listener and of the UpgradeProbe: websocketpp's core
/// config (iostream transport: no I/O, no timers) for one io thread (no mutexes, no loggers),
/// with ConnectionState and VersionCheckedRequest. websocketpp copies received bytes into a
/// buffer inside each connection, `connection_read_buffer_size` bytes at a time: small, as it
/// lives as long as the connection (websocketpp's default is 16 kB).
struct ServerConfig : websocketpp::config::core {
  typedef ServerConfig type;
  typedef websocketpp::concurrency::none concurrency_type;
  typedef ConnectionState connection_base;
  typedef VersionCheckedRequest request_type;  // RFC 6455 version 13 only
  typedef websocketpp::log::stub elog_type;
  typedef websocketpp::log::stub alog_type;
  static const bool enable_multithreading = false;
  struct transport_config : websocketpp::config::core::transport_config {
    typedef ServerConfig::concurrency_type concurrency_type;
    typedef ServerConfig::elog_type elog_type;
    typedef ServerConfig::alog_type alog_type;
    typedef ServerConfig::request_type request_type;
    static const bool enable_multithreading = false;
  };
  typedef websocketpp::transport::iostream::endpoint<transport_config> transport_type;
  // The iostream transport has no timers: the listener keeps the deadlines itself.
  static const long timeout_open_handshake = 0;
  static const long timeout_close_handshake = 0;
  static const long timeout_pong = 0;
  static const std::size_t connection_read_buffer_size = 512;
};

/// What the checks read from the listener. Thread: core io thread.
struct UpgradeGate {
  const ListenerConfig& cfg;
  const OriginPolicy& origins;
  bool stopped = false;
};

/// Admits a just-accepted connection from `peer` against `limiter` (if any) and records the
/// verdict on the connection; the refusal itself is answered in HTTP by refuse_if_over_limit.
template <class Con>
void admit_connection(Con& c, transport::ConnectionLimiter* limiter, const Endpoint& peer) {
  if (c.admission_done) return;
  c.admission_done = true;
  if (limiter != nullptr) c.admission = limiter->admit(peer.address);
}

/// Answers an upgrade or plain HTTP request of a connection refused by the limits: 503 when the
/// listener is full (ws_max_connections), 429 when its IP has too many (ws_max_connections_per_ip),
/// both with Retry-After. Returns true if it refused.
template <class Con>
bool refuse_if_over_limit(Con& c, const Endpoint& peer) {
  using Verdict = transport::ConnectionLimiter::Verdict;
  namespace code = websocketpp::http::status_code;
  const Verdict v = c.admission.verdict();
  if (v == Verdict::Admitted) return false;
  const bool total = v == Verdict::TotalExceeded;
  (total ? SIPWS_COUNTER("ws_limit_total_rejected") : SIPWS_COUNTER("ws_limit_per_ip_rejected"))
      .inc();
  c.set_status(total ? code::service_unavailable : code::too_many_requests);
  c.append_header("Retry-After", kRetryAfterSeconds);
  c.set_body(total ? "too many connections\n" : "too many connections from your address\n");
  log::ws().info("ws connection from {} refused: {}", peer.to_string(),
                 total ? "ws_max_connections reached" : "ws_max_connections_per_ip reached");
  return true;
}

/// Answers a request that VersionCheckedRequest found to be an upgrade offering another version
/// than 13: 426 Upgrade Required with `Sec-WebSocket-Version: 13` and `Upgrade: websocket`
/// (RFC 6455 s.4.2.2, s.4.4; RFC 7231 s.6.5.15), counted as ws_bad_version. Called first by
/// every HTTP handler (after the connection limits). Returns true if it refused.
template <class Con>
bool refuse_if_bad_version(Con& c, const Endpoint& peer) {
  static_assert(std::is_same_v<typename Con::request_type, VersionCheckedRequest>,
                "sipws WebSocket servers must use VersionCheckedRequest");
  const VersionCheckedRequest& req = c.get_request();
  if (!req.bad_version()) return false;
  SIPWS_COUNTER("ws_bad_version").inc();
  c.set_status(websocketpp::http::status_code::upgrade_required);
  c.replace_header("Sec-WebSocket-Version", std::to_string(kWebSocketVersion));
  c.replace_header("Upgrade", "websocket");
  c.set_body("Sec-WebSocket-Version: 13 required\n");
  log::ws().debug("ws handshake refused from {}: Sec-WebSocket-Version '{}'", peer.to_string(),
                  req.offered_version());
  return true;
}

/// The validate handler of every sipws WebSocket endpoint (RFC 7118 s.4.1; RFC 6455 s.4.2.2),
/// reached by version 13 upgrades only (VersionCheckedRequest): shutting down => 503; over a
/// connection limit => 503/429; no `sip` subprotocol (ListenerConfig::subprotocol) => 400; Origin
/// not allowed => 403; the handshake auth hook's refusal => its status. On success the 101 selects
/// `sip`. `peer` is the remote address of the connection. `identity`, if given, receives the
/// identity the auth hook proved (RFC 7118 s.7), to be bound to the new flow. The 101 selects the
/// subprotocol.
template <class Con>
bool validate_upgrade(Con& c, const UpgradeGate& gate, const Endpoint& peer,
                      std::string* identity = nullptr) {
  // Only version 13 gets here (see VersionCheckedRequest): others were answered 426 as HTTP.
  static_assert(std::is_same_v<typename Con::request_type, VersionCheckedRequest>,
                "sipws WebSocket servers must use VersionCheckedRequest");
  namespace wsp = websocketpp;
  const auto& cfg_ = gate.cfg;
  const bool stopped_ = gate.stopped;
  if (!stopped_ && refuse_if_over_limit(c, peer)) return false;
  const auto& offered = c.get_requested_subprotocols();
  if (stopped_ || std::find(offered.begin(), offered.end(), cfg_.subprotocol) == offered.end()) {
    SIPWS_COUNTER("ws_handshake_rejected").inc();
    c.set_status(stopped_ ? wsp::http::status_code::service_unavailable
                          : wsp::http::status_code::bad_request);
    c.set_body(stopped_ ? "shutting down\n"
                        : "Sec-WebSocket-Protocol: " + cfg_.subprotocol + " required\n");
    log::ws().debug("ws handshake refused from {}: no sip subprotocol", peer.to_string());
    return false;
  }
  const std::string origin = c.get_request_header("Origin");
  if (!gate.origins.allows(origin)) {
    SIPWS_COUNTER("ws_origin_rejected").inc();
    c.set_status(wsp::http::status_code::forbidden);
    c.set_body("Origin not allowed\n");
    log::ws().info("ws handshake refused from {}: Origin '{}' not allowed", peer.to_string(),
                   origin);
    return false;
  }
  if (cfg_.handshake_auth) {
    HandshakeRequest req;
    req.peer = peer;
    req.resource = c.get_resource();
    req.origin = origin;
    req.cookie = c.get_request_header("Cookie");
    req.authorization = c.get_request_header("Authorization");
    const HandshakeVerdict v = cfg_.handshake_auth(req);
    if (v.status != 0) {
      SIPWS_COUNTER("ws_auth_rejected").inc();
      const int status = v.status >= 400 && v.status <= 599 ? v.status : 403;
      c.set_status(static_cast<wsp::http::status_code::value>(status));
      for (const auto& [name, value] : v.headers) c.append_header(name, value);
      log::ws().debug("ws handshake refused from {}: auth {}", peer.to_string(), status);
      return false;
    }
    if (identity != nullptr) *identity = v.identity;
  }
  wsp::lib::error_code ec;
  c.select_subprotocol(cfg_.subprotocol, ec);
  return !ec;
}

/// Hands one WS message (RFC 7118 s.5.1: exactly one SIP message) to the SIP stack; an empty
/// message is counted (ws_empty_messages) and dropped.
inline void hand_off_message(std::string&& payload, const Source& src, const DeliverFn& deliver) {
  if (payload.empty()) {
    SIPWS_COUNTER("ws_empty_messages").inc();
    return;
  }
  if (deliver) deliver(std::make_shared<const std::string>(std::move(payload)), src);
}

}  // namespace sipws::ws::detail
