#pragma once
// Trusted peers: SIP servers (gateways, PBXs, an SBC) identified by source address, transport and
// optional From / Request-URI patterns instead of digest credentials. What a match may do (skip
// digest-auth, relay to non-local targets, skip flood control) is the caller's policy.

#include <cstddef>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "sip/message.hpp"

namespace sipws::auth {

/// One configured trusted peer. Patterns are ECMAScript std::regex, matched with regex_search
/// (anchor them with ^...$ for a whole match) against the URI text as received.
struct TrustedPeer {
  IpNetwork source;                   ///< the peer's address or network
  std::optional<Protocol> transport;  ///< nullopt = any transport
  std::optional<std::regex> from;     ///< against the From URI (From: header's URI text)
  std::optional<std::regex> ruri;     ///< against the Request-URI text
  bool relay = false;                 ///< may reach non-local targets / gateways
  std::string name;                   ///< for logs
};

/// An ordered list of trusted peers. Immutable after construction. Thread: any (const).
class TrustedPeers {
 public:
  /// URIs longer than this (bytes) never match a pattern: libstdc++'s std::regex recurses per
  /// input character and overflows the stack on tens of KB of untrusted text.
  static constexpr std::size_t kMaxPatternInput = 1024;

  TrustedPeers() = default;
  explicit TrustedPeers(std::vector<TrustedPeer> peers) : peers_(std::move(peers)) {}

  /// The first entry whose `source` contains src.peer.address (IPv4-mapped as IPv4), whose
  /// `transport` is unset or equals src.protocol, and whose `from` / `ruri` patterns, if set,
  /// are found in req.from().uri.raw / req.request_uri().raw; nullptr if none. A URI over
  /// kMaxPatternInput fails any pattern on it. Never throws.
  const TrustedPeer* match(const Source& src, const sip::Message& req) const;

  /// True if any entry's network contains `ip`, whatever its transport and patterns (for the
  /// flood-control exemption, which runs before a request is parsed).
  bool contains_source(const IpAddress& ip) const;

  bool empty() const { return peers_.empty(); }
  const std::vector<TrustedPeer>& peers() const { return peers_; }

 private:
  std::vector<TrustedPeer> peers_;
};

}  // namespace sipws::auth
