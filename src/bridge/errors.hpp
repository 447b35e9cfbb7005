#pragma once
// Error codes of the media bridge's I/O-free pieces: STUN parsing (RFC 5389), SRTP (RFC 3711 via
// libsrtp) and DTLS-SRTP (RFC 5763/5764). One enum, one std::error_category ("sipws.bridge").

#include <system_error>

namespace sipws::bridge {

enum class BridgeErrc {
  // STUN (RFC 5389 s.6, s.15)
  StunTooShort = 1,  ///< fewer than 20 bytes, or an attribute runs past the end
  StunNotStun,       ///< top two bits set or wrong magic cookie
  StunBadLength,     ///< message length not a multiple of 4 or not the datagram's size
  StunBadAttribute,  ///< an attribute is truncated or follows FINGERPRINT
  // SRTP (RFC 3711)
  SrtpInitFailed,      ///< srtp_init() failed (process-wide)
  SrtpBadKey,          ///< master key || salt has the wrong length for the profile
  SrtpCreateFailed,    ///< srtp_create() rejected the policy
  SrtpBadPacket,       ///< too short or too long to be an RTP / RTCP packet, or no room for the tag
  SrtpAuthFailed,      ///< authentication tag mismatch (tampered, wrong key)
  SrtpReplay,          ///< replayed or too old (outside the replay window)
  SrtpTooManyStreams,  ///< Outbound: a new SSRC beyond SrtpSession::kMaxOutboundSsrcs
  SrtpFailed,          ///< any other libsrtp failure
};

const std::error_category& bridge_category();
std::error_code make_error_code(BridgeErrc e);

}  // namespace sipws::bridge

template <>
struct std::is_error_code_enum<sipws::bridge::BridgeErrc> : std::true_type {};
