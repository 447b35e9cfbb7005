#pragma once
// sipws-load's measurements: a bounded log-linear latency histogram, error counters by kind,
// per-thread statistics merged at the end, /proc sampling of server processes, and the report
// (text and JSON). Thread: a Stats belongs to one generator thread; merge after join.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sipws::load {

/// Latencies in microseconds, about 1.5 % precision (64 sub-buckets per power of two), up to
/// 2^40 us; fixed memory (~19 KiB).
class Histogram {
 public:
  void record(std::uint64_t us);
  void merge(const Histogram& o);
  std::uint64_t count() const { return count_; }
  /// The value at quantile q (0..1) in microseconds; 0 when empty.
  double quantile(double q) const;
  std::uint64_t max() const { return max_; }
  /// {p50, p90, p99, max} in milliseconds.
  nlohmann::json to_json_ms() const;

 private:
  static constexpr int kSub = 64;
  static constexpr int kLinear = 128;
  static constexpr int kBuckets = kLinear + (41 - 7) * kSub;
  static int index(std::uint64_t us);
  static double value_of(int idx);
  std::array<std::uint64_t, kBuckets> b_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

enum class ErrorKind { Timeout, Connect, Closed, Status4xx, Status5xx, Status6xx, Parse, kCount };
const char* error_name(ErrorKind k);

/// One generator thread's counters (only what happened inside the measured window, except the
/// connect-mode gauges).
struct Stats {
  std::uint64_t operations = 0;
  std::uint64_t transactions = 0;
  Histogram latency;      ///< register: REGISTER -> 200; call: INVITE -> 2xx (setup)
  Histogram bye_latency;  ///< call: BYE -> 200
  std::array<std::uint64_t, static_cast<int>(ErrorKind::kCount)> errors{};
  // connect / answer / respond gauges (whole run)
  std::uint64_t connected = 0;
  std::uint64_t registered = 0;
  std::uint64_t dropped = 0;
  std::uint64_t requests_answered = 0;

  void error(ErrorKind k) { ++errors[static_cast<int>(k)]; }
  std::uint64_t error_total() const;
  void merge(const Stats& o);
};

/// CPU and memory of one server process (Linux /proc).
struct ProcSample {
  bool ok = false;
  std::uint64_t cpu_ticks = 0;  ///< utime + stime
  std::uint64_t pss_kb = 0;
};
ProcSample sample_proc(int pid);
/// Clock ticks per second (sysconf(_SC_CLK_TCK)).
double clock_ticks();

/// One --pid's figures over the measured interval.
struct ProcReport {
  int pid = 0;
  ProcSample before;  ///< at the start of the measured interval (connect: before the flows)
  ProcSample start;   ///< CPU at the start of the measured interval
  ProcSample end;
};

struct RunInfo {
  std::string mode, transport, target;
  std::uint64_t connections = 0;
  unsigned threads = 1;
  double duration_s = 0;
  std::vector<ProcReport> procs;
  ProcReport self;  ///< sipws-load itself (to show it is not the bottleneck)
};

/// The report as JSON (see tools/load/README.md for the fields).
nlohmann::json report_json(const RunInfo& run, const Stats& s);
/// The same report as text lines.
std::string report_text(const nlohmann::json& j);

}  // namespace sipws::load
