#pragma once
// Connection-oriented flows (RFC 5626 s.3: a flow is a transport connection) and the table that
// names them by FlowId. TCP, TLS (this folder) and WS/WSS (src/ws/) all implement Flow.

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/net.hpp"
#include "common/timer.hpp"
#include "transport/flow_directory.hpp"

namespace sipws::transport {

/// One connection. Thread: the core io thread (the single thread running the io_context).
class Flow {
 public:
  virtual ~Flow() = default;
  virtual FlowId id() const = 0;
  virtual Protocol protocol() const = 0;
  virtual Endpoint peer() const = 0;
  virtual Endpoint local() const = 0;
  /// Queues one complete SIP message (or keep-alive bytes) for sending; writes are ordered.
  /// Returns false if the flow is closing or closed. WS flows send one WS message per call.
  virtual bool send(std::shared_ptr<const std::string> bytes) = 0;
  /// Closes the flow; the table's close observers run once it is gone.
  virtual void close() = 0;

  /// When the flow opened and last received bytes (steady clock, as TimerService::now() of
  /// the io thread); TimePoint{} where a flow does not track it. For the admin API's flow list.
  struct Activity {
    TimePoint opened{};
    TimePoint last_received{};
  };
  virtual Activity activity() const { return {}; }
};

/// FlowId -> Flow, plus a (protocol, peer) index so that requests to a TCP/TLS peer reuse an
/// open connection (RFC 3261 s.18.1.1). One table per shard: the flows its io thread accepted
/// or dialled. Thread: the shard's io thread (next_id() and shard_of(): any).
class FlowTable {
 public:
  using CloseObserver = std::function<void(FlowId, Protocol)>;

  /// A table whose ids name `shard` (0 in a single-threaded process).
  /// @throws std::invalid_argument if shard >= kMaxShards (256).
  explicit FlowTable(unsigned shard = 0);

  /// A fresh id: (n << kFlowShardBits) | shard() with n from one process-wide counter, so it is
  /// never 0 and never reused in this process, whichever table made it. Thread: any.
  FlowId next_id();
  /// The shard index given to the constructor.
  unsigned shard() const { return shard_; }
  /// The shard that owns flow `id` (same as flow_shard(), common/net.hpp). Thread: any.
  static unsigned shard_of(FlowId id) { return flow_shard(id); }

  /// Publishes every flow of this table (add, identity, remove) in `directory` too, for the
  /// other shards (null: none, the default with one shard). Set before the first add().
  void set_directory(FlowDirectory* directory) { directory_ = directory; }

  void add(std::shared_ptr<Flow> flow);
  /// Forgets the flow and notifies every observer (registrar: WS bindings die with their flow).
  void remove(FlowId id);
  std::shared_ptr<Flow> find(FlowId id) const;
  std::shared_ptr<Flow> find_by_peer(Protocol p, const Endpoint& peer) const;
  void on_close(CloseObserver obs) { observers_.push_back(std::move(obs)); }
  std::size_t size() const { return flows_.size(); }
  /// Every open flow (for shutdown and keep-alive sweeps).
  std::vector<std::shared_ptr<Flow>> all() const;

  /// Binds the identity ("user@domain") that the flow's opening handshake proved (RFC 7118
  /// s.7: session cookie or HTTP Digest on the WebSocket upgrade). Ignored for an unknown flow;
  /// forgotten when the flow is removed.
  void bind_identity(FlowId id, std::string aor);
  /// The identity bound to the flow, "" if none (no handshake auth, or unknown flow).
  const std::string& identity(FlowId id) const;

 private:
  unsigned shard_;
  FlowDirectory* directory_ = nullptr;
  std::unordered_map<FlowId, std::shared_ptr<Flow>> flows_;
  std::vector<CloseObserver> observers_;
  std::unordered_map<FlowId, std::string> identities_;
};

}  // namespace sipws::transport
