#include "routing/dns.hpp"

#include <ares.h>
#include <arpa/nameser.h>
#include <netinet/in.h>

#include <algorithm>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>

#include "common/counters.hpp"
#include "common/text.hpp"

namespace sipws::routing {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

struct Stats {
  Counter& queries = SIPWS_COUNTER("dns_queries");
  Counter& cache_hits = SIPWS_COUNTER("dns_cache_hits");
  Counter& failures = SIPWS_COUNTER("dns_failures");
};

/// The cache key of a DNS name: lower-cased, without trailing dots.
std::string lower(std::string_view s) {
  std::string out = text::to_lower(s);
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

std::string strip_dot(const char* s) {
  std::string out = s != nullptr ? s : "";
  while (out.size() > 1 && out.back() == '.') out.pop_back();
  return out;
}

/// Skips a (possibly compressed) domain name at `p`; returns the offset after it, or -1.
long skip_name(const unsigned char* buf, long len, long p) {
  while (p < len) {
    const unsigned char l = buf[p];
    if ((l & 0xC0) == 0xC0) return p + 2 <= len ? p + 2 : -1;
    if (l == 0) return p + 1;
    p += 1 + l;
  }
  return -1;
}

/// The smallest TTL of the answer records of `type` in a raw DNS reply (RFC 1035 s.4.1), or
/// -1 if none / malformed. c-ares 1.18 parses NAPTR and SRV without their TTL.
long min_answer_ttl(const unsigned char* buf, int alen, unsigned type) {
  const long len = alen;
  if (len < 12) return -1;
  const unsigned qd = (buf[4] << 8) | buf[5];
  const unsigned an = (buf[6] << 8) | buf[7];
  long p = 12;
  for (unsigned i = 0; i < qd; ++i) {
    p = skip_name(buf, len, p);
    if (p < 0 || p + 4 > len) return -1;
    p += 4;
  }
  long best = -1;
  for (unsigned i = 0; i < an; ++i) {
    p = skip_name(buf, len, p);
    if (p < 0 || p + 10 > len) return best;
    const unsigned t = (buf[p] << 8) | buf[p + 1];
    const unsigned long ttl = (static_cast<unsigned long>(buf[p + 4]) << 24) |
                              (static_cast<unsigned long>(buf[p + 5]) << 16) |
                              (static_cast<unsigned long>(buf[p + 6]) << 8) | buf[p + 7];
    const unsigned rdlen = (buf[p + 8] << 8) | buf[p + 9];
    p += 10 + rdlen;
    if (p > len) return best;
    if (t == type) {
      const long v = static_cast<long>(std::min<unsigned long>(ttl, 0x7fffffffUL));
      best = best < 0 ? v : std::min(best, v);
    }
  }
  return best;
}

enum class Kind : std::uint8_t { Naptr, Srv, Addr };

template <class T>
struct Entry {
  Clock::time_point expires;
  DnsAnswer<T> answer;
};

/// One cache per record type; identical lookups in flight wait on the same query.
template <class T>
struct Table {
  using Done = std::function<void(const DnsAnswer<T>&)>;
  std::unordered_map<std::string, Entry<T>> cache;
  std::unordered_map<std::string, std::vector<Done>> pending;
};

}  // namespace

struct DnsClient::Impl : std::enable_shared_from_this<DnsClient::Impl> {
  /// A c-ares socket being watched. `closed` once c-ares let go of it.
  struct Watch {
    explicit Watch(asio::io_context& io, int fd) : sd(io, fd), fd(fd) {}
    asio::posix::stream_descriptor sd;
    int fd;
    bool want_read = false, want_write = false;
    bool reading = false, writing = false;
    bool closed = false;
  };

  asio::io_context& io;
  DnsConfig cfg;
  ares_channel channel = nullptr;
  asio::steady_timer timer;
  std::map<int, std::shared_ptr<Watch>> watches;
  Table<NaptrRecord> naptrs;
  Table<SrvRecord> srvs;
  Table<IpAddress> addrs;
  std::uint64_t queries = 0, hits = 0;
  bool destroying = false;
  Stats stats;

  Impl(asio::io_context& i, DnsConfig c) : io(i), cfg(std::move(c)), timer(i) {
    if (!cfg.now) cfg.now = [] { return Clock::now(); };
  }

  void init() {
    static std::once_flag once;
    std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
    ares_options opts{};
    opts.sock_state_cb = &Impl::sock_state_cb;
    opts.sock_state_cb_data = this;
    opts.timeout = static_cast<int>(cfg.timeout.count());
    opts.tries = std::max(1, cfg.tries);
    // SIP host names are absolute (RFC 3263 s.4): no resolv.conf search list.
    opts.domains = nullptr;
    opts.ndomains = 0;
    const int mask =
        ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_DOMAINS;
    if (int rc = ares_init_options(&channel, &opts, mask); rc != ARES_SUCCESS) {
      channel = nullptr;
      throw DnsError(std::string("c-ares init failed: ") + ares_strerror(rc));
    }
    if (!cfg.servers.empty()) {
      std::string csv;
      for (const auto& s : cfg.servers) {
        if (!csv.empty()) csv += ',';
        csv += s;
      }
      if (int rc = ares_set_servers_ports_csv(channel, csv.c_str()); rc != ARES_SUCCESS) {
        throw DnsError("bad DNS servers \"" + csv + "\": " + ares_strerror(rc));
      }
    }
  }

  ~Impl() {
    destroying = true;
    if (channel != nullptr) ares_destroy(channel);  // answers in flight: ARES_EDESTRUCTION
    for (auto& [fd, w] : watches) release(*w);
    watches.clear();
  }

  // ------------------------------------------------------------ sockets and timeouts

  static void sock_state_cb(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<Impl*>(data)->on_sock_state(fd, readable != 0, writable != 0);
  }

  static void release(Watch& w) {
    if (w.closed) return;
    w.closed = true;
    boost::system::error_code ec;
    w.sd.cancel(ec);
    w.sd.release();  // c-ares owns and closes the fd
  }

  void on_sock_state(int fd, bool readable, bool writable) {
    auto it = watches.find(fd);
    if (!readable && !writable) {
      if (it != watches.end()) {
        release(*it->second);
        watches.erase(it);
      }
      return;
    }
    if (destroying) return;
    if (it == watches.end()) it = watches.emplace(fd, std::make_shared<Watch>(io, fd)).first;
    it->second->want_read = readable;
    it->second->want_write = writable;
    arm(it->second);
  }

  void arm(const std::shared_ptr<Watch>& w) {
    std::weak_ptr<Impl> self = weak_from_this();
    if (w->want_read && !w->reading) {
      w->reading = true;
      w->sd.async_wait(asio::posix::stream_descriptor::wait_read,
                       [self, w](const boost::system::error_code& ec) {
                         w->reading = false;
                         auto me = self.lock();
                         if (!me || ec || w->closed) return;
                         ares_process_fd(me->channel, w->fd, ARES_SOCKET_BAD);
                         if (!w->closed) me->arm(w);
                         me->schedule_timeout();
                       });
    }
    if (w->want_write && !w->writing) {
      w->writing = true;
      w->sd.async_wait(asio::posix::stream_descriptor::wait_write,
                       [self, w](const boost::system::error_code& ec) {
                         w->writing = false;
                         auto me = self.lock();
                         if (!me || ec || w->closed) return;
                         ares_process_fd(me->channel, ARES_SOCKET_BAD, w->fd);
                         if (!w->closed) me->arm(w);
                         me->schedule_timeout();
                       });
    }
  }

  /// Arms the timer for c-ares' next timeout (retransmission, next server, give up).
  void schedule_timeout() {
    timeval buf{};
    timeval* tv = ares_timeout(channel, nullptr, &buf);
    if (tv == nullptr) {
      timer.cancel();
      return;
    }
    const auto d = std::chrono::seconds(tv->tv_sec) + std::chrono::microseconds(tv->tv_usec);
    timer.expires_after(std::chrono::duration_cast<Clock::duration>(d));
    std::weak_ptr<Impl> self = weak_from_this();
    timer.async_wait([self](const boost::system::error_code& ec) {
      auto me = self.lock();
      if (!me || ec) return;
      ares_process_fd(me->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      me->schedule_timeout();
    });
  }

  // ------------------------------------------------------------ cache

  Clock::duration clamp(long ttl) const {
    const auto t = std::chrono::seconds(std::max(0L, ttl));
    return std::clamp<std::chrono::seconds>(t, cfg.min_ttl, std::max(cfg.min_ttl, cfg.max_ttl));
  }

  std::size_t entries() const {
    return naptrs.cache.size() + srvs.cache.size() + addrs.cache.size();
  }

  template <class T>
  static void purge(Table<T>& t, Clock::time_point now) {
    std::erase_if(t.cache, [now](const auto& kv) { return kv.second.expires <= now; });
  }

  /// Makes room for one entry: drops expired ones, then (still full) the whole table of `t`'s
  /// type, which is rare enough (10000 live names) not to deserve an LRU.
  template <class T>
  void make_room(Table<T>& t) {
    if (entries() < cfg.max_entries) return;
    const auto now = cfg.now();
    purge(naptrs, now);
    purge(srvs, now);
    purge(addrs, now);
    if (entries() >= cfg.max_entries) t.cache.clear();
  }

  template <class T>
  void deliver(std::function<void(const DnsAnswer<T>&)> done, DnsAnswer<T> a) {
    std::weak_ptr<Impl> self = weak_from_this();
    asio::post(io, [self, done = std::move(done), a = std::move(a)]() {
      if (self.expired()) return;
      done(a);
    });
  }

  /// Answers from the cache or joins a query in flight; returns true if the caller must
  /// start a query for `key`.
  template <class T>
  bool lookup(Table<T>& t, const std::string& key, std::function<void(const DnsAnswer<T>&)>& done) {
    if (auto it = t.cache.find(key); it != t.cache.end()) {
      if (it->second.expires > cfg.now()) {
        ++hits;
        stats.cache_hits.inc();
        deliver(std::move(done), it->second.answer);
        return false;
      }
      t.cache.erase(it);
    }
    auto [pit, fresh] = t.pending.try_emplace(key);
    pit->second.push_back(std::move(done));
    if (!fresh) return false;
    ++queries;
    stats.queries.inc();
    return true;
  }

  /// Stores the answer (unless it is a failure) and hands it to everyone waiting for `key`.
  template <class T>
  void complete(Table<T>& t, const std::string& key, DnsAnswer<T> a, long ttl) {
    if (destroying) return;
    if (a.status == DnsStatus::Failed) stats.failures.inc();
    if (a.status != DnsStatus::Failed) {
      make_room(t);
      const auto life = a.status == DnsStatus::Ok ? clamp(ttl) : Clock::duration(cfg.negative_ttl);
      t.cache[key] = Entry<T>{cfg.now() + life, a};
    }
    auto it = t.pending.find(key);
    if (it == t.pending.end()) return;
    auto waiting = std::move(it->second);
    t.pending.erase(it);
    for (auto& d : waiting) deliver(std::move(d), a);
  }

  static DnsStatus status_of(int rc) {
    switch (rc) {
      case ARES_SUCCESS:
        return DnsStatus::Ok;
      case ARES_ENOTFOUND:
      case ARES_ENODATA:
        return DnsStatus::NotFound;
      default:
        return DnsStatus::Failed;
    }
  }

  // ------------------------------------------------------------ queries

  /// State of one ares_query / ares_getaddrinfo call; c-ares hands it back in the callback.
  struct Query {
    std::weak_ptr<Impl> impl;
    std::string key;
  };

  void query(const std::string& key, int type, ares_callback cb) {
    auto* q = new Query{weak_from_this(), key};  // owned by c-ares until the callback
    ares_query(channel, key.c_str(), ns_c_in, type, cb, q);
    schedule_timeout();
  }

  static void naptr_cb(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    std::unique_ptr<Query> q(static_cast<Query*>(arg));
    auto me = q->impl.lock();
    if (!me || status == ARES_EDESTRUCTION) return;
    DnsAnswer<NaptrRecord> a;
    a.status = status_of(status);
    if (a.status == DnsStatus::Ok) {
      ares_naptr_reply* r = nullptr;
      const int rc = ares_parse_naptr_reply(abuf, alen, &r);
      a.status = status_of(rc);
      for (auto* n = r; n != nullptr; n = n->next) {
        NaptrRecord rec;
        rec.order = n->order;
        rec.preference = n->preference;
        rec.flags = reinterpret_cast<const char*>(n->flags);
        rec.service = reinterpret_cast<const char*>(n->service);
        rec.regexp = reinterpret_cast<const char*>(n->regexp);
        rec.replacement = strip_dot(n->replacement);
        a.records.push_back(std::move(rec));
      }
      if (r != nullptr) ares_free_data(r);
      if (a.status == DnsStatus::Ok && a.records.empty()) a.status = DnsStatus::NotFound;
    }
    me->complete(me->naptrs, q->key, std::move(a), min_answer_ttl(abuf, alen, ns_t_naptr));
  }

  static void srv_cb(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    std::unique_ptr<Query> q(static_cast<Query*>(arg));
    auto me = q->impl.lock();
    if (!me || status == ARES_EDESTRUCTION) return;
    DnsAnswer<SrvRecord> a;
    a.status = status_of(status);
    if (a.status == DnsStatus::Ok) {
      ares_srv_reply* r = nullptr;
      const int rc = ares_parse_srv_reply(abuf, alen, &r);
      a.status = status_of(rc);
      for (auto* s = r; s != nullptr; s = s->next) {
        a.records.push_back(SrvRecord{s->priority, s->weight, s->port, strip_dot(s->host)});
      }
      if (r != nullptr) ares_free_data(r);
      if (a.status == DnsStatus::Ok && a.records.empty()) a.status = DnsStatus::NotFound;
    }
    me->complete(me->srvs, q->key, std::move(a), min_answer_ttl(abuf, alen, ns_t_srv));
  }

  static void addr_cb(void* arg, int status, int /*timeouts*/, ares_addrinfo* res) {
    std::unique_ptr<Query> q(static_cast<Query*>(arg));
    auto me = q->impl.lock();
    if (!me || status == ARES_EDESTRUCTION) {
      if (res != nullptr) ares_freeaddrinfo(res);
      return;
    }
    DnsAnswer<IpAddress> a;
    a.status = status_of(status);
    long ttl = -1;
    if (a.status == DnsStatus::Ok && res != nullptr) {
      for (auto* n = res->nodes; n != nullptr; n = n->ai_next) {
        IpAddress addr;
        if (n->ai_family == AF_INET) {
          const auto* sin = reinterpret_cast<const sockaddr_in*>(n->ai_addr);
          asio::ip::address_v4::bytes_type b;
          std::memcpy(b.data(), &sin->sin_addr, b.size());
          addr = asio::ip::address_v4(b);
        } else if (n->ai_family == AF_INET6) {
          const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(n->ai_addr);
          asio::ip::address_v6::bytes_type b;
          std::memcpy(b.data(), &sin6->sin6_addr, b.size());
          addr = asio::ip::address_v6(b);
        } else {
          continue;
        }
        if (std::find(a.records.begin(), a.records.end(), addr) != a.records.end()) continue;
        a.records.push_back(addr);
        ttl = ttl < 0 ? n->ai_ttl : std::min<long>(ttl, n->ai_ttl);
      }
      if (a.records.empty()) a.status = DnsStatus::NotFound;
    }
    if (res != nullptr) ares_freeaddrinfo(res);
    me->complete(me->addrs, q->key, std::move(a), ttl);
  }

  void addresses(const std::string& key) {
    auto* q = new Query{weak_from_this(), key};
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;  // one node per address, not one per socket type
    ares_getaddrinfo(channel, key.c_str(), nullptr, &hints, &Impl::addr_cb, q);
    schedule_timeout();
  }
};

DnsClient::DnsClient(asio::io_context& io, DnsConfig cfg)
    : impl_(std::make_shared<Impl>(io, std::move(cfg))) {
  impl_->init();
}

DnsClient::~DnsClient() = default;

void DnsClient::naptr(const std::string& name,
                      std::function<void(const DnsAnswer<NaptrRecord>&)> done) {
  const std::string key = lower(name);
  if (impl_->lookup(impl_->naptrs, key, done)) impl_->query(key, ns_t_naptr, &Impl::naptr_cb);
}

void DnsClient::srv(const std::string& name,
                    std::function<void(const DnsAnswer<SrvRecord>&)> done) {
  const std::string key = lower(name);
  if (impl_->lookup(impl_->srvs, key, done)) impl_->query(key, ns_t_srv, &Impl::srv_cb);
}

void DnsClient::addresses(const std::string& host,
                          std::function<void(const DnsAnswer<IpAddress>&)> done) {
  const std::string key = lower(host);
  if (impl_->lookup(impl_->addrs, key, done)) impl_->addresses(key);
}

void DnsClient::post(std::function<void()> fn) {
  std::weak_ptr<Impl> self = impl_;
  asio::post(impl_->io, [self, fn = std::move(fn)]() {
    if (!self.expired()) fn();
  });
}

std::uint64_t DnsClient::queries_sent() const { return impl_->queries; }
std::uint64_t DnsClient::cache_hits() const { return impl_->hits; }

void DnsClient::clear_cache() {
  impl_->naptrs.cache.clear();
  impl_->srvs.cache.clear();
  impl_->addrs.cache.clear();
}

}  // namespace sipws::routing
