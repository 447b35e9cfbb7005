#include "auth/digest_auth.hpp"

#include <algorithm>
#include <iterator>
#include <optional>
#include <vector>

#include "common/log.hpp"
#include "sip/headers.hpp"
#include "sip/message.hpp"

namespace sipws::auth {

using proxy::Action;
using proxy::RequestContext;
using sip::HeaderId;
using sip::Method;

namespace {}  // namespace

/// Everything the store callback needs, copied out of the request (views die with it).
struct DigestAuthProcessor::Pending {
  bool proxy = false;
  bool any_user = false;  ///< out->in with foreign_callers=challenge: any subscriber of realm
  std::string realm;
  std::string user;
  std::string header_value;  ///< the credentials header to strip on success
  DigestAlgorithm algorithm = DigestAlgorithm::Md5;
  std::string method;
  std::string uri;
  std::string nonce;
  std::string qop;
  std::string nc;
  std::string cnonce;
  std::string response;
};

DigestAuthProcessor::DigestAuthProcessor(const proxy::Domains& domains, store::AsyncStore& store,
                                         TimerService& timers, DigestAuthConfig cfg)
    : domains_(domains),
      timers_(timers),
      cfg_(cfg),
      nonces_(cfg.nonce_lifetime_s),
      challenges_(SIPWS_COUNTER("auth_challenges")),
      successes_(SIPWS_COUNTER("auth_successes")),
      failures_(SIPWS_COUNTER("auth_failures")),
      stale_(SIPWS_COUNTER("auth_stale")),
      forbidden_(SIPWS_COUNTER("auth_forbidden")),
      bad_credentials_(SIPWS_COUNTER("auth_bad_credentials")),
      replays_(SIPWS_COUNTER("auth_replays")),
      nonce_counts_(cfg.nonce_lifetime_s),
      cache_(store, timers, cfg.cache) {}

DigestAuthProcessor::DigestAuthProcessor(const proxy::Domains& domains, store::AsyncStore& store,
                                         TimerService& timers, DigestAuthConfig cfg,
                                         const NonceManager::Secret& secret)
    : DigestAuthProcessor(domains, store, timers, cfg) {
  nonces_ = NonceManager(secret, cfg.nonce_lifetime_s);
}

void DigestAuthProcessor::challenge(RequestContext& ctx, bool proxy, const std::string& realm,
                                    bool stale) {
  challenges_.inc();
  if (stale) stale_.inc();
  sip::Message& rsp = proxy ? ctx.respond(407) : ctx.respond(401);
  const std::string nonce = nonces_.issue(realm, timers_.unix_time());
  const HeaderId id = proxy ? HeaderId::ProxyAuthenticate : HeaderId::WwwAuthenticate;
  const std::string common =
      "Digest realm=\"" + realm + "\", nonce=\"" + nonce + "\", qop=\"auth\", algorithm=";
  for (DigestAlgorithm a : {DigestAlgorithm::Md5, DigestAlgorithm::Sha256}) {
    if (a == DigestAlgorithm::Sha256 && !cfg_.offer_sha256) break;
    std::string v = common;
    v += algorithm_name(a);
    if (stale) v += ", stale=true";
    rsp.append(id, std::move(v));
  }
}

Action DigestAuthProcessor::process(RequestContext& ctx) {
  const sip::Message& req = ctx.request();
  const Method m = req.method();
  if (m == Method::Ack || m == Method::Cancel) return Action::Continue;
  if (ctx.from_trusted_peer()) return Action::Continue;  // trusted_peers skip digest

  const bool proxy = m != Method::Register;
  const sip::Uri& who = proxy ? req.from().uri : req.to().uri;
  std::string realm;
  std::string user;
  bool any_user = false;
  if (who.is_sip() && domains_.is_local_domain(who.host)) {
    realm = to_lower(who.host);
    user = std::string(who.user);
    if (!ctx.identity().empty() && !user.empty() && ctx.identity() == user + "@" + realm) {
      return Action::Continue;
    }
  } else if (proxy && !ctx.required_auth_realm().empty()) {
    // The relay policy wants a foreign From authenticated (foreign_callers=challenge).
    realm = ctx.required_auth_realm();
    any_user = true;
    if (!ctx.identity().empty()) return Action::Continue;
  } else {
    return Action::Continue;
  }

  // Our realm's credentials (RFC 3261 s.22.3: a proxy uses the one matching its realm).
  const HeaderId cred_id = proxy ? HeaderId::ProxyAuthorization : HeaderId::Authorization;
  std::optional<sip::AuthParams> creds;
  std::string header_value;
  for (const sip::Header* h : req.find_all(cred_id)) {
    auto a = sip::parse_auth(h->value);
    if (!a || !iequal(a->scheme, "Digest") || !iequal(auth_param(*a, "realm"), realm)) continue;
    creds = std::move(a);
    header_value = std::string(h->value);
    break;
  }
  if (!creds) {
    challenge(ctx, proxy, realm, false);
    return Action::Respond;
  }

  Pending p;
  p.proxy = proxy;
  p.any_user = any_user;
  p.realm = realm;
  p.header_value = std::move(header_value);
  p.user = std::string(auth_param(*creds, "username"));
  p.uri = std::string(auth_param(*creds, "uri"));
  p.nonce = std::string(auth_param(*creds, "nonce"));
  p.response = to_lower(auth_param(*creds, "response"));
  p.qop = std::string(auth_param(*creds, "qop"));
  p.nc = std::string(auth_param(*creds, "nc"));
  p.cnonce = std::string(auth_param(*creds, "cnonce"));
  p.method = std::string(req.method_name());

  if (p.user.empty() || p.uri.empty() || p.nonce.empty() || p.response.empty() ||
      (!p.qop.empty() && (p.nc.empty() || p.cnonce.empty()))) {
    bad_credentials_.inc();
    ctx.respond(400, "Bad Request - Incomplete Credentials");
    return Action::Respond;
  }
  if (!p.qop.empty() && !parse_nonce_count(p.nc)) {
    bad_credentials_.inc();
    ctx.respond(400, "Bad Request - Invalid nc");
    return Action::Respond;
  }
  if (!any_user && p.user != user) {
    forbidden_.inc();
    ctx.respond(403, "Forbidden");
    return Action::Respond;
  }
  if (guard_ != nullptr && guard_->user_banned(p.user + "@" + realm)) {
    // Too many failures for this user from anywhere: credentials are not even checked, so a
    // distributed guesser learns nothing (unknown users are banned the same way).
    forbidden_.inc();
    ctx.respond(403, "Forbidden");
    return Action::Respond;
  }
  auto alg = parse_algorithm(auth_param(*creds, "algorithm"));
  if (!alg || (!p.qop.empty() && !iequal(p.qop, "auth"))) {
    failures_.inc();
    challenge(ctx, proxy, realm, false);
    return Action::Respond;
  }
  p.algorithm = *alg;
  p.qop = to_lower(p.qop);

  switch (nonces_.check(p.nonce, realm, timers_.unix_time())) {
    case NonceStatus::Valid:
      break;
    case NonceStatus::Stale:
      challenge(ctx, proxy, realm, true);
      return Action::Respond;
    case NonceStatus::Invalid:
      failures_.inc();
      challenge(ctx, proxy, realm, false);
      return Action::Respond;
  }

  auto resume = ctx.pause_handle();
  if (!resume) {
    // No way to pause (a chain run outside the proxy core): a bug of the wiring, not input.
    log::auth().error("digest-auth: no resume handle; answering 500");
    ctx.respond(500, "Server Internal Error");
    return Action::Respond;
  }
  const std::string lookup_user = p.user;
  // A cached HA1 is checked now; otherwise the check runs when the store answers (the proxy
  // core keeps ctx alive while the transaction waits for this pause).
  auto in_process = std::make_shared<bool>(true);
  bool busy = false;
  const bool ran = cache_.get(
      lookup_user, realm,
      [this, &ctx, in_process, p = std::move(p),
       resume = std::move(resume)](const CredentialCache::Result& r) mutable {
        if (r.state == CredentialCache::State::Error) {
          // The store could not say: neither a failed attempt nor an unknown user.
          ctx.respond_store_unavailable();
        } else {
          finish(ctx, p, r.subscriber);
        }
        if (*in_process) return;  // answered from the cache: process() returns the verdict
        resume(ctx.response() ? Action::Respond : Action::Continue);
      },
      &busy);
  *in_process = false;
  if (busy) {
    // A flood of distinct user names: the store is not asked more than max_in_flight at once.
    ctx.respond_unavailable("Service Unavailable - Credential Lookups Busy", 1);
    return Action::Respond;
  }
  if (!ran) return Action::Pause;
  return ctx.response() ? Action::Respond : Action::Continue;
}

void DigestAuthProcessor::finish(RequestContext& ctx, const Pending& p,
                                 const store::Subscriber* sub) {
  bool ok = false;
  if (sub) {
    const std::string& ha1_hex =
        p.algorithm == DigestAlgorithm::Sha256 ? sub->ha1_sha256 : sub->ha1_md5;
    if (!ha1_hex.empty()) {
      const std::string expected =
          digest_response(p.algorithm, ha1_hex, p.method, p.uri, p.nonce, p.qop, p.nc, p.cnonce);
      ok = !expected.empty() && constant_time_equal(expected, p.response);
    }
  }
  if (!ok) {
    failures_.inc();
    log::auth().debug("digest-auth: {} for {}@{} from {}", sub ? "wrong response" : "unknown user",
                      p.user, p.realm, ctx.source().peer.address.to_string());
    if (guard_ != nullptr) {
      // Logged once per ban, never per packet.
      switch (guard_->record_failure(ctx.source().peer.address, p.user + "@" + p.realm)) {
        case AuthGuard::Ban::Ip:
          log::auth().warn("auth: banning {} after too many failed digest attempts",
                           ctx.source().peer.address.to_string());
          break;
        case AuthGuard::Ban::User:
          log::auth().warn("auth: refusing credentials for {}@{} after too many failed attempts",
                           p.user, p.realm);
          break;
        case AuthGuard::Ban::IpAndUser:
          log::auth().warn("auth: banning {} and refusing credentials for {}@{}",
                           ctx.source().peer.address.to_string(), p.user, p.realm);
          break;
        case AuthGuard::Ban::None:
          break;
      }
    }
    challenge(ctx, p.proxy, p.realm, false);
    return;
  }
  if (guard_ != nullptr) guard_->record_success(ctx.source().peer.address, p.user + "@" + p.realm);
  if (!p.qop.empty() &&
      !nonce_counts_.accept(p.nonce, parse_nonce_count(p.nc).value_or(0), timers_.unix_time())) {
    replays_.inc();
    log::auth().info("digest-auth: nonce-count replay for {}@{}", p.user, p.realm);
    challenge(ctx, p.proxy, p.realm, true);
    return;
  }
  successes_.inc();
  ctx.set_identity(p.user + "@" + p.realm);
  // Strip our credentials (RFC 3261 s.22.3), keep other realms' in their order.
  sip::Message& req = ctx.request();
  const HeaderId id = p.proxy ? HeaderId::ProxyAuthorization : HeaderId::Authorization;
  std::vector<std::string> keep;
  bool removed = false;
  for (const sip::Header* h : req.find_all(id)) {
    if (!removed && h->value == p.header_value) {
      removed = true;
      continue;
    }
    keep.emplace_back(h->value);
  }
  req.remove_all(id);
  for (auto& v : keep) req.append(id, std::move(v));
}

}  // namespace sipws::auth
