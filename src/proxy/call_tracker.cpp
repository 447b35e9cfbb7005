#include "proxy/call_tracker.hpp"

#include <algorithm>
#include <chrono>

#include "common/log.hpp"
#include "sip/headers.hpp"

namespace sipws::proxy {

namespace {

using sip::HeaderId;
using sip::Message;
using sip::Method;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string dialog_key(std::string_view call_id, std::string_view caller_tag) {
  std::string k;
  k.reserve(call_id.size() + 1 + caller_tag.size());
  k.append(call_id).push_back('\n');
  k.append(caller_tag);
  return k;
}

/// The URI of the first Contact, without angle brackets ("" if none or malformed).
std::string contact_uri(const Message& m) {
  const auto* h = m.find(HeaderId::Contact);
  if (h == nullptr) return {};
  auto na = sip::parse_name_addr(h->value);
  return na ? std::string(na->uri.raw) : std::string();
}

/// The Record-Route values of `m`, in order (one per element).
std::vector<std::string> record_route(const Message& m) {
  std::vector<std::string> out;
  for (const auto* h : m.find_all(HeaderId::RecordRoute)) out.emplace_back(h->value);
  return out;
}

}  // namespace

/// One call: its record so far and what an end() needs to send a BYE to each end.
struct CallTracker::Call {
  std::uint64_t seq = 0;
  CallRecord rec;
  sip::txn::ServerTxnId txn = 0;  ///< the INVITE's, until its final response
  std::string caller_tag, callee_tag;
  std::string from_hdr, to_hdr;       ///< the INVITE's From (with tag) and To (without)
  std::string contact[2];             ///< [0] caller's Contact, [1] callee's
  Destination dest[2];                ///< the adjacent hop towards each end
  std::vector<std::string> route[2];  ///< Route set of a request towards each end
  std::uint32_t cseq[2] = {0, 0};     ///< highest CSeq each end used
  std::size_t forwarded_rr = 0;       ///< Record-Route entries of the last branch's INVITE
  bool cancelled = false;
  std::string cancel_hangup = "caller";  ///< who cancelled ("caller" or "admin")
  TimePoint last_activity{};
};

CallTracker::CallTracker(TimerService& timers, unsigned shard, CallTrackerHooks hooks)
    : timers_(timers), shard_(shard), hooks_(std::move(hooks)) {
  sweep_timer_ = timers_.schedule(kSweepEvery, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.expired()) return;
    sweep();
  });
}

CallTracker::~CallTracker() {
  if (sweep_timer_ != 0) timers_.cancel(sweep_timer_);
}

CallTracker::Call* CallTracker::find_dialog(std::string_view call_id, std::string_view caller_tag) {
  auto it = dialogs_.find(dialog_key(call_id, caller_tag));
  if (it == dialogs_.end()) return nullptr;
  auto c = calls_.find(it->second);
  return c == calls_.end() ? nullptr : c->second.get();
}

void CallTracker::on_request(sip::txn::ServerTxnId id, const RequestContext& rc) {
  const Message& req = rc.original();
  if (!req.to().tag().empty()) {
    // In-dialog: the caller's requests carry its tag in From, the callee's in To.
    int side = 0;
    Call* call = find_dialog(req.call_id(), req.from().tag());
    if (call == nullptr) {
      call = find_dialog(req.call_id(), req.to().tag());
      side = 1;
    }
    if (call == nullptr || call->rec.answer_ms == 0) return;
    if (side == 1 && req.from().tag() != call->callee_tag) return;  // another fork's dialog
    call->cseq[side] = std::max(call->cseq[side], req.cseq().number);
    call->last_activity = timers_.now();
    if (req.method() == Method::Bye) finish(*call, side == 0 ? "caller" : "callee", 200, "OK");
    return;
  }
  if (req.method() != Method::Invite) return;
  auto call = std::make_unique<Call>();
  call->seq = next_++;
  call->txn = id;
  CallRecord& r = call->rec;
  r.live_id = std::to_string(shard_) + '-' + std::to_string(call->seq);
  r.state = "trying";
  r.call_id = req.call_id();
  r.from = req.from().uri.raw;
  r.to = req.to().uri.raw;
  r.request_uri = req.request_uri().raw;
  const Source& src = rc.source();
  r.source = std::string(lower_name(src.protocol)) + ':' + src.peer.to_string();
  r.start_ms = wall_ms();
  call->caller_tag = req.from().tag();
  if (const auto* h = req.find(HeaderId::From)) call->from_hdr = h->value;
  if (const auto* h = req.find(HeaderId::To)) call->to_hdr = h->value;  // no tag yet
  call->contact[0] = contact_uri(req);
  call->dest[0] = Destination{src.protocol, src.peer, src.flow, {}, src.local};
  call->route[0] = record_route(req);  // the proxies towards the caller, nearest first
  call->cseq[0] = req.cseq().number;
  call->last_activity = timers_.now();
  // A new INVITE of the same dialog key (the retry after a challenge) replaces the old one.
  const std::string key = dialog_key(r.call_id, call->caller_tag);
  if (auto old = dialogs_.find(key); old != dialogs_.end()) {
    if (auto oc = calls_.find(old->second); oc != calls_.end() && oc->second->txn != 0) {
      pending_.erase(oc->second->txn);
      calls_.erase(oc);
    }
  }
  dialogs_[key] = call->seq;
  pending_[id] = call->seq;
  calls_.emplace(call->seq, std::move(call));
  changed();
}

void CallTracker::on_branch(sip::txn::ServerTxnId id, const Target& target, const sip::Message& fwd,
                            const Destination& dest) {
  auto p = pending_.find(id);
  if (p == pending_.end()) return;
  auto c = calls_.find(p->second);
  if (c == calls_.end()) return;
  Call& call = *c->second;
  if (!target.gateway.empty()) call.rec.gateways.push_back(target.gateway);
  call.forwarded_rr = fwd.count(HeaderId::RecordRoute);
  call.dest[1] = dest;
}

void CallTracker::on_response(sip::txn::ServerTxnId id, const RequestContext& rc,
                              const sip::Message& rsp, const Destination* from) {
  auto p = pending_.find(id);
  if (p == pending_.end()) return;
  auto c = calls_.find(p->second);
  if (c == calls_.end()) {
    pending_.erase(p);
    return;
  }
  Call& call = *c->second;
  const int status = rsp.status();
  if (status < 200) {
    if (status >= 180 && call.rec.state != "ringing") {
      call.rec.state = "ringing";
      changed();
    }
    return;
  }
  call.rec.user = rc.identity();
  call.rec.route = rc.route_name();
  const auto& retargets = rc.retargets();
  if (retargets.size() > 1) call.rec.forwarded.assign(retargets.begin() + 1, retargets.end());
  pending_.erase(p);
  call.txn = 0;
  if (status >= 300) {
    if ((status == 401 || status == 407) && !call.cancelled) {
      forget(call);  // the caller retries with credentials: that INVITE is the attempt
      return;
    }
    finish(call, call.cancelled ? call.cancel_hangup : std::string(), status, rsp.reason());
    return;
  }
  // The first 2xx makes the dialog (RFC 3261 s.12.1); a later 2xx of another fork is relayed
  // but not tracked (the caller BYEs it at once, s.13.2.2.4).
  call.rec.state = "answered";
  call.rec.status = status;
  call.rec.reason = rsp.reason();
  call.rec.answer_ms = wall_ms();
  call.callee_tag = rsp.to().tag();
  call.contact[1] = contact_uri(rsp);
  if (from != nullptr) call.dest[1] = *from;
  // The 2xx's Record-Route is the forwarded INVITE's with the proxies beyond sipws in front,
  // nearest to the callee first: a request towards the callee visits them in reverse.
  std::vector<std::string> rr = record_route(rsp);
  const std::size_t beyond = rr.size() > call.forwarded_rr ? rr.size() - call.forwarded_rr : 0;
  call.route[1].assign(rr.rbegin() + static_cast<std::ptrdiff_t>(rr.size() - beyond), rr.rend());
  call.last_activity = timers_.now();
  changed();
}

void CallTracker::on_cancel(sip::txn::ServerTxnId id) {
  auto p = pending_.find(id);
  if (p == pending_.end()) return;
  if (auto c = calls_.find(p->second); c != calls_.end()) c->second->cancelled = true;
}

std::vector<CallRecord> CallTracker::calls() const {
  std::vector<const Call*> order;
  order.reserve(calls_.size());
  for (const auto& [seq, call] : calls_) order.push_back(call.get());
  std::sort(order.begin(), order.end(),
            [](const Call* a, const Call* b) { return a->seq < b->seq; });
  std::vector<CallRecord> out;
  out.reserve(order.size());
  for (const Call* call : order) {
    out.push_back(call->rec);
    if (hooks_.media) {
      if (auto m = hooks_.media(call->rec.call_id)) {
        out.back().media_anchored = true;
        out.back().caller_leg = m->first;
        out.back().callee_leg = m->second;
      }
    }
  }
  return out;
}

OwnRequest CallTracker::in_dialog_request(Call& call, int from, std::string method) {
  const int to = 1 - from;
  OwnRequest r;
  r.method = std::move(method);
  r.uri = call.contact[to];
  if (to == 0) {
    r.from = call.to_hdr + ";tag=" + call.callee_tag;
    r.to = call.from_hdr;
  } else {
    r.from = call.from_hdr;
    r.to = call.to_hdr + ";tag=" + call.callee_tag;
  }
  const bool hidden = hiding_ && hiding_->hides(call.dest[to].endpoint.address);
  r.call_id = hidden ? hiding_->flip_call_id(call.rec.call_id) : call.rec.call_id;
  if (!hidden) {
    for (const auto& v : call.route[to]) r.headers.emplace_back("Route", v);
  }
  r.cseq = ++call.cseq[from];
  return r;
}

bool CallTracker::end(std::string_view live_id) {
  Call* call = nullptr;
  for (auto& [seq, c] : calls_) {
    if (c->rec.live_id == live_id) {
      call = c.get();
      break;
    }
  }
  if (call == nullptr) return false;
  if (call->rec.answer_ms == 0) {
    // Not answered yet: cancel it as the caller would; the 487 ends the record.
    call->cancel_hangup = "admin";
    // The cancel may end the call at once (its 487 comes back through on_response, which
    // forgets `call`): nothing of it is used after.
    const std::string call_id = call->rec.call_id;
    if (call->txn != 0 && hooks_.cancel && hooks_.cancel(call->txn)) {
      log::proxy().info("admin: call {} cancelled", call_id);
      return true;
    }
    finish(*call, "admin", 487, "Request Terminated");
    return true;
  }
  log::proxy().info("admin: call {} ended (BYE to both ends)", call->rec.call_id);
  bye_both(*call, "SIP;text=\"ended by the administrator\"", "admin", "ended by the administrator");
  return true;
}

void CallTracker::bye_both(Call& c, const std::string& reason, std::string_view hangup,
                           std::string_view why) {
  // Counters first: ending the media closes the session that holds them.
  std::optional<std::pair<LegCounts, LegCounts>> media;
  if (hooks_.media) media = hooks_.media(c.rec.call_id);
  if (!(hooks_.hang_up_media && hooks_.hang_up_media(c.rec.call_id, reason, why)) &&
      hooks_.originate) {
    for (int to = 0; to < 2; ++to) {
      if (c.contact[to].empty()) continue;
      OwnRequest bye = in_dialog_request(c, 1 - to, "BYE");
      bye.headers.emplace_back("Reason", reason);
      hooks_.originate(bye, c.dest[to]);
    }
  }
  if (media) {
    c.rec.media_anchored = true;
    c.rec.caller_leg = media->first;
    c.rec.callee_leg = media->second;
  }
  finish(c, hangup);
}

void CallTracker::hang_up_all(const std::string& reason, std::string_view hangup) {
  std::vector<std::uint64_t> answered;
  for (const auto& [seq, call] : calls_) {
    if (call->rec.answer_ms != 0) answered.push_back(seq);
  }
  for (std::uint64_t seq : answered) {
    auto it = calls_.find(seq);
    if (it == calls_.end()) continue;
    bye_both(*it->second, reason, hangup, hangup);
  }
}

void CallTracker::ended(const std::string& call_id, const std::string& caller_tag,
                        std::string_view hangup) {
  if (Call* call = find_dialog(call_id, caller_tag)) finish(*call, hangup);
}

void CallTracker::finish(Call& call, std::string_view hangup, int status, std::string_view reason) {
  CallRecord& r = call.rec;
  r.end_ms = wall_ms();
  r.hangup = hangup;
  if (r.answer_ms == 0) {
    r.status = status;
    r.reason = reason;
  }
  if (!r.media_anchored && hooks_.media) {
    if (auto m = hooks_.media(r.call_id)) {
      r.media_anchored = true;
      r.caller_leg = m->first;
      r.callee_leg = m->second;
    }
  }
  r.state.clear();
  r.live_id.clear();
  if (hooks_.record) hooks_.record(r);
  forget(call);
}

void CallTracker::forget(Call& call) {
  if (call.txn != 0) pending_.erase(call.txn);
  const std::string key = dialog_key(call.rec.call_id, call.caller_tag);
  if (auto d = dialogs_.find(key); d != dialogs_.end() && d->second == call.seq) dialogs_.erase(d);
  calls_.erase(call.seq);  // `call` is gone
  changed();
}

void CallTracker::close_all(std::string_view hangup) {
  while (!calls_.empty()) {
    Call& call = *calls_.begin()->second;
    finish(call, hangup, call.rec.answer_ms == 0 ? 0 : call.rec.status,
           call.rec.answer_ms == 0 ? hangup : std::string_view{});
  }
}

void CallTracker::sweep() {
  const TimePoint now = timers_.now();
  std::vector<std::uint64_t> stale;
  for (const auto& [seq, call] : calls_) {
    const Millis limit = call->rec.answer_ms != 0 ? kDialogTimeout : kPendingTimeout;
    if (now - call->last_activity >= limit) stale.push_back(seq);
  }
  for (std::uint64_t seq : stale) {
    auto it = calls_.find(seq);
    if (it == calls_.end()) continue;
    log::proxy().info(
        "call {} expired: no request in its dialog for {} s", it->second->rec.call_id,
        std::chrono::duration_cast<std::chrono::seconds>(now - it->second->last_activity).count());
    finish(*it->second, "expired", 408, "Request Timeout");
  }
  sweep_timer_ = timers_.schedule(kSweepEvery, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.expired()) return;
    sweep();
  });
}

}  // namespace sipws::proxy
