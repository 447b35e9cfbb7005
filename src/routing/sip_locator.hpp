#pragma once
// RFC 3263 s.4 server location ("Locating SIP Servers") over a DnsLookup: NAPTR -> SRV ->
// A/AAAA, with RFC 7118 s.7's SIP+D2W / SIPS+D2W services for WebSocket. The proxy core's
// Resolver in the daemon.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "proxy/resolver.hpp"
#include "routing/dns.hpp"

namespace sipws::routing {

/// The transport of a NAPTR service field (RFC 3263 s.4.1, RFC 7118 s.7), case-insensitive:
/// SIP+D2U udp, SIP+D2T tcp, SIPS+D2T tls, SIP+D2W ws, SIPS+D2W wss; nullopt for any other.
std::optional<Protocol> protocol_of_service(std::string_view service);

/// The SRV owner name for `protocol` at `domain` (RFC 3263 s.4.1, RFC 7118 s.7):
/// `_sip._udp.`, `_sip._tcp.`, `_sips._tcp.` (TLS), `_sip._ws.`, `_sips._ws.` (WSS).
std::string srv_name(Protocol protocol, std::string_view domain);

/// A NAPTR rule kept by RFC 3263 s.4.1: its transport and the SRV name to query.
struct NaptrChoice {
  Protocol protocol = Protocol::Udp;
  std::string srv;
};

/// RFC 3263 s.4.1 NAPTR selection: keeps the records with flag "s", an empty regexp, a
/// replacement, a SIP service whose transport is in `supported` and, when `secure`, a SIPS
/// service; sorted by order, then preference.
std::vector<NaptrChoice> usable_naptr(std::vector<NaptrRecord> records, bool secure,
                                      const std::vector<Protocol>& supported);

/// Uniform random integer in [0, max] (inclusive).
using RandomInt = std::function<std::uint32_t(std::uint32_t max)>;

/// RFC 2782 ordering: by priority ascending; within a priority, a weighted random order
/// (weight-0 records first in the running sum, as the RFC says). Records with target "."
/// (service not offered) are dropped.
std::vector<SrvRecord> order_srv(std::vector<SrvRecord> records, const RandomInt& random);

struct LocatorConfig {
  /// The transports sipws can open towards a located server, in the order tried when there
  /// is no NAPTR (one SRV query each). Explicit `transport=` / port in a URI is not filtered.
  std::vector<Protocol> transports{Protocol::Udp, Protocol::Tcp, Protocol::Tls, Protocol::Ws,
                                   Protocol::Wss};
  /// At most this many destinations per lookup (bounds the failover).
  std::size_t max_destinations = 16;
  /// RFC 2782 weighted selection; default std::mt19937 seeded from std::random_device.
  RandomInt random;
};

/// proxy::Resolver over a DnsLookup. Thread: io thread; `done` always runs later on it.
///
/// locate(uri, secure): (RFC 3263 s.4.1/4.2; `maddr` replaces the host; sips => secure)
/// - IP literal host: that address; transport `transport=` else UDP (TLS if secure); port from
///   the URI or the transport's default (5060, 5061 TLS, 80 WS, 443 WSS).
/// - explicit port: A/AAAA of the host, same transport rule.
/// - `transport=` without port: SRV for that transport, else A/AAAA with the default port.
/// - neither: NAPTR, kept and ordered by usable_naptr(), each SRV in turn; without a usable
///   NAPTR, SRV for every configured transport (secure ones only when secure); without SRV,
///   A/AAAA with UDP (TCP if UDP is not configured) or TLS when secure, default port.
/// Every SRV target's addresses follow each other; destinations keep the URI's host name in
/// `Destination::host` (TLS server identity, RFC 5922 s.4).
class SipLocator final : public proxy::Resolver {
 public:
  explicit SipLocator(DnsLookup& dns, LocatorConfig cfg = {});

  void resolve(const std::string& host,
               std::function<void(std::optional<IpAddress>)> done) override;
  void locate(const sip::Uri& target, bool secure,
              std::function<void(std::vector<Destination>)> done) override;

 private:
  struct Job;
  DnsLookup& dns_;
  LocatorConfig cfg_;
};

}  // namespace sipws::routing
