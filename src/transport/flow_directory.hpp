#pragma once
// What every shard may know of the flows of the other shards (docs/architecture.md "Threads"):
// a flow belongs to the shard that accepted or dialled it, and its FlowId names that shard; a
// shard that forwards to another shard's flow asks here whether it is open, which transport it
// is and who is at the other end, then hands the message to the owner.

#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/net.hpp"

namespace sipws::transport {

/// FlowId -> protocol, peer and proven identity of every open flow of every shard. Written by
/// the owner shard's FlowTable (add, identity bound, remove: once per connection), read by the
/// other shards when they forward to a flow they do not own. Thread: any (one mutex; no I/O
/// under it).
class FlowDirectory {
 public:
  struct Entry {
    Protocol protocol = Protocol::Udp;
    Endpoint peer;
    std::string identity;  ///< "user@domain" proven by the WebSocket handshake, "" if none
  };

  void add(FlowId id, Protocol protocol, const Endpoint& peer);
  /// Ignored for an unknown flow.
  void set_identity(FlowId id, std::string identity);
  void remove(FlowId id);
  /// The entry of an open flow, nullopt once it is closed (or was never open).
  std::optional<Entry> find(FlowId id) const;
  std::size_t size() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<FlowId, Entry> flows_;
};

}  // namespace sipws::transport
