#include "transport/flow.hpp"

namespace sipws::transport {

void FlowTable::add(std::shared_ptr<Flow> flow) {
  const FlowId id = flow->id();
  flows_[id] = std::move(flow);
}

void FlowTable::remove(FlowId id) {
  auto it = flows_.find(id);
  if (it == flows_.end()) return;
  const Protocol p = it->second->protocol();
  flows_.erase(it);
  identities_.erase(id);
  for (const auto& obs : observers_) obs(id, p);
}

std::shared_ptr<Flow> FlowTable::find(FlowId id) const {
  auto it = flows_.find(id);
  return it == flows_.end() ? nullptr : it->second;
}

std::shared_ptr<Flow> FlowTable::find_by_peer(Protocol p, const Endpoint& peer) const {
  for (const auto& [id, f] : flows_) {
    if (f->protocol() == p && f->peer() == peer) return f;
  }
  return nullptr;
}

std::vector<std::shared_ptr<Flow>> FlowTable::all() const {
  std::vector<std::shared_ptr<Flow>> out;
  out.reserve(flows_.size());
  for (const auto& [id, f] : flows_) out.push_back(f);
  return out;
}

void FlowTable::bind_identity(FlowId id, std::string aor) {
  if (flows_.count(id) == 0) return;
  identities_[id] = std::move(aor);
}

const std::string& FlowTable::identity(FlowId id) const {
  static const std::string kNone;
  auto it = identities_.find(id);
  return it == identities_.end() ? kNone : it->second;
}

}  // namespace sipws::transport
