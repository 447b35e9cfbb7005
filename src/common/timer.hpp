#pragma once
// Time and timers as an interface, so protocol code can be driven by a manual clock in tests
// (RFC 3261 timers A-K, registration expiry, nonce lifetime) and by Asio in the daemon.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>

namespace sipws {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;
using Millis = std::chrono::milliseconds;

/// One-shot timers plus the current time. Thread: every call and every callback happens on the
/// thread (executor) that runs the service; implementations are not thread-safe.
class TimerService {
 public:
  using TimerId = std::uint64_t;  ///< never 0 for a scheduled timer
  virtual ~TimerService() = default;
  /// Monotonic now.
  virtual TimePoint now() const = 0;
  /// Wall-clock seconds since the Unix epoch (for persisted expiry times).
  virtual std::int64_t unix_time() const = 0;
  /// Calls `fn` once, `delay` from now, unless cancelled first. Returns the timer's id.
  virtual TimerId schedule(Millis delay, std::function<void()> fn) = 0;
  /// Cancels a pending timer; no-op for an id that fired, was cancelled, or is 0.
  virtual void cancel(TimerId id) = 0;
};

/// A TimerService whose time only moves when a test calls advance(). Timers due at the same
/// instant fire in scheduling order. Thread: the test's.
class ManualTimerService final : public TimerService {
 public:
  TimePoint now() const override { return now_; }
  std::int64_t unix_time() const override {
    return unix_base_ +
           std::chrono::duration_cast<std::chrono::seconds>(now_ - TimePoint{}).count();
  }
  TimerId schedule(Millis delay, std::function<void()> fn) override {
    TimerId id = ++next_id_;
    timers_.emplace(std::make_pair(now_ + delay, id), std::move(fn));
    return id;
  }
  void cancel(TimerId id) override {
    for (auto it = timers_.begin(); it != timers_.end(); ++it) {
      if (it->first.second == id) {
        timers_.erase(it);
        return;
      }
    }
  }
  /// Moves time forward by `d`, firing every timer that falls due, in time order (timers that
  /// callbacks schedule inside the window fire too).
  void advance(Millis d) {
    const TimePoint end = now_ + d;
    while (!timers_.empty() && timers_.begin()->first.first <= end) {
      auto it = timers_.begin();
      now_ = it->first.first;
      auto fn = std::move(it->second);
      timers_.erase(it);
      fn();
    }
    now_ = end;
  }
  /// Number of timers still pending.
  std::size_t pending() const { return timers_.size(); }

 private:
  TimePoint now_{};
  std::int64_t unix_base_ = 1'700'000'000;
  TimerId next_id_ = 0;
  std::map<std::pair<TimePoint, TimerId>, std::function<void()>> timers_;
};

}  // namespace sipws
