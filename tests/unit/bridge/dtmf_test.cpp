// DTMF conversion pieces: RFC 4733 event packets read out of RTP (CSRCs, header extensions,
// truncation), one key press per event however its end packets arrive, the dtmf-relay body,
// and the telephone-event edits of an m= line.

#include "bridge/dtmf.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace sipws::bridge {
namespace {

/// An RTP packet (RFC 3550 s.5.1) of payload type `pt` carrying one RFC 4733 event.
std::vector<std::uint8_t> event_packet(int pt, std::uint8_t event, bool end, std::uint16_t duration,
                                       std::uint32_t ts, int csrcs = 0, int ext_words = -1) {
  const std::size_t ext = ext_words >= 0 ? 4 + 4 * static_cast<std::size_t>(ext_words) : 0;
  const std::size_t off = 12 + 4 * static_cast<std::size_t>(csrcs) + ext;
  std::vector<std::uint8_t> p(off + 4, 0xcc);
  p[0] = static_cast<std::uint8_t>(0x80 | csrcs | (ext_words >= 0 ? 0x10 : 0));
  p[1] = static_cast<std::uint8_t>(pt);
  p[2] = 0;
  p[3] = 1;
  for (int i = 0; i < 4; ++i) p[4 + i] = static_cast<std::uint8_t>(ts >> (24 - 8 * i));
  if (ext_words >= 0) {
    const std::size_t e = 12 + 4 * static_cast<std::size_t>(csrcs);
    p[e] = 0xbe;
    p[e + 1] = 0xde;
    p[e + 2] = 0;
    p[e + 3] = static_cast<std::uint8_t>(ext_words);
  }
  p[off] = event;
  p[off + 1] = static_cast<std::uint8_t>((end ? 0x80 : 0) | 10);
  p[off + 2] = static_cast<std::uint8_t>(duration >> 8);
  p[off + 3] = static_cast<std::uint8_t>(duration);
  return p;
}

constexpr std::array<int, 2> kPts = {101, 126};

TEST(Dtmf, ReadsTheEventOfAnRtpPacketWithCsrcsAndAnExtension) {
  for (auto [csrcs, ext] : {std::pair{0, -1}, {2, -1}, {0, 0}, {3, 2}}) {
    auto p = event_packet(126, 11, true, 1280, 0xdeadbeef, csrcs, ext);
    auto ev = parse_telephone_event(p, kPts);
    ASSERT_TRUE(ev.has_value()) << csrcs << ' ' << ext;
    EXPECT_EQ(ev->event, 11);
    EXPECT_TRUE(ev->end);
    EXPECT_EQ(ev->duration, 1280);
    EXPECT_EQ(ev->timestamp, 0xdeadbeefu);
  }
}

TEST(Dtmf, OtherPayloadTypesAndBrokenPacketsAreNotEvents) {
  EXPECT_FALSE(parse_telephone_event(event_packet(0, 5, false, 160, 1), kPts));
  auto p = event_packet(101, 5, false, 160, 1);
  for (std::size_t n = 0; n < p.size(); ++n) {
    EXPECT_FALSE(parse_telephone_event(std::span(p.data(), n), kPts)) << n;
  }
  p[0] = 0x40;  // version 1
  EXPECT_FALSE(parse_telephone_event(p, kPts));
  // CSRC count or extension length pointing past the end.
  auto q = event_packet(101, 5, false, 160, 1);
  q[0] = 0x8f;
  EXPECT_FALSE(parse_telephone_event(q, kPts));
  auto r = event_packet(101, 5, false, 160, 1, 0, 0);
  r[15] = 200;
  EXPECT_FALSE(parse_telephone_event(r, kPts));
}

TEST(Dtmf, SignalsAndBody) {
  EXPECT_EQ(dtmf_signal(0), '0');
  EXPECT_EQ(dtmf_signal(9), '9');
  EXPECT_EQ(dtmf_signal(10), '*');
  EXPECT_EQ(dtmf_signal(11), '#');
  EXPECT_EQ(dtmf_signal(15), 'D');
  EXPECT_EQ(dtmf_signal(16), '!');
  EXPECT_EQ(dtmf_signal(17), 0);
  EXPECT_EQ(dtmf_signal(255), 0);
  EXPECT_EQ(dtmf_relay_body({'#', 250}), "Signal=#\r\nDuration=250\r\n");
}

TEST(Dtmf, OneKeyPressPerEventWhateverArrives) {
  KeyPressDetector d;
  // Key 5: three packets, the end packet three times (RFC 4733 s.2.5.1.4).
  EXPECT_FALSE(d.on_event({5, false, 160, 1000}));
  EXPECT_FALSE(d.on_event({5, false, 320, 1000}));
  auto k = d.on_event({5, true, 800, 1000});
  ASSERT_TRUE(k);
  EXPECT_EQ(k->signal, '5');
  EXPECT_EQ(k->duration_ms, 100u);
  EXPECT_FALSE(d.on_event({5, true, 800, 1000}));
  EXPECT_FALSE(d.on_event({5, true, 800, 1000}));
  // Key 7 loses every end packet: reported when key 8 begins, and key 8 at its own end.
  EXPECT_FALSE(d.on_event({7, false, 160, 3000}));
  EXPECT_FALSE(d.on_event({7, false, 480, 3000}));
  k = d.on_event({8, false, 160, 5000});
  ASSERT_TRUE(k);
  EXPECT_EQ(k->signal, '7');
  EXPECT_EQ(k->duration_ms, 60u);
  k = d.on_event({8, true, 400, 5000});
  ASSERT_TRUE(k);
  EXPECT_EQ(k->signal, '8');
  // A late packet of an event already reported, and a non-key event, report nothing.
  EXPECT_FALSE(d.on_event({8, false, 320, 5000}));
  EXPECT_FALSE(d.on_event({40, true, 400, 7000}));
  // An end packet alone (the others lost) is a key press.
  k = d.on_event({0, true, 640, 9000});
  ASSERT_TRUE(k);
  EXPECT_EQ(k->signal, '0');
}

sdp::Media audio(std::vector<std::string> formats, std::vector<std::string> rtpmaps) {
  sdp::Media m;
  m.media = "audio";
  m.port = 4000;
  m.proto = "RTP/AVP";
  m.formats = std::move(formats);
  for (auto& r : rtpmaps) m.add_attribute("rtpmap", r);
  return m;
}

TEST(Dtmf, TelephoneEventEditsOfAnMLine) {
  auto m = audio({"0", "8", "101"}, {"0 PCMU/8000", "8 PCMA/8000", "101 telephone-event/8000"});
  m.add_attribute("fmtp", "101 0-16");
  m.add_flag("sendrecv");
  EXPECT_EQ(telephone_event_pts(m), std::vector<int>{101});
  EXPECT_EQ(add_telephone_event(m, 97), 101);  // present already
  EXPECT_TRUE(remove_telephone_event(m));
  EXPECT_EQ(m.formats, (std::vector<std::string>{"0", "8"}));
  EXPECT_EQ(m.attributes.size(), 3u);  // the two rtpmaps and sendrecv
  EXPECT_FALSE(remove_telephone_event(m));
  EXPECT_EQ(free_dynamic_pt(m), 101);
  EXPECT_EQ(add_telephone_event(m, 101), 101);
  EXPECT_EQ(telephone_event_pts(m), std::vector<int>{101});
  ASSERT_TRUE(sdp::fmtp(m, 101));
  EXPECT_EQ(*sdp::fmtp(m, 101), "0-16");
  // telephone-event at another rate is not the 8000 Hz one.
  auto wide = audio({"9", "100"}, {"9 G722/8000", "100 telephone-event/16000"});
  EXPECT_TRUE(telephone_event_pts(wide).empty());
  EXPECT_EQ(free_dynamic_pt(wide), 101);
  auto full = audio({}, {});
  for (int pt = 96; pt <= 127; ++pt) full.formats.push_back(std::to_string(pt));
  EXPECT_FALSE(free_dynamic_pt(full));
}

}  // namespace
}  // namespace sipws::bridge
