// Store over SOCI + SQLite, and AsyncStore (one worker thread with a queue).

#include "store/store.hpp"

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string_view>
#include <thread>

#include "common/counters.hpp"

namespace sipws::store {
namespace {

/// Bumped when the schema changes; older files are migrated in open(), newer ones refused.
constexpr int kSchemaVersion = 1;
/// How long a writer waits for another process's lock (CLI and daemon share the file).
constexpr int kBusyTimeoutS = 5;

constexpr std::string_view kSqlitePrefix = "sqlite:";

class SqliteStore final : public Store {
 public:
  SqliteStore(const std::string& uri, const std::string& path) : uri_(uri) {
    try {
      // SOCI's connect string: values with spaces need quotes.
      std::string conn = "db=\"" + path + "\" timeout=" + std::to_string(kBusyTimeoutS);
      sql_.open(*soci::factory_sqlite3(), conn);
      std::string mode;
      sql_ << "PRAGMA journal_mode=WAL", soci::into(mode);
      sql_ << "PRAGMA busy_timeout=" << kBusyTimeoutS * 1000;
      create_schema();
    } catch (const StoreError&) {
      throw;
    } catch (const std::exception& e) {
      throw StoreError("cannot open " + uri_ + ": " + e.what());
    }
  }

  void put_subscriber(const Subscriber& s) override {
    run("put_subscriber", [&] {
      sql_ << "INSERT OR REPLACE INTO subscriber(user, domain, ha1_md5, ha1_sha256) "
              "VALUES(:u, :d, :m, :s)",
          soci::use(s.user), soci::use(s.domain), soci::use(s.ha1_md5), soci::use(s.ha1_sha256);
    });
  }

  bool delete_subscriber(const std::string& user, const std::string& domain) override {
    bool existed = false;
    run("delete_subscriber", [&] {
      soci::statement st =
          (sql_.prepare << "DELETE FROM subscriber WHERE user = :u AND domain = :d",
           soci::use(user), soci::use(domain));
      st.execute(true);
      existed = st.get_affected_rows() > 0;
    });
    return existed;
  }

  std::optional<Subscriber> find_subscriber(const std::string& user,
                                            const std::string& domain) override {
    std::optional<Subscriber> out;
    run("find_subscriber", [&] {
      Subscriber s;
      soci::indicator ind = soci::i_ok;
      sql_ << "SELECT user, domain, ha1_md5, ha1_sha256 FROM subscriber "
              "WHERE user = :u AND domain = :d",
          soci::into(s.user, ind), soci::into(s.domain), soci::into(s.ha1_md5),
          soci::into(s.ha1_sha256), soci::use(user), soci::use(domain);
      if (sql_.got_data() && ind == soci::i_ok) out = std::move(s);
    });
    return out;
  }

  std::vector<Subscriber> list_subscribers() override {
    std::vector<Subscriber> out;
    run("list_subscribers", [&] {
      Subscriber s;
      soci::statement st = (sql_.prepare << "SELECT user, domain, ha1_md5, ha1_sha256 FROM "
                                            "subscriber ORDER BY domain, user",
                            soci::into(s.user), soci::into(s.domain), soci::into(s.ha1_md5),
                            soci::into(s.ha1_sha256));
      st.execute();
      while (st.fetch()) out.push_back(s);
    });
    return out;
  }

  void put_binding(const BindingRecord& b) override {
    run("put_binding", [&] {
      long long reg_id = b.reg_id;
      long long expires_at = b.expires_at;
      double q = b.q;
      long long cseq = b.cseq;
      sql_ << "INSERT OR REPLACE INTO location(aor, contact, instance, reg_id, path, received, "
              "expires_at, q, call_id, cseq, user_agent) "
              "VALUES(:aor, :contact, :instance, :reg_id, :path, :received, :expires_at, :q, "
              ":call_id, :cseq, :ua)",
          soci::use(b.aor), soci::use(b.contact), soci::use(b.instance), soci::use(reg_id),
          soci::use(b.path), soci::use(b.received), soci::use(expires_at), soci::use(q),
          soci::use(b.call_id), soci::use(cseq), soci::use(b.user_agent);
    });
  }

  void delete_binding(const std::string& aor, const std::string& contact) override {
    run("delete_binding", [&] {
      sql_ << "DELETE FROM location WHERE aor = :a AND contact = :c", soci::use(aor),
          soci::use(contact);
    });
  }

  std::vector<BindingRecord> load_bindings() override {
    std::vector<BindingRecord> out;
    run("load_bindings", [&] {
      BindingRecord b;
      long long reg_id = 0, expires_at = 0, cseq = 0;
      double q = 1.0;
      soci::statement st =
          (sql_.prepare << "SELECT aor, contact, instance, reg_id, path, received, expires_at, "
                           "q, call_id, cseq, user_agent FROM location ORDER BY aor, contact",
           soci::into(b.aor), soci::into(b.contact), soci::into(b.instance), soci::into(reg_id),
           soci::into(b.path), soci::into(b.received), soci::into(expires_at), soci::into(q),
           soci::into(b.call_id), soci::into(cseq), soci::into(b.user_agent));
      st.execute();
      while (st.fetch()) {
        b.reg_id = static_cast<std::uint32_t>(reg_id);
        b.expires_at = expires_at;
        b.q = static_cast<float>(q);
        b.cseq = static_cast<std::uint32_t>(cseq);
        out.push_back(b);
      }
    });
    return out;
  }

 private:
  template <class Fn>
  void run(const char* what, Fn&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      throw StoreError(std::string(what) + " on " + uri_ + ": " + e.what());
    }
  }

  void create_schema() {
    soci::transaction tr(sql_);
    sql_ << "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)";
    sql_ << "CREATE TABLE IF NOT EXISTS subscriber("
            "user TEXT NOT NULL, domain TEXT NOT NULL, "
            "ha1_md5 TEXT NOT NULL DEFAULT '', ha1_sha256 TEXT NOT NULL DEFAULT '', "
            "PRIMARY KEY(user, domain))";
    sql_ << "CREATE TABLE IF NOT EXISTS location("
            "aor TEXT NOT NULL, contact TEXT NOT NULL, instance TEXT NOT NULL DEFAULT '', "
            "reg_id INTEGER NOT NULL DEFAULT 0, path TEXT NOT NULL DEFAULT '', "
            "received TEXT NOT NULL DEFAULT '', expires_at INTEGER NOT NULL DEFAULT 0, "
            "q REAL NOT NULL DEFAULT 1.0, call_id TEXT NOT NULL DEFAULT '', "
            "cseq INTEGER NOT NULL DEFAULT 0, user_agent TEXT NOT NULL DEFAULT '', "
            "PRIMARY KEY(aor, contact))";
    int version = 0;
    soci::indicator ind = soci::i_ok;
    sql_ << "SELECT MAX(version) FROM schema_version", soci::into(version, ind);
    if (ind != soci::i_ok || !sql_.got_data()) {
      int v = kSchemaVersion;
      sql_ << "INSERT INTO schema_version(version) VALUES(:v)", soci::use(v);
    } else if (version > kSchemaVersion) {
      throw StoreError(uri_ + ": schema version " + std::to_string(version) +
                       " is newer than this sipws supports (" + std::to_string(kSchemaVersion) +
                       ")");
    }
    tr.commit();
  }

  std::string uri_;
  soci::session sql_;
};

std::unique_ptr<Store> open_sqlite(const std::string& uri) {
  std::string path = uri.substr(kSqlitePrefix.size());
  if (path.rfind("//", 0) == 0) path.erase(0, 2);  // tolerate "sqlite://PATH"
  if (path.empty()) throw StoreError("store URI '" + uri + "' has no path (want sqlite:PATH)");
  if (path != ":memory:") {
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec) {
        throw StoreError("cannot create directory " + parent.string() + " for " + path + ": " +
                         ec.message());
      }
    }
  }
  return std::make_unique<SqliteStore>(uri, path);
}

}  // namespace

std::unique_ptr<Store> Store::open(const std::string& uri) {
  if (uri.rfind(kSqlitePrefix, 0) == 0) return open_sqlite(uri);
  for (std::string_view scheme : {"postgresql://", "postgres://", "mysql://", "mariadb://"}) {
    if (uri.rfind(scheme, 0) == 0) {
      throw StoreError("store backend not built yet: " + uri.substr(0, scheme.size() - 3) +
                       " (key 'store' = '" + uri + "'; use sqlite:PATH)");
    }
  }
  throw StoreError("unknown store URI '" + uri +
                   "' (key 'store': want sqlite:PATH, postgresql://... or mysql://...)");
}

// ---- AsyncStore ----

struct AsyncStore::Impl {
  std::unique_ptr<Store> store;
  Post post;
  std::mutex mu;
  std::condition_variable cv_work;
  std::condition_variable cv_idle;
  std::deque<std::function<void()>> queue;
  std::size_t pending = 0;  // queued + running
  bool stop = false;
  Counter& write_errors = counters().get("store_write_errors");
  Counter& read_errors = counters().get("store_read_errors");
  std::thread worker;

  void enqueue(std::function<void()> op) {
    {
      std::lock_guard lock(mu);
      queue.push_back(std::move(op));
      ++pending;
    }
    cv_work.notify_one();
  }

  void run() {
    for (;;) {
      std::function<void()> op;
      {
        std::unique_lock lock(mu);
        cv_work.wait(lock, [&] { return stop || !queue.empty(); });
        if (queue.empty()) return;  // stop requested and drained
        op = std::move(queue.front());
        queue.pop_front();
      }
      op();
      {
        std::lock_guard lock(mu);
        --pending;
      }
      cv_idle.notify_all();
    }
  }

  template <class Fn>
  void write(const char* what, Fn&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      write_errors.inc();
      spdlog::error("store: {} failed: {}", what, e.what());
    }
  }
};

AsyncStore::AsyncStore(std::unique_ptr<Store> store, Post post) : impl_(std::make_unique<Impl>()) {
  impl_->store = std::move(store);
  impl_->post = std::move(post);
  impl_->worker = std::thread([impl = impl_.get()] { impl->run(); });
}

AsyncStore::~AsyncStore() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv_work.notify_one();
  impl_->worker.join();
}

void AsyncStore::find_subscriber(std::string user, std::string domain,
                                 std::function<void(std::optional<Subscriber>)> done) {
  Impl* impl = impl_.get();
  impl->enqueue(
      [impl, user = std::move(user), domain = std::move(domain), done = std::move(done)]() mutable {
        std::optional<Subscriber> result;
        try {
          result = impl->store->find_subscriber(user, domain);
        } catch (const std::exception& e) {
          impl->read_errors.inc();
          spdlog::error("store: find_subscriber {}@{} failed: {}", user, domain, e.what());
        }
        impl->post([done = std::move(done), result = std::move(result)]() mutable {
          done(std::move(result));
        });
      });
}

void AsyncStore::put_binding(BindingRecord b) {
  Impl* impl = impl_.get();
  impl->enqueue([impl, b = std::move(b)] {
    impl->write("put_binding", [&] { impl->store->put_binding(b); });
  });
}

void AsyncStore::delete_binding(std::string aor, std::string contact) {
  Impl* impl = impl_.get();
  impl->enqueue([impl, aor = std::move(aor), contact = std::move(contact)] {
    impl->write("delete_binding", [&] { impl->store->delete_binding(aor, contact); });
  });
}

Store& AsyncStore::sync() { return *impl_->store; }

void AsyncStore::flush() {
  std::unique_lock lock(impl_->mu);
  impl_->cv_idle.wait(lock, [&] { return impl_->pending == 0; });
}

}  // namespace sipws::store
