#pragma once
// A token bucket rate limiter driven by the caller's clock (testable with any time point).
// Header-only and C++17 (used by src/ws/).

#include <algorithm>
#include <chrono>

#include "common/timer.hpp"

namespace sipws {

/// Allows `rate` events per second on average with bursts of up to `burst` events. Starts full.
/// rate 0 disables the limit (take() is always true). Thread: one thread.
class TokenBucket {
 public:
  TokenBucket() = default;
  TokenBucket(double rate, double burst, TimePoint now)
      : rate_(rate), burst_(std::max(burst, 1.0)), tokens_(burst_), last_(now) {}

  /// Takes one token if available at `now` (time points must not go backwards).
  bool take(TimePoint now) {
    if (rate_ <= 0) return true;
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    if (elapsed > 0) {
      tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
      last_ = now;
    }
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

 private:
  double rate_ = 0;
  double burst_ = 1;
  double tokens_ = 1;
  TimePoint last_{};
};

}  // namespace sipws
