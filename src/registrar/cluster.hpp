#pragma once
// Cluster mode (docs/cluster.md): sipws nodes that share one store (PostgreSQL or MySQL) and
// one secret form a cluster. Each node writes a heartbeat to the store; the others see it and
// know who is alive, where to send a node's requests (its `cluster.address`), and which source
// requests another node vouched for. Bindings carry their node (LocationService::set_cluster); a
// request for an AOR registered at another node is sent there (RemoteLookupProcessor).

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/counters.hpp"
#include "common/crypto.hpp"
#include "common/net.hpp"
#include "common/timer.hpp"
#include "proxy/domains.hpp"
#include "proxy/request_context.hpp"
#include "registrar/location.hpp"
#include "sip/message.hpp"
#include "store/store.hpp"

namespace sipws::registrar {

/// The `cluster` configuration key.
struct ClusterConfig {
  std::string node;     ///< this node's id: 1-32 of [A-Za-z0-9_-]
  std::string address;  ///< where the other nodes send this node's requests:
                        ///< "sip:IP:PORT[;transport=udp|tcp]"
  std::string secret;   ///< shared by every node (>= 16 characters): the keys derive from it
};

/// The nodes of the cluster as the shared store shows them. Every kBeatInterval this node bumps
/// its heartbeat and reads every node's (one AsyncStore job); a node whose heartbeat has not
/// moved for kDeadAfter (measured on this node's clock, so clocks need not agree) is dead.
/// Thread: construct, start() and destroy on the thread running `timers`; the queries from any
/// thread.
class ClusterMembership {
 public:
  static constexpr Millis kBeatInterval{1000};
  static constexpr Millis kDeadAfter{3000};

  /// `store` and `timers` must outlive it. Counts cluster_heartbeat_errors.
  ClusterMembership(ClusterConfig cfg, store::AsyncStore& store, TimerService& timers);
  ~ClusterMembership();
  ClusterMembership(const ClusterMembership&) = delete;
  ClusterMembership& operator=(const ClusterMembership&) = delete;

  /// Writes the first heartbeat and arms the timer.
  void start();

  const std::string& node() const { return cfg_.node; }
  /// This node's cluster.address.
  const std::string& address() const { return cfg_.address; }

  /// Whether `node` is alive: this node always; another one if its heartbeat moved within
  /// kDeadAfter (a node first seen counts as alive until then). An unknown node is dead.
  bool alive(std::string_view node) const;
  /// The cluster.address of `node`, "" if unknown.
  std::string address_of(std::string_view node) const;
  /// Vouches for `req`, about to leave for another node: sets its kClusterHeader to this
  /// node's id, the time and an HMAC-SHA256 (key from cluster.secret) over them, the Call-ID,
  /// the CSeq and the Request-URI. Thread: any.
  void vouch(sip::Message& req) const;
  /// The node that vouched for `req` (vouch()) if its header is there, signed with the
  /// cluster's key and at most kMaxSkew old or ahead (unix time); nullopt otherwise. Removes
  /// the header either way: it never leaves the cluster. Thread: any.
  std::optional<std::string> vouched_by(sip::Message& req) const;
  /// How far a vouching's time may be from this node's clock.
  static constexpr std::int64_t kMaxSkew = 30;
  /// How many nodes are alive, this one included.
  std::size_t alive_count() const;

 private:
  struct Node {
    std::string address;
    std::optional<Endpoint> endpoint;  ///< of `address`
    std::int64_t beat = 0;
    TimePoint changed_at{};
  };
  /// One heartbeat: bump ours, read all (on the store's worker); the answer updates nodes_.
  void beat();
  void update(const std::vector<store::NodeRecord>& rows);
  /// Whether `n`'s heartbeat moved within kDeadAfter of `now`.
  static bool alive_locked(const Node& n, TimePoint now);

  /// The vouching MAC for `req` by `node` at `t` (hex), "" if OpenSSL failed.
  std::string vouching_mac(std::string_view node, std::string_view t,
                           const sip::Message& req) const;

  ClusterConfig cfg_;
  crypto::HmacSha256 vouching_;  ///< keyed with cluster_key(secret, "vouch")
  store::AsyncStore& store_;
  TimerService& timers_;
  Counter& errors_;
  TimerService::TimerId timer_ = 0;
  bool in_flight_ = false;  ///< a heartbeat job is queued (timers thread only)
  mutable std::mutex mu_;
  std::map<std::string, Node, std::less<>> nodes_;  ///< other nodes, under mu_
};

/// The header with which a node vouches for a request it sends another node (see
/// ClusterMembership::vouch): "X-Sipws-Cluster: b;t=1700000000;sig=<64 hex digits>".
inline constexpr std::string_view kClusterHeader = "X-Sipws-Cluster";

/// A key of cluster mode: HMAC-SHA256(cluster.secret, "sipws cluster " + purpose), 32 bytes,
/// the same on every node. @throws std::runtime_error if OpenSSL fails.
std::string cluster_key(std::string_view secret, std::string_view purpose);

/// The IP address and port (default 5060) of a cluster.address URI
/// ("sip:10.0.0.11:5060;transport=udp"), nullopt if it has no IP host.
std::optional<Endpoint> cluster_endpoint(std::string_view address);

/// The Route entry through which another node reaches binding `b` of this node: the flow's
/// token (WebSocket and other connection-oriented flows) in the user part of this node's
/// cluster address, with `lr`: "<sip:sw-f12.0a1b...@10.0.0.11:5060;transport=udp;lr>".
std::string cluster_route(std::string_view address, const Binding& b);

/// Request processor "cluster-lookup", right before location-lookup, in cluster mode: for a
/// request to a local AOR (not a GRUU), adds a target for each of the AOR's bindings held by
/// another node that is alive (uri = the contact, route = the binding's cluster Route then its
/// Path; the request vouched for by this node, ClusterMembership::vouch), found in the shared
/// store (AsyncStore::find_bindings: the chain pauses for one read);
/// location-lookup then adds this node's own. When the AOR's only bindings are on dead nodes:
/// 480 "Temporarily Unavailable" at once (no timeout). A store failure with no local binding:
/// 503 (RequestContext::respond_store_unavailable); with one, the local ones are rung.
/// Counters: cluster_lookup_remote (targets on other nodes), cluster_lookup_dead_node.
/// Thread: its core's io thread.
class ClusterLookupProcessor final : public proxy::RequestProcessor {
 public:
  /// Everything must outlive the processor.
  ClusterLookupProcessor(const proxy::Domains& domains, const ClusterMembership& cluster,
                         const LocationService& location, store::AsyncStore& store);
  std::string_view name() const override { return "cluster-lookup"; }
  proxy::Action process(proxy::RequestContext& ctx) override;

 private:
  const proxy::Domains& domains_;
  const ClusterMembership& cluster_;
  const LocationService& location_;
  store::AsyncStore& store_;
  Counter& remote_;
  Counter& dead_;
};

}  // namespace sipws::registrar
