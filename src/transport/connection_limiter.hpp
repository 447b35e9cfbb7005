#pragma once
// Admission control for connection-oriented listeners (WS/WSS in src/ws/, TCP/TLS here): a cap on
// open connections in total and per source IP, with exempt networks (a load balancer, a trusted
// SBC). Pure bookkeeping, no I/O; C++17 so that src/ws/ can use it.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/net.hpp"

namespace sipws::transport {

/// Moved to common/net.hpp; kept so that existing callers still build.
using IpNetwork = sipws::IpNetwork;

struct ConnectionLimits {
  std::size_t max_total =
      0;  ///< open connections on the listener(s) sharing the limiter; 0 = no cap
  std::size_t max_per_ip = 0;     ///< open connections from one source IP; 0 = no cap
  std::vector<IpNetwork> exempt;  ///< sources not subject to max_per_ip (max_total still applies)
};

/// Counts admitted connections and refuses those over the limits. A connection is admitted once
/// (when accepted) and counted until its Admission is destroyed. Thread: any (the shards'
/// listeners share one limiter; a mutex guards the counts, taken once per accepted and per
/// closed connection); Admission objects may outlive the limiter.
class ConnectionLimiter {
 public:
  enum class Verdict : std::uint8_t { Admitted, TotalExceeded, PerIpExceeded };

  /// Holds one counted connection; releases it when destroyed. Move-only.
  class Admission {
   public:
    Admission() = default;
    Admission(Admission&&) noexcept = default;
    Admission& operator=(Admission&&) noexcept;
    Admission(const Admission&) = delete;
    Admission& operator=(const Admission&) = delete;
    ~Admission();
    Verdict verdict() const { return verdict_; }
    bool admitted() const { return verdict_ == Verdict::Admitted; }

   private:
    friend class ConnectionLimiter;
    struct State;
    void release();
    std::shared_ptr<State> state_;
    IpAddress ip_;
    bool counted_ = false;
    Verdict verdict_ = Verdict::Admitted;
  };

  explicit ConnectionLimiter(ConnectionLimits limits = {});
  ~ConnectionLimiter();

  /// Admits a connection from `ip` (counted) or refuses it (not counted, verdict says why).
  Admission admit(const IpAddress& ip);
  std::size_t total() const;
  std::size_t from(const IpAddress& ip) const;
  const ConnectionLimits& limits() const { return limits_; }

 private:
  ConnectionLimits limits_;
  std::shared_ptr<Admission::State> state_;
};

}  // namespace sipws::transport
