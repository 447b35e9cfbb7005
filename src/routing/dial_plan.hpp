#pragma once
// The reloadable routing configuration the routing processors share (config keys
// call_classes, gateways, routes, voicemail, gateway_timeout, forward_ring_timeout): one
// snapshot per request, replaced as a whole on SIGHUP (common/reloadable.hpp).

#include <cstdint>

#include "common/timer.hpp"
#include "routing/call_classes.hpp"
#include "routing/gateways.hpp"
#include "routing/voicemail.hpp"

namespace sipws::routing {

/// Most retargets (unconditional, busy, no-answer forwards) of one call before it ends with
/// 480 (forward chains longer than this are loops in disguise).
inline constexpr std::size_t kMaxForwards = 5;

struct DialPlan {
  CallClasses classes;
  GatewayTable gateways{{}, {}};
  VoicemailTemplates voicemail;
  /// No response at all from a gateway this long: fail over (not Timer B's 32 s).
  Millis gateway_timeout{3000};
  /// Ring time before forwarding on no answer when a rule does not set its own.
  Millis ring_timeout{20000};
};

}  // namespace sipws::routing
