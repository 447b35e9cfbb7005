#include "transport/flow.hpp"

#include <atomic>
#include <stdexcept>

namespace sipws::transport {
namespace {

/// The sequence part of every FlowId of the process (all shards, all tables).
std::atomic<std::uint64_t> g_flow_seq{0};

}  // namespace

FlowTable::FlowTable(unsigned shard) : shard_(shard) {
  if (shard >= kMaxShards) {
    throw std::invalid_argument("flow table: shard " + std::to_string(shard) + " is not below " +
                                std::to_string(kMaxShards));
  }
}

FlowId FlowTable::next_id() {
  // Relaxed: only uniqueness matters. 2^56 ids before the sequence would wrap.
  const std::uint64_t n = g_flow_seq.fetch_add(1, std::memory_order_relaxed) + 1;
  return (n << kFlowShardBits) | shard_;
}

void FlowTable::add(std::shared_ptr<Flow> flow) {
  const FlowId id = flow->id();
  if (directory_ != nullptr) directory_->add(id, flow->protocol(), flow->peer());
  flows_[id] = std::move(flow);
}

void FlowTable::remove(FlowId id) {
  auto it = flows_.find(id);
  if (it == flows_.end()) return;
  const Protocol p = it->second->protocol();
  flows_.erase(it);
  identities_.erase(id);
  if (directory_ != nullptr) directory_->remove(id);
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
  if (directory_ != nullptr) directory_->set_identity(id, aor);
  identities_[id] = std::move(aor);
}

const std::string& FlowTable::identity(FlowId id) const {
  static const std::string kNone;
  auto it = identities_.find(id);
  return it == identities_.end() ? kNone : it->second;
}

}  // namespace sipws::transport
