#pragma once
// The digest-auth request processor (RFC 3261 s.22, RFC 7616, RFC 8760): challenges requests
// from local users and checks their credentials against the subscriber table.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/auth_guard.hpp"
#include "auth/credential_cache.hpp"
#include "auth/digest.hpp"
#include "auth/nonce.hpp"
#include "common/counters.hpp"
#include "common/timer.hpp"
#include "proxy/domains.hpp"
#include "proxy/request_context.hpp"
#include "store/store.hpp"

namespace sipws::auth {

struct DigestAuthConfig {
  /// Seconds a nonce stays valid before the client is re-challenged with stale=true.
  std::uint32_t nonce_lifetime_s = 300;
  /// Also offer a SHA-256 challenge after the MD5 one. Off by default: JsSIP 3.x keeps only the
  /// last challenge header and SIPp 3.6 only the first, and both do MD5 only, so a single MD5
  /// challenge is the one order every client here answers. SHA-256 credentials are always
  /// accepted.
  bool offer_sha256 = false;
  /// The subscribers' HA1s kept in memory (RFC 7616 s.3.4.2: HA1 is what the check needs), so
  /// that a REGISTER with credentials costs no store round trip once its user was seen. Dropped
  /// when the store changes (AsyncStore::generation(): the CLI or another node), else after
  /// `ttl`. `max_entries` bounds memory (about 300 bytes each); `max_in_flight` bounds the
  /// store reads a flood of unknown user names can start (beyond it: 503).
  CredentialCache::Config cache{Millis(300000), Millis(10000), 100000, 1024};
};

/// Request processor "digest-auth". Policy:
///  - ACK and CANCEL pass (they cannot be challenged, RFC 3261 s.22.1).
///  - REGISTER whose To host is a local domain: needs `Authorization` for realm = that domain
///    (lower-cased), else 401 with WWW-Authenticate (RFC 3261 s.22.2).
///  - Other requests whose From host is a local domain: need `Proxy-Authorization`, else 407
///    with Proxy-Authenticate (s.22.3). Requests from foreign domains pass, unless the relay
///    policy set ctx.required_auth_realm() (out->in, foreign_callers=challenge): then any
///    subscriber of that realm may authenticate. Trusted peers pass.
///  - Challenges carry one MD5 challenge (plus SHA-256 after it with offer_sha256), qop="auth",
///    a stateless nonce (nonce.hpp).
///  - Credentials: username must equal the To user (REGISTER) / From user (others), else 403.
///    Missing username/nonce/uri/response, or qop=auth without nc/cnonce => 400. Stale nonce
///    => new challenge with stale=true. Bad nonce, unsupported algorithm or qop, unknown user,
///    wrong response => new challenge (counted as auth_failures).
///  - The subscriber comes from the CredentialCache (DigestAuthConfig::cache): a cached HA1 is
///    checked at once; a miss is fetched with AsyncStore (Action::Pause; resumed on the core
///    thread), and too many fetches in flight answer 503 Retry-After: 1. A store that failed
///    the lookup gets 503 (RequestContext::respond_store_unavailable), not a challenge: it is
///    no failed attempt (AuthGuard does not count it) and no unknown user.
///    On success: ctx.set_identity("user@realm") and the credentials header for our realm is
///    removed from ctx.request() (s.22.3); other realms' credentials are forwarded.
///  - A request whose ctx.identity() already equals the expected user@realm (e.g. proven by
///    the WebSocket handshake) passes without a challenge.
///  - Nonce-count (RFC 7616 s.3.4): with qop=auth, each nonce's nc must grow (tracked in memory
///    per node for the nonce lifetime); a replayed or smaller nc after a valid response =>
///    new challenge with stale=true (auth_replays). nc must be 8 hex digits, else 400.
/// Not yet: checking `uri` against the Request-URI, auth-int, -sess algorithms; nc state is
/// per node (a cluster shares the nonce secret only).
/// Counters: auth_challenges, auth_successes, auth_failures, auth_stale, auth_forbidden,
/// auth_bad_credentials, auth_replays. Thread: core io thread (the AsyncStore's post must run
/// callbacks there).
class DigestAuthProcessor final : public proxy::RequestProcessor {
 public:
  /// `domains`, `store` and `timers` must outlive the processor. Creates a random nonce secret.
  DigestAuthProcessor(const proxy::Domains& domains, store::AsyncStore& store, TimerService& timers,
                      DigestAuthConfig cfg = {});
  /// Same, with a fixed nonce secret (tests; nodes of a cluster sharing nonces).
  DigestAuthProcessor(const proxy::Domains& domains, store::AsyncStore& store, TimerService& timers,
                      DigestAuthConfig cfg, const NonceManager::Secret& secret);

  std::string_view name() const override { return "digest-auth"; }
  /// Counts failed attempts per source IP and user into `guard` (brute-force bans); a user
  /// banned there gets 403 without a credential check. Not owned; null = no counting.
  void set_guard(AuthGuard* guard) { guard_ = guard; }
  proxy::Action process(proxy::RequestContext& ctx) override;

 private:
  struct Pending;
  /// Sets a 401/407 challenge on ctx (MD5, then SHA-256 if offered).
  void challenge(proxy::RequestContext& ctx, bool proxy, const std::string& realm, bool stale);
  /// Checks the credentials in `p` against `sub` (null: no such subscriber).
  void finish(proxy::RequestContext& ctx, const Pending& p, const store::Subscriber* sub);

  const proxy::Domains& domains_;
  TimerService& timers_;
  DigestAuthConfig cfg_;
  NonceManager nonces_;
  Counter& challenges_;
  Counter& successes_;
  Counter& failures_;
  Counter& stale_;
  Counter& forbidden_;
  Counter& bad_credentials_;
  Counter& replays_;

  NonceCounts nonce_counts_;  ///< qop=auth nonce-counts (replay detection)
  CredentialCache cache_;
  AuthGuard* guard_ = nullptr;
};

}  // namespace sipws::auth
