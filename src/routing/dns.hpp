#pragma once
// DNS for RFC 3263: NAPTR, SRV and A/AAAA lookups on c-ares, driven by the Asio io_context
// (no thread, nothing blocks), with a TTL cache and negative caching.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/net.hpp"

namespace sipws::routing {

/// A NAPTR record (RFC 3403 s.4.1).
struct NaptrRecord {
  std::uint16_t order = 0;
  std::uint16_t preference = 0;
  std::string flags;        ///< e.g. "s"
  std::string service;      ///< e.g. "SIP+D2T"
  std::string regexp;       ///< empty for SIP (RFC 3263 s.4.1)
  std::string replacement;  ///< the SRV name to look up, without trailing dot
};

/// An SRV record (RFC 2782).
struct SrvRecord {
  std::uint16_t priority = 0;
  std::uint16_t weight = 0;
  std::uint16_t port = 0;
  std::string target;  ///< host name, without trailing dot; "." or "" = service not offered
};

enum class DnsStatus {
  Ok,        ///< records found
  NotFound,  ///< NXDOMAIN or no record of that type (cached for `negative_ttl`)
  Failed,    ///< timeout, SERVFAIL, refused, no server reachable (not cached)
};

template <class T>
struct DnsAnswer {
  DnsStatus status = DnsStatus::Failed;
  std::vector<T> records;  ///< empty unless status == Ok
};

/// The lookups the RFC 3263 locator needs; c-ares in the daemon, fakes in tests.
/// Thread: io thread. Every `done` runs later on the io thread (never inside the call), once.
class DnsLookup {
 public:
  virtual ~DnsLookup() = default;
  virtual void naptr(const std::string& name,
                     std::function<void(const DnsAnswer<NaptrRecord>&)> done) = 0;
  virtual void srv(const std::string& name,
                   std::function<void(const DnsAnswer<SrvRecord>&)> done) = 0;
  /// A and AAAA of `host` (the hosts file first, as getaddrinfo would), in c-ares' order.
  virtual void addresses(const std::string& host,
                         std::function<void(const DnsAnswer<IpAddress>&)> done) = 0;
  /// Runs `fn` later on the io thread (so callers can answer asynchronously without a query).
  virtual void post(std::function<void()> fn) = 0;
};

/// Thrown by DnsClient's constructor (c-ares cannot start, bad `servers`): start-up only.
class DnsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DnsConfig {
  /// Servers as `host:port` (IPv6 `[addr]:port`); empty => /etc/resolv.conf.
  std::vector<std::string> servers;
  /// Record TTLs are clamped into [min_ttl, max_ttl] for the cache.
  std::chrono::seconds min_ttl{5};
  std::chrono::seconds max_ttl{3600};
  /// How long NXDOMAIN / no-data answers are cached.
  std::chrono::seconds negative_ttl{30};
  /// Per-try timeout and tries per server (c-ares ARES_OPT_TIMEOUTMS / ARES_OPT_TRIES).
  std::chrono::milliseconds timeout{2000};
  int tries = 2;
  /// Cache size bound (entries of all types).
  std::size_t max_entries = 10000;
  /// Clock of the cache; defaults to steady_clock (tests move time by hand).
  std::function<std::chrono::steady_clock::time_point()> now;
};

/// c-ares resolver on an io_context: its sockets are watched with posix::stream_descriptor
/// async_wait, its timeouts run on a steady_timer. Identical lookups in flight share one query;
/// answers are cached per (type, name) for the records' TTL (clamped), NXDOMAIN / no data for
/// `negative_ttl`. Thread: the io thread only (construct, call and destroy there).
class DnsClient final : public DnsLookup {
 public:
  /// @throws DnsError if c-ares cannot be initialised or a server entry is malformed.
  DnsClient(boost::asio::io_context& io, DnsConfig cfg);
  ~DnsClient() override;
  DnsClient(const DnsClient&) = delete;
  DnsClient& operator=(const DnsClient&) = delete;

  void naptr(const std::string& name,
             std::function<void(const DnsAnswer<NaptrRecord>&)> done) override;
  void srv(const std::string& name, std::function<void(const DnsAnswer<SrvRecord>&)> done) override;
  void addresses(const std::string& host,
                 std::function<void(const DnsAnswer<IpAddress>&)> done) override;
  void post(std::function<void()> fn) override;

  /// Lookups sent to c-ares (cache misses that were not joined to one in flight).
  std::uint64_t queries_sent() const;
  /// Lookups answered from the cache.
  std::uint64_t cache_hits() const;
  void clear_cache();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sipws::routing
