#pragma once
// OPTIONS keep-alive probing of PSTN gateways (the Kamailio dispatcher module's pinging):
// marks each probed gateway up or down in a GatewayTable. Sends nothing itself: the daemon
// gives it a SendOptions that runs an OPTIONS client transaction (RFC 3261 s.11).

#include <cstdint>
#include <functional>
#include <memory>

#include "common/counters.hpp"
#include "common/timer.hpp"
#include "routing/gateways.hpp"

namespace sipws::routing {

/// Whether a final response to a probe means the gateway is alive: any final response
/// 200..699 proves the host answers SIP (404, 405, 501... included: many gateways refuse
/// OPTIONS), except 408 and 503, which say it cannot take calls now. 0 (timeout or transport
/// error) and anything outside 200..699 mean down.
bool probe_reply_means_up(int status);

/// Probes every enabled gateway of a table whose probe_interval_s > 0: one OPTIONS at start()
/// (on a 0 ms timer, never inside start() itself), then one every probe_interval_s seconds
/// (fixed rate), never two outstanding for one gateway (a tick that finds the previous probe
/// unanswered sends nothing). A reply that probe_reply_means_up() marks the gateway up at once;
/// `failures_before_down` consecutive failures mark it down. Each change is logged once
/// (spdlog) and counted ("gateway_up", "gateway_down"); repeated results change nothing.
/// Gateways not probed keep whatever mark they have.
///
/// Lifetime: the table and the timer service must outlive the prober's running period; after
/// stop() (and from the destructor) the prober touches neither the table nor the send
/// function again, and `done` callbacks still outstanding become no-ops (they hold a weak
/// token), so `done` may be called after the prober is gone. On a config reload: stop() (or
/// destroy) the old prober, then build a new one over the new table.
///
/// Thread: the TimerService's (the io thread); `done` must be called on it too, synchronously
/// from SendOptions or later.
class GatewayProber {
 public:
  /// Sends one OPTIONS to `gw` and calls `done` once with the final status, or 0 on timeout or
  /// transport error (extra calls are ignored). `gw` is only valid during the call: copy what
  /// an asynchronous send needs.
  using SendOptions = std::function<void(const Gateway& gw, std::function<void(int status)> done)>;

  struct Config {
    /// Consecutive failed probes before a gateway is marked down (0 counts as 1).
    std::uint32_t failures_before_down = 1;
    /// Where "gateway_up"/"gateway_down" are counted; nullptr = the process-wide counters().
    Counters* counters = nullptr;
  };

  GatewayProber(TimerService& timers, GatewayTable& table, SendOptions send, Config cfg);
  GatewayProber(TimerService& timers, GatewayTable& table, SendOptions send)
      : GatewayProber(timers, table, std::move(send), Config{}) {}
  ~GatewayProber();
  GatewayProber(const GatewayProber&) = delete;
  GatewayProber& operator=(const GatewayProber&) = delete;

  /// Starts probing; no-op when already running.
  void start();
  /// Cancels the timers and forgets outstanding probes (their answers are ignored). Failure
  /// counts restart from 0 on the next start(); the table's marks stay as they are.
  void stop();
  bool running() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace sipws::routing
