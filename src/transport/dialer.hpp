#pragma once
// Outgoing connections for a transport implemented outside src/transport/: the WebSocket
// client (ws::Connector, RFC 7118 client role) dials WS/WSS servers for the transport selector.

#include <memory>
#include <string>

#include "common/net.hpp"

namespace sipws::transport {

/// Opens (or reuses) outbound connections for the transport selector. Thread: core io thread.
class Dialer {
 public:
  virtual ~Dialer() = default;
  /// Sends `bytes` over an open or opening connection to `dest` (same protocol and endpoint,
  /// and the same host name when `dest.host` is set), else opens one and queues `bytes` until
  /// it is open. Returns false on immediate failure (a host that cannot be dialled, no TLS
  /// context...). A connection that then fails to open drops what was queued and reports the
  /// destination through the failure callback given to the dialer (see ws::Connector).
  virtual bool send(const Destination& dest, std::shared_ptr<const std::string> bytes) = 0;
};

}  // namespace sipws::transport
