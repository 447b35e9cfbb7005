#include "stats.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace sipws::load {

int Histogram::index(std::uint64_t us) {
  if (us < kLinear) return static_cast<int>(us);
  int e = static_cast<int>(std::bit_width(us)) - 1;  // >= 7
  if (e > 40) return kBuckets - 1;
  int sub = static_cast<int>((us >> (e - 6)) & (kSub - 1));
  return kLinear + (e - 7) * kSub + sub;
}

double Histogram::value_of(int idx) {
  if (idx < kLinear) return idx;
  int e = (idx - kLinear) / kSub + 7;
  int sub = (idx - kLinear) % kSub;
  double lo = std::ldexp(1.0, e) + sub * std::ldexp(1.0, e - 6);
  return lo + std::ldexp(1.0, e - 7);  // middle of the bucket
}

void Histogram::record(std::uint64_t us) {
  ++b_[static_cast<std::size_t>(index(us))];
  ++count_;
  if (us > max_) max_ = us;
}

void Histogram::merge(const Histogram& o) {
  for (std::size_t i = 0; i < b_.size(); ++i) b_[i] += o.b_[i];
  count_ += o.count_;
  if (o.max_ > max_) max_ = o.max_;
}

double Histogram::quantile(double q) const {
  if (count_ == 0) return 0;
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  if (rank == 0) rank = 1;
  std::uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += b_[static_cast<std::size_t>(i)];
    if (seen >= rank) return std::min(value_of(i), static_cast<double>(max_));
  }
  return static_cast<double>(max_);
}

nlohmann::json Histogram::to_json_ms() const {
  auto ms = [](double us) { return std::round(us) / 1000.0; };
  return {{"p50", ms(quantile(0.50))},
          {"p90", ms(quantile(0.90))},
          {"p99", ms(quantile(0.99))},
          {"max", ms(static_cast<double>(max_))}};
}

const char* error_name(ErrorKind k) {
  switch (k) {
    case ErrorKind::Timeout:
      return "timeout";
    case ErrorKind::Connect:
      return "connect";
    case ErrorKind::Closed:
      return "closed";
    case ErrorKind::Status4xx:
      return "status_4xx";
    case ErrorKind::Status5xx:
      return "status_5xx";
    case ErrorKind::Status6xx:
      return "status_6xx";
    case ErrorKind::Parse:
      return "parse";
    case ErrorKind::kCount:
      break;
  }
  return "?";
}

std::uint64_t Stats::error_total() const {
  std::uint64_t n = 0;
  for (auto e : errors) n += e;
  return n;
}

void Stats::merge(const Stats& o) {
  operations += o.operations;
  transactions += o.transactions;
  latency.merge(o.latency);
  bye_latency.merge(o.bye_latency);
  for (std::size_t i = 0; i < errors.size(); ++i) errors[i] += o.errors[i];
  connected += o.connected;
  registered += o.registered;
  dropped += o.dropped;
  requests_answered += o.requests_answered;
}

double clock_ticks() { return static_cast<double>(sysconf(_SC_CLK_TCK)); }

ProcSample sample_proc(int pid) {
  ProcSample s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return s;
  std::size_t rp = line.rfind(')');
  if (rp == std::string::npos) return s;
  std::istringstream in(line.substr(rp + 2));
  // Fields from 3 (state) on; utime and stime are fields 14 and 15 (proc(5)).
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && (in >> field); ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  s.cpu_ticks = utime + stime;
  std::ifstream smaps("/proc/" + std::to_string(pid) + "/smaps_rollup");
  while (std::getline(smaps, line)) {
    if (line.starts_with("Pss:")) {
      s.pss_kb = std::stoull(line.substr(4));
      break;
    }
  }
  s.ok = true;
  return s;
}

nlohmann::json report_json(const RunInfo& run, const Stats& s) {
  using nlohmann::json;
  double dur = run.duration_s > 0 ? run.duration_s : 0;
  auto r2 = [](double v) { return std::round(v * 100.0) / 100.0; };
  json j;
  j["mode"] = run.mode;
  j["transport"] = run.transport;
  if (!run.target.empty()) j["target"] = run.target;
  j["connections"] = run.connections;
  j["threads"] = run.threads;
  j["duration_s"] = r2(dur);
  j["operations"] = s.operations;
  j["ops_per_s"] = dur > 0 ? r2(static_cast<double>(s.operations) / dur) : 0.0;
  j["transactions"] = s.transactions;
  j["latency_ms"] = s.latency.to_json_ms();
  if (run.mode == "call") j["bye_latency_ms"] = s.bye_latency.to_json_ms();
  json e = json::object();
  for (int k = 0; k < static_cast<int>(ErrorKind::kCount); ++k) {
    e[error_name(static_cast<ErrorKind>(k))] = s.errors[static_cast<std::size_t>(k)];
  }
  j["errors"] = e;
  std::uint64_t total = s.operations + s.error_total();
  j["error_rate"] = total ? static_cast<double>(s.error_total()) / static_cast<double>(total) : 0.0;
  if (run.mode == "connect") {
    j["connected"] = s.connected;
    j["registered"] = s.registered;
    j["dropped"] = s.dropped;
  }
  if (run.mode == "answer" || run.mode == "respond") j["requests_answered"] = s.requests_answered;
  if (run.mode == "answer") j["registered"] = s.registered;
  json procs = json::array();
  double tck = clock_ticks();
  for (const auto& p : run.procs) {
    json o;
    o["pid"] = p.pid;
    if (!p.end.ok || !p.start.ok) {
      o["error"] = "cannot read /proc/" + std::to_string(p.pid);
      procs.push_back(o);
      continue;
    }
    double cpu_s = static_cast<double>(p.end.cpu_ticks - p.start.cpu_ticks) / tck;
    o["cpu_percent"] = dur > 0 ? r2(100.0 * cpu_s / dur) : 0.0;
    o["cpu_us_per_op"] = s.operations ? r2(1e6 * cpu_s / static_cast<double>(s.operations)) : 0.0;
    o["pss_kb"] = p.end.pss_kb;
    if (p.before.ok) o["pss_kb_before"] = p.before.pss_kb;
    if (run.mode == "connect") {
      double flows = static_cast<double>(s.registered);
      double delta = static_cast<double>(p.end.pss_kb) - static_cast<double>(p.before.pss_kb);
      o["pss_kb_per_flow"] = flows > 0 ? r2(delta / flows) : 0.0;
    }
    procs.push_back(o);
  }
  j["pids"] = procs;
  if (run.self.start.ok && run.self.end.ok) {
    double cpu_s = static_cast<double>(run.self.end.cpu_ticks - run.self.start.cpu_ticks) / tck;
    double ops = static_cast<double>(std::max(s.operations, s.transactions));
    j["self"] = {{"cpu_percent", dur > 0 ? r2(100.0 * cpu_s / dur) : 0.0},
                 {"cpu_us_per_transaction", ops > 0 ? r2(1e6 * cpu_s / ops) : 0.0}};
  }
  return j;
}

std::string report_text(const nlohmann::json& j) {
  std::ostringstream o;
  o << "mode: " << j["mode"].get<std::string>()
    << "  transport: " << j["transport"].get<std::string>() << "  connections: " << j["connections"]
    << "  threads: " << j["threads"] << "\n";
  o << "duration_s: " << j["duration_s"] << "  operations: " << j["operations"]
    << "  ops_per_s: " << j["ops_per_s"] << "  transactions: " << j["transactions"] << "\n";
  auto lat = [&](const char* name) {
    const auto& l = j[name];
    o << name << ": p50 " << l["p50"] << "  p90 " << l["p90"] << "  p99 " << l["p99"] << "  max "
      << l["max"] << "\n";
  };
  lat("latency_ms");
  if (j.contains("bye_latency_ms")) lat("bye_latency_ms");
  o << "errors:";
  for (const auto& [k, v] : j["errors"].items()) o << " " << k << " " << v;
  o << "  (error_rate " << j["error_rate"] << ")\n";
  for (const char* k : {"connected", "registered", "dropped", "requests_answered"}) {
    if (j.contains(k)) o << k << ": " << j[k] << "  ";
  }
  if (j.contains("registered") || j.contains("requests_answered")) o << "\n";
  if (j.contains("self")) {
    o << "self: cpu_percent " << j["self"]["cpu_percent"] << "  cpu_us_per_transaction "
      << j["self"]["cpu_us_per_transaction"] << "\n";
  }
  for (const auto& p : j["pids"]) {
    o << "pid " << p["pid"] << ":";
    for (const auto& [k, v] : p.items()) {
      if (k != "pid") o << " " << k << " " << v;
    }
    o << "\n";
  }
  return o.str();
}

}  // namespace sipws::load
