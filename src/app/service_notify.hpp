#pragma once
// Readiness and state notifications to systemd (Type=notify; sd_notify(3)): READY=1 once every
// listener is bound, RELOADING=1 / READY=1 around a SIGHUP reload, STOPPING=1 at shutdown.

#include <string_view>

namespace sipws::app {

/// Sends `state` (newline-separated `KEY=VALUE` assignments, e.g. "READY=1\nSTATUS=serving") as
/// one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an abstract socket
/// when it starts with '@'). A no-op returning false without NOTIFY_SOCKET (not started by
/// systemd) or when the send fails (logged at debug); never throws. Thread: any.
bool notify_service_manager(std::string_view state);

}  // namespace sipws::app
