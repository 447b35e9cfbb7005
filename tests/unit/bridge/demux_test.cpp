// RFC 7983 first-byte demultiplexing and RFC 5761 RTP/RTCP split.
#include "bridge/demux.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sipws::bridge {
namespace {

PacketKind of(std::vector<std::uint8_t> b) { return classify(b); }

TEST(Demux, FirstByteRanges) {
  std::vector<std::uint8_t> p(40, 0);
  for (int b0 = 0; b0 < 256; ++b0) {
    p[0] = static_cast<std::uint8_t>(b0);
    p[1] = 0;  // RTP payload type 0 (PCMU)
    PacketKind want = PacketKind::Unknown;
    if (b0 <= 3)
      want = PacketKind::Stun;
    else if (b0 >= 20 && b0 <= 63)
      want = PacketKind::Dtls;
    else if (b0 >= 128 && b0 <= 191)
      want = PacketKind::Rtp;
    EXPECT_EQ(classify(p), want) << "first byte " << b0;
  }
}

TEST(Demux, RtcpByPayloadType) {
  std::vector<std::uint8_t> p(28, 0);
  p[0] = 0x80;
  for (int b1 = 0; b1 < 256; ++b1) {
    p[1] = static_cast<std::uint8_t>(b1);
    EXPECT_EQ(classify(p), b1 >= 192 && b1 <= 223 ? PacketKind::Rtcp : PacketKind::Rtp) << b1;
  }
  EXPECT_EQ(of({0x81, 200, 0, 6, 1, 2, 3, 4}), PacketKind::Rtcp);  // SR header + SSRC
  EXPECT_EQ(of({0x80, 111, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}), PacketKind::Rtp);
  EXPECT_EQ(of({0x80, 0xe0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}), PacketKind::Rtp);  // M=1, PT 96
}

TEST(Demux, TooShortIsUnknown) {
  EXPECT_EQ(of({}), PacketKind::Unknown);
  EXPECT_EQ(of({0x00, 0x01}), PacketKind::Unknown);      // < STUN header
  EXPECT_EQ(of({22, 0xfe, 0xfd}), PacketKind::Unknown);  // < DTLS record header
  EXPECT_EQ(of({0x80, 0x00, 0, 1, 0, 0}), PacketKind::Unknown);
  EXPECT_EQ(of({0x80, 0x00, 0, 1, 0, 0, 0, 0, 1, 2, 3}), PacketKind::Unknown);  // 11 bytes RTP
  EXPECT_EQ(of({0x80, 200, 0, 1, 0, 0, 0}), PacketKind::Unknown);               // 7 bytes RTCP
}

TEST(Demux, Names) {
  EXPECT_EQ(to_string(PacketKind::Stun), "stun");
  EXPECT_EQ(to_string(PacketKind::Rtcp), "rtcp");
  EXPECT_EQ(to_string(PacketKind::Unknown), "unknown");
}

}  // namespace
}  // namespace sipws::bridge
