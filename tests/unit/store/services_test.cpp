// Per-subscriber services in the store (schema version 2): groups, call forwarding rules,
// aliases, user_services, the in-place migration of a version-1 file, and AsyncStore's reads.
// Real SQLite files in a temporary directory.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "backends.hpp"
#include "common/counters.hpp"
#include "store/store.hpp"
#include "store_fixtures.hpp"

namespace sipws::store {
namespace {

SIPWS_STORE_BACKENDS(AsyncStoreServicesOnEachBackend);
SIPWS_STORE_BACKENDS(StoreAliasesOnEachBackend);
SIPWS_STORE_BACKENDS(StoreForwardsOnEachBackend);
SIPWS_STORE_BACKENDS(StoreGroupsOnEachBackend);
SIPWS_STORE_BACKENDS(StoreUserServicesOnEachBackend);

using test::FaultyStore;
using test::TempDir;
using test::TestQueue;

Subscriber sub(std::string user, std::string domain) {
  return Subscriber{std::move(user), std::move(domain), "m", "s"};
}

ForwardRule rule(std::string aor, ForwardKind kind, std::string target,
                 std::uint32_t ring_timeout_s = 0) {
  return ForwardRule{std::move(aor), kind, std::move(target), ring_timeout_s};
}

/// "aor group" per membership, in the order returned.
std::vector<std::string> lines(const std::vector<GroupMembership>& gs) {
  std::vector<std::string> out;
  out.reserve(gs.size());
  for (const auto& g : gs) out.push_back(g.aor + " " + g.group);
  return out;
}

/// "aor kind target[ ring]" per rule, in the order returned.
std::vector<std::string> lines(const std::vector<ForwardRule>& rs) {
  std::vector<std::string> out;
  out.reserve(rs.size());
  for (const auto& r : rs) {
    out.push_back(r.aor + " " + std::string(forward_kind_name(r.kind)) + " " + r.target +
                  (r.ring_timeout_s ? " " + std::to_string(r.ring_timeout_s) : ""));
  }
  return out;
}

using Lines = std::vector<std::string>;

TEST(ForwardKind, NamesRoundTripAndOthersAreRejected) {
  for (ForwardKind k : {ForwardKind::Unconditional, ForwardKind::Busy, ForwardKind::NoAnswer}) {
    EXPECT_EQ(parse_forward_kind(forward_kind_name(k)), k);
  }
  EXPECT_EQ(forward_kind_name(ForwardKind::Unconditional), "unconditional");
  EXPECT_EQ(forward_kind_name(ForwardKind::Busy), "busy");
  EXPECT_EQ(forward_kind_name(ForwardKind::NoAnswer), "no_answer");
  for (std::string_view bad : {"", "Busy", "no-answer", "noanswer", "cfu", "busy "}) {
    EXPECT_FALSE(parse_forward_kind(bad)) << bad;
  }
}

TEST_P(StoreGroupsOnEachBackend, AddIsIdempotentListIsSortedDeleteSaysIfItExisted) {
  const test::BackendDir& dir = backend_dir();
  auto db = Store::open(dir.uri());
  EXPECT_TRUE(db->list_groups("").empty());

  db->add_group("bob@example.com", "local");
  db->add_group("alice@example.com", "local");
  db->add_group("alice@example.com", "int");
  db->add_group("alice@example.com", "ld");
  db->add_group("alice@example.com", "ld");  // again: no second row, no error

  EXPECT_EQ(lines(db->list_groups("")),
            (Lines{"alice@example.com int", "alice@example.com ld", "alice@example.com local",
                   "bob@example.com local"}));
  EXPECT_EQ(lines(db->list_groups("alice@example.com")),
            (Lines{"alice@example.com int", "alice@example.com ld", "alice@example.com local"}));
  EXPECT_TRUE(db->list_groups("carol@example.com").empty());

  EXPECT_TRUE(db->delete_group("alice@example.com", "ld"));
  EXPECT_FALSE(db->delete_group("alice@example.com", "ld"));
  EXPECT_FALSE(db->delete_group("carol@example.com", "local"));
  EXPECT_EQ(lines(db->list_groups("alice@example.com")),
            (Lines{"alice@example.com int", "alice@example.com local"}));
  EXPECT_EQ(db->list_groups("bob@example.com").size(), 1u);  // other AORs untouched
}

TEST_P(StoreGroupsOnEachBackend, DomainIsLowerCasedUserAndGroupAreNot) {
  const test::BackendDir& dir = backend_dir();
  auto db = Store::open(dir.uri());
  db->add_group("Alice@EXAMPLE.com", "LD");
  db->add_group("Alice@example.COM", "LD");  // the same membership
  EXPECT_EQ(lines(db->list_groups("")), (Lines{"Alice@example.com LD"}));
  EXPECT_EQ(db->list_groups("Alice@Example.Com").size(), 1u);
  EXPECT_TRUE(db->list_groups("alice@example.com").empty());  // user part is case-sensitive
  EXPECT_FALSE(db->delete_group("Alice@example.com", "ld"));  // group names too
  EXPECT_TRUE(db->delete_group("Alice@EXAMPLE.COM", "LD"));
}

TEST_P(StoreForwardsOnEachBackend, PutReplacesPerKindAndListIsSortedByAorThenKind) {
  const test::BackendDir& dir = backend_dir();
  auto db = Store::open(dir.uri());
  EXPECT_TRUE(db->list_forwards("").empty());

  db->put_forward(rule("bob@example.com", ForwardKind::Busy, "voicemail"));
  db->put_forward(rule("alice@example.com", ForwardKind::NoAnswer, "sip:carol@example.com", 20));
  db->put_forward(rule("alice@example.com", ForwardKind::Unconditional, "tel:+15551230001"));
  db->put_forward(rule("alice@example.com", ForwardKind::Busy, "voicemail"));

  // Kinds in enum order (unconditional, busy, no_answer), not alphabetical.
  EXPECT_EQ(
      lines(db->list_forwards("")),
      (Lines{"alice@example.com unconditional tel:+15551230001", "alice@example.com busy voicemail",
             "alice@example.com no_answer sip:carol@example.com 20",
             "bob@example.com busy voicemail"}));

  // Same (aor, kind): replaced, target and ring timeout both.
  db->put_forward(rule("alice@example.com", ForwardKind::NoAnswer, "voicemail", 45));
  db->put_forward(rule("ALICE@example.com", ForwardKind::Busy, "sip:x@example.com"));  // new AOR
  db->put_forward(rule("alice@EXAMPLE.COM", ForwardKind::Unconditional, "sips:d@example.com"));
  EXPECT_EQ(
      lines(db->list_forwards("alice@example.com")),
      (Lines{"alice@example.com unconditional sips:d@example.com",
             "alice@example.com busy voicemail", "alice@example.com no_answer voicemail 45"}));
  EXPECT_EQ(lines(db->list_forwards("ALICE@Example.com")),
            (Lines{"ALICE@example.com busy sip:x@example.com"}));
  EXPECT_TRUE(db->list_forwards("carol@example.com").empty());

  // The maximum ring timeout round-trips unchanged.
  db->put_forward(rule("max@example.com", ForwardKind::NoAnswer, "voicemail", 4294967295u));
  EXPECT_EQ(db->list_forwards("max@example.com").at(0).ring_timeout_s, 4294967295u);
}

TEST_P(StoreForwardsOnEachBackend, DeleteOneKindOrEveryRuleOfAnAor) {
  const test::BackendDir& dir = backend_dir();
  auto db = Store::open(dir.uri());
  db->put_forward(rule("alice@example.com", ForwardKind::Unconditional, "voicemail"));
  db->put_forward(rule("alice@example.com", ForwardKind::Busy, "voicemail"));
  db->put_forward(rule("alice@example.com", ForwardKind::NoAnswer, "voicemail", 30));
  db->put_forward(rule("bob@example.com", ForwardKind::Busy, "voicemail"));

  EXPECT_EQ(db->delete_forward("alice@example.com", ForwardKind::Busy), 1u);
  EXPECT_EQ(db->delete_forward("alice@example.com", ForwardKind::Busy), 0u);
  EXPECT_EQ(lines(db->list_forwards("alice@example.com")),
            (Lines{"alice@example.com unconditional voicemail",
                   "alice@example.com no_answer voicemail 30"}));

  EXPECT_EQ(db->delete_forward("alice@EXAMPLE.com", std::nullopt), 2u);
  EXPECT_EQ(db->delete_forward("alice@example.com", std::nullopt), 0u);
  EXPECT_TRUE(db->list_forwards("alice@example.com").empty());
  EXPECT_EQ(lines(db->list_forwards("")), (Lines{"bob@example.com busy voicemail"}));
}

TEST_P(StoreAliasesOnEachBackend, PutFindReplaceListDelete) {
  const test::BackendDir& dir = backend_dir();
  auto db = Store::open(dir.uri());
  EXPECT_FALSE(db->find_alias("+15551230001"));
  EXPECT_TRUE(db->list_aliases().empty());

  db->put_alias(Alias{"+15551230001", "alice@Example.COM"});
  db->put_alias(Alias{"100", "bob@example.com"});
  db->put_alias(Alias{"sales", "carol@example.com"});  // target need not be a subscriber
  EXPECT_EQ(db->find_alias("+15551230001"), "alice@example.com");
  EXPECT_FALSE(db->find_alias("15551230001"));  // exact match
  EXPECT_FALSE(db->find_alias("Sales"));        // user parts are case-sensitive

  db->put_alias(Alias{"100", "dave@example.com"});  // replaced
  EXPECT_EQ(db->find_alias("100"), "dave@example.com");

  const auto all = db->list_aliases();
  ASSERT_EQ(all.size(), 3u);  // sorted by alias
  EXPECT_EQ(all[0].alias, "+15551230001");
  EXPECT_EQ(all[1].alias, "100");
  EXPECT_EQ(all[1].aor, "dave@example.com");
  EXPECT_EQ(all[2].alias, "sales");

  EXPECT_TRUE(db->delete_alias("100"));
  EXPECT_FALSE(db->delete_alias("100"));
  EXPECT_FALSE(db->find_alias("100"));
  EXPECT_EQ(db->list_aliases().size(), 2u);
}

TEST_P(StoreUserServicesOnEachBackend, SubscriberWithGroupsAndRulesInOneAnswer) {
  const test::BackendDir& dir = backend_dir();
  auto db = Store::open(dir.uri());
  db->put_subscriber(sub("alice", "example.com"));
  db->add_group("alice@example.com", "local");
  db->add_group("alice@example.com", "int");
  db->add_group("bob@example.com", "ld");  // someone else's
  db->put_forward(rule("alice@example.com", ForwardKind::NoAnswer, "voicemail", 25));
  db->put_forward(rule("alice@example.com", ForwardKind::Busy, "sip:carol@example.com"));
  db->put_forward(rule("bob@example.com", ForwardKind::Busy, "voicemail"));

  const UserServices u = db->user_services("alice", "EXAMPLE.com");  // domain: any case
  EXPECT_TRUE(u.subscriber);
  EXPECT_EQ(u.groups, (Lines{"int", "local"}));
  EXPECT_EQ(lines(u.forwards), (Lines{"alice@example.com busy sip:carol@example.com",
                                      "alice@example.com no_answer voicemail 25"}));

  EXPECT_TRUE(db->user_services("alice", "example.com").subscriber);
  EXPECT_FALSE(db->user_services("Alice", "example.com").subscriber);  // user is case-sensitive
}

TEST_P(StoreUserServicesOnEachBackend, DeletingASubscriberDeletesItsGroupsAndRulesButNotAliases) {
  const test::BackendDir& dir = backend_dir();
  auto db = Store::open(dir.uri());
  db->put_subscriber(sub("alice", "Example.com"));
  db->put_subscriber(sub("bob", "example.com"));
  db->add_group("alice@example.com", "ld");
  db->add_group("bob@example.com", "ld");
  db->put_forward(rule("alice@example.com", ForwardKind::Busy, "voicemail"));
  db->put_alias(Alias{"+15551230001", "alice@example.com"});
  ASSERT_TRUE(db->delete_subscriber("alice", "Example.com"));
  EXPECT_EQ(lines(db->list_groups("")), (Lines{"bob@example.com ld"}));
  EXPECT_TRUE(db->list_forwards("").empty());
  EXPECT_EQ(db->find_alias("+15551230001"), "alice@example.com");
}

TEST_P(StoreUserServicesOnEachBackend, NonSubscriberGetsItsRowsButNoSubscriberFlag) {
  const test::BackendDir& dir = backend_dir();
  auto db = Store::open(dir.uri());
  const UserServices none = db->user_services("nobody", "example.com");
  EXPECT_FALSE(none.subscriber);
  EXPECT_TRUE(none.groups.empty());
  EXPECT_TRUE(none.forwards.empty());

  // Rows left behind for an AOR that is not (or no longer) a subscriber are still reported;
  // the flag tells the caller.
  db->add_group("gone@example.com", "ld");
  db->put_forward(rule("gone@example.com", ForwardKind::Unconditional, "voicemail"));
  const UserServices gone = db->user_services("gone", "example.com");
  EXPECT_FALSE(gone.subscriber);
  EXPECT_EQ(gone.groups, (Lines{"ld"}));
  EXPECT_EQ(gone.forwards.size(), 1u);
}

TEST_P(StoreUserServicesOnEachBackend, ADaemonSeesTheCliChangesOnItsNextRead) {
  const test::BackendDir& dir = backend_dir();
  auto daemon = Store::open(dir.uri());
  auto cli = Store::open(dir.uri());
  cli->put_subscriber(sub("alice", "example.com"));
  EXPECT_TRUE(daemon->user_services("alice", "example.com").forwards.empty());
  cli->put_forward(rule("alice@example.com", ForwardKind::Unconditional, "voicemail"));
  cli->add_group("alice@example.com", "ld");
  cli->put_alias(Alias{"100", "alice@example.com"});
  const auto u = daemon->user_services("alice", "example.com");
  EXPECT_EQ(u.forwards.size(), 1u);
  EXPECT_EQ(u.groups, (Lines{"ld"}));
  EXPECT_EQ(daemon->find_alias("100"), "alice@example.com");
  EXPECT_EQ(cli->delete_forward("alice@example.com", std::nullopt), 1u);
  EXPECT_TRUE(daemon->user_services("alice", "example.com").forwards.empty());
}

// ---- schema versions ----

/// Runs SQL on `path` through the SQLite C API (not through sipws's store).
void exec_sql(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "") << "\n" << sql;
  sqlite3_free(err);
  sqlite3_close(db);
}

/// The first column of the first row of `sql`, as text ("" if no row).
std::string query_text(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open(path.c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(st, 0);
      if (text) out = reinterpret_cast<const char*>(text);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

/// The schema sipws 0.1 (version 1) created, with one subscriber and one binding.
constexpr const char* kVersion1File = R"sql(
CREATE TABLE schema_version(version INTEGER NOT NULL);
INSERT INTO schema_version(version) VALUES(1);
CREATE TABLE subscriber(user TEXT NOT NULL, domain TEXT NOT NULL,
  ha1_md5 TEXT NOT NULL DEFAULT '', ha1_sha256 TEXT NOT NULL DEFAULT '',
  PRIMARY KEY(user, domain));
CREATE TABLE location(aor TEXT NOT NULL, contact TEXT NOT NULL,
  instance TEXT NOT NULL DEFAULT '', reg_id INTEGER NOT NULL DEFAULT 0,
  path TEXT NOT NULL DEFAULT '', received TEXT NOT NULL DEFAULT '',
  expires_at INTEGER NOT NULL DEFAULT 0, q REAL NOT NULL DEFAULT 1.0,
  call_id TEXT NOT NULL DEFAULT '', cseq INTEGER NOT NULL DEFAULT 0,
  user_agent TEXT NOT NULL DEFAULT '', PRIMARY KEY(aor, contact));
INSERT INTO subscriber VALUES('alice', 'example.com', 'md5hex', 'sha256hex');
INSERT INTO location VALUES('alice@example.com', 'sip:alice@192.0.2.1:5062', '', 0, '',
  'udp:192.0.2.1:5062', 1700000600, 0.5, 'cid', 7, 'phone/1');
)sql";

TEST(StoreSchema, Version1FileIsMigratedInPlaceKeepingItsRows) {
  TempDir dir;
  const auto file = dir.path() / "v1.db";
  exec_sql(file, kVersion1File);
  ASSERT_EQ(query_text(file, "SELECT MAX(version) FROM schema_version"), "1");

  {
    auto db = Store::open(dir.uri("v1.db"));
    const auto alice = db->find_subscriber("alice", "example.com");
    ASSERT_TRUE(alice);
    EXPECT_EQ(alice->ha1_md5, "md5hex");
    EXPECT_EQ(alice->ha1_sha256, "sha256hex");
    const auto bindings = db->load_bindings();
    ASSERT_EQ(bindings.size(), 1u);
    EXPECT_EQ(bindings[0].contact, "sip:alice@192.0.2.1:5062");
    EXPECT_EQ(bindings[0].expires_at, 1700000600);
    EXPECT_EQ(bindings[0].cseq, 7u);
    // The new tables work at once.
    db->add_group("alice@example.com", "ld");
    db->put_forward(rule("alice@example.com", ForwardKind::Busy, "voicemail"));
    db->put_alias(Alias{"100", "alice@example.com"});
    EXPECT_TRUE(db->user_services("alice", "example.com").subscriber);
  }
  EXPECT_EQ(query_text(file, "SELECT MAX(version) FROM schema_version"), "5");
  EXPECT_EQ(query_text(file, "SELECT COUNT(*) FROM schema_version"), "1");
  EXPECT_EQ(query_text(file, "SELECT target FROM call_forward WHERE kind = 'busy'"), "voicemail");
  // Version 4: the user column is named username (as PostgreSQL and Kamailio need).
  EXPECT_EQ(query_text(file, "SELECT username FROM subscriber"), "alice");
  // Version 5: the binding belongs to no node (not a cluster) and keeps its row.
  EXPECT_EQ(query_text(file, "SELECT aor || '|' || node || '|' || route FROM location"),
            "alice@example.com||");

  // Reopening the migrated file changes nothing.
  auto db = Store::open(dir.uri("v1.db"));
  const auto u = db->user_services("alice", "example.com");
  EXPECT_EQ(u.groups, (Lines{"ld"}));
  EXPECT_EQ(u.forwards.size(), 1u);
  EXPECT_EQ(db->find_alias("100"), "alice@example.com");
  EXPECT_EQ(db->load_bindings().size(), 1u);
  EXPECT_EQ(query_text(file, "SELECT COUNT(*) FROM schema_version"), "1");
}

TEST(StoreSchema, NewFileIsCreatedAtVersion5) {
  TempDir dir;
  auto db = Store::open(dir.uri());
  const auto file = dir.path() / "sipws.db";
  EXPECT_EQ(query_text(file, "SELECT MAX(version) FROM schema_version"), "5");
  const SchemaStatus status = db->schema_status();
  EXPECT_EQ(status.version, 5);
  EXPECT_EQ(status.latest, 5);
  EXPECT_EQ(status.backend, "sqlite");
  EXPECT_EQ(status.layout, "sipws");
  for (const char* table :
       {"subscriber_group", "call_forward", "alias", "cdrs", "data_version", "cluster_node"}) {
    EXPECT_EQ(query_text(
                  file, std::string("SELECT name FROM sqlite_master WHERE name = '") + table + "'"),
              table);
  }
}

TEST(StoreSchema, NewerVersionIsRefusedAndLeftAlone) {
  TempDir dir;
  const auto file = dir.path() / "v6.db";
  exec_sql(file,
           "CREATE TABLE schema_version(version INTEGER NOT NULL);"
           "INSERT INTO schema_version(version) VALUES(6);");
  try {
    Store::open(dir.uri("v6.db"));
    ADD_FAILURE() << "a version-6 file was opened";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 6 is newer"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(query_text(file, "SELECT MAX(version) FROM schema_version"), "6");
  EXPECT_EQ(query_text(file, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'alias'"), "0");
}

TEST(StoreSchema, UnknownForwardKindRowIsSkipped) {
  TempDir dir;
  {
    auto db = Store::open(dir.uri());
    db->put_forward(rule("alice@example.com", ForwardKind::Busy, "voicemail"));
  }
  exec_sql(dir.path() / "sipws.db",
           "INSERT INTO call_forward VALUES('alice@example.com', 'deflect', 'sip:x@y', 0)");
  auto db = Store::open(dir.uri());
  EXPECT_EQ(lines(db->list_forwards("")), (Lines{"alice@example.com busy voicemail"}));
  EXPECT_EQ(db->user_services("alice", "example.com").forwards.size(), 1u);
}

// ---- AsyncStore reads ----

TEST_P(AsyncStoreServicesOnEachBackend, UserServicesAndFindAliasAnswerThroughThePostFunction) {
  const test::BackendDir& dir = backend_dir();
  TestQueue tq;
  AsyncStore as(Store::open(dir.uri()), tq.post());
  as.sync().put_subscriber(sub("alice", "example.com"));
  as.sync().add_group("alice@example.com", "ld");
  as.sync().put_forward(rule("alice@example.com", ForwardKind::Busy, "voicemail"));
  as.sync().put_alias(Alias{"+15551230001", "alice@example.com"});

  std::vector<std::string> seen;
  as.user_services("alice", "example.com", [&](const Result<UserServices>& u) {
    ASSERT_TRUE(u);
    seen.push_back("alice subscriber=" + std::to_string(u->subscriber) +
                   " groups=" + std::to_string(u->groups.size()) +
                   " forwards=" + std::to_string(u->forwards.size()));
  });
  as.find_alias("+15551230001", [&](const Result<std::optional<std::string>>& aor) {
    ASSERT_TRUE(aor);
    seen.push_back(aor->value_or("none"));
  });
  as.find_alias("+15559999999", [&](const Result<std::optional<std::string>>& aor) {
    ASSERT_TRUE(aor);
    seen.push_back(aor->value_or("none"));
  });
  as.user_services("nobody", "example.com", [&](const Result<UserServices>& u) {
    ASSERT_TRUE(u);  // not an error: an answer with subscriber = false
    seen.push_back("nobody subscriber=" + std::to_string(u->subscriber));
  });
  EXPECT_TRUE(seen.empty());  // nothing runs on the caller's thread
  as.flush();
  EXPECT_TRUE(seen.empty());  // results wait on the post queue
  EXPECT_EQ(tq.drain(), 4u);
  EXPECT_EQ(seen, (Lines{"alice subscriber=1 groups=1 forwards=1", "alice@example.com", "none",
                         "nobody subscriber=0"}));
}

TEST_P(AsyncStoreServicesOnEachBackend, ReadErrorsAreCountedAndAnsweredAsErrorsNotAsAbsences) {
  const test::BackendDir& dir = backend_dir();
  auto& read_errors = counters().get("store_read_errors");
  const auto r0 = read_errors.value();
  TestQueue tq;
  AsyncStore as(std::make_unique<FaultyStore>(Store::open(dir.uri())), tq.post());
  as.sync().put_subscriber(sub("alice", "example.com"));
  as.sync().put_alias(Alias{"100", "alice@example.com"});

  std::vector<std::string> seen;
  auto services = [&](const Result<UserServices>& u) {
    seen.push_back(u ? "subscriber=" + std::to_string(u->subscriber) : "error");
  };
  auto alias = [&](const Result<std::optional<std::string>>& aor) {
    seen.push_back(aor ? aor->value_or("no alias") : "error");
  };
  as.user_services("broken", "example.com", services);
  as.find_alias("broken", alias);
  as.user_services("alice", "example.com", services);  // the worker keeps going
  as.find_alias("100", alias);
  as.flush();
  EXPECT_EQ(tq.drain(), 4u);  // a failed read still answers
  EXPECT_EQ(seen, (Lines{"error", "error", "subscriber=1", "alice@example.com"}));
  EXPECT_EQ(read_errors.value() - r0, 2u);
}

}  // namespace
}  // namespace sipws::store
