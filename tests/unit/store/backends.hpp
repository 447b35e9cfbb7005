#pragma once
// The store tests that hold for every backend run on each: SQLite (a file in a temporary
// folder), and a fresh database on a real PostgreSQL and a real MariaDB server that the test
// process starts itself (db_servers.hpp; skipped with the reason when their programs are
// missing, failed when SIPWS_REQUIRE_DB=1). Use:
//
//   SIPWS_STORE_BACKENDS(StoreOnEachBackend);
//   TEST_P(StoreOnEachBackend, Something) {
//     const test::BackendDir& dir = backend_dir();
//     auto db = Store::open(dir.uri());
//   }
//
// `dir.uri(name)` names one database of the test (the same name, the same database), and
// `dir` damages it from outside as another client would (a dropped table, a refusing trigger).

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "db_servers.hpp"
#include "store_fixtures.hpp"

namespace sipws::store::test {

enum class Backend { Sqlite, Postgres, MariaDb };

/// "sqlite", "postgresql", "mariadb": the suffix of each test's name.
inline std::string backend_name(Backend b) {
  switch (b) {
    case Backend::Postgres:
      return "postgresql";
    case Backend::MariaDb:
      return "mariadb";
    case Backend::Sqlite:
      break;
  }
  return "sqlite";
}

/// The databases of one test on one backend.
class BackendDir {
 public:
  BackendDir(Backend backend, DbServer* server) : backend_(backend), server_(server) {}

  /// The URI of the test's database `name`: a file in a temporary folder, or a database created
  /// on the server on first use.
  std::string uri(const std::string& name = "sipws.db") const {
    if (backend_ == Backend::Sqlite) return files_.uri(name);
    auto it = databases_.find(name);
    if (it == databases_.end()) it = databases_.emplace(name, server_->create_database()).first;
    return it->second;
  }

  /// Runs `sql` on database `name` from a connection of its own. A failure fails the test.
  /// @returns on a server, the rows (DbServer::exec); on SQLite, "".
  std::string exec(const std::string& sql, const std::string& name = "sipws.db") const {
    if (backend_ == Backend::Sqlite) {
      exec_sql(files_.file(name), sql);
      return "";
    }
    const std::string u = uri(name);
    return server_->exec(u.substr(u.rfind('/') + 1), sql);
  }

  /// From now on the database refuses inserts into `location` (whose contact is LIKE `like`,
  /// if given) with the error "disk full", as a full disk or a read-only server would.
  void refuse_location_inserts(const std::string& like = "") const {
    switch (backend_) {
      case Backend::Sqlite:
        exec("CREATE TRIGGER refuse BEFORE INSERT ON location " +
             (like.empty() ? std::string() : "WHEN NEW.contact LIKE '" + like + "' ") +
             "BEGIN SELECT RAISE(ABORT, 'disk full'); END");
        break;
      case Backend::Postgres:
        exec(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$");
        exec("CREATE TRIGGER refuse BEFORE INSERT ON location FOR EACH ROW " +
             (like.empty() ? std::string() : "WHEN (NEW.contact LIKE '" + like + "') ") +
             "EXECUTE FUNCTION refuse()");
        break;
      case Backend::MariaDb:
        // The client splits its input at ';': the compound body needs another delimiter.
        exec("DELIMITER //\nCREATE TRIGGER refuse BEFORE INSERT ON location FOR EACH ROW " +
             (like.empty() ? std::string("SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'disk full'")
                           : "BEGIN IF NEW.contact LIKE '" + like +
                                 "' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'disk full'; "
                                 "END IF; END") +
             " //");
        break;
    }
  }

  /// Undoes refuse_location_inserts().
  void allow_location_inserts() const {
    exec(backend_ == Backend::Postgres ? "DROP TRIGGER refuse ON location" : "DROP TRIGGER refuse");
  }

  Backend backend() const { return backend_; }

 private:
  Backend backend_;
  DbServer* server_;
  TempDir files_;
  mutable std::map<std::string, std::string> databases_;
};

/// The fixture of SIPWS_STORE_BACKENDS: `dir` is this test's databases on GetParam().
class AnyBackend : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::Sqlite) {
      dir_.emplace(Backend::Sqlite, nullptr);
      return;
    }
    SIPWS_DB_SERVER_OR_SKIP(server,
                            GetParam() == Backend::Postgres ? DbKind::Postgres : DbKind::MariaDb);
    dir_.emplace(GetParam(), server);
  }
  /// Valid once SetUp() ran (a skipped test never reaches its body).
  const BackendDir& backend_dir() const { return *dir_; }

 private:
  std::optional<BackendDir> dir_;
};

}  // namespace sipws::store::test

/// Declares the fixture `Name` and runs its tests (TEST_P(Name, ...)) on SQLite, PostgreSQL and
/// MariaDB; a test body takes its databases with `const test::BackendDir& dir = backend_dir();`.
#define SIPWS_STORE_BACKENDS(Name)                                              \
  class Name : public ::sipws::store::test::AnyBackend {};                      \
  INSTANTIATE_TEST_SUITE_P(                                                     \
      Backends, Name,                                                           \
      ::testing::Values(::sipws::store::test::Backend::Sqlite,                  \
                        ::sipws::store::test::Backend::Postgres,                \
                        ::sipws::store::test::Backend::MariaDb),                \
      [](const ::testing::TestParamInfo<::sipws::store::test::Backend>& info) { \
        return ::sipws::store::test::backend_name(info.param);                  \
      })
