#pragma once
// Upstream registrar mode (SBC in front of a legacy PBX, DESIGN.md deployment mode 2): for a
// domain whose registrar is a server upstream, sipws is an edge proxy. It forwards REGISTER to
// that registrar, which authenticates it itself (401/407 and the retried REGISTER pass
// unchanged), and makes the binding reach the UA's flow again: with a Path header carrying a
// signed flow token (RFC 3327, RFC 5626 s.5.1) when the registrar supports Path, otherwise by
// rewriting the Contact to an address of sipws carrying a token (restored in the 2xx's Contact
// list). Requests from the upstream to those bindings go down the UA's flow; other requests for
// the domain go to the upstream. When a UA's flow closes, its bindings are un-registered
// upstream at once (`upstream_unregister`).

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/counters.hpp"
#include "common/crypto.hpp"
#include "common/net.hpp"
#include "common/timer.hpp"
#include "proxy/domains.hpp"
#include "proxy/request_context.hpp"
#include "proxy/uac.hpp"
#include "sip/headers.hpp"
#include "sip/message.hpp"

namespace sipws::registrar {

/// A domain whose registrar is upstream: an object of the `domains` config list
/// (`{"name": ..., "upstream": "sip:10.0.0.5:5060;transport=udp", "path": false,
/// "upstream_unregister": true}`).
struct UpstreamDomain {
  std::string name;  ///< the domain, lower-case ("pbx.example.com")
  /// Its registrar: a sip: URI with an IP-literal host, udp/tcp/tls. Requests from that
  /// address over that transport (over UDP: from that address and port) are the upstream's.
  std::string upstream;
  bool path = false;       ///< the registrar supports Path (RFC 3327): add one, keep the Contact
  bool unregister = true;  ///< un-register a binding upstream as soon as its flow closes
  /// Headers removed from every request sent to the upstream (a PBX that chokes on them);
  /// each proxy::strippable_header(). Removed by the core's proxy::PeerRules (the upstream is
  /// an IP address), not by this processor.
  std::vector<std::string> strip_headers;
  /// What the upstream receives names sipws alone (proxy::TopologyHiding); needs path=false.
  bool topology_hiding = false;
  /// Requests over this many bytes are not sent to the upstream (proxy::PeerRule); 0 = none.
  std::uint32_t max_message_size = 0;
  /// The upstream wants DTMF as SIP INFO (config `dtmf: "info"`, see routing::Gateway).
  bool dtmf_info = false;
};

/// The IP-literal destination of an upstream URI (transport from `transport=`, default UDP;
/// port default 5060, 5061 for TLS); nullopt if the URI is not sip:, its host is not an IP
/// address, or its transport is not udp, tcp or tls. Thread: any.
std::optional<Destination> upstream_destination(std::string_view uri);

/// True if `src` is the server at `server` (an upstream_destination()): the same address and
/// transport and, over UDP, the same port. A server sends UDP from the port it listens on
/// (RFC 3261 s.18.1.1 leaves it free, but PBXs and providers do; and a UA on the same host must
/// not pass for the server); a TCP/TLS connection it opened comes from any port. Thread: any.
bool comes_from(const Destination& server, const Source& src);

/// The expiry one Contact of a REGISTER's 2xx grants (RFC 3261 s.10.3 step 8): its `expires`
/// parameter, else the response's Expires header, else `dflt`; a malformed parameter is 0.
/// Seconds. Thread: any.
std::uint32_t contact_expires(const sip::NameAddr& contact, const sip::Message& rsp,
                              std::uint32_t dflt);

/// One binding sipws registered upstream on a UA's behalf (what an un-registration and a
/// request from the upstream need).
struct UpstreamBinding {
  std::string token;         ///< key; the user part of a rewritten Contact ("sw-u...")
  std::string domain;        ///< UpstreamDomain::name
  std::string aor;           ///< "user@domain" of the To URI
  std::string contact;       ///< the UA's Contact URI as it registered (no <>)
  std::string sent_contact;  ///< the Contact URI sent upstream (rewritten, or the UA's), no <>
  std::string path;          ///< the Path value sent upstream (path mode), "" otherwise
  std::string request_uri;   ///< of the REGISTER
  std::string from;          ///< From value of the REGISTER
  std::string to;            ///< To value of the REGISTER
  std::uint32_t cseq = 0;
  /// Authorization / Proxy-Authorization values of the last REGISTER (replayed once by the
  /// un-registration: the upstream may still accept them, see UpstreamRegistrarProcessor).
  std::vector<std::pair<bool, std::string>> credentials;  ///< {proxy?, value}
  Source source;           ///< where the UA's REGISTER came from (its flow)
  TimePoint expires_at{};  ///< when the upstream said the binding expires
  bool flow_dead = false;  ///< the UA's flow closed: requests to it get 480
};

/// The bindings sipws holds upstream, by token. Thread: any (one mutex, held for the map
/// operation only; used per upstream REGISTER, per request from the upstream and per closed
/// flow, not per message).
class UpstreamBindings {
 public:
  /// `key`: the secret tokens are derived from (route.key: stable across restarts, so a UA
  /// that registers again after a restart replaces its binding upstream instead of adding
  /// one). `clock` gives now() and must outlive the table.
  UpstreamBindings(std::string_view key, const TimerService& clock);

  /// The token of (aor, contact): "sw-u" + 22 base64url characters of HMAC-SHA256(key, aor
  /// "\n" contact). The same UA contact always gets the same token.
  std::string token_for(std::string_view aor, std::string_view contact) const;
  /// Adds or replaces the binding with b.token.
  void put(UpstreamBinding b);
  /// Removes the binding with `token`; false if there was none.
  bool remove(std::string_view token);
  /// Removes every binding of `aor` (a `Contact: *` un-registration); returns how many.
  std::size_t remove_aor(std::string_view aor);
  /// A copy of the binding with `token`, nullopt if none or expired.
  std::optional<UpstreamBinding> find(std::string_view token) const;
  /// Flow `flow` closed: its bindings are marked flow_dead; returns copies of them (the
  /// caller un-registers them upstream).
  std::vector<UpstreamBinding> on_flow_closed(FlowId flow);
  /// Bindings held, expired ones not yet pruned included.
  std::size_t size() const;
  /// The clock's now().
  TimePoint now() const { return clock_.now(); }

 private:
  /// Drops `token` from by_flow_ under `flow`. Caller holds mu_.
  void unindex(FlowId flow, const std::string& token);

  std::shared_ptr<const crypto::HmacSha256> hmac_;
  const TimerService& clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, UpstreamBinding> map_;
  /// Tokens by the flow their UA registered on (flows with an id only).
  std::unordered_map<FlowId, std::vector<std::string>> by_flow_;
  std::size_t prune_at_ = 1024;
};

/// Request processor "upstream", right after flow-identity (before relay-policy and digest
/// auth: the upstream authenticates what goes to it). For initial requests only (in-dialog
/// requests follow their signed Record-Route):
///  - REGISTER whose To is in an upstream domain (Request-URI: that domain or sipws): forwarded
///    to the domain's upstream with Path (`path`) or each Contact rewritten to
///    `<sip:TOKEN@sipws;transport=x>` (its parameters kept but reg-id: Outbound ends here);
///    the response's Contacts of ours are restored to the UA's, and a 2xx records the
///    bindings in UpstreamBindings (expires from the response). `Contact: *` is passed as it
///    is and removes the AOR's bindings here on its 2xx.
///  - A request from the upstream's address to `sip:TOKEN@sipws`: to the UA's contact over
///    the flow it registered on; 480 if that flow closed, 404 for an unknown token.
///  - A request from the upstream's address that came along a Route of ours (a Path): to its
///    Request-URI, over the flow the Route's token names (the core's loose routing).
///  - Any other request whose From or Request-URI is in an upstream domain: to that upstream,
///    which challenges it (407 relayed).
/// Everything else continues. Counters: upstream_registers_forwarded, upstream_requests_in,
/// upstream_requests_out, upstream_unknown_token. Thread: core io thread.
class UpstreamRegistrarProcessor final : public proxy::RequestProcessor {
 public:
  /// `domains` (sipws's own names), `table` must outlive the processor.
  UpstreamRegistrarProcessor(std::vector<UpstreamDomain> upstreams, const proxy::Domains& domains,
                             UpstreamBindings& table, Counters& reg = counters());

  std::string_view name() const override { return "upstream"; }
  proxy::Action process(proxy::RequestContext& ctx) override;

  /// Flow `flow` closed (call on the thread of the shard that owned it, with that shard's
  /// Uac): its bindings get 480 from now on and, with `upstream_unregister`, are removed
  /// upstream at once by unregister_request(). A registrar that challenges the replayed
  /// credentials keeps the binding until it expires (logged); sipws still answers its
  /// requests to it 480. Counters: upstream_unregisters_sent, upstream_unregisters_ok,
  /// upstream_unregisters_failed.
  void on_flow_closed(FlowId flow, proxy::Uac& uac);

 private:
  struct Upstream {
    UpstreamDomain cfg;
    Destination dest;  ///< upstream_destination(cfg.upstream)
  };
  const Upstream* by_domain(std::string_view host) const;
  const Upstream* by_source(const Source& src) const;
  proxy::Action forward_register(proxy::RequestContext& ctx, const Upstream& up);
  proxy::Action from_upstream(proxy::RequestContext& ctx, const Upstream& up);
  proxy::Action to_upstream(proxy::RequestContext& ctx, const Upstream& up);

  std::vector<Upstream> upstreams_;
  const proxy::Domains& domains_;
  UpstreamBindings& table_;
  Counter& registers_;
  Counter& requests_in_;
  Counter& requests_out_;
  Counter& unknown_token_;
  Counter& unregisters_sent_;
  Counter& unregisters_ok_;
  Counter& unregisters_failed_;
};

/// The REGISTER that removes binding `b` upstream (RFC 3261 s.10.2.2: its Contact with
/// expires=0), for proxy::Uac: a new Call-ID (a different Call-ID with expiry zero removes the
/// binding whatever its CSeq, s.10.3 step 7, so the UA's own next REGISTER is not out of
/// order), the UA's last credentials replayed, Path as registered.
proxy::OwnRequest unregister_request(const UpstreamBinding& b, std::string call_id);

}  // namespace sipws::registrar
