#pragma once
// DTMF between the two ways legacy peers carry it: RFC 4733 telephone-event packets in the RTP
// stream (what browsers send with RTCDTMFSender) and SIP INFO requests with an
// application/dtmf-relay body (what many PBXs want; the de-facto format of Cisco and Asterisk:
// "Signal=5\r\nDuration=160\r\n"). I/O-free: the media session feeds packets, the media anchor
// sends the INFOs.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sip/sdp.hpp"

namespace sipws::bridge {

/// One RFC 4733 named-event packet (s.2.3), with its RTP timestamp (which names the event:
/// every packet of one key press carries the timestamp of its start, s.2.5.1.2).
struct TelephoneEvent {
  std::uint8_t event = 0;      ///< 0-9, 10 '*', 11 '#', 12-15 'A'-'D', 16 flash (RFC 4733 s.3.2)
  bool end = false;            ///< the E bit: the key was released
  std::uint16_t duration = 0;  ///< in timestamp units (8000 Hz: 1/8 ms)
  std::uint32_t timestamp = 0;
};

/// The telephone-event payload of RTP packet `rtp` (RFC 3550 s.5.1 header: CSRCs and a header
/// extension are skipped) when its payload type is one of `pts`; nullopt for any other packet,
/// a truncated one or a version other than 2.
std::optional<TelephoneEvent> parse_telephone_event(std::span<const std::uint8_t> rtp,
                                                    std::span<const int> pts);

/// The dtmf-relay signal of event code `event` ('0'-'9', '*', '#', 'A'-'D', '!' for flash), or
/// 0 for an event that is not a key (RFC 4733 s.3.2 codes above 16).
char dtmf_signal(std::uint8_t event);

/// One key press, as a SIP INFO carries it.
struct KeyPress {
  char signal = 0;                ///< dtmf_signal()
  std::uint32_t duration_ms = 0;  ///< how long the key was held, milliseconds
};

/// The body of a SIP INFO for `key` (Content-Type application/dtmf-relay):
/// "Signal=<s>\r\nDuration=<ms>\r\n".
std::string dtmf_relay_body(const KeyPress& key);

/// Turns the stream of telephone-event packets of one sender into key presses, each reported
/// once: at the first end packet of the event (RFC 4733 sends the end packet three times,
/// s.2.5.1.4), or, if every end packet was lost, when the next event begins. Events that are not
/// keys are swallowed. Thread: the media session's (one per sender).
class KeyPressDetector {
 public:
  /// Feeds one packet; returns the key press it completes, if any.
  std::optional<KeyPress> on_event(const TelephoneEvent& ev);

 private:
  std::optional<std::uint32_t> current_;   ///< timestamp of the event in progress, unreported
  std::optional<std::uint32_t> reported_;  ///< timestamp of the last event reported
  TelephoneEvent last_;                    ///< the latest packet of the current event
};

/// The payload types of telephone-event/8000 in the audio m= line `m` (RFC 4733 s.7.1.1).
std::vector<int> telephone_event_pts(const sdp::Media& m);
/// Removes telephone-event from `m` (fmt list, rtpmap, fmtp); true if it was there. An m= line
/// left without a format keeps the first it had (the caller only removes it beside audio).
bool remove_telephone_event(sdp::Media& m);
/// Adds telephone-event/8000 as payload type `pt` with `a=fmtp:<pt> 0-16` to `m` unless it
/// lists telephone-event/8000 already; returns the payload type in force.
int add_telephone_event(sdp::Media& m, int pt);
/// A dynamic payload type (96-127, 101 first) that `m` does not use; nullopt if none is free.
std::optional<int> free_dynamic_pt(const sdp::Media& m);

}  // namespace sipws::bridge
