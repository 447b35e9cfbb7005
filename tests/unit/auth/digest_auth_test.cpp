// DigestAuthProcessor with a real SQLite store, a real AsyncStore whose callbacks land on a test
// queue, SIP messages parsed from text and client responses computed with our digest functions;
// a store that fails answers 503, never a challenge.

#include "auth/digest_auth.hpp"

#include <gtest/gtest.h>

#include "../store/store_fixtures.hpp"
#include "common/counters.hpp"
#include "sip/parser.hpp"

namespace sipws::auth {
namespace {

using proxy::Action;
using proxy::RequestContext;
using sip::HeaderId;

using store::test::TempDir;
using store::test::TestQueue;

/// A challenge as a client reads it.
struct Challenge {
  std::string realm, nonce, qop, algorithm;
  bool stale = false;
};

std::vector<Challenge> challenges(const sip::Message& rsp, HeaderId id) {
  std::vector<Challenge> out;
  for (const sip::Header* h : rsp.find_all(id)) {
    auto a = sip::parse_auth(h->value);
    if (!a) {
      ADD_FAILURE() << "unparsable challenge: " << h->value;
      continue;
    }
    EXPECT_EQ(a->scheme, "Digest");
    Challenge c;
    auto get = [&](std::string_view n) {
      const sip::Param* p = a->param(n);
      return p ? std::string(p->value) : std::string();
    };
    c.realm = get("realm");
    c.nonce = get("nonce");
    c.qop = get("qop");
    c.algorithm = get("algorithm");
    c.stale = get("stale") == "true";
    out.push_back(c);
  }
  return out;
}

struct Creds {
  std::string user = "alice";
  std::string password = "secret";
  std::string realm = "example.com";
  std::string uri = "sip:example.com";
  std::string method = "REGISTER";
  DigestAlgorithm alg = DigestAlgorithm::Md5;
  bool qop = true;
  std::string nonce;
  std::string nc = "00000001";
};

/// The header value a client would send (RFC 7616 s.3.4).
std::string credentials(const Creds& c) {
  const std::string h1 = ha1(c.alg, c.user, c.realm, c.password);
  const std::string& nc = c.nc;
  const std::string cnonce = "0a4f113b";
  std::string v = "Digest username=\"" + c.user + "\", realm=\"" + c.realm + "\", nonce=\"" +
                  c.nonce + "\", uri=\"" + c.uri +
                  "\", algorithm=" + std::string(algorithm_name(c.alg));
  if (c.qop) {
    v += ", qop=auth, nc=" + nc + ", cnonce=\"" + cnonce + "\", response=\"" +
         digest_response(c.alg, h1, c.method, c.uri, c.nonce, "auth", nc, cnonce) + "\"";
  } else {
    v += ", response=\"" + digest_response(c.alg, h1, c.method, c.uri, c.nonce, "", "", "") + "\"";
  }
  return v;
}

sip::Message parse(const std::string& text) {
  auto m = sip::parse(text);
  if (!m) {
    ADD_FAILURE() << "parse failed: " << m.error().reason << "\n" << text;
    return {};
  }
  return std::move(m.value());
}

sip::Message make_register(const std::string& to_user, const std::string& domain,
                           const std::vector<std::string>& extra = {}) {
  std::string t = "REGISTER sip:" + domain +
                  " SIP/2.0\r\n"
                  "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK56sdasks\r\n"
                  "Max-Forwards: 70\r\n"
                  "To: <sip:" +
                  to_user + "@" + domain +
                  ">\r\n"
                  "From: <sip:" +
                  to_user + "@" + domain +
                  ">;tag=65bnmj\r\n"
                  "Call-ID: aiuy7k9njasd\r\n"
                  "CSeq: 1 REGISTER\r\n"
                  "Contact: <sip:" +
                  to_user +
                  "@df7jal23ls0d.invalid;transport=ws>\r\n"
                  "Expires: 300\r\n";
  for (const auto& h : extra) t += h + "\r\n";
  t += "Content-Length: 0\r\n\r\n";
  return parse(t);
}

sip::Message make_request(const std::string& method, const std::string& from, const std::string& to,
                          const std::vector<std::string>& extra = {}) {
  std::string t = method + " sip:" + to +
                  " SIP/2.0\r\n"
                  "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKnashds8\r\n"
                  "Max-Forwards: 70\r\n"
                  "To: <sip:" +
                  to +
                  ">\r\n"
                  "From: <sip:" +
                  from +
                  ">;tag=9fxced76sl\r\n"
                  "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
                  "CSeq: 1 " +
                  method + "\r\n";
  for (const auto& h : extra) t += h + "\r\n";
  t += "Content-Length: 0\r\n\r\n";
  return parse(t);
}

class DigestAuthTest : public ::testing::Test {
 protected:
  DigestAuthTest() : store_(store::Store::open(dir_.uri()), queue_.post()) {
    domains_.add_domain("example.com");
    store_.sync().put_subscriber(make_subscriber("alice", "example.com", "secret"));
    store_.sync().put_subscriber(make_subscriber("bob", "example.com", "b0b"));
    proc_ = std::make_unique<DigestAuthProcessor>(domains_, store_, timers_,
                                                  DigestAuthConfig{300, /*offer_sha256=*/true});
  }

  /// Runs the processor the way the proxy core does, completing a Pause (store lookup) by
  /// flushing the store and draining the callback queue. Returns the final action.
  Action run(RequestContext& ctx) {
    std::optional<Action> resumed;
    int resumes = 0;
    ctx.set_resume_factory([&] {
      return std::function<void(Action)>([&](Action a) {
        resumed = a;
        ++resumes;
      });
    });
    const Action a = proc_->process(ctx);
    if (a != Action::Pause) {
      store_.flush();
      queue_.drain();
      EXPECT_EQ(resumes, 0);
      return a;
    }
    EXPECT_FALSE(resumed) << "resumed before process() returned";
    store_.flush();
    queue_.drain();
    EXPECT_EQ(resumes, 1);
    return resumed.value_or(Action::Pause);
  }

  /// Sends `req` without credentials and returns the challenges of the 401/407.
  std::vector<Challenge> get_challenge(const sip::Message& req, int status, HeaderId id) {
    RequestContext ctx(req, src_, 1);
    EXPECT_EQ(run(ctx), Action::Respond);
    if (!ctx.response()) return {};
    EXPECT_EQ(ctx.response()->status(), status);
    return challenges(*ctx.response(), id);
  }

  std::string fresh_nonce() {
    auto c = get_challenge(make_register("alice", "example.com"), 401, HeaderId::WwwAuthenticate);
    return c.empty() ? "" : c[0].nonce;
  }

  TempDir dir_;
  TestQueue queue_;
  store::AsyncStore store_;
  ManualTimerService timers_;
  proxy::Domains domains_;
  std::unique_ptr<DigestAuthProcessor> proc_;
  Source src_;
};

TEST_F(DigestAuthTest, RegisterWithoutCredentialsGets401WithMd5ChallengeFirst) {
  auto before = counters().get("auth_challenges").value();
  RequestContext ctx(make_register("alice", "example.com"), src_, 1);
  ASSERT_EQ(run(ctx), Action::Respond);
  ASSERT_TRUE(ctx.response());
  EXPECT_EQ(ctx.response()->status(), 401);
  EXPECT_FALSE(ctx.response()->to().tag().empty());
  EXPECT_EQ(ctx.response()->count(HeaderId::ProxyAuthenticate), 0u);
  auto c = challenges(*ctx.response(), HeaderId::WwwAuthenticate);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].algorithm, "MD5");
  EXPECT_EQ(c[1].algorithm, "SHA-256");
  for (const auto& x : c) {
    EXPECT_EQ(x.realm, "example.com");
    EXPECT_EQ(x.qop, "auth");
    EXPECT_FALSE(x.stale);
    EXPECT_EQ(x.nonce.size(), 32u);
  }
  EXPECT_EQ(c[0].nonce, c[1].nonce);
  // The raw text as JsSIP reads it: the first WWW-Authenticate is MD5.
  const std::string wire = ctx.response()->serialize();
  const auto first = wire.find("WWW-Authenticate:");
  ASSERT_NE(first, std::string::npos);
  EXPECT_LT(wire.find("algorithm=MD5", first), wire.find("algorithm=SHA-256", first));
  EXPECT_EQ(counters().get("auth_challenges").value(), before + 1);
  EXPECT_TRUE(ctx.identity().empty());
}

TEST_F(DigestAuthTest, DefaultOffersOnlyMd5) {
  DigestAuthProcessor md5_only(domains_, store_, timers_, DigestAuthConfig{300});
  RequestContext ctx(make_register("alice", "example.com"), src_, 1);
  ASSERT_EQ(md5_only.process(ctx), Action::Respond);
  auto c = challenges(*ctx.response(), HeaderId::WwwAuthenticate);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].algorithm, "MD5");
}

TEST_F(DigestAuthTest, RegisterWithGoodMd5CredentialsSetsIdentityAndStripsTheHeader) {
  Creds c;
  c.nonce = fresh_nonce();
  auto before = counters().get("auth_successes").value();
  RequestContext ctx(make_register("alice", "example.com", {"Authorization: " + credentials(c)}),
                     src_, 2);
  ASSERT_EQ(run(ctx), Action::Continue);
  EXPECT_FALSE(ctx.response());
  EXPECT_EQ(ctx.identity(), "alice@example.com");
  EXPECT_EQ(ctx.request().count(HeaderId::Authorization), 0u);
  EXPECT_EQ(ctx.original().count(HeaderId::Authorization), 1u);
  EXPECT_EQ(ctx.request().serialize().find("Authorization"), std::string::npos);
  EXPECT_EQ(counters().get("auth_successes").value(), before + 1);
}

TEST_F(DigestAuthTest, CachedHa1IsCheckedWithoutAStoreTripUntilTheStoreChanges) {
  // process() alone, no queue draining: a Pause means the processor waits for the store.
  auto attempt = [&](const std::string& password, const std::string& nc) {
    Creds c;
    c.nonce = fresh_nonce();
    c.password = password;
    c.nc = nc;
    auto ctx = std::make_unique<RequestContext>(
        make_register("alice", "example.com", {"Authorization: " + credentials(c)}), src_, 1);
    ctx->set_resume_factory([] { return std::function<void(Action)>([](Action) {}); });
    const Action a = proc_->process(*ctx);
    store_.flush();
    queue_.drain();
    return std::make_pair(a, ctx->identity());
  };
  EXPECT_EQ(attempt("secret", "00000001").first, Action::Pause);  // first use: fetched
  const auto cached = attempt("secret", "00000001");
  EXPECT_EQ(cached.first, Action::Continue);  // from memory
  EXPECT_EQ(cached.second, "alice@example.com");
  EXPECT_EQ(attempt("wrong", "00000001").first, Action::Respond);  // 401, also from memory

  // The CLI changes the password through its own connection; the store's poll (or an
  // invalidate() of a writer in this process) moves the generation and the cache drops it.
  store::Store::open(dir_.uri())->put_subscriber(make_subscriber("alice", "example.com", "n3w"));
  store_.invalidate();
  EXPECT_EQ(attempt("n3w", "00000001").first, Action::Pause);       // fetched again
  EXPECT_EQ(attempt("secret", "00000001").first, Action::Respond);  // the old one is refused
  EXPECT_EQ(attempt("n3w", "00000001").first, Action::Continue);
}

TEST_F(DigestAuthTest, TooManyCredentialLookupsInFlightGet503WithRetryAfter) {
  // A flood of distinct (unknown) user names cannot queue unbounded store reads.
  DigestAuthConfig cfg{300};
  cfg.cache.max_in_flight = 1;
  DigestAuthProcessor proc(domains_, store_, timers_, cfg);
  std::string nonce;  // one of this processor's (each has its own nonce secret)
  {
    RequestContext ctx(make_register("alice", "example.com"), src_, 1);
    ASSERT_EQ(proc.process(ctx), Action::Respond);
    auto c = challenges(*ctx.response(), HeaderId::WwwAuthenticate);
    ASSERT_FALSE(c.empty());
    nonce = c[0].nonce;
  }
  auto request_as = [&](const std::string& user) {
    Creds c;
    c.user = user;
    c.nonce = nonce;
    auto ctx = std::make_unique<RequestContext>(
        make_register(user, "example.com", {"Authorization: " + credentials(c)}), src_, 1);
    ctx->set_resume_factory([] { return std::function<void(Action)>([](Action) {}); });
    return ctx;
  };
  auto first = request_as("alice");
  EXPECT_EQ(proc.process(*first), Action::Pause);  // its lookup runs
  auto second = request_as("mallory");
  ASSERT_EQ(proc.process(*second), Action::Respond);
  ASSERT_TRUE(second->response());
  EXPECT_EQ(second->response()->status(), 503);
  const sip::Header* retry = second->response()->find("Retry-After");
  ASSERT_NE(retry, nullptr);
  EXPECT_EQ(retry->value, "1");
  store_.flush();
  queue_.drain();  // alice's lookup ends: the next one may start
  auto third = request_as("bob");
  EXPECT_EQ(proc.process(*third), Action::Pause);
  store_.flush();
  queue_.drain();
}

// The store fails the credential lookup (its subscriber table dropped by another connection, as
// the sqlite3 shell would): the REGISTER gets 503 with Retry-After, not a 401 (no challenge, no
// auth failure, no AuthGuard count: the password may be right) nor a 403/404; within the cache's
// error_ttl the next attempt gets the same 503 without a store trip; once the table and the
// subscriber are back and error_ttl is over, the same credentials pass.
TEST_F(DigestAuthTest, AStoreThatFailsTheLookupGets503NeverAChallenge) {
  AuthGuardConfig gc;
  gc.max_failures = 2;
  gc.max_user_failures = 2;
  AuthGuard guard(timers_, gc);
  proc_->set_guard(&guard);
  const auto failures = counters().get("auth_failures").value();
  const auto unavailable = counters().get("store_unavailable_responses").value();
  const auto read_errors = counters().get("store_read_errors").value();
  store::test::exec_sql(dir_.file(), "DROP TABLE subscriber");
  auto attempt = [&](const std::string& nc) {
    Creds c;
    c.nonce = fresh_nonce();
    c.nc = nc;
    return std::make_unique<RequestContext>(
        make_register("alice", "example.com", {"Authorization: " + credentials(c)}), src_, 2);
  };
  for (const char* nc : {"00000001", "00000002", "00000003"}) {
    auto ctx = attempt(nc);
    ASSERT_EQ(run(*ctx), Action::Respond) << nc;
    ASSERT_TRUE(ctx->response());
    EXPECT_EQ(ctx->response()->status(), 503) << nc;
    const sip::Header* retry = ctx->response()->find("Retry-After");
    ASSERT_NE(retry, nullptr);
    EXPECT_EQ(retry->value, "5");
    EXPECT_EQ(ctx->response()->count(HeaderId::WwwAuthenticate), 0u);
    EXPECT_TRUE(ctx->identity().empty());
  }
  EXPECT_EQ(counters().get("auth_failures").value(), failures);
  EXPECT_EQ(counters().get("store_unavailable_responses").value(), unavailable + 3);
  EXPECT_EQ(counters().get("store_read_errors").value(), read_errors + 1);  // one store trip
  EXPECT_FALSE(guard.user_banned("alice@example.com"));  // 3 errors, and a ban needs 2 failures
  EXPECT_FALSE(guard.ip_banned(src_.peer.address));

  store::Store::open(dir_.uri())->put_subscriber(make_subscriber("alice", "example.com", "secret"));
  timers_.advance(DigestAuthConfig{}.cache.error_ttl);
  auto ctx = attempt("00000004");
  ASSERT_EQ(run(*ctx), Action::Continue);
  EXPECT_EQ(ctx->identity(), "alice@example.com");
}

TEST_F(DigestAuthTest, Sha256AndNoQopCredentialsAreAccepted) {
  Creds sha;
  sha.alg = DigestAlgorithm::Sha256;
  sha.nonce = fresh_nonce();
  RequestContext a(make_register("alice", "example.com", {"Authorization: " + credentials(sha)}),
                   src_, 2);
  EXPECT_EQ(run(a), Action::Continue);
  EXPECT_EQ(a.identity(), "alice@example.com");

  Creds old;
  old.qop = false;
  old.nonce = fresh_nonce();
  RequestContext b(make_register("alice", "example.com", {"Authorization: " + credentials(old)}),
                   src_, 3);
  EXPECT_EQ(run(b), Action::Continue);
  EXPECT_EQ(b.identity(), "alice@example.com");
}

TEST_F(DigestAuthTest, WrongPasswordAndUnknownUserGetAFresh401) {
  Creds c;
  c.nonce = fresh_nonce();
  c.password = "wrong";
  auto before = counters().get("auth_failures").value();
  RequestContext ctx(make_register("alice", "example.com", {"Authorization: " + credentials(c)}),
                     src_, 2);
  ASSERT_EQ(run(ctx), Action::Respond);
  ASSERT_TRUE(ctx.response());
  EXPECT_EQ(ctx.response()->status(), 401);
  auto ch = challenges(*ctx.response(), HeaderId::WwwAuthenticate);
  ASSERT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch[0].algorithm, "MD5");
  EXPECT_FALSE(ch[0].stale);
  EXPECT_TRUE(ctx.identity().empty());
  EXPECT_EQ(ctx.request().count(HeaderId::Authorization), 1u);  // nothing stripped
  EXPECT_EQ(counters().get("auth_failures").value(), before + 1);

  Creds u;
  u.user = "mallory";
  u.nonce = fresh_nonce();
  RequestContext ctx2(make_register("mallory", "example.com", {"Authorization: " + credentials(u)}),
                      src_, 3);
  ASSERT_EQ(run(ctx2), Action::Respond);
  EXPECT_EQ(ctx2.response()->status(), 401);
  EXPECT_EQ(counters().get("auth_failures").value(), before + 2);
}

TEST_F(DigestAuthTest, StaleNonceIsChallengedAgainWithStaleTrue) {
  Creds c;
  c.nonce = fresh_nonce();
  timers_.advance(std::chrono::seconds(301));
  RequestContext ctx(make_register("alice", "example.com", {"Authorization: " + credentials(c)}),
                     src_, 2);
  ASSERT_EQ(run(ctx), Action::Respond);
  ASSERT_TRUE(ctx.response());
  EXPECT_EQ(ctx.response()->status(), 401);
  auto ch = challenges(*ctx.response(), HeaderId::WwwAuthenticate);
  ASSERT_EQ(ch.size(), 2u);
  EXPECT_TRUE(ch[0].stale);
  EXPECT_TRUE(ch[1].stale);
  EXPECT_NE(ch[0].nonce, c.nonce);

  // The client retries with the new nonce and succeeds.
  c.nonce = ch[0].nonce;
  RequestContext retry(make_register("alice", "example.com", {"Authorization: " + credentials(c)}),
                       src_, 3);
  EXPECT_EQ(run(retry), Action::Continue);
  EXPECT_EQ(retry.identity(), "alice@example.com");
}

TEST_F(DigestAuthTest, ReplayedNonceCountIsChallengedWithStale) {
  Creds c;
  c.nonce = fresh_nonce();
  const std::string auth = "Authorization: " + credentials(c);
  RequestContext first(make_register("alice", "example.com", {auth}), src_, 2);
  ASSERT_EQ(run(first), Action::Continue);

  auto before = counters().get("auth_replays").value();
  RequestContext replay(make_register("alice", "example.com", {auth}), src_, 3);
  ASSERT_EQ(run(replay), Action::Respond);
  EXPECT_EQ(replay.response()->status(), 401);
  auto ch = challenges(*replay.response(), HeaderId::WwwAuthenticate);
  ASSERT_FALSE(ch.empty());
  EXPECT_TRUE(ch[0].stale);
  EXPECT_TRUE(replay.identity().empty());
  EXPECT_EQ(counters().get("auth_replays").value(), before + 1);

  // A refresh with the same nonce and the next nc is fine (RFC 7616 s.3.4).
  c.nc = "00000002";
  RequestContext next(make_register("alice", "example.com", {"Authorization: " + credentials(c)}),
                      src_, 4);
  EXPECT_EQ(run(next), Action::Continue);
  EXPECT_EQ(next.identity(), "alice@example.com");
  // Going back is a replay too.
  c.nc = "00000001";
  RequestContext back(make_register("alice", "example.com", {"Authorization: " + credentials(c)}),
                      src_, 5);
  EXPECT_EQ(run(back), Action::Respond);
}

TEST_F(DigestAuthTest, MalformedNonceCountIs400) {
  Creds c;
  c.nonce = fresh_nonce();
  c.nc = "1";
  RequestContext ctx(make_register("alice", "example.com", {"Authorization: " + credentials(c)}),
                     src_, 2);
  ASSERT_EQ(run(ctx), Action::Respond);
  EXPECT_EQ(ctx.response()->status(), 400);
}

TEST_F(DigestAuthTest, ForgedNonceGetsA401WithoutStale) {
  Creds c;
  c.nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
  RequestContext ctx(make_register("alice", "example.com", {"Authorization: " + credentials(c)}),
                     src_, 2);
  ASSERT_EQ(run(ctx), Action::Respond);
  EXPECT_EQ(ctx.response()->status(), 401);
  auto ch = challenges(*ctx.response(), HeaderId::WwwAuthenticate);
  ASSERT_FALSE(ch.empty());
  EXPECT_FALSE(ch[0].stale);
}

TEST_F(DigestAuthTest, UsernameOtherThanToUserIsForbidden) {
  Creds c;  // bob's valid credentials used to register alice
  c.user = "bob";
  c.password = "b0b";
  c.nonce = fresh_nonce();
  RequestContext ctx(make_register("alice", "example.com", {"Authorization: " + credentials(c)}),
                     src_, 2);
  ASSERT_EQ(run(ctx), Action::Respond);
  EXPECT_EQ(ctx.response()->status(), 403);
  EXPECT_TRUE(ctx.identity().empty());
}

TEST_F(DigestAuthTest, IncompleteCredentialsAre400) {
  const std::string nonce = fresh_nonce();
  RequestContext ctx(
      make_register("alice", "example.com",
                    {"Authorization: Digest username=\"alice\", realm=\"example.com\""
                     ", nonce=\"" +
                     nonce + "\", response=\"00\""}),
      src_, 2);
  ASSERT_EQ(run(ctx), Action::Respond);
  EXPECT_EQ(ctx.response()->status(), 400);  // no uri
}

TEST_F(DigestAuthTest, CredentialsForAnotherRealmAreIgnored) {
  Creds c;
  c.nonce = fresh_nonce();
  c.realm = "other.org";
  RequestContext ctx(make_register("alice", "example.com", {"Authorization: " + credentials(c)}),
                     src_, 2);
  ASSERT_EQ(run(ctx), Action::Respond);
  EXPECT_EQ(ctx.response()->status(), 401);
  EXPECT_EQ(challenges(*ctx.response(), HeaderId::WwwAuthenticate).size(), 2u);
}

TEST_F(DigestAuthTest, InviteFromLocalUserNeedsProxyAuthorization) {
  auto invite = make_request("INVITE", "alice@example.com", "carol@other.org");
  auto ch = get_challenge(invite, 407, HeaderId::ProxyAuthenticate);
  ASSERT_EQ(ch.size(), 2u);
  EXPECT_EQ(ch[0].algorithm, "MD5");
  EXPECT_EQ(ch[1].algorithm, "SHA-256");
  EXPECT_EQ(ch[0].realm, "example.com");

  Creds c;
  c.method = "INVITE";
  c.uri = "sip:carol@other.org";
  c.nonce = ch[0].nonce;
  const std::string upstream =
      "Proxy-Authorization: Digest username=\"alice\", realm=\"other.org\", nonce=\"x\", "
      "uri=\"sip:carol@other.org\", response=\"00112233445566778899aabbccddeeff\"";
  RequestContext ctx(make_request("INVITE", "alice@example.com", "carol@other.org",
                                  {upstream, "Proxy-Authorization: " + credentials(c)}),
                     src_, 2);
  ASSERT_EQ(run(ctx), Action::Continue);
  EXPECT_EQ(ctx.identity(), "alice@example.com");
  // Our realm's credentials are consumed; the other realm's are forwarded (RFC 3261 s.22.3).
  auto left = ctx.request().find_all(HeaderId::ProxyAuthorization);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_NE(left[0]->value.find("realm=\"other.org\""), std::string_view::npos);

  // A REGISTER's Authorization would not do for an INVITE.
  Creds www;
  www.method = "INVITE";
  www.uri = "sip:carol@other.org";
  www.nonce = ch[0].nonce;
  RequestContext wrong_hdr(make_request("INVITE", "alice@example.com", "carol@other.org",
                                        {"Authorization: " + credentials(www)}),
                           src_, 3);
  ASSERT_EQ(run(wrong_hdr), Action::Respond);
  EXPECT_EQ(wrong_hdr.response()->status(), 407);
}

TEST_F(DigestAuthTest, InviteWithFromUserMismatchIsForbidden) {
  Creds c;
  c.method = "INVITE";
  c.user = "bob";
  c.password = "b0b";
  c.uri = "sip:carol@other.org";
  c.nonce = fresh_nonce();
  RequestContext ctx(make_request("INVITE", "alice@example.com", "carol@other.org",
                                  {"Proxy-Authorization: " + credentials(c)}),
                     src_, 2);
  ASSERT_EQ(run(ctx), Action::Respond);
  EXPECT_EQ(ctx.response()->status(), 403);
}

TEST_F(DigestAuthTest, ForeignFromAckCancelAndForeignRegisterPass) {
  RequestContext foreign(make_request("INVITE", "carol@other.org", "alice@example.com"), src_, 2);
  EXPECT_EQ(run(foreign), Action::Continue);
  EXPECT_FALSE(foreign.response());
  EXPECT_TRUE(foreign.identity().empty());

  RequestContext ack(make_request("ACK", "alice@example.com", "carol@other.org"), src_, 3);
  EXPECT_EQ(run(ack), Action::Continue);
  RequestContext cancel(make_request("CANCEL", "alice@example.com", "carol@other.org"), src_, 4);
  EXPECT_EQ(run(cancel), Action::Continue);

  RequestContext reg(make_register("carol", "other.org"), src_, 5);
  EXPECT_EQ(run(reg), Action::Continue);
  EXPECT_FALSE(reg.response());
}

TEST_F(DigestAuthTest, AlreadyProvenIdentityPasses) {
  RequestContext ctx(make_request("MESSAGE", "alice@example.com", "bob@example.com"), src_, 2);
  ctx.set_identity("alice@example.com");
  EXPECT_EQ(run(ctx), Action::Continue);
  RequestContext other(make_request("MESSAGE", "alice@example.com", "bob@example.com"), src_, 3);
  other.set_identity("bob@example.com");  // proven, but not as the From user
  EXPECT_EQ(run(other), Action::Respond);
  EXPECT_EQ(other.response()->status(), 407);
}

}  // namespace
}  // namespace sipws::auth
