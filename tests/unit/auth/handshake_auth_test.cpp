// HandshakeAuthenticator without sockets: HTTP Digest on the upgrade (challenge, stale on a
// cache miss, accept, replay, wrong password), session cookies on the upgrade, and the /login
// and /logout endpoint, with a real SQLite store and an AsyncStore posting to a test queue; a
// store that fails gets 503s, never a challenge or a failed login.

#include "auth/handshake_auth.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../store/store_fixtures.hpp"
#include "handshake_test_util.hpp"

namespace sipws::auth {
namespace {

using test::Challenge;

const std::string kKey = "0123456789abcdef0123456789abcdef";

std::string header(const std::vector<std::pair<std::string, std::string>>& hs,
                   const std::string& name) {
  for (const auto& [n, v] : hs) {
    if (n == name) return v;
  }
  return {};
}

std::vector<Challenge> challenges(const UpgradeVerdict& v) {
  std::vector<Challenge> out;
  for (const auto& [n, value] : v.headers) {
    if (n != "WWW-Authenticate") continue;
    auto c = test::parse_challenge(value);
    EXPECT_TRUE(c) << value;
    if (c) out.push_back(*c);
  }
  return out;
}

/// The session cookie value from a Set-Cookie header.
std::string cookie_of(const std::string& set_cookie) {
  const auto eq = set_cookie.find('=');
  const auto semi = set_cookie.find(';');
  return set_cookie.substr(eq + 1, semi - eq - 1);
}

class HandshakeAuthTest : public ::testing::Test {
 protected:
  HandshakeAuthTest()
      : store_(store::Store::open(dir_.uri()),
               [this](std::function<void()> fn) { queue_.push(std::move(fn)); }) {
    store_.sync().put_subscriber(make_subscriber("alice", "example.com", "secret"));
    auto md5_only = make_subscriber("carol", "example.com", "c4rol");
    md5_only.ha1_sha256.clear();
    store_.sync().put_subscriber(md5_only);
  }

  void make(HandshakeAuthMode mode) {
    HandshakeAuthConfig cfg;
    cfg.mode = mode;
    cfg.realm = "Example.COM";  // compared and issued lower-case
    cfg.session_lifetime_s = 3600;
    auth_ = std::make_unique<HandshakeAuthenticator>(cfg, kKey, store_, timers_);
  }

  /// Lets the store answer and runs its callbacks, as the io thread would.
  void settle() {
    store_.flush();
    queue_.drain();
  }

  UpgradeVerdict upgrade(const std::string& authorization, const std::string& cookie = "",
                         const std::string& resource = "/") {
    return auth_->check_upgrade({"127.0.0.1", resource, cookie, authorization});
  }

  /// Runs /login or /logout; the reply may come after the store answered.
  std::optional<LoginResponse> http(const std::string& method, const std::string& target,
                                    const std::string& content_type, const std::string& body,
                                    const std::string& peer = "192.0.2.1",
                                    const std::string& origin = "") {
    LoginRequest r;
    r.peer_address = peer;
    r.method = method;
    r.target = target;
    r.host = "example.com:8443";
    r.origin = origin;
    r.content_type = content_type;
    r.body = body;
    r.secure = true;
    std::optional<LoginResponse> got;
    int replies = 0;
    taken_ = auth_->handle_http(r, [&](LoginResponse x) {
      got = std::move(x);
      ++replies;
    });
    settle();
    EXPECT_LE(replies, 1);
    return got;
  }

  std::optional<LoginResponse> login(const std::string& user, const std::string& password,
                                     const std::string& peer = "192.0.2.1") {
    nlohmann::json j{{"user", user}, {"password", password}};
    return http("POST", "/login", "application/json", j.dump(), peer);
  }

  test::TempDir dir_;
  test::TestQueue queue_;
  ManualTimerService timers_;
  store::AsyncStore store_;
  std::unique_ptr<HandshakeAuthenticator> auth_;
  bool taken_ = false;
};

TEST_F(HandshakeAuthTest, OffAcceptsEverythingWithoutIdentity) {
  make(HandshakeAuthMode::Off);
  const auto v = upgrade("");
  EXPECT_EQ(v.status, 0);
  EXPECT_TRUE(v.identity.empty());
  EXPECT_FALSE(http("POST", "/login", "application/json", "{}"));
  EXPECT_FALSE(taken_);
}

TEST_F(HandshakeAuthTest, DigestChallengesThenStaleOnMissThenAccepts) {
  make(HandshakeAuthMode::Digest);
  // 1. No credentials: 401 with SHA-256 then MD5 (RFC 7616 s.3.7), qop=auth, realm = domain.
  auto v = upgrade("");
  ASSERT_EQ(v.status, 401);
  auto cs = challenges(v);
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0].algorithm, "SHA-256");
  EXPECT_EQ(cs[1].algorithm, "MD5");
  EXPECT_EQ(cs[0].realm, "example.com");
  EXPECT_EQ(cs[0].qop, "auth");
  EXPECT_FALSE(cs[0].stale);

  // 2. Good credentials, HA1 not cached yet: the fetch starts, 401 stale=true, fresh nonce.
  const auto fetching = counters().get("ws_auth_digest_fetching").value();
  v = upgrade(test::authorization(cs[0], "alice", "secret", "/"));
  ASSERT_EQ(v.status, 401);
  auto again = challenges(v);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_TRUE(again[0].stale);
  EXPECT_EQ(counters().get("ws_auth_digest_fetching").value(), fetching + 1);
  // Still in flight: same answer, no second fetch (the store has not answered).
  v = upgrade(test::authorization(again[0], "alice", "secret", "/"));
  EXPECT_EQ(v.status, 401);
  settle();

  // 3. The client retries with the same credentials: accepted as alice@example.com.
  v = upgrade(test::authorization(again[0], "alice", "secret", "/"));
  EXPECT_EQ(v.status, 0);
  EXPECT_EQ(v.identity, "alice@example.com");
  // MD5 works as well (new nonce-count on the same nonce).
  v = upgrade(test::authorization(again[1], "alice", "secret", "/", "00000002"));
  EXPECT_EQ(v.status, 0);
}

TEST_F(HandshakeAuthTest, DigestReplayWrongPasswordUnknownUserAndBadRequests) {
  make(HandshakeAuthMode::Digest);
  const Challenge c = challenges(upgrade(""))[0];
  upgrade(test::authorization(c, "alice", "secret", "/"));  // miss: starts the fetch
  upgrade(test::authorization(c, "nobody", "x", "/"));
  settle();

  const std::string good = test::authorization(c, "alice", "secret", "/", "00000001");
  EXPECT_EQ(upgrade(good).status, 0);
  // The same header again (a replay): nonce-count did not grow => stale challenge.
  auto v = upgrade(good);
  EXPECT_EQ(v.status, 401);
  EXPECT_TRUE(challenges(v)[0].stale);

  v = upgrade(test::authorization(c, "alice", "wrong", "/", "00000005"));
  EXPECT_EQ(v.status, 401);
  EXPECT_FALSE(challenges(v)[0].stale);
  v = upgrade(test::authorization(c, "nobody", "x", "/", "00000006"));
  EXPECT_EQ(v.status, 401);
  EXPECT_FALSE(challenges(v)[0].stale);

  // uri must be the request target; malformed credentials are 400.
  EXPECT_EQ(upgrade(test::authorization(c, "alice", "secret", "/other", "00000007")).status, 400);
  EXPECT_EQ(upgrade("Digest username=\"alice\", realm=\"example.com\"").status, 400);
  // Another realm or scheme: a fresh challenge.
  Challenge other = c;
  other.realm = "evil.example";
  EXPECT_EQ(upgrade(test::authorization(other, "alice", "secret", "/")).status, 401);
  EXPECT_EQ(upgrade("Basic YWxpY2U6c2VjcmV0").status, 401);
}

TEST_F(HandshakeAuthTest, DigestNonceOlderThanItsLifetimeIsStale) {
  make(HandshakeAuthMode::Digest);
  const Challenge c = challenges(upgrade(""))[0];
  upgrade(test::authorization(c, "alice", "secret", "/"));
  settle();
  timers_.advance(std::chrono::seconds(301));
  const auto v = upgrade(test::authorization(c, "alice", "secret", "/"));
  EXPECT_EQ(v.status, 401);
  EXPECT_TRUE(challenges(v)[0].stale);
}

TEST_F(HandshakeAuthTest, CookieModeNeedsAValidCookie) {
  make(HandshakeAuthMode::Cookie);
  EXPECT_EQ(upgrade("").status, 403);
  EXPECT_EQ(upgrade("", "sipws_session=garbage").status, 403);
  const SessionCookies& c = auth_->cookies();
  const std::string value = c.issue("alice@example.com", timers_.unix_time());
  auto v = upgrade("", "theme=dark; sipws_session=" + value);
  EXPECT_EQ(v.status, 0);
  EXPECT_EQ(v.identity, "alice@example.com");
  // Signed with our key but for another domain: refused.
  EXPECT_EQ(upgrade("", "sipws_session=" + c.issue("alice@other.org", timers_.unix_time())).status,
            403);
  // Expired.
  timers_.advance(std::chrono::seconds(3600));
  EXPECT_EQ(upgrade("", "sipws_session=" + value).status, 403);
  // Digest credentials do not count in cookie mode.
  EXPECT_EQ(upgrade("Digest username=\"alice\"").status, 403);
}

TEST_F(HandshakeAuthTest, AnyTakesACookieOrDigest) {
  make(HandshakeAuthMode::Any);
  auto v = upgrade("", "sipws_session=bad");
  ASSERT_EQ(v.status, 401);  // no valid cookie: the Digest challenge
  const Challenge c = challenges(v)[0];
  const std::string value = auth_->cookies().issue("alice@example.com", timers_.unix_time());
  EXPECT_EQ(upgrade("", "sipws_session=" + value).identity, "alice@example.com");
  upgrade(test::authorization(c, "alice", "secret", "/"));
  settle();
  EXPECT_EQ(upgrade(test::authorization(c, "alice", "secret", "/")).identity, "alice@example.com");
}

TEST_F(HandshakeAuthTest, LoginSetsASignedCookieThatOpensTheUpgrade) {
  make(HandshakeAuthMode::Cookie);
  auto r = login("alice", "secret");
  ASSERT_TRUE(r);
  EXPECT_TRUE(taken_);
  ASSERT_EQ(r->status, 200) << r->body;
  const std::string set_cookie = header(r->headers, "Set-Cookie");
  EXPECT_NE(set_cookie.find("; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=3600"),
            std::string::npos)
      << set_cookie;
  EXPECT_EQ(header(r->headers, "Cache-Control"), "no-store");
  const auto body = nlohmann::json::parse(r->body);
  EXPECT_EQ(body.at("aor"), "alice@example.com");
  const auto v = upgrade("", "sipws_session=" + cookie_of(set_cookie));
  EXPECT_EQ(v.status, 0);
  EXPECT_EQ(v.identity, "alice@example.com");

  // Form-encoded, "user@domain" accepted, and an MD5-only subscriber.
  r = http("POST", "/login", "application/x-www-form-urlencoded; charset=UTF-8",
           "user=carol%40example.com&password=c4rol");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(HandshakeAuthTest, LoginOfAUserNameThatIsNotUtf8AnswersJson) {
  // `sipws user add` stores any bytes but whitespace and controls, so a subscriber may be named
  // in Latin-1 ("jos\xe9"), and a form body can name it ("%E9"). The JSON answer used to throw
  // (nlohmann's dump() on invalid UTF-8) out of the store callback on the io thread; found by
  // auth_login_fuzz.
  store_.sync().put_subscriber(make_subscriber("jos\xe9", "example.com", "pw"));
  make(HandshakeAuthMode::Cookie);
  auto r = http("POST", "/login", "application/x-www-form-urlencoded", "user=jos%E9&password=pw");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  // The body shows the byte as U+FFFD; the cookie carries the aor as stored.
  EXPECT_EQ(nlohmann::json::parse(r->body).at("aor"), "jos\xef\xbf\xbd@example.com");
  const auto v = upgrade("", "sipws_session=" + cookie_of(header(r->headers, "Set-Cookie")));
  EXPECT_EQ(v.status, 0);
  EXPECT_EQ(v.identity, "jos\xe9@example.com");
}

TEST_F(HandshakeAuthTest, LoginRefusals) {
  make(HandshakeAuthMode::Any);
  auto r = login("alice", "wrong");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_TRUE(header(r->headers, "Set-Cookie").empty());
  r = login("nobody", "secret", "192.0.2.2");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = login("alice@other.org", "secret", "192.0.2.3");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = http("POST", "/login", "application/json", "{\"user\": 1}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = http("POST", "/login", "text/plain", "alice secret");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  r = http("GET", "/login", "", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(header(r->headers, "Allow"), "POST");
  // Another site's page posting to /login (login CSRF).
  r = http("POST", "/login", "application/json", R"({"user":"alice","password":"secret"})",
           "192.0.2.4", "https://evil.example");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = http("POST", "/login", "application/json", R"({"user":"alice","password":"secret"})",
           "192.0.2.4", "https://example.com:8443");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // Not ours: static files handle it.
  EXPECT_FALSE(http("GET", "/index.html", "", ""));
  EXPECT_FALSE(taken_);
}

TEST_F(HandshakeAuthTest, RepeatedFailuresFromOneAddressAreThrottled) {
  make(HandshakeAuthMode::Cookie);
  for (int i = 0; i < 5; ++i) {
    auto r = login("alice", "wrong");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
  }
  // Even the right password waits now, and the store is not asked.
  auto r = login("alice", "secret");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(header(r->headers, "Retry-After"), "300");
  // Another address is not affected.
  r = login("alice", "secret", "192.0.2.99");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // After the window the address may try again.
  timers_.advance(std::chrono::seconds(300));
  r = login("alice", "secret");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// The store fails (its subscriber table dropped by another connection): a Digest upgrade whose
// HA1 is being fetched gets the usual stale 401, then 503 with Retry-After (not a plain 401: the
// password may be right); /login gets 503 with Retry-After, no cookie, and is not counted as a
// failed login (six of them are not throttled). Once the store is back and the cache's
// error_ttl is over, both work again.
TEST_F(HandshakeAuthTest, AFailedStoreIs503NeverAChallengeOrAFailedLogin) {
  make(HandshakeAuthMode::Any);
  const Challenge c = challenges(upgrade(""))[0];
  const auto bad = counters().get("ws_auth_digest_bad").value();
  const auto failed = counters().get("ws_login_failed").value();
  const auto unavailable = counters().get("store_unavailable_responses").value();
  store::test::exec_sql(std::filesystem::path(dir_.path()) / "sipws.db", "DROP TABLE subscriber");

  auto v = upgrade(test::authorization(c, "alice", "secret", "/", "00000001"));
  ASSERT_EQ(v.status, 401);  // the fetch starts
  EXPECT_TRUE(challenges(v)[0].stale);
  settle();
  v = upgrade(test::authorization(c, "alice", "secret", "/", "00000002"));
  EXPECT_EQ(v.status, 503);
  EXPECT_EQ(header(v.headers, "Retry-After"), "5");
  EXPECT_TRUE(challenges(v).empty());
  EXPECT_TRUE(v.identity.empty());
  for (int i = 0; i < 6; ++i) {
    auto r = login("alice", "secret");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503) << r->body;
    EXPECT_EQ(header(r->headers, "Retry-After"), "5");
    EXPECT_TRUE(header(r->headers, "Set-Cookie").empty());
  }
  EXPECT_EQ(counters().get("ws_auth_digest_bad").value(), bad);
  EXPECT_EQ(counters().get("ws_login_failed").value(), failed);
  EXPECT_EQ(counters().get("store_unavailable_responses").value(), unavailable + 7);

  store::Store::open(dir_.uri())->put_subscriber(make_subscriber("alice", "example.com", "secret"));
  timers_.advance(CredentialCache::Config{}.error_ttl);
  auto r = login("alice", "secret");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(upgrade(test::authorization(c, "alice", "secret", "/", "00000003")).status, 401);
  settle();
  v = upgrade(test::authorization(c, "alice", "secret", "/", "00000004"));
  EXPECT_EQ(v.status, 0);
  EXPECT_EQ(v.identity, "alice@example.com");
}

TEST_F(HandshakeAuthTest, LogoutClearsTheCookie) {
  make(HandshakeAuthMode::Cookie);
  auto r = http("POST", "/logout?x=1", "", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(header(r->headers, "Set-Cookie"),
            "sipws_session=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0");
}

TEST_F(HandshakeAuthTest, LoginReplyAfterTheAuthenticatorIsGoneIsDropped) {
  make(HandshakeAuthMode::Cookie);
  LoginRequest req;
  req.method = "POST";
  req.target = "/login";
  req.content_type = "application/json";
  req.body = R"({"user":"alice","password":"secret"})";
  int replies = 0;
  ASSERT_TRUE(auth_->handle_http(req, [&](LoginResponse) { ++replies; }));
  auth_.reset();
  settle();
  EXPECT_EQ(replies, 0);
}

}  // namespace
}  // namespace sipws::auth
