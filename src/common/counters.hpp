#pragma once
// Named monotonic counters (exported on /metrics later). Lock-free to increment.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace sipws {

/// A monotonic counter. Thread: any.
class Counter {
 public:
  void inc(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

/// Registry of counters by name (snake_case, e.g. "sip_parse_errors"). Look a counter up once
/// and keep the reference: references stay valid for the registry's life. Thread: any.
class Counters {
 public:
  Counter& get(std::string_view name);
  /// Name/value pairs sorted by name.
  std::vector<std::pair<std::string, std::uint64_t>> snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Counter>, std::less<>> map_;
};

/// The process-wide registry.
Counters& counters();

}  // namespace sipws

/// The counter `name` (a string literal) of the process-wide registry, looked up once per call
/// site (a function-local static): no lock and no map lookup per increment.
/// `SIPWS_COUNTER("sip_parse_errors").inc()`. A macro, not a template on the name, because the
/// websocketpp code is C++17. Thread: any.
#define SIPWS_COUNTER(name)                                                  \
  ([]() -> ::sipws::Counter& {                                               \
    static ::sipws::Counter& sipws_counter_ = ::sipws::counters().get(name); \
    return sipws_counter_;                                                   \
  }())
