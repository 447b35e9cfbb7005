#pragma once
// The media-anchor: the proxy's forward hook that decides, per branch, whether a call's media
// must go through sipws (a WebRTC end talking to a plain RTP end), creates the MediaSession,
// and rewrites every SDP offer and answer of the call both ways (initial INVITE, 18x/2xx,
// re-INVITE, UPDATE). It tears the session down on BYE, on failure of the call and on media
// timeout (sending BYE to both ends).

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "bridge/media_session.hpp"
#include "proxy/forward_hook.hpp"
#include "proxy/peer_rules.hpp"
#include "proxy/topology_hiding.hpp"
#include "proxy/uac.hpp"

namespace sipws::bridge {

/// When calls are anchored (config key media_anchor).
enum class AnchorMode {
  Auto,    ///< one end WebRTC, the other plain RTP (by the SDP and the target's transport)
  Always,  ///< also plain <-> plain (topology hiding); WebRTC <-> WebRTC stays end to end
  Never,   ///< SDP passes untouched
};

/// Sends a request sipws originates (the BYEs of a media timeout, the INFOs of DTMF conversion)
/// towards `dest` as a client transaction (the daemon's proxy::Uac: it adds the Via, retransmits,
/// and counts and logs the answer). Thread: core io thread.
using OriginateFn = std::function<void(const proxy::OwnRequest& request, const Destination& dest)>;

/// Thread: core io thread (all hook calls and all media I/O).
class MediaAnchor final : public proxy::ForwardHook {
 public:
  /// @throws std::runtime_error if the DTLS certificate cannot be created.
  MediaAnchor(boost::asio::io_context& io, const BridgeConfig& cfg, AnchorMode mode,
              OriginateFn originate = {});
  ~MediaAnchor() override;

  int on_forward_request(sip::Message& request, const Source& src, const Destination& dest,
                         std::string_view branch) override;
  void on_forward_response(sip::Message& response, std::string_view branch) override;
  void on_branch_end(std::string_view branch, int status) override;
  void on_forward_ack(sip::Message& ack, const Source& src, const Destination& dest) override;

  /// The topology-hiding rules (null = none): a plain <-> plain call to or from a hidden
  /// peer is anchored too (its SDP would show the inside end's address), and a media-timeout
  /// BYE to a hidden peer carries the Call-ID that peer knows. Calls in progress keep theirs.
  void set_topology_hiding(std::shared_ptr<const proxy::TopologyHiding> th) {
    hiding_ = std::move(th);
  }

  /// The per-peer rules (null = none). A call with a peer that wants DTMF as SIP INFO
  /// (PeerRule::dtmf_info) converts: RFC 4733 key presses from the other end become INFO
  /// requests with an application/dtmf-relay body sent to that peer in the dialog, as if the
  /// other end had sent them (its From/To, its CSeq sequence; its later requests are
  /// renumbered above them and their responses numbered back, RFC 3261 s.12.2.1.1). That peer
  /// is offered no telephone-event (and an answer to it drops it); the other end is offered
  /// telephone-event (and gets it in the answer when it offered it), so a browser can send
  /// key presses with RTCDTMFSender. SIP INFOs either end sends pass unchanged. Calls in
  /// progress keep what they began with.
  void set_peer_rules(std::shared_ptr<const proxy::PeerRules> rules) {
    peer_rules_ = std::move(rules);
  }

  /// Calls with a live media session now. Thread: any (the admin endpoint of shard 0 sums every
  /// shard's).
  std::size_t active_sessions() const { return active_.load(std::memory_order_relaxed); }
  /// The session of call `call_id`, nullptr if none (tests, admin).
  std::shared_ptr<MediaSession> session(const std::string& call_id) const;
  /// Closes every session (shutdown).
  void close_all();
  /// Ends answered call `call_id` as if each end had hung up (RFC 3261 s.15): a BYE to each
  /// end, with `reason` as its Reason header value (RFC 3326), then closes the session. False
  /// (nothing sent) if the bridge does not anchor `call_id` or its INVITE got no 2xx yet.
  /// `why` names the cause in the log ("media timeout", "ended by the administrator").
  bool hang_up(const std::string& call_id, const std::string& reason, std::string_view why);
  /// Called after the bridge ended a call on media timeout (its BYEs sent), with the call's
  /// Call-ID and the caller's From tag: the call tracker records it. Optional.
  void set_on_media_timeout(
      std::function<void(const std::string& call_id, const std::string& caller_tag)> fn) {
    on_media_timeout_ = std::move(fn);
  }

  struct Call;

 private:
  struct BranchInfo;
  /// Creates the media of a new call when the caller's kind and the branch's target kind call
  /// for anchoring (mode_); nullptr otherwise, with `status` 503 when no ports are left.
  std::shared_ptr<Call> start_call(const sip::Message& request, const Source& src,
                                   const Destination& dest, MediaFlavor caller, int& status);
  /// The address an end at `peer` reaches sipws's media at, for a wildcard bridge: `local`
  /// (where its SIP message arrived or leaves from) if known, else BridgeConfig::local_toward.
  IpAddress local_address(const IpAddress& local, const IpAddress& peer) const;
  void end_call(const std::string& call_id, std::string_view why);
  void on_media_timeout(const std::string& call_id);
  /// An in-dialog request of `call` from its side `from` to the other end (no Route: sipws
  /// sits next to both ends), with the next CSeq of `from`'s sequence and the Call-ID that end
  /// knows (topology hiding).
  proxy::OwnRequest in_dialog_request(const Call& call, Side from, std::string method) const;
  /// SDP `out`, made from `in` (sent by the end of side `in_from`) for the other end: with a
  /// DTMF-converting call, removes or adds telephone-event and updates what the session
  /// converts. `offer`: `out` is an offer.
  void adapt_dtmf(Call& call, const sdp::Session& in, Side in_from, sdp::Session& out, bool offer);
  /// A key pressed at the end of side `from` of call `call_id`: an INFO to the other end.
  void on_key_press(const std::string& call_id, Side from, const KeyPress& key);

  boost::asio::io_context& io_;
  BridgeConfig cfg_;
  AnchorMode mode_;
  OriginateFn originate_;
  std::function<void(const std::string&, const std::string&)> on_media_timeout_;
  std::shared_ptr<const proxy::TopologyHiding> hiding_;
  std::shared_ptr<const proxy::PeerRules> peer_rules_;
  PortPool pool_;
  std::shared_ptr<const DtlsIdentity> identity_;
  std::unordered_map<std::string, std::shared_ptr<Call>> calls_;           ///< by Call-ID
  std::atomic<std::size_t> active_{0};                                     ///< calls_.size()
  std::unordered_map<std::string, std::shared_ptr<BranchInfo>> branches_;  ///< by Via branch
  /// The CSeq number a renumbered request had (by Via branch): its responses get it back.
  std::unordered_map<std::string, std::uint32_t> renumbered_;
};

}  // namespace sipws::bridge
