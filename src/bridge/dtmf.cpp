#include "bridge/dtmf.hpp"

#include <algorithm>

#include "sip/text.hpp"

namespace sipws::bridge {

std::optional<TelephoneEvent> parse_telephone_event(std::span<const std::uint8_t> rtp,
                                                    std::span<const int> pts) {
  // RFC 3550 s.5.1: V(2) P X CC(4) | M PT(7) | seq(16) | timestamp(32) | SSRC(32) | CSRC...
  if (rtp.size() < 12 || (rtp[0] >> 6) != 2) return std::nullopt;
  const int pt = rtp[1] & 0x7f;
  if (std::find(pts.begin(), pts.end(), pt) == pts.end()) return std::nullopt;
  std::size_t off = 12 + 4 * static_cast<std::size_t>(rtp[0] & 0x0f);
  if ((rtp[0] & 0x10) != 0) {  // header extension (s.5.3.1): 16-bit profile, 16-bit length
    if (rtp.size() < off + 4) return std::nullopt;
    off += 4 + 4 * ((static_cast<std::size_t>(rtp[off + 2]) << 8) | rtp[off + 3]);
  }
  if (rtp.size() < off + 4) return std::nullopt;  // RFC 4733 s.2.3: 4 bytes per event
  TelephoneEvent ev;
  ev.event = rtp[off];
  ev.end = (rtp[off + 1] & 0x80) != 0;
  ev.duration = static_cast<std::uint16_t>((rtp[off + 2] << 8) | rtp[off + 3]);
  ev.timestamp = (static_cast<std::uint32_t>(rtp[4]) << 24) |
                 (static_cast<std::uint32_t>(rtp[5]) << 16) |
                 (static_cast<std::uint32_t>(rtp[6]) << 8) | rtp[7];
  return ev;
}

char dtmf_signal(std::uint8_t event) {
  static constexpr char kSignals[] = "0123456789*#ABCD!";
  return event <= 16 ? kSignals[event] : '\0';
}

std::string dtmf_relay_body(const KeyPress& key) {
  return "Signal=" + std::string(1, key.signal) +
         "\r\nDuration=" + std::to_string(key.duration_ms) + "\r\n";
}

std::optional<KeyPress> KeyPressDetector::on_event(const TelephoneEvent& ev) {
  std::optional<KeyPress> out;
  auto press = [](const TelephoneEvent& e) -> std::optional<KeyPress> {
    const char s = dtmf_signal(e.event);
    if (s == 0) return std::nullopt;
    return KeyPress{s, e.duration / 8u};  // 8000 Hz clock: 8 units per millisecond
  };
  if (reported_ == ev.timestamp) return std::nullopt;  // the end packet's copies, late packets
  if (current_ && *current_ != ev.timestamp) {
    out = press(last_);  // every end packet of the previous event was lost
    reported_ = current_;
  }
  current_ = ev.timestamp;
  last_ = ev;
  if (ev.end) {
    reported_ = ev.timestamp;
    current_.reset();
    if (!out) out = press(ev);
  }
  return out;
}

namespace {

/// True for an a=rtpmap / a=fmtp value that starts with payload type `pt`.
bool names_pt(const sdp::Attribute& a, int pt) {
  auto fields = sdp::split_fields(a.value);
  return !fields.empty() && sdp::payload_type(fields[0]) == pt;
}

bool is_telephone_event(const sdp::RtpMap& r) {
  return text::iequal(r.encoding, "telephone-event") && r.clock_rate == 8000;
}

}  // namespace

std::vector<int> telephone_event_pts(const sdp::Media& m) {
  std::vector<int> out;
  for (const auto& f : m.formats) {
    auto pt = sdp::payload_type(f);
    if (!pt) continue;
    auto r = sdp::rtpmap(m, *pt);
    if (r && is_telephone_event(*r)) out.push_back(*pt);
  }
  return out;
}

bool remove_telephone_event(sdp::Media& m) {
  const auto pts = telephone_event_pts(m);
  if (pts.empty()) return false;
  for (int pt : pts) {
    if (m.formats.size() > 1) {
      std::erase_if(m.formats, [pt](const std::string& f) { return sdp::payload_type(f) == pt; });
    }
    std::erase_if(m.attributes, [pt](const sdp::Attribute& a) {
      return (text::iequal(a.name, "rtpmap") || text::iequal(a.name, "fmtp")) && names_pt(a, pt);
    });
  }
  return true;
}

std::optional<int> free_dynamic_pt(const sdp::Media& m) {
  auto used = [&m](int pt) {
    return std::any_of(m.formats.begin(), m.formats.end(),
                       [pt](const std::string& f) { return sdp::payload_type(f) == pt; });
  };
  if (!used(101)) return 101;
  for (int pt = 96; pt <= 127; ++pt) {
    if (!used(pt)) return pt;
  }
  return std::nullopt;
}

int add_telephone_event(sdp::Media& m, int pt) {
  if (auto pts = telephone_event_pts(m); !pts.empty()) return pts.front();
  m.formats.push_back(std::to_string(pt));
  m.add_attribute("rtpmap", std::to_string(pt) + " telephone-event/8000");
  m.add_attribute("fmtp", std::to_string(pt) + " 0-16");
  return pt;
}

}  // namespace sipws::bridge
