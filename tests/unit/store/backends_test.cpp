// What only a database server brings (PostgreSQL and MariaDB, started by the test): a server
// that stops and comes back, nodes that migrate one empty database at once, read connections
// (store_pool), and subscribers in an existing Kamailio database (store_layout kamailio).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backends.hpp"
#include "common/counters.hpp"
#include "store/store.hpp"
#include "store_fixtures.hpp"

namespace sipws::store {
namespace {

using test::Backend;
using test::DbKind;
using test::DbServer;
using test::TestQueue;

SIPWS_STORE_BACKENDS(StoreServer);
SIPWS_STORE_BACKENDS(StorePool);
SIPWS_STORE_BACKENDS(KamailioLayout);

Subscriber sub(std::string user, std::string md5) {
  return Subscriber{std::move(user), "example.com", md5, "sha-" + md5};
}

BindingRecord binding(std::string aor, std::string contact) {
  BindingRecord b;
  b.aor = std::move(aor);
  b.contact = std::move(contact);
  b.received = "udp:192.0.2.1:5062";
  b.expires_at = 1'700'000'600;
  return b;
}

/// The shared server of this test's backend (SetUp started it).
DbServer& server_of(Backend b) {
  return *DbServer::shared(b == Backend::Postgres ? DbKind::Postgres : DbKind::MariaDb);
}

/// Stops the server for the scope; starts it again when the scope ends (also on a failure, so
/// that the next test finds it running).
struct ServerDown {
  DbServer& server;
  explicit ServerDown(DbServer& s) : server(s) { server.stop(); }
  ~ServerDown() {
    if (!server.running()) server.start();
  }
};

/// Waits (bounded: 10 s) until `done()`; @returns whether it became true.
template <class Pred>
bool eventually(Pred done) {
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > limit) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a bounded wait
  }
  return true;
}

// A connection the server dropped (it stopped) is an error while the server is down, never an
// absence; once the server is back, the same Store works again without being reopened.
TEST_P(StoreServer, AStoppedServerIsAnErrorAndTheStoreReconnectsWhenItIsBack) {
  if (GetParam() == Backend::Sqlite) GTEST_SKIP() << "an embedded file has no server to stop";
  const test::BackendDir& dir = backend_dir();
  auto db = Store::open(dir.uri());
  db->put_subscriber(sub("alice", "a1"));
  {
    ServerDown down(server_of(GetParam()));
    EXPECT_THROW(db->find_subscriber("alice", "example.com"), StoreError);
    EXPECT_THROW(db->find_subscriber("nobody", "example.com"), StoreError);
    EXPECT_THROW(db->put_binding(binding("alice@example.com", "sip:alice@192.0.2.1")), StoreError);
    try {
      db->check();
      ADD_FAILURE() << "check() passed with the server down";
    } catch (const StoreError& e) {
      EXPECT_EQ(std::string(e.what()).find(server_of(GetParam()).password()), std::string::npos)
          << "the password leaked: " << e.what();
    }
  }
  ASSERT_TRUE(server_of(GetParam()).running());
  const auto alice = db->find_subscriber("alice", "example.com");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->ha1_md5, "a1");
  db->put_binding(binding("alice@example.com", "sip:alice@192.0.2.1"));
  EXPECT_EQ(db->load_bindings().size(), 1u);
}

// The daemon's view: reads answer errors (never "no such user") while the server is down,
// health() says so (GET /ready), and the store becomes healthy by itself once the server is
// back, its read connections (store_pool) included.
TEST_P(StoreServer, AsyncStoreIsUnhealthyWhileTheServerIsDownAndRecoversByItself) {
  if (GetParam() == Backend::Sqlite) GTEST_SKIP() << "an embedded file has no server to stop";
  const test::BackendDir& dir = backend_dir();
  TestQueue tq;
  const std::string uri = dir.uri();
  ReadPool pool{2, [uri] {
                  OpenOptions o;
                  o.migrate = false;
                  return Store::open(uri, o);
                }};
  AsyncStore as(Store::open(uri), tq.post(), std::chrono::milliseconds(50), pool);
  as.sync().put_subscriber(sub("alice", "a1"));
  std::vector<std::string> seen;
  auto record = [&](const Result<std::optional<Subscriber>>& r) {
    seen.push_back(!r ? "error" : *r ? (*r)->ha1_md5 : "none");
  };
  {
    ServerDown down(server_of(GetParam()));
    as.find_subscriber("alice", "example.com", record);
    as.find_subscriber("nobody", "example.com", record);
    as.write_bindings({{binding("alice@example.com", "sip:alice@192.0.2.1"), false}},
                      [&](std::error_code ec) { seen.push_back(ec ? "write error" : "written"); });
    as.flush();
    tq.drain();
    std::sort(seen.begin(), seen.end());  // the read connections answer in any order
    EXPECT_EQ(seen, (std::vector<std::string>{"error", "error", "write error"}));
    EXPECT_FALSE(as.health().ok);
  }
  ASSERT_TRUE(eventually([&] { return as.health().ok; })) << as.health().error;
  seen.clear();
  as.find_subscriber("alice", "example.com", record);
  as.find_subscriber("alice", "example.com", record);  // the other read connection
  as.find_subscriber("nobody", "example.com", record);
  as.flush();
  tq.drain();
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"a1", "a1", "none"}));
}

// Two nodes starting at once on one empty database: the schema is created once, both open it.
TEST_P(StoreServer, NodesStartingTogetherOnAnEmptyDatabaseBothOpenIt) {
  const test::BackendDir& dir = backend_dir();
  const std::string uri = dir.uri();
  std::atomic<int> opened{0};
  std::vector<std::string> errors(4);
  std::vector<std::thread> nodes;
  for (std::size_t i = 0; i < errors.size(); ++i) {
    nodes.emplace_back([&, i] {
      try {
        auto db = Store::open(uri);
        db->put_subscriber(sub("node" + std::to_string(i), "x"));
        ++opened;
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : nodes) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(opened.load(), 4);
  auto db = Store::open(uri);
  EXPECT_EQ(db->list_subscribers().size(), 4u);
  EXPECT_EQ(db->schema_status().version, db->schema_status().latest);
}

// `sipws db status` before anything was created, then `db migrate`.
TEST_P(StoreServer, StatusOfAnEmptyDatabaseThenMigrate) {
  const test::BackendDir& dir = backend_dir();
  OpenOptions no_migrate;
  no_migrate.migrate = false;
  auto db = Store::open(dir.uri(), no_migrate);
  SchemaStatus s = db->schema_status();
  EXPECT_EQ(s.version, 0);
  EXPECT_EQ(s.backend, GetParam() == Backend::Sqlite     ? "sqlite"
                       : GetParam() == Backend::Postgres ? "postgresql"
                                                         : "mysql");
  EXPECT_EQ(db->migrate(), 0);
  EXPECT_EQ(db->schema_status().version, s.latest);
  EXPECT_EQ(db->migrate(), s.latest);  // again: nothing to do
}

// Cluster mode's tables: each node's heartbeat counter, the bindings of an AOR on every node
// with the node and the Route that reaches them, and a restarted node's stale WebSocket rows.
TEST_P(StoreServer, ClusterNodesBeatAndBindingsCarryTheirNode) {
  const test::BackendDir& dir = backend_dir();
  auto db = Store::open(dir.uri());
  EXPECT_TRUE(db->list_nodes().empty());
  db->heartbeat("a", "sip:10.0.0.11:5060");
  db->heartbeat("b", "sip:10.0.0.12:5060");
  db->heartbeat("a", "sip:10.0.0.11:5070");  // a new address is taken, the beat moves
  const auto nodes = db->list_nodes();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].node, "a");
  EXPECT_EQ(nodes[0].address, "sip:10.0.0.11:5070");
  EXPECT_EQ(nodes[1].node, "b");
  EXPECT_GT(nodes[0].beat, nodes[1].beat);

  auto ws = binding("alice@example.com", "sip:x1@df7jal23ls0d.invalid;transport=ws");
  ws.received = "ws:127.0.0.1:40000";
  ws.node = "a";
  ws.route = "<sip:sw-f7.0123456789ab@10.0.0.11:5070;lr>";
  auto udp = binding("alice@example.com", "sip:alice@192.0.2.7:5062");
  udp.node = "b";
  udp.route = "<sip:10.0.0.12:5060;lr>";
  db->put_binding(ws);
  db->put_binding(udp);
  db->put_binding(binding("bob@example.com", "sip:bob@192.0.2.8"));
  auto found = db->find_bindings("alice@example.com");
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].contact, udp.contact);  // ordered by contact
  EXPECT_EQ(found[0].node, "b");
  EXPECT_EQ(found[0].route, udp.route);
  EXPECT_EQ(found[1].node, "a");
  EXPECT_EQ(found[1].route, ws.route);
  EXPECT_TRUE(db->find_bindings("carol@example.com").empty());

  EXPECT_EQ(db->delete_node_bindings("a", true), 1u);  // a's WebSocket binding only
  EXPECT_EQ(db->find_bindings("alice@example.com").size(), 1u);
  EXPECT_EQ(db->delete_node_bindings("b", true), 0u);  // b's UDP binding stays
  EXPECT_EQ(db->load_bindings().size(), 2u);
}

// Reads on the read connections (store_pool) go on while one of them is stuck in a query.
TEST_P(StorePool, AReadIsAnsweredWhileAnotherReadConnectionIsStuck) {
  const test::BackendDir& dir = backend_dir();
  const std::string uri = dir.uri();
  Store::open(uri)->put_subscriber(sub("alice", "a1"));
  std::vector<test::GatedStore*> readers;
  ReadPool pool{2, [&] {
                  auto s = std::make_unique<test::GatedStore>(Store::open(uri));
                  readers.push_back(s.get());
                  return std::unique_ptr<Store>(std::move(s));
                }};
  TestQueue tq;
  AsyncStore as(Store::open(uri), tq.post(), AsyncStore::kCheckInterval, pool);
  ASSERT_EQ(readers.size(), 2u);
  std::vector<std::string> seen;
  auto record = [&](std::string who) {
    return [&, who](const Result<std::optional<Subscriber>>& r) {
      seen.push_back(who + (r && *r ? " " + (*r)->ha1_md5 : " none"));
    };
  };
  // Taken first (the queue is FIFO), so by the time alice's read runs it holds a connection.
  as.find_subscriber("gate", "example.com", record("gate"));
  as.find_subscriber("alice", "example.com", record("alice"));
  ASSERT_TRUE(eventually([&] {
    tq.drain();
    return !seen.empty();
  }));
  EXPECT_EQ(seen, (std::vector<std::string>{"alice a1"}));
  for (auto* r : readers) r->open_gate();
  as.flush();
  tq.drain();
  EXPECT_EQ(seen, (std::vector<std::string>{"alice a1", "gate none"}));
}

/// Kamailio's own schema files for this backend (from Debian's kamailio-postgres-modules and
/// kamailio-mysql-modules), or "" when not installed.
std::string kamailio_schema(Backend b, const char* file) {
  const std::filesystem::path path = std::filesystem::path("/usr/share/kamailio") /
                                     (b == Backend::Postgres ? "postgres" : "mysql") / file;
  std::ifstream in(path);
  if (!in) return "";
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// store_layout kamailio: sipws reads and writes the subscriber table of a database that
// Kamailio's own schema scripts made (standard, auth_db, usrloc), and keeps its bindings out of
// Kamailio's location table.
TEST_P(KamailioLayout, SubscribersLiveInKamailiosTableAndBindingsBesideItsLocation) {
  if (GetParam() == Backend::Sqlite) GTEST_SKIP() << "Debian ships no SQLite schema of Kamailio";
  const test::BackendDir& dir = backend_dir();
  std::string schema;
  for (const char* f : {"standard-create.sql", "auth_db-create.sql", "usrloc-create.sql"}) {
    const std::string part = kamailio_schema(GetParam(), f);
    if (part.empty()) {
      if (test::db_required()) FAIL() << "Kamailio's " << f << " is not installed";
      GTEST_SKIP() << "Kamailio's " << f << " is not installed (kamailio-*-modules)";
    }
    schema += part;
  }
  OpenOptions kamailio;
  kamailio.layout = Layout::Kamailio;
  // Without Kamailio's table: refused, naming the key and the fix.
  try {
    Store::open(dir.uri("empty"), kamailio);
    ADD_FAILURE() << "opened a kamailio layout without a subscriber table";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("store_layout kamailio"), std::string::npos) << e.what();
  }

  dir.exec(schema);
  // As an operator would: Kamailio's tables are Kamailio's; sipws's user is granted them.
  if (GetParam() == Backend::Postgres) {
    dir.exec(
        "GRANT ALL ON ALL TABLES IN SCHEMA public TO sipws; "
        "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO sipws");
  }
  // A subscriber Kamailio's kamctl would add (password and both HA1s).
  dir.exec(
      "INSERT INTO subscriber(username, domain, password, ha1, ha1b) "
      "VALUES('bob', 'example.com', 'pw', 'bobha1', 'bobha1b')");
  auto db = Store::open(dir.uri(), kamailio);
  EXPECT_EQ(db->schema_status().layout, "kamailio");
  auto bob = db->find_subscriber("bob", "example.com");
  ASSERT_TRUE(bob);
  EXPECT_EQ(bob->ha1_md5, "bobha1");
  EXPECT_EQ(bob->ha1_sha256, "");  // Kamailio keeps none: MD5 only
  db->put_subscriber(sub("alice", "a1"));
  db->put_subscriber(sub("alice", "a2"));  // replaced in place
  EXPECT_EQ(dir.exec("SELECT username, ha1, password FROM subscriber ORDER BY username"),
            "alice\ta2\t\nbob\tbobha1\tpw\n");
  EXPECT_TRUE(db->user_services("alice", "example.com").subscriber);
  db->put_binding(binding("alice@example.com", "sip:alice@192.0.2.1"));
  EXPECT_EQ(db->load_bindings().size(), 1u);
  EXPECT_EQ(dir.exec("SELECT COUNT(*) FROM location"), "0\n");  // Kamailio's, untouched
  EXPECT_EQ(dir.exec("SELECT COUNT(*) FROM sipws_location"), "1\n");
  EXPECT_TRUE(db->delete_subscriber("alice", "example.com"));
  EXPECT_FALSE(db->find_subscriber("alice", "example.com"));
  EXPECT_EQ(db->list_subscribers().size(), 1u);
}

}  // namespace
}  // namespace sipws::store
