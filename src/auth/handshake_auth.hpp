#pragma once
// WebSocket handshake authentication (RFC 7118 s.7 and Appendix A): a session cookie obtained
// from an HTTPS login endpoint, or HTTP Digest (RFC 7616) on the upgrade request itself. The
// proven identity ("user@domain") is then bound to the flow (FlowIdentityProcessor enforces it).
// No websocketpp or ws type here: the daemon adapts ws::HandshakeRequest / ws::HttpRequest.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "auth/credential_cache.hpp"
#include "auth/nonce.hpp"
#include "auth/session_cookie.hpp"
#include "common/counters.hpp"
#include "common/timer.hpp"
#include "store/store.hpp"

namespace sipws::auth {

/// `ws_auth`: which proofs an upgrade may carry.
enum class HandshakeAuthMode { Off, Cookie, Digest, Any };

struct HandshakeAuthConfig {
  HandshakeAuthMode mode = HandshakeAuthMode::Off;
  std::string realm;                         ///< the SIP domain: digest realm, cookie domain
  std::uint32_t session_lifetime_s = 43200;  ///< cookie validity (`ws_session_lifetime`)
  std::uint32_t nonce_lifetime_s = 300;      ///< digest nonces (`nonce_lifetime`)
  CredentialCache::Config cache;             ///< HA1 cache for Digest on the upgrade
  std::uint32_t login_max_failures = 5;      ///< failed logins per peer address per window
  std::uint32_t login_window_s = 300;        ///< ... then 429 until the window ends
  std::size_t login_max_in_flight = 64;      ///< logins waiting for the store; more => 503
};

/// What the upgrade request offers (copied from the HTTP request).
struct UpgradeRequest {
  std::string peer_address;   ///< the client's IP (logs)
  std::string resource;       ///< request target: Digest's `uri` must equal it
  std::string cookie;         ///< Cookie header
  std::string authorization;  ///< Authorization header
};

/// status 0 = accept and bind `identity`; otherwise refuse with status and headers.
struct UpgradeVerdict {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string identity;
};

/// A plain HTTP request on the WS/WSS port.
struct LoginRequest {
  std::string peer_address;
  std::string method;
  std::string target;  ///< "/login", "/logout" (query ignored)
  std::string host;    ///< Host header
  std::string origin;  ///< Origin header; if present, it must be this page's origin (403)
  std::string content_type;
  std::string body;
  bool secure = false;  ///< HTTPS listener: the cookie gets `Secure`
};

struct LoginResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

/// Decides WebSocket upgrades and serves `POST /login` and `POST /logout`.
///
/// Upgrade (check_upgrade), by mode:
///  - cookie: a valid `sipws_session` cookie (signature, expiry) => accept with its aor; none,
///    expired or forged => 403 (there is nothing the upgrade request itself could add).
///  - digest: `Authorization: Digest` (RFC 7616, MD5 or SHA-256, qop=auth, realm = domain,
///    `uri` = the request target, nc strictly growing per nonce) checked against the
///    subscriber's HA1 from the CredentialCache => accept as user@realm. No or bad credentials
///    => 401 with two challenges (SHA-256 first, then MD5, RFC 7616 s.3.7); stale nonce or a
///    replayed nc => 401 stale=true; cache miss => the fetch starts and the answer is 401 with a
///    fresh nonce and stale=true, so that the client retries with the same credentials
///    (RFC 7616 s.3.3) and finds them cached; too many fetches => 503 Retry-After: 1; a fetch
///    the store failed => 503 with Retry-After (no challenge: the credentials may be right);
///    malformed credentials or a `uri` that is not the request target => 400.
///  - any: a valid cookie, else as digest.
///
/// HTTP (handle_http): `POST /login` with `{"user":"alice","password":"..."}` (JSON) or
/// `user=alice&password=...` (form) checks the password against the stored HA1 (SHA-256 if
/// stored, else MD5; compared in constant time) through AsyncStore, then 200 with Set-Cookie
/// and `{"aor":"alice@domain","expires":<unix>}` (bytes of a stored name that are not UTF-8
/// shown as U+FFFD; the cookie keeps the name as stored); 401 on wrong credentials; 400 on a
/// bad body;
/// 429 with Retry-After after login_max_failures failures from one address within the window
/// (the store is not asked); 503 when login_max_in_flight logins wait for the store, and 503
/// with Retry-After when the store failed the lookup (not counted as a failed login).
/// A login whose Origin header names another site than Host is refused with 403 (login CSRF).
/// `POST /logout` answers 200 with a Set-Cookie that clears it (the cookie is stateless: a
/// copy stays valid until it expires). Other methods on these paths: 405. Other paths: not
/// handled.
///
/// Counters: ws_auth_cookie_ok, ws_auth_cookie_bad, ws_auth_digest_ok, ws_auth_digest_bad,
/// ws_auth_digest_stale, ws_auth_digest_fetching, ws_login_ok, ws_login_failed,
/// ws_login_throttled, store_unavailable_responses (the two 503s for a failed store).
/// Thread: core io thread (the AsyncStore posts its callbacks there).
class HandshakeAuthenticator {
 public:
  /// `secret`: the cookie key (>= 16 bytes). `store` and `timers` must outlive this.
  HandshakeAuthenticator(HandshakeAuthConfig cfg, std::string_view secret, store::AsyncStore& store,
                         TimerService& timers);
  /// Same with a fixed nonce secret (tests).
  HandshakeAuthenticator(HandshakeAuthConfig cfg, std::string_view secret, store::AsyncStore& store,
                         TimerService& timers, const NonceManager::Secret& nonce_secret);
  ~HandshakeAuthenticator();

  UpgradeVerdict check_upgrade(const UpgradeRequest& req);
  /// The HA1 cache of Digest upgrades: with several shards, each shard's authenticator hands
  /// what it fetched to the others (CredentialCache::on_fetched / prime), since the client's
  /// retry after a "stale" challenge may arrive on another shard.
  CredentialCache& credentials() { return cache_; }

  /// Takes /login and /logout (returns true and calls `reply` once, now or after the store
  /// answered); returns false for any other target.
  bool handle_http(const LoginRequest& req, std::function<void(LoginResponse)> reply);

  const HandshakeAuthConfig& config() const { return cfg_; }
  const SessionCookies& cookies() const { return cookies_; }

 private:
  UpgradeVerdict check_cookie(const UpgradeRequest& req, bool* offered);
  UpgradeVerdict check_digest(const UpgradeRequest& req);
  UpgradeVerdict challenge(int status, bool stale);
  void login(const LoginRequest& req, std::function<void(LoginResponse)> reply);
  /// True if `peer` may try to log in now; else sets `retry_after_s`.
  bool login_allowed(const std::string& peer, std::int64_t* retry_after_s);
  void login_failed(const std::string& peer);

  HandshakeAuthConfig cfg_;
  SessionCookies cookies_;
  store::AsyncStore& store_;
  TimerService& timers_;
  NonceManager nonces_;
  NonceCounts nonce_counts_;
  CredentialCache cache_;
  struct Failures {
    std::uint32_t count = 0;
    std::int64_t window_end = 0;  ///< Unix seconds
  };
  std::unordered_map<std::string, Failures> login_failures_;
  std::size_t logins_in_flight_ = 0;
  /// Store callbacks hold a weak_ptr: they are no-ops once the authenticator is gone.
  std::shared_ptr<HandshakeAuthenticator*> self_;
  Counter& cookie_ok_;
  Counter& cookie_bad_;
  Counter& digest_ok_;
  Counter& digest_bad_;
  Counter& digest_stale_;
  Counter& digest_fetching_;
  Counter& login_ok_;
  Counter& login_failed_;
  Counter& login_throttled_;
};

}  // namespace sipws::auth
