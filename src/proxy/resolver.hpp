#pragma once
// The proxy core's view of DNS: RFC 3263 server location for a next-hop URI, plus plain host
// name -> address resolution. Implemented by routing::SipLocator over c-ares in the daemon;
// tests give table-driven fakes.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "sip/uri.hpp"

namespace sipws::proxy {

/// Asynchronous name resolution for the proxy core. Every `done` runs later on the core io
/// thread (never from inside the call), exactly once. Thread: core io thread.
class Resolver {
 public:
  virtual ~Resolver() = default;

  /// Host name -> one address (A/AAAA). `done` gets nullopt on failure.
  virtual void resolve(const std::string& host,
                       std::function<void(std::optional<IpAddress>)> done) = 0;

  /// RFC 3263 s.4 (and RFC 7118 s.7 for WS/WSS): the ordered destinations (transport, address,
  /// port) to try for next-hop URI `target` (the top Route or the Request-URI; `maddr`
  /// honoured), best first; the caller fails over down the list (s.4.3). `secure`: only TLS/WSS
  /// destinations (a sips Request-URI or target). `done` gets an empty list when nothing can be
  /// found (NXDOMAIN, no usable record, DNS failure). `target` need only live during the call.
  ///
  /// The default is RFC 3263 without NAPTR/SRV: transport from the URI (`transport`, sips =>
  /// TLS, else UDP), port from the URI or the transport's default, one address from resolve().
  virtual void locate(const sip::Uri& target, bool secure,
                      std::function<void(std::vector<Destination>)> done);
};

}  // namespace sipws::proxy
