#pragma once
// PSTN gateways and least-cost routing (the OpenSER/Kamailio PSTN chapter, the lcr and
// dispatcher modules' selection): which gateways a dialled number goes to, in which order,
// with which Request-URI. Pure and I/O-free apart from the live up/down marks, which the
// GatewayProber (or the request processor, after a failed attempt) sets.

#include <atomic>
#include <cstdint>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"

namespace sipws::routing {

/// Uniform random integers for the weighted gateway order, injected so tests are
/// deterministic. Thread: whoever owns the instance.
class Random {
 public:
  virtual ~Random() = default;
  /// A uniform integer in [0, max] (inclusive, like RandomInt in sip_locator.hpp).
  virtual std::uint32_t uniform(std::uint32_t max) = 0;
};

/// Random over std::mt19937 with unbiased rejection sampling (not std::uniform_int_distribution,
/// whose output differs between standard libraries): the same seed gives the same sequence
/// everywhere. Not for secrets.
class Mt19937Random final : public Random {
 public:
  /// Seeded from std::random_device.
  Mt19937Random();
  explicit Mt19937Random(std::uint32_t seed) : gen_(seed) {}
  std::uint32_t uniform(std::uint32_t max) override;

 private:
  std::mt19937 gen_;
};

/// A PSTN gateway (or any SIP trunk) as configured.
struct Gateway {
  std::string name;  ///< unique, e.g. "GW1"
  /// `sip:host[:port][;transport=udp|tcp|tls]` (other URI parameters are kept); no user part,
  /// no headers: the dialled number becomes the user part.
  std::string uri;
  std::uint32_t priority = 1;          ///< lower is tried first
  std::uint32_t weight = 1;            ///< 1..65535, share among gateways of equal priority
  std::uint32_t strip = 0;             ///< characters removed from the start of the number
  std::string prefix;                  ///< prepended to the number after stripping
  bool enabled = true;                 ///< false: never selected, never probed
  std::uint32_t probe_interval_s = 0;  ///< OPTIONS probe period in seconds, 0 = no probing
  /// Credentials sipws answers the gateway's 401/407 with (Kamailio's uac_auth); empty = the
  /// challenge is relayed to the caller.
  std::string auth_user;
  std::string password;
  /// Headers removed from the requests sent to the gateway (a legacy peer that chokes on
  /// them); each proxy::strippable_header().
  std::vector<std::string> strip_headers;
  /// What the gateway receives names sipws alone (proxy::TopologyHiding); needs an IP literal
  /// in `uri` (gateway_address()).
  bool topology_hiding = false;
  /// Requests over this many bytes are not sent to the gateway (proxy::PeerRule); 0 = no
  /// cap. Needs an IP literal in `uri`.
  std::uint32_t max_message_size = 0;
  /// The gateway wants DTMF as SIP INFO (config `dtmf: "info"`): RFC 4733 key presses from
  /// the other end of an anchored call become INFO application/dtmf-relay requests to it
  /// (bridge::MediaAnchor). False (`"rfc4733"`, the default): events stay in the RTP stream.
  /// Needs an IP literal in `uri`.
  bool dtmf_info = false;
};

/// The address of gateway URI `uri` when its host is an IP literal (`sip:10.0.0.9:5060`,
/// `sip:[2001:db8::9]`); nullopt for a host name or text that is not a URI.
std::optional<IpAddress> gateway_address(std::string_view uri);

/// A least-cost route: numbers it takes, the gateways it offers, when to fail over.
struct Route {
  std::string match_text;             ///< regex source, for logs and errors
  std::regex match;                   ///< regex_match-ed against the whole dialled number
  std::optional<std::regex> from;     ///< if set, regex_search-ed in the From URI text
  std::string from_text;              ///< its source
  std::vector<std::string> gateways;  ///< gateway names; a repeated name is used once
  /// Final statuses of an attempt that move on to the next attempt (any other final non-2xx
  /// ends the call with that response). Each 400..699.
  std::vector<int> failover_on = {408, 503};

  /// True if a final `status` of an attempt should fail over to the next one.
  bool fails_over(int status) const;
};

/// One attempt of a selection: the gateway and the Request-URI to send to it.
struct Attempt {
  const Gateway* gateway = nullptr;  ///< points into the GatewayTable that selected it
  std::string request_uri;
};

/// The matched route and its attempts in the order to try them (empty when the route's
/// gateways are all disabled or the number is stripped away: the caller answers 503).
struct Selection {
  const Route* route = nullptr;  ///< points into the GatewayTable that selected it
  std::vector<Attempt> attempts;
};

/// Longest From URI text searched by a route's `from` regex; a longer one matches no `from`.
inline constexpr std::size_t kMaxFromLength = 256;

/// The gateways and routes of one configuration, plus each gateway's live up/down mark
/// (initially up). Pointers it returns (gateways(), Selection) stay valid for its lifetime;
/// a config reload builds a new table. Thread: any; the up/down marks are atomics (the prober
/// on shard 0 sets them while every shard selects). Movable, not copyable.
///
/// select(number, from_uri, rnd):
/// - `number` is the dialled number (sip::text::dialled_number of the Request-URI user); one
///   over kMaxNumberLength characters matches no route.
/// - The first route, in config order, whose `match` regex_match-es the whole number and
///   whose optional `from` regex_search-es `from_uri` decides; no such route => nullopt.
/// - Its gateways, each once (first mention), without the disabled ones. The ones marked down
///   are skipped, unless every remaining one is down: then they are all tried anyway (a
///   gateway may have come back since its last probe; trying beats failing for sure).
/// - Order: priority ascending; within one priority a weighted random order without
///   replacement (RFC 2782 style; weights are >= 1: each pick takes a gateway with
///   probability weight / sum of the weights left; one rnd.uniform() call per pick but the
///   last of each priority).
/// - Request-URI: the gateway URI with user part = prefix + number without its first `strip`
///   characters (percent-escaped where RFC 3261 s.25.1 requires, e.g. '#' as %23), its
///   parameters kept, plus `;user=phone` (RFC 3261 s.19.1.1) when that user is a telephone
///   number (optional '+', then digits, '*', '#', '-', '.', '(', ')', at least one digit) and
///   the URI has no `user` parameter yet. When `strip` removes the whole number, that
///   gateway's attempt is left out.
class GatewayTable {
 public:
  /// Validates and keeps the configuration.
  /// @throws std::invalid_argument naming the entry, e.g. "routes[0].gateways: unknown gateway
  /// \"GW3\"", "gateways[1].uri: ...", "gateways[2].weight: ...": empty or duplicate gateway
  /// name; URI that sip::parse_uri rejects, not `sip:`, with a user part or headers, or a
  /// transport other than udp/tcp/tls; weight 0 or > 65535; a prefix with characters not
  /// allowed in a user part; a route with no gateway, an unknown gateway, or a failover status
  /// outside 400..699.
  GatewayTable(std::vector<Gateway> gateways, std::vector<Route> routes);

  /// Marks gateway `name` up or down; no-op for an unknown name.
  void set_up(std::string_view name, bool up);
  /// False only for a known gateway marked down.
  bool is_up(std::string_view name) const;
  /// The gateway called `name`, nullptr if none.
  const Gateway* find(std::string_view name) const;
  const std::vector<Gateway>& gateways() const { return gateways_; }
  const std::vector<Route>& routes() const { return routes_; }

  /// See the class comment. Never throws.
  std::optional<Selection> select(std::string_view number, std::string_view from_uri,
                                  Random& rnd) const;

 private:
  std::optional<std::size_t> index_of(std::string_view name) const;
  void order_group(std::vector<std::size_t>& group, Random& rnd) const;

  std::vector<Gateway> gateways_;
  std::vector<Route> routes_;
  std::vector<std::vector<std::size_t>> route_gateways_;  ///< per route: indexes, deduplicated
  std::vector<std::atomic<bool>> up_;                     ///< per gateway
};

/// The Request-URI for sending `number` to gateway `gw` (strip, prefix, escaping, user=phone
/// as select() documents); nullopt when stripping leaves nothing. Precondition: `gw` passed
/// GatewayTable's validation. Thread: any.
std::optional<std::string> gateway_request_uri(const Gateway& gw, std::string_view number);

}  // namespace sipws::routing
