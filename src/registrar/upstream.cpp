#include "registrar/upstream.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <iterator>

#include "common/log.hpp"
#include "common/random.hpp"
#include "common/text.hpp"
#include "proxy/routing.hpp"
#include "sip/headers.hpp"
#include "sip/message.hpp"

namespace sipws::registrar {
namespace {

using proxy::Action;
using sip::HeaderId;
using sip::Method;

constexpr std::string_view kTokenPrefix = "sw-u";
constexpr std::uint32_t kDefaultExpiresS = 3600;  // RFC 3261 s.10.2.1.1, a registrar's default

bool is_token(std::string_view user) { return user.starts_with(kTokenPrefix); }

bool is_reg_id(std::string_view name) { return text::iequal(name, "reg-id"); }

/// A Contact value naming `uri` with the parameters of `na` (but those `skip` names).
std::string contact_value(const sip::NameAddr& na, std::string_view uri,
                          bool (*skip)(std::string_view) = nullptr) {
  std::string v = "<";
  v += uri;
  v += '>';
  v += sip::params_text(na.params, skip);
  return v;
}

/// Where a request to a UA reaches it: the flow (or UDP source and listener) its REGISTER
/// came from.
Destination destination_of(const Source& src) {
  Destination d;
  d.protocol = src.protocol;
  d.endpoint = src.peer;
  d.flow = src.flow;
  if (src.protocol == Protocol::Udp) d.local = src.local;
  return d;
}

/// One Contact of a REGISTER on its way upstream.
struct SentContact {
  std::string token;
  std::string contact;       ///< the UA's URI
  std::string params;        ///< header params to send (reg-id dropped when rewritten)
  std::string sent_contact;  ///< the URI sent (set per branch)
};

/// What the response filter of one forwarded REGISTER needs.
struct PendingRegister {
  UpstreamBinding base;  ///< everything but token / contact / expiry
  bool path = false;
  bool star = false;
  std::vector<SentContact> contacts;
};

}  // namespace

bool comes_from(const Destination& server, const Source& src) {
  return server.endpoint.address == src.peer.address && src.protocol == server.protocol &&
         (src.protocol != Protocol::Udp || src.peer.port == server.endpoint.port);
}

std::uint32_t contact_expires(const sip::NameAddr& contact, const sip::Message& rsp,
                              std::uint32_t dflt) {
  if (const sip::Param* p = contact.param("expires"); p != nullptr && p->has_value) {
    return sip::parse_uint(p->value).value_or(0);
  }
  return rsp.expires().value_or(dflt);
}

std::optional<Destination> upstream_destination(std::string_view uri_text) {
  const auto uri = sip::parse_uri(uri_text);
  if (!uri || !uri->is_sip()) return std::nullopt;
  const auto hop = proxy::next_hop_for(*uri);
  if (!hop || (hop->protocol != Protocol::Udp && hop->protocol != Protocol::Tcp &&
               hop->protocol != Protocol::Tls)) {
    return std::nullopt;
  }
  boost::system::error_code ec;
  const auto addr = boost::asio::ip::make_address(hop->host, ec);
  if (ec) return std::nullopt;
  Destination d;
  d.protocol = hop->protocol;
  d.endpoint = Endpoint{addr, hop->port};
  return d;
}

// ------------------------------------------------------------------ UpstreamBindings

UpstreamBindings::UpstreamBindings(std::string_view key, const TimerService& clock)
    : hmac_(std::make_shared<const crypto::HmacSha256>(key)), clock_(clock) {}

std::string UpstreamBindings::token_for(std::string_view aor, std::string_view contact) const {
  const auto mac = hmac_->mac({aor, "\n", contact});
  std::string t(kTokenPrefix);
  // 16 bytes = 22 base64url characters; an OpenSSL failure gives a fixed token that only
  // this (aor, contact) and other failures share: still a lookup key, never a credential.
  const std::string bytes =
      mac ? std::string(reinterpret_cast<const char*>(mac->data()), 16) : std::string(16, '\0');
  t += text::base64url_encode(bytes);
  return t;
}

void UpstreamBindings::put(UpstreamBinding b) {
  std::lock_guard lock(mu_);
  if (map_.size() >= prune_at_) {
    const TimePoint now = clock_.now();
    for (auto it = map_.begin(); it != map_.end();) {
      if (it->second.expires_at > now) {
        ++it;
        continue;
      }
      unindex(it->second.source.flow, it->first);
      it = map_.erase(it);
    }
    prune_at_ = std::max<std::size_t>(1024, map_.size() * 2);
  }
  auto it = map_.find(b.token);
  if (it != map_.end()) unindex(it->second.source.flow, b.token);
  if (b.source.flow != kNoFlow) by_flow_[b.source.flow].push_back(b.token);
  map_.insert_or_assign(b.token, std::move(b));
}

void UpstreamBindings::unindex(FlowId flow, const std::string& token) {
  auto f = by_flow_.find(flow);
  if (f == by_flow_.end()) return;
  std::erase(f->second, token);
  if (f->second.empty()) by_flow_.erase(f);
}

bool UpstreamBindings::remove(std::string_view token) {
  std::lock_guard lock(mu_);
  auto it = map_.find(std::string(token));
  if (it == map_.end()) return false;
  unindex(it->second.source.flow, it->second.token);
  map_.erase(it);
  return true;
}

std::size_t UpstreamBindings::remove_aor(std::string_view aor) {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (auto it = map_.begin(); it != map_.end();) {
    if (it->second.aor != aor) {
      ++it;
      continue;
    }
    unindex(it->second.source.flow, it->first);
    it = map_.erase(it);
    ++n;
  }
  return n;
}

std::optional<UpstreamBinding> UpstreamBindings::find(std::string_view token) const {
  std::lock_guard lock(mu_);
  auto it = map_.find(std::string(token));
  if (it == map_.end() || it->second.expires_at <= clock_.now()) return std::nullopt;
  return it->second;
}

std::vector<UpstreamBinding> UpstreamBindings::on_flow_closed(FlowId flow) {
  std::vector<UpstreamBinding> out;
  if (flow == kNoFlow) return out;
  std::lock_guard lock(mu_);
  auto f = by_flow_.find(flow);
  if (f == by_flow_.end()) return out;
  const TimePoint now = clock_.now();
  for (const auto& token : f->second) {
    auto it = map_.find(token);
    if (it == map_.end() || it->second.flow_dead || it->second.expires_at <= now) continue;
    it->second.flow_dead = true;
    out.push_back(it->second);
  }
  by_flow_.erase(f);
  return out;
}

std::size_t UpstreamBindings::size() const {
  std::lock_guard lock(mu_);
  return map_.size();
}

// ------------------------------------------------------------------ the processor

UpstreamRegistrarProcessor::UpstreamRegistrarProcessor(std::vector<UpstreamDomain> upstreams,
                                                       const proxy::Domains& domains,
                                                       UpstreamBindings& table, Counters& reg)
    : domains_(domains),
      table_(table),
      registers_(reg.get("upstream_registers_forwarded")),
      requests_in_(reg.get("upstream_requests_in")),
      requests_out_(reg.get("upstream_requests_out")),
      unknown_token_(reg.get("upstream_unknown_token")),
      unregisters_sent_(reg.get("upstream_unregisters_sent")),
      unregisters_ok_(reg.get("upstream_unregisters_ok")),
      unregisters_failed_(reg.get("upstream_unregisters_failed")) {
  for (auto& u : upstreams) {
    auto dest = upstream_destination(u.upstream);
    if (!dest) continue;  // the configuration checked it
    u.name = text::to_lower(u.name);
    upstreams_.push_back({std::move(u), std::move(*dest)});
  }
}

const UpstreamRegistrarProcessor::Upstream* UpstreamRegistrarProcessor::by_domain(
    std::string_view host) const {
  for (const auto& u : upstreams_) {
    if (text::iequal(u.cfg.name, host)) return &u;
  }
  return nullptr;
}

const UpstreamRegistrarProcessor::Upstream* UpstreamRegistrarProcessor::by_source(
    const Source& src) const {
  for (const auto& u : upstreams_) {
    if (comes_from(u.dest, src)) return &u;
  }
  return nullptr;
}

Action UpstreamRegistrarProcessor::process(proxy::RequestContext& ctx) {
  if (upstreams_.empty()) return Action::Continue;
  const sip::Message& req = ctx.request();
  const Method m = req.method();
  if (m == Method::Ack || m == Method::Cancel || !req.to().tag().empty()) {
    return Action::Continue;
  }
  const Upstream* from_up = by_source(ctx.source());
  if (from_up != nullptr) {
    if (const Action a = from_upstream(ctx, *from_up); a != Action::Continue) return a;
  }
  if (m == Method::Register) {
    const Upstream* up = req.to().uri.is_sip() ? by_domain(req.to().uri.host) : nullptr;
    if (up == nullptr) return Action::Continue;
    const sip::Uri& ruri = req.request_uri();
    if (!ruri.is_sip() || (by_domain(ruri.host) != up && !domains_.is_self(ruri.host, ruri.port))) {
      return Action::Continue;  // not for that domain's registrar: the relay policy decides
    }
    return forward_register(ctx, *up);
  }
  if (from_up != nullptr) return Action::Continue;  // never back where it came from
  const sip::Uri& from = req.from().uri;
  const sip::Uri& ruri = req.request_uri();
  const Upstream* up = from.is_sip() ? by_domain(from.host) : nullptr;
  if (up == nullptr && ruri.is_sip()) up = by_domain(ruri.host);
  if (up == nullptr) return Action::Continue;
  return to_upstream(ctx, *up);
}

Action UpstreamRegistrarProcessor::forward_register(proxy::RequestContext& ctx,
                                                    const Upstream& up) {
  sip::Message& req = ctx.request();
  auto pending = std::make_shared<PendingRegister>();
  pending->path = up.cfg.path;
  UpstreamBinding& base = pending->base;
  base.domain = up.cfg.name;
  const sip::Uri& to = req.to().uri;
  base.aor = std::string(to.user) + "@" + text::to_lower(to.host);
  base.request_uri = std::string(req.request_uri().raw);
  if (const auto* f = req.find(HeaderId::From)) base.from = std::string(f->value);
  if (const auto* t = req.find(HeaderId::To)) base.to = std::string(t->value);
  base.cseq = req.cseq().number;
  for (const auto* h : req.find_all(HeaderId::Authorization)) {
    base.credentials.emplace_back(false, std::string(h->value));
  }
  for (const auto* h : req.find_all(HeaderId::ProxyAuthorization)) {
    base.credentials.emplace_back(true, std::string(h->value));
  }
  base.source = ctx.source();
  for (const auto* h : req.find_all(HeaderId::Contact)) {
    auto na = sip::parse_name_addr(h->value);
    if (!na) {
      ctx.respond(400, "Bad Request - Malformed Contact");
      return Action::Respond;
    }
    if (na->star) {
      pending->star = true;
      continue;
    }
    SentContact sc;
    sc.contact = std::string(na->uri.raw);
    sc.token = table_.token_for(base.aor, sc.contact);
    // Outbound (RFC 5626) ends at this edge: the upstream sees a plain binding of sipws.
    sc.params = sip::params_text(na->params, up.cfg.path ? nullptr : is_reg_id);
    sc.sent_contact = sc.contact;
    pending->contacts.push_back(std::move(sc));
  }
  registers_.inc();

  proxy::Target t;
  t.uri = base.request_uri;
  t.next_hop = up.dest;
  // The address of sipws the upstream can reach is that of the listener the REGISTER leaves
  // from: the Path entry / Contacts are written per branch.
  t.before_send = [pending](sip::Message& fwd, const ListenPoint& lp) {
    if (pending->path) {
      const Source& src = pending->base.source;
      pending->base.path =
          proxy::make_record_route(lp, is_reliable(src.protocol) ? src.flow : kNoFlow);
      fwd.push_front(HeaderId::Path, pending->base.path);
      // The operator said the registrar takes Path; one that follows RFC 3327 s.5.3 strictly
      // (Kamailio's default path_mode) refuses a Path the UA did not say it supports (420).
      if (!sip::has_option_tag(fwd, HeaderId::Supported, "path")) {
        fwd.append(HeaderId::Supported, "path");
      }
      return;
    }
    if (pending->contacts.empty()) return;  // a fetch, or Contact: *
    fwd.remove_all(HeaderId::Contact);
    for (auto& sc : pending->contacts) {
      sc.sent_contact = proxy::make_self_uri(lp, sc.token);
      fwd.append(HeaderId::Contact, "<" + sc.sent_contact + ">" + sc.params);
    }
  };
  ctx.targets().push_back(std::move(t));

  ctx.set_response_filter([pending, &table = table_](sip::Message& rsp) {
    const auto values = rsp.find_all(HeaderId::Contact);
    std::vector<std::string> restored;
    bool changed = false;
    std::vector<std::pair<const SentContact*, std::uint32_t>> seen;  // contact, expires
    for (const auto* h : values) {
      auto na = sip::parse_name_addr(h->value);
      if (!na || na->star) {
        restored.emplace_back(h->value);
        continue;
      }
      const SentContact* mine = nullptr;
      for (const auto& sc : pending->contacts) {
        const bool match = pending->path ? na->uri.raw == sc.contact
                                         : (is_token(na->uri.user) && na->uri.user == sc.token);
        if (match) mine = &sc;
      }
      if (mine != nullptr) seen.emplace_back(mine, contact_expires(*na, rsp, kDefaultExpiresS));
      if (!pending->path && is_token(na->uri.user)) {
        // Ours: this UA's, or another UA's of the same AOR registered through sipws.
        std::string original;
        if (mine != nullptr) {
          original = mine->contact;
        } else if (auto other = table.find(na->uri.user)) {
          original = other->contact;
        }
        if (!original.empty()) {
          restored.push_back(contact_value(*na, original));
          changed = true;
          continue;
        }
      }
      restored.emplace_back(h->value);
    }
    if (changed) {
      rsp.remove_all(HeaderId::Contact);
      for (auto& v : restored) rsp.append(HeaderId::Contact, std::move(v));
    }
    if (rsp.status() < 200 || rsp.status() >= 300) return;
    if (pending->star) {
      table.remove_aor(pending->base.aor);
      return;
    }
    // RFC 3261 s.10.3 step 8: the 2xx lists every current binding of the AOR; ours that are
    // missing (or expire now) are gone upstream.
    for (const auto& sc : pending->contacts) {
      std::uint32_t expires = 0;
      for (const auto& [c, e] : seen) {
        if (c == &sc) expires = e;
      }
      if (expires == 0) {
        table.remove(sc.token);
        continue;
      }
      UpstreamBinding b = pending->base;
      b.token = sc.token;
      b.contact = sc.contact;
      b.sent_contact = sc.sent_contact;
      b.expires_at = table.now() + std::chrono::seconds(expires);
      table.put(std::move(b));
    }
  });
  return Action::SkipChain;
}

Action UpstreamRegistrarProcessor::from_upstream(proxy::RequestContext& ctx, const Upstream& up) {
  const sip::Uri& ruri = ctx.request().request_uri();
  if (ruri.is_sip() && is_token(ruri.user) && domains_.is_self(ruri.host, ruri.port)) {
    auto b = table_.find(ruri.user);
    if (!b || b->domain != up.cfg.name) {
      unknown_token_.inc();
      ctx.respond(404, "Not Found");
      return Action::Respond;
    }
    if (b->flow_dead) {
      ctx.respond(480, "Temporarily Unavailable");
      return Action::Respond;
    }
    requests_in_.inc();
    proxy::Target t;
    t.uri = b->contact;
    t.next_hop = destination_of(b->source);
    ctx.targets().push_back(std::move(t));
    return Action::SkipChain;
  }
  if (ctx.own_routes().count > 0 && ctx.own_routes().flow != kNoFlow) {
    // Along a Path of ours: the core's loose routing sends it down the flow the token names.
    requests_in_.inc();
    proxy::Target t;
    t.uri = std::string(ruri.raw);
    ctx.targets().push_back(std::move(t));
    return Action::SkipChain;
  }
  return Action::Continue;
}

Action UpstreamRegistrarProcessor::to_upstream(proxy::RequestContext& ctx, const Upstream& up) {
  requests_out_.inc();
  proxy::Target t;
  t.uri = std::string(ctx.request().request_uri().raw);
  t.next_hop = up.dest;
  ctx.targets().push_back(std::move(t));
  return Action::SkipChain;
}

void UpstreamRegistrarProcessor::on_flow_closed(FlowId flow, proxy::Uac& uac) {
  for (const auto& b : table_.on_flow_closed(flow)) {
    const Upstream* up = by_domain(b.domain);
    if (up == nullptr || !up->cfg.unregister) continue;
    unregisters_sent_.inc();
    const proxy::OwnRequest r = unregister_request(b, random_token(24));
    const std::string token = b.token;
    const std::string aor = b.aor;
    auto done = [&table = table_, &ok = unregisters_ok_, &failed = unregisters_failed_, token,
                 aor](int status) {
      if (status >= 200 && status < 300) {
        ok.inc();
        table.remove(token);
        return;
      }
      failed.inc();
      log::registrar().info(
          "upstream: un-registering {} after its flow closed got {}: the upstream keeps the "
          "binding until it expires (sipws answers requests to it 480)",
          aor, status == 0 ? std::string("no response") : std::to_string(status));
    };
    if (uac.send(r, up->dest, std::move(done)) == 0) unregisters_failed_.inc();
  }
}

proxy::OwnRequest unregister_request(const UpstreamBinding& b, std::string call_id) {
  proxy::OwnRequest r;
  r.method = "REGISTER";
  r.uri = b.request_uri;
  r.from = b.from;
  r.to = b.to;
  r.call_id = std::move(call_id);
  r.cseq = 1;
  r.headers.emplace_back("Contact", "<" + b.sent_contact + ">;expires=0");
  if (!b.path.empty()) {
    r.headers.emplace_back("Path", b.path);
    r.headers.emplace_back("Supported", "path");  // as on the REGISTER it removes
  }
  for (const auto& [proxy_auth, value] : b.credentials) {
    r.headers.emplace_back(proxy_auth ? "Proxy-Authorization" : "Authorization", value);
  }
  return r;
}

}  // namespace sipws::registrar
