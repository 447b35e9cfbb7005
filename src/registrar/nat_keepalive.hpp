#pragma once
// NAT keep-alive of registered bindings (Kamailio nathelper's natping, issue 14): an OPTIONS to
// each UDP/TCP/TLS binding whose UA is behind NAT, so that the NAT keeps its pinhole (mapping)
// open for calls to it, and so that a binding that no longer answers is marked unreachable
// (lookups skip it: 480 at once rather than ringing a phone that is gone). Sends nothing
// itself: the daemon gives it a Send that runs an OPTIONS client transaction (RFC 3261 s.11).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/counters.hpp"
#include "common/net.hpp"
#include "common/timer.hpp"
#include "registrar/location.hpp"

namespace sipws::registrar {

/// Unanswered keep-alives in a row after which a binding is unreachable (the daemon's).
inline constexpr unsigned kNatKeepaliveFailures = 3;
/// The status a keep-alive that expects no answer (a CRLF ping) reports once it left.
inline constexpr int kNatKeepaliveSent = 1;

/// Every `interval`, one OPTIONS to each binding behind_nat(); a binding whose last
/// `max_failures` keep-alives got no response at all (Timer F, transport error) is marked
/// unreachable (LocationService::set_unreachable), and reachable again by the next answer (any
/// final status: a 404 or 405 proves the UA is there) or its next REGISTER. At most one
/// keep-alive per binding is outstanding (a round skips a binding still waiting).
/// Counters: nat_keepalive_sent, nat_keepalive_unanswered, nat_bindings_unreachable (each time
/// a binding turns unreachable). Thread: the TimerService's; `done` must run on it too,
/// synchronously from Send or later; after the keep-alive is gone, `done` is a no-op.
class NatKeepalive {
 public:
  /// What one keep-alive goes to.
  struct Ping {
    std::string aor;
    std::uint64_t binding = 0;  ///< Binding::id
    std::string contact;        ///< the Request-URI and To of the OPTIONS
    Destination dest;           ///< the binding's source: its UDP address or its flow
  };
  /// Sends one keep-alive for `ping` (an OPTIONS, or a CRLF ping); `done` gets the final
  /// status, 0 for none (kNatKeepaliveSent for a ping that expects no answer).
  using Send = std::function<void(const Ping& ping, std::function<void(int status)> done)>;

  /// The first round runs one `interval` after start(). `interval` must be > 0.
  NatKeepalive(TimerService& timers, LocationService& location, Millis interval,
               unsigned max_failures, Send send, Counters& reg = counters());
  ~NatKeepalive();
  NatKeepalive(const NatKeepalive&) = delete;
  NatKeepalive& operator=(const NatKeepalive&) = delete;

  void start();
  void stop();

  /// True for a binding learnt straight from its UA over UDP, TCP or TLS whose Contact does not
  /// name the address and port its REGISTER came from (nathelper's nat_uac_test: a NAT
  /// rewrote the source), and whose flow, for TCP/TLS, is still open. WebSocket flows have
  /// their own pings.
  static bool behind_nat(const Binding& b);

  /// The keep-alives sent and not yet answered.
  std::size_t outstanding() const;

 private:
  void schedule();
  void round();
  void finish(const Ping& ping, int status);

  TimerService& timers_;
  LocationService& location_;
  Millis interval_;
  unsigned max_failures_;
  Send send_;
  TimerService::TimerId timer_ = 0;
  struct State {
    unsigned failures = 0;
    bool waiting = false;
    bool unreachable = false;
  };
  std::unordered_map<std::uint64_t, State> state_;  ///< by Binding::id
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  Counter& sent_;
  Counter& unanswered_;
  Counter& turned_unreachable_;
};

}  // namespace sipws::registrar
