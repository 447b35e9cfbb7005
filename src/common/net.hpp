#pragma once
// Network value types shared by the SIP core and the transports. No I/O here.

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sipws {

/// SIP transport protocols (RFC 3261 s.18, RFC 7118 s.5 for WS/WSS).
enum class Protocol : std::uint8_t { Udp, Tcp, Tls, Ws, Wss };

/// "UDP", "TCP", "TLS", "WS", "WSS": the Via transport token (RFC 3261 s.20.42, RFC 7118 s.5.2).
std::string_view via_token(Protocol p);
/// "udp", "tcp", "tls", "ws", "wss": the `transport=` URI parameter value and config prefix.
std::string_view lower_name(Protocol p);
/// Parses a transport name case-insensitively ("udp", "WSS", ...); nullopt if unknown.
std::optional<Protocol> protocol_from_string(std::string_view s);
/// True for every protocol but UDP (no retransmission timers, RFC 3261 s.17.1.1.2).
inline bool is_reliable(Protocol p) { return p != Protocol::Udp; }
/// True for TLS and WSS.
inline bool is_secure(Protocol p) { return p == Protocol::Tls || p == Protocol::Wss; }
/// True for WS and WSS.
inline bool is_websocket(Protocol p) { return p == Protocol::Ws || p == Protocol::Wss; }

using IpAddress = boost::asio::ip::address;

/// The address an IPv4 or IPv6 literal spells ("192.0.2.1", "::1", "fe80::1%eth0"; no
/// brackets, no port), nullopt for anything else (a host name, ""). Never throws.
std::optional<IpAddress> parse_ip(std::string_view text);
/// True if `text` is an IPv4 or IPv6 literal (see parse_ip), e.g. to tell a host name (DNS,
/// TLS SNI) from an address.
inline bool is_ip(std::string_view text) { return parse_ip(text).has_value(); }

/// The IPv4 address an IPv4-mapped IPv6 address (::ffff:a.b.c.d, as dual-stack sockets report
/// IPv4 peers) stands for; any other address unchanged. Key per-source state by this.
IpAddress unmapped(const IpAddress& ip);

/// True for an address no packet from the Internet carries as its source: private IPv4
/// (RFC 1918), shared address space (RFC 6598, carrier-grade NAT), link-local (169.254/16,
/// fe80::/10) and unique local IPv6 (fc00::/7). IPv4-mapped IPv6 is judged as IPv4. What
/// Kamailio's nat_uac_test looks for in a Contact.
bool is_private(const IpAddress& ip);

/// The addresses of this host's interfaces that are up (getifaddrs): IPv4, and IPv6 but
/// link-local. Empty when they cannot be read.
std::vector<IpAddress> host_addresses();

/// Hash of an IpAddress (Boost 1.74 has no std::hash for it): family and bytes; equal addresses
/// hash equally. For unordered containers keyed by source address.
struct IpAddressHash {
  std::size_t operator()(const IpAddress& ip) const noexcept;
};

/// An IP network `addr/prefix` ("10.0.0.0/8", "2001:db8::/32", or a bare address = one host),
/// on boost::asio::ip::network_v4/v6. IPv4-mapped IPv6 addresses are IPv4: contains() matches
/// ::ffff:10.1.2.3 against 10.0.0.0/8, and "::ffff:10.0.0.0/104" parses as 10.0.0.0/8. An IPv6
/// network never contains an IPv4 address (not even ::/0). Value type; thread: any.
class IpNetwork {
 public:
  /// 0.0.0.0/0.
  IpNetwork() = default;
  /// `ip`/`prefix`; the host bits are kept for to_string() and ignored by contains().
  /// Precondition: prefix <= 32 (IPv4, after unmapping) or <= 128 (IPv6).
  IpNetwork(const IpAddress& ip, unsigned prefix);

  /// Parses "addr" (one host) or "addr/prefix"; nullopt if `text` is not an IP literal, the
  /// prefix is empty, not decimal or beyond the family's width, or an IPv4-mapped literal has a
  /// prefix below 96. Never throws.
  static std::optional<IpNetwork> parse(std::string_view text);

  /// True if `ip` (unmapped first) is in this network.
  bool contains(const IpAddress& ip) const;
  bool is_v4() const { return v4_; }
  /// The address as written (host bits kept; unmapped).
  IpAddress address() const;
  /// Prefix length in bits: 32 (IPv4) or 128 (IPv6) for one host.
  unsigned prefix() const;
  /// "addr/prefix", e.g. "10.1.0.0/16".
  std::string to_string() const;

  friend bool operator==(const IpNetwork& a, const IpNetwork& b) {
    return a.v4_ == b.v4_ && (a.v4_ ? a.net4_ == b.net4_ : a.net6_ == b.net6_);
  }
  friend bool operator!=(const IpNetwork& a, const IpNetwork& b) { return !(a == b); }

 private:
  bool v4_ = true;
  boost::asio::ip::network_v4 net4_;
  boost::asio::ip::network_v6 net6_;
};

/// An IP address and port.
struct Endpoint {
  IpAddress address;
  std::uint16_t port = 0;
  /// "1.2.3.4:5060" or "[::1]:5060".
  std::string to_string() const;
  /// "1.2.3.4" or "[::1]" (brackets for IPv6, as in a SIP host).
  std::string host_string() const;
  // Written out (not defaulted): src/ws/ compiles as C++17.
  friend bool operator==(const Endpoint& a, const Endpoint& b) {
    return a.port == b.port && a.address == b.address;
  }
  friend bool operator!=(const Endpoint& a, const Endpoint& b) { return !(a == b); }
};

/// An Asio endpoint (ip::udp::endpoint, ip::tcp::endpoint) as an Endpoint.
template <class AsioEndpoint>
Endpoint to_endpoint(const AsioEndpoint& ep) {
  return Endpoint{ep.address(), ep.port()};
}

/// Identifies one connection-oriented flow (TCP, TLS, WS, WSS connection; RFC 5626 s.3).
/// 0 means "no flow" (UDP, or not known). Unique in the process; the low kFlowShardBits bits
/// name the shard (io thread) that owns the flow (transport::FlowTable::next_id), so that any
/// shard can tell where to hand a message for it. Not small, not consecutive.
using FlowId = std::uint64_t;
inline constexpr FlowId kNoFlow = 0;
/// Bits of a FlowId that hold its shard index.
inline constexpr unsigned kFlowShardBits = 8;
/// Shards a process may have: shard indexes are 0 .. kMaxShards - 1.
inline constexpr unsigned kMaxShards = 1u << kFlowShardBits;
/// The shard that owns flow `id` (0 for kNoFlow, which names no flow). Thread: any.
constexpr unsigned flow_shard(FlowId id) { return static_cast<unsigned>(id & (kMaxShards - 1)); }

/// Where a message came from: stamped by the transport that received it.
struct Source {
  Protocol protocol = Protocol::Udp;
  Endpoint peer;   ///< remote address/port as seen on the socket
  Endpoint local;  ///< the listener's local address/port
  FlowId flow = kNoFlow;
};

/// Where to send a message. If `flow` is set and still open, it is used and the rest is a hint;
/// otherwise the transport selector uses protocol + endpoint (opening a TCP/TLS connection if
/// needed). WS/WSS destinations without a live flow fail (a browser cannot be dialled).
struct Destination {
  Protocol protocol = Protocol::Udp;
  Endpoint endpoint;
  FlowId flow = kNoFlow;
  std::string host;  ///< host name for TLS SNI / certificate check; empty if an IP literal
  /// UDP: the listener to send from (its bound address and port; port 0 = the first listener
  /// of the peer's family). A wildcard listener sends from `local.address` when it is set (the
  /// address the peer sent its request to, or the one the route to the peer leaves from).
  Endpoint local{};
};

/// What a listener writes for itself in Via sent-by and Record-Route when that is not its bound
/// address: the `advertise` of a `listen` entry (a public IP or DNS name in front of NAT,
/// Kamailio's `advertise`). Empty host: the bound address.
struct Advertise {
  std::string host;        ///< DNS name or IP literal (IPv6 in brackets); empty = none
  std::uint16_t port = 0;  ///< 0 = the bound port
};

/// An address sipws listens on, and the host it advertises in Via / Record-Route for it.
struct ListenPoint {
  Protocol protocol = Protocol::Udp;
  Endpoint local;                     ///< the bound address (port resolved if 0 was asked)
  std::string advertised;             ///< host written in Via/Record-Route (IP literal by default)
  std::uint16_t advertised_port = 0;  ///< port written there; 0 = local.port
  /// The port of Via sent-by and Record-Route (RFC 3261 s.18.1.1, s.16.6 item 4).
  std::uint16_t sent_by_port() const { return advertised_port != 0 ? advertised_port : local.port; }
};

}  // namespace sipws

template <>
struct std::hash<sipws::Endpoint> {
  std::size_t operator()(const sipws::Endpoint& e) const noexcept;
};
