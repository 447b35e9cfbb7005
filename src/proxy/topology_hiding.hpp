#pragma once
// Topology hiding toward the peers that ask for it (`topology_hiding: true` on a gateway or an
// upstream domain; Kamailio's topoh module): what such a peer receives names sipws alone.
// Stateless: what is hidden travels sealed (AES-SIV) in what the peer echoes back (Call-ID,
// Contact user), and a response's hidden Via and Record-Route entries come back from the
// proxy's transaction state.
//
// Toward a hidden peer (out):  only sipws's own Via and Record-Route entries are left; each
//   Contact becomes `<sip:sw-c<token>@sipws>` (the token seals the UA's Contact URI and the
//   route from sipws to it); the Call-ID is masked (`sw-h<sealed>`) or, if it is one the peer
//   made and sipws masked on its way in, unmasked.
// From a hidden peer (in):     the Call-ID is flipped the same way (so each side keeps its own
//   Call-ID for the whole dialog, whichever side began it); a Request-URI naming a Contact
//   token becomes the Contact it seals, with its route appended; a response gets back the
//   Vias and the Record-Route entries its request lost on the way out.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto.hpp"
#include "common/net.hpp"
#include "sip/message.hpp"

namespace sipws::proxy {

/// Prefix of a masked Call-ID.
inline constexpr std::string_view kMaskedCallIdPrefix = "sw-h";
/// Prefix of the user part of a Contact token.
inline constexpr std::string_view kContactTokenPrefix = "sw-c";

/// The hiding rules of one configuration. Immutable after construction. Thread: any.
class TopologyHiding {
 public:
  /// Is a Record-Route / Route URI one of sipws's own (proxy::is_self_uri)?
  using IsOwn = std::function<bool(const sip::Uri&)>;

  /// `secret`: any length (route.key: stable across restarts, so masked Call-IDs and Contact
  /// tokens outlive one); the sealing key is derived from it. `peers`: the addresses of the
  /// hidden peers (IP-literal gateways and upstreams with `topology_hiding`), any port and
  /// transport. @throws std::runtime_error if OpenSSL lacks HMAC-SHA256 or AES-SIV.
  TopologyHiding(std::string_view secret, std::vector<IpAddress> peers);

  /// True if messages to or from `address` are hidden (IPv4-mapped IPv6 counts as IPv4).
  bool hides(const IpAddress& address) const;
  bool empty() const { return peers_.empty(); }

  /// The Call-ID the other side knows this dialog by: the unmasked value of a masked Call-ID
  /// of ours, else `call_id` masked (`sw-h` + base64url(AES-SIV)). flip(flip(x)) == x.
  std::string flip_call_id(std::string_view call_id) const;

  /// What a Contact token seals: the UA's Contact URI and the Route entries (header values,
  /// in order) between sipws and it.
  struct InsideTarget {
    std::string uri;
    std::vector<std::string> route;
  };
  /// The user part of a Contact token (`sw-c` + base64url(AES-SIV)) for `target`.
  std::string contact_user(const InsideTarget& target) const;
  /// The target a Contact token's user part seals; nullopt if `user` is not a token of ours
  /// (other prefix, altered, sealed under another key).
  std::optional<InsideTarget> inside_target(std::string_view user) const;

  /// A request about to leave toward a hidden peer from listen point `out`, our Via on top and
  /// our Record-Route entries (if any) first: every other Via and every Record-Route entry but
  /// our top one (facing the peer; a second one of ours names the inside) goes, the latter into
  /// `*inside_rr`, in order, when not null, for reveal_response; each Contact of a non-REGISTER
  /// becomes a token naming `out` and sealing those entries as its route; the Call-ID flips.
  void hide_request(sip::Message& request, const ListenPoint& out, const IsOwn& is_own,
                    std::vector<std::string>* inside_rr) const;
  /// A response about to go back to a hidden peer (sipws received its request on `out`): the
  /// Record-Route entries above our last one (the one facing the peer) go, as they lead inside
  /// (an inside proxy's, or ours naming the inside listener); a 1xx/2xx Contact (but
  /// REGISTER's) becomes a token holding them as its route; the Call-ID flips.
  void hide_response(sip::Message& response, const ListenPoint& out, const IsOwn& is_own) const;
  /// A request (or ACK) that arrived from a hidden peer: the Call-ID flips, a Contact token in
  /// the Request-URI becomes the Contact it seals, with its route appended to the Route set.
  void reveal_request(sip::Message& request) const;
  /// A response that arrived from a hidden peer on a branch of `forwarded` (the request as
  /// the proxy had it before forwarding), our Via already removed: the Vias of `forwarded`
  /// come back, the Call-ID flips, a Record-Route set gets `inside_rr` appended.
  void reveal_response(sip::Message& response, const sip::Message& forwarded,
                       const std::vector<std::string>& inside_rr) const;

 private:
  std::string contact_value(const sip::NameAddr& contact, const ListenPoint& out,
                            const std::vector<std::string>& route) const;
  /// Each Contact of `m` (but `*`) becomes a token naming `out`, sealing `route`.
  void replace_contacts(sip::Message& m, const ListenPoint& out,
                        const std::vector<std::string>& route) const;

  crypto::Siv siv_;
  std::vector<IpAddress> peers_;
};

}  // namespace sipws::proxy
