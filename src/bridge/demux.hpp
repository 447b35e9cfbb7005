#pragma once
// Demultiplexing of the one UDP port that a WebRTC peer uses for ICE, DTLS, SRTP and SRTCP
// (RFC 7983 s.7, updating RFC 5764 s.5.1.2; RTP/RTCP mux per RFC 5761 s.4). I/O-free.

#include <cstdint>
#include <span>
#include <string_view>

namespace sipws::bridge {

/// What a datagram received on a media port carries.
enum class PacketKind { Stun, Dtls, Rtp, Rtcp, Unknown };

/// "stun", "dtls", "rtp", "rtcp", "unknown" (for logs and counters).
std::string_view to_string(PacketKind k);

/// Classifies one datagram by its first byte (RFC 7983 s.7):
///   0..3 -> Stun (and at least the 20-byte STUN header),
///   20..63 -> Dtls (and at least the 13-byte DTLS record header),
///   128..191 -> RTP or RTCP: RTCP when the second byte (M bit + payload type) is 192..223
///   (RFC 5761 s.4) and the packet has at least 8 bytes (header + sender SSRC), otherwise RTP
///   when it has at least the 12-byte fixed header (RFC 3550 s.5.1).
/// Everything else (empty, ZRTP 16..19, TURN channels 64..79, too short) is Unknown.
/// Never reads past `packet`. Thread: any (pure function).
PacketKind classify(std::span<const std::uint8_t> packet);

}  // namespace sipws::bridge
