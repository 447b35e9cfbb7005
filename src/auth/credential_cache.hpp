#pragma once
// In-memory subscriber credentials (HA1s) for checks that must answer synchronously: the
// WebSocket upgrade's validate handler cannot wait for the store (websocketpp 0.8.2 has no
// deferred handshake), so a miss starts an AsyncStore fetch and answers "not yet".

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/timer.hpp"
#include "store/store.hpp"

namespace sipws::auth {

/// user@domain -> Subscriber (or "no such subscriber"), each entry kept `ttl` after it was
/// fetched. Thread: core io thread (the AsyncStore must post its callbacks there).
class CredentialCache {
 public:
  struct Config {
    Millis ttl{60000};           ///< known subscribers (a changed password applies after this)
    Millis negative_ttl{10000};  ///< unknown users
    std::size_t max_entries = 10000;
    std::size_t max_in_flight = 256;  ///< concurrent store fetches; more => Busy
  };

  enum class State {
    Fetching,  ///< not cached: a fetch runs (started by this call or an earlier one)
    Found,     ///< `subscriber` holds the record
    NotFound,  ///< no such subscriber (cached negative answer)
    Busy,      ///< not cached and max_in_flight fetches already run: nothing started
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
  /// already run.
  Result lookup(const std::string& user, const std::string& domain);
  /// Number of entries (fetching ones included).
  std::size_t size() const { return entries_.size(); }
  /// Number of store fetches started so far.
  std::uint64_t fetches() const { return fetches_; }

 private:
  struct Entry {
    bool fetching = true;
    std::optional<store::Subscriber> subscriber;
    TimePoint expires{};
  };
  void prune(TimePoint now);

  store::AsyncStore& store_;
  TimerService& timers_;
  Config cfg_;
  std::unordered_map<std::string, Entry> entries_;
  std::uint64_t fetches_ = 0;
  std::size_t in_flight_ = 0;
  /// Store callbacks hold a weak_ptr: they are no-ops once the cache is gone.
  std::shared_ptr<CredentialCache*> self_;
};

}  // namespace sipws::auth
