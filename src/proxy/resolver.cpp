#include "proxy/resolver.hpp"

#include "common/net.hpp"
#include "proxy/routing.hpp"

namespace sipws::proxy {

void Resolver::locate(const sip::Uri& target, bool secure,
                      std::function<void(std::vector<Destination>)> done) {
  auto hop = next_hop_for(target);
  if (hop && secure && !is_secure(hop->protocol)) hop.reset();
  if (!hop) {
    // Answer later, like every other outcome: the caller may not expect re-entry.
    resolve("", [done = std::move(done)](const std::optional<IpAddress>&) { done({}); });
    return;
  }
  Destination d;
  d.protocol = hop->protocol;
  d.endpoint.port = hop->port;
  if (!is_ip(hop->host)) d.host = hop->host;  // a name: kept for TLS SNI
  // An IP literal goes through resolve() too, which answers it later without DNS.
  resolve(hop->host, [d, done = std::move(done)](std::optional<IpAddress> a) mutable {
    if (!a) return done({});
    d.endpoint.address = *a;
    done({d});
  });
}

}  // namespace sipws::proxy
