#pragma once
// The calls of one shard, live and ended (issue 15): which INVITEs are in progress or answered,
// and one call record per call attempt when it ends (Kamailio's acc module, CDRTool). Learns
// everything from the proxy core as its CallObserver; the admin API lists the live calls and
// ends one (BYE to both ends, RFC 3261 s.15, or CANCEL before the answer).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/call_record.hpp"
#include "common/timer.hpp"
#include "proxy/call_observer.hpp"
#include "proxy/topology_hiding.hpp"
#include "proxy/uac.hpp"

namespace sipws::proxy {

/// What the tracker asks of the rest of the daemon. Every function is optional and called on
/// the tracker's thread.
struct CallTrackerHooks {
  /// A call attempt ended: its record (the daemon stores it, without blocking).
  std::function<void(CallRecord)> record;
  /// The media counters {caller leg, callee leg} of `call_id` when the bridge anchors its
  /// media; nullopt when it does not.
  std::function<std::optional<std::pair<LegCounts, LegCounts>>(const std::string& call_id)> media;
  /// Ends the anchored call `call_id` from the bridge, which knows each end's CSeq best (it
  /// numbers the INFOs it sends): a BYE to each end with `reason` as the Reason header value
  /// (RFC 3326); `why` names the cause in the log. False when the bridge does not anchor it
  /// (the tracker sends the BYEs).
  std::function<bool(const std::string& call_id, const std::string& reason, std::string_view why)>
      hang_up_media;
  /// Cancels pending INVITE server transaction `id` (ProxyCore::cancel).
  std::function<bool(sip::txn::ServerTxnId id)> cancel;
  /// Sends a request sipws originates (Uac::send).
  std::function<void(const OwnRequest& req, const Destination& dest)> originate;
};

/// Tracks the INVITE dialogs of one proxy core (RFC 3261 s.12-15). A call starts with an
/// initial INVITE; it is "trying" until a provisional response of 180 or more ("ringing"), and
/// "answered" from the first 2xx relayed to the caller until a BYE from either end (s.15), the
/// admin API (end()), the bridge's media timeout (ended()), 12 h without an in-dialog request
/// ("expired") or shutdown (close_all()). An attempt that ends with a final non-2xx response is
/// recorded with that status; a 401/407 challenge is not an attempt (the retry with
/// credentials is). Thread: the core io thread; version() from any.
class CallTracker final : public CallObserver {
 public:
  /// No in-dialog request for this long ends an answered call as "expired" (a BYE sipws never
  /// saw); a call pending this long (never answered, never failed) too.
  static constexpr Millis kDialogTimeout{12LL * 3600 * 1000};
  static constexpr Millis kPendingTimeout{10LL * 60 * 1000};
  /// How often the expiry sweep runs.
  static constexpr Millis kSweepEvery{60 * 1000};

  /// `shard` prefixes the live ids ("<shard>-<n>"). `timers` must outlive the tracker.
  CallTracker(TimerService& timers, unsigned shard, CallTrackerHooks hooks);
  ~CallTracker() override;
  CallTracker(const CallTracker&) = delete;
  CallTracker& operator=(const CallTracker&) = delete;

  /// The topology-hiding rules in force (null: none): a BYE to a hidden peer carries the
  /// Call-ID it knows (TopologyHiding::flip_call_id).
  void set_topology_hiding(std::shared_ptr<const TopologyHiding> th) { hiding_ = std::move(th); }

  /// The live calls, oldest first, with their media counters.
  std::vector<CallRecord> calls() const;
  /// Ends live call `live_id` as the admin API asks: an answered call gets a BYE to each end
  /// (Reason: "SIP;text=\"ended by the administrator\""), a pending one is cancelled (the
  /// caller gets 487). Recorded with hangup "admin". False if there is no such call.
  bool end(std::string_view live_id);
  /// The bridge ended answered call (`call_id`, `caller_tag`) itself (`hangup`, e.g.
  /// "media_timeout", after sending its BYEs): records it.
  void ended(const std::string& call_id, const std::string& caller_tag, std::string_view hangup);
  /// Ends every answered call with a BYE to each end (Reason `reason`), recorded with `hangup`
  /// (SIGTERM: "shutdown"; the BYEs' transactions are what the drain then waits for). Calls
  /// not answered yet are left to their INVITE transaction.
  void hang_up_all(const std::string& reason, std::string_view hangup);
  /// Records every live call as ended with `hangup` ("shutdown"); sends nothing.
  void close_all(std::string_view hangup);
  /// Grows whenever the live calls change (a call starts, rings, is answered, ends). Thread:
  /// any.
  std::uint64_t version() const { return version_.load(std::memory_order_relaxed); }

  // CallObserver
  void on_request(sip::txn::ServerTxnId id, const RequestContext& rc) override;
  void on_branch(sip::txn::ServerTxnId id, const Target& target, const sip::Message& fwd,
                 const Destination& dest) override;
  void on_response(sip::txn::ServerTxnId id, const RequestContext& rc, const sip::Message& rsp,
                   const Destination* from) override;
  void on_cancel(sip::txn::ServerTxnId id) override;

 private:
  struct Call;
  using CallMap = std::unordered_map<std::uint64_t, std::unique_ptr<Call>>;

  /// The call of dialog (Call-ID, caller's From tag), or nullptr.
  Call* find_dialog(std::string_view call_id, std::string_view caller_tag);
  /// Ends `call`: fills the end time and media counters, hands the record over, forgets it.
  void finish(Call& call, std::string_view hangup, int status = 0, std::string_view reason = {});
  /// Forgets `call` without a record (a challenged INVITE).
  void forget(Call& call);
  /// Ends answered `call`: a BYE to each end (through the bridge when it anchors the call),
  /// then the record with `hangup`. `why` names the cause in the log.
  void bye_both(Call& call, const std::string& reason, std::string_view hangup,
                std::string_view why);
  /// The in-dialog request `method` from side `from` (0 caller, 1 callee) to the other end.
  OwnRequest in_dialog_request(Call& call, int from, std::string method);
  void sweep();
  void changed() { version_.fetch_add(1, std::memory_order_relaxed); }

  TimerService& timers_;
  unsigned shard_;
  CallTrackerHooks hooks_;
  std::shared_ptr<const TopologyHiding> hiding_;
  std::uint64_t next_ = 1;
  CallMap calls_;
  std::unordered_map<sip::txn::ServerTxnId, std::uint64_t> pending_;
  std::unordered_map<std::string, std::uint64_t> dialogs_;  ///< Call-ID '\n' caller tag -> call
  TimerService::TimerId sweep_timer_ = 0;
  std::atomic<std::uint64_t> version_{0};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sipws::proxy
