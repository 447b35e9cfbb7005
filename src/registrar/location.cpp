#include "registrar/location.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "common/log.hpp"
#include "common/net.hpp"
#include "common/string_hash.hpp"
#include "proxy/routing.hpp"
#include "sip/headers.hpp"
#include "sip/text.hpp"

namespace sipws::registrar {
namespace {

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
/// Expired bindings removed per lock of a partition by one sweep step.
constexpr std::size_t kMaxSweepBatch = 256;

static_assert(LocationService::kPartitions <= 100, "the temp-GRUU prefix has two digits");

/// An AOR with its domain lower-cased, copied only when the domain has capitals (rare).
class AorKey {
 public:
  explicit AorKey(std::string_view aor) : view_(aor) {
    const auto at = aor.rfind('@');
    const std::string_view domain = aor.substr(at == std::string_view::npos ? 0 : at + 1);
    if (std::any_of(domain.begin(), domain.end(),
                    [](char c) { return sip::text::lower(c) != c; })) {
      copy_ = LocationService::normalize_aor(aor);
      view_ = copy_;
    }
  }
  AorKey(const AorKey&) = delete;
  AorKey& operator=(const AorKey&) = delete;
  std::string_view view() const { return view_; }

 private:
  std::string copy_;
  std::string_view view_;
};

/// A temp-GRUU token (RFC 5627 s.3.2) naming partition `index`: two decimal digits, then
/// random characters from `tokens`.
std::string make_temp_gruu(std::size_t index, TokenSource& tokens) {
  std::string t;
  t.reserve(2 + kTempGruuLength);
  t += static_cast<char>('0' + index / 10);
  t += static_cast<char>('0' + index % 10);
  tokens.append(t, kTempGruuLength);
  return t;
}

/// The partition a make_temp_gruu() token names; nullopt for any other text.
std::optional<std::size_t> temp_gruu_partition(std::string_view token) {
  if (token.size() < 2 || token[0] < '0' || token[0] > '9' || token[1] < '0' || token[1] > '9') {
    return std::nullopt;
  }
  const std::size_t index =
      static_cast<std::size_t>(token[0] - '0') * 10 + static_cast<std::size_t>(token[1] - '0');
  if (index >= LocationService::kPartitions) return std::nullopt;
  return index;
}

/// Lookup order: highest q first, then most recently registered (highest id) first.
void sort_lookup_order(std::vector<Binding*>& v) {
  std::sort(v.begin(), v.end(), [](const Binding* a, const Binding* b) {
    if (a->q != b->q) return a->q > b->q;
    return a->id > b->id;
  });
}

/// The binding of `bindings` a REGISTER contact refers to, nullptr if none.
Binding* find_match(const std::vector<Binding*>& bindings, const ContactUpdate& c) {
  // Instance ids (RFC 5626 s.6 / RFC 5627 s.6) first: one binding per instance + reg-id.
  if (!c.instance.empty()) {
    for (Binding* b : bindings) {
      if (b->instance == c.instance && b->reg_id == c.reg_id) return b;
    }
  }
  for (Binding* b : bindings) {
    if (!c.instance.empty() && !b->instance.empty()) continue;
    if (same_contact(b->contact, c.contact)) return b;
  }
  return nullptr;
}

/// `host` (brackets allowed) as an address, nullopt for a name.
std::optional<IpAddress> host_address(std::string_view host) {
  return parse_ip(proxy::unbracket(host));
}

std::uint16_t default_port(bool secure) { return secure ? 5061 : 5060; }

}  // namespace

bool contact_names_source(const sip::Uri& uri, const Source& src) {
  const auto host = host_address(uri.host);
  const bool secure = uri.scheme == sip::Scheme::Sips || src.protocol == Protocol::Tls;
  const std::uint16_t port = uri.port != 0 ? uri.port : default_port(secure);
  return host && unmapped(*host) == unmapped(src.peer.address) && port == src.peer.port;
}

bool behind_nat(const sip::Via& via, const sip::Uri& contact, const Source& src) {
  const auto sent_by = host_address(via.host);
  const std::uint16_t via_port =
      via.port != 0 ? via.port : default_port(src.protocol == Protocol::Tls);
  if (!sent_by || unmapped(*sent_by) != unmapped(src.peer.address) || via_port != src.peer.port) {
    return true;
  }
  const auto host = host_address(contact.host);
  return host && is_private(*host) && unmapped(*host) != unmapped(src.peer.address);
}

bool is_third_party(const sip::Via& via, const sip::Uri& contact, const Source& src) {
  if (is_websocket(src.protocol)) return false;
  return !behind_nat(via, contact, src) && !contact_names_source(contact, src);
}

std::uint32_t Binding::expires_in(TimePoint now) const {
  if (expires_at <= now) return 0;
  const auto left = std::chrono::duration_cast<Millis>(expires_at - now).count();
  return static_cast<std::uint32_t>((left + 999) / 1000);
}

// Rows written before the listener was kept have no '/': those bindings leave from the
// listener that listen_point_for() picks.
std::string received_string(const Source& s) {
  std::string out(lower_name(s.protocol));
  out += ':';
  out += s.peer.to_string();
  if (s.protocol == Protocol::Udp && s.local.port != 0) {
    out += '/';
    out += s.local.to_string();
  }
  return out;
}

namespace {

/// "host:port" (IPv6 host in brackets) with an IP-literal host and a port above 0.
std::optional<Endpoint> parse_endpoint(std::string_view hostport) {
  const auto pc = hostport.rfind(':');
  if (pc == std::string_view::npos || pc == 0) return std::nullopt;
  const std::string_view port_text = hostport.substr(pc + 1);
  std::uint16_t port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port == 0) {
    return std::nullopt;
  }
  const auto addr = parse_ip(proxy::unbracket(hostport.substr(0, pc)));
  if (!addr) return std::nullopt;
  return Endpoint{*addr, port};
}

}  // namespace

std::optional<Source> parse_received(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto proto = protocol_from_string(text.substr(0, colon));
  if (!proto) return std::nullopt;
  std::string_view rest = text.substr(colon + 1);
  std::optional<std::string_view> local_text;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    local_text = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  const auto peer = parse_endpoint(rest);
  if (!peer) return std::nullopt;
  Source s;
  s.protocol = *proto;
  s.peer = *peer;
  if (local_text) {
    const auto local = parse_endpoint(*local_text);
    if (!local) return std::nullopt;
    s.local = *local;
  }
  return s;
}

// ---- Partitions ----

/// Store writes decided under a partition lock, queued by commit() once it is released.
/// Records only what the store keeps: nothing without a store, nothing for WS/WSS bindings
/// (but in cluster mode, where each write also names the node and its Route).
class LocationService::StoreOps {
 public:
  explicit StoreOps(const LocationService& ls) : ls_(ls), enabled_(ls.store_ != nullptr) {}

  void put(const Binding& b) {
    if (!wanted(b)) return;
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
    if (ls_.cluster_) {
      r.node = ls_.node_;
      r.route = ls_.route_of_ ? ls_.route_of_(b) : std::string();
    }
    ops_.push_back(Op{std::move(r), false});
  }
  /// The store keys bindings on (aor, contact).
  void remove(const Binding& b) {
    if (!wanted(b)) return;
    store::BindingRecord r;
    r.aor = b.aor;
    r.contact = b.contact;
    ops_.push_back(Op{std::move(r), true});
  }
  bool empty() const { return ops_.empty(); }
  /// Queues every write on `store`, in order; `durable` (may be empty) is answered once they
  /// all committed (AsyncStore::write_bindings).
  void run(store::AsyncStore& store, store::AsyncStore::Durable durable) {
    store.write_bindings(std::move(ops_), std::move(durable));
    ops_.clear();
  }

 private:
  using Op = store::AsyncStore::BindingWrite;
  /// WS/WSS bindings die with their flow: not persisted (but in cluster mode).
  bool wanted(const Binding& b) const { return enabled_ && ls_.persisted(b.source.protocol); }

  const LocationService& ls_;
  bool enabled_;
  std::vector<Op> ops_;
};

/// One slice of the AORs. Every member but `index` is guarded by `mu`; `store_mu` orders the
/// partition's store writes (see commit()). Cache-line aligned so that two partitions' locks
/// never share a line.
struct alignas(64) LocationService::Partition {
  std::size_t index = 0;
  std::mutex mu;
  std::mutex store_mu;
  /// Node-based: pointers to a Binding stay valid until it is erased.
  std::unordered_map<std::uint64_t, Binding> bindings;
  /// Bindings of each AOR in lookup order (q descending, then id descending).
  std::unordered_map<std::string, std::vector<Binding*>, StringHash, std::equal_to<>> by_aor;
  std::unordered_map<FlowId, std::vector<Binding*>> by_flow;
  std::unordered_map<std::string, Binding*, StringHash, std::equal_to<>> by_temp_gruu;
  std::unordered_set<std::string, StringHash, std::equal_to<>> known;
  /// (expires_at, id) of every binding: the sweep's work list.
  std::set<std::pair<TimePoint, std::uint64_t>> by_expiry;
};

LocationService::LocationService(TimerService& timers, store::AsyncStore* store, Millis sweep_every,
                                 Instruments inst)
    : timers_(timers),
      store_(store),
      sweep_every_(std::max(sweep_every, Millis(1))),
      tokens_(inst.tokens),
      added_(inst.counters.get("registrar_bindings_added")),
      removed_(inst.counters.get("registrar_bindings_removed")),
      expired_(inst.counters.get("registrar_bindings_expired")),
      ws_removed_(inst.counters.get("registrar_ws_bindings_flow_closed")),
      partitions_(std::make_unique<Partition[]>(kPartitions)) {
  for (std::size_t i = 0; i < kPartitions; ++i) partitions_[i].index = i;
  sweep_timer_ = timers_.schedule(sweep_every_, [this] { sweep(); });
}

LocationService::~LocationService() { timers_.cancel(sweep_timer_); }

std::string LocationService::normalize_aor(std::string_view aor) {
  std::string out(aor);
  const auto at = out.rfind('@');
  for (std::size_t i = (at == std::string::npos ? 0 : at + 1); i < out.size(); ++i) {
    out[i] = sip::text::lower(out[i]);
  }
  return out;
}

LocationService::Partition& LocationService::partition(std::string_view normalized_aor) const {
  return partitions_[std::hash<std::string_view>{}(normalized_aor) % kPartitions];
}

void LocationService::visit_impl(std::string_view aor, VisitFn fn) const {
  const AorKey key(aor);
  Partition& p = partition(key.view());
  const TimePoint now = timers_.now();
  std::lock_guard lock(p.mu);
  auto it = p.by_aor.find(key.view());
  if (it == p.by_aor.end()) return;
  for (const Binding* b : it->second) {
    if (b->expires_at > now) fn.call(fn.fn, *b);
  }
}

void LocationService::visit_all_impl(VisitFn fn) const {
  const TimePoint now = timers_.now();
  for (std::size_t i = 0; i < kPartitions; ++i) {
    Partition& p = partitions_[i];
    std::lock_guard lock(p.mu);
    for (const auto& [id, b] : p.bindings) {
      if (b.expires_at > now) fn.call(fn.fn, b);
    }
  }
}

bool LocationService::set_unreachable(std::string_view aor, std::uint64_t id, bool unreachable) {
  const AorKey key(aor);
  Partition& p = partition(key.view());
  std::lock_guard lock(p.mu);
  auto it = p.bindings.find(id);
  if (it == p.bindings.end() || it->second.expires_at <= timers_.now()) return false;
  it->second.unreachable = unreachable;
  return true;
}

std::vector<Binding> LocationService::lookup(std::string_view aor) const {
  std::vector<Binding> out;
  visit(aor, [&out](const Binding& b) { out.push_back(b); });
  return out;
}

bool LocationService::has_bindings(std::string_view aor) const {
  bool any = false;
  visit(aor, [&any](const Binding&) { any = true; });
  return any;
}

std::optional<Binding> LocationService::find_instance(std::string_view aor,
                                                      std::string_view instance) const {
  std::optional<Binding> out;  // the first in lookup order: the most recent of that instance
  visit(aor, [&](const Binding& b) {
    if (!out && b.instance == instance) out = b;
  });
  return out;
}

std::optional<Binding> LocationService::find_temp_gruu(std::string_view token) const {
  const auto index = temp_gruu_partition(token);
  if (!index) return std::nullopt;
  Partition& p = partitions_[*index];
  const TimePoint now = timers_.now();
  std::lock_guard lock(p.mu);
  auto it = p.by_temp_gruu.find(token);
  if (it == p.by_temp_gruu.end() || it->second->expires_at <= now) return std::nullopt;
  return *it->second;
}

bool LocationService::known(std::string_view aor) const {
  const AorKey key(aor);
  Partition& p = partition(key.view());
  std::lock_guard lock(p.mu);
  return p.known.contains(key.view());
}

Expected<std::size_t, UpdateError> LocationService::update(const RegisterUpdate& u,
                                                           std::size_t max_per_aor,
                                                           store::AsyncStore::Durable* on_durable) {
  const std::string aor = normalize_aor(u.aor);
  Partition& p = partition(aor);
  StoreOps ops(*this);
  const TimePoint now = timers_.now();
  std::unique_lock lock(p.mu);
  auto result = update_locked(p, aor, u, max_per_aor, now, ops);
  store::AsyncStore::Durable durable;
  if (on_durable != nullptr && *on_durable && result && !ops.empty()) {
    durable = std::exchange(*on_durable, nullptr);
  }
  commit(p, lock, ops, std::move(durable));
  return result;
}

Expected<std::size_t, UpdateError> LocationService::update_locked(Partition& p,
                                                                  const std::string& aor,
                                                                  const RegisterUpdate& u,
                                                                  std::size_t max_per_aor,
                                                                  TimePoint now, StoreOps& ops) {
  // The per-binding timers of old removed a binding at its expiry: so does this.
  purge_expired(p, aor, now, ops);
  auto ait = p.by_aor.find(aor);

  // RFC 3261 s.10.3 step 6: Contact: * removes every binding, unless a binding has the same
  // Call-ID and a CSeq at least as high (then the whole update fails).
  if (u.remove_all) {
    if (ait == p.by_aor.end()) return std::size_t{0};
    const std::vector<Binding*> all = ait->second;
    for (const Binding* b : all) {
      if (b->call_id == u.call_id && u.cseq <= b->cseq) {
        return Unexpected(UpdateError{500, "Server Internal Error - CSeq Out Of Order"});
      }
    }
    for (Binding* b : all) erase(p, *b, ops);
    removed_.inc(all.size());
    return all.size();
  }

  // Step 7, first pass: check every contact so that a failure changes nothing.
  static const std::vector<Binding*> kNone;
  const std::vector<Binding*>& current = ait == p.by_aor.end() ? kNone : ait->second;
  std::vector<Binding*> matches;
  matches.reserve(u.contacts.size());
  std::size_t count = current.size();
  for (const auto& c : u.contacts) {
    Binding* m = find_match(current, c);
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
  const std::int64_t unix_now = timers_.unix_time();
  std::size_t changed = 0;
  for (std::size_t i = 0; i < u.contacts.size(); ++i) {
    const ContactUpdate& c = u.contacts[i];
    Binding* m = matches[i];
    if (c.expires == 0) {
      if (m != nullptr) {
        erase(p, *m, ops);
        removed_.inc();
        ++changed;
      }
      continue;
    }
    if (m != nullptr) {
      if (m->contact != c.contact) ops.remove(*m);  // the store keys on (aor, contact)
      if (m->source.flow != kNoFlow && m->source.flow != u.source.flow) {
        auto fit = p.by_flow.find(m->source.flow);
        if (fit != p.by_flow.end()) {
          std::erase(fit->second, m);
          if (fit->second.empty()) p.by_flow.erase(fit);
        }
      }
      if (m->call_id != u.call_id && !m->temp_gruu.empty()) {
        // A new Call-ID starts a new registration: earlier temp-GRUUs end (RFC 5627 s.3.2).
        p.by_temp_gruu.erase(m->temp_gruu);
        m->temp_gruu.clear();
      }
    } else {
      Binding nb;
      nb.id = next_id_.fetch_add(1, std::memory_order_relaxed) + 1;
      nb.aor = aor;
      m = &insert(p, std::move(nb));
      added_.inc();
    }
    const bool flow_changed = m->source.flow != u.source.flow;
    m->contact = c.contact;
    m->params = c.params;
    m->instance = c.instance;
    m->reg_id = c.reg_id;
    m->q = c.q;
    set_expiry(p, *m, now + std::chrono::seconds(c.expires));
    m->unix_expires = unix_now + c.expires;
    m->call_id = u.call_id;
    m->cseq = u.cseq;
    m->path = u.path;
    m->source = u.source;
    m->direct = u.direct && !c.third_party;
    m->outbound = c.reg_id != 0 && m->direct;  // the flow is ours only as first hop
    m->flow_dead = false;
    m->unreachable = false;  // it just reached us
    m->user_agent = u.user_agent;
    if (flow_changed && u.source.flow != kNoFlow) p.by_flow[u.source.flow].push_back(m);
    if (!m->instance.empty() && m->temp_gruu.empty()) {
      m->temp_gruu = make_temp_gruu(p.index, tokens_);
      p.by_temp_gruu[m->temp_gruu] = m;
    }
    ops.put(*m);
    ++changed;
  }
  if (auto it = p.by_aor.find(aor); it != p.by_aor.end()) sort_lookup_order(it->second);
  return changed;
}

Binding& LocationService::insert(Partition& p, Binding b) {
  const std::uint64_t id = b.id;
  Binding& ref = p.bindings.emplace(id, std::move(b)).first->second;
  p.by_aor[ref.aor].push_back(&ref);  // callers restore the lookup order
  // "Known" only picks 480 over 404; bound it so that registrations to random AORs (auth off)
  // cannot grow it without limit.
  if (p.known.size() >= kMaxKnownAors / kPartitions) p.known.clear();
  p.known.insert(ref.aor);
  if (ref.source.flow != kNoFlow) p.by_flow[ref.source.flow].push_back(&ref);
  if (!ref.temp_gruu.empty()) p.by_temp_gruu[ref.temp_gruu] = &ref;
  p.by_expiry.emplace(ref.expires_at, id);
  size_.fetch_add(1, std::memory_order_relaxed);
  return ref;
}

void LocationService::set_expiry(Partition& p, Binding& b, TimePoint at) {
  if (b.expires_at == at) return;
  p.by_expiry.erase({b.expires_at, b.id});
  b.expires_at = at;
  p.by_expiry.emplace(at, b.id);
}

void LocationService::erase(Partition& p, Binding& b, StoreOps& ops) {
  Binding* ptr = &b;
  if (auto a = p.by_aor.find(b.aor); a != p.by_aor.end()) {
    std::erase(a->second, ptr);
    if (a->second.empty()) p.by_aor.erase(a);
  }
  if (b.source.flow != kNoFlow) {
    if (auto f = p.by_flow.find(b.source.flow); f != p.by_flow.end()) {
      std::erase(f->second, ptr);
      if (f->second.empty()) p.by_flow.erase(f);
    }
  }
  if (!b.temp_gruu.empty()) p.by_temp_gruu.erase(b.temp_gruu);
  p.by_expiry.erase({b.expires_at, b.id});
  ops.remove(b);
  p.bindings.erase(b.id);  // last: destroys b
  size_.fetch_sub(1, std::memory_order_relaxed);
}

void LocationService::purge_expired(Partition& p, std::string_view aor, TimePoint now,
                                    StoreOps& ops) {
  auto it = p.by_aor.find(aor);
  if (it == p.by_aor.end()) return;
  std::vector<Binding*> expired;
  for (Binding* b : it->second) {
    if (b->expires_at <= now) expired.push_back(b);
  }
  if (expired.empty()) return;
  for (Binding* b : expired) erase(p, *b, ops);  // may erase it->second
  expired_.inc(expired.size());
}

void LocationService::commit(Partition& p, std::unique_lock<std::mutex>& lock, StoreOps& ops,
                             store::AsyncStore::Durable durable) {
  if (ops.empty()) {
    lock.unlock();
    return;
  }
  // Hand over hand: the next writer of this partition can only reach its own commit() after
  // this one holds store_mu, and then waits for it, so the store sees the partition's writes
  // in order; lookups on the partition no longer wait for the store's queue.
  std::lock_guard order(p.store_mu);
  lock.unlock();
  ops.run(*store_, std::move(durable));
}

void LocationService::sweep() {
  for (std::size_t i = 0; i < kPartitions; ++i) {
    Partition& p = partitions_[i];
    bool more = true;
    while (more) {
      StoreOps ops(*this);
      const TimePoint now = timers_.now();
      std::unique_lock lock(p.mu);
      std::size_t n = 0;
      while (!p.by_expiry.empty() && p.by_expiry.begin()->first <= now && n < kMaxSweepBatch) {
        erase(p, p.bindings.at(p.by_expiry.begin()->second), ops);
        ++n;
      }
      more = n == kMaxSweepBatch;  // let other threads in between batches
      commit(p, lock, ops);
      expired_.inc(n);
    }
  }
  sweep_timer_ = timers_.schedule(sweep_every_, [this] { sweep(); });
}

bool LocationService::remove(std::string_view aor, std::string_view contact) {
  const std::string key = normalize_aor(aor);
  Partition& p = partition(key);
  StoreOps ops(*this);
  const TimePoint now = timers_.now();
  std::unique_lock lock(p.mu);
  purge_expired(p, key, now, ops);
  bool found = false;
  if (auto it = p.by_aor.find(key); it != p.by_aor.end()) {
    for (Binding* b : it->second) {
      if (same_contact(b->contact, contact)) {
        erase(p, *b, ops);
        removed_.inc();
        found = true;
        break;
      }
    }
  }
  commit(p, lock, ops);
  return found;
}

std::size_t LocationService::remove_all(std::string_view aor) {
  const std::string key = normalize_aor(aor);
  Partition& p = partition(key);
  StoreOps ops(*this);
  const TimePoint now = timers_.now();
  std::unique_lock lock(p.mu);
  purge_expired(p, key, now, ops);
  std::size_t n = 0;
  if (auto it = p.by_aor.find(key); it != p.by_aor.end()) {
    const std::vector<Binding*> all = it->second;
    for (Binding* b : all) erase(p, *b, ops);
    n = all.size();
  }
  commit(p, lock, ops);
  return n;
}

void LocationService::on_flow_closed(FlowId flow) {
  if (flow == kNoFlow) return;
  for (std::size_t i = 0; i < kPartitions; ++i) {
    Partition& p = partitions_[i];
    StoreOps ops(*this);
    const TimePoint now = timers_.now();
    std::unique_lock lock(p.mu);
    auto it = p.by_flow.find(flow);
    if (it == p.by_flow.end()) continue;
    const std::vector<Binding*> bound = std::move(it->second);
    p.by_flow.erase(it);
    for (Binding* b : bound) {
      if (b->expires_at <= now) {
        expired_.inc();
        erase(p, *b, ops);  // as if swept before the flow closed
      } else if (is_websocket(b->source.protocol)) {
        ws_removed_.inc();
        erase(p, *b, ops);  // by_flow no longer lists it: erase() finds nothing there
      } else if (b->outbound) {
        b->flow_dead = true;  // RFC 5626 s.5.3: 430 until the UA registers a new flow
        b->source.flow = kNoFlow;
      } else {
        b->source.flow = kNoFlow;  // reach it again through its contact
      }
    }
    commit(p, lock, ops);
  }
}

void LocationService::set_cluster(std::string node,
                                  std::function<std::string(const Binding&)> route_of) {
  cluster_ = true;
  node_ = std::move(node);
  route_of_ = std::move(route_of);
}

std::size_t LocationService::load(store::Store& db) {
  if (cluster_) {
    // This node's WebSocket flows died with its last run: the other nodes must not route to
    // them.
    if (const std::size_t stale = db.delete_node_bindings(node_, true); stale > 0) {
      log::registrar().info("cluster: {} stale WebSocket bindings of node {} deleted", stale,
                            node_);
    }
  }
  const auto records = db.load_bindings();
  const std::int64_t unix_now = timers_.unix_time();
  const TimePoint now = timers_.now();
  std::size_t n = 0;
  for (const auto& r : records) {
    if (r.expires_at <= unix_now || r.aor.empty() || r.contact.empty()) continue;
    // In a cluster, the other nodes' bindings stay theirs (found in the store per request).
    if (cluster_ && !r.node.empty() && r.node != node_) continue;
    Binding b;
    if (auto src = parse_received(r.received)) {
      if (is_websocket(src->protocol)) continue;  // never valid without its flow
      b.source = *src;
      b.direct = true;
    }
    b.id = next_id_.fetch_add(1, std::memory_order_relaxed) + 1;
    b.aor = normalize_aor(r.aor);
    b.contact = r.contact;
    b.instance = r.instance;
    b.reg_id = r.reg_id;
    if (!b.instance.empty()) b.params = ";+sip.instance=\"" + b.instance + "\"";
    if (b.reg_id != 0) b.params += ";reg-id=" + std::to_string(b.reg_id);
    b.q = r.q;
    b.expires_at = now + std::chrono::seconds(r.expires_at - unix_now);
    b.unix_expires = r.expires_at;
    b.call_id = r.call_id;
    b.cseq = r.cseq;
    for (auto p : sip::split_list(r.path)) b.path.emplace_back(p);
    b.outbound = b.reg_id != 0 && b.direct;
    // An Outbound flow over TCP/TLS did not survive the restart (RFC 5626 s.5.3).
    b.flow_dead = b.outbound && b.direct && is_reliable(b.source.protocol);
    b.user_agent = r.user_agent;
    Partition& p = partition(b.aor);
    if (!b.instance.empty()) b.temp_gruu = make_temp_gruu(p.index, tokens_);
    std::lock_guard lock(p.mu);  // uncontended: no traffic yet
    Binding& ref = insert(p, std::move(b));
    sort_lookup_order(p.by_aor[ref.aor]);
    ++n;
  }
  return n;
}

}  // namespace sipws::registrar
