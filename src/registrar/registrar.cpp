#include "registrar/registrar.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <limits>
#include <optional>
#include <set>

#include "common/counters.hpp"
#include "sip/headers.hpp"
#include "sip/message.hpp"
#include "sip/text.hpp"

namespace sipws::registrar {
namespace {

using proxy::Action;
using sip::HeaderId;
using sip::Message;

using sip::text::iequal;
using sip::text::to_lower;

std::string_view unquote(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return v.substr(1, v.size() - 2);
  return v;
}

/// delta-seconds (RFC 3261 s.25.1): digits only; values beyond 2**32-1 saturate (s.20.19).
std::optional<std::uint32_t> parse_delta_seconds(std::string_view v) {
  if (v.empty() || v.size() > 64) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
    if (n > std::numeric_limits<std::uint32_t>::max())
      n = std::numeric_limits<std::uint32_t>::max();
  }
  return static_cast<std::uint32_t>(n);
}

/// qvalue (RFC 3261 s.25.1): "0" ["." 0*3DIGIT] / "1" ["." 0*3("0")].
std::optional<float> parse_qvalue(std::string_view v) {
  if (v.empty() || v.size() > 5 || (v[0] != '0' && v[0] != '1')) return std::nullopt;
  if (v.size() > 1 && v[1] != '.') return std::nullopt;
  int thousandths = 0;
  int scale = 100;
  for (std::size_t i = 2; i < v.size(); ++i) {
    if (v[i] < '0' || v[i] > '9') return std::nullopt;
    thousandths += (v[i] - '0') * scale;
    scale /= 10;
  }
  if (v[0] == '1' && thousandths != 0) return std::nullopt;
  return v[0] == '1' ? 1.0f : static_cast<float>(thousandths) / 1000.0f;
}

/// Writes a q value with at most three decimals ("0.5", "0.125", "1").
std::string format_q(float q) {
  const long t = std::lround(q * 1000.0f);
  if (t >= 1000) return "1";
  if (t <= 0) return "0";
  char buf[16];
  std::snprintf(buf, sizeof buf, "0.%03ld", t);
  std::string s(buf);
  while (s.size() > 3 && s.back() == '0') s.pop_back();
  return s;
}

using sip::text::is_token_char;

/// ";name[=value]" with the value quoted when it is not a token (a parser that stripped the
/// quotes of +sip.instance="<urn:...>" must not make us echo an invalid header).
std::string param_text(const sip::Param& p) {
  std::string out = ";";
  out += p.name;
  if (!p.has_value) return out;
  out += '=';
  std::string_view v = p.value;
  bool token = !v.empty();
  for (char c : v) token = token && is_token_char(c);
  const bool quoted = v.size() >= 2 && v.front() == '"' && v.back() == '"';
  if (token || quoted) {
    out += v;
  } else {
    out += '"';
    out += v;
    out += '"';
  }
  return out;
}

/// The option tags of every header with `id`, lower-cased.
std::set<std::string> option_tags(const Message& m, HeaderId id) {
  std::set<std::string> tags;
  for (const auto* h : m.find_all(id)) {
    for (auto t : sip::split_list(h->value)) tags.insert(to_lower(t));
  }
  return tags;
}

/// Appends `n` in decimal.
void append_uint(std::string& out, std::uint32_t n) {
  char buf[16];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

}  // namespace

std::string http_date(std::int64_t unix_seconds) {
  // Every REGISTER answer has a Date: format each second once per thread.
  thread_local std::int64_t cached_second = -1;
  thread_local std::string cached;
  if (unix_seconds == cached_second) return cached;
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday % 7],
                tm.tm_mday, kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  cached_second = unix_seconds;
  cached = buf;
  return cached;
}

std::string pub_gruu(std::string_view aor, std::string_view instance) {
  std::string_view urn = instance;
  if (urn.size() >= 2 && urn.front() == '<' && urn.back() == '>')
    urn = urn.substr(1, urn.size() - 2);
  std::string out = "sip:";
  out += aor;
  out += ";gr=";
  out += urn;
  return out;
}

std::string temp_gruu(std::string_view aor, std::string_view token) {
  const auto at = aor.rfind('@');
  std::string out = "sip:";
  out += kTempGruuPrefix;
  out += token;
  out += '@';
  out += at == std::string_view::npos ? aor : aor.substr(at + 1);
  out += ";gr";
  return out;
}

RegistrarProcessor::Stats::Stats(Counters& reg)
    : ok(reg.get("registrar_register_ok")),
      rejected(reg.get("registrar_register_rejected")),
      waited_durable(reg.get("registrar_register_waited_durable")),
      not_durable(reg.get("registrar_register_not_durable")) {}

RegistrarProcessor::RegistrarProcessor(const proxy::Domains& domains, LocationService& location,
                                       RegistrarConfig cfg, Counters& reg)
    : domains_(domains), location_(location), cfg_(cfg), stats_(reg) {}

Action RegistrarProcessor::reject(proxy::RequestContext& ctx, int status, std::string_view reason) {
  stats_.rejected.inc();
  ctx.respond(status, reason);
  return Action::Respond;
}

Action RegistrarProcessor::process(proxy::RequestContext& ctx) {
  const Message& req = ctx.original();
  if (req.method() != sip::Method::Register) return Action::Continue;
  const sip::Uri& ruri = req.request_uri();
  if (!ruri.is_sip()) return Action::Continue;
  // A Route left after the core consumed its own entries: the REGISTER goes elsewhere.
  if (ctx.request().count(HeaderId::Route) > 0) return Action::Continue;
  const sip::Uri& to = req.to().uri;
  const bool for_us =
      (domains_.is_self(ruri.host, ruri.port) && domains_.is_local_domain(ruri.host)) ||
      (domains_.is_self(ruri.host) && to.is_sip() && domains_.is_local_domain(to.host));
  if (!for_us) return Action::Continue;  // s.10.3 step 1: another domain's registrar

  // Step 2: Require.
  std::string unsupported;
  for (const auto& tag : option_tags(req, HeaderId::Require)) {
    if (tag == "path" || tag == "outbound" || tag == "gruu") continue;
    if (!unsupported.empty()) unsupported += ", ";
    unsupported += tag;
  }
  if (!unsupported.empty()) {
    stats_.rejected.inc();
    ctx.respond(420, "Bad Extension").append(HeaderId::Unsupported, unsupported);
    return Action::Respond;
  }

  // Step 3: the AOR must belong to this domain.
  if (!to.is_sip() || to.user.empty() || !domains_.is_local_domain(to.host)) {
    return reject(ctx, 404, "Not Found");
  }
  const std::string aor =
      LocationService::normalize_aor(std::string(to.user).append(1, '@').append(to.host));
  // Step 4: the authenticated identity may only register its own AOR.
  if (!ctx.identity().empty() && LocationService::normalize_aor(ctx.identity()) != aor) {
    return reject(ctx, 403, "Forbidden");
  }

  const bool sup_gruu = sip::has_option_tag(req, HeaderId::Supported, "gruu");
  const bool sup_path = sip::has_option_tag(req, HeaderId::Supported, "path");
  const bool sup_outbound = sip::has_option_tag(req, HeaderId::Supported, "outbound");

  RegisterUpdate u;
  u.aor = aor;
  u.call_id = std::string(req.call_id());
  u.cseq = req.cseq().number;
  u.source = ctx.source();
  for (const auto* h : req.find_all(HeaderId::Path)) u.path.emplace_back(h->value);
  if (const auto* ua = req.find(HeaderId::UserAgent)) u.user_agent = std::string(ua->value);
  // The source is the UA itself when it sent the request (one Via). RFC 5626 s.6: Outbound
  // applies when we are the first hop, or the first hop is an Outbound edge (Path with "ob").
  u.direct = req.count(HeaderId::Via) == 1 && u.path.empty();
  bool edge_ob = false;
  if (!u.path.empty()) {
    auto first = sip::parse_name_addr(u.path.front());
    edge_ob = first && first->uri.param("ob") != nullptr;
  }
  const bool outbound_possible = u.direct || edge_ob;

  std::optional<std::uint32_t> header_expires;
  if (const auto* e = req.find(HeaderId::Expires)) header_expires = parse_delta_seconds(e->value);

  // Step 6: the Contacts.
  const auto contact_headers = req.find_all(HeaderId::Contact);
  std::vector<sip::NameAddr> contacts;
  contacts.reserve(contact_headers.size());
  bool star = false;
  for (const auto* h : contact_headers) {
    auto na = sip::parse_name_addr(h->value);
    if (!na) return reject(ctx, 400, "Bad Request - Invalid Contact");
    star = star || na->star;
    contacts.push_back(std::move(*na));
  }
  if (star) {
    if (contacts.size() != 1 || !header_expires || *header_expires != 0) {
      return reject(ctx, 400, "Invalid Request - Contact * Needs Expires: 0 Alone");
    }
    u.remove_all = true;
  }

  bool outbound_applied = false;
  std::size_t reg_id_contacts = 0;
  if (!star) {
    for (const auto& na : contacts) {
      // Any URI scheme may be bound (RFC 3665 s.2.2 binds a mailto:); only sip/sips ones are
      // proxied to (lookup skips the others).
      if (na.uri.raw.empty()) return reject(ctx, 400, "Bad Request - Invalid Contact");
      ContactUpdate c;
      c.contact = std::string(na.uri.raw);
      c.third_party = u.direct && is_third_party(req.top_via(), na.uri, ctx.source());
      std::optional<std::uint32_t> expires;
      if (const auto* p = na.param("expires")) expires = parse_delta_seconds(p->value);
      if (!expires) expires = header_expires;
      c.expires = expires ? *expires : cfg_.default_expires;
      if (c.expires > 0 && c.expires < cfg_.min_expires) {
        stats_.rejected.inc();
        ctx.respond(423, "Interval Too Brief")
            .append(HeaderId::MinExpires, std::to_string(cfg_.min_expires));
        return Action::Respond;
      }
      if (c.expires > cfg_.max_expires) c.expires = cfg_.max_expires;
      if (const auto* p = na.param("q")) {
        auto q = parse_qvalue(p->value);
        if (!q) return reject(ctx, 400, "Bad Request - Invalid q");
        c.q = *q;
      }
      if (const auto* p = na.param("+sip.instance")) {
        c.instance = std::string(unquote(p->value));
        if (c.instance.empty()) return reject(ctx, 400, "Bad Request - Invalid +sip.instance");
      }
      if (const auto* p = na.param("reg-id"); p != nullptr && !c.instance.empty()) {
        auto r = sip::parse_uint(p->value);
        if (!r || *r == 0 || *r > 0x7fffffffu)
          return reject(ctx, 400, "Bad Request - Invalid reg-id");
        ++reg_id_contacts;
        // RFC 5626 s.6: without a first hop doing Outbound, reg-id is ignored (a
        // third-party Contact has no flow of its own either).
        if (outbound_possible && !c.third_party) {
          c.reg_id = *r;
          outbound_applied = true;
        }
      }
      for (const auto& p : na.params) {
        if (iequal(p.name, "expires") || iequal(p.name, "q") || iequal(p.name, "pub-gruu") ||
            iequal(p.name, "temp-gruu")) {
          continue;
        }
        c.params += param_text(p);
      }
      u.contacts.push_back(std::move(c));
    }
    // RFC 5626 s.6: one flow per REGISTER.
    if (reg_id_contacts > 1) return reject(ctx, 400, "Bad Request - Multiple reg-id Contacts");
  }

  // Steps 7-8: apply. With ack_when_durable, the answer waits for the store (RFC 3261 s.10.3
  // step 8 says the registrar answers once the bindings are updated: durably, here).
  std::function<void(proxy::Action)> resume;
  store::AsyncStore::Durable durable;
  // A binding that is never stored (WebSocket) has nothing to wait for: the hot path of a
  // browser's REGISTER makes no callback.
  if (cfg_.ack_when_durable && location_.persisted(u.source.protocol)) {
    resume = ctx.pause_handle();
  }
  if (resume) {
    // ctx stays valid while the chain is paused (the proxy core keeps it).
    durable = [&ctx, resume, &stats = stats_](std::error_code ec) {
      if (ec) {
        stats.rejected.inc();
        stats.not_durable.inc();
        ctx.respond_store_unavailable();
      } else {
        stats.ok.inc();
      }
      resume(Action::Respond);
    };
  }
  if (u.remove_all || !u.contacts.empty()) {
    auto r = location_.update(u, cfg_.max_contacts_per_aor, resume ? &durable : nullptr);
    if (!r) return reject(ctx, r.error().status, r.error().reason);
  }

  Message& rsp = ctx.respond(200, "OK");
  const TimePoint now = location_.timers().now();
  // Built under the AOR's partition lock (LocationService::visit): no copies of the bindings.
  location_.visit(aor, [&](const Binding& b) {
    // One buffer per Contact: "<uri>" params ";expires=N" [";q=..."] [GRUUs].
    std::string v;
    v.reserve(b.contact.size() + b.params.size() + 24);
    v.append(1, '<').append(b.contact).append(1, '>').append(b.params);
    v.append(";expires=");
    append_uint(v, b.expires_in(now));
    if (b.q != 1.0f) v.append(";q=").append(format_q(b.q));
    if (sup_gruu && !b.instance.empty()) {
      v.append(";pub-gruu=\"").append(pub_gruu(aor, b.instance)).append(1, '"');
      if (!b.temp_gruu.empty()) {
        v.append(";temp-gruu=\"").append(temp_gruu(aor, b.temp_gruu)).append(1, '"');
      }
    }
    rsp.append(HeaderId::Contact, std::move(v));
  });
  if (sup_path) {
    for (const auto& p : u.path) rsp.append(HeaderId::Path, p);
  }
  if (sup_outbound && outbound_applied) rsp.append(HeaderId::Require, "outbound");
  rsp.append(HeaderId::Date, http_date(location_.timers().unix_time()));
  // Moved out by update(): the store has the writes, and the answer waits for it.
  if (resume && !durable) {
    stats_.waited_durable.inc();
    return Action::Pause;
  }
  stats_.ok.inc();
  return Action::Respond;
}

}  // namespace sipws::registrar
