#include "proxy/peer_rules.hpp"

#include <algorithm>

namespace sipws::proxy {

PeerRules::PeerRules(std::vector<std::pair<IpAddress, PeerRule>> rules) {
  for (auto& r : rules) {
    r.first = unmapped(r.first);
    if (find(r.first) == nullptr) rules_.push_back(std::move(r));
  }
}

const PeerRule* PeerRules::find(const IpAddress& address) const {
  const IpAddress a = unmapped(address);
  auto it = std::find_if(rules_.begin(), rules_.end(), [&](const auto& r) { return r.first == a; });
  return it == rules_.end() ? nullptr : &it->second;
}

}  // namespace sipws::proxy
