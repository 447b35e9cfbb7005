#pragma once
// SDP offer/answer rewriting for anchored media (RFC 3264) between WebRTC ends (browsers:
// UDP/TLS/RTP/SAVPF, ICE RFC 8839, DTLS-SRTP RFC 8842/5763, BUNDLE RFC 8843, rtcp-mux RFC 5761)
// and plain ends (phones, PBXs: RTP/AVP with G.711, RFC 3551). sipws is ICE-lite (RFC 8445
// s.2.5) with one host candidate per leg. Pure functions on sdp::Session values: no I/O, no
// state but OriginState. Thread: any (callers keep one OriginState per leg on their strand).
//
// Only the first audio m= line is anchored; other m= lines are rejected (port 0) in what sipws
// writes, and answers mirror the m= lines of the offer they answer (RFC 3264 s.6).

#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "common/expected.hpp"
#include "sip/sdp.hpp"

namespace sipws::bridge {

/// What kind of end an SDP comes from, judged by its first audio m= line.
enum class MediaFlavor {
  WebRtc,  ///< UDP/TLS/RTP/SAVPF (or TCP/TLS/...) with a=fingerprint and ICE credentials
  Plain,   ///< RTP/AVP or RTP/AVPF
  None,    ///< no audio m= line
};

/// Why a rewrite (or describe) failed. Category "sipws.bridge.sdp".
enum class RewriteErrc {
  NoAudio = 1,         ///< no audio m= line to anchor
  UnsupportedProfile,  ///< e.g. RTP/SAVP (SDES), or SAVPF without fingerprint/ICE credentials
  NoConnection,        ///< audio with a port but no c= line at either level
  BadPayloadType,      ///< an RTP m= fmt that is not a payload type number 0..127
  NoCommonCodec,       ///< nothing of PCMU/PCMA/G722 left (or nothing of the offer answered)
  AudioRejected,       ///< the audio m= line has port 0
  BadLocalSide,        ///< our own PlainSide/WebRtcSide is invalid (a bug of ours: 500)
};
const std::error_category& rewrite_category();
std::error_code make_error_code(RewriteErrc e);

/// A failed describe or rewrite. `status` is the SIP response that fits: 488 Not Acceptable Here
/// for the SDP of the other end (RFC 3261 s.21.4.26), 500 for BadLocalSide.
struct RewriteError {
  RewriteErrc code = RewriteErrc::NoAudio;
  int status = 488;
  std::string reason;  ///< names the defect, e.g. "no common codec: the offer has opus/48000/2"
  const std::string& message() const { return reason; }
};

template <class T>
using RewriteResult = Expected<T, RewriteError>;

/// One payload type of an m= line (RFC 8866 s.6.6; static types per RFC 3551 when no rtpmap).
struct Codec {
  int pt = -1;
  std::string name;  ///< encoding name as written ("opus", "PCMU"); empty if unknown dynamic type
  std::uint32_t rate = 0;      ///< RTP clock rate, Hz; 0 if unknown
  std::uint32_t channels = 1;  ///< audio channels
  std::string fmtp;            ///< a=fmtp parameters, empty if none
};

/// One a=candidate line with transport UDP (RFC 8839 s.5.1).
struct Candidate {
  std::string foundation;
  int component = 1;  ///< 1 RTP, 2 RTCP
  std::uint32_t priority = 0;
  std::string address;  ///< IP literal or an mDNS ".local" name, as written
  std::uint16_t port = 0;
  std::string type;  ///< host, srflx, prflx, relay
};

/// What one side's SDP says about its first audio m= line, session-level values inherited.
struct MediaDescription {
  MediaFlavor flavor = MediaFlavor::None;
  std::size_t audio_index = 0;  ///< index of that m= line in Session::media
  std::string address;          ///< c= connection address (media level, else session level)
  std::uint16_t port = 0;       ///< m= port; 0 = stream rejected/disabled
  bool rtcp_mux = false;        ///< a=rtcp-mux (RFC 5761)
  /// a=rtcp port (RFC 3605) if present; else port + 1 without rtcp-mux; else nullopt.
  std::optional<std::uint16_t> rtcp_port;
  /// RFC 2543 hold: c= is 0.0.0.0 (or ::) on a plain end (never set for WebRTC, where ICE and
  /// not c= carries the address).
  bool hold_address = false;
  std::string ice_ufrag, ice_pwd;     ///< RFC 8839 s.5.4, media level else session level
  bool ice_lite = false;              ///< session-level a=ice-lite
  std::vector<Candidate> candidates;  ///< UDP candidates only, in order
  std::string fingerprint_alg;        ///< e.g. "sha-256" (RFC 8122 s.5)
  std::string fingerprint;            ///< "AB:CD:..."
  std::string setup;                  ///< actpass / active / passive / holdconn (RFC 4145)
  std::string mid;                    ///< a=mid (RFC 5888), empty if none
  /// Effective direction (RFC 3264 s.5.1); a plain end's c=0.0.0.0 hold removes the receive
  /// part (sendrecv -> sendonly, recvonly -> inactive; RFC 3264 s.8.4).
  sdp::Direction direction = sdp::Direction::SendRecv;
  std::vector<Codec> codecs;           ///< in m= order
  std::optional<std::uint32_t> ssrc;   ///< first a=ssrc id (RFC 5576)
  std::optional<std::uint32_t> ptime;  ///< a=ptime, milliseconds
};

/// Describes the first audio m= line of `s`. A session without audio gives flavor None.
/// Errors: UnsupportedProfile (a secure profile sipws cannot terminate), NoConnection,
/// BadPayloadType.
RewriteResult<MediaDescription> describe(const sdp::Session& s);

/// Where sipws receives plain RTP for one leg. RTCP is on port + 1 (RFC 3550 s.11).
struct PlainSide {
  std::string address;  ///< IPv4 or IPv6 literal
  std::uint16_t port = 0;
};

/// sipws's ICE-lite / DTLS-SRTP end of one WebRTC leg.
struct WebRtcSide {
  std::string address;  ///< IPv4 or IPv6 literal of the host candidate
  std::uint16_t port = 0;
  std::string ice_ufrag, ice_pwd;  ///< RFC 8839 s.5.4: 4+ and 22+ ice-chars
  std::string fingerprint;         ///< sha-256 of our certificate, "AB:CD:..." (RFC 8122)
  std::string setup;               ///< answers: "active" or "passive"; offers always actpass
  std::uint32_t ssrc = 0;          ///< our RTP SSRC; 0 = unknown, no a=ssrc line written
  /// RTCP CNAME for a=ssrc (RFC 5576 s.6.1), also the a=msid stream id (RFC 8830); one token.
  /// Empty: no a=msid (and then ssrc must be 0).
  std::string cname;
};

/// A browser's offer forwarded to a plain end (RFC 3264 s.5): one m=audio <ours.port> RTP/AVP
/// line at c=ours.address with the browser's PCMU/PCMA/G722/telephone-event (8000 Hz) payload
/// types in its order and numbering, its a=ptime (20 if none), its direction; no ICE, DTLS,
/// mid, ssrc, msid, rtcp-fb, extmap, rtcp-mux, BUNDLE. Non-audio m= lines are dropped (the
/// answer back rebuilds them from the browser's offer). o= is left for OriginState::stamp().
/// Errors: NoAudio, UnsupportedProfile (not WebRTC), AudioRejected, NoCommonCodec,
/// BadLocalSide.
RewriteResult<sdp::Session> webrtc_offer_to_plain(const sdp::Session& browser_offer,
                                                  const PlainSide& ours);

/// The plain end's answer (200/183) turned into the answer to `browser_offer` (RFC 3264 s.6,
/// RFC 8829 s.5.3): the offer's m= lines in order, its audio line as
/// UDP/TLS/RTP/SAVPF at ours (a=ice-lite, ice-ufrag/pwd, one host candidate,
/// end-of-candidates, fingerprint sha-256, setup ours.setup, the offer's mid, rtcp-mux,
/// BUNDLE of that mid if the offer bundled, a=msid, a=ssrc if ours.ssrc != 0), the phone's
/// codecs that the browser offered (same payload numbers), the phone's direction; every other
/// m= line rejected (port 0, its proto and fmt, its mid).
/// Errors: NoAudio, UnsupportedProfile, AudioRejected (phone answered port 0), NoCommonCodec,
/// BadLocalSide (incl. a setup that contradicts the offer's, RFC 4145 s.4.1).
RewriteResult<sdp::Session> plain_answer_to_webrtc(const sdp::Session& phone_answer,
                                                   const sdp::Session& browser_offer,
                                                   const WebRtcSide& ours);

/// A plain end's offer forwarded to a browser: its m= lines in order, the first audio line as
/// UDP/TLS/RTP/SAVPF at ours with a=setup:actpass, mid "0", a=group:BUNDLE 0, ice-lite,
/// rtcp-mux, keeping only PCMU/PCMA/G722/telephone-event; other m= lines rejected (port 0,
/// mids "1", "2"...; RTP profiles written as UDP/TLS/RTP/SAVPF so that browsers parse them).
/// c=0.0.0.0 hold becomes sendonly/inactive. Errors as plain_answer_to_webrtc.
RewriteResult<sdp::Session> plain_offer_to_webrtc(const sdp::Session& phone_offer,
                                                  const WebRtcSide& ours);

/// The browser's answer turned into the answer to `phone_offer`: the phone's m= lines in order,
/// its audio line at ours (the phone's RTP/AVP(F) proto) with the browser's chosen codecs that
/// the phone offered, the browser's direction and ptime (else the phone's, else 20); other
/// m= lines rejected. Errors: NoAudio, UnsupportedProfile, AudioRejected, NoCommonCodec,
/// BadLocalSide.
RewriteResult<sdp::Session> webrtc_answer_to_plain(const sdp::Session& browser_answer,
                                                   const sdp::Session& phone_offer,
                                                   const PlainSide& ours);

/// Plain to plain anchoring (media_anchor=always), for offers and answers alike: the first
/// audio line moves to ours (c=, port; a=rtcp, rtcp-mux and ICE attributes removed), codecs and
/// other attributes stay; other m= lines are rejected (port 0). c=0.0.0.0 hold becomes a
/// direction. Errors: NoAudio, UnsupportedProfile, NoConnection, BadLocalSide.
RewriteResult<sdp::Session> plain_to_plain(const sdp::Session& in, const PlainSide& ours);

/// True when a call between a `caller` of that flavor and a callee that is (or is not) a
/// WebRTC end needs the bridge: one side WebRTC, the other plain. None never does.
bool needs_anchor(MediaFlavor caller, bool callee_is_webrtc);

/// The o= line sipws writes toward one leg (RFC 8866 s.5.2, RFC 3264 s.5 and s.8): username
/// "sipws", a sess-id fixed for the leg, and a sess-version that grows by one each time the
/// SDP sent on that leg differs from the previous one (unchanged re-offers keep it).
/// Keep one per leg across re-INVITEs/UPDATEs. Thread: the caller's (not synchronized).
class OriginState {
 public:
  /// A random sess-id below 2^62 (some peers parse it as signed 64-bit), version 1.
  OriginState();
  /// Fixed sess-id and first version (tests, restarts).
  OriginState(std::uint64_t sess_id, std::uint64_t first_version);

  /// Writes o=sipws <sess-id> <version> into `s` (nettype/addrtype/address: the session's c=,
  /// else what `s` already has) and bumps the version first when anything in `s` differs from
  /// the last SDP stamped.
  void stamp(sdp::Session& s);

  std::uint64_t sess_id() const { return sess_id_; }
  /// The version of the last SDP stamped (or the first version if none yet).
  std::uint64_t version() const { return version_; }

 private:
  std::uint64_t sess_id_;
  std::uint64_t version_;
  bool stamped_ = false;
  std::string last_;  ///< serialized last stamped SDP
};

}  // namespace sipws::bridge

template <>
struct std::is_error_code_enum<sipws::bridge::RewriteErrc> : std::true_type {};
