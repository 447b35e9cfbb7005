#include "auth/handshake_auth.hpp"

#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>

#include "auth/digest.hpp"
#include "common/log.hpp"
#include "common/text.hpp"
#include "proxy/request_context.hpp"
#include "sip/headers.hpp"

namespace sipws::auth {
namespace {

constexpr std::size_t kMaxUserLength = 128;
constexpr std::size_t kMaxPasswordLength = 1024;
constexpr std::size_t kMaxTrackedPeers = 10000;

/// The path of a request target, without query or fragment.
std::string_view path_of(std::string_view target) {
  return target.substr(0, std::min(target.find('?'), target.find('#')));
}

/// user and password from a JSON or form body; false if the body is neither or lacks them.
bool parse_login_body(const std::string& content_type, const std::string& body, std::string& user,
                      std::string& password) {
  const std::string lowered = to_lower(content_type.substr(0, content_type.find(';')));
  const std::string_view type = text::trim(lowered);
  if (type == "application/json") {
    const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return false;
    const auto u = j.find("user");
    const auto p = j.find("password");
    if (u == j.end() || p == j.end() || !u->is_string() || !p->is_string()) return false;
    user = u->get<std::string>();
    password = p->get<std::string>();
    return true;
  }
  if (type == "application/x-www-form-urlencoded") {
    bool have_user = false, have_password = false;
    std::string_view rest = body;
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      const auto eq = pair.find('=');
      if (eq != std::string_view::npos) {
        auto name = text::form_decode(pair.substr(0, eq));
        auto value = text::form_decode(pair.substr(eq + 1));
        if (name && value && *name == "user") {
          user = std::move(*value);
          have_user = true;
        } else if (name && value && *name == "password") {
          password = std::move(*value);
          have_password = true;
        }
      }
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
    return have_user && have_password;
  }
  return false;
}

bool valid_user(std::string_view user) {
  if (user.empty() || user.size() > kMaxUserLength) return false;
  for (char c : user) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '@' || c == '|' || c == ':') return false;
  }
  return true;
}

LoginResponse json_response(int status, const nlohmann::json& body) {
  LoginResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.headers.emplace_back("Cache-Control", "no-store");
  // A stored user name need not be UTF-8 (`sipws user add` takes any bytes but whitespace and
  // controls): such bytes show as U+FFFD instead of dump() throwing on the io thread.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return r;
}

}  // namespace

HandshakeAuthenticator::HandshakeAuthenticator(HandshakeAuthConfig cfg, std::string_view secret,
                                               store::AsyncStore& store, TimerService& timers)
    : cfg_(std::move(cfg)),
      cookies_(secret, cfg_.session_lifetime_s),
      store_(store),
      timers_(timers),
      nonces_(cfg_.nonce_lifetime_s),
      nonce_counts_(cfg_.nonce_lifetime_s),
      cache_(store, timers, cfg_.cache),
      self_(std::make_shared<HandshakeAuthenticator*>(this)),
      cookie_ok_(SIPWS_COUNTER("ws_auth_cookie_ok")),
      cookie_bad_(SIPWS_COUNTER("ws_auth_cookie_bad")),
      digest_ok_(SIPWS_COUNTER("ws_auth_digest_ok")),
      digest_bad_(SIPWS_COUNTER("ws_auth_digest_bad")),
      digest_stale_(SIPWS_COUNTER("ws_auth_digest_stale")),
      digest_fetching_(SIPWS_COUNTER("ws_auth_digest_fetching")),
      login_ok_(SIPWS_COUNTER("ws_login_ok")),
      login_failed_(SIPWS_COUNTER("ws_login_failed")),
      login_throttled_(SIPWS_COUNTER("ws_login_throttled")) {
  cfg_.realm = to_lower(cfg_.realm);
}

HandshakeAuthenticator::HandshakeAuthenticator(HandshakeAuthConfig cfg, std::string_view secret,
                                               store::AsyncStore& store, TimerService& timers,
                                               const NonceManager::Secret& nonce_secret)
    : HandshakeAuthenticator(std::move(cfg), secret, store, timers) {
  nonces_ = NonceManager(nonce_secret, cfg_.nonce_lifetime_s);
}

HandshakeAuthenticator::~HandshakeAuthenticator() { self_.reset(); }

UpgradeVerdict HandshakeAuthenticator::check_upgrade(const UpgradeRequest& req) {
  switch (cfg_.mode) {
    case HandshakeAuthMode::Off:
      return {};
    case HandshakeAuthMode::Cookie: {
      bool offered = false;
      UpgradeVerdict v = check_cookie(req, &offered);
      if (v.status == 0) return v;
      log::auth().info("ws auth: upgrade from {} refused: {}", req.peer_address,
                       offered ? "invalid session cookie" : "no session cookie");
      return v;
    }
    case HandshakeAuthMode::Digest:
      return check_digest(req);
    case HandshakeAuthMode::Any: {
      bool offered = false;
      UpgradeVerdict v = check_cookie(req, &offered);
      if (v.status == 0) return v;
      return check_digest(req);
    }
  }
  return challenge(401, false);
}

UpgradeVerdict HandshakeAuthenticator::check_cookie(const UpgradeRequest& req, bool* offered) {
  const auto values = cookie_values(req.cookie, kSessionCookieName);
  *offered = !values.empty();
  const std::int64_t now = timers_.unix_time();
  for (const auto& value : values) {
    auto aor = cookies_.verify(value, now);
    if (!aor) {
      cookie_bad_.inc();
      log::auth().debug("ws auth: session cookie from {}: {}", req.peer_address,
                        to_string(aor.error()));
      continue;
    }
    const auto at = aor.value().rfind('@');
    if (at == std::string::npos || !iequal(aor.value().substr(at + 1), cfg_.realm)) {
      cookie_bad_.inc();
      continue;  // signed for another domain (a key shared across deployments)
    }
    cookie_ok_.inc();
    UpgradeVerdict v;
    v.identity = std::move(aor.value());
    return v;
  }
  UpgradeVerdict v;
  v.status = 403;
  return v;
}

UpgradeVerdict HandshakeAuthenticator::challenge(int status, bool stale) {
  UpgradeVerdict v;
  v.status = status;
  const std::string nonce = nonces_.issue(cfg_.realm, timers_.unix_time());
  // RFC 7616 s.3.7: one challenge per algorithm, the preferred one first.
  for (DigestAlgorithm a : {DigestAlgorithm::Sha256, DigestAlgorithm::Md5}) {
    std::string h = "Digest realm=\"" + cfg_.realm +
                    "\", qop=\"auth\", algorithm=" + std::string(algorithm_name(a)) + ", nonce=\"" +
                    nonce + "\"";
    if (stale) h += ", stale=true";
    v.headers.emplace_back("WWW-Authenticate", std::move(h));
  }
  return v;
}

UpgradeVerdict HandshakeAuthenticator::check_digest(const UpgradeRequest& req) {
  auto a = sip::parse_auth(req.authorization);
  if (!a || !iequal(a->scheme, "Digest") || !iequal(auth_param(*a, "realm"), cfg_.realm)) {
    if (!req.authorization.empty()) digest_bad_.inc();
    return challenge(401, false);
  }
  const std::string user(auth_param(*a, "username"));
  const std::string uri(auth_param(*a, "uri"));
  const std::string nonce(auth_param(*a, "nonce"));
  const std::string response = to_lower(auth_param(*a, "response"));
  const std::string qop = to_lower(auth_param(*a, "qop"));
  const std::string nc(auth_param(*a, "nc"));
  const std::string cnonce(auth_param(*a, "cnonce"));
  UpgradeVerdict bad_request;
  bad_request.status = 400;
  if (user.empty() || uri.empty() || nonce.empty() || response.empty() || nc.empty() ||
      cnonce.empty() || !parse_nonce_count(nc)) {
    digest_bad_.inc();
    return bad_request;
  }
  if (uri != req.resource) {
    // RFC 7616 s.3.4: the server checks that `uri` names the requested resource.
    digest_bad_.inc();
    log::auth().info("ws auth: digest uri '{}' is not the request target '{}' (from {})", uri,
                     req.resource, req.peer_address);
    return bad_request;
  }
  const auto alg = parse_algorithm(auth_param(*a, "algorithm"));
  if (!alg || qop != "auth" || auth_param(*a, "userhash") == "true") {
    digest_bad_.inc();
    return challenge(401, false);
  }
  switch (nonces_.check(nonce, cfg_.realm, timers_.unix_time())) {
    case NonceStatus::Valid:
      break;
    case NonceStatus::Stale:
      digest_stale_.inc();
      return challenge(401, true);
    case NonceStatus::Invalid:
      digest_bad_.inc();
      return challenge(401, false);
  }
  const CredentialCache::Result r = cache_.lookup(user, cfg_.realm);
  switch (r.state) {
    case CredentialCache::State::Busy: {
      UpgradeVerdict v;
      v.status = 503;
      v.headers.emplace_back("Retry-After", "1");
      return v;
    }
    case CredentialCache::State::Fetching:
      // Synchronous handshake: the credentials are on their way from the store. A fresh nonce
      // with stale=true makes the client retry with the same credentials (RFC 7616 s.3.3).
      digest_fetching_.inc();
      return challenge(401, true);
    case CredentialCache::State::Error: {
      // The store failed the fetch: no challenge (the credentials may be right).
      SIPWS_COUNTER("store_unavailable_responses").inc();
      UpgradeVerdict v;
      v.status = 503;
      v.headers.emplace_back("Retry-After",
                             std::to_string(proxy::RequestContext::kStoreRetryAfterS));
      return v;
    }
    case CredentialCache::State::NotFound:
      digest_bad_.inc();
      log::auth().info("ws auth: digest for unknown user {}@{} from {}", user, cfg_.realm,
                       req.peer_address);
      return challenge(401, false);
    case CredentialCache::State::Found:
      break;
  }
  const store::Subscriber& sub = *r.subscriber;
  const std::string& ha1_hex = *alg == DigestAlgorithm::Sha256 ? sub.ha1_sha256 : sub.ha1_md5;
  const std::string expected =
      ha1_hex.empty() ? std::string()
                      : digest_response(*alg, ha1_hex, "GET", uri, nonce, qop, nc, cnonce);
  if (expected.empty() || !constant_time_equal(expected, response)) {
    digest_bad_.inc();
    log::auth().info("ws auth: wrong digest response for {}@{} from {}", user, cfg_.realm,
                     req.peer_address);
    return challenge(401, false);
  }
  if (!nonce_counts_.accept(nonce, *parse_nonce_count(nc), timers_.unix_time())) {
    digest_stale_.inc();
    log::auth().info("ws auth: nonce-count replay for {}@{} from {}", user, cfg_.realm,
                     req.peer_address);
    return challenge(401, true);
  }
  digest_ok_.inc();
  UpgradeVerdict v;
  v.identity = user + "@" + cfg_.realm;
  return v;
}

bool HandshakeAuthenticator::handle_http(const LoginRequest& req,
                                         std::function<void(LoginResponse)> reply) {
  if (cfg_.mode != HandshakeAuthMode::Cookie && cfg_.mode != HandshakeAuthMode::Any) {
    return false;
  }
  const std::string_view path = path_of(req.target);
  if (path != "/login" && path != "/logout") return false;
  if (req.method != "POST") {
    LoginResponse r = json_response(405, {{"error", "use POST"}});
    r.headers.emplace_back("Allow", "POST");
    reply(std::move(r));
    return true;
  }
  if (!req.origin.empty()) {
    // A browser sends Origin with every POST: it must be the page's own origin (no login
    // CSRF from another site's form).
    const std::string want = std::string(req.secure ? "https://" : "http://") + req.host;
    if (!iequal(req.origin, want)) {
      log::auth().info("ws auth: {} from {} refused: Origin '{}' is not '{}'", path,
                       req.peer_address, req.origin, want);
      reply(json_response(403, {{"error", "cross-origin request"}}));
      return true;
    }
  }
  if (path == "/logout") {
    LoginResponse r = json_response(200, {{"ok", true}});
    r.headers.emplace_back("Set-Cookie", SessionCookies::clear_cookie_header(req.secure));
    reply(std::move(r));
    return true;
  }
  login(req, std::move(reply));
  return true;
}

bool HandshakeAuthenticator::login_allowed(const std::string& peer, std::int64_t* retry_after_s) {
  const std::int64_t now = timers_.unix_time();
  auto it = login_failures_.find(peer);
  if (it == login_failures_.end()) return true;
  if (it->second.window_end <= now) {
    login_failures_.erase(it);
    return true;
  }
  if (it->second.count < cfg_.login_max_failures) return true;
  *retry_after_s = it->second.window_end - now;
  return false;
}

void HandshakeAuthenticator::login_failed(const std::string& peer) {
  const std::int64_t now = timers_.unix_time();
  if (login_failures_.size() >= kMaxTrackedPeers) {
    for (auto it = login_failures_.begin(); it != login_failures_.end();) {
      it = it->second.window_end <= now ? login_failures_.erase(it) : std::next(it);
    }
  }
  auto& f = login_failures_[peer];
  if (f.window_end <= now) f = Failures{0, now + cfg_.login_window_s};
  ++f.count;
}

void HandshakeAuthenticator::login(const LoginRequest& req,
                                   std::function<void(LoginResponse)> reply) {
  std::int64_t retry_after = 0;
  if (!login_allowed(req.peer_address, &retry_after)) {
    login_throttled_.inc();
    LoginResponse r = json_response(429, {{"error", "too many failed logins"}});
    r.headers.emplace_back("Retry-After", std::to_string(std::max<std::int64_t>(1, retry_after)));
    reply(std::move(r));
    return;
  }
  std::string user, password;
  if (!parse_login_body(req.content_type, req.body, user, password) ||
      password.size() > kMaxPasswordLength) {
    reply(
        json_response(400, {{"error", "want {\"user\":...,\"password\":...} as JSON or a form"}}));
    return;
  }
  // "alice" or "alice@domain" (the domain must be ours).
  const auto at = user.rfind('@');
  if (at != std::string::npos) {
    if (!iequal(std::string_view(user).substr(at + 1), cfg_.realm)) {
      login_failed_.inc();
      login_failed(req.peer_address);
      reply(json_response(401, {{"error", "wrong user or password"}}));
      return;
    }
    user.resize(at);
  }
  if (!valid_user(user)) {
    reply(json_response(400, {{"error", "bad user name"}}));
    return;
  }
  if (logins_in_flight_ >= cfg_.login_max_in_flight) {
    LoginResponse r = json_response(503, {{"error", "busy, retry"}});
    r.headers.emplace_back("Retry-After", "1");
    reply(std::move(r));
    return;
  }
  ++logins_in_flight_;
  std::weak_ptr<HandshakeAuthenticator*> weak = self_;
  store_.find_subscriber(
      user, cfg_.realm,
      [weak, user, password = std::move(password), peer = req.peer_address, secure = req.secure,
       reply = std::move(reply)](const store::Result<std::optional<store::Subscriber>>& found) {
        auto self = weak.lock();
        if (!self) return;
        HandshakeAuthenticator& h = **self;
        --h.logins_in_flight_;
        if (!found) {
          // The store could not say: not a failed login (no throttling), and no cookie.
          SIPWS_COUNTER("store_unavailable_responses").inc();
          LoginResponse r = json_response(503, {{"error", "store unavailable, retry"}});
          r.headers.emplace_back("Retry-After",
                                 std::to_string(proxy::RequestContext::kStoreRetryAfterS));
          reply(std::move(r));
          return;
        }
        const std::optional<store::Subscriber>& sub = *found;
        // HA1 with the subscriber's algorithm (SHA-256 when stored); an unknown user costs
        // the same hashing.
        const bool sha = !sub || !sub->ha1_sha256.empty();
        const DigestAlgorithm alg = sha ? DigestAlgorithm::Sha256 : DigestAlgorithm::Md5;
        const std::string mine = ha1(alg, user, h.cfg_.realm, password);
        const std::string stored = !sub  ? std::string(mine.size(), '\0')
                                   : sha ? sub->ha1_sha256
                                         : sub->ha1_md5;
        const bool ok = constant_time_equal(mine, to_lower(stored)) && sub.has_value();
        if (!ok) {
          h.login_failed_.inc();
          h.login_failed(peer);
          log::auth().info("ws auth: failed login for {}@{} from {}", user, h.cfg_.realm, peer);
          reply(json_response(401, {{"error", "wrong user or password"}}));
          return;
        }
        h.login_ok_.inc();
        h.login_failures_.erase(peer);
        const std::string aor = user + "@" + h.cfg_.realm;
        const std::int64_t now = h.timers_.unix_time();
        LoginResponse r =
            json_response(200, {{"aor", aor}, {"expires", now + h.cookies_.lifetime_s()}});
        r.headers.emplace_back("Set-Cookie",
                               h.cookies_.set_cookie_header(h.cookies_.issue(aor, now), secure));
        log::auth().info("ws auth: {} logged in from {}", aor, peer);
        reply(std::move(r));
      });
}

}  // namespace sipws::auth
