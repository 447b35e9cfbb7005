#pragma once
// Flood control per source IP (like Kamailio's pike module): a source sending more than
// max_requests requests within a window is blocked for a while. I/O-free; the caller drops (or
// answers) what it blocks and logs once per block.

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "common/counters.hpp"
#include "common/net.hpp"
#include "common/timer.hpp"

namespace sipws::auth {

struct FloodGuardConfig {
  /// Requests one source IP may send within `window`; 0 = flood control off.
  std::uint32_t max_requests = 0;
  Millis window{2000};
  /// How long a source over the limit is blocked.
  Millis block_time{30000};
  /// Sources never counted nor blocked (trusted peers, a load balancer).
  std::vector<IpNetwork> exempt;
  /// Most source IPs tracked at once (at least 1). When full, the source whose window opened
  /// first is evicted, and only when every tracked source is blocked the block that ends first.
  std::size_t max_tracked = 100000;
};

enum class FloodVerdict : std::uint8_t {
  Allow,
  Block,  ///< the source is over the limit now: drop the request
};

/// The answer to one FloodGuard::check.
struct FloodCheck {
  FloodVerdict verdict = FloodVerdict::Allow;
  bool started_block = false;  ///< this request started the block: log it (once per block)
};

/// Counts requests per source IP in fixed windows: a source's window opens at its first request
/// and lasts `window`; request max_requests + 1 within it blocks the source for `block_time`
/// (counted as flood_blocks). Requests during a block are refused but do not extend it; every
/// refused request, the one that started the block included, counts as flood_blocked_requests.
/// After the block a new window opens. A fixed window
/// lets at most 2 * max_requests through in any `window`. IPv4-mapped IPv6 sources count as
/// IPv4. Cost per request: the exempt list scan (usually empty) and one hash lookup, plus
/// amortized O(1) expiry. Thread: core io thread; time from the TimerService's now().
class FloodGuard {
 public:
  FloodGuard(TimerService& timers, FloodGuardConfig cfg = {});
  FloodGuard(const FloodGuard&) = delete;
  FloodGuard& operator=(const FloodGuard&) = delete;

  /// Counts one request from `ip` and says whether to let it through.
  FloodCheck check(const IpAddress& ip);

  /// True while `ip` is blocked (does not count a request).
  bool blocked(const IpAddress& ip);
  /// Ends `ip`'s block and forgets its count (admin API); false if it was not blocked.
  bool unblock(const IpAddress& ip);
  /// Sources blocked now.
  std::size_t active_blocks();
  /// Sources tracked now (counting or blocked); never above max_tracked.
  std::size_t tracked() const { return entries_.size(); }
  const FloodGuardConfig& config() const { return cfg_; }

 private:
  struct Entry;
  struct Slot {
    const IpAddress* ip = nullptr;  ///< the map node's key (stable while the entry exists)
    Entry* entry = nullptr;
  };
  using SlotList = std::list<Slot>;
  struct Entry {
    std::uint32_t requests = 0;
    TimePoint window_start{};
    TimePoint blocked_until{};
    bool blocked = false;
    SlotList::iterator slot;  ///< in counting_ (by window start) or blocked_ (by block end)
  };

  void expire(TimePoint now);
  void make_room();
  void erase(SlotList& list, SlotList::iterator pos);
  bool exempt(const IpAddress& ip) const;

  TimerService& timers_;
  FloodGuardConfig cfg_;
  std::unordered_map<IpAddress, Entry, IpAddressHash> entries_;
  SlotList counting_;  ///< oldest window first
  SlotList blocked_;   ///< ending first first
  Counter& blocked_requests_;
  Counter& blocks_;
};

}  // namespace sipws::auth
