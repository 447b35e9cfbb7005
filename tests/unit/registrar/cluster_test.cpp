// Cluster membership over a real shared store (one SQLite file that two nodes open, as two
// processes would): each node sees the other through the heartbeats, knows its address and
// which sources are it, and counts it dead once its heartbeat stops moving for kDeadAfter on
// its own clock. Plus the Route a binding is reached through, and the location service's
// cluster rows.

#include "registrar/cluster.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "../store/store_fixtures.hpp"
#include "common/random.hpp"
#include "proxy/routing.hpp"
#include "registrar/location.hpp"
#include "sip/parser.hpp"
#include "store/store.hpp"

namespace sipws::registrar {
namespace {

/// One node: its store connection, clock and membership.
struct Node {
  store::test::TestQueue queue;
  ManualTimerService timers;
  store::AsyncStore store;
  ClusterMembership cluster;
  Node(const std::string& uri, const std::string& id, const std::string& address)
      : store(store::Store::open(uri), queue.post()),
        cluster(ClusterConfig{id, address, "0123456789abcdef"}, store, timers) {}
  /// Runs the queued heartbeat and hands its answer to the membership.
  void settle() {
    store.flush();
    queue.drain();
  }
  /// One heartbeat period later, heartbeat done.
  void tick() {
    timers.advance(ClusterMembership::kBeatInterval);
    settle();
  }
};

class ClusterTest : public ::testing::Test {
 protected:
  ClusterTest()
      : dir_(std::filesystem::temp_directory_path() / ("sipws-cluster-" + random_token(12))) {
    std::filesystem::create_directories(dir_);
  }
  ~ClusterTest() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string uri() const { return "sqlite:" + (dir_ / "shared.db").string(); }

 private:
  std::filesystem::path dir_;
};

TEST_F(ClusterTest, NodesSeeEachOtherAndADeadOneWithinDeadAfter) {
  auto a = std::make_unique<Node>(uri(), "a", "sip:10.0.0.11:5060;transport=udp");
  auto b = std::make_unique<Node>(uri(), "b", "sip:10.0.0.12:5070;transport=udp");
  a->cluster.start();
  b->cluster.start();
  a->settle();
  b->settle();
  a->tick();  // a reads b's first beat (if it ran before b's) on its next one
  EXPECT_TRUE(a->cluster.alive("a"));
  EXPECT_TRUE(a->cluster.alive("b"));
  EXPECT_FALSE(a->cluster.alive("c"));  // unknown
  EXPECT_EQ(a->cluster.address_of("b"), "sip:10.0.0.12:5070;transport=udp");
  EXPECT_EQ(a->cluster.alive_count(), 2u);

  // b keeps beating: alive however long it runs.
  for (int i = 0; i < 5; ++i) {
    b->tick();
    a->tick();
  }
  EXPECT_TRUE(a->cluster.alive("b"));

  // b stops (killed): dead once its beat has not moved for kDeadAfter on a's clock.
  b.reset();
  a->tick();
  a->tick();
  EXPECT_TRUE(a->cluster.alive("b"));  // 2 s without a beat: not yet
  a->tick();
  a->tick();
  EXPECT_FALSE(a->cluster.alive("b"));
  EXPECT_EQ(a->cluster.alive_count(), 1u);
  EXPECT_EQ(a->cluster.address_of("b"), "sip:10.0.0.12:5070;transport=udp");  // still known

  // b comes back (a restart): alive again at its first beat.
  b = std::make_unique<Node>(uri(), "b", "sip:10.0.0.12:5070;transport=udp");
  b->cluster.start();
  b->settle();
  a->tick();
  EXPECT_TRUE(a->cluster.alive("b"));
}

/// An INVITE as one node forwards it to another.
sip::Message forwarded_invite() {
  auto m = sip::parse(
      "INVITE sip:x@abc.invalid;transport=ws SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 10.0.0.12:5070;branch=z9hG4bK-1\r\n"
      "Max-Forwards: 69\r\nTo: <sip:alice@example.com>\r\n"
      "From: <sip:bob@example.com>;tag=1\r\nCall-ID: cid-1\r\nCSeq: 1 INVITE\r\n"
      "Content-Length: 0\r\n\r\n");
  EXPECT_TRUE(m);
  return std::move(*m);
}

// A node vouches for what it forwards; another node of the cluster admits it on that alone
// (not on its address), and nothing else passes: another secret, another request, an old or
// replayed-late vouching, a forged node name. The header never goes further.
TEST_F(ClusterTest, ARequestAnotherNodeVouchedForIsAdmittedAndNothingElse) {
  Node a(uri(), "a", "sip:10.0.0.11:5060");
  Node b(uri(), "b", "sip:10.0.0.12:5070");
  store::AsyncStore other_store(store::Store::open(uri()), [](std::function<void()>) {});
  ClusterMembership stranger(ClusterConfig{"b", "sip:10.0.0.99:5060", "another-secret-16ch"},
                             other_store, b.timers);

  sip::Message m = forwarded_invite();
  b.cluster.vouch(m);
  ASSERT_NE(m.find(kClusterHeader), nullptr);
  sip::Message copy = m;
  EXPECT_EQ(a.cluster.vouched_by(m), "b");
  EXPECT_EQ(m.find(kClusterHeader), nullptr);  // removed: it never leaves the cluster
  EXPECT_EQ(a.cluster.vouched_by(m), std::nullopt);

  sip::Message own = forwarded_invite();
  a.cluster.vouch(own);
  EXPECT_EQ(a.cluster.vouched_by(own), std::nullopt);  // not from another node

  sip::Message foreign = forwarded_invite();
  stranger.vouch(foreign);  // same node name, another secret
  EXPECT_EQ(a.cluster.vouched_by(foreign), std::nullopt);

  sip::Message moved = copy;
  moved.set_request_uri("sip:mallory@evil.example");
  EXPECT_EQ(a.cluster.vouched_by(moved), std::nullopt);

  sip::Message renamed = copy;
  std::string value(renamed.find(kClusterHeader)->value);
  renamed.remove_all(kClusterHeader);
  renamed.append(std::string(kClusterHeader), "c" + value.substr(1));
  EXPECT_EQ(a.cluster.vouched_by(renamed), std::nullopt);

  for (const char* junk : {"b", "b;t=;sig=", "b;sig=00;t=1", "b;t=12x;sig=00", ""}) {
    sip::Message j = forwarded_invite();
    j.append(std::string(kClusterHeader), junk);
    EXPECT_EQ(a.cluster.vouched_by(j), std::nullopt) << junk;
  }

  sip::Message late = copy;
  a.timers.advance(std::chrono::seconds(ClusterMembership::kMaxSkew + 1));
  EXPECT_EQ(a.cluster.vouched_by(late), std::nullopt);
}

TEST(ClusterRoute, AFlowIsNamedByItsTokenAUdpBindingByTheNodeAlone) {
  Binding ws;
  ws.direct = true;
  ws.source.protocol = Protocol::Ws;
  ws.source.flow = 42;
  const std::string route = cluster_route("sip:10.0.0.11:5060;transport=udp", ws);
  EXPECT_EQ(route, "<sip:" + proxy::flow_token_user(42) + "@10.0.0.11:5060;transport=udp;lr>");
  const std::string inside = route.substr(1, route.size() - 2);  // the URI views into it
  const auto uri = sip::parse_uri(inside);
  ASSERT_TRUE(uri);
  EXPECT_EQ(proxy::flow_token(*uri), FlowId{42});  // the node holding flow 42 finds it

  Binding udp;
  udp.direct = true;
  udp.source.protocol = Protocol::Udp;
  EXPECT_EQ(cluster_route("sip:10.0.0.12:5070", udp), "<sip:10.0.0.12:5070;lr>");
  EXPECT_EQ(cluster_endpoint("sip:10.0.0.12:5070")->port, 5070);
  EXPECT_EQ(cluster_endpoint("sip:10.0.0.12")->port, 5060);
  EXPECT_FALSE(cluster_endpoint("sip:node-b.example:5070"));
}

// In cluster mode the location service writes WebSocket bindings too, with the node and the
// Route; at start-up it restores its own rows only and drops its own stale WebSocket ones.
TEST_F(ClusterTest, LocationWritesEveryBindingWithItsNodeAndLoadsOnlyItsOwn) {
  store::test::TestQueue queue;
  ManualTimerService timers;
  store::AsyncStore db(store::Store::open(uri()), queue.post());
  {
    LocationService ls(timers, &db);
    ls.set_cluster("a", [](const Binding& b) { return cluster_route("sip:10.0.0.11:5060", b); });
    EXPECT_TRUE(ls.persisted(Protocol::Wss));
    RegisterUpdate u;
    u.aor = "alice@example.com";
    u.call_id = "c1";
    u.cseq = 1;
    u.source.protocol = Protocol::Wss;
    u.source.peer = Endpoint{*parse_ip("192.0.2.1"), 40000};
    u.source.flow = 7;
    u.direct = true;
    u.contacts.push_back(ContactUpdate{"sip:x@abc.invalid;transport=ws", "", "", 0, 1.0f, 300});
    ASSERT_TRUE(ls.update(u));
    db.flush();
  }
  auto rows = db.sync().find_bindings("alice@example.com");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].node, "a");
  EXPECT_EQ(rows[0].route, "<sip:" + proxy::flow_token_user(7) + "@10.0.0.11:5060;lr>");
  EXPECT_EQ(rows[0].received.rfind("wss:", 0), 0u);

  // Node b's UDP binding, as b would have written it.
  store::BindingRecord theirs;
  theirs.aor = "bob@example.com";
  theirs.contact = "sip:bob@192.0.2.9";
  theirs.received = "udp:192.0.2.9:5060";
  theirs.expires_at = timers.unix_time() + 300;
  theirs.node = "b";
  db.sync().put_binding(theirs);

  LocationService restarted(timers, &db);
  restarted.set_cluster("a", nullptr);
  EXPECT_EQ(restarted.load(db.sync()), 0u);  // a's WebSocket row is stale; b's is b's
  EXPECT_TRUE(db.sync().find_bindings("alice@example.com").empty());
  EXPECT_EQ(db.sync().find_bindings("bob@example.com").size(), 1u);
  EXPECT_FALSE(restarted.has_bindings("bob@example.com"));
}

}  // namespace
}  // namespace sipws::registrar
