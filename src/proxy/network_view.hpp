#pragma once
// What the proxy core and its processors know of the transports, and whether a URI names
// sipws itself.

#include <optional>
#include <vector>

#include "common/net.hpp"
#include "proxy/domains.hpp"
#include "sip/uri.hpp"

namespace sipws::proxy {

/// What the core needs to know about the transports. Implemented by the daemon over
/// transport::TransportLayer. Thread: core io thread.
class NetworkView {
 public:
  virtual ~NetworkView() = default;
  virtual const std::vector<ListenPoint>& listen_points() const = 0;
  /// True while flow `id` is open.
  virtual bool flow_alive(FlowId id) const = 0;
  /// The peer endpoint of open flow `id`, nullopt if closed.
  virtual std::optional<Endpoint> flow_peer(FlowId id) const = 0;
  /// The protocol of open flow `id`, nullopt if closed.
  virtual std::optional<Protocol> flow_protocol(FlowId id) const = 0;
  /// The address of this host that packets to `peer` leave from (what a listener bound to a
  /// wildcard address writes for itself toward `peer`); nullopt when unknown (the default).
  virtual std::optional<IpAddress> source_address_for(const IpAddress& peer) const {
    (void)peer;
    return std::nullopt;
  }
};

/// True if `uri` is a sip:/sips: URI naming sipws itself: a host of `domains` without port,
/// or a host and port one of `net`'s listen points answers on (RFC 3261 s.16.4 "a value
/// this proxy placed"). Thread: core io thread.
bool is_self_uri(const sip::Uri& uri, const Domains& domains, const NetworkView& net);

}  // namespace sipws::proxy
