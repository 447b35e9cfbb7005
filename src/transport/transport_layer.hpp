#pragma once
// The transport layer (RFC 3261 s.18): listeners for UDP, TCP and TLS, the flow table, the
// transport selector for outgoing messages, and the common receive path (parse, keep-alive,
// stateless 400, counters) that every transport - including src/ws/ - feeds.
//
// Counters (common/counters.hpp): sip_parse_errors, transport_oversize_drops,
// transport_stream_framing_errors, transport_keepalive_pings, transport_connect_failures,
// transport_tls_handshake_failures, transport_write_errors, transport_accept_errors,
// transport_udp_receive_errors, transport_udp_send_errors, transport_no_route,
// transport_flow_gone, transport_tls_context_errors, transport_handshake_timeouts.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "sip/message.hpp"
#include "sip/txn/transaction_layer.hpp"
#include "transport/connection_limiter.hpp"
#include "transport/dialer.hpp"
#include "transport/flow.hpp"

namespace sipws::transport {

/// Receives every well-formed message from every transport. Thread: core io thread.
class MessageHandler {
 public:
  virtual ~MessageHandler() = default;
  virtual void on_message(const sip::Message& msg, const Source& src) = 0;
};

struct TransportLimits {
  std::size_t max_message_size = 65535;  ///< bytes, per SIP message, all transports
  /// Bytes a TCP/TLS flow may have queued for its peer (not yet taken by the kernel); a send
  /// past it closes the flow (transport_send_queue_overflows) and fails. 0: no bound.
  std::size_t max_send_queue = 262144;
  /// TCP connect + TLS handshake (outgoing), TLS handshake (incoming): a flow not established
  /// within this is closed (counted as transport_handshake_timeouts).
  std::chrono::milliseconds handshake_timeout{10000};
  /// Admission control for accepted TCP/TLS connections (total and per source IP; null = none).
  /// A connection over a limit is closed at once, without a SIP answer (there is no request yet),
  /// and counted as transport_limit_total_rejected / transport_limit_per_ip_rejected.
  std::shared_ptr<ConnectionLimiter> limiter{};
  /// Sets SO_REUSEPORT on every UDP, TCP and TLS listener, so that the layers of several shards
  /// (one io_context each) bind the same address and port and the kernel spreads connections
  /// and UDP sources over them. Every layer sharing a port must set it. Without it a second
  /// bind to a bound port fails (std::system_error from listen_*).
  bool reuse_port = false;
};

class TransportLayerImpl;

/// Owns the UDP/TCP/TLS sockets of one shard. Thread: the shard's io thread (all methods, all
/// callbacks).
class TransportLayer final : public sip::txn::Sender {
 public:
  /// A layer whose flow ids name `shard` (FlowTable::next_id; 0 in a single-threaded process).
  /// @throws std::invalid_argument if shard >= kMaxShards (256).
  TransportLayer(boost::asio::io_context& io, TransportLimits limits = {}, unsigned shard = 0);
  ~TransportLayer() override;

  void set_handler(MessageHandler* handler);

  /// Binds a listener. Port 0 picks a free port (see listen_points()); with
  /// TransportLimits::reuse_port the other shards then bind that exact port. `adv`: what its
  /// listen point writes in Via / Record-Route (default: the bound address).
  /// @throws std::system_error if the address cannot be bound (start-up only).
  void listen_udp(const Endpoint& ep, const Advertise& adv = {});
  void listen_tcp(const Endpoint& ep, const Advertise& adv = {});
  void listen_tls(const Endpoint& ep, std::shared_ptr<boost::asio::ssl::context> ctx,
                  const Advertise& adv = {});
  /// Sets the TLS context used for outgoing TLS connections (verification as configured).
  void set_tls_client_context(std::shared_ptr<boost::asio::ssl::context> ctx);

  /// Records a listen point opened elsewhere (src/ws/ registers WS and WSS here).
  void add_listen_point(ListenPoint lp);
  const std::vector<ListenPoint>& listen_points() const;
  /// The first listen point of protocol `p`, or nullptr.
  const ListenPoint* listen_point(Protocol p) const;

  /// Sets the dialer that opens outbound WS/WSS connections (ws::Connector); not owned, must
  /// outlive the layer's last send(). Without one, WS/WSS destinations need a live flow.
  void set_websocket_dialer(Dialer* dialer);

  /// Called on this layer's thread when a TCP/TLS connection that send() opened fails before it
  /// is established: connect refused or timed out (TransportLimits::handshake_timeout), its TLS
  /// handshake failed, or its queue overflowed meanwhile (then from within send(): `fn` must
  /// post, not call into the transaction layer). What was queued on it is gone; the transaction
  /// layer fails the requests sent there (TransactionLayer::transport_failed, RFC 3261
  /// s.17.1.4) instead of waiting for Timer B/F.
  void on_connect_failed(std::function<void(Protocol, const Endpoint&)> fn);

  /// Transport selector (s.18.1.1): an open flow if `dest.flow` (or a flow to the same
  /// protocol+peer) exists; else UDP sendto, or a new TCP/TLS connection with the message queued
  /// until connected. WS/WSS: `dest.flow` if set (gone => failure: a browser cannot be
  /// dialled), else the WebSocket dialer (an open outbound flow to that peer, or a new
  /// connection). Returns false on immediate failure.
  bool send(const Destination& dest, std::shared_ptr<const std::string> bytes) override;

  /// Common receive path for one complete message (a datagram, a framed stream message or one
  /// WS message): keep-alive CRLFCRLF is answered with CRLF on flows; bytes over the size
  /// limit are dropped (counted) or answered 513 when possible; malformed requests get a
  /// stateless 400 naming the defect on the same source; good messages go to the handler.
  void deliver(std::shared_ptr<const std::string> bytes, const Source& src);

  /// The address of this host that packets to `peer` leave from (the routing table's choice,
  /// pktinfo::route_source), cached per peer for 60 s (at most 4096 peers; the cache is emptied
  /// when full). What a wildcard listener writes for itself toward `peer`. nullopt: no route.
  std::optional<IpAddress> source_address_for(const IpAddress& peer);

  FlowTable& flows();
  boost::asio::io_context& io();
  const TransportLimits& limits() const;

  /// Closes every listener and flow (graceful shutdown).
  void shutdown();

 private:
  std::unique_ptr<TransportLayerImpl> impl_;
};

}  // namespace sipws::transport
