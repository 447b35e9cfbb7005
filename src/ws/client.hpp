#pragma once
// Outbound SIP WebSocket client (RFC 7118, client role) on websocketpp: sipws dials a WS/WSS
// server (a PBX, a registrar, another sipws) itself. Like listener.hpp, this header shows no
// websocketpp type (the ws target alone is C++17, see CMakeLists.txt).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/net.hpp"
#include "common/timer.hpp"
#include "transport/dialer.hpp"
#include "transport/flow.hpp"
#include "ws/listener.hpp"

namespace sipws::ws {

/// A `ws://host[:port][/resource]` or `wss://...` URL (RFC 6455 s.3).
struct WsUrl {
  bool secure = false;
  std::string host;        ///< name or IP literal; IPv6 without brackets
  std::uint16_t port = 0;  ///< 80 (ws) / 443 (wss) when the URL names none
  std::string resource = "/";
  Protocol protocol() const { return secure ? Protocol::Wss : Protocol::Ws; }
  /// True when `host` is an IP literal.
  bool host_is_ip() const;
  /// "wss://host:port/resource" (IPv6 in brackets).
  std::string to_string() const;
};

/// Parses a ws:// or wss:// URL (scheme case-insensitive; no user info, no fragment).
/// nullopt if malformed.
std::optional<WsUrl> parse_ws_url(std::string_view text);

/// Reconnection back-off: `min` doubled per failed attempt (attempt 0 => `min`), capped at
/// `max`, times a jitter factor in [0.75, 1.25) from `jitter01` in [0, 1), capped at `max`.
Millis reconnect_delay(unsigned attempt, Millis min, Millis max, double jitter01);

/// A client TLS context for WSS (TLS 1.2+). With `verify`: the server certificate must chain
/// to the system's default trust store or to `ca_file` (PEM, optional, added to the store);
/// the host name is checked per connection. Without: anything is accepted (labs only).
/// @throws std::runtime_error naming the file that could not be loaded (start-up only).
std::shared_ptr<boost::asio::ssl::context> make_wss_client_context(bool verify,
                                                                   const std::string& ca_file);

/// Host name -> one address (the daemon's c-ares resolver); `done` runs later on the io thread.
using ResolveFn = std::function<void(const std::string& host,
                                     std::function<void(std::optional<IpAddress>)> done)>;
/// A connection to (protocol, endpoint) could not be opened: what was queued on it is dropped.
using ConnectFailedFn = std::function<void(Protocol protocol, const Endpoint& endpoint)>;

/// TCP connect of an outbound connection, from the dial to the connected socket: past it the
/// attempt fails (counted in ws_client_connect_failures, logged). websocketpp's former default.
inline constexpr Millis kClientConnectTimeout{5000};
/// WSS: the TLS handshake, from the connected socket to its end (server certificate checked):
/// past it the attempt fails like kClientConnectTimeout. websocketpp's former default.
inline constexpr Millis kClientTlsHandshakeTimeout{5000};
/// Once a connection closes (sipws's close frame, websocketpp's for a protocol error, or the
/// answer to the server's): the closing handshake and the server's TCP close (the server
/// closes first, RFC 6455 s.7.1.1), and for WSS the TLS shutdown, must end within this; else
/// the socket is dropped (counter ws_client_close_timeouts, logged). websocketpp's former
/// close handshake default.
inline constexpr Millis kClientCloseTimeout{5000};

struct ConnectorConfig {
  /// Client context for WSS (see make_wss_client_context); null => WSS cannot be dialled.
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::string resource = "/";            ///< request target of connections opened on demand
  std::size_t max_message_size = 65535;  ///< bytes per WS message; larger closes with 1009
  Millis ping_interval{30000};           ///< idle time before a WS ping; 0 disables pings
  Millis pong_timeout{10000};            ///< no pong/traffic within this after a ping => close
  /// HTTP upgrade (after TCP connect and TLS) must end within this; 0 disables.
  Millis open_timeout{10000};
  Millis reconnect_min{1000};  ///< first back-off of a configured peer (see reconnect_delay)
  Millis reconnect_max{60000};
  std::size_t max_queued = 256;       ///< messages queued per connection while it opens
  std::string user_agent;             ///< User-Agent of the upgrade request ("" = none)
  ResolveFn resolve;                  ///< for peers named by host name; unset => IP literals only
  ConnectFailedFn on_connect_failed;  ///< optional (the daemon fails waiting transactions)
};

class ConnectorImpl;

/// The RFC 7118 client role. Opens WebSocket connections offering `Sec-WebSocket-Protocol:
/// sip` and requires `sip` in the 101 (else closes with 1002 and counts the attempt as
/// failed); WSS verifies the server certificate and host name (SNI set for names) as the TLS
/// context says. An open connection is a transport::Flow (WS/WSS) in `flows`: each WS message
/// received goes to `deliver` like the listener's, and send() reuses it for every later
/// message to the same peer. Configured peers (add_peer) are kept connected: connect at
/// start(), reconnect after a close or a failure with reconnect_delay() back-off. Idle open
/// flows are pinged like the listener's. Thread: core io thread (runs on `io`).
/// Every timer runs on the injected TimerService: the connect, TLS, open, pong and close
/// deadlines (kClientConnectTimeout, kClientTlsHandshakeTimeout, open_timeout, pong_timeout,
/// kClientCloseTimeout), the keep-alive sweep and the reconnection back-off; websocketpp's
/// own timers are off or, where it always arms one, set far beyond these (a backstop).
///
/// Counters: ws_client_connects (attempts), ws_client_connections_opened,
/// ws_client_connect_failures, ws_client_subprotocol_refused, ws_client_queue_full,
/// ws_client_keepalive_pings, ws_client_keepalive_timeouts, ws_client_close_timeouts,
/// ws_client_send_errors.
class Connector final : public transport::Dialer {
 public:
  /// `timers`: clock and timers, run on the thread running `io` (the daemon's
  /// transport::AsioTimerService of that io_context; a ManualTimerService in tests); must
  /// outlive the connector.
  Connector(boost::asio::io_context& io, TimerService& timers, transport::FlowTable& flows,
            DeliverFn deliver, ConnectorConfig cfg);
  ~Connector() override;
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;

  /// transport::Dialer: an outbound flow to `dest` (open or opening; for WSS with a host name
  /// the same name), else an inbound flow from that very endpoint, else a new connection
  /// (`resource` of the configured peer at that address, or ConnectorConfig::resource) with
  /// `bytes` queued. False when stopped, for WSS without a TLS context, or on a full queue.
  bool send(const Destination& dest, std::shared_ptr<const std::string> bytes) override;

  /// Keeps a connection to `url` (connected from start(), or at once if already started).
  void add_peer(WsUrl url);
  /// Connects the configured peers.
  void start();
  /// Closes every connection (1001) and stops reconnecting; send() fails from then on.
  void stop();

  /// Open outbound flows (connecting ones not counted).
  std::size_t open_count() const;
  /// The FlowId of the open flow to configured peer `index` (order of add_peer), or kNoFlow.
  FlowId peer_flow(std::size_t index) const;

 private:
  std::unique_ptr<ConnectorImpl> impl_;
};

}  // namespace sipws::ws
