#pragma once
// What sipws adapts in every request it sends to a legacy peer (a gateway or an upstream PBX
// known by its IP address, issue 14 item 5): headers the peer chokes on are removed from
// in-dialog requests and ACKs too (the initial ones are stripped per target), and a request
// larger than the peer takes is not sent (a UDP-only PBX drops a fragmented INVITE silently).

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/net.hpp"

namespace sipws::proxy {

/// The adaptations of one peer.
struct PeerRule {
  /// Header names removed from every request to the peer (each strippable_header()).
  std::vector<std::string> strip_headers;
  /// A request longer than this many bytes (serialized) is not sent to the peer: its branch
  /// ends with 513 Message Too Large (RFC 3261 s.21.5.11). 0 = no cap.
  std::size_t max_message_size = 0;
  /// The peer wants DTMF as SIP INFO application/dtmf-relay, not RFC 4733 events: the media
  /// bridge converts what the other end of an anchored call sends (bridge::MediaAnchor).
  bool dtmf_info = false;
};

/// The rules of one configuration, by peer address (IPv4-mapped IPv6 as IPv4; a peer listed
/// twice keeps its first rule). Immutable after construction. Thread: any.
class PeerRules {
 public:
  PeerRules() = default;
  explicit PeerRules(std::vector<std::pair<IpAddress, PeerRule>> rules);

  /// The rule of the peer at `address`, nullptr if none.
  const PeerRule* find(const IpAddress& address) const;
  bool empty() const { return rules_.empty(); }

 private:
  std::vector<std::pair<IpAddress, PeerRule>> rules_;  ///< few: a linear search
};

}  // namespace sipws::proxy
