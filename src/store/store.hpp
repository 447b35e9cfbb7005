#pragma once
// Persistence via SOCI: subscribers (digest credentials) and location bindings. SQLite is the
// embedded default; the URI scheme picks the backend. The daemon keeps hot data in memory and
// uses AsyncStore so that no I/O thread ever waits on the database.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sipws::store {

/// Thrown by Store::open and the synchronous API on database errors (start-up, CLI).
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A subscriber: credentials are stored as HA1 only (RFC 7616 s.3.4.2), never the password.
struct Subscriber {
  std::string user;
  std::string domain;      ///< also the digest realm
  std::string ha1_md5;     ///< hex MD5(user:realm:password)
  std::string ha1_sha256;  ///< hex SHA-256(user:realm:password)
};

/// One persisted registration binding (RFC 3261 s.10.3; RFC 5626 instance/reg-id; RFC 3327
/// Path). Only bindings reachable after a restart are persisted (not WS/WSS ones).
struct BindingRecord {
  std::string aor;              ///< "user@domain"
  std::string contact;          ///< the Contact URI as registered
  std::string instance;         ///< +sip.instance value, "" if none
  std::uint32_t reg_id = 0;     ///< 0 if none
  std::string path;             ///< Path header values joined with ", ", "" if none
  std::string received;         ///< source flow as "proto:ip:port" (e.g. "udp:127.0.0.1:5062")
  std::int64_t expires_at = 0;  ///< Unix time, seconds
  float q = 1.0f;
  std::string call_id;
  std::uint32_t cseq = 0;
  std::string user_agent;
};

/// Synchronous store. Thread: any, one call at a time (callers serialize; AsyncStore does).
class Store {
 public:
  virtual ~Store() = default;
  /// Opens (creating tables if needed): "sqlite:PATH" (parent directories created).
  /// @throws StoreError naming the URI and the cause (bad scheme, cannot open, schema error).
  static std::unique_ptr<Store> open(const std::string& uri);

  /// Adds or replaces a subscriber. @throws StoreError.
  virtual void put_subscriber(const Subscriber& s) = 0;
  /// @returns true if it existed. @throws StoreError.
  virtual bool delete_subscriber(const std::string& user, const std::string& domain) = 0;
  virtual std::optional<Subscriber> find_subscriber(const std::string& user,
                                                    const std::string& domain) = 0;
  virtual std::vector<Subscriber> list_subscribers() = 0;

  /// Inserts or replaces the binding keyed by (aor, contact). @throws StoreError.
  virtual void put_binding(const BindingRecord& b) = 0;
  virtual void delete_binding(const std::string& aor, const std::string& contact) = 0;
  virtual std::vector<BindingRecord> load_bindings() = 0;
};

/// Runs Store calls on one worker thread; results are handed to `post` (which the daemon binds
/// to the core io_context) so callbacks run on the core thread. Writes are fire-and-forget
/// (write-behind); a failed write is logged and counted ("store_write_errors").
/// Thread: call from the core thread.
class AsyncStore {
 public:
  using Post = std::function<void(std::function<void()>)>;
  AsyncStore(std::unique_ptr<Store> store, Post post);
  ~AsyncStore();  ///< drains queued writes, then joins the worker

  void find_subscriber(std::string user, std::string domain,
                       std::function<void(std::optional<Subscriber>)> done);
  void put_binding(BindingRecord b);
  void delete_binding(std::string aor, std::string contact);
  /// Synchronous access for start-up (loading bindings) before the io thread runs.
  Store& sync();
  /// Blocks until every queued operation has run (tests, shutdown).
  void flush();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sipws::store
