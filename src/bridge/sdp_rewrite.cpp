// SDP offer/answer rewriting between WebRTC and plain RTP ends (RFC 3264, RFC 8829 s.5,
// RFC 8839, RFC 8842, RFC 8843, RFC 5761, RFC 3551).
#include "bridge/sdp_rewrite.hpp"

#include <random>

#include "common/net.hpp"
#include "sip/text.hpp"

namespace sipws::bridge {
namespace {

constexpr std::string_view kWebRtcProto = "UDP/TLS/RTP/SAVPF";

using sdp::split_fields;
using sip::text::iequal;
using sip::text::trim;

std::optional<std::uint32_t> parse_u32(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > 0xffffffffULL) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
  auto v = parse_u32(s);
  if (!v || *v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(*v);
}

Unexpected<RewriteError> fail(RewriteErrc code, std::string reason) {
  const int status = code == RewriteErrc::BadLocalSide ? 500 : 488;
  return Unexpected<RewriteError>{RewriteError{code, status, std::move(reason)}};
}

/// DTLS-SRTP RTP profiles (RFC 5764 s.8, RFC 8842): what WebRTC ends use.
bool is_dtls_rtp_proto(std::string_view p) {
  return iequal(p, "UDP/TLS/RTP/SAVPF") || iequal(p, "UDP/TLS/RTP/SAVP") ||
         iequal(p, "TCP/TLS/RTP/SAVPF") || iequal(p, "TCP/DTLS/RTP/SAVPF") ||
         iequal(p, "UDP/TLS/RTP/AVPF");
}
bool is_plain_rtp_proto(std::string_view p) {
  return iequal(p, "RTP/AVP") || iequal(p, "RTP/AVPF");
}
bool is_rtp_proto(std::string_view p) {
  return is_dtls_rtp_proto(p) || is_plain_rtp_proto(p) || iequal(p, "RTP/SAVP") ||
         iequal(p, "RTP/SAVPF");
}

/// The first attribute `name` of the media section, else of the session (RFC 8839 s.5.4,
/// RFC 8122 s.5: these may sit at either level).
const sdp::Attribute* either_level(const sdp::Session& s, const sdp::Media& m,
                                   std::string_view name) {
  if (const auto* a = m.attribute(name)) return a;
  return s.attribute(name);
}

std::string value_of(const sdp::Attribute* a) {
  return a != nullptr && a->has_value ? std::string(trim(a->value)) : std::string();
}

/// a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
/// (RFC 8839 s.5.1); nullopt when malformed or not UDP.
std::optional<Candidate> parse_candidate(std::string_view v) {
  const auto f = split_fields(v);
  if (f.size() < 8 || !iequal(f[2], "udp") || f[6] != "typ") return std::nullopt;
  const auto comp = parse_u32(f[1]);
  const auto prio = parse_u32(f[3]);
  const auto port = parse_port(f[5]);
  if (!comp || *comp == 0 || *comp > 256 || !prio || !port) return std::nullopt;
  return Candidate{std::string(f[0]), static_cast<int>(*comp), *prio, std::string(f[4]), *port,
                   std::string(f[7])};
}

bool is_g711_or_g722(const Codec& c) {
  return (iequal(c.name, "PCMU") || iequal(c.name, "PCMA") || iequal(c.name, "G722")) &&
         c.rate == 8000 && c.channels == 1;
}
bool is_dtmf(const Codec& c) { return iequal(c.name, "telephone-event") && c.rate == 8000; }
/// What plain ends are expected to speak: G.711, G.722 and RFC 4733 events at 8000 Hz.
bool plain_friendly(const Codec& c) { return is_g711_or_g722(c) || is_dtmf(c); }

bool same_codec(const Codec& a, const Codec& b) {
  return a.pt == b.pt && iequal(a.name, b.name) && a.rate == b.rate && a.channels == b.channels;
}

std::string codec_list(const std::vector<Codec>& cs) {
  std::string out;
  for (const auto& c : cs) {
    if (!out.empty()) out += ", ";
    out += c.name.empty() ? "pt " + std::to_string(c.pt)
                          : c.name + '/' + std::to_string(c.rate) +
                                (c.channels != 1 ? '/' + std::to_string(c.channels) : "");
  }
  return out.empty() ? "nothing" : out;
}

bool is_ipv6(std::string_view s) { return s.find(':') != std::string_view::npos; }

/// RFC 8839 s.5.4 ice-char: ALPHA / DIGIT / "+" / "/".
bool ice_chars(std::string_view s, std::size_t min_len) {
  if (s.size() < min_len || s.size() > 256) return false;
  for (char c : s) {
    if (!sip::text::is_alnum(c) && c != '+' && c != '/') return false;
  }
  return true;
}

/// "AB:CD:..." with 32 hex pairs (sha-256, RFC 8122 s.5).
bool sha256_fingerprint(std::string_view s) {
  if (s.size() != 32 * 3 - 1) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i % 3 == 2) {
      if (c != ':') return false;
    } else if (!sip::text::is_hex(c)) {
      return false;
    }
  }
  return true;
}

/// No SP, CR, LF: a value written into one SDP field.
bool single_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c == ' ' || c == '\r' || c == '\n' || c == '\t' || c == '\0') return false;
  }
  return true;
}

std::optional<RewriteError> check(const PlainSide& ours) {
  if (!is_ip(ours.address)) {
    return RewriteError{RewriteErrc::BadLocalSide, 500,
                        "local media address '" + ours.address + "' is not an IP literal"};
  }
  if (ours.port == 0 || ours.port == 65535) {
    return RewriteError{RewriteErrc::BadLocalSide, 500, "local media port must be 1..65534"};
  }
  return std::nullopt;
}

std::optional<RewriteError> check(const WebRtcSide& ours, bool answer) {
  auto bad = [](std::string why) {
    return RewriteError{RewriteErrc::BadLocalSide, 500, std::move(why)};
  };
  if (!is_ip(ours.address)) {
    return bad("local media address '" + ours.address + "' is not an IP literal");
  }
  if (ours.port == 0) return bad("local media port must not be 0");
  if (!ice_chars(ours.ice_ufrag, 4)) return bad("ice-ufrag needs 4+ ice-chars (RFC 8839 s.5.4)");
  if (!ice_chars(ours.ice_pwd, 22)) return bad("ice-pwd needs 22+ ice-chars (RFC 8839 s.5.4)");
  if (!sha256_fingerprint(ours.fingerprint)) {
    return bad("fingerprint must be a sha-256 \"AB:CD:...\" (32 hex pairs)");
  }
  if (answer && ours.setup != "active" && ours.setup != "passive") {
    return bad("setup in an answer must be active or passive (RFC 8842 s.5.3)");
  }
  if ((ours.ssrc != 0 || !ours.cname.empty()) && !single_token(ours.cname)) {
    return bad("cname must be one token");
  }
  return std::nullopt;
}

/// v=0, o= placeholder (stamp() completes it), s=sipws, c=IN IP4|IP6 address, t=0 0.
sdp::Session base_session(const std::string& address) {
  sdp::Session s;
  const std::string addrtype = is_ipv6(address) ? "IP6" : "IP4";
  s.origin = sdp::Origin{"sipws", "0", "0", "IN", addrtype, address};
  s.name = "sipws";
  s.connection = sdp::Connection{"IN", addrtype, address};
  s.timings.push_back(sdp::Timing{});
  return s;
}

/// A rejected copy of `m` (RFC 3264 s.6: port 0, the offered proto and formats).
sdp::Media rejected(const sdp::Media& m, std::string proto) {
  sdp::Media r;
  r.media = m.media;
  r.port = 0;
  r.proto = std::move(proto);
  r.formats = m.formats;
  if (r.formats.empty()) r.formats.emplace_back("0");  // parse guarantees one; stay valid anyway
  return r;
}

/// Appends the payload types with their rtpmap and fmtp lines (RFC 8866 s.6.6, s.6.15).
void add_codecs(sdp::Media& m, const std::vector<Codec>& cs) {
  for (const auto& c : cs) m.formats.push_back(std::to_string(c.pt));
  for (const auto& c : cs) {
    if (c.name.empty()) continue;
    std::string v = std::to_string(c.pt) + ' ' + c.name + '/' + std::to_string(c.rate);
    if (c.channels != 1) v += '/' + std::to_string(c.channels);
    m.add_attribute("rtpmap", std::move(v));
  }
  for (const auto& c : cs) {
    if (!c.fmtp.empty()) m.add_attribute("fmtp", std::to_string(c.pt) + ' ' + c.fmtp);
  }
}

/// True when `cs` holds a codec that carries audio (not only telephone-event or CN).
bool has_voice(const std::vector<Codec>& cs) {
  for (const auto& c : cs) {
    if (!is_dtmf(c) && !iequal(c.name, "CN")) return true;
  }
  return false;
}

/// The WebRTC audio m= line: ICE-lite credentials and one host candidate (RFC 8839 s.5.1,
/// priority 2130706431 = type preference 126, local preference 65535, component 1), DTLS
/// fingerprint and setup (RFC 8842), mid (RFC 5888), rtcp-mux (RFC 5761), codecs, ssrc/msid.
sdp::Media webrtc_audio(const WebRtcSide& ours, std::string_view setup, const std::string& mid,
                        sdp::Direction dir, const std::vector<Codec>& codecs,
                        std::optional<std::uint32_t> ptime) {
  sdp::Media m;
  m.media = "audio";
  m.port = ours.port;
  m.proto = std::string(kWebRtcProto);
  m.add_attribute("ice-ufrag", ours.ice_ufrag);
  m.add_attribute("ice-pwd", ours.ice_pwd);
  m.add_attribute("fingerprint", "sha-256 " + ours.fingerprint);
  m.add_attribute("setup", std::string(setup));
  if (!mid.empty()) m.add_attribute("mid", mid);
  m.add_flag(std::string(sdp::to_string(dir)));
  m.add_flag("rtcp-mux");
  add_codecs(m, codecs);
  if (ptime) m.add_attribute("ptime", std::to_string(*ptime));
  // RFC 8830: the browser puts the track in a stream named after our cname (so `ontrack`
  // gets event.streams[0]); the SSRC only when known (the relay may pass the phone's on).
  if (!ours.cname.empty()) m.add_attribute("msid", ours.cname + " sipws-audio");
  if (ours.ssrc != 0) {
    m.add_attribute("ssrc", std::to_string(ours.ssrc) + " cname:" + ours.cname);
  }
  m.add_attribute("candidate", "1 1 udp 2130706431 " + ours.address + ' ' +
                                   std::to_string(ours.port) + " typ host");
  m.add_flag("end-of-candidates");
  return m;
}

/// The plain audio m= line at ours: codecs, ptime (20 ms when unknown), direction.
sdp::Media plain_audio(const PlainSide& ours, std::string proto, sdp::Direction dir,
                       const std::vector<Codec>& codecs, std::optional<std::uint32_t> ptime) {
  sdp::Media m;
  m.media = "audio";
  m.port = ours.port;
  m.proto = std::move(proto);
  add_codecs(m, codecs);
  m.add_attribute("ptime", std::to_string(ptime.value_or(20)));
  m.add_flag(std::string(sdp::to_string(dir)));
  return m;
}

/// The audio description of `s`, required to be of `want` flavor with a live audio line.
/// `who` names the SDP in errors ("browser offer").
RewriteResult<MediaDescription> audio_of(const sdp::Session& s, MediaFlavor want,
                                         std::string_view who) {
  auto d = describe(s);
  if (!d) return d;
  if (d->flavor == MediaFlavor::None) {
    return fail(RewriteErrc::NoAudio, std::string(who) + " has no audio m= line");
  }
  if (d->flavor != want) {
    return fail(RewriteErrc::UnsupportedProfile,
                std::string(who) + " is not " +
                    (want == MediaFlavor::WebRtc ? "WebRTC" : "plain RTP") + " (m=audio " +
                    s.media[d->audio_index].proto + ")");
  }
  if (d->port == 0) {
    return fail(RewriteErrc::AudioRejected, std::string(who) + " has its audio m= line at port 0");
  }
  return d;
}

/// The codecs of `answer` that `offer` offered with the same payload type and encoding (an
/// answer without rtpmap for a dynamic type is matched by number, RFC 3264 s.6.1), written
/// with the offer's mapping and the answer's fmtp.
std::vector<Codec> answered_codecs(const std::vector<Codec>& answer,
                                   const std::vector<Codec>& offer) {
  std::vector<Codec> out;
  for (const auto& a : answer) {
    for (const auto& o : offer) {
      if (o.pt != a.pt) continue;
      if (a.name.empty() || same_codec(a, o)) {
        Codec c = o;
        c.fmtp = a.fmtp;
        out.push_back(std::move(c));
      }
      break;
    }
  }
  return out;
}

/// The BUNDLE group (RFC 8843 s.7.1) of the offer that holds `mid`, if any.
bool bundled(const sdp::Session& offer, const std::string& mid) {
  if (mid.empty()) return false;
  for (const auto* g : offer.attributes_named("group")) {
    const auto f = split_fields(g->value);
    if (f.empty() || !iequal(f[0], "BUNDLE")) continue;
    for (std::size_t i = 1; i < f.size(); ++i) {
      if (f[i] == mid) return true;
    }
  }
  return false;
}

/// RFC 4145 s.4.1 / RFC 8842 s.5.3: the answer's role must complement the offer's.
bool setup_fits(std::string_view offered, std::string_view answered) {
  if (offered.empty() || offered == "actpass") return true;
  if (offered == "active") return answered == "passive";
  if (offered == "passive") return answered == "active";
  return false;  // holdconn or garbage: no DTLS connection to set up
}

std::uint64_t random_sess_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return (rng() >> 2) + 1;  // below 2^62, never 0
}

class RewriteCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sipws.bridge.sdp"; }
  std::string message(int ev) const override {
    switch (static_cast<RewriteErrc>(ev)) {
      case RewriteErrc::NoAudio:
        return "no audio stream";
      case RewriteErrc::UnsupportedProfile:
        return "unsupported media profile";
      case RewriteErrc::NoConnection:
        return "no connection address";
      case RewriteErrc::BadPayloadType:
        return "bad RTP payload type";
      case RewriteErrc::NoCommonCodec:
        return "no common codec";
      case RewriteErrc::AudioRejected:
        return "audio stream rejected";
      case RewriteErrc::BadLocalSide:
        return "invalid local media parameters";
    }
    return "unknown sdp rewrite error";
  }
};

}  // namespace

const std::error_category& rewrite_category() {
  static const RewriteCategory c;
  return c;
}
std::error_code make_error_code(RewriteErrc e) { return {static_cast<int>(e), rewrite_category()}; }

RewriteResult<MediaDescription> describe(const sdp::Session& s) {
  MediaDescription d;
  const sdp::Media* m = nullptr;
  for (std::size_t i = 0; i < s.media.size(); ++i) {
    if (iequal(s.media[i].media, "audio")) {
      m = &s.media[i];
      d.audio_index = i;
      break;
    }
  }
  if (m == nullptr) return d;  // flavor None

  d.ice_ufrag = value_of(either_level(s, *m, "ice-ufrag"));
  d.ice_pwd = value_of(either_level(s, *m, "ice-pwd"));
  d.ice_lite = s.has_attribute("ice-lite");
  d.setup = value_of(either_level(s, *m, "setup"));
  const std::string fp = value_of(either_level(s, *m, "fingerprint"));
  if (const auto sp = fp.find(' '); sp != std::string::npos) {
    d.fingerprint_alg = fp.substr(0, sp);
    d.fingerprint = std::string(trim(std::string_view(fp).substr(sp + 1)));
  }
  if (is_dtls_rtp_proto(m->proto)) {
    if (d.fingerprint.empty()) {
      return fail(RewriteErrc::UnsupportedProfile,
                  "m=audio " + m->proto + " without a usable a=fingerprint (RFC 8842)");
    }
    if (d.ice_ufrag.empty() || d.ice_pwd.empty()) {
      return fail(RewriteErrc::UnsupportedProfile,
                  "m=audio " + m->proto + " without a=ice-ufrag/a=ice-pwd (RFC 8839)");
    }
    d.flavor = MediaFlavor::WebRtc;
  } else if (is_plain_rtp_proto(m->proto)) {
    d.flavor = MediaFlavor::Plain;
  } else {
    return fail(
        RewriteErrc::UnsupportedProfile,
        "m=audio profile " + m->proto + " is not supported (UDP/TLS/RTP/SAVPF or RTP/AVP only)");
  }

  d.port = m->port;
  if (const auto* c = sdp::connection(s, *m)) {
    d.address = c->address;
  } else if (d.port != 0) {
    return fail(RewriteErrc::NoConnection, "m=audio has no c= line at media or session level");
  }
  d.hold_address = d.flavor == MediaFlavor::Plain && sdp::is_unspecified_address(d.address);
  d.rtcp_mux = m->has_attribute("rtcp-mux");
  if (const auto* r = m->attribute("rtcp")) {
    const auto f = split_fields(r->value);
    if (!f.empty()) d.rtcp_port = parse_port(f[0]);
  }
  if (!d.rtcp_port && !d.rtcp_mux && d.port != 0 && d.port != 65535) {
    d.rtcp_port = static_cast<std::uint16_t>(d.port + 1);
  }
  for (const auto* a : m->attributes_named("candidate")) {
    if (auto c = parse_candidate(a->value)) d.candidates.push_back(std::move(*c));
  }
  d.mid = value_of(m->attribute("mid"));
  d.direction = sdp::direction(s, *m);
  if (d.hold_address) d.direction = sdp::without_receive(d.direction);
  for (const auto& f : m->formats) {
    const auto pt = sdp::payload_type(f);
    if (!pt) {
      return fail(RewriteErrc::BadPayloadType,
                  "m=audio format '" + f + "' is not an RTP payload type 0..127");
    }
    Codec c;
    c.pt = *pt;
    if (auto map = sdp::rtpmap(*m, *pt)) {
      c.name = map->encoding;
      c.rate = map->clock_rate;
      c.channels = map->channels;
    }
    if (auto p = sdp::fmtp(*m, *pt)) c.fmtp = std::string(*p);
    d.codecs.push_back(std::move(c));
  }
  if (const auto* a = m->attribute("ssrc")) {
    const auto f = split_fields(a->value);
    if (!f.empty()) d.ssrc = parse_u32(f[0]);
  }
  if (const auto* a = m->attribute("ptime")) {
    const auto p = parse_u32(trim(a->value));
    if (p && *p > 0 && *p <= 1000) d.ptime = p;
  }
  return d;
}

RewriteResult<sdp::Session> webrtc_offer_to_plain(const sdp::Session& browser_offer,
                                                  const PlainSide& ours) {
  if (auto e = check(ours)) return Unexpected<RewriteError>{std::move(*e)};
  auto d = audio_of(browser_offer, MediaFlavor::WebRtc, "browser offer");
  if (!d) return Unexpected<RewriteError>{d.error()};
  std::vector<Codec> keep;
  for (const auto& c : d->codecs) {
    if (plain_friendly(c)) keep.push_back(c);
  }
  if (!has_voice(keep)) {
    return fail(RewriteErrc::NoCommonCodec, "no common codec: the browser offers " +
                                                codec_list(d->codecs) +
                                                ", none of PCMU, PCMA, G722");
  }
  sdp::Session out = base_session(ours.address);
  out.media.push_back(plain_audio(ours, "RTP/AVP", d->direction, keep, d->ptime));
  if (const auto* a = browser_offer.media[d->audio_index].attribute("maxptime")) {
    out.media.back().attributes.push_back(*a);
  }
  return out;
}

RewriteResult<sdp::Session> plain_answer_to_webrtc(const sdp::Session& phone_answer,
                                                   const sdp::Session& browser_offer,
                                                   const WebRtcSide& ours) {
  if (auto e = check(ours, /*answer=*/true)) return Unexpected<RewriteError>{std::move(*e)};
  auto offer = audio_of(browser_offer, MediaFlavor::WebRtc, "browser offer");
  if (!offer) return Unexpected<RewriteError>{offer.error()};
  if (!setup_fits(offer->setup, ours.setup)) {
    return fail(RewriteErrc::BadLocalSide, "setup:" + ours.setup + " cannot answer setup:" +
                                               offer->setup + " (RFC 4145 s.4.1)");
  }
  auto answer = audio_of(phone_answer, MediaFlavor::Plain, "phone answer");
  if (!answer) return Unexpected<RewriteError>{answer.error()};
  const std::vector<Codec> codecs = answered_codecs(answer->codecs, offer->codecs);
  if (!has_voice(codecs)) {
    return fail(RewriteErrc::NoCommonCodec,
                "no common codec: the phone answers " + codec_list(answer->codecs) +
                    ", the browser offered " + codec_list(offer->codecs));
  }

  sdp::Session out = base_session(ours.address);
  out.add_flag("ice-lite");
  const bool bundle = bundled(browser_offer, offer->mid);
  if (bundle) out.add_attribute("group", "BUNDLE " + offer->mid);
  for (std::size_t i = 0; i < browser_offer.media.size(); ++i) {
    const sdp::Media& m = browser_offer.media[i];
    if (i == offer->audio_index) {
      out.media.push_back(
          webrtc_audio(ours, ours.setup, offer->mid, answer->direction, codecs, answer->ptime));
      continue;
    }
    sdp::Media r = rejected(m, m.proto);
    // JSEP (RFC 8829 s.5.3.1): a rejected m= section keeps its mid; it leaves the BUNDLE group.
    if (const auto* mid = m.attribute("mid")) r.attributes.push_back(*mid);
    out.media.push_back(std::move(r));
  }
  return out;
}

RewriteResult<sdp::Session> plain_offer_to_webrtc(const sdp::Session& phone_offer,
                                                  const WebRtcSide& ours) {
  if (auto e = check(ours, /*answer=*/false)) return Unexpected<RewriteError>{std::move(*e)};
  auto d = audio_of(phone_offer, MediaFlavor::Plain, "phone offer");
  if (!d) return Unexpected<RewriteError>{d.error()};
  std::vector<Codec> keep;
  for (const auto& c : d->codecs) {
    if (plain_friendly(c)) keep.push_back(c);
  }
  if (!has_voice(keep)) {
    return fail(RewriteErrc::NoCommonCodec, "no common codec: the phone offers " +
                                                codec_list(d->codecs) +
                                                ", none of PCMU, PCMA, G722");
  }
  sdp::Session out = base_session(ours.address);
  out.add_flag("ice-lite");
  out.add_attribute("group", "BUNDLE 0");
  int next_mid = 1;
  for (std::size_t i = 0; i < phone_offer.media.size(); ++i) {
    const sdp::Media& m = phone_offer.media[i];
    if (i == d->audio_index) {
      out.media.push_back(webrtc_audio(ours, "actpass", "0", d->direction, keep, d->ptime));
      continue;
    }
    // Browsers refuse plain RTP profiles even on a disabled line: write the WebRTC one.
    sdp::Media r = rejected(m, is_rtp_proto(m.proto) ? std::string(kWebRtcProto) : m.proto);
    r.add_attribute("mid", std::to_string(next_mid++));
    out.media.push_back(std::move(r));
  }
  return out;
}

RewriteResult<sdp::Session> webrtc_answer_to_plain(const sdp::Session& browser_answer,
                                                   const sdp::Session& phone_offer,
                                                   const PlainSide& ours) {
  if (auto e = check(ours)) return Unexpected<RewriteError>{std::move(*e)};
  auto offer = audio_of(phone_offer, MediaFlavor::Plain, "phone offer");
  if (!offer) return Unexpected<RewriteError>{offer.error()};
  auto answer = audio_of(browser_answer, MediaFlavor::WebRtc, "browser answer");
  if (!answer) return Unexpected<RewriteError>{answer.error()};
  const std::vector<Codec> codecs = answered_codecs(answer->codecs, offer->codecs);
  if (!has_voice(codecs)) {
    return fail(RewriteErrc::NoCommonCodec, "no common codec: the browser answers " +
                                                codec_list(answer->codecs) +
                                                ", the phone offered " + codec_list(offer->codecs));
  }
  sdp::Session out = base_session(ours.address);
  for (std::size_t i = 0; i < phone_offer.media.size(); ++i) {
    const sdp::Media& m = phone_offer.media[i];
    if (i == offer->audio_index) {
      out.media.push_back(plain_audio(ours, m.proto, answer->direction, codecs,
                                      answer->ptime ? answer->ptime : offer->ptime));
    } else {
      out.media.push_back(rejected(m, m.proto));
    }
  }
  return out;
}

RewriteResult<sdp::Session> plain_to_plain(const sdp::Session& in, const PlainSide& ours) {
  if (auto e = check(ours)) return Unexpected<RewriteError>{std::move(*e)};
  auto d = audio_of(in, MediaFlavor::Plain, "plain SDP");
  if (!d) return Unexpected<RewriteError>{d.error()};
  sdp::Session out = in;
  const sdp::Session base = base_session(ours.address);
  out.origin = base.origin;
  out.connection = base.connection;
  for (const char* name : {"ice-lite", "ice-ufrag", "ice-pwd", "ice-options"}) {
    out.remove_attributes(name);
  }
  for (std::size_t i = 0; i < out.media.size(); ++i) {
    sdp::Media& m = out.media[i];
    if (i != d->audio_index) {
      m = rejected(m, m.proto);
      continue;
    }
    m.port = ours.port;
    m.port_count.reset();
    m.connections.clear();
    for (const char* name : {"rtcp", "rtcp-mux", "ice-ufrag", "ice-pwd", "ice-options", "candidate",
                             "remote-candidates", "end-of-candidates"}) {
      m.remove_attributes(name);
    }
    if (d->hold_address || m.has_attribute("sendrecv") || m.has_attribute("sendonly") ||
        m.has_attribute("recvonly") || m.has_attribute("inactive") ||
        sdp::find_direction(in.attributes)) {
      sdp::set_direction(m, d->direction);
    }
  }
  // A session-level direction now lives on the audio line; rejected lines do not need it.
  for (const char* name : {"sendrecv", "sendonly", "recvonly", "inactive"}) {
    out.remove_attributes(name);
  }
  return out;
}

bool needs_anchor(MediaFlavor caller, bool callee_is_webrtc) {
  switch (caller) {
    case MediaFlavor::WebRtc:
      return !callee_is_webrtc;
    case MediaFlavor::Plain:
      return callee_is_webrtc;
    case MediaFlavor::None:
      return false;
  }
  return false;
}

OriginState::OriginState() : OriginState(random_sess_id(), 1) {}

OriginState::OriginState(std::uint64_t sess_id, std::uint64_t first_version)
    : sess_id_(sess_id), version_(first_version) {}

void OriginState::stamp(sdp::Session& s) {
  s.origin.username = "sipws";
  s.origin.sess_id = std::to_string(sess_id_);
  if (s.connection) {
    s.origin.nettype = s.connection->nettype;
    s.origin.addrtype = s.connection->addrtype;
    s.origin.address = s.connection->address;
  }
  s.origin.sess_version = std::to_string(version_);
  std::string text = sdp::serialize(s);
  if (stamped_ && text != last_) {
    ++version_;
    s.origin.sess_version = std::to_string(version_);
    text = sdp::serialize(s);
  }
  stamped_ = true;
  last_ = std::move(text);
}

}  // namespace sipws::bridge
