#include "registrar/location.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>

#include "common/counters.hpp"
#include "common/random.hpp"
#include "sip/headers.hpp"

namespace sipws::registrar {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

/// Contact URIs equal per RFC 3261 s.19.1.4 (text equality when either does not parse).
bool same_contact(std::string_view a, std::string_view b) {
  // A refresh repeats the registered text: equal text is equal URIs (s.19.1.4 is reflexive),
  // without parsing either.
  if (a == b) return true;
  auto ua = sip::parse_uri(a);
  auto ub = sip::parse_uri(b);
  if (ua && ub && ua->is_sip() && ub->is_sip()) return sip::uri_equal(*ua, *ub);
  return a == b;  // other schemes (mailto:, tel:): exact text
}

std::string join_path(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& p : path) {
    if (!out.empty()) out += ", ";
    out += p;
  }
  return out;
}

constexpr std::size_t kTempGruuLength = 16;
constexpr std::size_t kMaxKnownAors = 1 << 20;

}  // namespace

std::uint32_t Binding::expires_in(TimePoint now) const {
  if (expires_at <= now) return 0;
  const auto left = std::chrono::duration_cast<Millis>(expires_at - now).count();
  return static_cast<std::uint32_t>((left + 999) / 1000);
}

std::string received_string(const Source& s) {
  std::string out(lower_name(s.protocol));
  out += ':';
  out += s.peer.to_string();
  return out;
}

std::optional<Source> parse_received(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto proto = protocol_from_string(text.substr(0, colon));
  if (!proto) return std::nullopt;
  std::string_view hostport = text.substr(colon + 1);
  const auto pc = hostport.rfind(':');
  if (pc == std::string_view::npos || pc == 0) return std::nullopt;
  std::string_view host = hostport.substr(0, pc);
  std::string_view port_text = hostport.substr(pc + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::uint16_t port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port == 0) {
    return std::nullopt;
  }
  boost::system::error_code bec;
  auto addr = boost::asio::ip::make_address(std::string(host), bec);
  if (bec) return std::nullopt;
  Source s;
  s.protocol = *proto;
  s.peer = Endpoint{addr, port};
  return s;
}

LocationService::LocationService(TimerService& timers, store::AsyncStore* store)
    : timers_(timers), store_(store) {}

LocationService::~LocationService() {
  for (const auto& [id, tid] : timer_ids_) timers_.cancel(tid);
}

std::string LocationService::normalize_aor(std::string_view aor) {
  std::string out(aor);
  const auto at = out.rfind('@');
  for (std::size_t i = (at == std::string::npos ? 0 : at + 1); i < out.size(); ++i) {
    out[i] = lower(out[i]);
  }
  return out;
}

std::vector<const Binding*> LocationService::lookup(std::string_view aor) const {
  std::vector<const Binding*> out;
  auto it = by_aor_.find(normalize_aor(aor));
  if (it == by_aor_.end()) return out;
  const TimePoint now = timers_.now();
  for (auto id : it->second) {
    const Binding& b = *bindings_.at(id);
    if (b.expires_at > now) out.push_back(&b);
  }
  std::stable_sort(out.begin(), out.end(), [](const Binding* a, const Binding* b) {
    if (a->q != b->q) return a->q > b->q;
    return a->id > b->id;
  });
  return out;
}

const Binding* LocationService::find_instance(std::string_view aor,
                                              std::string_view instance) const {
  for (const Binding* b : lookup(aor)) {
    if (b->instance == instance) return b;
  }
  return nullptr;
}

const Binding* LocationService::find_temp_gruu(std::string_view token) const {
  auto it = by_temp_gruu_.find(std::string(token));
  if (it == by_temp_gruu_.end()) return nullptr;
  const Binding& b = *bindings_.at(it->second);
  return b.expires_at > timers_.now() ? &b : nullptr;
}

bool LocationService::known(std::string_view aor) const {
  return known_.count(normalize_aor(aor)) > 0;
}

Binding* LocationService::find_match(std::string_view aor, const ContactUpdate& c) {
  auto it = by_aor_.find(std::string(aor));
  if (it == by_aor_.end()) return nullptr;
  // Instance ids (RFC 5626 s.6 / RFC 5627 s.6) first: one binding per instance + reg-id.
  if (!c.instance.empty()) {
    for (auto id : it->second) {
      Binding& b = *bindings_.at(id);
      if (b.instance == c.instance && b.reg_id == c.reg_id) return &b;
    }
  }
  for (auto id : it->second) {
    Binding& b = *bindings_.at(id);
    if (!c.instance.empty() && !b.instance.empty()) continue;
    if (same_contact(b.contact, c.contact)) return &b;
  }
  return nullptr;
}

Expected<std::size_t, UpdateError> LocationService::update(const RegisterUpdate& u,
                                                           std::size_t max_per_aor) {
  const std::string aor = normalize_aor(u.aor);
  auto ait = by_aor_.find(aor);

  // RFC 3261 s.10.3 step 6: Contact: * removes every binding, unless a binding has the same
  // Call-ID and a CSeq at least as high (then the whole update fails).
  if (u.remove_all) {
    if (ait == by_aor_.end()) return std::size_t{0};
    const std::vector<std::uint64_t> ids = ait->second;
    for (auto id : ids) {
      const Binding& b = *bindings_.at(id);
      if (b.call_id == u.call_id && u.cseq <= b.cseq) {
        return Unexpected(UpdateError{500, "Server Internal Error - CSeq Out Of Order"});
      }
    }
    for (auto id : ids) erase(id);
    SIPWS_COUNTER("registrar_bindings_removed").inc(ids.size());
    return ids.size();
  }

  // Step 7, first pass: check every contact so that a failure changes nothing.
  std::vector<Binding*> matches;
  matches.reserve(u.contacts.size());
  std::size_t count = ait == by_aor_.end() ? 0 : ait->second.size();
  for (const auto& c : u.contacts) {
    Binding* m = find_match(aor, c);
    if (m != nullptr && m->call_id == u.call_id && u.cseq <= m->cseq) {
      return Unexpected(UpdateError{500, "Server Internal Error - CSeq Out Of Order"});
    }
    if (m != nullptr && std::find(matches.begin(), matches.end(), m) != matches.end()) {
      m = nullptr;  // two contacts of one request naming the same binding: treat as new
    }
    if (m == nullptr && c.expires > 0) ++count;
    if (m != nullptr && c.expires == 0) --count;
    matches.push_back(m);
  }
  if (count > max_per_aor) {
    return Unexpected(UpdateError{403, "Forbidden - Too Many Contacts"});
  }

  // Second pass: commit.
  Counter& added = SIPWS_COUNTER("registrar_bindings_added");
  Counter& removed = SIPWS_COUNTER("registrar_bindings_removed");
  const TimePoint now = timers_.now();
  const std::int64_t unix_now = timers_.unix_time();
  std::size_t changed = 0;
  for (std::size_t i = 0; i < u.contacts.size(); ++i) {
    const ContactUpdate& c = u.contacts[i];
    Binding* m = matches[i];
    if (c.expires == 0) {
      if (m != nullptr) {
        erase(m->id);
        removed.inc();
        ++changed;
      }
      continue;
    }
    if (m != nullptr) {
      if (m->contact != c.contact) unpersist(*m);  // the store keys on (aor, contact)
      if (m->source.flow != kNoFlow && m->source.flow != u.source.flow) {
        auto fit = by_flow_.find(m->source.flow);
        if (fit != by_flow_.end()) {
          std::erase(fit->second, m->id);
          if (fit->second.empty()) by_flow_.erase(fit);
        }
      }
      if (m->call_id != u.call_id && !m->temp_gruu.empty()) {
        // A new Call-ID starts a new registration: earlier temp-GRUUs end (RFC 5627 s.3.2).
        by_temp_gruu_.erase(m->temp_gruu);
        m->temp_gruu.clear();
      }
    } else {
      auto nb = std::make_unique<Binding>();
      nb->id = ++next_id_;
      nb->aor = aor;
      m = &insert(std::move(nb));
      added.inc();
    }
    const bool flow_changed = m->source.flow != u.source.flow;
    m->contact = c.contact;
    m->params = c.params;
    m->instance = c.instance;
    m->reg_id = c.reg_id;
    m->q = c.q;
    m->expires_at = now + std::chrono::seconds(c.expires);
    m->unix_expires = unix_now + c.expires;
    m->call_id = u.call_id;
    m->cseq = u.cseq;
    m->path = u.path;
    m->source = u.source;
    m->direct = u.direct;
    m->outbound = c.reg_id != 0 && u.direct;  // the flow is ours only as first hop
    m->flow_dead = false;
    m->user_agent = u.user_agent;
    if (flow_changed && u.source.flow != kNoFlow) by_flow_[u.source.flow].push_back(m->id);
    if (!m->instance.empty() && m->temp_gruu.empty()) {
      m->temp_gruu = random_token(kTempGruuLength);
      by_temp_gruu_[m->temp_gruu] = m->id;
    }
    arm(*m);
    persist(*m);
    ++changed;
  }
  return changed;
}

Binding& LocationService::insert(std::unique_ptr<Binding> b) {
  Binding& ref = *b;
  by_aor_[ref.aor].push_back(ref.id);
  // "Known" only picks 480 over 404; bound it so that registrations to random AORs (auth off)
  // cannot grow it without limit.
  if (known_.size() >= kMaxKnownAors) known_.clear();
  known_.insert(ref.aor);
  if (ref.source.flow != kNoFlow) by_flow_[ref.source.flow].push_back(ref.id);
  if (!ref.temp_gruu.empty()) by_temp_gruu_[ref.temp_gruu] = ref.id;
  bindings_.emplace(ref.id, std::move(b));
  return ref;
}

void LocationService::erase(std::uint64_t id) {
  auto it = bindings_.find(id);
  if (it == bindings_.end()) return;
  Binding& b = *it->second;
  if (auto t = timer_ids_.find(id); t != timer_ids_.end()) {
    timers_.cancel(t->second);
    timer_ids_.erase(t);
  }
  if (auto a = by_aor_.find(b.aor); a != by_aor_.end()) {
    std::erase(a->second, id);
    if (a->second.empty()) by_aor_.erase(a);
  }
  if (b.source.flow != kNoFlow) {
    if (auto f = by_flow_.find(b.source.flow); f != by_flow_.end()) {
      std::erase(f->second, id);
      if (f->second.empty()) by_flow_.erase(f);
    }
  }
  if (!b.temp_gruu.empty()) by_temp_gruu_.erase(b.temp_gruu);
  unpersist(b);
  bindings_.erase(it);
}

void LocationService::arm(Binding& b) {
  if (auto t = timer_ids_.find(b.id); t != timer_ids_.end()) timers_.cancel(t->second);
  const auto now = timers_.now();
  const Millis delay =
      b.expires_at > now ? std::chrono::duration_cast<Millis>(b.expires_at - now) : Millis(0);
  const std::uint64_t id = b.id;
  timer_ids_[id] = timers_.schedule(delay, [this, id]() {
    Counter& expired = SIPWS_COUNTER("registrar_bindings_expired");
    timer_ids_.erase(id);
    expired.inc();
    erase(id);
  });
}

bool LocationService::persistable(const Binding& b) { return !is_websocket(b.source.protocol); }

void LocationService::persist(const Binding& b) {
  if (store_ == nullptr || !persistable(b)) return;
  store::BindingRecord r;
  r.aor = b.aor;
  r.contact = b.contact;
  r.instance = b.instance;
  r.reg_id = b.reg_id;
  r.path = join_path(b.path);
  r.received = b.direct ? received_string(b.source) : std::string();
  r.expires_at = b.unix_expires;
  r.q = b.q;
  r.call_id = b.call_id;
  r.cseq = b.cseq;
  r.user_agent = b.user_agent;
  store_->put_binding(std::move(r));
}

void LocationService::unpersist(const Binding& b) {
  if (store_ == nullptr || !persistable(b)) return;
  store_->delete_binding(b.aor, b.contact);
}

bool LocationService::remove(std::string_view aor, std::string_view contact) {
  auto it = by_aor_.find(normalize_aor(aor));
  if (it == by_aor_.end()) return false;
  for (auto id : it->second) {
    if (same_contact(bindings_.at(id)->contact, contact)) {
      erase(id);
      return true;
    }
  }
  return false;
}

std::size_t LocationService::remove_all(std::string_view aor) {
  auto it = by_aor_.find(normalize_aor(aor));
  if (it == by_aor_.end()) return 0;
  const std::vector<std::uint64_t> ids = it->second;
  for (auto id : ids) erase(id);
  return ids.size();
}

void LocationService::on_flow_closed(FlowId flow) {
  if (flow == kNoFlow) return;
  auto it = by_flow_.find(flow);
  if (it == by_flow_.end()) return;
  const std::vector<std::uint64_t> ids = std::move(it->second);
  by_flow_.erase(it);
  Counter& ws_removed = SIPWS_COUNTER("registrar_ws_bindings_flow_closed");
  for (auto id : ids) {
    auto bit = bindings_.find(id);
    if (bit == bindings_.end()) continue;
    Binding& b = *bit->second;
    if (is_websocket(b.source.protocol)) {
      ws_removed.inc();
      erase(id);  // by_flow_ no longer lists it: erase() finds nothing there
    } else if (b.outbound) {
      b.flow_dead = true;  // RFC 5626 s.5.3: 430 until the UA registers a new flow
      b.source.flow = kNoFlow;
    } else {
      b.source.flow = kNoFlow;  // reach it again through its contact
    }
  }
}

std::size_t LocationService::load(store::Store& db) {
  const auto records = db.load_bindings();
  const std::int64_t unix_now = timers_.unix_time();
  const TimePoint now = timers_.now();
  std::size_t n = 0;
  for (const auto& r : records) {
    if (r.expires_at <= unix_now || r.aor.empty() || r.contact.empty()) continue;
    auto b = std::make_unique<Binding>();
    if (auto src = parse_received(r.received)) {
      if (is_websocket(src->protocol)) continue;  // never valid without its flow
      b->source = *src;
      b->direct = true;
    }
    b->id = ++next_id_;
    b->aor = normalize_aor(r.aor);
    b->contact = r.contact;
    b->instance = r.instance;
    b->reg_id = r.reg_id;
    if (!b->instance.empty()) b->params = ";+sip.instance=\"" + b->instance + "\"";
    if (b->reg_id != 0) b->params += ";reg-id=" + std::to_string(b->reg_id);
    b->q = r.q;
    b->expires_at = now + std::chrono::seconds(r.expires_at - unix_now);
    b->unix_expires = r.expires_at;
    b->call_id = r.call_id;
    b->cseq = r.cseq;
    for (auto p : sip::split_list(r.path)) b->path.emplace_back(p);
    b->outbound = b->reg_id != 0 && b->direct;
    // An Outbound flow over TCP/TLS did not survive the restart (RFC 5626 s.5.3).
    b->flow_dead = b->outbound && b->direct && is_reliable(b->source.protocol);
    b->user_agent = r.user_agent;
    if (!b->instance.empty()) b->temp_gruu = random_token(kTempGruuLength);
    Binding& ref = insert(std::move(b));
    arm(ref);
    ++n;
  }
  return n;
}

}  // namespace sipws::registrar
