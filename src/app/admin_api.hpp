#pragma once
// The admin API (issue 15): HTTP/JSON under /api/v1/ on the admin listener, for operators and
// their tools. Bearer-token auth (`admin_token`); subscribers (list with search and paging,
// create, change password, delete; their groups and forwarding rules; aliases) through the
// asynchronous store; the live registrations of
// the location service (list, expire one); the gateways with their live state and the routes
// of the dial plan. docs/admin-api.yaml describes it (OpenAPI 3.1).

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "auth/auth_guard.hpp"
#include "common/call_record.hpp"
#include "common/timer.hpp"
#include "registrar/location.hpp"
#include "routing/dial_plan.hpp"
#include "store/store.hpp"
#include "transport/flow.hpp"
#include "transport/trace_ring.hpp"
#include "ws/listener.hpp"

namespace sipws::app {

/// One open connection (TCP, TLS, WS, WSS) of any shard, as the admin API lists it.
struct FlowInfo {
  FlowId id = kNoFlow;
  Protocol protocol = Protocol::Tcp;
  Endpoint peer;
  Endpoint local;
  std::string identity;  ///< "user@domain" proven by the WebSocket handshake, "" if none
  TimePoint opened{};    ///< TimePoint{}: unknown
  TimePoint last_received{};
};

/// What reloading the configuration did (SIGHUP, POST /api/v1/reload).
struct ReloadOutcome {
  bool ok = false;
  std::string error;                        ///< why not (the old configuration stays)
  std::vector<std::string> restart_needed;  ///< changed keys that only a restart applies
};

/// What the admin API reads and changes. All must outlive the AdminApi.
struct AdminApiDeps {
  store::AsyncStore& store;
  registrar::LocationService& location;
  TimerService& timers;  ///< the clock bindings expire by
  /// The bearer token (config admin_token); empty: the API answers 403 to everything.
  std::string token;
  /// The dial plan in force (gateways with their up/down marks, routes); called on the API's
  /// thread. Unset: no gateways, no routes.
  std::function<std::shared_ptr<const routing::DialPlan>()> dial_plan;
  /// Gathers the open flows of every shard; `done` runs later on the API's thread. Unset: none.
  std::function<void(std::function<void(std::vector<FlowInfo>)> done)> list_flows;
  /// Closes flow `id` on the shard that owns it; `done(found)` runs later on the API's thread.
  std::function<void(FlowId id, std::function<void(bool found)> done)> close_flow;
  /// The brute-force bans in force (replaced on SIGHUP); null or unset: none.
  std::function<std::shared_ptr<auth::AuthGuard>()> bans;
  /// Reloads the configuration as SIGHUP does, on the API's thread. Unset: 409.
  std::function<ReloadOutcome()> reload;
  /// The `trusted_peers` list in force, as configured (a JSON array). Unset: empty.
  std::function<nlohmann::json()> trusted_peers;
  /// Gathers the live calls of every shard (proxy::CallTracker::calls); `done` runs later on
  /// the API's thread. Unset: none.
  std::function<void(std::function<void(std::vector<CallRecord>)> done)> list_calls;
  /// Ends live call `id` ("<shard>-<n>") on its shard (CallTracker::end); `done(found)` runs
  /// later on the API's thread. Unset: 404.
  std::function<void(std::string id, std::function<void(bool found)> done)> end_call;
  /// The traced messages of Call-ID `call_id` in every shard's trace ring, oldest first
  /// (called on the API's thread; the rings lock). Unset: none.
  std::function<std::vector<transport::TraceEntry>(const std::string& call_id)> trace;
};

/// Serves /api/ on the admin listener. Every answer is JSON; errors are
/// {"error": "what is wrong", "field": "the input at fault"} (field only for a 400):
/// 401 without or with a wrong `Authorization: Bearer` token (with WWW-Authenticate), 403 when
/// no token is configured, 404 for an unknown path or subscriber, 405 for a method the path
/// does not take, 409 when creating a subscriber that exists, 503 when the store failed.
/// Thread: the admin listener's io thread (shard 0); store answers come back on it.
class AdminApi {
 public:
  explicit AdminApi(AdminApiDeps deps) : d_(std::move(deps)) {}

  /// Takes a request whose resource starts with /api/ (returns false for any other: the
  /// caller serves /metrics, /health...). `reply` runs once, now or when the store answered.
  bool handle(const ws::HttpRequest& req, const std::function<void(ws::HttpResponse)>& reply);

 private:
  using Reply = std::function<void(ws::HttpResponse)>;
  /// /subscribers/{aor}/groups[/{group}] and /subscribers/{aor}/forwards[/{kind}]: `what` is
  /// "groups" or "forwards", `item` the group or kind ("" for the list).
  void subscriber_services(const ws::HttpRequest& req, const std::string& aor,
                           const std::string& what, const std::string& item, const Reply& reply);
  /// Creates (`create`: 201, or 409 if it exists) or replaces the credentials of (200, or 404
  /// if it does not exist) subscriber `sub` on the store worker; 503 when the store fails.
  void write_subscriber(const std::shared_ptr<store::Subscriber>& sub, bool create,
                        const Reply& reply);
  /// Runs `remove` on the store worker (true: something was deleted), then answers 204 (the
  /// credential and services caches invalidated), 404 `not_found`, or 503. `what` names it in
  /// the log.
  void remove_in_store(const std::string& what, std::function<bool(store::Store&)> remove,
                       std::string not_found, const Reply& reply);
  /// /aliases[/{alias}]: `alias` "" for the list.
  void aliases(const ws::HttpRequest& req, const std::string& alias, const Reply& reply);

  AdminApiDeps d_;
};

/// The admin API's events socket: a WebSocket at /api/v1/events on the admin listener,
/// subprotocol `sipws-events` (browsers cannot send an Authorization header on an upgrade, so
/// the client's first message is `{"token": "<admin_token>"}`; a wrong one, anything else, or
/// nothing within the listener's first-message time closes it). From then on, once a second,
/// the client gets `{"changed": [...]}` naming the collections that changed since the last
/// look: "registrations" (a binding added, removed or expired), "calls" (a call started,
/// rang, was answered or ended), "cdrs" (call records stored). Thread: the admin listener's
/// (shard 0).
class AdminEvents {
 public:
  /// Version counters: each grows whenever its collection changes. Read from the API's thread.
  struct Sources {
    std::function<std::uint64_t()> registrations;
    std::function<std::uint64_t()> calls;
    std::function<std::uint64_t()> cdrs;
  };
  /// `flows` is the admin listener's flow table, `timers` its thread's; both outlive this.
  AdminEvents(transport::FlowTable& flows, TimerService& timers, std::string token,
              Sources sources);
  ~AdminEvents();
  AdminEvents(const AdminEvents&) = delete;
  AdminEvents& operator=(const AdminEvents&) = delete;
  /// The admin listener's deliver function: one WS message of a client.
  void on_message(const std::string& text, const Source& src);
  /// Upgrades the listener takes: /api/v1/events only (others 404), while a token is set (403).
  ws::HandshakeVerdict check_upgrade(const ws::HandshakeRequest& req) const;

 private:
  void tick();

  transport::FlowTable& flows_;
  TimerService& timers_;
  std::string token_;
  Sources sources_;
  std::vector<FlowId> clients_;  ///< signed in
  std::uint64_t last_[3] = {0, 0, 0};
  TimerService::TimerId timer_ = 0;
};

}  // namespace sipws::app
