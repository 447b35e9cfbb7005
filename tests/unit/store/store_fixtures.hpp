#pragma once
// Shared by the store tests (and by the auth, registrar and routing tests that need a store that
// fails): a temporary directory for real SQLite files, a post queue standing in for the daemon's
// core io_context, SQL run on a live store from outside (how a test damages it), and Store
// wrappers that inject failures.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/random.hpp"
#include "store/store.hpp"

namespace sipws::store::test {

/// A fresh directory under the system temp dir, removed (even if read-only) on destruction.
class TempDir {
 public:
  TempDir() : path_(std::filesystem::temp_directory_path() / ("sipws-store-" + random_token(12))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  /// "sqlite:DIR/rel".
  std::string uri(const std::string& rel = "sipws.db") const {
    return "sqlite:" + file(rel).string();
  }
  /// DIR/rel: the file of uri(rel).
  std::filesystem::path file(const std::string& rel = "sipws.db") const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

/// Runs `sql` on the SQLite file `file` through a connection of its own, as the sqlite3 shell
/// or another process would while the daemon's store is open: how a test makes a real store
/// fail ("DROP TABLE subscriber", a trigger that aborts writes). A failure fails the test.
inline void exec_sql(const std::filesystem::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK) << file;
  // Wait for the store's own transactions (a health check holds the write lock a moment), as
  // the sipws CLI does (5 s).
  sqlite3_busy_timeout(db, 5000);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
      << sql << ": " << (err != nullptr ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

/// Callbacks land here, like on the daemon's core io_context; the test drains it.
struct TestQueue {
  std::mutex mu;
  std::deque<std::function<void()>> q;
  AsyncStore::Post post() {
    return [this](std::function<void()> fn) {
      std::lock_guard lock(mu);
      q.push_back(std::move(fn));
    };
  }
  /// Runs the queued callbacks on the calling thread. @returns how many ran.
  std::size_t drain() {
    std::size_t n = 0;
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard lock(mu);
        if (q.empty()) return n;
        fn = std::move(q.front());
        q.pop_front();
      }
      fn();
      ++n;
    }
  }
};

/// Passes every call through to a real store; the test stores below override a few.
class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(std::unique_ptr<Store> real) : real_(std::move(real)) {}
  SchemaStatus schema_status() override { return real_->schema_status(); }
  int migrate() override { return real_->migrate(); }
  void put_subscriber(const Subscriber& s) override { real_->put_subscriber(s); }
  bool delete_subscriber(const std::string& u, const std::string& d) override {
    return real_->delete_subscriber(u, d);
  }
  std::optional<Subscriber> find_subscriber(const std::string& u, const std::string& d) override {
    return real_->find_subscriber(u, d);
  }
  std::vector<Subscriber> list_subscribers() override { return real_->list_subscribers(); }
  void put_binding(const BindingRecord& b) override { real_->put_binding(b); }
  void delete_binding(const std::string& aor, const std::string& contact) override {
    real_->delete_binding(aor, contact);
  }
  std::vector<BindingRecord> load_bindings() override { return real_->load_bindings(); }
  std::vector<BindingRecord> find_bindings(const std::string& aor) override {
    return real_->find_bindings(aor);
  }
  std::size_t delete_node_bindings(const std::string& node, bool ws_only) override {
    return real_->delete_node_bindings(node, ws_only);
  }
  void heartbeat(const std::string& node, const std::string& address) override {
    real_->heartbeat(node, address);
  }
  std::vector<NodeRecord> list_nodes() override { return real_->list_nodes(); }
  void add_group(const std::string& aor, const std::string& g) override {
    real_->add_group(aor, g);
  }
  bool delete_group(const std::string& aor, const std::string& g) override {
    return real_->delete_group(aor, g);
  }
  std::vector<GroupMembership> list_groups(const std::string& aor) override {
    return real_->list_groups(aor);
  }
  void put_forward(const ForwardRule& r) override { real_->put_forward(r); }
  std::size_t delete_forward(const std::string& aor, std::optional<ForwardKind> k) override {
    return real_->delete_forward(aor, k);
  }
  std::vector<ForwardRule> list_forwards(const std::string& aor) override {
    return real_->list_forwards(aor);
  }
  void put_alias(const Alias& a) override { real_->put_alias(a); }
  bool delete_alias(const std::string& alias) override { return real_->delete_alias(alias); }
  std::optional<std::string> find_alias(const std::string& alias) override {
    return real_->find_alias(alias);
  }
  std::vector<Alias> list_aliases() override { return real_->list_aliases(); }
  UserServices user_services(const std::string& u, const std::string& d) override {
    return real_->user_services(u, d);
  }
  void add_call_records(std::vector<CallRecord>& r) override { real_->add_call_records(r); }
  std::vector<CallRecord> list_call_records(const CallRecordQuery& q, std::size_t* t) override {
    return real_->list_call_records(q, t);
  }
  void transaction(const std::function<void()>& body) override { real_->transaction(body); }
  std::uint64_t data_version() override { return real_->data_version(); }
  void check() override { real_->check(); }

 private:
  std::unique_ptr<Store> real_;
};

/// Fault injection over a real store: binding writes always fail ("database is locked"); reads
/// for the user, alias or AOR user part "broken" throw StoreError; the rest passes through.
class FaultyStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::optional<Subscriber> find_subscriber(const std::string& u, const std::string& d) override {
    if (u == "broken") throw StoreError("disk on fire");
    return ForwardingStore::find_subscriber(u, d);
  }
  void put_binding(const BindingRecord&) override { throw StoreError("database is locked"); }
  void delete_binding(const std::string&, const std::string&) override {
    throw StoreError("database is locked");
  }
  std::optional<std::string> find_alias(const std::string& alias) override {
    if (alias == "broken") throw StoreError("disk on fire");
    return ForwardingStore::find_alias(alias);
  }
  UserServices user_services(const std::string& u, const std::string& d) override {
    if (u == "broken") throw StoreError("disk on fire");
    return ForwardingStore::user_services(u, d);
  }
};

/// A real store whose find_subscriber of the user "gate" blocks the calling (worker) thread
/// until open_gate(), so that a test can queue operations behind it; counts binding writes,
/// transactions and checks.
class GatedStore final : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  std::optional<Subscriber> find_subscriber(const std::string& u, const std::string& d) override {
    if (u == "gate") {
      std::unique_lock lock(mu_);
      entered_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
    }
    return ForwardingStore::find_subscriber(u, d);
  }
  void put_binding(const BindingRecord& b) override {
    ++binding_writes;
    ForwardingStore::put_binding(b);
  }
  void delete_binding(const std::string& aor, const std::string& contact) override {
    ++binding_writes;
    ForwardingStore::delete_binding(aor, contact);
  }
  void transaction(const std::function<void()>& body) override {
    ++transactions;
    ForwardingStore::transaction(body);
  }
  void check() override {
    ++checks;
    ForwardingStore::check();
  }
  /// Blocks until the worker is inside the gate (bounded: false after 5 s).
  bool wait_entered() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5), [&] { return entered_; });
  }
  void open_gate() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  std::atomic<int> binding_writes{0};  ///< put_binding + delete_binding calls that reached it
  std::atomic<int> transactions{0};    ///< transaction() calls (one per batch of writes)
  std::atomic<int> checks{0};          ///< check() calls (the worker's health checks)

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool open_ = false;
};

}  // namespace sipws::store::test
