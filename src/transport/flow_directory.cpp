#include "transport/flow_directory.hpp"

namespace sipws::transport {

void FlowDirectory::add(FlowId id, Protocol protocol, const Endpoint& peer) {
  std::lock_guard lock(mu_);
  flows_[id] = Entry{protocol, peer, {}};
}

void FlowDirectory::set_identity(FlowId id, std::string identity) {
  std::lock_guard lock(mu_);
  if (auto it = flows_.find(id); it != flows_.end()) it->second.identity = std::move(identity);
}

void FlowDirectory::remove(FlowId id) {
  std::lock_guard lock(mu_);
  flows_.erase(id);
}

std::optional<FlowDirectory::Entry> FlowDirectory::find(FlowId id) const {
  std::lock_guard lock(mu_);
  auto it = flows_.find(id);
  if (it == flows_.end()) return std::nullopt;
  return it->second;
}

std::size_t FlowDirectory::size() const {
  std::lock_guard lock(mu_);
  return flows_.size();
}

}  // namespace sipws::transport
