// SRTP / SRTCP on libsrtp2 (RFC 3711, RFC 7714).
#include "bridge/srtp.hpp"

#include <openssl/crypto.h>
#include <srtp2/srtp.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>

#include "bridge/errors.hpp"

namespace sipws::bridge {
namespace {

static_assert(SrtpSession::kMaxTrailer >= SRTP_MAX_TRAILER_LEN + 4,
              "protect_rtcp may write SRTP_MAX_TRAILER_LEN + 4 bytes (libsrtp srtp.h)");

constexpr unsigned long kReplayWindow = 1024;  // packets; libsrtp's default is 128
constexpr std::size_t kMinRtp = 12;            // RFC 3550 s.5.1 fixed header
constexpr std::size_t kMinRtcp = 8;            // RFC 3550 s.6.4.1 header + SSRC

srtp_err_status_t init_once() {
  static std::once_flag once;
  static srtp_err_status_t status = srtp_err_status_ok;
  std::call_once(once, [] { status = srtp_init(); });
  return status;
}

std::error_code map_status(srtp_err_status_t s) {
  switch (s) {
    case srtp_err_status_ok:
      return {};
    case srtp_err_status_auth_fail:
      return BridgeErrc::SrtpAuthFailed;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
      return BridgeErrc::SrtpReplay;
    case srtp_err_status_bad_param:
    case srtp_err_status_parse_err:
      return BridgeErrc::SrtpBadPacket;
    default:
      return BridgeErrc::SrtpFailed;
  }
}

}  // namespace

std::string_view to_string(SrtpProfile p) {
  switch (p) {
    case SrtpProfile::Aes128CmSha1_80:
      return "SRTP_AES128_CM_SHA1_80";
    case SrtpProfile::AeadAes128Gcm:
      return "SRTP_AEAD_AES_128_GCM";
  }
  return "unknown";
}

std::size_t srtp_key_length(SrtpProfile) { return 16; }

std::size_t srtp_salt_length(SrtpProfile p) { return p == SrtpProfile::AeadAes128Gcm ? 12 : 14; }

void SrtpSession::Dealloc::operator()(srtp_ctx_t_* ctx) const {
  if (ctx != nullptr) srtp_dealloc(ctx);
}

SrtpSession::SrtpSession(SrtpSession&&) noexcept = default;
SrtpSession& SrtpSession::operator=(SrtpSession&&) noexcept = default;
SrtpSession::~SrtpSession() = default;

Expected<SrtpSession, std::error_code> SrtpSession::make(SrtpProfile profile,
                                                         std::span<const std::uint8_t> key_salt,
                                                         Direction direction) {
  if (key_salt.size() != srtp_key_length(profile) + srtp_salt_length(profile)) {
    return Unexpected(make_error_code(BridgeErrc::SrtpBadKey));
  }
  if (init_once() != srtp_err_status_ok) {
    return Unexpected(make_error_code(BridgeErrc::SrtpInitFailed));
  }

  srtp_policy_t policy;
  std::memset(&policy, 0, sizeof(policy));
  if (profile == SrtpProfile::AeadAes128Gcm) {
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
  } else {
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
  }
  policy.ssrc.type = direction == Direction::Outbound ? ssrc_any_outbound : ssrc_any_inbound;
  policy.ssrc.value = 0;
  // srtp_create derives the session keys at once and keeps no pointer to the master key.
  unsigned char key[64];
  std::memcpy(key, key_salt.data(), key_salt.size());
  policy.key = key;
  policy.window_size = kReplayWindow;
  policy.allow_repeat_tx = 0;
  policy.next = nullptr;

  srtp_t raw = nullptr;
  const srtp_err_status_t st = srtp_create(&raw, &policy);
  OPENSSL_cleanse(key, sizeof(key));
  if (st != srtp_err_status_ok || raw == nullptr) {
    if (raw != nullptr) srtp_dealloc(raw);
    return Unexpected(make_error_code(BridgeErrc::SrtpCreateFailed));
  }
  return SrtpSession(std::unique_ptr<srtp_ctx_t_, Dealloc>(raw), profile, direction);
}

std::error_code SrtpSession::run(Op op, std::span<std::uint8_t> buffer, std::size_t& len) {
  const bool rtcp = op == Op::ProtectRtcp || op == Op::UnprotectRtcp;
  const bool protect = op == Op::ProtectRtp || op == Op::ProtectRtcp;
  if (!ctx_ || len < (rtcp ? kMinRtcp : kMinRtp) || len > buffer.size() ||
      (protect && buffer.size() - len < kMaxTrailer) ||
      len + kMaxTrailer > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return BridgeErrc::SrtpBadPacket;
  }
  if (protect) {
    // RTP: SSRC at bytes 8..11 (RFC 3550 s.5.1); RTCP: sender SSRC at 4..7 (s.6.4.1).
    const std::uint8_t* p = buffer.data() + (rtcp ? 4 : 8);
    const std::uint32_t ssrc = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                               (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
    if (std::find(outbound_ssrcs_.begin(), outbound_ssrcs_.end(), ssrc) == outbound_ssrcs_.end()) {
      if (outbound_ssrcs_.size() >= kMaxOutboundSsrcs) return BridgeErrc::SrtpTooManyStreams;
      outbound_ssrcs_.push_back(ssrc);
    }
  }
  int n = static_cast<int>(len);
  srtp_err_status_t st = srtp_err_status_ok;
  switch (op) {
    case Op::ProtectRtp:
      st = srtp_protect(ctx_.get(), buffer.data(), &n);
      break;
    case Op::UnprotectRtp:
      st = srtp_unprotect(ctx_.get(), buffer.data(), &n);
      break;
    case Op::ProtectRtcp:
      st = srtp_protect_rtcp(ctx_.get(), buffer.data(), &n);
      break;
    case Op::UnprotectRtcp:
      st = srtp_unprotect_rtcp(ctx_.get(), buffer.data(), &n);
      break;
  }
  if (st != srtp_err_status_ok) return map_status(st);
  if (n < 0 || static_cast<std::size_t>(n) > buffer.size()) return BridgeErrc::SrtpFailed;
  len = static_cast<std::size_t>(n);
  return {};
}

std::error_code SrtpSession::run(Op op, std::vector<std::uint8_t>& packet) {
  std::size_t len = packet.size();
  const bool protect = op == Op::ProtectRtp || op == Op::ProtectRtcp;
  if (protect) packet.resize(len + kMaxTrailer);
  const auto ec = run(op, std::span(packet), len);
  packet.resize(len);  // the new length, or the original one on failure
  return ec;
}

std::error_code SrtpSession::protect_rtp(std::span<std::uint8_t> b, std::size_t& len) {
  return run(Op::ProtectRtp, b, len);
}
std::error_code SrtpSession::unprotect_rtp(std::span<std::uint8_t> b, std::size_t& len) {
  return run(Op::UnprotectRtp, b, len);
}
std::error_code SrtpSession::protect_rtcp(std::span<std::uint8_t> b, std::size_t& len) {
  return run(Op::ProtectRtcp, b, len);
}
std::error_code SrtpSession::unprotect_rtcp(std::span<std::uint8_t> b, std::size_t& len) {
  return run(Op::UnprotectRtcp, b, len);
}
std::error_code SrtpSession::protect_rtp(std::vector<std::uint8_t>& p) {
  return run(Op::ProtectRtp, p);
}
std::error_code SrtpSession::unprotect_rtp(std::vector<std::uint8_t>& p) {
  return run(Op::UnprotectRtp, p);
}
std::error_code SrtpSession::protect_rtcp(std::vector<std::uint8_t>& p) {
  return run(Op::ProtectRtcp, p);
}
std::error_code SrtpSession::unprotect_rtcp(std::vector<std::uint8_t>& p) {
  return run(Op::UnprotectRtcp, p);
}

}  // namespace sipws::bridge
