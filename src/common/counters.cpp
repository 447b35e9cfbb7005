#include "common/counters.hpp"

namespace sipws {

Counter& Counters::get(std::string_view name) {
  std::lock_guard lock(mu_);
  auto it = map_.find(name);
  if (it == map_.end()) it = map_.emplace(std::string(name), std::make_unique<Counter>()).first;
  return *it->second;
}

std::vector<std::pair<std::string, std::uint64_t>> Counters::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, std::uint64_t>> out;
  out.reserve(map_.size());
  for (const auto& [k, v] : map_) out.emplace_back(k, v->value());
  return out;
}

Counters& counters() {
  static Counters c;
  return c;
}

}  // namespace sipws
