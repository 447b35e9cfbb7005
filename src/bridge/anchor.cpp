#include "bridge/anchor.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "common/counters.hpp"
#include "common/log.hpp"
#include "common/token_bucket.hpp"
#include "sip/sdp.hpp"
#include "sip/text.hpp"

namespace sipws::bridge {

using sip::HeaderId;
using sip::Message;
using sip::Method;

namespace {

/// Key presses turned into INFOs per call: a person presses at most a few keys a second; an
/// end that sends events faster (a flood of RFC 4733 packets with new timestamps) would make
/// sipws send a request per event to the peer.
constexpr double kKeyPressRate = 10;   // per second, sustained
constexpr double kKeyPressBurst = 20;  // at once

bool has_sdp(const Message& m) {
  if (m.body().empty()) return false;
  const auto* ct = m.find(HeaderId::ContentType);
  if (ct == nullptr) return false;
  std::string_view v = ct->value;
  v = v.substr(0, v.find(';'));
  return sip::text::iequal(sip::text::trim(v), "application/sdp");
}

std::string header_value(const Message& m, HeaderId id) {
  const auto* h = m.find(id);
  return h ? std::string(h->value) : std::string();
}

/// Gives `m` CSeq number `n` (same method).
void set_cseq_number(Message& m, std::uint32_t n) {
  m.set(HeaderId::CSeq, std::to_string(n) + ' ' + std::string(m.cseq().method_name));
}

/// The URI of the first Contact, without angle brackets.
std::string contact_uri(const Message& m) {
  const auto* h = m.find(HeaderId::Contact);
  if (h == nullptr) return {};
  auto na = sip::parse_name_addr(h->value);
  return na ? std::string(na->uri.raw) : std::string();
}

}  // namespace

/// One anchored call.
struct MediaAnchor::Call {
  std::string call_id;
  std::string caller_tag;
  std::shared_ptr<MediaSession> session;
  MediaFlavor flavor[2] = {MediaFlavor::Plain, MediaFlavor::Plain};
  /// The last offer each side sent, as it sent it: an answer back to it is built from it.
  std::optional<sdp::Session> offer_from[2];
  /// The o= line sipws writes towards each side (RFC 3264 s.8: version grows on change).
  OriginState origin[2];
  /// Last SDP body received from each side and what it became: 2xx retransmissions and
  /// repeated 18x give the same bytes back without touching the session.
  std::string last_in[2], last_out[2];
  bool confirmed = false;  ///< a 2xx to the initial INVITE went through
  int open_branches = 0;
  // What a BYE on media timeout needs (sipws sits next to both ends: no Route set).
  std::string from_hdr, to_hdr, callee_tag;
  std::string contact[2];
  Destination dest[2];
  std::uint32_t max_cseq[2] = {0, 0};  ///< highest CSeq each side used
  /// Set while a late offer (made in a 2xx by this side) waits for its answer in the ACK.
  std::optional<Side> late_offer_from;
  /// The side whose end wants DTMF as SIP INFO (PeerRule::dtmf_info), if any.
  std::optional<Side> info_side;
  /// Requests sipws sent in each side's name (the INFOs): that side's later requests are
  /// renumbered this much higher.
  std::uint32_t cseq_shift[2] = {0, 0};
  std::uint32_t invite_shift[2] = {0, 0};  ///< the shift of each side's last INVITE (its ACK's)
  std::vector<int> dtmf_pts;               ///< telephone-event payload types in the other end's SDP
  TokenBucket key_presses{kKeyPressRate, kKeyPressBurst, SteadyClock::now()};  ///< INFOs
};

struct MediaAnchor::BranchInfo {
  std::shared_ptr<Call> call;
  Side from = Side::A;  ///< the side that sent the request
  bool initial = false;
  bool offer_in_request = false;
  Destination dest;
};

MediaAnchor::MediaAnchor(boost::asio::io_context& io, const BridgeConfig& cfg, AnchorMode mode,
                         OriginateFn originate)
    : io_(io),
      cfg_(cfg),
      mode_(mode),
      originate_(std::move(originate)),
      pool_(cfg.port_min, cfg.port_max),
      identity_(DtlsIdentity::generate()) {
  if (!identity_) throw std::runtime_error("media bridge: cannot create the DTLS certificate");
}

MediaAnchor::~MediaAnchor() { close_all(); }

std::shared_ptr<MediaSession> MediaAnchor::session(const std::string& call_id) const {
  auto it = calls_.find(call_id);
  return it == calls_.end() ? nullptr : it->second->session;
}

void MediaAnchor::close_all() {
  while (!calls_.empty()) end_call(calls_.begin()->first, "shutdown");
}

namespace {

/// Rewrites an offer `in` sent by an end of `from_flavor` for an end of `to_flavor`.
RewriteResult<sdp::Session> rewrite_offer(const sdp::Session& in, MediaFlavor from_flavor,
                                          Leg& to) {
  if (to.flavor() == MediaFlavor::WebRtc) {
    return plain_offer_to_webrtc(in, to.webrtc_side(/*offer=*/true));
  }
  if (from_flavor == MediaFlavor::WebRtc) return webrtc_offer_to_plain(in, to.plain_side());
  return plain_to_plain(in, to.plain_side());
}

/// Rewrites an answer `in` sent by an end of `from_flavor` back to the offerer's leg `to`,
/// whose offer was `offer`.
RewriteResult<sdp::Session> rewrite_answer(const sdp::Session& in, MediaFlavor from_flavor,
                                           const sdp::Session& offer, Leg& to) {
  if (to.flavor() == MediaFlavor::WebRtc) {
    return plain_answer_to_webrtc(in, offer, to.webrtc_side(/*offer=*/false));
  }
  if (from_flavor == MediaFlavor::WebRtc) {
    return webrtc_answer_to_plain(in, offer, to.plain_side());
  }
  return plain_to_plain(in, to.plain_side());
}

/// The media kind of the end at `dest`: a browser is reached only over its own WebSocket flow
/// (its binding's or a flow token's); a WS/WSS destination without a flow is a server that
/// sipws dials as a WebSocket client (RFC 7118 client role: a PBX, a registrar), a plain end.
MediaFlavor flavor_of(const Destination& dest) {
  return is_websocket(dest.protocol) && dest.flow != kNoFlow ? MediaFlavor::WebRtc
                                                             : MediaFlavor::Plain;
}

}  // namespace

IpAddress MediaAnchor::local_address(const IpAddress& local, const IpAddress& peer) const {
  if (!local.is_unspecified()) return local;
  if (cfg_.local_toward) {
    if (auto a = cfg_.local_toward(peer)) return *a;
  }
  return boost::asio::ip::make_address_v4("127.0.0.1");
}

std::shared_ptr<MediaAnchor::Call> MediaAnchor::start_call(const Message& request,
                                                           const Source& src,
                                                           const Destination& dest,
                                                           MediaFlavor caller, int& status) {
  const MediaFlavor callee = flavor_of(dest);
  bool anchor = caller != callee;
  if (mode_ == AnchorMode::Always && caller == MediaFlavor::Plain) anchor = true;
  // Topology hiding: a plain end's SDP would show the other side where it is.
  if (hiding_ && caller == MediaFlavor::Plain && callee == MediaFlavor::Plain &&
      (hiding_->hides(src.peer.address) || hiding_->hides(dest.endpoint.address))) {
    anchor = true;
  }
  if (!anchor) return nullptr;
  const std::string call_id(request.call_id());
  auto call = std::make_shared<Call>();
  call->call_id = call_id;
  call->caller_tag = std::string(request.from().tag());
  call->flavor[0] = caller;
  call->flavor[1] = callee;
  call->session = MediaSession::make(io_, cfg_, pool_, identity_, caller, callee,
                                     [this, call_id]() { on_media_timeout(call_id); });
  if (!call->session) {
    log::bridge().warn("media: no ports left for call {}", call_id);
    status = 503;
    return nullptr;
  }
  if (cfg_.address.is_unspecified() && cfg_.advertise.is_unspecified()) {
    // Media on every interface: each leg's SDP names the address its end reaches.
    call->session->leg(Side::A).set_sdp_address(local_address(src.local.address, src.peer.address));
    call->session->leg(Side::B).set_sdp_address(
        local_address(dest.local.address, dest.endpoint.address));
  }
  if (peer_rules_) {
    // Only a plain end is a legacy peer; a browser on its flow may share its address.
    const auto* callee_rule =
        callee == MediaFlavor::Plain ? peer_rules_->find(dest.endpoint.address) : nullptr;
    const auto* caller_rule =
        caller == MediaFlavor::Plain ? peer_rules_->find(src.peer.address) : nullptr;
    if (callee_rule != nullptr && callee_rule->dtmf_info) {
      call->info_side = Side::B;
    } else if (caller_rule != nullptr && caller_rule->dtmf_info) {
      call->info_side = Side::A;
    }
  }
  call->from_hdr = header_value(request, HeaderId::From);
  call->to_hdr = header_value(request, HeaderId::To);
  call->contact[0] = contact_uri(request);
  call->dest[0] = Destination{src.protocol, src.peer, src.flow, {}, src.local};
  calls_[call_id] = call;
  active_.store(calls_.size(), std::memory_order_relaxed);
  SIPWS_COUNTER("media_sessions_created").inc();
  log::bridge().info("media: anchoring call {} ({} caller, {} callee) on ports {}/{}", call_id,
                     caller == MediaFlavor::WebRtc ? "WebRTC" : "plain",
                     callee == MediaFlavor::WebRtc ? "WebRTC" : "plain",
                     call->session->leg(Side::A).port(), call->session->leg(Side::B).port());
  return call;
}

int MediaAnchor::on_forward_request(Message& request, const Source& src, const Destination& dest,
                                    std::string_view branch) {
  if (mode_ == AnchorMode::Never) return 0;
  const std::string call_id(request.call_id());
  auto cit = calls_.find(call_id);
  const Method method = request.method();
  const bool initial = request.to().tag().empty();
  if (cit != calls_.end() && !initial) {
    // Every in-dialog request: its sender's CSeq sequence, renumbered above the requests
    // sipws sent in its name.
    Call& c = *cit->second;
    const int fi = request.from().tag() == c.caller_tag ? 0 : 1;
    const std::uint32_t n = request.cseq().number;
    c.max_cseq[fi] = std::max(c.max_cseq[fi], n);
    if (c.cseq_shift[fi] != 0) {
      set_cseq_number(request, n + c.cseq_shift[fi]);
      renumbered_[std::string(branch)] = n;
    }
    if (method == Method::Invite) c.invite_shift[fi] = c.cseq_shift[fi];
  }

  if (method == Method::Bye && cit != calls_.end()) {
    end_call(call_id, "BYE");
    return 0;
  }
  if (!has_sdp(request)) {
    // A late offer (RFC 3261 s.13.2.1: INVITE without SDP, the offer comes in the 2xx and the
    // answer in the ACK; delayed-offer PBXs do this). The caller is a browser only over its
    // own flow; the answer direction is handled in on_forward_response / on_forward_ack.
    if (method != Method::Invite) return 0;
    std::shared_ptr<Call> call;
    Side from = Side::A;
    if (cit != calls_.end()) {
      call = cit->second;
      if (initial) return 0;  // a fork of a late offer: its first branch holds the media
      from = request.from().tag() == call->caller_tag ? Side::A : Side::B;
    } else {
      if (!initial) return 0;
      const MediaFlavor caller = is_websocket(src.protocol) && src.flow != kNoFlow
                                     ? MediaFlavor::WebRtc
                                     : MediaFlavor::Plain;
      int status = 0;
      call = start_call(request, src, dest, caller, status);
      if (!call) return status;
      call->dest[1] = dest;
    }
    // (an in-dialog request's number was noted above, before renumbering)
    if (initial) call->max_cseq[0] = std::max(call->max_cseq[0], request.cseq().number);
    auto info = std::make_shared<BranchInfo>();
    info->call = call;
    info->from = from;
    info->initial = initial;
    info->offer_in_request = false;
    info->dest = dest;
    branches_[std::string(branch)] = info;
    ++call->open_branches;
    return 0;
  }
  auto parsed = sdp::parse(request.body());
  if (!parsed) return 0;  // not ours to judge: the far end answers 488/400
  auto md = describe(*parsed);
  if (!md || md->flavor == MediaFlavor::None) return 0;

  std::shared_ptr<Call> call;
  Side from = Side::A;
  if (cit != calls_.end()) {
    call = cit->second;
    if (!initial) from = request.from().tag() == call->caller_tag ? Side::A : Side::B;
    if (initial && call->flavor[1] != flavor_of(dest)) {
      // Forking to ends of both kinds: this branch keeps the end-to-end SDP.
      return 0;
    }
  } else {
    if (!initial || method != Method::Invite) return 0;
    int status = 0;
    call = start_call(request, src, dest, md->flavor, status);
    if (!call) return status;
  }
  const Side to = other(from);
  if (initial) {
    call->max_cseq[0] = std::max(call->max_cseq[0], request.cseq().number);
    call->dest[1] = dest;
  }

  std::string out;
  const int fi = static_cast<int>(from);
  if (call->last_in[fi] == request.body() && !call->last_out[fi].empty() && initial) {
    out = call->last_out[fi];  // the same offer forked to another branch
  } else {
    Leg& from_leg = call->session->leg(from);
    from_leg.set_remote(*md, /*we_offered=*/false);
    auto rewritten = rewrite_offer(*parsed, call->flavor[fi], call->session->leg(to));
    if (!rewritten) {
      log::bridge().info("media: offer of call {} not acceptable: {}", call_id,
                         rewritten.error().message());
      if (initial && call->open_branches == 0) end_call(call_id, "no common codec");
      return 488;
    }
    adapt_dtmf(*call, *parsed, from, *rewritten, /*offer=*/true);
    call->origin[static_cast<int>(to)].stamp(*rewritten);
    out = sdp::serialize(*rewritten);
    call->offer_from[fi] = std::move(*parsed);
    call->last_in[fi] = std::string(request.body());
    call->last_out[fi] = out;
  }
  request.set_body(std::move(out), "application/sdp");
  auto info = std::make_shared<BranchInfo>();
  info->call = call;
  info->from = from;
  info->initial = initial;
  info->offer_in_request = true;
  info->dest = dest;
  branches_[std::string(branch)] = info;
  ++call->open_branches;
  return 0;
}

void MediaAnchor::on_forward_response(Message& response, std::string_view branch) {
  if (auto r = renumbered_.find(std::string(branch)); r != renumbered_.end()) {
    set_cseq_number(response, r->second);  // the number its sender gave the request
  }
  auto bit = branches_.find(std::string(branch));
  if (bit == branches_.end()) return;
  BranchInfo& b = *bit->second;
  Call& call = *b.call;
  const int status = response.status();
  if (status >= 200 && status < 300 && b.initial && !call.confirmed) {
    call.confirmed = true;
    call.callee_tag = std::string(response.to().tag());
    call.contact[1] = contact_uri(response);
  }
  if (!has_sdp(response) || call.session == nullptr || call.session->closed()) return;
  const Side answerer = other(b.from);
  const int ai = static_cast<int>(answerer);
  if (response.body() == call.last_in[ai] && !call.last_out[ai].empty()) {
    response.set_body(call.last_out[ai], "application/sdp");
    return;
  }
  auto parsed = sdp::parse(response.body());
  if (!parsed) return;
  auto md = describe(*parsed);
  if (!md) return;
  if (!b.offer_in_request) {
    // Late offer: this response carries the offer; the answer comes back in the ACK.
    call.session->leg(answerer).set_remote(*md, /*we_offered=*/false);
    auto rewritten = rewrite_offer(*parsed, call.flavor[ai], call.session->leg(b.from));
    if (!rewritten) {
      log::bridge().warn("media: late offer of call {} cannot be rewritten: {}", call.call_id,
                         rewritten.error().message());
      return;
    }
    adapt_dtmf(call, *parsed, answerer, *rewritten, /*offer=*/true);
    call.origin[static_cast<int>(b.from)].stamp(*rewritten);
    std::string out = sdp::serialize(*rewritten);
    call.offer_from[ai] = std::move(*parsed);
    call.late_offer_from = answerer;
    call.last_in[ai] = std::string(response.body());
    call.last_out[ai] = out;
    response.set_body(std::move(out), "application/sdp");
    return;
  }
  const auto& offer = call.offer_from[static_cast<int>(b.from)];
  if (!offer) return;
  call.session->leg(answerer).set_remote(*md, /*we_offered=*/true);
  auto rewritten = rewrite_answer(*parsed, call.flavor[ai], *offer, call.session->leg(b.from));
  if (!rewritten) {
    log::bridge().warn("media: answer of call {} cannot be rewritten: {}", call.call_id,
                       rewritten.error().message());
    return;
  }
  adapt_dtmf(call, *parsed, answerer, *rewritten, /*offer=*/false);
  call.origin[static_cast<int>(b.from)].stamp(*rewritten);
  std::string out = sdp::serialize(*rewritten);
  call.last_in[ai] = std::string(response.body());
  call.last_out[ai] = out;
  response.set_body(std::move(out), "application/sdp");
}

void MediaAnchor::on_branch_end(std::string_view branch, int status) {
  renumbered_.erase(std::string(branch));
  auto bit = branches_.find(std::string(branch));
  if (bit == branches_.end()) return;
  auto info = bit->second;
  branches_.erase(bit);
  Call& call = *info->call;
  --call.open_branches;
  // An initial INVITE that fails on every branch ends the call; a failed re-INVITE or UPDATE
  // (491, 488...) leaves the media as it was (RFC 3261 s.14.1).
  if (info->initial && !call.confirmed && call.open_branches <= 0) {
    end_call(call.call_id, status == 487 ? "cancelled" : "call failed");
  }
}

void MediaAnchor::on_forward_ack(Message& ack, const Source& /*src*/, const Destination& /*dest*/) {
  auto cit = calls_.find(std::string(ack.call_id()));
  if (cit == calls_.end()) return;
  Call& call = *cit->second;
  const Side sender = ack.from().tag() == call.caller_tag ? Side::A : Side::B;
  const int si = static_cast<int>(sender);
  // The ACK for a 2xx has its INVITE's number (RFC 3261 s.13.2.2.4), renumbered the same way.
  if (call.invite_shift[si] != 0) {
    set_cseq_number(ack, ack.cseq().number + call.invite_shift[si]);
  }
  // The answer to a late offer (RFC 3261 s.13.2.1) travels in the ACK for the 2xx.
  if (!has_sdp(ack)) return;
  if (call.session == nullptr || call.session->closed()) return;
  if (ack.body() == call.last_in[si] && !call.last_out[si].empty()) {
    ack.set_body(call.last_out[si], "application/sdp");  // an ACK resent for a resent 2xx
    return;
  }
  if (call.late_offer_from != other(sender)) return;
  const Side offerer = other(sender);
  const auto& offer = call.offer_from[static_cast<int>(offerer)];
  auto parsed = sdp::parse(ack.body());
  if (!parsed || !offer) return;
  auto md = describe(*parsed);
  if (!md) return;
  call.session->leg(sender).set_remote(*md, /*we_offered=*/true);
  auto rewritten = rewrite_answer(*parsed, call.flavor[si], *offer, call.session->leg(offerer));
  if (!rewritten) {
    log::bridge().warn("media: answer in the ACK of call {} cannot be rewritten: {}", call.call_id,
                       rewritten.error().message());
    return;
  }
  adapt_dtmf(call, *parsed, sender, *rewritten, /*offer=*/false);
  call.origin[static_cast<int>(offerer)].stamp(*rewritten);
  std::string out = sdp::serialize(*rewritten);
  call.last_in[si] = std::string(ack.body());
  call.last_out[si] = out;
  call.late_offer_from.reset();
  ack.set_body(std::move(out), "application/sdp");
}

void MediaAnchor::end_call(const std::string& call_id_ref, std::string_view why) {
  // A copy: call_id_ref may refer to the key erased below (close_all).
  const std::string call_id = call_id_ref;  // NOLINT(performance-unnecessary-copy-initialization)
  auto it = calls_.find(call_id);
  if (it == calls_.end()) return;
  auto call = it->second;
  calls_.erase(it);
  active_.store(calls_.size(), std::memory_order_relaxed);
  for (auto b = branches_.begin(); b != branches_.end();) {
    if (b->second->call == call) {
      b = branches_.erase(b);
    } else {
      ++b;
    }
  }
  if (call->session) {
    const auto& a = call->session->leg(Side::A).stats();
    const auto& bs = call->session->leg(Side::B).stats();
    log::bridge().info(
        "media: call {} ended ({}): caller leg rx={} tx={} dropped={}, callee leg rx={} tx={} "
        "dropped={}",
        call_id, why, a.rx_packets, a.tx_packets, a.dropped, bs.rx_packets, bs.tx_packets,
        bs.dropped);
    SIPWS_COUNTER("media_packets_relayed").inc(a.rx_packets + bs.rx_packets);
    call->session->close();
  }
}

void MediaAnchor::on_media_timeout(const std::string& call_id) {
  auto it = calls_.find(call_id);
  if (it == calls_.end()) return;
  const std::string caller_tag = it->second->caller_tag;
  if (!hang_up(call_id, "SIP;cause=408;text=\"media timeout\"", "media timeout")) {
    end_call(call_id, "media timeout");
    return;
  }
  if (on_media_timeout_) on_media_timeout_(call_id, caller_tag);
}

bool MediaAnchor::hang_up(const std::string& call_id, const std::string& reason,
                          std::string_view why) {
  auto it = calls_.find(call_id);
  if (it == calls_.end() || !it->second->confirmed) return false;
  auto call = it->second;
  if (originate_) {
    // RFC 3261 s.15: a BYE to each end, as if the other end had hung up.
    for (int i = 0; i < 2; ++i) {
      if (call->contact[i].empty()) continue;
      proxy::OwnRequest bye = in_dialog_request(*call, other(static_cast<Side>(i)), "BYE");
      bye.headers.emplace_back("Reason", reason);
      originate_(bye, call->dest[i]);
    }
  }
  end_call(call_id, why);
  return true;
}

proxy::OwnRequest MediaAnchor::in_dialog_request(const Call& call, Side from,
                                                 std::string method) const {
  const int to = static_cast<int>(other(from));
  const bool to_caller = to == 0;
  std::string from_hdr = to_caller ? call.to_hdr : call.from_hdr;
  std::string to_hdr = to_caller ? call.from_hdr : call.to_hdr;
  if (to_caller) {
    from_hdr += ";tag=" + call.callee_tag;
  } else {
    to_hdr += ";tag=" + call.callee_tag;
  }
  proxy::OwnRequest r;
  r.method = std::move(method);
  r.uri = call.contact[to];
  r.from = std::move(from_hdr);
  r.to = std::move(to_hdr);
  // A hidden peer knows the call by the other Call-ID (TopologyHiding).
  r.call_id = hiding_ && hiding_->hides(call.dest[to].endpoint.address)
                  ? hiding_->flip_call_id(call.call_id)
                  : call.call_id;
  const int fi = static_cast<int>(from);
  r.cseq = call.max_cseq[fi] + call.cseq_shift[fi] + 1;
  return r;
}

void MediaAnchor::adapt_dtmf(Call& call, const sdp::Session& in, Side in_from, sdp::Session& out,
                             bool offer) {
  if (!call.info_side || call.session == nullptr) return;
  const Side to = other(in_from);
  auto note = [&call](const sdp::Session& s) {
    for (const auto& m : s.media) {
      if (m.media != "audio") continue;
      for (int pt : telephone_event_pts(m)) {
        if (std::find(call.dtmf_pts.begin(), call.dtmf_pts.end(), pt) == call.dtmf_pts.end()) {
          call.dtmf_pts.push_back(pt);
        }
      }
    }
  };
  if (to == *call.info_side) {
    // The peer that wants INFO hears no RFC 4733 events: none offered, none answered.
    for (auto& m : out.media) {
      if (m.media == "audio") remove_telephone_event(m);
    }
    note(in);
  } else {
    // The other end may send key presses as events: offer telephone-event, and answer it
    // when that end offered it (RFC 3264 s.6.1: an answer lists only what was offered).
    const auto& its_offer = call.offer_from[static_cast<int>(to)];
    for (auto& m : out.media) {
      if (m.media != "audio" || m.port == 0) continue;
      if (offer) {
        if (auto pt = free_dynamic_pt(m)) add_telephone_event(m, *pt);
      } else if (its_offer) {
        for (const auto& om : its_offer->media) {
          if (om.media != "audio") continue;
          if (auto pts = telephone_event_pts(om); !pts.empty()) {
            add_telephone_event(m, pts.front());
            break;
          }
        }
      }
    }
    note(out);
  }
  const std::string call_id = call.call_id;
  call.session->convert_dtmf(
      other(*call.info_side), call.dtmf_pts,
      [this, call_id](Side from, const KeyPress& key) { on_key_press(call_id, from, key); });
}

void MediaAnchor::on_key_press(const std::string& call_id, Side from, const KeyPress& key) {
  auto it = calls_.find(call_id);
  if (it == calls_.end()) return;
  Call& call = *it->second;
  if (!call.info_side || from == *call.info_side) return;
  const int to = static_cast<int>(*call.info_side);
  if (!call.confirmed || call.contact[to].empty() || !originate_) {
    // No dialog yet (early media): nothing to send the INFO in.
    SIPWS_COUNTER("media_dtmf_dropped").inc();
    log::bridge().debug("media: key {} of call {} before the call was answered, dropped",
                        key.signal, call_id);
    return;
  }
  if (!call.key_presses.take(SteadyClock::now())) {
    SIPWS_COUNTER("media_dtmf_dropped").inc();
    log::bridge().debug("media: key {} of call {} over {} a second, dropped", key.signal, call_id,
                        kKeyPressRate);
    return;
  }
  proxy::OwnRequest info = in_dialog_request(call, from, "INFO");
  info.content_type = "application/dtmf-relay";
  info.body = dtmf_relay_body(key);
  ++call.cseq_shift[static_cast<int>(from)];
  log::bridge().debug("media: key {} ({} ms) of call {} sent as INFO", key.signal, key.duration_ms,
                      call_id);
  originate_(info, call.dest[to]);
}

}  // namespace sipws::bridge
