#pragma once
// I/O-free routing helpers of the proxy core: Via and Record-Route values, flow tokens, next
// hop selection from a URI (the static part of RFC 3263), loop-detection hashes.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto.hpp"
#include "common/net.hpp"
#include "common/random.hpp"
#include "sip/message.hpp"
#include "sip/uri.hpp"

namespace sipws::proxy {

/// Prefix of every branch sipws generates: RFC 3261 magic cookie + "-sw" marker. The loop
/// hash follows (s.16.6 step 8), then "-", random characters, "." and the shard (decimal) whose
/// client transaction sent it, so that a response arriving on another shard is handed over.
inline constexpr std::string_view kBranchPrefix = "z9hG4bK-sw";

/// A Via value for a request leaving through `lp`: `SIP/2.0/<PROTO> host:port;branch=...;rport`.
std::string make_via(const ListenPoint& lp, std::string_view branch);
/// A fresh branch carrying `loop_hash` (8 hex digits) and `shard`:
/// "z9hG4bK-sw<loop hash>-<12 characters of tokens>.<shard>".
std::string make_branch(std::string_view loop_hash, unsigned shard = 0,
                        TokenSource& tokens = per_thread_tokens());
/// A fresh branch for a request sipws originates on `shard` (no loop hash):
/// "z9hG4bK-swo<12 characters of tokens>.<shard>".
std::string make_own_branch(unsigned shard = 0, TokenSource& tokens = per_thread_tokens());
/// The shard named at the end of a branch sipws generated ("...<digits>" after the last '.',
/// below 256), nullopt for any other branch. Thread: any.
std::optional<unsigned> branch_shard(std::string_view branch);
/// Loop-detection hash over the fields of RFC 3261 s.16.6 step 8 (Request-URI, To tag, From
/// tag, Call-ID, CSeq number, Proxy-Require, Proxy-Authorization, Route), 8 hex digits.
std::string loop_hash(const sip::Message& request);
/// The loop hash inside a branch we generated, or "" if the branch is not ours.
std::string_view branch_loop_hash(std::string_view branch);

/// The signed flow token naming `flow`: "sw-f<id>.<12 hex digits of HMAC-SHA256>" with a
/// per-process random key, so a token cannot be forged to reach another user's flow (RFC 5626
/// s.5.2). @throws std::runtime_error if OpenSSL has no random bytes.
std::string flow_token_user(FlowId flow);
/// Signs flow tokens with `key` instead of a random per-process key: cluster mode, where the
/// key derives from cluster.secret so a token one node made verifies on every node. Call once,
/// at start-up, before any token is made or checked. @throws std::runtime_error if OpenSSL has
/// no SHA-256.
void set_flow_token_key(std::string_view key);
/// The URI parameter of sipws's Record-Route entries that carries the dialog signature.
inline constexpr std::string_view kRouteSignatureParam = "sw";
/// The URI parameter of sipws's Record-Route entries that names the shard which handled the
/// dialog-creating request (only with `threads` > 1): in-dialog requests are handed to it.
inline constexpr std::string_view kRouteShardParam = "sw-sh";

/// Signs the Record-Route entries sipws inserts, so that only dialogs it created can route
/// through it: 16 hex digits (64 bits) of HMAC-SHA256(key, Call-ID "\n" tag), the tag being
/// the From tag of the dialog-creating request. An in-dialog request carries the caller's tag
/// as From tag (caller to callee) or as To tag (callee to caller), so verify() tries both.
/// Thread: any (immutable).
class RouteSigner {
 public:
  /// `key`: the secret (any length; >= 16 bytes recommended). Empty: 32 random bytes, valid
  /// for this process only. @throws std::runtime_error if OpenSSL has no random bytes.
  explicit RouteSigner(std::string key = {});
  std::string sign(std::string_view call_id, std::string_view tag) const;
  /// True if `sig` signs (call_id, tag_a) or (call_id, tag_b); constant-time compare.
  bool verify(std::string_view sig, std::string_view call_id, std::string_view tag_a,
              std::string_view tag_b) const;

 private:
  /// HMAC (RFC 2104) with the key's inner and outer SHA-256 states computed once: a signature
  /// then costs two short hashes, not a key schedule and an algorithm fetch each time.
  std::shared_ptr<const crypto::HmacSha256> hmac_;  ///< shared by copies: immutable
};

/// `sip:[user@]host:port[;transport=x]` naming listen point `lp` by its advertised host and
/// port (a sips: URI with `sips`): the address sipws writes for itself in a Contact or Path.
std::string make_self_uri(const ListenPoint& lp, std::string_view user = {}, bool sips = false);

/// A Record-Route / Path value naming listen point `lp`:
/// `<sip:[<flow token>@]host:port;transport=x;lr[;sw=<signature>]>`; `flow` != kNoFlow embeds a
/// signed flow token so in-dialog requests find the flow (RFC 5626 s.5.3).
/// With `sips` (the Request-URI or top Route is a SIPS URI) the value is a sips: URI (RFC 3261
/// s.16.6 step 4). `signature` (RouteSigner::sign) is added as the `sw` parameter if not empty,
/// `shard` as the `sw-sh` parameter if set.
std::string make_record_route(const ListenPoint& lp, FlowId flow, bool sips = false,
                              std::string_view signature = {},
                              std::optional<unsigned> shard = std::nullopt);
/// The `sw-sh` parameter of `uri` (a Route entry of ours) if it is a number below 256.
std::optional<unsigned> route_shard(const sip::Uri& uri);
/// The flow id in a Route URI user part made by flow_token_user(), or kNoFlow when there is
/// none or its signature is not ours.
FlowId flow_token(const sip::Uri& uri);

/// The default port of a transport (RFC 3261 s.19.1.2, RFC 7118 s.5.2 / RFC 6455 s.3): 5060
/// for UDP and TCP, 5061 for TLS, 80 for WS, 443 for WSS.
std::uint16_t default_port(Protocol p);

/// Where a URI says to send (RFC 3263 s.4 without DNS): transport from `transport=` (sips =>
/// TLS), host (may be a name), port (default 5060, 5061 for TLS, 80 for WS, 443 for WSS).
/// maddr is honoured. Returns nullopt for non-SIP URIs or an unknown transport.
struct NextHop {
  Protocol protocol = Protocol::Udp;
  std::string host;  ///< without brackets
  std::uint16_t port = 5060;
};
std::optional<NextHop> next_hop_for(const sip::Uri& uri);

/// True if `uri` (host and port, default port for its transport) names one of `lps`, or its
/// host is one of `self_hosts` with a port that one of `lps` listens on.
bool names_listen_point(const sip::Uri& uri, const std::vector<ListenPoint>& lps,
                        bool host_is_self);

/// The top Via with `received` and `rport` filled in for a request from `src` (RFC 3261
/// s.18.2.1, RFC 3581). Returns nullopt if nothing needs to change. Not done for WS/WSS
/// (RFC 7118 s.5.3: the flow is what matters).
std::optional<std::string> via_with_received(const sip::Via& via, const Source& src);

/// True if an operator may have header `name` removed from what sipws forwards to a legacy
/// peer (`strip_headers`): any header but those routing, transactions, dialogs, bodies and
/// authentication depend on (Via, From, To, Call-ID, CSeq, Max-Forwards, Contact, Route,
/// Record-Route, Path, Content-Length/-Type/-Encoding, Authorization, Proxy-Authorization,
/// Expires, Require, Proxy-Require). A malformed name (empty, not a token) is refused too.
bool strippable_header(std::string_view name);

/// Strips the brackets of an IPv6 reference.
std::string_view unbracket(std::string_view host);

}  // namespace sipws::proxy
