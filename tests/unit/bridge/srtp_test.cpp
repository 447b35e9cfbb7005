// SrtpSession on real libsrtp: known-answer vectors, round trips, replay and tamper rejection.
//
// Known answers are libsrtp's own reference packets, test/srtp_driver.c in cisco/libsrtp:
// srtp_validate() (AES_CM_128_HMAC_SHA1_80, test_key e1f97a0d...) and srtp_validate_gcm()
// (AEAD AES-128-GCM with a 16-byte tag, test_key_gcm 00010203...a8a9aaab), each for SRTP and
// SRTCP, SSRC 0xcafebabe, sequence 0x1234, first SRTCP index.
#include "bridge/srtp.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "bridge/errors.hpp"

namespace sipws::bridge {
namespace {

using Bytes = std::vector<std::uint8_t>;
using Dir = SrtpSession::Direction;

// srtp_driver.c: test_key (first 30 bytes: 16-byte master key || 14-byte master salt).
const Bytes kCmKey = {0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f,
                      0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39, 0x0e, 0xc6, 0x75, 0xad,
                      0x49, 0x8a, 0xfe, 0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6};
// srtp_driver.c: srtp_plaintext_ref / rtcp_plaintext_ref.
const Bytes kRtpPlain = {0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe,
                         0xba, 0xbe, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
                         0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab};
const Bytes kRtcpPlain = {0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0xab, 0xab, 0xab, 0xab,
                          0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab};
// srtp_validate(): srtp_ciphertext / srtcp_ciphertext.
const Bytes kCmSrtp = {0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0x4e,
                       0x55, 0xdc, 0x4c, 0xe7, 0x99, 0x78, 0xd8, 0x8c, 0xa4, 0xd2, 0x15, 0x94, 0x9d,
                       0x24, 0x02, 0xb7, 0x8d, 0x6a, 0xcc, 0x99, 0xea, 0x17, 0x9b, 0x8d, 0xbb};
const Bytes kCmSrtcp = {0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0x71, 0x28,
                        0x03, 0x5b, 0xe4, 0x87, 0xb9, 0xbd, 0xbe, 0xf8, 0x90, 0x41,
                        0xf9, 0x77, 0xa5, 0xa8, 0x80, 0x00, 0x00, 0x01, 0x99, 0x3e,
                        0x08, 0xcd, 0x54, 0xd6, 0xc1, 0x23, 0x07, 0x98};
// srtp_validate_gcm(): test_key_gcm (16-byte key || 12-byte salt), srtp/srtcp ciphertext.
const Bytes kGcmKey = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
                       0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xa0, 0xa1, 0xa2, 0xa3,
                       0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab};
const Bytes kGcmSrtp = {0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba,
                        0xbe, 0xc5, 0x00, 0x2e, 0xde, 0x04, 0xcf, 0xdd, 0x2e, 0xb9, 0x11,
                        0x59, 0xe0, 0x88, 0x0a, 0xa0, 0x6e, 0xd2, 0x97, 0x68, 0x26, 0xf7,
                        0x96, 0xb2, 0x01, 0xdf, 0x31, 0x31, 0xa1, 0x27, 0xe8, 0xa3, 0x92};
const Bytes kGcmSrtcp = {0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0xc9, 0x8b, 0x8b,
                         0x5d, 0xf0, 0x39, 0x2a, 0x55, 0x85, 0x2b, 0x6c, 0x21, 0xac, 0x8e,
                         0x70, 0x25, 0xc5, 0x2c, 0x6f, 0xbe, 0xa2, 0xb3, 0xb4, 0x46, 0xea,
                         0x31, 0x12, 0x3b, 0xa8, 0x8c, 0xe6, 0x1e, 0x80, 0x00, 0x00, 0x01};

SrtpSession make(SrtpProfile p, const Bytes& key, Dir d) {
  auto s = SrtpSession::make(p, key, d);
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message());
  return std::move(s).value();
}

struct Vector {
  SrtpProfile profile;
  const Bytes* key;
  const Bytes* srtp;
  const Bytes* srtcp;
};

class SrtpKnownAnswer : public ::testing::TestWithParam<Vector> {};

TEST_P(SrtpKnownAnswer, ProtectGivesReferenceCiphertext) {
  const auto& v = GetParam();
  auto out = make(v.profile, *v.key, Dir::Outbound);
  Bytes rtp = kRtpPlain;
  ASSERT_FALSE(out.protect_rtp(rtp));
  EXPECT_EQ(rtp, *v.srtp);
  Bytes rtcp = kRtcpPlain;
  ASSERT_FALSE(out.protect_rtcp(rtcp));
  EXPECT_EQ(rtcp, *v.srtcp);
}

TEST_P(SrtpKnownAnswer, UnprotectGivesReferencePlaintext) {
  const auto& v = GetParam();
  auto in = make(v.profile, *v.key, Dir::Inbound);
  Bytes rtp = *v.srtp;
  ASSERT_FALSE(in.unprotect_rtp(rtp));
  EXPECT_EQ(rtp, kRtpPlain);
  Bytes rtcp = *v.srtcp;
  ASSERT_FALSE(in.unprotect_rtcp(rtcp));
  EXPECT_EQ(rtcp, kRtcpPlain);
}

TEST_P(SrtpKnownAnswer, ReplayRejected) {
  const auto& v = GetParam();
  auto in = make(v.profile, *v.key, Dir::Inbound);
  Bytes a = *v.srtp;
  ASSERT_FALSE(in.unprotect_rtp(a));
  Bytes again = *v.srtp;
  EXPECT_EQ(in.unprotect_rtp(again), BridgeErrc::SrtpReplay);
  Bytes c = *v.srtcp;
  ASSERT_FALSE(in.unprotect_rtcp(c));
  Bytes c2 = *v.srtcp;
  EXPECT_EQ(in.unprotect_rtcp(c2), BridgeErrc::SrtpReplay);
}

TEST_P(SrtpKnownAnswer, TamperedRejected) {
  const auto& v = GetParam();
  for (std::size_t i = 0; i < v.srtp->size(); ++i) {
    auto in = make(v.profile, *v.key, Dir::Inbound);
    Bytes b = *v.srtp;
    b[i] ^= 0x01;
    EXPECT_TRUE(in.unprotect_rtp(b)) << "flipped byte " << i;
  }
  auto in = make(v.profile, *v.key, Dir::Inbound);
  Bytes rtcp = *v.srtcp;
  rtcp[10] ^= 0x80;
  EXPECT_EQ(in.unprotect_rtcp(rtcp), BridgeErrc::SrtpAuthFailed);
  Bytes wrong = *v.srtp;
  auto other =
      make(v.profile, v.profile == SrtpProfile::AeadAes128Gcm ? Bytes(28, 7) : Bytes(30, 7),
           Dir::Inbound);
  EXPECT_EQ(other.unprotect_rtp(wrong), BridgeErrc::SrtpAuthFailed);
}

INSTANTIATE_TEST_SUITE_P(
    Profiles, SrtpKnownAnswer,
    ::testing::Values(Vector{SrtpProfile::Aes128CmSha1_80, &kCmKey, &kCmSrtp, &kCmSrtcp},
                      Vector{SrtpProfile::AeadAes128Gcm, &kGcmKey, &kGcmSrtp, &kGcmSrtcp}),
    [](const auto& info) {
      return info.param.profile == SrtpProfile::AeadAes128Gcm ? "Gcm" : "CmSha1_80";
    });

Bytes rtp_packet(std::uint16_t seq, std::uint32_t ssrc, std::size_t payload) {
  Bytes p = {0x80,
             0x00,
             static_cast<std::uint8_t>(seq >> 8),
             static_cast<std::uint8_t>(seq),
             0,
             0,
             0,
             160,
             static_cast<std::uint8_t>(ssrc >> 24),
             static_cast<std::uint8_t>(ssrc >> 16),
             static_cast<std::uint8_t>(ssrc >> 8),
             static_cast<std::uint8_t>(ssrc)};
  for (std::size_t i = 0; i < payload; ++i) p.push_back(static_cast<std::uint8_t>(i * 7));
  return p;
}

TEST(Srtp, RoundTripManySsrcsAndSequences) {
  for (auto profile : {SrtpProfile::Aes128CmSha1_80, SrtpProfile::AeadAes128Gcm}) {
    const Bytes key(srtp_key_length(profile) + srtp_salt_length(profile), 0x5a);
    auto out = make(profile, key, Dir::Outbound);
    auto in = make(profile, key, Dir::Inbound);
    for (std::uint32_t ssrc : {0x11111111u, 0x22222222u}) {
      for (std::uint16_t seq = 65500; seq != 100; ++seq) {  // crosses the rollover
        const Bytes plain = rtp_packet(seq, ssrc, 160);
        Bytes p = plain;
        ASSERT_FALSE(out.protect_rtp(p));
        EXPECT_EQ(p.size(), plain.size() + (profile == SrtpProfile::AeadAes128Gcm ? 16u : 10u));
        EXPECT_NE(p, plain);
        ASSERT_FALSE(in.unprotect_rtp(p)) << seq;
        EXPECT_EQ(p, plain);
      }
    }
    // RTCP: a receiver report for each SSRC.
    for (std::uint32_t ssrc : {0x11111111u, 0x22222222u}) {
      const Bytes plain = {0x80,
                           201,
                           0x00,
                           0x01,
                           static_cast<std::uint8_t>(ssrc >> 24),
                           static_cast<std::uint8_t>(ssrc >> 16),
                           static_cast<std::uint8_t>(ssrc >> 8),
                           static_cast<std::uint8_t>(ssrc)};
      for (int i = 0; i < 3; ++i) {
        Bytes p = plain;
        ASSERT_FALSE(out.protect_rtcp(p));
        EXPECT_GT(p.size(), plain.size() + 4);  // tag + E||SRTCP index
        ASSERT_FALSE(in.unprotect_rtcp(p));
        EXPECT_EQ(p, plain);
      }
    }
  }
}

TEST(Srtp, OutboundRefusesToProtectTheSameIndexTwice) {
  auto out = make(SrtpProfile::Aes128CmSha1_80, kCmKey, Dir::Outbound);
  Bytes a = kRtpPlain;
  ASSERT_FALSE(out.protect_rtp(a));
  Bytes b = kRtpPlain;
  EXPECT_EQ(out.protect_rtp(b), BridgeErrc::SrtpReplay);
}

TEST(Srtp, OutboundSsrcCountIsCapped) {
  auto out = make(SrtpProfile::AeadAes128Gcm, kGcmKey, Dir::Outbound);
  for (std::uint32_t i = 0; i < SrtpSession::kMaxOutboundSsrcs; ++i) {
    Bytes p = rtp_packet(1, 1000 + i, 20);
    ASSERT_FALSE(out.protect_rtp(p)) << i;
  }
  Bytes p = rtp_packet(1, 5000, 20);
  EXPECT_EQ(out.protect_rtp(p), BridgeErrc::SrtpTooManyStreams);
  EXPECT_EQ(p.size(), 32u);
  p = rtp_packet(2, 1000, 20);  // a known SSRC still works
  EXPECT_FALSE(out.protect_rtp(p));
  Bytes rtcp = {0x80, 201, 0x00, 0x01, 0, 0, 0x13, 0x88};  // sender SSRC 5000: new, refused
  EXPECT_EQ(out.protect_rtcp(rtcp), BridgeErrc::SrtpTooManyStreams);
}

TEST(Srtp, BadKeysAndPackets) {
  EXPECT_EQ(SrtpSession::make(SrtpProfile::Aes128CmSha1_80, kGcmKey, Dir::Inbound).error(),
            BridgeErrc::SrtpBadKey);
  EXPECT_EQ(SrtpSession::make(SrtpProfile::AeadAes128Gcm, kCmKey, Dir::Inbound).error(),
            BridgeErrc::SrtpBadKey);
  EXPECT_EQ(SrtpSession::make(SrtpProfile::AeadAes128Gcm, {}, Dir::Inbound).error(),
            BridgeErrc::SrtpBadKey);

  auto out = make(SrtpProfile::Aes128CmSha1_80, kCmKey, Dir::Outbound);
  auto in = make(SrtpProfile::Aes128CmSha1_80, kCmKey, Dir::Inbound);
  for (std::size_t n = 0; n < 12; ++n) {
    Bytes p(kRtpPlain.begin(), kRtpPlain.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_EQ(out.protect_rtp(p), BridgeErrc::SrtpBadPacket) << n;
    EXPECT_EQ(p.size(), n);
    Bytes q = p;
    EXPECT_TRUE(in.unprotect_rtp(q)) << n;
  }
  // Truncated SRTP (no room for the tag) and garbage never succeed.
  for (std::size_t n = 12; n < kCmSrtp.size(); ++n) {
    Bytes p(kCmSrtp.begin(), kCmSrtp.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_TRUE(in.unprotect_rtp(p)) << n;
  }
  Bytes rtcp(7, 0x80);
  EXPECT_EQ(out.protect_rtcp(rtcp), BridgeErrc::SrtpBadPacket);
  // The zero-copy form checks that the buffer has room for the trailer.
  Bytes buf = kRtpPlain;
  std::size_t len = buf.size();
  EXPECT_EQ(out.protect_rtp(std::span(buf), len), BridgeErrc::SrtpBadPacket);
  buf.resize(kRtpPlain.size() + SrtpSession::kMaxTrailer);
  EXPECT_FALSE(out.protect_rtp(std::span(buf), len));
  EXPECT_EQ(len, kCmSrtp.size());
  EXPECT_TRUE(std::equal(kCmSrtp.begin(), kCmSrtp.end(), buf.begin()));
}

TEST(Srtp, MovedFromSessionFailsCleanly) {
  auto a = make(SrtpProfile::AeadAes128Gcm, kGcmKey, Dir::Outbound);
  SrtpSession b = std::move(a);
  Bytes p = kRtpPlain;
  EXPECT_FALSE(b.protect_rtp(p));
  Bytes q = kRtpPlain;
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move): on purpose
  EXPECT_EQ(a.protect_rtp(q), BridgeErrc::SrtpBadPacket);
}

}  // namespace
}  // namespace sipws::bridge
