#pragma once
// In-memory subscriber credentials (HA1s) for checks that must answer synchronously: the
// WebSocket upgrade's validate handler cannot wait for the store (websocketpp 0.8.2 has no
// deferred handshake), so a miss starts an AsyncStore fetch and answers "not yet".

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/timer.hpp"
#include "store/store.hpp"

namespace sipws::auth {

/// user@domain -> Subscriber (or "no such subscriber"), each entry kept `ttl` after it was
/// fetched, or until the store's generation() moves (a change by the CLI or another node, seen
/// within the AsyncStore's poll interval). A fetch that the store failed is not an answer: it is
/// never kept as "no such subscriber" (nor handed to other caches); lookups see State::Error for
/// `error_ttl`, then fetch again. Thread: core io thread (the AsyncStore must post its
/// callbacks there).
class CredentialCache {
 public:
  struct Config {
    Millis ttl{60000};           ///< known subscribers (a changed password applies after this)
    Millis negative_ttl{10000};  ///< unknown users
    std::size_t max_entries = 10000;
    std::size_t max_in_flight = 256;  ///< concurrent store fetches; more => Busy
    /// A failed fetch answers Error this long (so that a synchronous caller can tell it, and
    /// a failing store is asked at most once per key and interval), then a lookup fetches again.
    Millis error_ttl{1000};
  };

  enum class State {
    Fetching,  ///< not cached: a fetch runs (started by this call or an earlier one)
    Found,     ///< `subscriber` holds the record
    NotFound,  ///< no such subscriber (cached negative answer)
    Busy,      ///< not cached and max_in_flight fetches already run: nothing started
    Error,     ///< the store failed the last fetch (within error_ttl): no answer, not NotFound
  };
  struct Result {
    State state = State::Fetching;
    const store::Subscriber* subscriber = nullptr;  ///< valid until the next call; Found only
  };

  /// `store` and `timers` must outlive the cache.
  CredentialCache(store::AsyncStore& store, TimerService& timers, Config cfg);
  CredentialCache(store::AsyncStore& store, TimerService& timers)
      : CredentialCache(store, timers, Config{}) {}
  ~CredentialCache();

  /// The cached answer for (user, domain); on a miss or an expired entry, starts one fetch
  /// (never two at once for the same key) and returns Fetching, or Busy when too many fetches
  /// already run. Every entry is dropped when the store's generation() moved (a subscriber was
  /// changed by the CLI or another node).
  Result lookup(const std::string& user, const std::string& domain);

  /// Called with the answer: Found (with the subscriber), NotFound or Error (the store failed).
  using Done = std::function<void(const Result&)>;
  /// Like lookup(), for callers that can wait (the digest-auth processor): a cached answer
  /// (or error) calls `done` at once and returns true; otherwise `done` runs when the fetch
  /// (started now or earlier) answers, on the thread the AsyncStore posts to, and this returns
  /// false. Busy also returns false without calling `done` ever: the caller answers 503.
  /// @returns whether `done` already ran; `busy` (if given) is set on Busy.
  bool get(const std::string& user, const std::string& domain, Done done, bool* busy = nullptr);
  /// Called on this cache's thread after each fetch it started answered (not failed) with an
  /// answer that is still current: (user, domain, the subscriber or nullopt, the store generation
  /// the fetch started at). The daemon hands it to the other shards' caches (prime()).
  using Fetched = std::function<void(const std::string& user, const std::string& domain,
                                     const std::optional<store::Subscriber>& subscriber,
                                     std::uint64_t generation)>;
  void on_fetched(Fetched fn) { on_fetched_ = std::move(fn); }
  /// Keeps an answer that another cache fetched (Fetched's arguments), so that a synchronous
  /// check on this shard finds it too. Ignored when the store's generation moved since that
  /// fetch started, or when this cache has a fresh answer or a fetch of its own for the key.
  void prime(const std::string& user, const std::string& domain,
             std::optional<store::Subscriber> subscriber, std::uint64_t generation);
  /// Number of entries (fetching ones included).
  std::size_t size() const { return entries_.size(); }
  /// Number of store fetches started so far.
  std::uint64_t fetches() const { return fetches_; }

 private:
  struct Entry {
    bool fetching = true;
    bool error = false;  ///< the last fetch failed (subscriber then empty)
    std::optional<store::Subscriber> subscriber;
    TimePoint expires{};
    std::uint64_t generation = 0;  ///< the store's generation when the fetch started
    std::vector<Done> waiters;     ///< get() callers waiting for the fetch
  };
  void prune(TimePoint now);
  /// Drops every answered entry when the store's generation moved since the last call.
  void check_generation();
  /// The entry for `key` after a fetch was started for it, or Busy.
  Result start_fetch(const std::string& user, const std::string& domain, const std::string& key,
                     TimePoint now);

  store::AsyncStore& store_;
  TimerService& timers_;
  Config cfg_;
  std::unordered_map<std::string, Entry> entries_;
  std::uint64_t fetches_ = 0;
  std::size_t in_flight_ = 0;
  std::uint64_t generation_ = 0;
  Fetched on_fetched_;
  /// Store callbacks hold a weak_ptr: they are no-ops once the cache is gone.
  std::shared_ptr<CredentialCache*> self_;
};

}  // namespace sipws::auth
