// Store over a real SQLite file in a temporary directory; AsyncStore with a test queue.

#include "store/store.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <chrono>
#include <thread>

#include <filesystem>
#include <fstream>

#include "backends.hpp"
#include "common/counters.hpp"
#include "store_fixtures.hpp"

namespace sipws::store {
namespace {

SIPWS_STORE_BACKENDS(AsyncStoreOnEachBackend);
SIPWS_STORE_BACKENDS(AsyncStoreDurableOnEachBackend);
SIPWS_STORE_BACKENDS(StoreOnEachBackend);

using test::FaultyStore;
using test::TempDir;
using test::TestQueue;

Subscriber sub(std::string user, std::string domain, std::string md5 = "m") {
  std::string sha = "s-" + md5;
  return Subscriber{std::move(user), std::move(domain), std::move(md5), std::move(sha)};
}

BindingRecord binding(std::string aor, std::string contact) {
  BindingRecord b;
  b.aor = std::move(aor);
  b.contact = std::move(contact);
  b.instance = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";
  b.reg_id = 2;
  b.path = "<sip:edge1.example.com;lr>, <sip:edge2.example.com;lr>";
  b.received = "udp:192.0.2.1:5062";
  b.expires_at = 1'700'000'600;
  b.q = 0.7f;
  b.call_id = "a84b4c76e66710";
  b.cseq = 4294967295u;
  b.user_agent = "phone/1 (\"quoted\" ; semi)";
  return b;
}

/// What an AsyncStore subscriber lookup answered: its ha1_md5, "none" or "error".
std::string describe(const Result<std::optional<Subscriber>>& r) {
  if (!r) return "error";
  return *r ? (*r)->ha1_md5 : "none";
}

void expect_same(const BindingRecord& a, const BindingRecord& b) {
  EXPECT_EQ(a.aor, b.aor);
  EXPECT_EQ(a.contact, b.contact);
  EXPECT_EQ(a.instance, b.instance);
  EXPECT_EQ(a.reg_id, b.reg_id);
  EXPECT_EQ(a.path, b.path);
  EXPECT_EQ(a.received, b.received);
  EXPECT_EQ(a.expires_at, b.expires_at);
  EXPECT_FLOAT_EQ(a.q, b.q);
  EXPECT_EQ(a.call_id, b.call_id);
  EXPECT_EQ(a.cseq, b.cseq);
  EXPECT_EQ(a.user_agent, b.user_agent);
}

TEST_P(StoreOnEachBackend, SubscribersPutFindListDelete) {
  const test::BackendDir& dir = backend_dir();
  auto db = Store::open(dir.uri());
  EXPECT_FALSE(db->find_subscriber("alice", "example.com"));
  EXPECT_TRUE(db->list_subscribers().empty());

  db->put_subscriber(sub("alice", "example.com", "a1"));
  db->put_subscriber(sub("bob", "example.com", "b1"));
  db->put_subscriber(sub("alice", "other.org", "a2"));  // same user, other domain

  auto a = db->find_subscriber("alice", "example.com");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->user, "alice");
  EXPECT_EQ(a->domain, "example.com");
  EXPECT_EQ(a->ha1_md5, "a1");
  EXPECT_EQ(a->ha1_sha256, "s-a1");
  EXPECT_EQ(db->find_subscriber("alice", "other.org")->ha1_md5, "a2");
  EXPECT_FALSE(db->find_subscriber("Alice", "example.com"));  // user part is case-sensitive

  // Replace on the same key.
  db->put_subscriber(sub("alice", "example.com", "a3"));
  EXPECT_EQ(db->find_subscriber("alice", "example.com")->ha1_md5, "a3");

  auto all = db->list_subscribers();
  ASSERT_EQ(all.size(), 3u);  // ordered by domain, user
  EXPECT_EQ(all[0].user, "alice");
  EXPECT_EQ(all[0].domain, "example.com");
  EXPECT_EQ(all[1].user, "bob");
  EXPECT_EQ(all[2].domain, "other.org");

  EXPECT_TRUE(db->delete_subscriber("alice", "example.com"));
  EXPECT_FALSE(db->delete_subscriber("alice", "example.com"));
  EXPECT_FALSE(db->find_subscriber("alice", "example.com"));
  EXPECT_EQ(db->list_subscribers().size(), 2u);
}

TEST_P(StoreOnEachBackend, BindingsRoundTripAndReplaceOnSameKey) {
  const test::BackendDir& dir = backend_dir();
  auto db = Store::open(dir.uri());
  BindingRecord b1 = binding("bob@example.com", "sip:bob@192.0.2.1:5062");
  BindingRecord b2 = binding("bob@example.com", "sip:bob@192.0.2.2;transport=tcp");
  b2.instance = "";
  b2.reg_id = 0;
  b2.path = "";
  b2.q = 1.0f;
  db->put_binding(b1);
  db->put_binding(b2);
  auto rows = db->load_bindings();
  ASSERT_EQ(rows.size(), 2u);
  expect_same(rows[0], b1);
  expect_same(rows[1], b2);

  b1.expires_at += 3600;
  b1.cseq = 8;
  b1.call_id = "other";
  db->put_binding(b1);  // same (aor, contact): replaced, not added
  rows = db->load_bindings();
  ASSERT_EQ(rows.size(), 2u);
  expect_same(rows[0], b1);

  db->delete_binding("bob@example.com", "sip:bob@192.0.2.1:5062");
  db->delete_binding("bob@example.com", "sip:nobody@192.0.2.9");  // absent: no error
  rows = db->load_bindings();
  ASSERT_EQ(rows.size(), 1u);
  expect_same(rows[0], b2);
}

TEST(Store, DataSurvivesReopenAndParentDirectoriesAreCreated) {
  TempDir dir;
  const std::string uri = dir.uri("var/deeper/sipws.db");
  {
    auto db = Store::open(uri);
    db->put_subscriber(sub("alice", "example.com"));
    db->put_binding(binding("alice@example.com", "sip:alice@192.0.2.1"));
  }
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "var/deeper/sipws.db"));
  auto db = Store::open(uri);  // schema already there: opens cleanly
  EXPECT_TRUE(db->find_subscriber("alice", "example.com"));
  ASSERT_EQ(db->load_bindings().size(), 1u);
  expect_same(db->load_bindings()[0], binding("alice@example.com", "sip:alice@192.0.2.1"));
}

TEST(Store, PathWithSpacesWorks) {
  TempDir dir;
  auto db = Store::open(dir.uri("my data/s p.db"));
  db->put_subscriber(sub("alice", "example.com"));
  EXPECT_TRUE(db->find_subscriber("alice", "example.com"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "my data/s p.db"));
}

std::string open_error(const std::string& uri) {
  try {
    Store::open(uri);
  } catch (const StoreError& e) {
    return e.what();
  }
  return "";
}

TEST(Store, BadUrisAreStoreErrors) {
  EXPECT_NE(open_error("mysql://u:pw@db").find("no database name"), std::string::npos);
  EXPECT_NE(open_error("mysql://u:pw@db:99999/x").find("bad port '99999'"), std::string::npos);
  EXPECT_NE(open_error("mysql://u:pw@db:/x").find("bad port"), std::string::npos);
  EXPECT_NE(open_error("mysql://u:%zz@db/x").find("percent-encoding"), std::string::npos);
  EXPECT_NE(open_error("mysql://u:pw@[::1/x").find("unclosed ["), std::string::npos);
  EXPECT_NE(open_error("mysql://u:pw@/x").find("no host"), std::string::npos);
  EXPECT_NE(open_error("redis://x").find("'store'"), std::string::npos);
  EXPECT_NE(open_error("redis://x").find("redis://x"), std::string::npos);
  EXPECT_NE(open_error("sqlite:").find("no path"), std::string::npos);
  EXPECT_NE(open_error("./var/sipws.db").find("./var/sipws.db"), std::string::npos);
}

TEST(Store, ADatabaseServerThatIsNotThereIsAnErrorThatNamesItWithoutItsPassword) {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  for (const std::string uri :
       {"postgresql://sipws:s3cret@127.0.0.1:1/sipws", "mysql://sipws:s3cret@127.0.0.1:1/sipws"}) {
    const std::string error = open_error(uri);
    EXPECT_NE(error.find("cannot open"), std::string::npos) << error;
    EXPECT_NE(error.find("sipws:***@127.0.0.1:1/sipws"), std::string::npos) << error;
    EXPECT_EQ(error.find("s3cret"), std::string::npos) << error;
  }
  EXPECT_EQ(Store::shown_uri("postgresql://a:b@h/d"), "postgresql://a:***@h/d");
  EXPECT_EQ(Store::shown_uri("postgresql://a@h/d"), "postgresql://a@h/d");
  EXPECT_EQ(Store::shown_uri("sqlite:./x:y@z.db"), "sqlite:./x:y@z.db");
}

TEST(Store, UnwritablePathNamesThePath) {
  TempDir dir;
  { std::ofstream(dir.path() / "plain-file") << "x"; }
  // A regular file where a directory is needed: fails for every user, root included.
  const std::string path = (dir.path() / "plain-file/sub/sipws.db").string();
  std::string err = open_error("sqlite:" + path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  // The database path itself is a directory.
  std::filesystem::create_directories(dir.path() / "adir");
  const std::string path2 = (dir.path() / "adir").string();
  err = open_error("sqlite:" + path2);
  EXPECT_NE(err.find(path2), std::string::npos) << err;
}

TEST(Store, FileThatIsNotADatabaseIsAStoreError) {
  TempDir dir;
  { std::ofstream(dir.path() / "junk.db") << "this is not an SQLite database, just some text"; }
  std::string err = open_error(dir.uri("junk.db"));
  EXPECT_NE(err.find((dir.path() / "junk.db").string()), std::string::npos) << err;
}

TEST_P(StoreOnEachBackend, TwoStoresOnOneFileSeeEachOthersWrites) {
  const test::BackendDir& dir = backend_dir();
  auto daemon = Store::open(dir.uri());
  auto cli = Store::open(dir.uri());
  cli->put_subscriber(sub("alice", "example.com"));
  EXPECT_TRUE(daemon->find_subscriber("alice", "example.com"));
  daemon->put_binding(binding("alice@example.com", "sip:alice@192.0.2.1"));
  EXPECT_EQ(cli->load_bindings().size(), 1u);
  EXPECT_TRUE(cli->delete_subscriber("alice", "example.com"));
  EXPECT_FALSE(daemon->find_subscriber("alice", "example.com"));
}

TEST_P(AsyncStoreOnEachBackend, CallbacksArePostedInOrderAndSeePriorWrites) {
  const test::BackendDir& dir = backend_dir();
  TestQueue tq;
  AsyncStore as(Store::open(dir.uri()), tq.post());
  as.sync().put_subscriber(sub("alice", "example.com", "a1"));

  std::vector<std::string> seen;
  auto record = [&](const Result<std::optional<Subscriber>>& s) { seen.push_back(describe(s)); };
  as.find_subscriber("alice", "example.com", record);
  as.put_binding(binding("alice@example.com", "sip:alice@192.0.2.1"));
  as.find_subscriber("carol", "example.com", record);
  EXPECT_TRUE(seen.empty());  // nothing runs on the caller's thread
  as.flush();
  EXPECT_TRUE(seen.empty());  // results wait on the post queue
  EXPECT_EQ(tq.drain(), 2u);
  EXPECT_EQ(seen, (std::vector<std::string>{"a1", "none"}));
  EXPECT_EQ(as.sync().load_bindings().size(), 1u);

  as.delete_binding("alice@example.com", "sip:alice@192.0.2.1");
  as.flush();
  EXPECT_TRUE(as.sync().load_bindings().empty());
}

TEST_P(AsyncStoreOnEachBackend,
       GenerationMovesWhenAnotherProcessChangesTheStoreNotOnItsOwnBindingWrites) {
  // The CLI is another connection to the same file: the daemon's caches learn of its changes
  // through generation(), polled by the idle worker.
  const test::BackendDir& dir = backend_dir();
  TestQueue tq;
  AsyncStore as(Store::open(dir.uri()), tq.post());
  as.poll_every(std::chrono::milliseconds(10));
  const auto g0 = as.generation();
  as.put_binding(binding("alice@example.com", "sip:alice@192.0.2.1"));
  as.flush();
  // Bounded wait for several polls: our own write is no change of subscriber data.
  const auto polls_done = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
  while (std::chrono::steady_clock::now() < polls_done) std::this_thread::yield();
  EXPECT_EQ(as.generation(), g0);

  auto cli = Store::open(dir.uri());
  cli->put_subscriber(sub("alice", "example.com", "new"));
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (as.generation() == g0 && std::chrono::steady_clock::now() < limit) {
    std::this_thread::yield();
  }
  EXPECT_GT(as.generation(), g0);

  const auto g1 = as.generation();
  as.invalidate();
  EXPECT_GT(as.generation(), g1);
}

TEST_P(AsyncStoreOnEachBackend, DestructorDrainsQueuedWrites) {
  const test::BackendDir& dir = backend_dir();
  {
    AsyncStore as(Store::open(dir.uri()), [](std::function<void()> fn) { fn(); });
    for (int i = 0; i < 50; ++i) {
      as.put_binding(binding("bob@example.com", "sip:bob@192.0.2." + std::to_string(i)));
    }
  }  // no flush: the destructor must run all 50
  EXPECT_EQ(Store::open(dir.uri())->load_bindings().size(), 50u);
}

TEST_P(AsyncStoreOnEachBackend, QueuedWritesOfOneBindingAreCoalescedIntoTheNewest) {
  // A refresh storm: while the worker is busy, each binding's newer writes replace its queued
  // one. What reaches the database is the newest state of every binding, written once.
  const test::BackendDir& dir = backend_dir();
  TestQueue tq;
  auto gated = std::make_unique<test::GatedStore>(Store::open(dir.uri()));
  auto* store = gated.get();
  auto& coalesced = counters().get("store_binding_writes_coalesced");
  const auto c0 = coalesced.value();
  AsyncStore as(std::move(gated), tq.post());
  as.sync().put_binding(binding("gone@example.com", "sip:gone@192.0.2.9"));
  as.find_subscriber("gate", "example.com", [](const Result<std::optional<Subscriber>>&) {});
  ASSERT_TRUE(store->wait_entered());
  const int before = store->binding_writes.load();

  for (std::uint32_t cseq = 1; cseq <= 100; ++cseq) {
    auto b = binding("alice@example.com", "sip:alice@192.0.2.1");
    b.cseq = cseq;
    b.expires_at = 1'700'000'000 + cseq;
    as.put_binding(b);
  }
  as.put_binding(binding("bob@example.com", "sip:bob@192.0.2.2"));
  as.put_binding(binding("gone@example.com", "sip:gone@192.0.2.9"));
  as.delete_binding("gone@example.com", "sip:gone@192.0.2.9");  // the delete wins
  as.delete_binding("carol@example.com", "sip:carol@192.0.2.3");
  as.put_binding(binding("carol@example.com", "sip:carol@192.0.2.3"));  // the put wins
  store->open_gate();
  as.flush();

  EXPECT_EQ(store->binding_writes.load() - before, 4);  // alice, bob, gone, carol: once each
  EXPECT_EQ(coalesced.value() - c0, 99u + 1u + 1u);
  const auto rows = as.sync().load_bindings();
  ASSERT_EQ(rows.size(), 3u);  // alice, bob, carol (sorted by aor)
  EXPECT_EQ(rows[0].aor, "alice@example.com");
  EXPECT_EQ(rows[0].cseq, 100u);
  EXPECT_EQ(rows[0].expires_at, 1'700'000'100);
  EXPECT_EQ(rows[1].aor, "bob@example.com");
  EXPECT_EQ(rows[2].aor, "carol@example.com");

  // Once taken by the worker, a binding's next write is queued again (not lost).
  auto b = binding("alice@example.com", "sip:alice@192.0.2.1");
  b.cseq = 101;
  as.put_binding(b);
  as.flush();
  EXPECT_EQ(as.sync().load_bindings()[0].cseq, 101u);
}

TEST_P(AsyncStoreOnEachBackend, FailedWritesAndReadsAreCountedAndDoNotStopTheWorker) {
  const test::BackendDir& dir = backend_dir();
  auto& write_errors = counters().get("store_write_errors");
  auto& read_errors = counters().get("store_read_errors");
  const auto w0 = write_errors.value();
  const auto r0 = read_errors.value();
  TestQueue tq;
  AsyncStore as(std::make_unique<FaultyStore>(Store::open(dir.uri())), tq.post());
  as.sync().put_subscriber(sub("alice", "example.com", "a1"));
  as.put_binding(binding("a@example.com", "sip:a@192.0.2.1"));
  as.delete_binding("a@example.com", "sip:a@192.0.2.2");  // another binding: not coalesced
  std::vector<std::string> seen;
  std::error_code broken_error;
  as.find_subscriber("broken", "example.com", [&](const Result<std::optional<Subscriber>>& s) {
    seen.push_back(describe(s));
    if (!s) broken_error = s.error();
  });
  as.find_subscriber("alice", "example.com", [&](const Result<std::optional<Subscriber>>& s) {
    seen.push_back(describe(s));
  });
  as.flush();
  tq.drain();
  EXPECT_EQ(write_errors.value() - w0, 2u);
  EXPECT_EQ(read_errors.value() - r0, 1u);
  // A failed read still answers, as an error (not as "not found"); the worker kept going.
  EXPECT_EQ(seen, (std::vector<std::string>{"error", "a1"}));
  EXPECT_EQ(broken_error, StoreErrc::Unavailable);
  EXPECT_EQ(broken_error.category().name(), std::string("sipws.store"));
}

// A real database failure: another connection drops the subscriber table under the open store
// (as the sqlite3 shell or psql would). Every subscriber read is then an error, never "no such
// user"; the other tables still answer; and a binding refresh the database refuses (a trigger that
// aborts the write) leaves the row stored before it as it was.
TEST_P(AsyncStoreOnEachBackend,
       ADroppedTableIsAnErrorNotAnAbsenceAndAFailedWriteKeepsTheStoredRow) {
  const test::BackendDir& dir = backend_dir();
  TestQueue tq;
  AsyncStore as(Store::open(dir.uri()), tq.post());
  as.sync().put_subscriber(sub("alice", "example.com", "a1"));
  as.sync().put_alias(Alias{"100", "alice@example.com"});
  as.sync().put_binding(binding("alice@example.com", "sip:alice@192.0.2.1"));
  auto& read_errors = counters().get("store_read_errors");
  auto& write_errors = counters().get("store_write_errors");
  const auto r0 = read_errors.value();
  const auto w0 = write_errors.value();

  dir.exec("DROP TABLE subscriber");
  dir.refuse_location_inserts();
  std::vector<std::string> seen;
  auto record = [&](const Result<std::optional<Subscriber>>& s) { seen.push_back(describe(s)); };
  as.find_subscriber("alice", "example.com", record);
  as.find_subscriber("nobody", "example.com", record);
  as.user_services("alice", "example.com", [&](const Result<UserServices>& u) {
    seen.push_back(u ? "services" : "services error");
  });
  as.find_alias("100", [&](const Result<std::optional<std::string>>& aor) {
    seen.push_back(!aor ? "alias error" : aor->value_or("no alias"));
  });
  auto refresh = binding("alice@example.com", "sip:alice@192.0.2.1");
  refresh.cseq = 7;
  refresh.expires_at += 3600;
  as.put_binding(refresh);
  as.flush();
  tq.drain();
  EXPECT_EQ(seen,
            (std::vector<std::string>{"error", "error", "services error", "alice@example.com"}));
  EXPECT_EQ(read_errors.value() - r0, 3u);
  EXPECT_EQ(write_errors.value() - w0, 1u);
  EXPECT_THROW(as.sync().find_subscriber("alice", "example.com"), StoreError);  // sync: throws
  EXPECT_FALSE(as.health().ok);  // GET /ready says so
  const auto rows = as.sync().load_bindings();
  ASSERT_EQ(rows.size(), 1u);
  expect_same(rows[0], binding("alice@example.com", "sip:alice@192.0.2.1"));
}

/// A put of `b` for write_bindings().
AsyncStore::BindingWrite put(BindingRecord b) {
  return AsyncStore::BindingWrite{std::move(b), false};
}

/// What the Durable answers said, each with the number of bindings that another connection
/// (a restarted daemon) read at that moment.
struct DurableLog {
  std::vector<std::pair<std::string, std::size_t>> seen;
  AsyncStore::Durable answer(const test::BackendDir& dir, std::string who) {
    return [this, &dir, who = std::move(who)](std::error_code ec) {
      seen.emplace_back(who + (ec ? " error" : " ok"),
                        Store::open(dir.uri())->load_bindings().size());
    };
  }
};
using Seen = std::vector<std::pair<std::string, std::size_t>>;

// store_sync=ack: a write's Durable answer comes through the post function (never from inside
// write_bindings), and only after the commit: another connection already reads the rows then.
// Writes queued while the worker is busy share one transaction (group commit), and a write
// that a newer write of the same binding replaced is answered with that one.
TEST_P(AsyncStoreDurableOnEachBackend,
       AnsweredOnlyOnceCommittedWithWritesQueuedMeanwhileInOneTransaction) {
  const test::BackendDir& dir = backend_dir();
  TestQueue tq;
  auto gated = std::make_unique<test::GatedStore>(Store::open(dir.uri()));
  auto* store = gated.get();
  AsyncStore as(std::move(gated), tq.post());
  as.find_subscriber("gate", "example.com", [](const Result<std::optional<Subscriber>>&) {});
  ASSERT_TRUE(store->wait_entered());

  DurableLog log;
  std::vector<AsyncStore::BindingWrite> two;
  two.push_back(put(binding("alice@example.com", "sip:alice@192.0.2.1")));
  two.push_back(put(binding("alice@example.com", "sip:alice@192.0.2.2")));
  as.write_bindings(std::move(two), log.answer(dir, "alice"));
  auto refresh = binding("bob@example.com", "sip:bob@192.0.2.3");
  as.write_bindings({put(refresh)}, log.answer(dir, "bob 1"));
  refresh.cseq -= 1;
  as.write_bindings({put(refresh)}, log.answer(dir, "bob 2"));  // replaces bob 1's write
  as.write_bindings({}, log.answer(dir, "nothing"));            // nothing to write
  EXPECT_EQ(tq.drain(), 1u);
  EXPECT_EQ(log.seen, (Seen{{"nothing ok", 0}}));  // the others wait for their commit

  const int transactions = store->transactions.load();
  store->open_gate();
  as.flush();
  EXPECT_EQ(tq.drain(), 4u);  // the gate's read and three durable answers
  EXPECT_EQ(log.seen, (Seen{{"nothing ok", 0}, {"alice ok", 3}, {"bob 1 ok", 3}, {"bob 2 ok", 3}}));
  EXPECT_EQ(store->transactions.load() - transactions, 1);  // one commit for all three
  const auto rows = as.sync().load_bindings();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2].cseq, refresh.cseq);  // bob's newest write
  EXPECT_TRUE(as.health().ok);
}

// A write the database refuses (a real SQLite trigger aborting some inserts, as a full disk
// or a constraint would) is answered as an error for the call that asked for it, never "ok";
// the other writes of the same transaction stay durable, and the store is unhealthy (GET
// /ready says so).
TEST_P(AsyncStoreDurableOnEachBackend,
       ARefusedWriteIsAnErrorForItsCallerAndTheOthersOfItsTransactionStay) {
  const test::BackendDir& dir = backend_dir();
  TestQueue tq;
  auto gated = std::make_unique<test::GatedStore>(Store::open(dir.uri()));
  auto* store = gated.get();
  AsyncStore as(std::move(gated), tq.post(), std::chrono::hours(1));  // no check meanwhile
  dir.refuse_location_inserts("%bad%");
  as.find_subscriber("gate", "example.com", [](const Result<std::optional<Subscriber>>&) {});
  ASSERT_TRUE(store->wait_entered());
  DurableLog log;
  as.write_bindings({put(binding("a@example.com", "sip:a@192.0.2.1"))}, log.answer(dir, "good"));
  as.write_bindings({put(binding("b@example.com", "sip:bad@192.0.2.2"))}, log.answer(dir, "bad"));
  std::vector<AsyncStore::BindingWrite> mixed;
  mixed.push_back(put(binding("c@example.com", "sip:c@192.0.2.3")));
  mixed.push_back(put(binding("c@example.com", "sip:bad@192.0.2.4")));
  as.write_bindings(std::move(mixed), log.answer(dir, "mixed"));
  const int transactions = store->transactions.load();
  store->open_gate();
  as.flush();
  tq.drain();
  EXPECT_EQ(store->transactions.load() - transactions, 1);
  EXPECT_EQ(log.seen, (Seen{{"good ok", 2}, {"bad error", 2}, {"mixed error", 2}}));
  const auto health = as.health();
  EXPECT_FALSE(health.ok);
  EXPECT_NE(health.error.find("disk full"), std::string::npos) << health.error;
}

// Once unhealthy, the store is checked every check_interval: it stays unhealthy while the
// checks fail (every insert refused) and becomes healthy by itself once the cause is gone.
TEST_P(AsyncStoreDurableOnEachBackend, AnUnhealthyStoreRecoversByItselfOnceItsChecksPass) {
  const test::BackendDir& dir = backend_dir();
  TestQueue tq;
  auto counted = std::make_unique<test::GatedStore>(Store::open(dir.uri()));
  auto* store = counted.get();
  AsyncStore as(std::move(counted), tq.post(), std::chrono::milliseconds(5));
  dir.refuse_location_inserts();
  DurableLog log;
  as.write_bindings({put(binding("a@example.com", "sip:a@192.0.2.1"))}, log.answer(dir, "a"));
  as.flush();
  tq.drain();
  EXPECT_EQ(log.seen, (Seen{{"a error", 0}}));
  EXPECT_FALSE(as.health().ok);

  // Bounded waits (5 s) for the worker's checks.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  const int checks = store->checks.load();
  while (store->checks.load() < checks + 3 && std::chrono::steady_clock::now() < until) {
    std::this_thread::yield();
  }
  ASSERT_GE(store->checks.load(), checks + 3);
  EXPECT_FALSE(as.health().ok);
  dir.allow_location_inserts();
  while (!as.health().ok && std::chrono::steady_clock::now() < until) std::this_thread::yield();
  EXPECT_TRUE(as.health().ok);
  EXPECT_TRUE(Store::open(dir.uri())->load_bindings().empty());  // the checks left no row
  const int after = store->checks.load();
  as.write_bindings({put(binding("a@example.com", "sip:a@192.0.2.1"))}, log.answer(dir, "again"));
  as.flush();
  tq.drain();
  EXPECT_EQ(log.seen.back(), (std::pair<std::string, std::size_t>{"again ok", 1}));
  EXPECT_LE(store->checks.load(), after + 1);  // healthy: no more checks (one may have been due)
}
}  // namespace
}  // namespace sipws::store
