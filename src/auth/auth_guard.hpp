#pragma once
// Brute-force protection for digest authentication: failed attempts are counted per source IP and
// per user (AOR); past a threshold the IP or the user is banned for a while. I/O-free: the caller
// asks before challenging or checking credentials and reports each outcome.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/counters.hpp"
#include "common/net.hpp"
#include "common/string_hash.hpp"
#include "common/timer.hpp"

namespace sipws::auth {

struct AuthGuardConfig {
  /// Failures from one source IP within `window` that ban the IP; 0 = no IP bans.
  std::uint32_t max_failures = 10;
  Millis window{60000};
  /// How long a ban lasts (IP and user bans alike).
  Millis ban_time{600000};
  /// Failures for one AOR, from any IPs, within `window` that ban the user; 0 = no user bans.
  std::uint32_t max_user_failures = 30;
  /// Most IPs + users tracked at once (at least 1). When full, the entry whose window opened
  /// first is evicted, and only when every entry is a ban the ban that ends first: spoofed
  /// sources cannot grow memory without bound, and only push out each other's counts first.
  std::size_t max_tracked = 100000;
};

/// Counts failed digest attempts (RFC 3261 s.22, RFC 7616) and bans sources and users that fail
/// too often. Windows are fixed, not sliding: an IP's (or user's) window opens at its first
/// failure and lasts `window`; reaching max_failures (max_user_failures) before it ends bans it
/// for `ban_time`; a failure after the window ended opens a new one with a count of 1. So a ban
/// needs N failures within less than `window`, and an attacker gets at most 2N-2 attempts in any
/// `window` (N-1 at the end of one window, N-1 at the start of the next) without a ban.
/// Expired bans lift themselves (checked on every call). IPv4-mapped IPv6 sources count as
/// IPv4. Counters: auth_bans_ip, auth_bans_user (bans started). Thread: any: one guard serves
/// every shard, so a source that spreads its attempts over connections on several shards is
/// still counted once. A mutex guards the maps; ip_banned() and user_banned() take it only while
/// a ban is active, record_success() only while failures are being counted (no lock per request
/// while nobody is banned).
/// Time from the injected TimerService's now() (thread-safe; no timers are scheduled).
class AuthGuard {
 public:
  /// What a failure newly started (the caller logs once per ban, not per packet).
  enum class Ban : std::uint8_t { None, Ip, User, IpAndUser };

  /// One active ban, for the admin API and views.
  struct BanInfo {
    Ban kind = Ban::None;  ///< Ip or User
    std::string what;      ///< the IP address text or the AOR
    TimePoint until{};     ///< on the TimerService's clock
  };

  /// Longest AOR counted per user (bytes): longer ones (no real subscriber has one) are counted
  /// per IP only, so that attacker-chosen names cannot hold large keys.
  static constexpr std::size_t kMaxAorLength = 256;

  AuthGuard(TimerService& timers, AuthGuardConfig cfg = {});
  AuthGuard(const AuthGuard&) = delete;
  AuthGuard& operator=(const AuthGuard&) = delete;

  /// True while `ip` is banned.
  bool ip_banned(const IpAddress& ip);
  /// True while the user `aor` ("user@domain", compared as given: the caller normalizes it) is
  /// banned.
  bool user_banned(std::string_view aor);

  /// Records one failed attempt (wrong password, unknown user, bad nonce...) from `ip` for `aor`
  /// (empty: no user to count). A source or user already banned is not counted again.
  /// @returns the ban(s) this failure started.
  Ban record_failure(const IpAddress& ip, std::string_view aor);
  /// Records a successful authentication: clears `ip`'s failure count (not a ban of it). The
  /// user's count is kept on purpose: the real user logging in must not reset a distributed
  /// guessing campaign against the same AOR.
  void record_success(const IpAddress& ip, std::string_view aor);

  /// Lifts `ip`'s ban and forgets its failures; false if it was not banned.
  bool lift(const IpAddress& ip);
  /// Lifts the user's ban and forgets its failures; false if it was not banned.
  bool lift_user(std::string_view aor);

  /// Active bans, those ending first first.
  std::vector<BanInfo> bans();
  std::size_t active_bans();
  /// IPs + users tracked now (counting or banned); never above max_tracked.
  std::size_t tracked();
  const AuthGuardConfig& config() const { return cfg_; }

 private:
  /// A tracked key: exactly one of the pointers is set; they point at the keys of the maps'
  /// nodes (stable while the entry exists).
  struct Entry;
  struct Slot {
    const IpAddress* ip = nullptr;
    const std::string* user = nullptr;
    Entry* entry = nullptr;  ///< the map's value (node-based maps: stable)
  };
  using SlotList = std::list<Slot>;
  struct Entry {
    std::uint32_t failures = 0;
    TimePoint window_start{};
    TimePoint banned_until{};
    bool banned = false;
    SlotList::iterator slot;  ///< in counting_ (by window start) or banned_ (by ban end)
  };
  using IpMap = std::unordered_map<IpAddress, Entry, IpAddressHash>;
  using UserMap = std::unordered_map<std::string, Entry, StringHash, std::equal_to<>>;

  /// Drops bans that ended and counting windows that closed (both lists are in expiry order).
  void expire(TimePoint now);
  /// Makes room for one more entry (evicts as documented in AuthGuardConfig::max_tracked).
  void make_room();
  void erase(SlotList& list, SlotList::iterator pos);
  /// The entry of a new key, counting, window opening at `now`, at the back of counting_.
  template <class Map, class Key>
  Entry& insert(Map& map, Key&& key, TimePoint now);
  /// Counts one failure on `e`; true if it started a ban.
  bool count_failure(Entry& e, std::uint32_t max, TimePoint now);
  /// Stores ips_.size() + users_.size() in tracked_ (under mu_).
  void publish();

  TimerService& timers_;
  AuthGuardConfig cfg_;
  std::mutex mu_;
  std::atomic<std::size_t> tracked_{0};     ///< ips_ + users_ entries, read without mu_
  std::atomic<std::size_t> banned_now_{0};  ///< banned_ entries, read without mu_
  IpMap ips_;
  UserMap users_;
  SlotList counting_;  ///< entries counting failures, oldest window first
  SlotList banned_;    ///< banned entries, ending first first
  Counter& bans_ip_;
  Counter& bans_user_;
};

}  // namespace sipws::auth
