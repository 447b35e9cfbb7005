#pragma once
// What I/O-free protocol code counts into and draws random tokens from, passed in instead of
// reached as globals (STYLE.md: inject time, random and counters).

#include "common/counters.hpp"
#include "common/random.hpp"

namespace sipws {

/// The counters registry and the token source of a component (transaction layer, location
/// service). Defaults: the process-wide registry (exported on /metrics) and
/// per_thread_tokens(), which the daemon uses; a test gives its own Counters and a
/// SeededTokens. Both must outlive the component. A component looks its counters up once, at
/// construction: a count is then one relaxed atomic increment through a reference, with no
/// lock and no lookup (as with SIPWS_COUNTER).
struct Instruments {
  Counters& counters = sipws::counters();
  TokenSource& tokens = per_thread_tokens();
};

}  // namespace sipws
