#include "transport/flow.hpp"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace sipws::transport {
namespace {

/// A Flow that only records what it is asked to do (FlowTable needs no I/O).
class FakeFlow final : public Flow {
 public:
  FakeFlow(FlowId id, Protocol p, Endpoint peer) : id_(id), p_(p), peer_(std::move(peer)) {}
  FlowId id() const override { return id_; }
  Protocol protocol() const override { return p_; }
  Endpoint peer() const override { return peer_; }
  Endpoint local() const override { return {}; }
  bool send(std::shared_ptr<const std::string>) override { return true; }
  void close() override {}

 private:
  FlowId id_;
  Protocol p_;
  Endpoint peer_;
};

TEST(FlowTable, IdsAreFreshAndNeverZero) {
  FlowTable t;
  const FlowId a = t.next_id();
  const FlowId b = t.next_id();
  EXPECT_NE(a, kNoFlow);
  EXPECT_NE(a, b);
}

TEST(FlowTable, IdsNameTheShardOfTheirTable) {
  for (unsigned shard : {0u, 1u, 7u, 128u, kMaxShards - 1}) {
    FlowTable t(shard);
    EXPECT_EQ(t.shard(), shard);
    for (int i = 0; i < 3; ++i) {
      const FlowId id = t.next_id();
      EXPECT_NE(id, kNoFlow) << shard;
      EXPECT_EQ(id & (kMaxShards - 1), shard);  // the low 8 bits
      EXPECT_EQ(FlowTable::shard_of(id), shard);
      EXPECT_EQ(flow_shard(id), shard);
    }
  }
  EXPECT_EQ(FlowTable().shard(), 0u);
}

TEST(FlowTable, IdsAreUniqueAcrossTheTablesOfTheProcess) {
  // Two tables of one shard (the daemon's admin table and shard 0's) and two other shards.
  FlowTable a(0);
  FlowTable b(0);
  FlowTable c(1);
  FlowTable d(kMaxShards - 1);
  std::set<FlowId> seen;
  for (int i = 0; i < 1000; ++i) {
    for (FlowTable* t : {&a, &b, &c, &d}) {
      const FlowId id = t->next_id();
      EXPECT_NE(id, kNoFlow);
      EXPECT_TRUE(seen.insert(id).second) << "id " << id << " made twice";
    }
  }
}

TEST(FlowTable, IdsMadeOnTwoThreadsAtOnceAreUnique) {
  FlowTable a(0);
  FlowTable b(1);
  std::vector<FlowId> from_a;
  std::vector<FlowId> from_b;
  auto fill = [](FlowTable& t, std::vector<FlowId>& out) {
    for (int i = 0; i < 20000; ++i) out.push_back(t.next_id());
  };
  std::thread ta(fill, std::ref(a), std::ref(from_a));
  std::thread tb(fill, std::ref(b), std::ref(from_b));
  ta.join();
  tb.join();
  // The sequence part is shared too: ids of different shards never share it.
  std::set<FlowId> seqs;
  for (const auto& ids : {from_a, from_b}) {
    for (FlowId id : ids) EXPECT_TRUE(seqs.insert(id >> kFlowShardBits).second);
  }
  EXPECT_EQ(seqs.size(), 40000u);
}

TEST(FlowTable, AShardThatDoesNotFitInTheIdIsRefused) {
  // Braces: `FlowTable(kMaxShards);` would declare a variable named kMaxShards.
  EXPECT_THROW(FlowTable{kMaxShards}, std::invalid_argument);
  EXPECT_THROW(FlowTable{100000}, std::invalid_argument);
  EXPECT_NO_THROW(FlowTable{kMaxShards - 1});
}

TEST(FlowTable, NoFlowNamesNoShardButZero) {
  EXPECT_EQ(flow_shard(kNoFlow), 0u);
  EXPECT_EQ(kMaxShards, 256u);
}

TEST(FlowTable, FindByIdAndPeerThenRemoveNotifiesOnce) {
  FlowTable t;
  const Endpoint peer{boost::asio::ip::make_address("127.0.0.1"), 5060};
  auto tcp = std::make_shared<FakeFlow>(t.next_id(), Protocol::Tcp, peer);
  auto tls = std::make_shared<FakeFlow>(t.next_id(), Protocol::Tls, peer);
  t.add(tcp);
  t.add(tls);
  std::vector<std::pair<FlowId, Protocol>> closed;
  t.on_close([&](FlowId id, Protocol p) { closed.emplace_back(id, p); });
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.find(tcp->id()), tcp);
  EXPECT_EQ(t.find_by_peer(Protocol::Tls, peer), tls);
  EXPECT_EQ(t.find_by_peer(Protocol::Udp, peer), nullptr);
  EXPECT_EQ(t.find_by_peer(Protocol::Tcp, Endpoint{peer.address, 5061}), nullptr);
  t.remove(tcp->id());
  t.remove(tcp->id());  // unknown now: no second notification
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0], std::make_pair(tcp->id(), Protocol::Tcp));
  EXPECT_EQ(t.find(tcp->id()), nullptr);
  EXPECT_EQ(t.all().size(), 1u);
}

TEST(FlowTable, IdentityIsBoundToAnOpenFlowAndForgottenWithIt) {
  FlowTable t;
  const Endpoint peer{boost::asio::ip::make_address("127.0.0.1"), 40000};
  auto ws = std::make_shared<FakeFlow>(t.next_id(), Protocol::Ws, peer);
  t.add(ws);
  EXPECT_EQ(t.identity(ws->id()), "");
  t.bind_identity(ws->id(), "alice@example.com");
  EXPECT_EQ(t.identity(ws->id()), "alice@example.com");
  t.bind_identity(ws->id() + 1, "mallory@example.com");  // no such flow: ignored
  EXPECT_EQ(t.identity(ws->id() + 1), "");
  t.remove(ws->id());
  EXPECT_EQ(t.identity(ws->id()), "");
  // A later flow never inherits it (ids are not reused, and the binding went with the flow).
  auto next = std::make_shared<FakeFlow>(t.next_id(), Protocol::Ws, peer);
  t.add(next);
  EXPECT_EQ(t.identity(next->id()), "");
}

// With several shards a table publishes its flows in the FlowDirectory, where the other
// shards read whether a flow is open, its transport, peer and proven identity.
TEST(FlowTable, PublishesItsFlowsInTheDirectory) {
  FlowDirectory dir;
  FlowTable t(1);
  t.set_directory(&dir);
  const Endpoint peer{boost::asio::ip::make_address("192.0.2.9"), 5071};
  const FlowId id = t.next_id();
  EXPECT_FALSE(dir.find(id).has_value());
  t.add(std::make_shared<FakeFlow>(id, Protocol::Wss, peer));
  auto e = dir.find(id);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->protocol, Protocol::Wss);
  EXPECT_EQ(e->peer, peer);
  EXPECT_EQ(e->identity, "");
  t.bind_identity(id, "alice@example.com");
  EXPECT_EQ(dir.find(id)->identity, "alice@example.com");
  t.bind_identity(id + 256, "mallory@example.com");  // not a flow of this table: ignored
  EXPECT_FALSE(dir.find(id + 256).has_value());
  t.remove(id);
  EXPECT_FALSE(dir.find(id).has_value());
  EXPECT_EQ(dir.size(), 0u);
}

// The directory is read and written from several threads at once (one writer per shard).
TEST(FlowDirectory, SeveralShardsAtOnce) {
  FlowDirectory dir;
  std::vector<std::thread> shards;
  for (unsigned s = 0; s < 4; ++s) {
    shards.emplace_back([&dir, s] {
      FlowTable t(s);
      t.set_directory(&dir);
      std::vector<FlowId> mine;
      for (int i = 0; i < 500; ++i) {
        const FlowId id = t.next_id();
        t.add(std::make_shared<FakeFlow>(id, Protocol::Tcp, Endpoint{}));
        mine.push_back(id);
        (void)dir.find(id ^ 1);  // another shard's flow, maybe
      }
      for (std::size_t i = 0; i < mine.size(); i += 2) t.remove(mine[i]);
    });
  }
  for (auto& th : shards) th.join();
  EXPECT_EQ(dir.size(), 4u * 250u);
}

}  // namespace
}  // namespace sipws::transport
