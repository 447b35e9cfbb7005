// Store over SOCI + SQLite, and AsyncStore (one worker thread with a queue).
//
// Tables (schema version 2):
//   schema_version(version)
//   subscriber(user, domain, ha1_md5, ha1_sha256)             PRIMARY KEY(user, domain)
//   location(aor, contact, instance, reg_id, path, received,
//            expires_at, q, call_id, cseq, user_agent)        PRIMARY KEY(aor, contact)
//   -- since version 2:
//   subscriber_group(aor, grp)                                PRIMARY KEY(aor, grp)
//   call_forward(aor, kind, target, ring_timeout)             PRIMARY KEY(aor, kind)
//     kind: "unconditional" | "busy" | "no_answer"; ring_timeout in seconds, 0 = default
//   alias(alias, aor)                                         PRIMARY KEY(alias)
// AORs are "user@domain" with the domain lower-cased (the store lower-cases what it is given).

#include "store/store.hpp"

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "common/counters.hpp"
#include "common/log.hpp"
#include "common/text.hpp"

namespace sipws::store {
namespace {

/// Bumped when the schema changes; older files are migrated in open(), newer ones refused.
/// 1: subscriber, location. 2: + subscriber_group, call_forward, alias.
constexpr int kSchemaVersion = 3;
/// How long a writer waits for another process's lock (CLI and daemon share the file).
constexpr int kBusyTimeoutS = 5;

constexpr std::string_view kSqlitePrefix = "sqlite:";

/// "user@Domain" -> "user@domain": the domain (after the last '@') lower-cased, the user part
/// kept as is (case-sensitive, RFC 3261 s.19.1.4). Text without '@' is returned unchanged.
std::string normalize_aor(std::string_view aor) {
  const auto at = aor.rfind('@');
  if (at == std::string_view::npos) return std::string(aor);
  return std::string(aor.substr(0, at + 1)) + text::to_lower(aor.substr(at + 1));
}

/// SQL expression ordering call_forward rows by ForwardKind (enum order), not by name.
constexpr const char* kKindOrder =
    "CASE kind WHEN 'unconditional' THEN 0 WHEN 'busy' THEN 1 WHEN 'no_answer' THEN 2 "
    "ELSE 3 END";

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

  void transaction(const std::function<void()>& body) override {
    run("transaction", [&] {
      soci::transaction tr(sql_);
      body();
      tr.commit();
    });
  }

  std::uint64_t data_version() override {
    long long v = 0;
    run("data_version", [&] { sql_ << "PRAGMA data_version", soci::into(v); });
    return static_cast<std::uint64_t>(v);
  }

  void check() override {
    run("check", [&] {
      soci::transaction tr(sql_);
      int n = 0;
      for (const char* table :
           {"subscriber", "location", "subscriber_group", "call_forward", "alias", "cdrs"}) {
        sql_ << "SELECT COUNT(*) FROM (SELECT 1 FROM " << table << " LIMIT 1)", soci::into(n);
      }
      // A binding write that leaves nothing behind, committed: it takes the write lock, meets
      // what a real binding write would (a read-only file, a full disk when the commit appends
      // to the WAL, a trigger) and changes no row another connection could see.
      sql_ << "INSERT OR REPLACE INTO location(aor, contact) VALUES('sipws-check', 'sipws-check')";
      sql_ << "DELETE FROM location WHERE aor = 'sipws-check' AND contact = 'sipws-check'";
      tr.commit();
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
      if (existed) {
        // The subscriber's services go with it (groups and forwarding rules; aliases pointing
        // at the AOR stay: a number may be re-pointed to a new user).
        const std::string aor = normalize_aor(user + "@" + domain);
        sql_ << "DELETE FROM subscriber_group WHERE aor = :a", soci::use(aor);
        sql_ << "DELETE FROM call_forward WHERE aor = :a", soci::use(aor);
      }
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
      // Prepared once: a binding refresh is the store's most frequent write, and parsing its
      // SQL again each time cost as much as executing it.
      if (!put_binding_st_) {
        put_binding_st_.emplace(
            // An upsert changes a refreshed row in place; INSERT OR REPLACE deleted and
            // inserted it again (twice the b-tree work on the commit path of store_sync=ack).
            (sql_.prepare << "INSERT INTO location(aor, contact, instance, reg_id, "
                             "path, received, expires_at, q, call_id, cseq, user_agent) "
                             "VALUES(:aor, :contact, :instance, :reg_id, :path, :received, "
                             ":expires_at, :q, :call_id, :cseq, :ua) "
                             "ON CONFLICT(aor, contact) DO UPDATE SET "
                             "instance = excluded.instance, reg_id = excluded.reg_id, "
                             "path = excluded.path, received = excluded.received, "
                             "expires_at = excluded.expires_at, q = excluded.q, "
                             "call_id = excluded.call_id, cseq = excluded.cseq, "
                             "user_agent = excluded.user_agent",
             soci::use(row_.aor), soci::use(row_.contact), soci::use(row_.instance),
             soci::use(row_.reg_id), soci::use(row_.path), soci::use(row_.received),
             soci::use(row_.expires_at), soci::use(row_.q), soci::use(row_.call_id),
             soci::use(row_.cseq), soci::use(row_.user_agent)));
      }
      row_.aor = b.aor;
      row_.contact = b.contact;
      row_.instance = b.instance;
      row_.path = b.path;
      row_.received = b.received;
      row_.call_id = b.call_id;
      row_.user_agent = b.user_agent;
      row_.reg_id = b.reg_id;
      row_.expires_at = b.expires_at;
      row_.q = b.q;
      row_.cseq = b.cseq;
      execute_prepared(put_binding_st_);
    });
  }

  void delete_binding(const std::string& aor, const std::string& contact) override {
    run("delete_binding", [&] {
      if (!delete_binding_st_) {
        delete_binding_st_.emplace(
            (sql_.prepare << "DELETE FROM location WHERE aor = :a AND contact = :c",
             soci::use(row_.aor), soci::use(row_.contact)));
      }
      row_.aor = aor;
      row_.contact = contact;
      execute_prepared(delete_binding_st_);
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

  void add_group(const std::string& aor, const std::string& group) override {
    const std::string key = normalize_aor(aor);
    run("add_group", [&] {
      sql_ << "INSERT OR IGNORE INTO subscriber_group(aor, grp) VALUES(:a, :g)", soci::use(key),
          soci::use(group);
    });
  }

  bool delete_group(const std::string& aor, const std::string& group) override {
    const std::string key = normalize_aor(aor);
    bool existed = false;
    run("delete_group", [&] {
      soci::statement st =
          (sql_.prepare << "DELETE FROM subscriber_group WHERE aor = :a AND grp = :g",
           soci::use(key), soci::use(group));
      st.execute(true);
      existed = st.get_affected_rows() > 0;
    });
    return existed;
  }

  std::vector<GroupMembership> list_groups(const std::string& aor) override {
    const std::string key = normalize_aor(aor);
    std::vector<GroupMembership> out;
    run("list_groups", [&] {
      GroupMembership g;
      soci::statement st =
          key.empty() ? (sql_.prepare << "SELECT aor, grp FROM subscriber_group ORDER BY aor, grp",
                         soci::into(g.aor), soci::into(g.group))
                      : (sql_.prepare << "SELECT aor, grp FROM subscriber_group WHERE aor = :a "
                                         "ORDER BY grp",
                         soci::into(g.aor), soci::into(g.group), soci::use(key));
      st.execute();
      while (st.fetch()) out.push_back(g);
    });
    return out;
  }

  void put_forward(const ForwardRule& r) override {
    const std::string key = normalize_aor(r.aor);
    const std::string kind(forward_kind_name(r.kind));
    const long long ring_timeout = r.ring_timeout_s;
    run("put_forward", [&] {
      sql_ << "INSERT OR REPLACE INTO call_forward(aor, kind, target, ring_timeout) "
              "VALUES(:a, :k, :t, :r)",
          soci::use(key), soci::use(kind), soci::use(r.target), soci::use(ring_timeout);
    });
  }

  std::size_t delete_forward(const std::string& aor, std::optional<ForwardKind> kind) override {
    const std::string key = normalize_aor(aor);
    const std::string kind_name(kind ? forward_kind_name(*kind) : "");
    std::size_t deleted = 0;
    run("delete_forward", [&] {
      soci::statement st =
          kind ? (sql_.prepare << "DELETE FROM call_forward WHERE aor = :a AND kind = :k",
                  soci::use(key), soci::use(kind_name))
               : (sql_.prepare << "DELETE FROM call_forward WHERE aor = :a", soci::use(key));
      st.execute(true);
      deleted = static_cast<std::size_t>(st.get_affected_rows());
    });
    return deleted;
  }

  std::vector<ForwardRule> list_forwards(const std::string& aor) override {
    std::vector<ForwardRule> out;
    run("list_forwards", [&] { out = select_forwards(normalize_aor(aor)); });
    return out;
  }

  void put_alias(const Alias& a) override {
    const std::string target = normalize_aor(a.aor);
    run("put_alias", [&] {
      sql_ << "INSERT OR REPLACE INTO alias(alias, aor) VALUES(:n, :a)", soci::use(a.alias),
          soci::use(target);
    });
  }

  bool delete_alias(const std::string& alias) override {
    bool existed = false;
    run("delete_alias", [&] {
      soci::statement st = (sql_.prepare << "DELETE FROM alias WHERE alias = :n", soci::use(alias));
      st.execute(true);
      existed = st.get_affected_rows() > 0;
    });
    return existed;
  }

  std::optional<std::string> find_alias(const std::string& alias) override {
    std::optional<std::string> out;
    run("find_alias", [&] {
      std::string aor;
      soci::indicator ind = soci::i_ok;
      sql_ << "SELECT aor FROM alias WHERE alias = :n", soci::into(aor, ind), soci::use(alias);
      if (sql_.got_data() && ind == soci::i_ok) out = std::move(aor);
    });
    return out;
  }

  std::vector<Alias> list_aliases() override {
    std::vector<Alias> out;
    run("list_aliases", [&] {
      Alias a;
      soci::statement st = (sql_.prepare << "SELECT alias, aor FROM alias ORDER BY alias",
                            soci::into(a.alias), soci::into(a.aor));
      st.execute();
      while (st.fetch()) out.push_back(a);
    });
    return out;
  }

  void add_call_records(std::vector<CallRecord>& records) override {
    run("add_call_records", [&] {
      soci::transaction tr(sql_);
      for (auto& r : records) {
        const std::string gateways = join_lines(r.gateways);
        const std::string forwarded = join_lines(r.forwarded);
        const long long start = r.start_ms, answer = r.answer_ms, end = r.end_ms;
        const int anchored = r.media_anchored ? 1 : 0;
        const auto cp = static_cast<long long>(r.caller_leg.packets);
        const auto cb = static_cast<long long>(r.caller_leg.bytes);
        const auto ep = static_cast<long long>(r.callee_leg.packets);
        const auto eb = static_cast<long long>(r.callee_leg.bytes);
        sql_ << "INSERT INTO cdrs(call_id, from_uri, to_uri, request_uri, source, user, "
                "start_ms, answer_ms, end_ms, status, reason, hangup, route, gateways, "
                "forwarded, media_anchored, caller_packets, caller_bytes, callee_packets, "
                "callee_bytes) VALUES(:a, :b, :c, :d, :e, :f, :g, :h, :i, :j, :k, :l, :m, :n, "
                ":o, :p, :q, :r, :s, :t)",
            soci::use(r.call_id), soci::use(r.from), soci::use(r.to), soci::use(r.request_uri),
            soci::use(r.source), soci::use(r.user), soci::use(start), soci::use(answer),
            soci::use(end), soci::use(r.status), soci::use(r.reason), soci::use(r.hangup),
            soci::use(r.route), soci::use(gateways), soci::use(forwarded), soci::use(anchored),
            soci::use(cp), soci::use(cb), soci::use(ep), soci::use(eb);
        long long id = 0;
        sql_ << "SELECT last_insert_rowid()", soci::into(id);
        r.id = id;
      }
      tr.commit();
    });
  }

  std::vector<CallRecord> list_call_records(const CallRecordQuery& q, std::size_t* total) override {
    std::vector<CallRecord> out;
    run("list_call_records", [&] {
      // Every filter is bound twice: "empty / 0 = any", then the test itself.
      static constexpr const char* kWhere =
          " FROM cdrs WHERE (:c1 = '' OR call_id = :c2) AND (:f1 = '' OR instr(from_uri, :f2) > 0)"
          " AND (:t1 = '' OR instr(to_uri, :t2) > 0) AND (:s1 = 0 OR status = :s2)"
          " AND (:a1 = 0 OR start_ms >= :a2) AND (:u1 = 0 OR start_ms < :u2)";
      const long long since = q.since_ms, until = q.until_ms;
      if (total != nullptr) {
        long long n = 0;
        sql_ << std::string("SELECT COUNT(*)") + kWhere, soci::use(q.call_id), soci::use(q.call_id),
            soci::use(q.from), soci::use(q.from), soci::use(q.to), soci::use(q.to),
            soci::use(q.status), soci::use(q.status), soci::use(since), soci::use(since),
            soci::use(until), soci::use(until), soci::into(n);
        *total = static_cast<std::size_t>(n);
      }
      const long long limit = static_cast<long long>(std::min<std::size_t>(q.limit, 1u << 30));
      const long long offset = static_cast<long long>(std::min<std::size_t>(q.offset, 1u << 30));
      CallRecord r;
      std::string gateways, forwarded;
      long long id = 0, start = 0, answer = 0, end = 0, cp = 0, cb = 0, ep = 0, eb = 0;
      int anchored = 0;
      soci::statement st =
          (sql_.prepare << std::string("SELECT id, call_id, from_uri, to_uri, request_uri, source, "
                                       "user, start_ms, answer_ms, end_ms, status, reason, "
                                       "hangup, route, gateways, forwarded, media_anchored, "
                                       "caller_packets, caller_bytes, callee_packets, "
                                       "callee_bytes") +
                               kWhere + " ORDER BY start_ms DESC, id DESC LIMIT :lim OFFSET :off",
           soci::use(q.call_id), soci::use(q.call_id), soci::use(q.from), soci::use(q.from),
           soci::use(q.to), soci::use(q.to), soci::use(q.status), soci::use(q.status),
           soci::use(since), soci::use(since), soci::use(until), soci::use(until), soci::use(limit),
           soci::use(offset), soci::into(id), soci::into(r.call_id), soci::into(r.from),
           soci::into(r.to), soci::into(r.request_uri), soci::into(r.source), soci::into(r.user),
           soci::into(start), soci::into(answer), soci::into(end), soci::into(r.status),
           soci::into(r.reason), soci::into(r.hangup), soci::into(r.route), soci::into(gateways),
           soci::into(forwarded), soci::into(anchored), soci::into(cp), soci::into(cb),
           soci::into(ep), soci::into(eb));
      st.execute();
      while (st.fetch()) {
        r.id = id;
        r.start_ms = start;
        r.answer_ms = answer;
        r.end_ms = end;
        r.gateways = split_lines(gateways);
        r.forwarded = split_lines(forwarded);
        r.media_anchored = anchored != 0;
        r.caller_leg = {static_cast<std::uint64_t>(cp), static_cast<std::uint64_t>(cb)};
        r.callee_leg = {static_cast<std::uint64_t>(ep), static_cast<std::uint64_t>(eb)};
        out.push_back(r);
      }
    });
    return out;
  }

  UserServices user_services(const std::string& user, const std::string& domain) override {
    const std::string lower_domain = text::to_lower(domain);
    const std::string aor = user + '@' + lower_domain;
    UserServices out;
    run("user_services", [&] {
      // One read transaction: the three answers come from one snapshot.
      soci::transaction tr(sql_);
      int n = 0;
      sql_ << "SELECT COUNT(*) FROM subscriber WHERE user = :u AND lower(domain) = :d",
          soci::into(n), soci::use(user), soci::use(lower_domain);
      out.subscriber = n > 0;
      std::string group;
      soci::statement st =
          (sql_.prepare << "SELECT grp FROM subscriber_group WHERE aor = :a ORDER BY grp",
           soci::into(group), soci::use(aor));
      st.execute();
      while (st.fetch()) out.groups.push_back(group);
      out.forwards = select_forwards(aor);
      tr.commit();
    });
    return out;
  }

 private:
  /// Rules of `aor` ("" = everyone) ordered by aor, then kind in enum order. A row whose kind
  /// this sipws does not know (edited by hand) is skipped with a warning. Call inside run().
  std::vector<ForwardRule> select_forwards(const std::string& aor) {
    std::vector<ForwardRule> out;
    std::string row_aor, kind, target;
    long long ring_timeout = 0;
    const std::string query =
        std::string("SELECT aor, kind, target, ring_timeout FROM call_forward") +
        (aor.empty() ? "" : " WHERE aor = :a") + " ORDER BY aor, " + kKindOrder;
    soci::statement st = aor.empty()
                             ? (sql_.prepare << query, soci::into(row_aor), soci::into(kind),
                                soci::into(target), soci::into(ring_timeout))
                             : (sql_.prepare << query, soci::into(row_aor), soci::into(kind),
                                soci::into(target), soci::into(ring_timeout), soci::use(aor));
    st.execute();
    while (st.fetch()) {
      const auto k = parse_forward_kind(kind);
      if (!k) {
        log::store().warn("store: {}: call_forward row of {} has unknown kind '{}'; ignored", uri_,
                          row_aor, kind);
        continue;
      }
      const auto ring =
          std::clamp<long long>(ring_timeout, 0, std::numeric_limits<std::uint32_t>::max());
      out.push_back(ForwardRule{row_aor, *k, target, static_cast<std::uint32_t>(ring)});
    }
    return out;
  }

  /// Executes a prepared statement; one that failed is prepared again on its next use.
  static void execute_prepared(std::optional<soci::statement>& st) {
    try {
      st->execute(true);
    } catch (...) {
      st.reset();
      throw;
    }
  }

  template <class Fn>
  void run(const char* what, Fn&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      throw StoreError(std::string(what) + " on " + uri_ + ": " + e.what());
    }
  }

  /// Creates the tables of a new file, or migrates an older file in place (one transaction).
  /// @throws StoreError for a file newer than kSchemaVersion.
  void create_schema() {
    soci::transaction tr(sql_);
    sql_ << "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)";
    int version = 0;
    soci::indicator ind = soci::i_ok;
    sql_ << "SELECT MAX(version) FROM schema_version", soci::into(version, ind);
    if (ind != soci::i_ok || !sql_.got_data()) version = 0;  // a new file
    if (version > kSchemaVersion) {
      throw StoreError(uri_ + ": schema version " + std::to_string(version) +
                       " is newer than this sipws supports (" + std::to_string(kSchemaVersion) +
                       ")");
    }
    // Every step is idempotent (IF NOT EXISTS), so a file whose version row is missing or
    // behind its tables is repaired too.
    create_v1_tables();
    create_v2_tables();
    create_v3_tables();
    if (version != kSchemaVersion) {
      sql_ << "DELETE FROM schema_version";
      int v = kSchemaVersion;
      sql_ << "INSERT INTO schema_version(version) VALUES(:v)", soci::use(v);
      if (version != 0) {
        log::store().info("store: {} migrated from schema version {} to {}", uri_, version,
                          kSchemaVersion);
      }
    }
    tr.commit();
  }

  void create_v1_tables() {
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
  }

  /// Version 2: per-subscriber services (groups, call forwarding, aliases).
  void create_v2_tables() {
    sql_ << "CREATE TABLE IF NOT EXISTS subscriber_group("
            "aor TEXT NOT NULL, grp TEXT NOT NULL, PRIMARY KEY(aor, grp))";
    sql_ << "CREATE TABLE IF NOT EXISTS call_forward("
            "aor TEXT NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL, "
            "ring_timeout INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(aor, kind))";
    sql_ << "CREATE TABLE IF NOT EXISTS alias("
            "alias TEXT NOT NULL PRIMARY KEY, aor TEXT NOT NULL)";
  }

  /// Version 3: call records (issue 15). Lists (gateways, forwarded) are kept one per line.
  void create_v3_tables() {
    sql_ << "CREATE TABLE IF NOT EXISTS cdrs("
            "id INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL, "
            "from_uri TEXT NOT NULL, to_uri TEXT NOT NULL, request_uri TEXT NOT NULL, "
            "source TEXT NOT NULL, user TEXT NOT NULL, start_ms INTEGER NOT NULL, "
            "answer_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, status INTEGER NOT NULL, "
            "reason TEXT NOT NULL, hangup TEXT NOT NULL, route TEXT NOT NULL, "
            "gateways TEXT NOT NULL, forwarded TEXT NOT NULL, media_anchored INTEGER NOT NULL, "
            "caller_packets INTEGER NOT NULL, caller_bytes INTEGER NOT NULL, "
            "callee_packets INTEGER NOT NULL, callee_bytes INTEGER NOT NULL)";
    sql_ << "CREATE INDEX IF NOT EXISTS cdrs_start ON cdrs(start_ms)";
    sql_ << "CREATE INDEX IF NOT EXISTS cdrs_call_id ON cdrs(call_id)";
  }

  static std::string join_lines(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) {
      if (!out.empty()) out.push_back('\n');
      out += i;
    }
    return out;
  }
  static std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      out.emplace_back(text.substr(pos, nl - pos));
      pos = nl + 1;
    }
    return out;
  }

  std::string uri_;
  soci::session sql_;
  /// The location row that the prepared binding statements read (bound by reference).
  struct Row {
    std::string aor, contact, instance, path, received, call_id, user_agent;
    long long reg_id = 0, expires_at = 0, cseq = 0;
    double q = 1.0;
  } row_;
  /// Prepared on first use, after the schema exists; destroyed before sql_ (declared after).
  std::optional<soci::statement> put_binding_st_;
  std::optional<soci::statement> delete_binding_st_;
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

std::string_view forward_kind_name(ForwardKind k) {
  switch (k) {
    case ForwardKind::Unconditional:
      return "unconditional";
    case ForwardKind::Busy:
      return "busy";
    case ForwardKind::NoAnswer:
      return "no_answer";
  }
  return "unconditional";  // unreachable: every enumerator is handled above
}

std::optional<ForwardKind> parse_forward_kind(std::string_view name) {
  for (ForwardKind k : {ForwardKind::Unconditional, ForwardKind::Busy, ForwardKind::NoAnswer}) {
    if (name == forward_kind_name(k)) return k;
  }
  return std::nullopt;
}

namespace {
class StoreCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sipws.store"; }
  std::string message(int ev) const override {
    switch (static_cast<StoreErrc>(ev)) {
      case StoreErrc::Unavailable:
        return "the store failed the query";
    }
    return "unknown store error";
  }
};
}  // namespace

const std::error_category& store_category() {
  static const StoreCategory cat;
  return cat;
}

std::error_code make_error_code(StoreErrc e) { return {static_cast<int>(e), store_category()}; }

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

namespace {
/// AsyncStore::answer_on_this_thread(): where this thread's answers are posted.
thread_local const AsyncStore::Post* tl_reply = nullptr;
}  // namespace

void AsyncStore::answer_on_this_thread(const Post* post) { tl_reply = post; }

struct AsyncStore::Impl {
  std::unique_ptr<Store> store;
  Post post;
  std::mutex mu;
  std::condition_variable cv_work;
  std::condition_variable cv_idle;
  /// The Durable answer of one write_bindings() call: due once each of its writes committed.
  /// Worker thread only once queued.
  struct Ack {
    std::size_t remaining = 0;
    bool failed = false;
    Durable done;
    const Post* reply = nullptr;
  };
  using Acks = std::vector<std::shared_ptr<Ack>>;
  struct Op {
    /// Runs the operation; false if it failed (a read answers its own failure).
    std::function<bool()> fn;
    bool write = false;  ///< consecutive writes share one transaction
    /// A binding write: the key of binding_writes whose latest record this op writes (fn is
    /// set when the worker takes the op).
    std::string binding;
    Acks acks;  ///< answered once this op's transaction committed
  };
  std::deque<Op> queue;
  /// The latest write of each binding not yet taken by the worker, by aor + '\0' + contact.
  /// A newer write of a queued binding replaces it instead of queueing another: under a burst
  /// of refreshes each binding is written once per batch, with its newest expiry. The acks of
  /// the writes it replaced are answered with it.
  struct PendingWrite {
    BindingWrite write;
    Acks acks;
  };
  std::unordered_map<std::string, PendingWrite> binding_writes;
  Counter& writes_coalesced = SIPWS_COUNTER("store_binding_writes_coalesced");
  std::size_t pending = 0;  // queued + running
  bool stop = false;
  std::chrono::milliseconds poll_interval{0};
  std::chrono::steady_clock::time_point next_poll{};  // worker thread only
  std::atomic<std::uint64_t> generation{0};
  std::uint64_t data_version = 0;  // worker thread only
  Counter& write_errors = SIPWS_COUNTER("store_write_errors");
  Counter& read_errors = SIPWS_COUNTER("store_read_errors");
  /// health(): written by the worker, read by any thread (under health_mu).
  mutable std::mutex health_mu;
  Health health;
  std::atomic<bool> unhealthy{false};                  // mirrors !health.ok for the worker
  std::chrono::steady_clock::time_point next_check{};  // worker thread only
  std::chrono::milliseconds check_interval = kCheckInterval;
  std::thread worker;

  void enqueue(std::function<bool()> op, bool write = false) {
    {
      std::lock_guard lock(mu);
      queue.push_back(Op{std::move(op), write, {}, {}});
      ++pending;
    }
    cv_work.notify_one();
  }

  /// Queues the write of one binding, or replaces the one that is queued for the same
  /// (aor, contact). Call with `mu` held; @returns true if an op was queued (notify).
  bool enqueue_binding_locked(BindingWrite w, const std::shared_ptr<Ack>& ack) {
    std::string key = w.record.aor;
    key += '\0';
    key += w.record.contact;
    auto [it, fresh] = binding_writes.try_emplace(key);
    it->second.write = std::move(w);
    if (ack) it->second.acks.push_back(ack);
    if (!fresh) {
      writes_coalesced.inc();
      return false;
    }
    queue.push_back(Op{nullptr, true, std::move(key), {}});
    ++pending;
    return true;
  }

  void enqueue_bindings(std::vector<BindingWrite> writes, Durable done) {
    std::shared_ptr<Ack> ack;
    if (done) {
      ack = std::make_shared<Ack>();
      ack->remaining = writes.size();
      ack->done = std::move(done);
      ack->reply = tl_reply != nullptr ? tl_reply : &post;
    }
    bool queued = false;
    {
      std::lock_guard lock(mu);
      for (auto& w : writes) queued = enqueue_binding_locked(std::move(w), ack) || queued;
    }
    if (queued) cv_work.notify_one();
    if (ack && writes.empty()) answer(*ack);
  }

  /// Pops the queue's front; a binding write takes its latest record and acks. Call with `mu`
  /// held.
  Op pop_locked() {
    Op op = std::move(queue.front());
    queue.pop_front();
    if (!op.binding.empty()) {
      auto node = binding_writes.extract(op.binding);
      op.acks = std::move(node.mapped().acks);
      op.fn = [this, w = std::move(node.mapped().write)] {
        if (w.erase) {
          return write("delete_binding",
                       [&] { store->delete_binding(w.record.aor, w.record.contact); });
        }
        return write("put_binding", [&] { store->put_binding(w.record); });
      };
    }
    return op;
  }

  /// Writes queued one after the other run in one transaction: one commit (one WAL sync) for
  /// a burst of binding refreshes instead of one each.
  static constexpr std::size_t kMaxBatch = 256;

  /// Waits for work (or the next poll/check), @returns the ops to run; empty when stopped.
  /// Runs due polls and checks on the way. Worker thread.
  std::vector<Op> next_ops() {
    std::unique_lock lock(mu);
    for (;;) {
      if (!queue.empty()) break;
      if (stop) return {};
      const auto now = std::chrono::steady_clock::now();
      const bool polling = poll_interval.count() > 0;
      const bool checking = unhealthy.load(std::memory_order_relaxed);
      if ((polling && now >= next_poll) || (checking && now >= next_check)) {
        lock.unlock();
        if (polling && now >= next_poll) {
          poll();
          next_poll = std::chrono::steady_clock::now() + poll_interval;
        }
        if (checking && now >= next_check) {
          check();
          next_check = std::chrono::steady_clock::now() + check_interval;
        }
        lock.lock();
        continue;
      }
      auto ready = [&] { return stop || !queue.empty(); };
      if (polling || checking) {
        auto until = std::chrono::steady_clock::time_point::max();
        if (polling) until = std::min(until, next_poll);
        if (checking) until = std::min(until, next_check);
        cv_work.wait_until(lock, until, ready);
      } else {
        cv_work.wait(lock, ready);
      }
    }
    // Also between queued operations: a worker that is never idle still polls.
    if (poll_interval.count() > 0 && std::chrono::steady_clock::now() >= next_poll) {
      lock.unlock();
      poll();
      next_poll = std::chrono::steady_clock::now() + poll_interval;
      lock.lock();
    }
    std::vector<Op> ops;
    ops.push_back(pop_locked());
    while (ops.front().write && !queue.empty() && queue.front().write && ops.size() < kMaxBatch) {
      ops.push_back(pop_locked());
    }
    return ops;
  }

  void run() {
    for (;;) {
      std::vector<Op> ops = next_ops();
      if (ops.empty()) return;  // stop requested and drained
      std::vector<char> ok(ops.size(), 0);
      bool committed = true;
      if (ops.size() == 1) {
        ok[0] = ops.front().fn() ? 1 : 0;
      } else {
        committed = write("write batch", [&] {
          store->transaction([&] {
            for (std::size_t i = 0; i < ops.size(); ++i) ok[i] = ops[i].fn() ? 1 : 0;
          });
        });
      }
      if (ops.front().write) {
        bool all_ok = committed;
        for (std::size_t i = 0; i < ops.size(); ++i) {
          all_ok = all_ok && ok[i] != 0;
          for (auto& ack : ops[i].acks) {
            ack->failed = ack->failed || !committed || ok[i] == 0;
            if (--ack->remaining == 0) answer(*ack);
          }
        }
        if (all_ok) set_health(true, {});
      }
      {
        std::lock_guard lock(mu);
        pending -= ops.size();
      }
      cv_idle.notify_all();
    }
  }

  /// Posts `ack`'s answer to the thread that asked.
  static void answer(Ack& ack) {
    const std::error_code ec =
        ack.failed ? make_error_code(StoreErrc::Unavailable) : std::error_code();
    (*ack.reply)([done = std::move(ack.done), ec] { done(ec); });
  }

  /// Records the store's health (health()); logs each change once. Worker thread.
  void set_health(bool ok, std::string error) {
    if (ok && !unhealthy.load(std::memory_order_relaxed)) return;  // the common case: no lock
    std::lock_guard lock(health_mu);
    if (ok) {
      log::store().info("store: healthy again (was: {})", health.error);
    } else if (health.ok) {
      log::store().warn("store: unhealthy: {}; checking it every {} ms", error,
                        check_interval.count());
      next_check = std::chrono::steady_clock::now() + check_interval;
    }
    health.ok = ok;
    health.error = std::move(error);
    unhealthy.store(!ok, std::memory_order_relaxed);
  }

  /// Store::check() while unhealthy. Worker thread.
  void check() {
    try {
      store->check();
      set_health(true, {});
    } catch (const std::exception& e) {
      set_health(false, e.what());
    }
  }

  /// Asks the store whether another connection changed it; bumps the generation if so.
  /// Worker thread. (Polled when idle: a busy worker serves queries, whose answers are at
  /// most one poll interval older than the database anyway.)
  void poll() {
    try {
      const std::uint64_t v = store->data_version();
      if (v != data_version) {
        data_version = v;
        generation.fetch_add(1, std::memory_order_release);
      }
    } catch (const std::exception& e) {
      read_errors.inc();
      log::store().error("store: data_version failed: {}", e.what());
      set_health(false, e.what());
    }
  }

  /// Runs `query(store)` on the worker and posts `done(result)`; a failure is logged with
  /// `what`, counted (store_read_errors) and answered as StoreErrc::Unavailable.
  template <class T, class Query>
  void read(std::string what, Query query, std::function<void(Result<T>)> done) {
    // The answer goes back to the thread that asked (its shard's io_context).
    const Post* reply = tl_reply != nullptr ? tl_reply : &post;
    enqueue([this, reply, what = std::move(what), query = std::move(query),
             done = std::move(done)]() mutable {
      Result<T> result = Unexpected(make_error_code(StoreErrc::Unavailable));
      try {
        result = query(*store);
      } catch (const std::exception& e) {
        read_errors.inc();
        log::store().error("store: {} failed: {}", what, e.what());
        set_health(false, e.what());
      }
      (*reply)([done = std::move(done), result = std::move(result)]() mutable {
        done(std::move(result));
      });
      return true;
    });
  }

  /// Runs `fn`; a failure is logged, counted (store_write_errors) and makes the store
  /// unhealthy. @returns false if it failed.
  template <class Fn>
  bool write(const char* what, Fn&& fn) {
    try {
      fn();
      return true;
    } catch (const std::exception& e) {
      write_errors.inc();
      log::store().error("store: {} failed: {}", what, e.what());
      set_health(false, e.what());
      return false;
    }
  }
};

AsyncStore::AsyncStore(std::unique_ptr<Store> store, Post post,
                       std::chrono::milliseconds check_interval)
    : impl_(std::make_unique<Impl>()) {
  impl_->check_interval = std::max(check_interval, std::chrono::milliseconds(1));
  impl_->store = std::move(store);
  impl_->post = std::move(post);
  // The baseline for poll_every(), read before the worker exists (the store is one caller's).
  try {
    impl_->data_version = impl_->store->data_version();
  } catch (const std::exception& e) {
    log::store().error("store: data_version failed: {}", e.what());
  }
  impl_->worker = std::thread([impl = impl_.get()] { impl->run(); });
}

void AsyncStore::poll_every(std::chrono::milliseconds interval) {
  {
    std::lock_guard lock(impl_->mu);
    impl_->poll_interval = interval;
    impl_->next_poll = std::chrono::steady_clock::now() + interval;
  }
  impl_->cv_work.notify_one();
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
                                 std::function<void(Result<std::optional<Subscriber>>)> done) {
  std::string what = "find_subscriber " + user + "@" + domain;
  impl_->read<std::optional<Subscriber>>(
      std::move(what),
      [user = std::move(user), domain = std::move(domain)](Store& s) {
        return s.find_subscriber(user, domain);
      },
      std::move(done));
}

void AsyncStore::user_services(std::string user, std::string domain,
                               std::function<void(Result<UserServices>)> done) {
  std::string what = "user_services " + user + "@" + domain;
  impl_->read<UserServices>(
      std::move(what),
      [user = std::move(user), domain = std::move(domain)](Store& s) {
        return s.user_services(user, domain);
      },
      std::move(done));
}

void AsyncStore::find_alias(std::string alias,
                            std::function<void(Result<std::optional<std::string>>)> done) {
  std::string what = "find_alias " + alias;
  impl_->read<std::optional<std::string>>(
      std::move(what), [alias = std::move(alias)](Store& s) { return s.find_alias(alias); },
      std::move(done));
}

void AsyncStore::run(std::string what, std::function<void(Store&)> job,
                     std::function<void(std::error_code)> done) {
  impl_->read<bool>(
      std::move(what),
      [job = std::move(job)](Store& s) {
        job(s);
        return true;
      },
      [done = std::move(done)](Result<bool> r) { done(r ? std::error_code() : r.error()); });
}

void AsyncStore::put_binding(BindingRecord b) {
  std::vector<BindingWrite> w(1);
  w[0].record = std::move(b);
  impl_->enqueue_bindings(std::move(w), nullptr);
}

void AsyncStore::delete_binding(std::string aor, std::string contact) {
  std::vector<BindingWrite> w(1);
  w[0].record.aor = std::move(aor);
  w[0].record.contact = std::move(contact);
  w[0].erase = true;
  impl_->enqueue_bindings(std::move(w), nullptr);
}

void AsyncStore::write_bindings(std::vector<BindingWrite> writes, Durable done) {
  impl_->enqueue_bindings(std::move(writes), std::move(done));
}

AsyncStore::Health AsyncStore::health() const {
  std::lock_guard lock(impl_->health_mu);
  return impl_->health;
}

Store& AsyncStore::sync() { return *impl_->store; }

std::uint64_t AsyncStore::generation() const {
  return impl_->generation.load(std::memory_order_acquire);
}

void AsyncStore::invalidate() { impl_->generation.fetch_add(1, std::memory_order_release); }

void AsyncStore::flush() {
  std::unique_lock lock(impl_->mu);
  impl_->cv_idle.wait(lock, [&] { return impl_->pending == 0; });
}

}  // namespace sipws::store
