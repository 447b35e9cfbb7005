#include "registrar/trunk.hpp"

#include <algorithm>

#include "auth/digest.hpp"
#include "common/log.hpp"
#include "common/random.hpp"
#include "common/text.hpp"
#include "proxy/routing.hpp"
#include "registrar/upstream.hpp"
#include "sip/headers.hpp"
#include "sip/message.hpp"

namespace sipws::registrar {
namespace {

using proxy::Action;
using sip::HeaderId;

constexpr std::uint32_t kFirstRetryS = 5;

/// The expiry a 2xx grants our contact (its expires param, else the Expires header, else what
/// was asked); 0 if the 2xx does not list it.
std::uint32_t granted(const sip::Message& rsp, std::string_view contact_user, std::uint32_t asked) {
  for (const auto* h : rsp.find_all(HeaderId::Contact)) {
    auto na = sip::parse_name_addr(h->value);
    if (!na || na->star || na->uri.user != contact_user) continue;
    return contact_expires(*na, rsp, asked);
  }
  // A registrar that lists no Contact at all (some do) granted what the Expires says.
  return rsp.count(HeaderId::Contact) == 0 ? rsp.expires().value_or(asked) : 0;
}

}  // namespace

struct TrunkRegistrar::Trunk {
  TrunkConfig cfg;
  Destination dest;
  std::string call_id;  ///< one per registration for its lifetime (RFC 3261 s.10.2.4)
  std::string from_tag;
  std::uint32_t cseq = 0;
  std::uint32_t expires = 0;  ///< asked for (raised by a 423)
  std::uint32_t nc = 0;       ///< nonce count of the current nonce
  std::string nonce;
  bool answered_challenge = false;  ///< the last REGISTER carried credentials
  std::uint64_t generation = 0;     ///< of the REGISTER in flight; older answers are ignored
  TimerService::TimerId timer = 0;
  State state;
};

TrunkRegistrar::TrunkRegistrar(std::vector<TrunkConfig> trunks, TimerService& timers,
                               proxy::Uac& uac, Counters& reg)
    : timers_(timers),
      uac_(uac),
      ok_(reg.get("trunk_register_ok")),
      failed_(reg.get("trunk_register_failed")),
      challenged_(reg.get("trunk_register_challenged")) {
  for (auto& c : trunks) {
    Trunk t;
    auto dest = upstream_destination(c.outbound_proxy);
    if (!dest) continue;  // complete_trunk() checked it
    t.dest = *dest;
    t.call_id = random_token(24);
    t.from_tag = random_token(10);
    t.expires = c.expires;
    t.state.name = c.name;
    t.cfg = std::move(c);
    trunks_.push_back(std::move(t));
  }
}

TrunkRegistrar::~TrunkRegistrar() { stop(); }

void TrunkRegistrar::start() {
  stopped_ = false;
  for (auto& t : trunks_) send_register(t);
}

void TrunkRegistrar::stop() {
  stopped_ = true;
  for (auto& t : trunks_) {
    if (t.timer != 0) timers_.cancel(t.timer);
    t.timer = 0;
    ++t.generation;
  }
}

void TrunkRegistrar::send_register(Trunk& t, const std::string& credentials_header,
                                   const std::string& credentials) {
  if (stopped_) return;
  const ListenPoint* lp = uac_.listen_point_for(t.dest);
  proxy::OwnRequest r;
  r.method = "REGISTER";
  r.uri = t.cfg.registrar;
  r.from = "<" + t.cfg.aor + ">;tag=" + t.from_tag;
  r.to = "<" + t.cfg.aor + ">";
  r.call_id = t.call_id;
  r.cseq = ++t.cseq;
  if (lp != nullptr) {
    r.headers.emplace_back("Contact", "<" + proxy::make_self_uri(*lp, t.cfg.contact_user) +
                                          ">;expires=" + std::to_string(t.expires));
  }
  if (!credentials.empty()) r.headers.emplace_back(credentials_header, credentials);
  t.answered_challenge = !credentials.empty();
  const std::uint64_t gen = ++t.generation;
  const std::size_t index = static_cast<std::size_t>(&t - trunks_.data());
  const auto id = uac_.send(
      r, t.dest, [this, index, gen](const sip::Message* rsp) { on_final(index, gen, rsp); });
  if (id == 0) fail(t, 0, "cannot be sent (no listener for its transport)");
}

void TrunkRegistrar::on_final(std::size_t index, std::uint64_t generation,
                              const sip::Message* rsp) {
  if (stopped_ || index >= trunks_.size()) return;
  Trunk& t = trunks_[index];
  if (generation != t.generation) return;
  if (rsp == nullptr) {
    fail(t, 0, "no answer");
    return;
  }
  const int status = rsp->status();
  t.state.last_status = status;
  if (status >= 200 && status < 300) {
    const std::uint32_t g = granted(*rsp, t.cfg.contact_user, t.expires);
    if (g == 0) {
      fail(t, status, "the 2xx does not list our contact");
      return;
    }
    ok_.inc();
    if (!t.state.registered || t.state.failures > 0) {
      log::registrar().info("trunk {}: registered at {} for {} s", t.cfg.name, t.cfg.registrar, g);
    }
    t.state.registered = true;
    t.state.granted_s = g;
    t.state.failures = 0;
    // Refresh before it expires: at four fifths of the interval (at least 1 s early).
    schedule(t, std::max<std::uint32_t>(1, std::min(g - g / 5, g > 1 ? g - 1 : 1)));
    return;
  }
  if (status == 401 || status == 407) {
    const auto* h =
        rsp->find(status == 401 ? HeaderId::WwwAuthenticate : HeaderId::ProxyAuthenticate);
    const auto chal = h != nullptr ? sip::parse_auth(h->value) : std::nullopt;
    const bool stale = chal && auth::iequal(auth::auth_param(*chal, "stale"), "true");
    if (h == nullptr || !chal || (t.answered_challenge && !stale)) {
      fail(t, status, t.answered_challenge ? "credentials refused" : "no usable challenge");
      return;
    }
    const std::string nonce(auth::auth_param(*chal, "nonce"));
    t.nc = nonce == t.nonce ? t.nc + 1 : 1;
    t.nonce = nonce;
    const auth::DigestSecret secret{t.cfg.auth_user, t.cfg.password, t.cfg.ha1};
    auto cred = auth::answer_challenge(h->value, secret, "REGISTER", t.cfg.registrar, t.nc,
                                       random_token(16));
    if (!cred) {
      fail(t, status, "challenge cannot be answered (algorithm, qop or no password)");
      return;
    }
    challenged_.inc();
    send_register(t, status == 401 ? "Authorization" : "Proxy-Authorization", *cred);
    return;
  }
  if (status == 423) {
    // RFC 3261 s.10.2.8: ask again with at least Min-Expires.
    std::uint32_t min = 0;
    if (const auto* m = rsp->find(HeaderId::MinExpires)) {
      min = sip::parse_uint(m->value).value_or(0);
    }
    if (min > t.expires && min <= 86400) {
      log::registrar().info("trunk {}: 423, asking for {} s instead of {}", t.cfg.name, min,
                            t.expires);
      t.expires = min;
      send_register(t);
      return;
    }
    fail(t, status, "423 without a usable Min-Expires");
    return;
  }
  fail(t, status, rsp->reason());
}

void TrunkRegistrar::fail(Trunk& t, int status, std::string_view why) {
  failed_.inc();
  t.state.registered = false;
  t.state.granted_s = 0;
  t.state.last_status = status;
  ++t.state.failures;
  const std::uint32_t shift = std::min<unsigned>(t.state.failures - 1, 10);
  const std::uint32_t retry = std::min<std::uint32_t>(kMaxRetryS, kFirstRetryS << shift);
  log::registrar().warn("trunk {}: registration at {} failed ({}{}{}); next attempt in {} s",
                        t.cfg.name, t.cfg.registrar, status == 0 ? "" : std::to_string(status),
                        status == 0 ? "" : " ", why, retry);
  t.answered_challenge = false;
  schedule(t, retry);
}

void TrunkRegistrar::schedule(Trunk& t, std::uint32_t after_s) {
  if (stopped_) return;
  if (t.timer != 0) timers_.cancel(t.timer);
  const std::size_t index = static_cast<std::size_t>(&t - trunks_.data());
  t.timer = timers_.schedule(std::chrono::seconds(after_s), [this, index]() {
    if (index >= trunks_.size()) return;
    trunks_[index].timer = 0;
    send_register(trunks_[index]);
  });
}

std::vector<TrunkRegistrar::State> TrunkRegistrar::states() const {
  std::vector<State> out;
  out.reserve(trunks_.size());
  for (const auto& t : trunks_) out.push_back(t.state);
  return out;
}

std::size_t TrunkRegistrar::registered() const {
  return static_cast<std::size_t>(std::count_if(trunks_.begin(), trunks_.end(),
                                                [](const Trunk& t) { return t.state.registered; }));
}

// ------------------------------------------------------------------ inbound

TrunkInboundProcessor::TrunkInboundProcessor(const std::vector<TrunkConfig>& trunks,
                                             const proxy::Domains& domains, Counters& reg)
    : domains_(domains), in_(reg.get("trunk_requests_in")) {
  for (const auto& t : trunks) {
    auto d = upstream_destination(t.outbound_proxy);
    if (d) inbound_.push_back({t.name, t.contact_user, *d});
  }
}

Action TrunkInboundProcessor::process(proxy::RequestContext& ctx) {
  sip::Message& req = ctx.request();
  if (inbound_.empty() || !req.to().tag().empty() || req.method() == sip::Method::Ack ||
      req.method() == sip::Method::Cancel || req.method() == sip::Method::Register) {
    return Action::Continue;
  }
  const Source& src = ctx.source();
  const sip::Uri& ruri = req.request_uri();
  if (!ruri.is_sip() || !domains_.is_self(ruri.host, ruri.port)) return Action::Continue;
  for (const auto& in : inbound_) {
    if (!comes_from(in.provider, src) || ruri.user != in.contact_user) continue;
    const sip::Uri& to = req.to().uri;
    if (!to.is_sip() || to.user.empty()) {
      ctx.respond(404, "Not Found - No Number Dialled");
      return Action::Respond;
    }
    in_.inc();
    std::string target = "sip:";
    target.append(to.user).append("@").append(domains_.primary());
    log::registrar().debug("trunk {}: {} for {} -> {}", in.name, req.method_name(), to.raw, target);
    req.set_request_uri(std::move(target));
    ctx.set_trusted_peer("trunk " + in.name, false);
    return Action::Continue;
  }
  return Action::Continue;
}

// ------------------------------------------------------------------ configuration

Expected<TrunkConfig, std::string> complete_trunk(TrunkConfig t) {
  using Err = Unexpected<std::string>;
  const auto aor = sip::parse_uri(t.aor);
  if (!aor || !aor->is_sip() || aor->user.empty()) {
    return Err{"aor: \"" + t.aor +
               "\" must be a sip: URI with a user, e.g. sip:1000@sip.provider.example"};
  }
  if (t.name.empty()) t.name = t.aor;
  if (t.registrar.empty()) t.registrar = "sip:" + std::string(aor->host);
  const auto reg = sip::parse_uri(t.registrar);
  if (!reg || !reg->is_sip()) {
    return Err{"registrar: \"" + t.registrar +
               "\" must be a sip: URI, e.g. sip:sip.provider.example"};
  }
  if (t.outbound_proxy.empty()) t.outbound_proxy = t.registrar;
  if (!upstream_destination(t.outbound_proxy)) {
    return Err{"outbound_proxy: \"" + t.outbound_proxy +
               "\" must be a sip: URI with an IP address and a udp, tcp or tls transport (give "
               "`outbound_proxy` when `registrar` is a name), e.g. sip:192.0.2.10:5060"};
  }
  if (t.auth_user.empty()) t.auth_user = std::string(aor->user);
  if (t.contact_user.empty()) t.contact_user = std::string(aor->user);
  if (t.password.empty() && t.ha1.empty()) {
    return Err{"password: give `password` (or `ha1`, the MD5 HA1 in hex)"};
  }
  if (!t.ha1.empty() && (t.ha1.size() != 32 || !std::all_of(t.ha1.begin(), t.ha1.end(), [](char c) {
                           return text::is_hex(c);
                         }))) {
    return Err{"ha1: must be 32 hex digits (MD5 of user:realm:password)"};
  }
  if (t.expires < 1 || t.expires > 86400) {
    return Err{"expires: " + std::to_string(t.expires) + " is out of range; use 1..86400"};
  }
  for (char c : t.contact_user) {
    if (!text::is_alnum(c) && std::string_view("-_.!~*'()+").find(c) == std::string_view::npos) {
      return Err{"contact_user: \"" + t.contact_user + "\" must be letters, digits or -_.!~*'()+"};
    }
  }
  return t;
}

}  // namespace sipws::registrar
