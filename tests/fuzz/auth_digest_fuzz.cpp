// libFuzzer target for HTTP Digest credentials (RFC 7616, RFC 2617, RFC 3261 s.22.4): the
// parser of Authorization / Proxy-Authorization values (sip::parse_auth) and both places that
// verify them against a real SQLite store: the SIP request chain's DigestAuthProcessor
// (REGISTER with Authorization, INVITE with Proxy-Authorization) and the WebSocket upgrade's
// HandshakeAuthenticator (Authorization on GET).
//
// The first byte picks: bit 0 INVITE + Proxy-Authorization instead of REGISTER; bit 1 the
// upgrade's request target "/ws?x=1" instead of "/"; bit 2 whether the credential header comes
// second after a foreign realm's. The rest is the header value. Two placeholders in it are
// replaced before use, so that the fuzzer reaches the checks behind a valid nonce and a right
// response: "$NONCE" by a fresh nonce of ours, and "$RESPONSE" by the request-digest computed
// from the header's own username, uri, qop, nc, cnonce and algorithm with that user's password
// (a subscriber's; alice's for another name).
//
// Properties checked: every scheme, parameter name and value the parser yields lies inside the
// input, names are tokens; challenges parse back; a request is accepted only with the
// request-digest right for a subscriber's password and then as that subscriber; the upgrade's
// `uri` is its request target; accepted credentials are removed from the forwarded request;
// the same credentials with qop=auth are refused the second time (nonce-count replay).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "auth/digest_auth.hpp"
#include "auth/handshake_auth.hpp"
#include "auth_fuzz_util.hpp"
#include "sip/parser.hpp"
#include "sip/text.hpp"

namespace {

using namespace sipws;
using namespace sipws::auth;
using proxy::Action;
using sip::HeaderId;

const NonceManager::Secret kNonceSecret = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                           12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                           23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

bool inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

std::string param(const sip::AuthParams& a, std::string_view name) {
  return std::string(auth_param(a, name));
}

const fuzz::User* subscriber(std::string_view name) {
  for (const fuzz::User& u : fuzz::kUsers) {
    if (name == u.name) return &u;
  }
  return nullptr;
}

/// The request-digest a client knowing `password` sends with these credentials' fields, for
/// `method`; "" if the algorithm is not one we support.
std::string expected_response(const sip::AuthParams& a, std::string_view method,
                              std::string_view password) {
  const auto alg = parse_algorithm(auth_param(a, "algorithm"));
  if (!alg) return {};
  const std::string h1 = ha1(*alg, auth_param(a, "username"), fuzz::kRealm, password);
  return digest_response(*alg, h1, method, auth_param(a, "uri"), auth_param(a, "nonce"),
                         to_lower(auth_param(a, "qop")), auth_param(a, "nc"),
                         auth_param(a, "cnonce"));
}

void replace_all(std::string& s, std::string_view what, std::string_view with) {
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size())) {
    s.replace(at, what.size(), with);
  }
}

/// The header value with its placeholders filled for `method`.
std::string fill_placeholders(std::string text, std::string_view method, const std::string& nonce) {
  replace_all(text, "$NONCE", nonce);
  if (text.find("$RESPONSE") == std::string::npos) return text;
  std::string response;
  if (const auto a = sip::parse_auth(text)) {
    const fuzz::User* u = subscriber(auth_param(*a, "username"));
    response = expected_response(*a, method, u ? u->password : "secret");
  }
  replace_all(text, "$RESPONSE", response);
  return text;
}

/// A request is accepted only for a subscriber with the right request-digest.
void check_accepted(const std::string& value, std::string_view method,
                    const std::string& identity) {
  const auto a = sip::parse_auth(value);
  check(a.has_value() && iequal(a->scheme, "Digest"));
  const std::string user = param(*a, "username");
  const fuzz::User* u = subscriber(user);
  check(u != nullptr);
  check(identity == user + "@" + fuzz::kRealm);
  const std::string want = expected_response(*a, method, u->password);
  check(!want.empty() && to_lower(auth_param(*a, "response")) == want);
}

void check_challenges(const std::vector<const sip::Header*>& hs) {
  check(!hs.empty());
  for (const sip::Header* h : hs) {
    const auto c = sip::parse_auth(h->value);
    check(c.has_value() && c->scheme == "Digest" && auth_param(*c, "realm") == fuzz::kRealm);
    check(auth_param(*c, "nonce").size() == 32);
  }
}

struct Sip {
  Sip() : proc(domains(), fixture().store(), timers, DigestAuthConfig{300, true}, kNonceSecret) {}
  static const proxy::Domains& domains() {
    static const proxy::Domains d = [] {
      proxy::Domains x;
      x.add_domain(fuzz::kRealm);
      return x;
    }();
    return d;
  }
  static fuzz::StoreFixture& fixture() {
    static fuzz::StoreFixture f;
    return f;
  }
  ManualTimerService timers;
  DigestAuthProcessor proc;
};

sip::Message base_request(bool invite, std::string_view user) {
  const std::string u(user);
  const std::string method = invite ? "INVITE" : "REGISTER";
  const std::string ruri = invite ? "sip:carol@example.com" : "sip:example.com";
  const std::string text = method + " " + ruri +
                           " SIP/2.0\r\n"
                           "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK56sdasks\r\n"
                           "Max-Forwards: 70\r\n"
                           "To: <" +
                           (invite ? ruri : "sip:" + u + "@example.com") +
                           ">\r\n"
                           "From: <sip:" +
                           u +
                           "@example.com>;tag=65bnmj\r\n"
                           "Call-ID: aiuy7k9njasd\r\n"
                           "CSeq: 1 " +
                           method + "\r\nContent-Length: 0\r\n\r\n";
  auto m = sip::parse(text);
  check(m.has_value());
  return std::move(*m);
}

/// Runs the processor as the proxy core does (a Pause ends when the store answered).
Action run(Sip& sip, proxy::RequestContext& ctx) {
  std::optional<Action> resumed;
  ctx.set_resume_factory(
      [&] { return std::function<void(Action)>([&](Action a) { resumed = a; }); });
  const Action a = sip.proc.process(ctx);
  if (a != Action::Pause) {
    check(!resumed);
    return a;
  }
  Sip::fixture().settle();
  check(resumed.has_value());
  return *resumed;
}

/// @returns whether the processor accepted the credentials.
bool fuzz_sip(std::uint8_t flags, std::string_view input) {
  static Sip sip;
  // Each input a second later: nonce-counts and cached HA1s of past inputs expire as they
  // would, so memory stays bounded over a long run (no input reaches a nonce's lifetime).
  sip.timers.advance(std::chrono::seconds(1));
  const bool invite = flags & 1;
  const std::string method = invite ? "INVITE" : "REGISTER";
  const NonceManager nonces(kNonceSecret, 300);
  const std::string value = fill_placeholders(std::string(input), method,
                                              nonces.issue(fuzz::kRealm, sip.timers.unix_time()));
  // The To (REGISTER) / From (INVITE) user is the credentials' username when a subscriber.
  const auto a = sip::parse_auth(value);
  const std::string user =
      a && subscriber(auth_param(*a, "username")) && sip::text::is_token(auth_param(*a, "username"))
          ? param(*a, "username")
          : "alice";
  const HeaderId id = invite ? HeaderId::ProxyAuthorization : HeaderId::Authorization;
  const sip::Message req = [&] {
    sip::Message m = base_request(invite, user);
    if (flags & 4) m.append(id, "Digest realm=\"elsewhere.net\", username=\"x\"");
    m.append(id, value);
    return m;
  }();

  bool accepted = false;
  for (int attempt = 0; attempt < 2; ++attempt) {
    proxy::RequestContext ctx(req, Source{}, 1);
    const Action act = run(sip, ctx);
    check(act == Action::Continue || act == Action::Respond);
    if (act == Action::Continue) {
      accepted = true;
      check_accepted(value, method, ctx.identity());
      // Our credentials are not forwarded; another realm's are (RFC 3261 s.22.3).
      check(ctx.request().count(id) == ((flags & 4) ? 1u : 0u));
      // With qop=auth, the same nc again is a replay; without qop there is no nonce-count.
      if (attempt == 1) check(param(*sip::parse_auth(value), "qop").empty());
      continue;
    }
    check(ctx.response().has_value());
    const int status = ctx.response()->status();
    check(status == 400 || status == 403 || status == 503 || status == (invite ? 407 : 401));
    if (status == 401 || status == 407) {
      check_challenges(ctx.response()->find_all(invite ? HeaderId::ProxyAuthenticate
                                                       : HeaderId::WwwAuthenticate));
    }
    break;
  }
  return accepted;
}

/// @returns whether the upgrade was accepted.
bool fuzz_upgrade(std::uint8_t flags, std::string_view input) {
  static fuzz::StoreFixture& fixture = Sip::fixture();
  static ManualTimerService timers;
  // One authenticator for every input, as in the daemon: its HA1 cache is warm after the first
  // inputs (the store is asked for new user names only); time as in fuzz_sip.
  static HandshakeAuthenticator auth = [] {
    HandshakeAuthConfig cfg;
    cfg.mode = HandshakeAuthMode::Digest;
    cfg.realm = fuzz::kRealm;
    return HandshakeAuthenticator(cfg, "fuzz-cookie-key-0123456789abcdef", fixture.store(), timers,
                                  kNonceSecret);
  }();
  timers.advance(std::chrono::seconds(1));
  const NonceManager nonces(kNonceSecret, 300);
  UpgradeRequest req;
  req.peer_address = "192.0.2.1";
  req.resource = (flags & 2) ? "/ws?x=1" : "/";
  req.authorization =
      fill_placeholders(std::string(input), "GET", nonces.issue(fuzz::kRealm, timers.unix_time()));

  bool accepted_once = false;
  // The first attempt may find the HA1 cache empty (401 stale while it is fetched); the client
  // retries, then replays.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const UpgradeVerdict v = auth.check_upgrade(req);
    // A cache miss answers "stale" while the store is asked: let it answer before the retry.
    bool stale = false;
    for (const auto& h : v.headers)
      stale = stale || h.second.find("stale=true") != std::string::npos;
    if (stale || v.status == 503) fixture.settle();
    check(v.status == 0 || v.status == 400 || v.status == 401 || v.status == 503);
    if (v.status == 0) {
      check(!accepted_once);  // qop=auth is required here: the same nc twice is a replay
      accepted_once = true;
      check_accepted(req.authorization, "GET", v.identity);
      const auto a = sip::parse_auth(req.authorization);
      check(param(*a, "uri") == req.resource);
      continue;
    }
    check(v.identity.empty());
    if (v.status == 401) {
      std::size_t n = 0;
      for (const auto& [name, value] : v.headers) {
        if (name != "WWW-Authenticate") continue;
        ++n;
        const auto c = sip::parse_auth(value);
        check(c.has_value() && auth_param(*c, "realm") == fuzz::kRealm);
      }
      check(n == 2);  // SHA-256, then MD5
    }
  }
  return accepted_once;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  // The harness reaches the accepting paths: right credentials as a client sends them.
  const std::string creds =
      "Digest username=\"alice\", realm=\"example.com\", nonce=\"$NONCE\", uri=\"%\", "
      "algorithm=MD5, qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"$RESPONSE\"";
  auto with_uri = [&](std::string_view uri) {
    std::string v = creds;
    v.replace(v.find('%'), 1, uri);
    return v;
  };
  check(fuzz_sip(0, with_uri("sip:example.com")));
  check(fuzz_sip(1 | 4, with_uri("sip:carol@example.com")));
  check(fuzz_upgrade(0, with_uri("/")));
  check(fuzz_upgrade(2, with_uri("/ws?x=1")));
  // ... and refuses a wrong password's.
  std::string wrong = with_uri("/");
  wrong.replace(wrong.find("$RESPONSE"), 9, std::string(32, '0'));
  check(!fuzz_upgrade(0, wrong));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 4096) return 0;
  const std::uint8_t flags = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  if (const auto a = sip::parse_auth(text)) {
    check(!a->scheme.empty() && inside(a->scheme, text) && sip::text::is_token(a->scheme));
    for (const sip::Param& p : a->params) {
      check(inside(p.name, text) && sip::text::is_token(p.name));
      if (p.has_value) check(inside(p.value, text));
      check(p.has_value || p.value.empty());
      check(a->param(p.name) != nullptr);
    }
  }
  fuzz_sip(flags, text);
  fuzz_upgrade(flags, text);
  return 0;
}
