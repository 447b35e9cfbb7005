// Offer/answer rewriting between WebRTC and plain RTP (RFC 3264, RFC 8829, RFC 8839, RFC 8842,
// RFC 8843). Every output is parsed back with sdp::parse and checked for properties, never
// compared with a recorded string.
#include "bridge/sdp_rewrite.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>

namespace sipws::bridge {
namespace {

const std::string kFp =
    "7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:"
    "19:08";
const std::string kOurFp =
    "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:"
    "88:99";

// Chrome via JsSIP: Opus first, then RED, G722, PCMU, PCMA, CN, two telephone-events; BUNDLE
// with a video line.
std::string chrome_offer(std::string_view audio_direction = "sendrecv") {
  return "v=0\r\n"
         "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
         "s=-\r\n"
         "t=0 0\r\n"
         "a=group:BUNDLE 0 1\r\n"
         "a=extmap-allow-mixed\r\n"
         "a=msid-semantic: WMS stream1\r\n"
         "m=audio 54321 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
         "c=IN IP4 192.0.2.10\r\n"
         "a=rtcp:9 IN IP4 0.0.0.0\r\n"
         "a=candidate:1467250027 1 udp 2122260223 192.0.2.10 54321 typ host generation 0\r\n"
         "a=candidate:3591422853 1 udp 1686052607 198.51.100.7 40001 typ srflx raddr "
         "192.0.2.10 rport 54321 generation 0\r\n"
         "a=candidate:435653019 1 tcp 1518280447 192.0.2.10 9 typ host tcptype active\r\n"
         "a=ice-ufrag:Fx3T\r\n"
         "a=ice-pwd:9bGr2cNkY5p0sXvQ1hWmZ7aD\r\n"
         "a=ice-options:trickle\r\n"
         "a=fingerprint:sha-256 " +
         kFp +
         "\r\n"
         "a=setup:actpass\r\n"
         "a=mid:0\r\n"
         "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
         "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
         "a=" +
         std::string(audio_direction) +
         "\r\n"
         "a=msid:stream1 track1\r\n"
         "a=rtcp-mux\r\n"
         "a=rtcp-rsize\r\n"
         "a=rtpmap:111 opus/48000/2\r\n"
         "a=rtcp-fb:111 transport-cc\r\n"
         "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
         "a=rtpmap:63 red/48000/2\r\n"
         "a=fmtp:63 111/111\r\n"
         "a=rtpmap:9 G722/8000\r\n"
         "a=rtpmap:0 PCMU/8000\r\n"
         "a=rtpmap:8 PCMA/8000\r\n"
         "a=rtpmap:13 CN/8000\r\n"
         "a=rtpmap:110 telephone-event/48000\r\n"
         "a=rtpmap:126 telephone-event/8000\r\n"
         "a=fmtp:126 0-16\r\n"
         "a=ssrc:1001211503 cname:Qy8tKMn0xJ2vNbXo\r\n"
         "a=ssrc:1001211503 msid:stream1 track1\r\n"
         "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"
         "c=IN IP4 0.0.0.0\r\n"
         "a=rtcp:9 IN IP4 0.0.0.0\r\n"
         "a=ice-ufrag:Fx3T\r\n"
         "a=ice-pwd:9bGr2cNkY5p0sXvQ1hWmZ7aD\r\n"
         "a=fingerprint:sha-256 " +
         kFp +
         "\r\n"
         "a=setup:actpass\r\n"
         "a=mid:1\r\n"
         "a=sendrecv\r\n"
         "a=rtcp-mux\r\n"
         "a=rtpmap:96 VP8/90000\r\n"
         "a=rtcp-fb:96 nack pli\r\n"
         "a=rtpmap:97 rtx/90000\r\n"
         "a=fmtp:97 apt=96\r\n"
         "a=ssrc:2231627014 cname:Qy8tKMn0xJ2vNbXo\r\n";
}

// A PBX calling out: G.711 without rtpmap, G.729, GSM, DTMF, and a video line and a T.38 line.
std::string phone_offer(std::string_view conn = "203.0.113.5",
                        std::string_view direction = "sendrecv") {
  return "v=0\r\n"
         "o=root 1821 1821 IN IP4 203.0.113.5\r\n"
         "s=Asterisk\r\n"
         "c=IN IP4 " +
         std::string(conn) +
         "\r\n"
         "t=0 0\r\n"
         "m=audio 16384 RTP/AVP 18 0 3 8 101\r\n"
         "a=rtpmap:101 telephone-event/8000\r\n"
         "a=fmtp:101 0-16\r\n"
         "a=ptime:20\r\n"
         "a=" +
         std::string(direction) +
         "\r\n"
         "m=video 16386 RTP/AVP 34\r\n"
         "m=image 16388 udptl t38\r\n";
}

// Chrome's answer to plain_offer_to_webrtc's offer: PCMU + DTMF, setup:active.
std::string chrome_answer(std::string_view audio_port = "9",
                          std::string_view direction = "sendrecv") {
  return "v=0\r\n"
         "o=- 8093851733467532105 2 IN IP4 127.0.0.1\r\n"
         "s=-\r\n"
         "t=0 0\r\n"
         "a=group:BUNDLE 0\r\n"
         "a=msid-semantic: WMS\r\n"
         "m=audio " +
         std::string(audio_port) +
         " UDP/TLS/RTP/SAVPF 0 101\r\n"
         "c=IN IP4 198.51.100.20\r\n"
         "a=rtcp:9 IN IP4 0.0.0.0\r\n"
         "a=candidate:1 1 udp 2122260223 198.51.100.20 61000 typ host generation 0\r\n"
         "a=ice-ufrag:Qk9s\r\n"
         "a=ice-pwd:Zq0Xj3rJf1lq8bD5cV2nH7tY\r\n"
         "a=ice-options:trickle\r\n"
         "a=fingerprint:sha-256 " +
         kFp +
         "\r\n"
         "a=setup:active\r\n"
         "a=mid:0\r\n"
         "a=" +
         std::string(direction) +
         "\r\n"
         "a=msid:- 5d1e2f3a\r\n"
         "a=rtcp-mux\r\n"
         "a=rtpmap:0 PCMU/8000\r\n"
         "a=rtpmap:101 telephone-event/8000\r\n"
         "a=fmtp:101 0-15\r\n"
         "a=ssrc:3735928559 cname:bRowserCname\r\n"
         "m=video 0 UDP/TLS/RTP/SAVPF 34\r\n"
         "c=IN IP4 0.0.0.0\r\n"
         "a=mid:1\r\n"
         "m=image 0 udptl t38\r\n"
         "c=IN IP4 0.0.0.0\r\n"
         "a=mid:2\r\n";
}

sdp::Session must(std::string_view text) {
  auto s = sdp::parse(text);
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message) << "\n" << text;
  return s ? *s : sdp::Session{};
}

/// Serializes and parses back: everything the tests look at went through the wire format.
sdp::Session wire(const RewriteResult<sdp::Session>& r) {
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().reason);
  if (!r) return {};
  return must(sdp::serialize(*r));
}

PlainSide plain_side(std::string address = "10.0.0.1", std::uint16_t port = 30000) {
  return PlainSide{std::move(address), port};
}

WebRtcSide webrtc_side(std::string setup = "passive") {
  WebRtcSide w;
  w.address = "10.0.0.1";
  w.port = 30002;
  w.ice_ufrag = "sWs1";
  w.ice_pwd = "aB3dE5gH7jK9mN1pQ3sT5v";
  w.fingerprint = kOurFp;
  w.setup = std::move(setup);
  w.ssrc = 0x5157;
  w.cname = "sipws-cname";
  return w;
}

std::vector<std::string> attr_values(const sdp::Media& m, std::string_view name) {
  std::vector<std::string> out;
  for (const auto* a : m.attributes_named(name)) out.push_back(a->value);
  return out;
}

std::string value(const sdp::Media& m, std::string_view name) {
  const auto* a = m.attribute(name);
  return a != nullptr ? a->value : std::string("<absent>");
}

/// Attributes a plain end must never see (ICE, DTLS, JSEP, RTP extensions of WebRTC).
const char* const kWebRtcOnly[] = {
    "ice-ufrag",          "ice-pwd",     "ice-options",   "ice-lite",   "candidate",
    "end-of-candidates",  "fingerprint", "setup",         "mid",        "ssrc",
    "ssrc-group",         "msid",        "msid-semantic", "rtcp-fb",    "extmap",
    "extmap-allow-mixed", "group",       "rtcp-mux",      "rtcp-rsize", "rtcp"};

void expect_no_webrtc_attributes(const sdp::Session& s) {
  for (const char* name : kWebRtcOnly) {
    EXPECT_FALSE(s.has_attribute(name)) << "session-level a=" << name;
    for (const auto& m : s.media) EXPECT_FALSE(m.has_attribute(name)) << "a=" << name;
  }
}

/// RFC 3264 s.6 checks of `answer` against `offer`: same m= count and media types; each
/// accepted RTP line's formats come from the offer with the same mapping; rejected lines have
/// port 0 and a format; mids mirror the offer's; BUNDLE names only accepted lines of the offer's
/// group; a DTLS answer's setup complements the offer's; rtcp-mux only if offered.
void expect_valid_answer(const sdp::Session& offer, const sdp::Session& answer) {
  ASSERT_EQ(answer.media.size(), offer.media.size());
  std::set<std::string> accepted_mids;
  for (std::size_t i = 0; i < offer.media.size(); ++i) {
    const sdp::Media& o = offer.media[i];
    const sdp::Media& a = answer.media[i];
    SCOPED_TRACE("m-line " + std::to_string(i));
    EXPECT_EQ(a.media, o.media);
    EXPECT_FALSE(a.formats.empty());
    if (o.attribute("mid") != nullptr) {
      EXPECT_EQ(value(a, "mid"), value(o, "mid"));
    }
    if (a.port == 0) continue;
    ASSERT_NE(o.port, 0) << "a line rejected in the offer cannot be accepted";
    EXPECT_EQ(a.proto, o.proto);
    if (a.attribute("mid") != nullptr) accepted_mids.insert(value(a, "mid"));
    for (const auto& f : a.formats) {
      EXPECT_NE(std::find(o.formats.begin(), o.formats.end(), f), o.formats.end())
          << "format " << f << " was not offered";
      const auto pt = sdp::payload_type(f);
      ASSERT_TRUE(pt.has_value());
      const auto om = sdp::rtpmap(o, *pt);
      const auto am = sdp::rtpmap(a, *pt);
      ASSERT_TRUE(om.has_value() && am.has_value()) << "pt " << *pt;
      EXPECT_TRUE(om->encoding.size() == am->encoding.size() &&
                  std::equal(om->encoding.begin(), om->encoding.end(), am->encoding.begin(),
                             [](char x, char y) { return std::tolower(x) == std::tolower(y); }));
      EXPECT_EQ(om->clock_rate, am->clock_rate);
    }
    if (a.has_attribute("rtcp-mux")) {
      EXPECT_TRUE(o.has_attribute("rtcp-mux"));
    }
    if (a.has_attribute("setup")) {
      const std::string os = value(o, "setup"), as = value(a, "setup");
      EXPECT_NE(as, "actpass");
      if (os == "active") {
        EXPECT_EQ(as, "passive");
      }
      if (os == "passive") {
        EXPECT_EQ(as, "active");
      }
    }
  }
  for (const auto* g : answer.attributes_named("group")) {
    std::vector<std::string> mids;
    std::string v = g->value;
    for (std::size_t p = 0, q; p < v.size(); p = q + 1) {
      q = v.find(' ', p);
      if (q == std::string::npos) q = v.size();
      mids.push_back(v.substr(p, q - p));
    }
    ASSERT_FALSE(mids.empty());
    EXPECT_EQ(mids[0], "BUNDLE");
    for (std::size_t k = 1; k < mids.size(); ++k) {
      EXPECT_TRUE(accepted_mids.count(mids[k])) << "BUNDLE names rejected mid " << mids[k];
    }
  }
}

std::vector<std::string> strs(std::initializer_list<const char*> l) { return {l.begin(), l.end()}; }

// ---------------------------------------------------------------------------------------------
// describe

TEST(Describe, ChromeOffer) {
  auto d = describe(must(chrome_offer()));
  ASSERT_TRUE(d.has_value()) << d.error().reason;
  EXPECT_EQ(d->flavor, MediaFlavor::WebRtc);
  EXPECT_EQ(d->audio_index, 0u);
  EXPECT_EQ(d->address, "192.0.2.10");
  EXPECT_EQ(d->port, 54321);
  EXPECT_TRUE(d->rtcp_mux);
  EXPECT_EQ(d->rtcp_port.value_or(0), 9);  // a=rtcp wins
  EXPECT_FALSE(d->hold_address);
  EXPECT_EQ(d->ice_ufrag, "Fx3T");
  EXPECT_EQ(d->ice_pwd, "9bGr2cNkY5p0sXvQ1hWmZ7aD");
  EXPECT_FALSE(d->ice_lite);
  ASSERT_EQ(d->candidates.size(), 2u);  // the TCP candidate is skipped
  EXPECT_EQ(d->candidates[0].address, "192.0.2.10");
  EXPECT_EQ(d->candidates[0].port, 54321);
  EXPECT_EQ(d->candidates[0].priority, 2122260223u);
  EXPECT_EQ(d->candidates[0].type, "host");
  EXPECT_EQ(d->candidates[1].type, "srflx");
  EXPECT_EQ(d->fingerprint_alg, "sha-256");
  EXPECT_EQ(d->fingerprint, kFp);
  EXPECT_EQ(d->setup, "actpass");
  EXPECT_EQ(d->mid, "0");
  EXPECT_EQ(d->direction, sdp::Direction::SendRecv);
  ASSERT_EQ(d->codecs.size(), 8u);
  EXPECT_EQ(d->codecs[0].name, "opus");
  EXPECT_EQ(d->codecs[0].rate, 48000u);
  EXPECT_EQ(d->codecs[0].channels, 2u);
  EXPECT_EQ(d->codecs[0].fmtp, "minptime=10;useinbandfec=1");
  EXPECT_EQ(d->codecs[7].pt, 126);
  EXPECT_EQ(d->codecs[7].fmtp, "0-16");
  EXPECT_EQ(d->ssrc.value_or(0), 1001211503u);
  EXPECT_FALSE(d->ptime.has_value());
}

TEST(Describe, PlainOffer) {
  auto d = describe(must(phone_offer()));
  ASSERT_TRUE(d.has_value()) << d.error().reason;
  EXPECT_EQ(d->flavor, MediaFlavor::Plain);
  EXPECT_EQ(d->address, "203.0.113.5");  // session-level c= inherited
  EXPECT_EQ(d->port, 16384);
  EXPECT_FALSE(d->rtcp_mux);
  EXPECT_EQ(d->rtcp_port.value_or(0), 16385);
  ASSERT_EQ(d->codecs.size(), 5u);
  EXPECT_EQ(d->codecs[0].name, "G729");  // static types resolve without rtpmap (RFC 3551)
  EXPECT_EQ(d->codecs[1].name, "PCMU");
  EXPECT_EQ(d->codecs[1].rate, 8000u);
  EXPECT_EQ(d->codecs[4].name, "telephone-event");
  EXPECT_EQ(d->ptime.value_or(0), 20u);
  EXPECT_TRUE(d->ice_ufrag.empty());
  EXPECT_FALSE(d->ssrc.has_value());
}

TEST(Describe, NoAudioIsNone) {
  auto d =
      describe(must("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"
                    "m=image 5000 udptl t38\r\n"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->flavor, MediaFlavor::None);
  EXPECT_EQ(describe(must("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n"))->flavor,
            MediaFlavor::None);
}

TEST(Describe, OldStyleHold) {
  auto d = describe(must(phone_offer("0.0.0.0")));
  ASSERT_TRUE(d.has_value());
  EXPECT_TRUE(d->hold_address);
  EXPECT_EQ(d->direction, sdp::Direction::SendOnly);
  d = describe(must(phone_offer("0.0.0.0", "recvonly")));
  EXPECT_EQ(d->direction, sdp::Direction::Inactive);
  // WebRTC ends put 0.0.0.0 in c= when ICE carries the address: not a hold.
  std::string offer = chrome_offer();
  offer.replace(offer.find("c=IN IP4 192.0.2.10"), 19, "c=IN IP4 0.0.0.0");
  d = describe(must(offer));
  EXPECT_FALSE(d->hold_address);
  EXPECT_EQ(d->direction, sdp::Direction::SendRecv);
}

void expect_error(const RewriteResult<MediaDescription>& d, RewriteErrc code,
                  std::string_view needle) {
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code, code);
  EXPECT_EQ(d.error().status, 488);
  EXPECT_NE(d.error().reason.find(needle), std::string::npos) << d.error().reason;
}

TEST(Describe, Rejections) {
  const std::string head = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n";
  expect_error(describe(must(head + "m=audio 5000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                                    "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n")),
               RewriteErrc::UnsupportedProfile, "RTP/SAVP is not supported");
  expect_error(describe(must(head + "m=audio 5000 UDP/TLS/RTP/SAVPF 0\r\na=ice-ufrag:abcd\r\n"
                                    "a=ice-pwd:aB3dE5gH7jK9mN1pQ3sT5v\r\n")),
               RewriteErrc::UnsupportedProfile, "without a usable a=fingerprint");
  expect_error(describe(must(head + "m=audio 5000 UDP/TLS/RTP/SAVPF 0\r\na=fingerprint:sha-256 " +
                             kFp + "\r\n")),
               RewriteErrc::UnsupportedProfile, "without a=ice-ufrag/a=ice-pwd");
  expect_error(describe(must(head + "m=audio 5000 RTP/AVP 0 x\r\n")), RewriteErrc::BadPayloadType,
               "format 'x' is not an RTP payload type");
  expect_error(describe(must(head + "m=audio 5000 RTP/AVP 200\r\n")), RewriteErrc::BadPayloadType,
               "format '200'");
  expect_error(describe(must("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n"
                             "m=audio 5000 RTP/AVP 0\r\n")),
               RewriteErrc::NoConnection, "no c= line");
  const std::error_code ec = RewriteErrc::NoCommonCodec;
  EXPECT_EQ(ec.message(), "no common codec");
  EXPECT_STREQ(ec.category().name(), "sipws.bridge.sdp");
}

TEST(Describe, SessionLevelIceAndFingerprint) {
  auto d =
      describe(must("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"
                    "a=ice-lite\r\na=ice-ufrag:abcd\r\na=ice-pwd:aB3dE5gH7jK9mN1pQ3sT5v\r\n"
                    "a=fingerprint:SHA-256 " +
                    kFp + "\r\nm=audio 5000 UDP/TLS/RTP/SAVPF 0\r\na=setup:passive\r\n"));
  ASSERT_TRUE(d.has_value()) << d.error().reason;
  EXPECT_EQ(d->flavor, MediaFlavor::WebRtc);
  EXPECT_TRUE(d->ice_lite);
  EXPECT_EQ(d->ice_ufrag, "abcd");
  EXPECT_EQ(d->fingerprint_alg, "SHA-256");
  EXPECT_EQ(d->setup, "passive");
  EXPECT_EQ(d->rtcp_port.value_or(0), 5001);  // no rtcp-mux, no a=rtcp: port + 1
}

// ---------------------------------------------------------------------------------------------
// webrtc_offer_to_plain

TEST(WebRtcOfferToPlain, KeepsOnlyG711G722AndDtmfInTheBrowsersOrder) {
  const sdp::Session out = wire(webrtc_offer_to_plain(must(chrome_offer()), plain_side()));
  ASSERT_EQ(out.media.size(), 1u);  // video dropped
  const sdp::Media& m = out.media[0];
  EXPECT_EQ(m.media, "audio");
  EXPECT_EQ(m.port, 30000);
  EXPECT_EQ(m.proto, "RTP/AVP");
  ASSERT_TRUE(out.connection.has_value());
  EXPECT_EQ(out.connection->addrtype, "IP4");
  EXPECT_EQ(out.connection->address, "10.0.0.1");
  EXPECT_EQ(m.formats, strs({"9", "0", "8", "126"}));
  EXPECT_EQ(attr_values(m, "rtpmap"),
            strs({"9 G722/8000", "0 PCMU/8000", "8 PCMA/8000", "126 telephone-event/8000"}));
  EXPECT_EQ(attr_values(m, "fmtp"), strs({"126 0-16"}));
  EXPECT_EQ(value(m, "ptime"), "20");
  EXPECT_EQ(sdp::direction(out, m), sdp::Direction::SendRecv);
  EXPECT_EQ(out.timings.size(), 1u);
  expect_no_webrtc_attributes(out);
}

TEST(WebRtcOfferToPlain, DirectionAndPtimeKept) {
  for (auto dir : {"sendonly", "recvonly", "inactive"}) {
    std::string offer = chrome_offer(dir);
    offer.insert(offer.find("a=ssrc:1001211503 cname"), "a=ptime:40\r\na=maxptime:60\r\n");
    const sdp::Session out = wire(webrtc_offer_to_plain(must(offer), plain_side()));
    ASSERT_EQ(out.media.size(), 1u);
    EXPECT_EQ(sdp::to_string(sdp::direction(out, out.media[0])), dir);
    EXPECT_EQ(value(out.media[0], "ptime"), "40");
    EXPECT_EQ(value(out.media[0], "maxptime"), "60");
  }
}

TEST(WebRtcOfferToPlain, Ipv6Address) {
  const sdp::Session out =
      wire(webrtc_offer_to_plain(must(chrome_offer()), plain_side("2001:db8::7", 31000)));
  ASSERT_TRUE(out.connection.has_value());
  EXPECT_EQ(out.connection->addrtype, "IP6");
  EXPECT_EQ(out.connection->address, "2001:db8::7");
  EXPECT_EQ(out.origin.addrtype, "IP6");
  EXPECT_EQ(out.media[0].port, 31000);
}

TEST(WebRtcOfferToPlain, OpusOnlyIsNoCommonCodec) {
  std::string offer = chrome_offer();
  offer.replace(offer.find("111 63 9 0 8 13 110 126"), 23, "111 110 126");
  auto r = webrtc_offer_to_plain(must(offer), plain_side());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RewriteErrc::NoCommonCodec);
  EXPECT_EQ(r.error().status, 488);
  EXPECT_NE(r.error().message().find("no common codec"), std::string::npos);
  EXPECT_NE(r.error().reason.find("opus/48000/2"), std::string::npos) << r.error().reason;
}

TEST(WebRtcOfferToPlain, RefusesNonWebRtcAndRejectedAudioAndBadLocalSide) {
  auto r = webrtc_offer_to_plain(must(phone_offer()), plain_side());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RewriteErrc::UnsupportedProfile);

  std::string offer = chrome_offer();
  offer.replace(offer.find("m=audio 54321"), 13, "m=audio 0");
  r = webrtc_offer_to_plain(must(offer), plain_side());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RewriteErrc::AudioRejected);

  r = webrtc_offer_to_plain(must("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n"),
                            plain_side());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RewriteErrc::NoAudio);

  for (const auto& bad : {plain_side("media.example.com"), plain_side("10.0.0.1", 0),
                          plain_side("10.0.0.1\r\na=evil", 4000)}) {
    r = webrtc_offer_to_plain(must(chrome_offer()), bad);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, RewriteErrc::BadLocalSide);
    EXPECT_EQ(r.error().status, 500);
  }
}

// ---------------------------------------------------------------------------------------------
// plain_answer_to_webrtc

const std::string kPhoneAnswerPcmu =
    "v=0\r\n"
    "o=phone 42 42 IN IP4 203.0.113.9\r\n"
    "s=-\r\n"
    "c=IN IP4 203.0.113.9\r\n"
    "t=0 0\r\n"
    "m=audio 20000 RTP/AVP 0 126\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:126 telephone-event/8000\r\n"
    "a=fmtp:126 0-15\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n";

TEST(PlainAnswerToWebRtc, BuildsTheWebRtcAnswer) {
  const sdp::Session offer = must(chrome_offer());
  const sdp::Session out =
      wire(plain_answer_to_webrtc(must(kPhoneAnswerPcmu), offer, webrtc_side()));
  expect_valid_answer(offer, out);
  EXPECT_TRUE(out.has_attribute("ice-lite"));
  ASSERT_NE(out.attribute("group"), nullptr);
  EXPECT_EQ(out.attribute("group")->value, "BUNDLE 0");
  EXPECT_EQ(out.connection->address, "10.0.0.1");

  ASSERT_EQ(out.media.size(), 2u);
  const sdp::Media& a = out.media[0];
  EXPECT_EQ(a.port, 30002);
  EXPECT_EQ(a.proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(a.formats, strs({"0", "126"}));
  EXPECT_EQ(attr_values(a, "fmtp"), strs({"126 0-15"}));  // the answerer's parameters
  EXPECT_EQ(value(a, "ice-ufrag"), "sWs1");
  EXPECT_EQ(value(a, "ice-pwd"), "aB3dE5gH7jK9mN1pQ3sT5v");
  EXPECT_EQ(attr_values(a, "candidate"), strs({"1 1 udp 2130706431 10.0.0.1 30002 typ host"}));
  EXPECT_TRUE(a.has_attribute("end-of-candidates"));
  EXPECT_EQ(value(a, "fingerprint"), "sha-256 " + kOurFp);
  EXPECT_EQ(value(a, "setup"), "passive");
  EXPECT_EQ(value(a, "mid"), "0");
  EXPECT_TRUE(a.has_attribute("rtcp-mux"));
  EXPECT_EQ(value(a, "ssrc"), std::to_string(0x5157) + " cname:sipws-cname");
  EXPECT_EQ(value(a, "msid"), "sipws-cname sipws-audio");
  EXPECT_EQ(sdp::direction(out, a), sdp::Direction::SendRecv);
  for (const char* name : {"extmap", "rtcp-fb", "ice-options"}) EXPECT_FALSE(a.has_attribute(name));

  const sdp::Media& v = out.media[1];
  EXPECT_EQ(v.media, "video");
  EXPECT_EQ(v.port, 0);
  EXPECT_EQ(v.proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(v.formats, strs({"96", "97"}));
  EXPECT_EQ(value(v, "mid"), "1");
  EXPECT_FALSE(v.has_attribute("ice-ufrag"));
}

TEST(PlainAnswerToWebRtc, DropsCodecsTheBrowserDidNotOffer) {
  std::string answer = kPhoneAnswerPcmu;
  answer.replace(answer.find("RTP/AVP 0 126"), 13, "RTP/AVP 18 8 126");
  const sdp::Session offer = must(chrome_offer());
  const sdp::Session out = wire(plain_answer_to_webrtc(must(answer), offer, webrtc_side()));
  EXPECT_EQ(out.media[0].formats, strs({"8", "126"}));
  expect_valid_answer(offer, out);

  answer = kPhoneAnswerPcmu;
  answer.replace(answer.find("RTP/AVP 0 126"), 13, "RTP/AVP 18 126");
  auto r = plain_answer_to_webrtc(must(answer), offer, webrtc_side());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RewriteErrc::NoCommonCodec);
  EXPECT_NE(r.error().reason.find("G729/8000"), std::string::npos) << r.error().reason;
}

TEST(PlainAnswerToWebRtc, SamePayloadNumberButOtherCodecIsNotAMatch) {
  std::string answer = kPhoneAnswerPcmu;
  answer.replace(answer.find("RTP/AVP 0 126"), 13, "RTP/AVP 0 111");
  answer += "a=rtpmap:111 iLBC/8000\r\n";
  const sdp::Session out =
      wire(plain_answer_to_webrtc(must(answer), must(chrome_offer()), webrtc_side()));
  EXPECT_EQ(out.media[0].formats, strs({"0"}));
}

TEST(PlainAnswerToWebRtc, PhoneRejectingAudio) {
  std::string answer = kPhoneAnswerPcmu;
  answer.replace(answer.find("m=audio 20000"), 13, "m=audio 0");
  auto r = plain_answer_to_webrtc(must(answer), must(chrome_offer()), webrtc_side());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RewriteErrc::AudioRejected);
}

TEST(PlainAnswerToWebRtc, HoldDirections) {
  const sdp::Session offer = must(chrome_offer("sendonly"));
  std::string answer = kPhoneAnswerPcmu;
  answer.replace(answer.find("a=sendrecv"), 10, "a=recvonly");
  sdp::Session out = wire(plain_answer_to_webrtc(must(answer), offer, webrtc_side()));
  EXPECT_EQ(sdp::direction(out, out.media[0]), sdp::Direction::RecvOnly);

  // RFC 2543 hold in the answer: c=0.0.0.0 means "do not send to me".
  answer = kPhoneAnswerPcmu;
  answer.replace(answer.find("c=IN IP4 203.0.113.9"), 20, "c=IN IP4 0.0.0.0");
  out = wire(plain_answer_to_webrtc(must(answer), offer, webrtc_side()));
  EXPECT_EQ(sdp::direction(out, out.media[0]), sdp::Direction::SendOnly);
  EXPECT_EQ(out.connection->address, "10.0.0.1");
}

TEST(PlainAnswerToWebRtc, SetupAndSsrcAndBundleFollowTheOffer) {
  std::string offer = chrome_offer();
  // An offerer that insists on being the DTLS client.
  for (std::size_t p; (p = offer.find("a=setup:actpass")) != std::string::npos;) {
    offer.replace(p, 15, "a=setup:active");
  }
  auto r = plain_answer_to_webrtc(must(kPhoneAnswerPcmu), must(offer), webrtc_side("active"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RewriteErrc::BadLocalSide);
  EXPECT_EQ(r.error().status, 500);
  r = plain_answer_to_webrtc(must(kPhoneAnswerPcmu), must(offer), webrtc_side("actpass"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RewriteErrc::BadLocalSide);
  sdp::Session out =
      wire(plain_answer_to_webrtc(must(kPhoneAnswerPcmu), must(offer), webrtc_side("passive")));
  expect_valid_answer(must(offer), out);

  // No BUNDLE offered: none answered. ssrc 0: no a=ssrc; no cname: no a=msid.
  std::string no_bundle = chrome_offer();
  no_bundle.erase(no_bundle.find("a=group:BUNDLE 0 1\r\n"), 20);
  WebRtcSide side = webrtc_side();
  side.ssrc = 0;
  out = wire(plain_answer_to_webrtc(must(kPhoneAnswerPcmu), must(no_bundle), side));
  EXPECT_FALSE(out.has_attribute("group"));
  EXPECT_FALSE(out.media[0].has_attribute("ssrc"));
  EXPECT_EQ(value(out.media[0], "msid"), "sipws-cname sipws-audio");
  side.cname.clear();
  out = wire(plain_answer_to_webrtc(must(kPhoneAnswerPcmu), must(no_bundle), side));
  EXPECT_FALSE(out.media[0].has_attribute("msid"));
  expect_valid_answer(must(no_bundle), out);
}

TEST(PlainAnswerToWebRtc, BadWebRtcSide) {
  auto bad = [](auto edit) {
    WebRtcSide w = webrtc_side();
    edit(w);
    auto r = plain_answer_to_webrtc(must(kPhoneAnswerPcmu), must(chrome_offer()), w);
    EXPECT_FALSE(r.has_value());
    if (!r) {
      EXPECT_EQ(r.error().code, RewriteErrc::BadLocalSide);
    }
  };
  bad([](WebRtcSide& w) { w.ice_ufrag = "ab"; });
  bad([](WebRtcSide& w) { w.ice_pwd = "short"; });
  bad([](WebRtcSide& w) { w.ice_pwd = "aB3dE5gH7jK9mN1pQ3sT5v x"; });
  bad([](WebRtcSide& w) { w.fingerprint = "AB:CD"; });
  bad([](WebRtcSide& w) { w.address = "not-an-ip"; });
  bad([](WebRtcSide& w) { w.port = 0; });
  bad([](WebRtcSide& w) { w.cname = "two words"; });
}

// ---------------------------------------------------------------------------------------------
// plain_offer_to_webrtc

TEST(PlainOfferToWebRtc, BuildsAWebRtcOffer) {
  const sdp::Session out = wire(plain_offer_to_webrtc(must(phone_offer()), webrtc_side("")));
  EXPECT_TRUE(out.has_attribute("ice-lite"));
  ASSERT_NE(out.attribute("group"), nullptr);
  EXPECT_EQ(out.attribute("group")->value, "BUNDLE 0");
  ASSERT_EQ(out.media.size(), 3u);  // mirrors the phone's m= lines

  const sdp::Media& a = out.media[0];
  EXPECT_EQ(a.port, 30002);
  EXPECT_EQ(a.proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(a.formats, strs({"0", "8", "101"}));  // G729 and GSM dropped, order kept
  EXPECT_EQ(attr_values(a, "rtpmap"),
            strs({"0 PCMU/8000", "8 PCMA/8000", "101 telephone-event/8000"}));
  EXPECT_EQ(attr_values(a, "fmtp"), strs({"101 0-16"}));
  EXPECT_EQ(value(a, "setup"), "actpass");
  EXPECT_EQ(value(a, "mid"), "0");
  EXPECT_EQ(value(a, "fingerprint"), "sha-256 " + kOurFp);
  EXPECT_EQ(value(a, "ice-ufrag"), "sWs1");
  EXPECT_EQ(attr_values(a, "candidate").size(), 1u);
  EXPECT_TRUE(a.has_attribute("end-of-candidates"));
  EXPECT_TRUE(a.has_attribute("rtcp-mux"));
  EXPECT_EQ(value(a, "ptime"), "20");
  EXPECT_EQ(sdp::direction(out, a), sdp::Direction::SendRecv);

  EXPECT_EQ(out.media[1].media, "video");
  EXPECT_EQ(out.media[1].port, 0);
  EXPECT_EQ(out.media[1].proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(out.media[1].formats, strs({"34"}));
  EXPECT_EQ(value(out.media[1], "mid"), "1");
  EXPECT_EQ(out.media[2].media, "image");
  EXPECT_EQ(out.media[2].port, 0);
  EXPECT_EQ(out.media[2].proto, "udptl");
  EXPECT_EQ(value(out.media[2], "mid"), "2");

  // The output is itself a WebRTC description.
  auto d = describe(out);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->flavor, MediaFlavor::WebRtc);
  EXPECT_TRUE(d->ice_lite);
}

TEST(PlainOfferToWebRtc, OldStyleHoldBecomesADirection) {
  sdp::Session out = wire(plain_offer_to_webrtc(must(phone_offer("0.0.0.0")), webrtc_side()));
  EXPECT_EQ(sdp::direction(out, out.media[0]), sdp::Direction::SendOnly);
  EXPECT_EQ(out.connection->address, "10.0.0.1");
  out = wire(plain_offer_to_webrtc(must(phone_offer("0.0.0.0", "recvonly")), webrtc_side()));
  EXPECT_EQ(sdp::direction(out, out.media[0]), sdp::Direction::Inactive);
  out = wire(plain_offer_to_webrtc(must(phone_offer("203.0.113.5", "sendonly")), webrtc_side()));
  EXPECT_EQ(sdp::direction(out, out.media[0]), sdp::Direction::SendOnly);
}

TEST(PlainOfferToWebRtc, NoCommonCodec) {
  std::string offer = phone_offer();
  offer.replace(offer.find("RTP/AVP 18 0 3 8 101"), 20, "RTP/AVP 18 3 101");
  auto r = plain_offer_to_webrtc(must(offer), webrtc_side());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RewriteErrc::NoCommonCodec);
  EXPECT_EQ(r.error().status, 488);
  r = plain_offer_to_webrtc(must(chrome_offer()), webrtc_side());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RewriteErrc::UnsupportedProfile);
}

// ---------------------------------------------------------------------------------------------
// webrtc_answer_to_plain

TEST(WebRtcAnswerToPlain, MirrorsThePhonesOffer) {
  const sdp::Session offer = must(phone_offer());
  const sdp::Session out = wire(webrtc_answer_to_plain(must(chrome_answer()), offer, plain_side()));
  expect_valid_answer(offer, out);
  ASSERT_EQ(out.media.size(), 3u);
  const sdp::Media& a = out.media[0];
  EXPECT_EQ(a.port, 30000);
  EXPECT_EQ(a.proto, "RTP/AVP");
  EXPECT_EQ(out.connection->address, "10.0.0.1");
  EXPECT_EQ(a.formats, strs({"0", "101"}));
  EXPECT_EQ(attr_values(a, "fmtp"), strs({"101 0-15"}));
  EXPECT_EQ(value(a, "ptime"), "20");
  EXPECT_EQ(sdp::direction(out, a), sdp::Direction::SendRecv);
  EXPECT_EQ(out.media[1].port, 0);
  EXPECT_EQ(out.media[1].proto, "RTP/AVP");
  EXPECT_EQ(out.media[1].formats, strs({"34"}));
  EXPECT_EQ(out.media[2].port, 0);
  EXPECT_EQ(out.media[2].proto, "udptl");
  EXPECT_EQ(out.media[2].formats, strs({"t38"}));
  expect_no_webrtc_attributes(out);
}

TEST(WebRtcAnswerToPlain, DirectionAndRejection) {
  const sdp::Session offer = must(phone_offer("203.0.113.5", "sendonly"));
  sdp::Session out =
      wire(webrtc_answer_to_plain(must(chrome_answer("9", "recvonly")), offer, plain_side()));
  EXPECT_EQ(sdp::direction(out, out.media[0]), sdp::Direction::RecvOnly);

  auto r = webrtc_answer_to_plain(must(chrome_answer("0")), offer, plain_side());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RewriteErrc::AudioRejected);

  r = webrtc_answer_to_plain(must(phone_offer()), offer, plain_side());  // not a WebRTC answer
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RewriteErrc::UnsupportedProfile);

  std::string g729 = chrome_answer();
  g729.replace(g729.find("SAVPF 0 101"), 11, "SAVPF 18 101");
  r = webrtc_answer_to_plain(must(g729), offer, plain_side());  // 18 offered but not ... matched
  ASSERT_TRUE(r.has_value());  // G729 was in the phone's offer: a browser may answer it
  std::string opus = chrome_answer();
  opus.replace(opus.find("SAVPF 0 101"), 11, "SAVPF 111");
  r = webrtc_answer_to_plain(must(opus), offer, plain_side());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, RewriteErrc::NoCommonCodec);
}

// ---------------------------------------------------------------------------------------------
// plain_to_plain, needs_anchor

TEST(PlainToPlain, MovesAudioToUsAndRejectsTheRest) {
  std::string in = phone_offer("0.0.0.0");
  in.insert(in.find("a=ptime:20"),
            "a=rtcp:16390 IN IP4 203.0.113.5\r\na=ice-ufrag:abcd\r\n"
            "a=candidate:1 1 udp 1 203.0.113.5 16384 typ host\r\n");
  const sdp::Session out = wire(plain_to_plain(must(in), plain_side()));
  ASSERT_EQ(out.media.size(), 3u);
  EXPECT_EQ(out.connection->address, "10.0.0.1");
  EXPECT_EQ(out.media[0].port, 30000);
  EXPECT_EQ(out.media[0].formats, strs({"18", "0", "3", "8", "101"}));  // codecs untouched
  EXPECT_FALSE(out.media[0].has_attribute("rtcp"));
  EXPECT_FALSE(out.media[0].has_attribute("ice-ufrag"));
  EXPECT_FALSE(out.media[0].has_attribute("candidate"));
  EXPECT_EQ(sdp::direction(out, out.media[0]), sdp::Direction::SendOnly);  // was c=0.0.0.0
  EXPECT_EQ(out.media[1].port, 0);
  EXPECT_EQ(out.media[2].port, 0);
}

TEST(NeedsAnchor, TruthTable) {
  EXPECT_TRUE(needs_anchor(MediaFlavor::WebRtc, false));
  EXPECT_FALSE(needs_anchor(MediaFlavor::WebRtc, true));
  EXPECT_TRUE(needs_anchor(MediaFlavor::Plain, true));
  EXPECT_FALSE(needs_anchor(MediaFlavor::Plain, false));
  EXPECT_FALSE(needs_anchor(MediaFlavor::None, true));
  EXPECT_FALSE(needs_anchor(MediaFlavor::None, false));
}

// ---------------------------------------------------------------------------------------------
// OriginState (RFC 3264 s.8)

TEST(OriginState, VersionGrowsOnlyWhenTheContentChanges) {
  OriginState leg(123456789, 1);
  auto first = webrtc_offer_to_plain(must(chrome_offer()), plain_side());
  ASSERT_TRUE(first.has_value());
  leg.stamp(*first);
  sdp::Session s1 = wire(first);
  EXPECT_EQ(s1.origin.username, "sipws");
  EXPECT_EQ(s1.origin.sess_id, "123456789");
  EXPECT_EQ(s1.origin.sess_version, "1");
  EXPECT_EQ(s1.origin.address, "10.0.0.1");

  // An unchanged re-offer (session refresh) keeps the version.
  auto same = webrtc_offer_to_plain(must(chrome_offer()), plain_side());
  leg.stamp(*same);
  EXPECT_EQ(wire(same).origin.sess_version, "1");

  // Hold: the content changes, the version goes up by one; the direction comes through.
  auto hold = webrtc_offer_to_plain(must(chrome_offer("sendonly")), plain_side());
  leg.stamp(*hold);
  const sdp::Session s3 = wire(hold);
  EXPECT_EQ(s3.origin.sess_version, "2");
  EXPECT_EQ(s3.origin.sess_id, "123456789");
  EXPECT_EQ(sdp::direction(s3, s3.media[0]), sdp::Direction::SendOnly);
  EXPECT_EQ(leg.version(), 2u);

  // Resume: changes again.
  auto resume = webrtc_offer_to_plain(must(chrome_offer()), plain_side());
  leg.stamp(*resume);
  EXPECT_EQ(wire(resume).origin.sess_version, "3");
}

TEST(OriginState, RandomSessIdAndIpv6) {
  OriginState a, b;
  EXPECT_NE(a.sess_id(), 0u);
  EXPECT_LT(a.sess_id(), 1ULL << 62);
  EXPECT_NE(a.sess_id(), b.sess_id());
  EXPECT_EQ(a.version(), 1u);
  auto s = webrtc_offer_to_plain(must(chrome_offer()), plain_side("2001:db8::7", 30000));
  ASSERT_TRUE(s.has_value());
  a.stamp(*s);
  const sdp::Session out = wire(s);
  EXPECT_EQ(out.origin.addrtype, "IP6");
  EXPECT_EQ(out.origin.address, "2001:db8::7");
  EXPECT_EQ(out.origin.sess_id, std::to_string(a.sess_id()));
}

// ---------------------------------------------------------------------------------------------
// A whole call: browser offer -> plain offer -> the phone answers PCMU -> WebRTC answer.

TEST(RoundTrip, BrowserCallsPhone) {
  const sdp::Session browser_offer = must(chrome_offer());
  OriginState to_phone, to_browser;
  auto plain = webrtc_offer_to_plain(browser_offer, plain_side());
  ASSERT_TRUE(plain.has_value());
  to_phone.stamp(*plain);
  const sdp::Session phone_sees = wire(plain);

  // The phone answers from what it received: PCMU and DTMF, with the offered numbers.
  auto d = describe(phone_sees);
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->flavor, MediaFlavor::Plain);
  std::string pcmu_pt, dtmf_pt;
  for (const auto& c : d->codecs) {
    if (c.name == "PCMU") pcmu_pt = std::to_string(c.pt);
    if (c.name == "telephone-event") dtmf_pt = std::to_string(c.pt);
  }
  ASSERT_FALSE(pcmu_pt.empty());
  ASSERT_FALSE(dtmf_pt.empty());
  const std::string phone_answer_text =
      "v=0\r\no=phone 7 7 IN IP4 203.0.113.9\r\ns=-\r\nc=IN IP4 203.0.113.9\r\nt=0 0\r\n"
      "m=audio 20000 RTP/AVP " +
      pcmu_pt + " " + dtmf_pt + "\r\na=rtpmap:" + dtmf_pt + " telephone-event/8000\r\n";
  const sdp::Session phone_answer = must(phone_answer_text);
  expect_valid_answer(phone_sees, phone_answer);  // the phone's answer is itself valid

  auto webrtc = plain_answer_to_webrtc(phone_answer, browser_offer, webrtc_side());
  ASSERT_TRUE(webrtc.has_value()) << webrtc.error().reason;
  to_browser.stamp(*webrtc);
  const sdp::Session browser_gets = wire(webrtc);
  expect_valid_answer(browser_offer, browser_gets);
  auto bd = describe(browser_gets);
  ASSERT_TRUE(bd.has_value());
  EXPECT_EQ(bd->flavor, MediaFlavor::WebRtc);
  EXPECT_TRUE(bd->ice_lite);
  EXPECT_EQ(bd->mid, "0");
  EXPECT_EQ(bd->codecs.size(), 2u);
  EXPECT_EQ(bd->codecs[0].name, "PCMU");
  EXPECT_EQ(bd->setup, "passive");
  EXPECT_EQ(browser_gets.origin.username, "sipws");
  EXPECT_NE(browser_gets.origin.sess_id, phone_sees.origin.sess_id);  // one o= per leg
}

TEST(RoundTrip, PhoneCallsBrowser) {
  const sdp::Session phone = must(phone_offer());
  auto offer = plain_offer_to_webrtc(phone, webrtc_side());
  ASSERT_TRUE(offer.has_value());
  const sdp::Session browser_sees = wire(offer);
  const sdp::Session answer = must(chrome_answer());
  expect_valid_answer(browser_sees, answer);  // the canned browser answer fits our offer
  const sdp::Session phone_gets = wire(webrtc_answer_to_plain(answer, phone, plain_side()));
  expect_valid_answer(phone, phone_gets);
  expect_no_webrtc_attributes(phone_gets);
}

}  // namespace
}  // namespace sipws::bridge
