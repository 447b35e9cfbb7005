// Store over SOCI (SQLite, PostgreSQL, MySQL/MariaDB), and AsyncStore (one worker thread with a
// queue).
//
// Tables (schema version 4):
//   schema_version(version)
//   subscriber(username, domain, ha1_md5, ha1_sha256)         PRIMARY KEY(username, domain)
//     (store_layout kamailio: Kamailio's own subscriber table, read as username, domain, ha1)
//   location(aor, contact, instance, reg_id, path, received,
//            expires_at, q, call_id, cseq, user_agent)        PRIMARY KEY(aor, contact)
//     (store_layout kamailio: named sipws_location, beside Kamailio's own location table)
//   -- since version 2:
//   subscriber_group(aor, grp)                                PRIMARY KEY(aor, grp)
//   call_forward(aor, kind, target, ring_timeout)             PRIMARY KEY(aor, kind)
//     kind: "unconditional" | "busy" | "no_answer"; ring_timeout in seconds, 0 = default
//   alias(alias, aor)                                         PRIMARY KEY(alias)
//   -- since version 3: cdrs (call records)
//   -- since version 4: data_version(version), bumped by each change of subscriber data on
//      PostgreSQL and MySQL (SQLite has PRAGMA data_version); `user` columns named `username`
// AORs are "user@domain" with the domain lower-cased (the store lower-cases what it is given).

#include "store/store.hpp"

#include <soci/mysql/soci-mysql.h>
#include <soci/postgresql/soci-postgresql.h>
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

/// The schema version this sipws writes; older databases are migrated (Store::migrate), newer
/// ones refused. 1: subscriber, location. 2: + subscriber_group, call_forward, alias. 3: + cdrs.
/// 4: subscriber.user and cdrs.user renamed username (a reserved word in PostgreSQL; Kamailio's
/// name), + data_version. 5: cluster mode: location.node and location.route, + cluster_node.
constexpr int kSchemaVersion = 5;
/// How long a writer waits for another process's lock (CLI and daemon share the file).
constexpr int kBusyTimeoutS = 5;
/// How long connecting to a database server may take before the store counts as down.
constexpr int kConnectTimeoutS = 5;
/// How long a query may wait for a database server that stopped answering (its host died).
constexpr int kIoTimeoutS = 15;

constexpr std::string_view kSqlitePrefix = "sqlite:";

enum class Dialect { Sqlite, Postgres, MySql };

/// A parsed `store` URI: the backend, SOCI's connect string, and the URI as logs and errors
/// show it (the password replaced by "***").
struct Target {
  Dialect dialect = Dialect::Sqlite;
  std::string connect;
  std::string shown;
};

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

/// `uri` with the password of its user-info (scheme://user:PASSWORD@host...) replaced by ***.
std::string mask_password(const std::string& uri) {
  const auto scheme = uri.find("://");
  if (scheme == std::string::npos) return uri;
  const auto at = uri.find('@', scheme + 3);
  if (at == std::string::npos) return uri;
  const auto colon = uri.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return uri;
  return uri.substr(0, colon + 1) + "***" + uri.substr(at);
}

/// A value in SOCI's MySQL connect string: single-quoted, with \ and ' escaped.
std::string soci_quote(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\\' || c == '\'') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

/// Whether decimal `port` (at most 5 digits) is outside 1..65535.
bool port_out_of_range(const std::string& port) {
  const int n = std::stoi(port);
  return n < 1 || n > 65535;
}

/// Parses "mysql://user:password@host:port/database" (user and password percent-decoded, port
/// 3306 by default, host an IP, a name or [IPv6]) into SOCI's MySQL connect string.
/// @throws StoreError naming what is missing or malformed.
std::string mysql_connect_string(const std::string& uri, const std::string& shown) {
  auto bad = [&](const std::string& why) {
    return StoreError("store URI '" + shown + "': " + why +
                      " (want mysql://USER:PASSWORD@HOST:PORT/DATABASE)");
  };
  std::string_view rest(uri);
  rest.remove_prefix(rest.find("://") + 3);
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 >= rest.size()) throw bad("no database name");
  std::string_view authority = rest.substr(0, slash);
  std::string_view database = rest.substr(slash + 1);
  if (const auto q = database.find('?'); q != std::string_view::npos) {
    database = database.substr(0, q);
  }
  std::string user, password;
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view info = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const auto colon = info.find(':');
    auto u = text::percent_decode(info.substr(0, colon));
    auto p = colon == std::string_view::npos ? std::optional<std::string>("")
                                             : text::percent_decode(info.substr(colon + 1));
    if (!u || !p) throw bad("bad percent-encoding in the user or password");
    user = std::move(*u);
    password = std::move(*p);
  }
  std::string_view host = authority;
  std::string port = "3306";
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) throw bad("unclosed [ in the host");
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') throw bad("junk after ]");
      port = std::string(host.substr(close + 2));
    }
    host = host.substr(1, close - 1);
  } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    port = std::string(host.substr(colon + 1));
    host = host.substr(0, colon);
  }
  if (host.empty()) throw bad("no host");
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || port_out_of_range(port)) {
    throw bad("bad port '" + port + "'");
  }
  auto db = text::percent_decode(database);
  if (!db || db->empty()) throw bad("bad database name");
  std::string c = "db=" + soci_quote(*db) + " host=" + soci_quote(host) + " port=" + port +
                  " charset=utf8mb4 connect_timeout=" + std::to_string(kConnectTimeoutS) +
                  " read_timeout=" + std::to_string(kIoTimeoutS) +
                  " write_timeout=" + std::to_string(kIoTimeoutS);
  if (!user.empty()) c += " user=" + soci_quote(user);
  if (!password.empty()) c += " password=" + soci_quote(password);
  return c;
}

/// Parses the `store` URI. libpq reads postgresql:// URIs itself (RFC 3986, percent-encoding,
/// query parameters); sipws adds a connect timeout when none is given.
/// @throws StoreError for an unknown scheme or a malformed URI.
Target parse_target(const std::string& uri) {
  Target t;
  t.shown = mask_password(uri);
  if (uri.rfind(kSqlitePrefix, 0) == 0) {
    t.dialect = Dialect::Sqlite;
    std::string path = uri.substr(kSqlitePrefix.size());
    if (path.rfind("//", 0) == 0) path.erase(0, 2);  // tolerate "sqlite://PATH"
    if (path.empty()) throw StoreError("store URI '" + uri + "' has no path (want sqlite:PATH)");
    t.connect = path;
    return t;
  }
  if (uri.rfind("postgresql://", 0) == 0 || uri.rfind("postgres://", 0) == 0) {
    t.dialect = Dialect::Postgres;
    t.connect = uri;
    // Defaults the URI may override: give up connecting after kConnectTimeoutS, and on a
    // server that stopped answering (a dead host sends no reset) after kIoTimeoutS.
    const std::pair<const char*, std::string> defaults[] = {
        {"connect_timeout", std::to_string(kConnectTimeoutS)},
        {"tcp_user_timeout", std::to_string(kIoTimeoutS * 1000)},
        {"keepalives_idle", "10"},
        {"keepalives_interval", "5"},
        {"keepalives_count", "3"},
        {"application_name", "sipws"}};
    for (const auto& [name, value] : defaults) {
      if (uri.find(std::string(name) + '=') != std::string::npos) continue;
      t.connect += t.connect.find('?') == std::string::npos ? '?' : '&';
      t.connect += std::string(name) + '=' + value;
    }
    return t;
  }
  if (uri.rfind("mysql://", 0) == 0 || uri.rfind("mariadb://", 0) == 0) {
    t.dialect = Dialect::MySql;
    t.connect = mysql_connect_string(uri, t.shown);
    return t;
  }
  throw StoreError("unknown store URI '" + t.shown +
                   "' (key 'store': want sqlite:PATH, postgresql://... or mysql://...)");
}

/// Column types and table options of one SQL dialect, for the schema's DDL.
struct Types {
  const char* key;       ///< a short text key column (user, domain, AOR, group, alias)
  const char* long_key;  ///< a long text key column (a Contact URI)
  const char* text;      ///< any other text
  const char* big;       ///< a 64-bit integer
  const char* real;      ///< a double
  const char* id;        ///< an auto-numbered 64-bit primary key
  const char* options;   ///< after a CREATE TABLE's closing parenthesis
};

Types types_of(Dialect d) {
  switch (d) {
    case Dialect::Postgres:
      // "C": byte-wise comparison and order, as SQLite's (user parts are case-sensitive).
      return {"TEXT COLLATE \"C\"",
              "TEXT COLLATE \"C\"",
              "TEXT COLLATE \"C\"",
              "BIGINT",
              "DOUBLE PRECISION",
              "BIGSERIAL PRIMARY KEY",
              ""};
    case Dialect::MySql:
      // Key columns need a length; (255 + 512) * 4 bytes fits InnoDB's 3072-byte index limit.
      // utf8mb4_bin: case-sensitive, byte-wise, as SQLite's.
      return {"VARCHAR(255)",
              "VARCHAR(512)",
              "TEXT",
              "BIGINT",
              "DOUBLE",
              "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
              " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"};
    case Dialect::Sqlite:
      break;
  }
  return {"TEXT", "TEXT", "TEXT", "INTEGER", "REAL", "INTEGER PRIMARY KEY AUTOINCREMENT", ""};
}

/// `sql` with $KEY, $LKEY, $TEXT, $BIG, $REAL and $ID replaced by the dialect's types, and its
/// table options appended to a CREATE TABLE.
std::string ddl(Dialect d, std::string_view sql) {
  const Types t = types_of(d);
  const std::pair<std::string_view, const char*> tokens[] = {{"$LKEY", t.long_key}, {"$KEY", t.key},
                                                             {"$TEXT", t.text},     {"$BIG", t.big},
                                                             {"$REAL", t.real},     {"$ID", t.id}};
  std::string out;
  for (std::size_t i = 0; i < sql.size();) {
    bool replaced = false;
    if (sql[i] == '$') {
      for (const auto& [token, type] : tokens) {
        if (sql.substr(i, token.size()) == token) {
          out += type;
          i += token.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out.push_back(sql[i++]);
  }
  if (sql.rfind("CREATE TABLE", 0) == 0) out += t.options;
  return out;
}

/// "INSERT INTO table(cols) VALUES(:cols) <upsert on the first `keys` columns>": replaces the
/// non-key columns of an existing row (or leaves it when every column is a key).
std::string upsert(Dialect d, std::string_view table, std::initializer_list<std::string_view> cols,
                   std::size_t keys) {
  std::string names, values, key_names, update;
  std::size_t i = 0;
  for (std::string_view c : cols) {
    const std::string col(c);
    names += (i ? ", " : "") + col;
    values += (i ? ", :" : ":") + col;
    if (i < keys) {
      key_names += (i ? ", " : "") + col;
    } else {
      if (!update.empty()) update += ", ";
      update += col;
      update += d == Dialect::MySql ? " = VALUES(" + col + ")" : " = excluded." + col;
    }
    ++i;
  }
  std::string sql = "INSERT INTO " + std::string(table) + "(" + names + ") VALUES(" + values + ")";
  if (d == Dialect::MySql) {
    const std::string first(*cols.begin());
    return sql + " ON DUPLICATE KEY UPDATE " + (update.empty() ? first + " = " + first : update);
  }
  return sql + " ON CONFLICT(" + key_names + ") DO " +
         (update.empty() ? "NOTHING" : "UPDATE SET " + update);
}

/// Store::Options::layout as the CLI and errors name it.
const char* layout_name(Layout l) { return l == Layout::Kamailio ? "kamailio" : "sipws"; }

/// One SQL database through SOCI: SQLite, PostgreSQL or MySQL/MariaDB (the dialect picks the
/// few statements that differ: types, upserts, row ids, data_version). One connection, used
/// by one thread at a time; a network database that dropped the connection is reconnected on
/// the next call.
class SqlStore final : public Store {
 public:
  SqlStore(Target target, const OpenOptions& o)
      : target_(std::move(target)),
        uri_(target_.shown),
        d_(target_.dialect),
        layout_(o.layout),
        location_(o.layout == Layout::Kamailio ? "sipws_location" : "location"),
        ha1_col_(o.layout == Layout::Kamailio ? "ha1" : "ha1_md5"),
        sha_col_(o.layout == Layout::Kamailio ? "''" : "ha1_sha256") {
    try {
      connect();
      const int version = read_version();
      if (version > kSchemaVersion) {
        throw StoreError(uri_ + ": schema version " + std::to_string(version) +
                         " is newer than this sipws supports (" + std::to_string(kSchemaVersion) +
                         ")");
      }
      if (o.migrate) migrate_schema();
    } catch (const StoreError&) {
      throw;
    } catch (const std::exception& e) {
      throw StoreError("cannot open " + uri_ + ": " + e.what());
    }
  }

  SchemaStatus schema_status() override {
    SchemaStatus s;
    run("schema_status", [&] { s.version = read_version(); });
    s.latest = kSchemaVersion;
    s.backend = d_ == Dialect::Sqlite ? "sqlite" : d_ == Dialect::Postgres ? "postgresql" : "mysql";
    s.layout = layout_name(layout_);
    return s;
  }

  int migrate() override {
    int from = 0;
    run("migrate", [&] { from = migrate_schema(); });
    return from;
  }

  void put_subscriber(const Subscriber& s) override {
    run("put_subscriber", [&] {
      if (layout_ == Layout::Kamailio) {
        sql_ << upsert(d_, "subscriber", {"username", "domain", "ha1"}, 2), soci::use(s.user),
            soci::use(s.domain), soci::use(s.ha1_md5);
      } else {
        sql_ << upsert(d_, "subscriber", {"username", "domain", "ha1_md5", "ha1_sha256"}, 2),
            soci::use(s.user), soci::use(s.domain), soci::use(s.ha1_md5), soci::use(s.ha1_sha256);
      }
      bump_version();
    });
  }

  void transaction(const std::function<void()>& body) override {
    run("transaction", [&] {
      soci::transaction tr(sql_);
      in_transaction_ = true;
      try {
        body();
      } catch (...) {
        in_transaction_ = false;
        throw;
      }
      in_transaction_ = false;
      tr.commit();
    });
  }

  std::uint64_t data_version() override {
    long long v = 0;
    run("data_version", [&] {
      if (d_ == Dialect::Sqlite) {
        sql_ << "PRAGMA data_version", soci::into(v);
      } else {
        // Bumped by every change of subscriber data from any connection (bump_version).
        soci::indicator ind = soci::i_ok;
        sql_ << "SELECT MAX(version) FROM data_version", soci::into(v, ind);
        if (ind != soci::i_ok) v = 0;
      }
    });
    return static_cast<std::uint64_t>(v);
  }

  void check() override {
    run("check", [&] {
      soci::transaction tr(sql_);
      int n = 0;
      for (const std::string& table :
           {std::string("subscriber"), location_, std::string("subscriber_group"),
            std::string("call_forward"), std::string("alias"), std::string("cdrs")}) {
        sql_ << "SELECT COUNT(*) FROM (SELECT 1 FROM " << table << " LIMIT 1) probe", soci::into(n);
      }
      // A binding write that leaves nothing behind, committed: it takes the write lock, meets
      // what a real binding write would (a read-only file, a full disk when the commit appends
      // to the WAL, a trigger, a server that refuses writes) and changes no row another
      // connection could see.
      // Named: SOCI runs the statement when the expression's first temporary dies, after the
      // later ones (a temporary bound by use() would be gone by then).
      const std::string probe = "sipws-check";
      sql_ << upsert(d_, location_, {"aor", "contact"}, 2), soci::use(probe), soci::use(probe);
      sql_ << "DELETE FROM " << location_
           << " WHERE aor = 'sipws-check' AND contact = "
              "'sipws-check'";
      tr.commit();
    });
  }

  bool delete_subscriber(const std::string& user, const std::string& domain) override {
    bool existed = false;
    run("delete_subscriber", [&] {
      soci::statement st =
          (sql_.prepare << "DELETE FROM subscriber WHERE username = :u AND domain = :d",
           soci::use(user), soci::use(domain));
      st.execute(true);
      existed = st.get_affected_rows() > 0;
      if (existed) {
        // The subscriber's services go with it (groups and forwarding rules; aliases pointing
        // at the AOR stay: a number may be re-pointed to a new user).
        const std::string aor = normalize_aor(user + "@" + domain);
        sql_ << "DELETE FROM subscriber_group WHERE aor = :a", soci::use(aor);
        sql_ << "DELETE FROM call_forward WHERE aor = :a", soci::use(aor);
        bump_version();
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
      sql_ << "SELECT username, domain, " << ha1_col_ << ", " << sha_col_
           << " FROM subscriber WHERE username = :u AND domain = :d",
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
      soci::statement st =
          (sql_.prepare << "SELECT username, domain, " << ha1_col_ << ", " << sha_col_
                        << " FROM subscriber ORDER BY domain, username",
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
      // SQL again each time cost as much as executing it. An upsert changes a refreshed row in
      // place (a delete and insert is twice the b-tree work on the commit path).
      if (!put_binding_st_) {
        put_binding_st_.emplace(
            (sql_.prepare << upsert(
                 d_, location_,
                 {"aor", "contact", "instance", "reg_id", "path", "received", "expires_at", "q",
                  "call_id", "cseq", "user_agent", "node", "route"},
                 2),
             soci::use(row_.aor), soci::use(row_.contact), soci::use(row_.instance),
             soci::use(row_.reg_id), soci::use(row_.path), soci::use(row_.received),
             soci::use(row_.expires_at), soci::use(row_.q), soci::use(row_.call_id),
             soci::use(row_.cseq), soci::use(row_.user_agent), soci::use(row_.node),
             soci::use(row_.route)));
      }
      row_.aor = b.aor;
      row_.contact = b.contact;
      row_.instance = b.instance;
      row_.path = b.path;
      row_.received = b.received;
      row_.call_id = b.call_id;
      row_.user_agent = b.user_agent;
      row_.node = b.node;
      row_.route = b.route;
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
            (sql_.prepare << "DELETE FROM " << location_ << " WHERE aor = :a AND contact = :c",
             soci::use(row_.aor), soci::use(row_.contact)));
      }
      row_.aor = aor;
      row_.contact = contact;
      execute_prepared(delete_binding_st_);
    });
  }

  std::vector<BindingRecord> load_bindings() override {
    std::vector<BindingRecord> out;
    run("load_bindings", [&] { out = select_bindings(""); });
    return out;
  }

  std::vector<BindingRecord> find_bindings(const std::string& aor) override {
    std::vector<BindingRecord> out;
    run("find_bindings", [&] { out = select_bindings(aor); });
    return out;
  }

  std::size_t delete_node_bindings(const std::string& node, bool websocket_only) override {
    std::size_t n = 0;
    run("delete_node_bindings", [&] {
      soci::statement st = (sql_.prepare << "DELETE FROM " << location_ << " WHERE node = :n"
                                         << (websocket_only ? " AND received LIKE 'ws%'" : ""),
                            soci::use(node));
      st.execute(true);
      n = static_cast<std::size_t>(st.get_affected_rows());
    });
    return n;
  }

  void heartbeat(const std::string& node, const std::string& address) override {
    run("heartbeat", [&] {
      soci::statement st =
          (sql_.prepare << "UPDATE cluster_node SET beat = beat + 1, address = :a WHERE node = :n",
           soci::use(address), soci::use(node));
      st.execute(true);
      if (st.get_affected_rows() == 0) {
        sql_ << upsert(d_, "cluster_node", {"node", "address"}, 1), soci::use(node),
            soci::use(address);
      }
    });
  }

  std::vector<NodeRecord> list_nodes() override {
    std::vector<NodeRecord> out;
    run("list_nodes", [&] {
      NodeRecord n;
      long long beat = 0;
      soci::statement st =
          (sql_.prepare << "SELECT node, address, beat FROM cluster_node ORDER BY node",
           soci::into(n.node), soci::into(n.address), soci::into(beat));
      st.execute();
      while (st.fetch()) {
        n.beat = beat;
        out.push_back(n);
      }
    });
    return out;
  }

  void add_group(const std::string& aor, const std::string& group) override {
    const std::string key = normalize_aor(aor);
    run("add_group", [&] {
      sql_ << upsert(d_, "subscriber_group", {"aor", "grp"}, 2), soci::use(key), soci::use(group);
      bump_version();
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
      if (existed) bump_version();
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
      sql_ << upsert(d_, "call_forward", {"aor", "kind", "target", "ring_timeout"}, 2),
          soci::use(key), soci::use(kind), soci::use(r.target), soci::use(ring_timeout);
      bump_version();
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
      if (deleted > 0) bump_version();
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
      sql_ << upsert(d_, "alias", {"alias", "aor"}, 1), soci::use(a.alias), soci::use(target);
      bump_version();
    });
  }

  bool delete_alias(const std::string& alias) override {
    bool existed = false;
    run("delete_alias", [&] {
      soci::statement st = (sql_.prepare << "DELETE FROM alias WHERE alias = :n", soci::use(alias));
      st.execute(true);
      existed = st.get_affected_rows() > 0;
      if (existed) bump_version();
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
        long long id = 0;
        std::string sql =
            "INSERT INTO cdrs(call_id, from_uri, to_uri, request_uri, source, username, "
            "start_ms, answer_ms, end_ms, status, reason, hangup, route, gateways, "
            "forwarded, media_anchored, caller_packets, caller_bytes, callee_packets, "
            "callee_bytes) VALUES(:a, :b, :c, :d, :e, :f, :g, :h, :i, :j, :k, :l, :m, :n, "
            ":o, :p, :q, :r, :s, :t)";
        if (d_ == Dialect::Postgres) {
          sql_ << sql + " RETURNING id", soci::use(r.call_id), soci::use(r.from), soci::use(r.to),
              soci::use(r.request_uri), soci::use(r.source), soci::use(r.user), soci::use(start),
              soci::use(answer), soci::use(end), soci::use(r.status), soci::use(r.reason),
              soci::use(r.hangup), soci::use(r.route), soci::use(gateways), soci::use(forwarded),
              soci::use(anchored), soci::use(cp), soci::use(cb), soci::use(ep), soci::use(eb),
              soci::into(id);
        } else {
          sql_ << sql, soci::use(r.call_id), soci::use(r.from), soci::use(r.to),
              soci::use(r.request_uri), soci::use(r.source), soci::use(r.user), soci::use(start),
              soci::use(answer), soci::use(end), soci::use(r.status), soci::use(r.reason),
              soci::use(r.hangup), soci::use(r.route), soci::use(gateways), soci::use(forwarded),
              soci::use(anchored), soci::use(cp), soci::use(cb), soci::use(ep), soci::use(eb);
          sql_ << (d_ == Dialect::MySql ? "SELECT LAST_INSERT_ID()" : "SELECT last_insert_rowid()"),
              soci::into(id);
        }
        r.id = id;
      }
      tr.commit();
    });
  }

  std::vector<CallRecord> list_call_records(const CallRecordQuery& q, std::size_t* total) override {
    std::vector<CallRecord> out;
    run("list_call_records", [&] {
      // Every filter is bound twice: "empty / 0 = any", then the test itself.
      // PostgreSQL types a parameter from what it is compared with: a bare 0 would make the
      // times 32-bit integers.
      const bool pg = d_ == Dialect::Postgres;
      const std::string contains = pg ? "strpos" : "instr";
      const std::string zero_ms = pg ? "CAST(0 AS BIGINT)" : "0";
      const std::string where =
          " FROM cdrs WHERE (:c1 = '' OR call_id = :c2) AND (:f1 = '' OR " + contains +
          "(from_uri, :f2) > 0) AND (:t1 = '' OR " + contains +
          "(to_uri, :t2) > 0) AND (:s1 = 0 OR status = :s2) AND (:a1 = " + zero_ms +
          " OR start_ms >= :a2) AND (:u1 = " + zero_ms + " OR start_ms < :u2)";
      const long long since = q.since_ms, until = q.until_ms;
      if (total != nullptr) {
        long long n = 0;
        sql_ << "SELECT COUNT(*)" + where, soci::use(q.call_id), soci::use(q.call_id),
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
          (sql_.prepare << "SELECT id, call_id, from_uri, to_uri, request_uri, source, "
                           "username, start_ms, answer_ms, end_ms, status, reason, "
                           "hangup, route, gateways, forwarded, media_anchored, "
                           "caller_packets, caller_bytes, callee_packets, callee_bytes" +
                               where + " ORDER BY start_ms DESC, id DESC LIMIT :lim OFFSET :off",
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
      sql_ << "SELECT COUNT(*) FROM subscriber WHERE username = :u AND lower(domain) = :d",
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
  /// Opens the connection (SQLite: WAL and the busy timeout). @throws soci::soci_error.
  void connect() {
    switch (d_) {
      case Dialect::Sqlite: {
        // SOCI's connect string: values with spaces need quotes.
        std::string conn =
            "db=\"" + target_.connect + "\" timeout=" + std::to_string(kBusyTimeoutS);
        sql_.open(*soci::factory_sqlite3(), conn);
        std::string mode;
        sql_ << "PRAGMA journal_mode=WAL", soci::into(mode);
        sql_ << "PRAGMA busy_timeout=" << kBusyTimeoutS * 1000;
        break;
      }
      case Dialect::Postgres:
        sql_.open(*soci::factory_postgresql(), target_.connect);
        // Schema messages (NOTICE: relation already exists) are not errors: keep them quiet.
        sql_ << "SET client_min_messages TO WARNING";
        break;
      case Dialect::MySql:
        sql_.open(*soci::factory_mysql(), target_.connect);
        // Refuse what does not fit instead of cutting it, as the other backends do.
        sql_ << "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'";
        break;
    }
  }

  /// The schema version of the database, 0 for an empty one. @throws soci::soci_error.
  int read_version() {
    if (!table_exists("schema_version")) return 0;
    int version = 0;
    soci::indicator ind = soci::i_ok;
    sql_ << "SELECT MAX(version) FROM schema_version", soci::into(version, ind);
    return ind == soci::i_ok && sql_.got_data() ? version : 0;
  }

  /// Whether `table` exists in the connected database. @throws soci::soci_error.
  bool table_exists(const std::string& table) {
    int n = 0;
    switch (d_) {
      case Dialect::Sqlite:
        sql_ << "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = :t",
            soci::use(table), soci::into(n);
        break;
      case Dialect::Postgres:
        // pg_catalog, not information_schema: that one hides tables this user may not read,
        // and a table that is there but not granted must be an error naming the grant.
        sql_ << "SELECT COUNT(*) FROM pg_catalog.pg_class WHERE oid = to_regclass(:t)",
            soci::use(table), soci::into(n);
        break;
      case Dialect::MySql:
        sql_ << "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
                "AND table_name = :t",
            soci::use(table), soci::into(n);
        break;
    }
    return n > 0;
  }

  /// Whether `table` has a column named `column`. @throws soci::soci_error.
  bool column_exists(const std::string& table, const std::string& column) {
    int n = 0;
    if (d_ == Dialect::Sqlite) {
      sql_ << "SELECT COUNT(*) FROM pragma_table_info(:t) WHERE name = :c", soci::use(table),
          soci::use(column), soci::into(n);
    } else if (d_ == Dialect::Postgres) {
      sql_ << "SELECT COUNT(*) FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass(:t) "
              "AND attname = :c AND NOT attisdropped",
          soci::use(table), soci::use(column), soci::into(n);
    } else {
      sql_ << "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = :t AND "
              "column_name = :c AND table_schema = "
           << (d_ == Dialect::Postgres ? "current_schema()" : "DATABASE()"),
          soci::use(table), soci::use(column), soci::into(n);
    }
    return n > 0;
  }

  /// Brings the schema to kSchemaVersion in one transaction, serialised between processes
  /// (two nodes starting on one empty database). @returns the version it found.
  /// @throws StoreError for a database newer than this sipws, or a kamailio layout without
  /// Kamailio's subscriber table; soci::soci_error for a failed statement.
  int migrate_schema() {
    // SQLite: take the write lock first. A deferred transaction that reads, then writes, fails
    // at once ("database is locked", no busy wait) when another process does the same.
    struct Tx {
      SqlStore& s;
      bool done = false;
      explicit Tx(SqlStore& store) : s(store) {
        if (s.d_ == Dialect::Sqlite) {
          s.sql_ << "BEGIN IMMEDIATE";
        } else {
          s.sql_.begin();
        }
      }
      void commit() {
        s.sql_.commit();
        done = true;
      }
      ~Tx() {
        if (done) return;
        try {
          s.sql_.rollback();
        } catch (const std::exception&) {
          // the connection is gone: so is the transaction
        }
      }
    } tr(*this);
    if (d_ == Dialect::Postgres) sql_ << "SELECT pg_advisory_xact_lock(7118)";
    if (d_ == Dialect::MySql) {
      int got = 0;
      sql_ << "SELECT GET_LOCK('sipws_schema', 30)", soci::into(got);
    }
    struct Unlock {
      SqlStore& s;
      ~Unlock() {
        if (s.d_ != Dialect::MySql) return;
        try {
          int released = 0;
          s.sql_ << "SELECT RELEASE_LOCK('sipws_schema')", soci::into(released);
        } catch (const std::exception&) {
          // the lock goes with the connection anyway
        }
      }
    } unlock{*this};
    const int version = read_version();
    if (version > kSchemaVersion) {
      throw StoreError(uri_ + ": schema version " + std::to_string(version) +
                       " is newer than this sipws supports (" + std::to_string(kSchemaVersion) +
                       ")");
    }
    if (layout_ == Layout::Kamailio && !kamailio_subscriber_ok()) {
      throw StoreError(uri_ +
                       ": store_layout kamailio needs Kamailio's subscriber table (username, "
                       "domain, ha1, ha1b); create it with kamdbctl or set store_layout to sipws");
    }
    sql_ << ddl(d_, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)");
    // Every step is idempotent (IF NOT EXISTS, a rename only when the old name is there), so a
    // database whose version row is missing or behind its tables is repaired too.
    create_v1_tables();
    create_v2_tables();
    create_v3_tables();
    migrate_v4();
    migrate_v5();
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
    return version;
  }

  /// Kamailio's subscriber table is there with the columns sipws reads.
  bool kamailio_subscriber_ok() {
    return table_exists("subscriber") && column_exists("subscriber", "username") &&
           column_exists("subscriber", "domain") && column_exists("subscriber", "ha1");
  }

  void create_v1_tables() {
    if (layout_ == Layout::Sipws) {
      sql_ << ddl(d_,
                  "CREATE TABLE IF NOT EXISTS subscriber("
                  "username $KEY NOT NULL, domain $KEY NOT NULL, "
                  "ha1_md5 $KEY NOT NULL DEFAULT '', ha1_sha256 $KEY NOT NULL DEFAULT '', "
                  "PRIMARY KEY(username, domain))");
    }
    sql_ << ddl(d_, "CREATE TABLE IF NOT EXISTS " + location_ +
                        "(aor $KEY NOT NULL, contact $LKEY NOT NULL, "
                        "instance $KEY NOT NULL DEFAULT '', "
                        "reg_id $BIG NOT NULL DEFAULT 0, path $TEXT NOT NULL DEFAULT '', "
                        "received $KEY NOT NULL DEFAULT '', expires_at $BIG NOT NULL DEFAULT 0, "
                        "q $REAL NOT NULL DEFAULT 1.0, call_id $KEY NOT NULL DEFAULT '', "
                        "cseq $BIG NOT NULL DEFAULT 0, user_agent $TEXT NOT NULL DEFAULT '', "
                        "PRIMARY KEY(aor, contact))");
  }

  /// Version 2: per-subscriber services (groups, call forwarding, aliases).
  void create_v2_tables() {
    sql_ << ddl(d_,
                "CREATE TABLE IF NOT EXISTS subscriber_group("
                "aor $KEY NOT NULL, grp $KEY NOT NULL, PRIMARY KEY(aor, grp))");
    sql_ << ddl(d_,
                "CREATE TABLE IF NOT EXISTS call_forward("
                "aor $KEY NOT NULL, kind $KEY NOT NULL, target $TEXT NOT NULL, "
                "ring_timeout $BIG NOT NULL DEFAULT 0, PRIMARY KEY(aor, kind))");
    sql_ << ddl(d_,
                "CREATE TABLE IF NOT EXISTS alias("
                "alias $KEY NOT NULL PRIMARY KEY, aor $TEXT NOT NULL)");
  }

  /// Version 3: call records (issue 15). Lists (gateways, forwarded) are kept one per line.
  void create_v3_tables() {
    sql_ << ddl(d_,
                "CREATE TABLE IF NOT EXISTS cdrs("
                "id $ID, call_id $KEY NOT NULL, "
                "from_uri $TEXT NOT NULL, to_uri $TEXT NOT NULL, request_uri $TEXT NOT NULL, "
                "source $TEXT NOT NULL, username $TEXT NOT NULL, start_ms $BIG NOT NULL, "
                "answer_ms $BIG NOT NULL, end_ms $BIG NOT NULL, status INTEGER NOT NULL, "
                "reason $TEXT NOT NULL, hangup $TEXT NOT NULL, route $TEXT NOT NULL, "
                "gateways $TEXT NOT NULL, forwarded $TEXT NOT NULL, "
                "media_anchored INTEGER NOT NULL, "
                "caller_packets $BIG NOT NULL, caller_bytes $BIG NOT NULL, "
                "callee_packets $BIG NOT NULL, callee_bytes $BIG NOT NULL)");
    sql_ << "CREATE INDEX IF NOT EXISTS cdrs_start ON cdrs(start_ms)";
    sql_ << "CREATE INDEX IF NOT EXISTS cdrs_call_id ON cdrs(call_id)";
  }

  /// Version 4: the `user` columns of a version 1-3 SQLite file renamed `username` (the only
  /// backend that had them), and the data_version row that other backends bump.
  void migrate_v4() {
    for (const char* table : {"subscriber", "cdrs"}) {
      if (d_ == Dialect::Sqlite && layout_ == Layout::Sipws && column_exists(table, "user")) {
        sql_ << "ALTER TABLE " << table << " RENAME COLUMN user TO username";
      }
    }
    sql_ << ddl(d_, "CREATE TABLE IF NOT EXISTS data_version(version $BIG NOT NULL)");
    int rows = 0;
    sql_ << "SELECT COUNT(*) FROM data_version", soci::into(rows);
    if (rows == 0) sql_ << "INSERT INTO data_version(version) VALUES(1)";
  }

  /// Version 5: cluster mode (docs/cluster.md): which node holds each binding and the Route
  /// that reaches it through that node; the nodes and their heartbeats.
  void migrate_v5() {
    for (const char* column : {"node", "route"}) {
      if (!column_exists(location_, column)) {
        sql_ << ddl(d_, "ALTER TABLE " + location_ + " ADD COLUMN " + column + " " +
                            (std::string(column) == "node" ? "$KEY" : "$TEXT") +
                            " NOT NULL DEFAULT ''");
      }
    }
    sql_ << ddl(d_,
                "CREATE TABLE IF NOT EXISTS cluster_node(node $KEY NOT NULL PRIMARY KEY, "
                "address $TEXT NOT NULL, beat $BIG NOT NULL DEFAULT 0)");
  }

  /// Marks subscriber data changed for every connection (data_version()); SQLite counts
  /// commits itself. Call inside run(), after the change.
  void bump_version() {
    if (d_ != Dialect::Sqlite) sql_ << "UPDATE data_version SET version = version + 1";
  }

  /// The bindings of `aor` ("" = every binding) ordered by aor, contact. Call inside run().
  std::vector<BindingRecord> select_bindings(const std::string& aor) {
    std::vector<BindingRecord> out;
    BindingRecord b;
    long long reg_id = 0, expires_at = 0, cseq = 0;
    double q = 1.0;
    const std::string query =
        "SELECT aor, contact, instance, reg_id, path, received, expires_at, q, call_id, cseq, "
        "user_agent, node, route FROM " +
        location_ + (aor.empty() ? "" : " WHERE aor = :a") + " ORDER BY aor, contact";
    soci::statement st(sql_);
    st.exchange(soci::into(b.aor));
    st.exchange(soci::into(b.contact));
    st.exchange(soci::into(b.instance));
    st.exchange(soci::into(reg_id));
    st.exchange(soci::into(b.path));
    st.exchange(soci::into(b.received));
    st.exchange(soci::into(expires_at));
    st.exchange(soci::into(q));
    st.exchange(soci::into(b.call_id));
    st.exchange(soci::into(cseq));
    st.exchange(soci::into(b.user_agent));
    st.exchange(soci::into(b.node));
    st.exchange(soci::into(b.route));
    if (!aor.empty()) st.exchange(soci::use(aor));
    st.alloc();
    st.prepare(query);
    st.define_and_bind();
    st.execute();
    while (st.fetch()) {
      b.reg_id = static_cast<std::uint32_t>(reg_id);
      b.expires_at = expires_at;
      b.q = static_cast<float>(q);
      b.cseq = static_cast<std::uint32_t>(cseq);
      out.push_back(b);
    }
    return out;
  }

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

  /// Runs `fn` (statements of one operation), turning any failure into StoreError naming
  /// `what` and the database. A network database whose connection failed is connected again
  /// first. Inside transaction() on PostgreSQL the statements run under a savepoint, so that a
  /// failed operation does not abort the others of its transaction (as on SQLite and MySQL).
  template <class Fn>
  void run(const char* what, Fn&& fn) {
    try {
      if (broken_) reconnect();
      if (in_transaction_ && d_ == Dialect::Postgres) {
        sql_ << "SAVEPOINT op";
        try {
          fn();
        } catch (...) {
          try {
            sql_ << "ROLLBACK TO SAVEPOINT op";
          } catch (const std::exception&) {
            // the connection is gone: the transaction fails at commit
          }
          throw;
        }
        sql_ << "RELEASE SAVEPOINT op";
      } else {
        fn();
      }
    } catch (const StoreError&) {
      throw;
    } catch (const std::exception& e) {
      if (d_ != Dialect::Sqlite && !in_transaction_ && !connected()) broken_ = true;
      throw StoreError(std::string(what) + " on " + uri_ + ": " + e.what());
    }
  }

  /// Whether the connection to a database server still works. Never throws.
  bool connected() noexcept {
    try {
      return sql_.is_connected();
    } catch (...) {
      return false;
    }
  }

  /// Opens the connection again (the server restarted or was unreachable); the prepared
  /// statements belong to the old one. @throws soci::soci_error while it is still down.
  void reconnect() {
    put_binding_st_.reset();
    delete_binding_st_.reset();
    sql_.close();
    connect();
    broken_ = false;
    log::store().info("store: reconnected to {}", uri_);
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

  Target target_;
  std::string uri_;  ///< as shown in errors and logs: the password masked
  Dialect d_;
  Layout layout_;
  std::string location_;  ///< the bindings table: "location", or "sipws_location" beside Kamailio's
  std::string ha1_col_;   ///< the subscriber's MD5 HA1 column
  std::string sha_col_;   ///< the subscriber's SHA-256 HA1 column, or '' (Kamailio has none)
  bool broken_ = false;   ///< the connection failed: reconnect before the next statement
  bool in_transaction_ = false;
  soci::session sql_;
  /// The location row that the prepared binding statements read (bound by reference).
  struct Row {
    std::string aor, contact, instance, path, received, call_id, user_agent, node, route;
    long long reg_id = 0, expires_at = 0, cseq = 0;
    double q = 1.0;
  } row_;
  /// Prepared on first use, after the schema exists; destroyed before sql_ (declared after).
  std::optional<soci::statement> put_binding_st_;
  std::optional<soci::statement> delete_binding_st_;
};

std::unique_ptr<Store> open_store(const std::string& uri, const OpenOptions& o) {
  Target target = parse_target(uri);
  if (target.dialect == Dialect::Sqlite && target.connect != ":memory:") {
    std::filesystem::path parent = std::filesystem::path(target.connect).parent_path();
    if (!parent.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec) {
        throw StoreError("cannot create directory " + parent.string() + " for " + target.connect +
                         ": " + ec.message());
      }
    }
  }
  return std::make_unique<SqlStore>(std::move(target), o);
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

std::unique_ptr<Store> Store::open(const std::string& uri, const OpenOptions& options) {
  return open_store(uri, options);
}

std::string Store::shown_uri(const std::string& uri) { return mask_password(uri); }

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
  std::chrono::steady_clock::time_point next_check{};  // under mu
  std::chrono::milliseconds check_interval = kCheckInterval;
  std::thread worker;

  /// The read connections (store_pool): each reader thread owns one Store and takes reads from
  /// read_queue, in parallel with the worker. None: reads run on the worker, in queue order
  /// with the writes.
  struct Reader {
    std::unique_ptr<Store> store;
    std::thread thread;
  };
  std::vector<Reader> readers;
  std::deque<std::function<void(Store&)>> read_queue;  // under mu
  std::condition_variable cv_read;

  /// A reader thread: runs reads until stopped and its queue is drained.
  void read_loop(Store& own) {
    for (;;) {
      std::function<void(Store&)> job;
      {
        std::unique_lock lock(mu);
        cv_read.wait(lock, [&] { return stop || !read_queue.empty(); });
        if (read_queue.empty()) return;  // stopped and drained
        job = std::move(read_queue.front());
        read_queue.pop_front();
      }
      job(own);
      {
        std::lock_guard lock(mu);
        --pending;
      }
      cv_idle.notify_all();
    }
  }

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
      const bool poll_due = polling && now >= next_poll;
      const bool check_due = checking && now >= next_check;
      if (poll_due || check_due) {
        lock.unlock();
        if (poll_due) {
          poll();
          next_poll = std::chrono::steady_clock::now() + poll_interval;
        }
        if (check_due) check();
        lock.lock();
        if (check_due) next_check = std::chrono::steady_clock::now() + check_interval;
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

  /// Records the store's health (health()); logs each change once. Worker and reader threads
  /// (never with `mu` held).
  void set_health(bool ok, std::string error) {
    if (ok && !unhealthy.load(std::memory_order_relaxed)) return;  // the common case: no lock
    bool became_unhealthy = false;
    {
      std::lock_guard lock(health_mu);
      if (ok) {
        log::store().info("store: healthy again (was: {})", health.error);
      } else if (health.ok) {
        log::store().warn("store: unhealthy: {}; checking it every {} ms", error,
                          check_interval.count());
        became_unhealthy = true;
      }
      health.ok = ok;
      health.error = std::move(error);
      unhealthy.store(!ok, std::memory_order_relaxed);
    }
    if (became_unhealthy) {
      {
        std::lock_guard lock(mu);
        next_check = std::chrono::steady_clock::now() + check_interval;
      }
      cv_work.notify_one();  // an idle worker starts checking
    }
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
  /// `pooled`: may run on a read connection (a pure read); false keeps it on the writer.
  template <class T, class Query>
  void read(std::string what, Query query, std::function<void(Result<T>)> done,
            bool pooled = true) {
    // The answer goes back to the thread that asked (its shard's io_context).
    const Post* reply = tl_reply != nullptr ? tl_reply : &post;
    std::function<void(Store&)> job = [this, reply, what = std::move(what),
                                       query = std::move(query),
                                       done = std::move(done)](Store& db) mutable {
      Result<T> result = Unexpected(make_error_code(StoreErrc::Unavailable));
      try {
        result = query(db);
      } catch (const std::exception& e) {
        read_errors.inc();
        log::store().error("store: {} failed: {}", what, e.what());
        set_health(false, e.what());
      }
      (*reply)([done = std::move(done), result = std::move(result)]() mutable {
        done(std::move(result));
      });
    };
    if (readers.empty() || !pooled) {
      enqueue([this, job = std::move(job)]() mutable {
        job(*store);
        return true;
      });
      return;
    }
    {
      std::lock_guard lock(mu);
      read_queue.push_back(std::move(job));
      ++pending;
    }
    cv_read.notify_one();
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
                       std::chrono::milliseconds check_interval, const ReadPool& pool)
    : impl_(std::make_unique<Impl>()) {
  impl_->check_interval = std::max(check_interval, std::chrono::milliseconds(1));
  impl_->store = std::move(store);
  impl_->post = std::move(post);
  // Every read connection is open before any thread starts: a failure leaves nothing running.
  for (std::size_t i = 0; i < pool.size && pool.open; ++i) {
    impl_->readers.push_back({pool.open(), {}});
  }
  for (auto& r : impl_->readers) {
    r.thread = std::thread([impl = impl_.get(), db = r.store.get()] { impl->read_loop(*db); });
  }
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
  impl_->cv_read.notify_all();
  for (auto& r : impl_->readers) r.thread.join();
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

void AsyncStore::find_bindings(std::string aor,
                               std::function<void(Result<std::vector<BindingRecord>>)> done) {
  std::string what = "find_bindings " + aor;
  impl_->read<std::vector<BindingRecord>>(
      std::move(what), [aor = std::move(aor)](Store& s) { return s.find_bindings(aor); },
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
      [done = std::move(done)](Result<bool> r) { done(r ? std::error_code() : r.error()); },
      /*pooled=*/false);
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
