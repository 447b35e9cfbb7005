// CredentialCache: one fetch per miss, answers kept for their TTL (shorter for unknown users),
// a cap on fetches in flight, store answers that arrive after the cache is gone, and a store
// that fails (an error, never an unknown user).

#include "auth/credential_cache.hpp"

#include <gtest/gtest.h>

#include "../store/store_fixtures.hpp"
#include "handshake_test_util.hpp"

namespace sipws::auth {
namespace {

using State = CredentialCache::State;

class CredentialCacheTest : public ::testing::Test {
 protected:
  CredentialCacheTest()
      : store_(store::Store::open(dir_.uri()),
               [this](std::function<void()> fn) { queue_.push(std::move(fn)); }) {
    store_.sync().put_subscriber(make_subscriber("alice", "example.com", "secret"));
  }
  void settle() {
    store_.flush();
    queue_.drain();
  }

  test::TempDir dir_;
  test::TestQueue queue_;
  ManualTimerService timers_;
  store::AsyncStore store_;
};

TEST_F(CredentialCacheTest, MissFetchesOnceThenAnswersUntilTheTtl) {
  CredentialCache cache(store_, timers_, {Millis(60000), Millis(10000), 100, 8});
  EXPECT_EQ(cache.lookup("alice", "example.com").state, State::Fetching);
  EXPECT_EQ(cache.lookup("alice", "example.com").state, State::Fetching);
  EXPECT_EQ(cache.fetches(), 1u);
  settle();
  auto r = cache.lookup("alice", "example.com");
  ASSERT_EQ(r.state, State::Found);
  EXPECT_EQ(r.subscriber->ha1_md5, ha1(DigestAlgorithm::Md5, "alice", "example.com", "secret"));
  timers_.advance(Millis(59999));
  EXPECT_EQ(cache.lookup("alice", "example.com").state, State::Found);
  timers_.advance(Millis(1));
  EXPECT_EQ(cache.lookup("alice", "example.com").state, State::Fetching);  // refetch
  EXPECT_EQ(cache.fetches(), 2u);
}

TEST_F(CredentialCacheTest, GetAnswersFromMemoryOrWhenTheOneFetchEnds) {
  CredentialCache cache(store_, timers_, {Millis(60000), Millis(10000), 100, 8});
  std::vector<std::string> got;
  auto record = [&](const CredentialCache::Result& r) {
    got.push_back(r.subscriber != nullptr ? r.subscriber->user : "none");
  };
  EXPECT_FALSE(cache.get("alice", "example.com", record));
  EXPECT_FALSE(cache.get("alice", "example.com", record));  // waits for the same fetch
  EXPECT_FALSE(cache.get("nobody", "example.com", record));
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(cache.fetches(), 2u);
  settle();
  EXPECT_EQ(got, (std::vector<std::string>{"alice", "alice", "none"}));
  got.clear();
  EXPECT_TRUE(cache.get("alice", "example.com", record));
  EXPECT_TRUE(cache.get("nobody", "example.com", record));
  EXPECT_EQ(got, (std::vector<std::string>{"alice", "none"}));
  EXPECT_EQ(cache.fetches(), 2u);
}

TEST_F(CredentialCacheTest, AStoreChangeDropsEveryEntryAndAnAnswerReadBeforeItIsNotKept) {
  CredentialCache cache(store_, timers_, {Millis(60000), Millis(10000), 100, 8});
  cache.lookup("alice", "example.com");
  settle();
  ASSERT_EQ(cache.lookup("alice", "example.com").state, State::Found);
  // Another process changes the password: the generation moves and the entry goes.
  store::Store::open(dir_.uri())->put_subscriber(make_subscriber("alice", "example.com", "n3w"));
  store_.invalidate();
  EXPECT_EQ(cache.lookup("alice", "example.com").state, State::Fetching);
  settle();
  auto r = cache.lookup("alice", "example.com");
  ASSERT_EQ(r.state, State::Found);
  EXPECT_EQ(r.subscriber->ha1_md5, ha1(DigestAlgorithm::Md5, "alice", "example.com", "n3w"));

  // A fetch that started before a change answers its waiters but is not kept.
  cache.lookup("carol", "example.com");  // starts a fetch (no such user yet)
  store_.invalidate();
  cache.lookup("alice", "example.com");  // sees the change while carol's fetch runs
  settle();
  EXPECT_EQ(cache.lookup("carol", "example.com").state, State::Fetching);
  EXPECT_EQ(cache.fetches(), 5u);
}

// Shards: what one cache fetched is handed to another (on_fetched -> prime), which then
// answers without a fetch of its own; a primed answer from before a store change is refused.
TEST_F(CredentialCacheTest, AFetchedAnswerPrimesAnotherCache) {
  CredentialCache a(store_, timers_, {Millis(60000), Millis(10000), 100, 8});
  CredentialCache b(store_, timers_, {Millis(60000), Millis(10000), 100, 8});
  a.on_fetched([&](const std::string& user, const std::string& domain,
                   const std::optional<store::Subscriber>& sub,
                   std::uint64_t generation) { b.prime(user, domain, sub, generation); });
  EXPECT_EQ(a.lookup("alice", "example.com").state, State::Fetching);
  EXPECT_EQ(a.lookup("nobody", "example.com").state, State::Fetching);
  settle();
  EXPECT_EQ(b.lookup("alice", "example.com").state, State::Found);
  EXPECT_EQ(b.lookup("nobody", "example.com").state, State::NotFound);
  EXPECT_EQ(b.fetches(), 0u);
  // Stale: a generation the store has left behind is not kept.
  const std::uint64_t old = store_.generation();
  store_.invalidate();
  b.prime("carol", "example.com", store::Subscriber{"carol", "example.com", "x", "y"}, old);
  EXPECT_EQ(b.lookup("carol", "example.com").state, State::Fetching);
}

TEST_F(CredentialCacheTest, UnknownUsersAreCachedShorter) {
  CredentialCache cache(store_, timers_, {Millis(60000), Millis(10000), 100, 8});
  cache.lookup("nobody", "example.com");
  settle();
  EXPECT_EQ(cache.lookup("nobody", "example.com").state, State::NotFound);
  timers_.advance(Millis(10000));
  EXPECT_EQ(cache.lookup("nobody", "example.com").state, State::Fetching);
}

TEST_F(CredentialCacheTest, TooManyFetchesInFlightIsBusyAndStartsNothing) {
  CredentialCache cache(store_, timers_, {Millis(60000), Millis(10000), 100, 2});
  EXPECT_EQ(cache.lookup("u1", "example.com").state, State::Fetching);
  EXPECT_EQ(cache.lookup("u2", "example.com").state, State::Fetching);
  EXPECT_EQ(cache.lookup("u3", "example.com").state, State::Busy);
  EXPECT_EQ(cache.fetches(), 2u);
  settle();
  EXPECT_EQ(cache.lookup("u3", "example.com").state, State::Fetching);
}

TEST_F(CredentialCacheTest, SizeIsBoundedByPruningAnsweredEntries) {
  CredentialCache cache(store_, timers_, {Millis(60000), Millis(10000), 4, 100});
  for (int i = 0; i < 4; ++i) cache.lookup("u" + std::to_string(i), "example.com");
  settle();
  EXPECT_EQ(cache.size(), 4u);
  cache.lookup("u9", "example.com");
  EXPECT_LE(cache.size(), 4u);
}

// A store answer that arrives after its cache is destroyed is delivered (the queue runs it) but
// dropped: neither the waiters nor the on_fetched hook of the dead cache run. A cache that is
// still alive, fetching the same user at the same time, gets its answer: settle() delivers.
TEST_F(CredentialCacheTest, AnswerAfterTheCacheIsGoneIsIgnored) {
  int dead_waiters = 0, dead_fetched = 0, live_waiters = 0;
  auto cache = std::make_unique<CredentialCache>(store_, timers_);
  cache->on_fetched([&](const std::string&, const std::string&,
                        const std::optional<store::Subscriber>&,
                        std::uint64_t) { ++dead_fetched; });
  EXPECT_FALSE(
      cache->get("alice", "example.com", [&](const CredentialCache::Result&) { ++dead_waiters; }));
  CredentialCache live(store_, timers_);
  EXPECT_FALSE(live.get("alice", "example.com", [&](const CredentialCache::Result& r) {
    EXPECT_EQ(r.state, State::Found);
    EXPECT_NE(r.subscriber, nullptr);
    ++live_waiters;
  }));
  cache.reset();
  store_.flush();
  EXPECT_EQ(queue_.drain(), 2);  // both answers arrive
  EXPECT_EQ(dead_waiters, 0);
  EXPECT_EQ(dead_fetched, 0);
  EXPECT_EQ(live_waiters, 1);
}

// The store fails (its subscriber table dropped by another connection): the fetch answers
// Error, to waiters and lookups alike, for error_ttl and without another store trip; it is never
// NotFound, and it is not handed to another shard's cache. Once error_ttl is over the next
// lookup asks again and, the store being back, finds the subscriber.
TEST_F(CredentialCacheTest, AFailedFetchIsAnErrorForErrorTtlNeverAnUnknownUser) {
  CredentialCache::Config cfg{Millis(60000), Millis(10000), 100, 8};
  cfg.error_ttl = Millis(1000);
  CredentialCache cache(store_, timers_, cfg);
  CredentialCache other(store_, timers_, cfg);
  int handed = 0;
  cache.on_fetched([&](const std::string& user, const std::string& domain,
                       const std::optional<store::Subscriber>& sub, std::uint64_t generation) {
    ++handed;
    other.prime(user, domain, sub, generation);
  });
  store::test::exec_sql(std::filesystem::path(dir_.path()) / "sipws.db", "DROP TABLE subscriber");

  std::vector<State> got;
  auto record = [&](const CredentialCache::Result& r) {
    EXPECT_EQ(r.subscriber, nullptr);
    got.push_back(r.state);
  };
  EXPECT_FALSE(cache.get("alice", "example.com", record));
  EXPECT_FALSE(cache.get("nobody", "example.com", record));
  settle();
  EXPECT_EQ(got, (std::vector<State>{State::Error, State::Error}));
  EXPECT_EQ(handed, 0);
  EXPECT_EQ(other.lookup("alice", "example.com").state, State::Fetching);  // nothing primed
  settle();
  EXPECT_EQ(cache.lookup("alice", "example.com").state, State::Error);
  EXPECT_TRUE(cache.get("nobody", "example.com", record));  // answered at once: Error
  EXPECT_EQ(got.back(), State::Error);
  EXPECT_EQ(cache.fetches(), 2u);  // no store trip within error_ttl

  // The CLI recreates the table (Store::open creates the schema) and the subscriber.
  store::Store::open(dir_.uri())->put_subscriber(make_subscriber("alice", "example.com", "s3"));
  timers_.advance(Millis(999));
  EXPECT_EQ(cache.lookup("alice", "example.com").state, State::Error);
  timers_.advance(Millis(1));
  EXPECT_EQ(cache.lookup("alice", "example.com").state, State::Fetching);
  EXPECT_EQ(cache.lookup("nobody", "example.com").state, State::Fetching);
  settle();
  const auto r = cache.lookup("alice", "example.com");
  ASSERT_EQ(r.state, State::Found);
  EXPECT_EQ(r.subscriber->ha1_md5, ha1(DigestAlgorithm::Md5, "alice", "example.com", "s3"));
  EXPECT_EQ(cache.lookup("nobody", "example.com").state, State::NotFound);  // a real absence
  EXPECT_EQ(handed, 2);
}

}  // namespace
}  // namespace sipws::auth
