#pragma once
// SRTP / SRTCP (RFC 3711; AEAD AES-GCM RFC 7714) for one direction of one media stream, on
// libsrtp2. I/O-free: packets in, packets out, in place.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/expected.hpp"

struct srtp_ctx_t_;

namespace sipws::bridge {

/// The DTLS-SRTP protection profiles we negotiate (RFC 5764 s.4.1.2, RFC 7714 s.14.2).
enum class SrtpProfile {
  Aes128CmSha1_80,  ///< SRTP_AES128_CM_HMAC_SHA1_80: 16-byte key, 14-byte salt, 10-byte tag
  AeadAes128Gcm,    ///< SRTP_AEAD_AES_128_GCM: 16-byte key, 12-byte salt, 16-byte tag
};

/// "SRTP_AES128_CM_SHA1_80" / "SRTP_AEAD_AES_128_GCM" (the use_srtp names).
std::string_view to_string(SrtpProfile p);
/// Master key length in bytes (16 for both).
std::size_t srtp_key_length(SrtpProfile p);
/// Master salt length in bytes (14 for CM, 12 for GCM).
std::size_t srtp_salt_length(SrtpProfile p);

/// SRTP and SRTCP state for one direction: Outbound protects what we send, Inbound verifies and
/// decrypts what we receive. Any SSRC is accepted (libsrtp's ssrc_any_outbound /
/// ssrc_any_inbound: a stream context is created per SSRC on first use).
///
/// Replay (RFC 3711 s.3.3.2): Inbound keeps a 1024-packet window; Outbound refuses to protect
/// the same (SSRC, sequence number) twice, since a second packet under the same index with a
/// different payload would reuse the keystream.
///
/// Streams: libsrtp keeps one context per SSRC. Inbound creates one only for a packet that
/// authenticated (so only the keyed peer can add them); Outbound would create one for every SSRC
/// the plain side sends, so it accepts at most kMaxOutboundSsrcs distinct SSRCs (RTP and RTCP
/// sender SSRCs together) and refuses packets of further ones with SrtpTooManyStreams.
///
/// Move-only; not copyable. Thread: one at a time (libsrtp contexts are not thread-safe).
/// libsrtp is initialised once per process on first make() (std::call_once).
class SrtpSession {
 public:
  enum class Direction { Outbound, Inbound };

  /// Bytes that protect_*() may add to a packet (auth tag, SRTCP index; no MKI is used).
  static constexpr std::size_t kMaxTrailer = 16 + 4 + 128;  // >= SRTP_MAX_TRAILER_LEN
  /// Distinct SSRCs an Outbound session protects before refusing new ones.
  static constexpr std::size_t kMaxOutboundSsrcs = 32;

  /// A session for `profile` keyed with `master_key_salt` = master key || master salt (30 bytes
  /// for CM, 28 for GCM), as DtlsTransport's SrtpKeys give them.
  /// @returns BridgeErrc::SrtpBadKey for a wrong length, SrtpInitFailed / SrtpCreateFailed if
  /// libsrtp refuses.
  static Expected<SrtpSession, std::error_code> make(SrtpProfile profile,
                                                     std::span<const std::uint8_t> master_key_salt,
                                                     Direction direction);

  SrtpSession(SrtpSession&&) noexcept;
  SrtpSession& operator=(SrtpSession&&) noexcept;
  ~SrtpSession();

  SrtpProfile profile() const { return profile_; }
  Direction direction() const { return direction_; }

  /// Zero-copy forms. `buffer` holds the packet in its first `len` bytes and must have room for
  /// `len + kMaxTrailer` bytes (protect) and be 4-byte aligned (libsrtp reads words); on success
  /// `len` is updated to the new length. On failure the packet bytes are unspecified.
  /// @returns {} or BridgeErrc::SrtpBadPacket (too short, no room), SrtpAuthFailed, SrtpReplay,
  /// SrtpTooManyStreams, SrtpFailed.
  std::error_code protect_rtp(std::span<std::uint8_t> buffer, std::size_t& len);
  std::error_code unprotect_rtp(std::span<std::uint8_t> buffer, std::size_t& len);
  std::error_code protect_rtcp(std::span<std::uint8_t> buffer, std::size_t& len);
  std::error_code unprotect_rtcp(std::span<std::uint8_t> buffer, std::size_t& len);

  /// Vector forms: `packet` is resized to the result (grows by the tag on protect, shrinks on
  /// unprotect; unchanged content on failure is not guaranteed). Same errors as above.
  /// RTP: at least 12 bytes (RFC 3550 s.5.1); RTCP: at least 8 bytes (header + SSRC).
  std::error_code protect_rtp(std::vector<std::uint8_t>& packet);
  std::error_code unprotect_rtp(std::vector<std::uint8_t>& packet);
  std::error_code protect_rtcp(std::vector<std::uint8_t>& packet);
  std::error_code unprotect_rtcp(std::vector<std::uint8_t>& packet);

 private:
  struct Dealloc {
    void operator()(srtp_ctx_t_* ctx) const;
  };
  enum class Op { ProtectRtp, UnprotectRtp, ProtectRtcp, UnprotectRtcp };

  SrtpSession(std::unique_ptr<srtp_ctx_t_, Dealloc> ctx, SrtpProfile p, Direction d)
      : ctx_(std::move(ctx)), profile_(p), direction_(d) {}
  std::error_code run(Op op, std::span<std::uint8_t> buffer, std::size_t& len);
  std::error_code run(Op op, std::vector<std::uint8_t>& packet);

  std::unique_ptr<srtp_ctx_t_, Dealloc> ctx_;
  SrtpProfile profile_;
  Direction direction_;
  std::vector<std::uint32_t> outbound_ssrcs_;  ///< SSRCs protected so far (Outbound)
};

}  // namespace sipws::bridge
