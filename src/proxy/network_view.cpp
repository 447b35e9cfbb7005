#include "proxy/network_view.hpp"

#include "proxy/routing.hpp"

namespace sipws::proxy {

bool is_self_uri(const sip::Uri& uri, const Domains& domains, const NetworkView& net) {
  if (!uri.is_sip()) return false;
  if (domains.is_self(uri.host) && uri.port == 0) return true;
  return names_listen_point(uri, net.listen_points(), domains.is_self(uri.host));
}

}  // namespace sipws::proxy
