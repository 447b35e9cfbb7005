// SDP model: parse/serialize round trips and every rejection (RFC 8866; RFC 3551; RFC 3264).
#include "sip/sdp.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sipws::sdp {
namespace {

// A Chrome 12x offer as JsSIP sends it in an INVITE (audio + video, BUNDLE, ICE, DTLS).
const std::string kChromeOffer =
    "v=0\r\n"
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0 1\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS 3bd1f0d1-7f1c-4c0e-9a0b-2a1d5e7c9f10\r\n"
    "m=audio 54321 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=candidate:1467250027 1 udp 2122260223 192.0.2.10 54321 typ host generation 0 "
    "network-id 1\r\n"
    "a=candidate:3591422853 1 udp 1686052607 198.51.100.7 40001 typ srflx raddr 192.0.2.10 "
    "rport 54321 generation 0 network-id 1\r\n"
    "a=candidate:435653019 1 tcp 1518280447 192.0.2.10 9 typ host tcptype active "
    "generation 0 network-id 1\r\n"
    "a=ice-ufrag:Fx3T\r\n"
    "a=ice-pwd:9bGr2cNkY5p0sXvQ1hWmZ7aD\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 "
    "7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:"
    "19:08\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=sendrecv\r\n"
    "a=msid:3bd1f0d1-7f1c-4c0e-9a0b-2a1d5e7c9f10 8c3b6a0e-5d2f-4b8a-9e1c-0f7a6d5c4b3a\r\n"
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
    "a=ssrc:1001211503 cname:Qy8tKMn0xJ2vNbXo\r\n"
    "a=ssrc:1001211503 msid:3bd1f0d1-7f1c-4c0e-9a0b-2a1d5e7c9f10 "
    "8c3b6a0e-5d2f-4b8a-9e1c-0f7a6d5c4b3a\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "b=AS:2500\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:Fx3T\r\n"
    "a=ice-pwd:9bGr2cNkY5p0sXvQ1hWmZ7aD\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 "
    "7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:"
    "19:08\r\n"
    "a=setup:actpass\r\n"
    "a=mid:1\r\n"
    "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset\r\n"
    "a=sendrecv\r\n"
    "a=rtcp-mux\r\n"
    "a=rtcp-rsize\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
    "a=rtcp-fb:96 goog-remb\r\n"
    "a=rtcp-fb:96 transport-cc\r\n"
    "a=rtcp-fb:96 ccm fir\r\n"
    "a=rtcp-fb:96 nack\r\n"
    "a=rtcp-fb:96 nack pli\r\n"
    "a=rtpmap:97 rtx/90000\r\n"
    "a=fmtp:97 apt=96\r\n"
    "a=rtpmap:102 H264/90000\r\n"
    "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n"
    "a=rtpmap:103 rtx/90000\r\n"
    "a=fmtp:103 apt=102\r\n"
    "a=ssrc-group:FID 2231627014 632943048\r\n"
    "a=ssrc:2231627014 cname:Qy8tKMn0xJ2vNbXo\r\n"
    "a=ssrc:632943048 cname:Qy8tKMn0xJ2vNbXo\r\n";

// An Asterisk / SIPp style plain offer (G.711 without rtpmap for static types, RFC 2833 DTMF).
const std::string kPlainOffer =
    "v=0\r\n"
    "o=root 1821 1821 IN IP4 203.0.113.5\r\n"
    "s=Asterisk PBX 18.10.0\r\n"
    "i=A call from the PBX\r\n"
    "c=IN IP4 203.0.113.5\r\n"
    "b=CT:384\r\n"
    "t=0 0\r\n"
    "r=7d 1h 0 25h\r\n"
    "k=prompt\r\n"
    "m=audio 16384 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=maxptime:150\r\n"
    "a=sendrecv\r\n";

Session must(std::string_view text) {
  auto s = parse(text);
  EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().message);
  return s ? *s : Session{};
}

/// Expects a rejection with `code` whose message contains `needle`.
void rejects(std::string_view text, SdpErrc code, std::string_view needle,
             const ParseOptions& opts = {}) {
  auto s = parse(text, opts);
  ASSERT_FALSE(s.has_value()) << text;
  EXPECT_EQ(s.error().code, code) << s.error().message;
  EXPECT_NE(s.error().message.find(needle), std::string::npos)
      << "'" << s.error().message << "' lacks '" << needle << "'";
  EXPECT_FALSE(make_error_code(code).message().empty());
}

std::string lf_only(std::string s) {
  std::string out;
  for (char c : s) {
    if (c != '\r') out += c;
  }
  return out;
}

const std::string kMinimal = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n";

TEST(Sdp, ChromeOfferRoundTripsByteForByte) {
  const Session s = must(kChromeOffer);
  EXPECT_EQ(serialize(s), kChromeOffer);
}

TEST(Sdp, ChromeOfferModel) {
  const Session s = must(kChromeOffer);
  EXPECT_EQ(s.origin.username, "-");
  EXPECT_EQ(s.origin.sess_id, "4611731400430051336");
  EXPECT_EQ(s.origin.sess_version, "2");
  EXPECT_EQ(s.origin.address, "127.0.0.1");
  EXPECT_FALSE(s.connection.has_value());
  ASSERT_EQ(s.timings.size(), 1u);
  EXPECT_EQ(s.timings[0].start, 0u);
  ASSERT_NE(s.attribute("group"), nullptr);
  EXPECT_EQ(s.attribute("group")->value, "BUNDLE 0 1");
  ASSERT_NE(s.attribute("msid-semantic"), nullptr);
  EXPECT_EQ(s.attribute("msid-semantic")->value, " WMS 3bd1f0d1-7f1c-4c0e-9a0b-2a1d5e7c9f10");
  EXPECT_TRUE(s.has_attribute("EXTMAP-ALLOW-MIXED"));  // names compare case-insensitively
  EXPECT_FALSE(s.attribute("extmap-allow-mixed")->has_value);

  ASSERT_EQ(s.media.size(), 2u);
  const Media& a = s.media[0];
  EXPECT_EQ(a.media, "audio");
  EXPECT_EQ(a.port, 54321);
  EXPECT_FALSE(a.port_count.has_value());
  EXPECT_EQ(a.proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(a.formats, (std::vector<std::string>{"111", "63", "9", "0", "8", "13", "110", "126"}));
  ASSERT_EQ(a.connections.size(), 1u);
  EXPECT_EQ(a.connections[0].address, "192.0.2.10");
  EXPECT_EQ(a.attributes_named("candidate").size(), 3u);
  EXPECT_EQ(a.attributes_named("extmap").size(), 4u);
  EXPECT_EQ(a.attribute("mid")->value, "0");
  EXPECT_EQ(a.attribute("setup")->value, "actpass");
  EXPECT_EQ(direction(s, a), Direction::SendRecv);

  const auto opus = rtpmap(a, 111);
  ASSERT_TRUE(opus.has_value());
  EXPECT_EQ(opus->encoding, "opus");
  EXPECT_EQ(opus->clock_rate, 48000u);
  EXPECT_EQ(opus->channels, 2u);
  EXPECT_EQ(fmtp(a, 111).value_or(""), "minptime=10;useinbandfec=1");
  EXPECT_EQ(rtpmap(a, 126)->encoding, "telephone-event");
  EXPECT_EQ(rtpmap(a, 126)->clock_rate, 8000u);
  EXPECT_FALSE(fmtp(a, 0).has_value());
  EXPECT_FALSE(rtpmap(a, 100).has_value());  // dynamic, not mapped

  const Media& v = s.media[1];
  EXPECT_EQ(v.media, "video");
  EXPECT_EQ(v.port, 9);
  ASSERT_EQ(v.bandwidths.size(), 1u);
  EXPECT_EQ(v.bandwidths[0].type, "AS");
  EXPECT_EQ(v.bandwidths[0].value, 2500u);
  EXPECT_EQ(fmtp(v, 102).value_or(""),
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f");
  EXPECT_EQ(v.attributes_named("rtcp-fb").size(), 5u);
  EXPECT_TRUE(is_unspecified_address(connection(s, v)->address));
}

TEST(Sdp, PlainOfferRoundTripsAndKeepsUnmodelledLines) {
  const Session s = must(kPlainOffer);
  EXPECT_EQ(serialize(s), kPlainOffer);
  EXPECT_EQ(s.name, "Asterisk PBX 18.10.0");
  ASSERT_TRUE(s.connection.has_value());
  EXPECT_EQ(s.connection->address, "203.0.113.5");
  ASSERT_EQ(s.other_lines.size(), 2u);
  EXPECT_EQ(s.other_lines[0].type, 'i');
  EXPECT_EQ(s.other_lines[1].type, 'k');
  ASSERT_EQ(s.timings[0].repeats.size(), 1u);
  EXPECT_EQ(s.timings[0].repeats[0], "7d 1h 0 25h");
  const Media& m = s.media.at(0);
  EXPECT_EQ(connection(s, m), &*s.connection);  // inherited from the session
  // Static payload types resolve without a=rtpmap (RFC 3551 table 4).
  EXPECT_EQ(rtpmap(m, 0)->encoding, "PCMU");
  EXPECT_EQ(rtpmap(m, 8)->encoding, "PCMA");
  EXPECT_EQ(rtpmap(m, 8)->clock_rate, 8000u);
  EXPECT_EQ(fmtp(m, 101).value_or(""), "0-16");
  EXPECT_EQ(m.attribute("ptime")->value, "20");
}

TEST(Sdp, LfOnlyInputParsesAndSerializesWithCrlf) {
  const Session s = must(lf_only(kChromeOffer));
  EXPECT_EQ(serialize(s), kChromeOffer);
  const Session p = must(lf_only(kPlainOffer));
  EXPECT_EQ(serialize(p), kPlainOffer);
}

TEST(Sdp, ToleratesTrailingEmptyLinesMissingFinalNewlineAndNoTiming) {
  EXPECT_EQ(serialize(must(kMinimal + "\r\n\r\n")), kMinimal);
  EXPECT_EQ(serialize(must(kMinimal.substr(0, kMinimal.size() - 2))), kMinimal);
  const Session s = must("v=0\no=- 1 1 IN IP4 192.0.2.1\ns=\nm=audio 0 RTP/AVP 0\n");
  EXPECT_TRUE(s.timings.empty());
  EXPECT_EQ(s.name, "");
  EXPECT_EQ(serialize(s), "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=\r\nm=audio 0 RTP/AVP 0\r\n");
}

TEST(Sdp, UnknownLettersAreKeptInTheirSection) {
  const Session s = must(kMinimal +
                         "x=session thing\r\nm=audio 1 RTP/AVP 0\r\ny=media thing\r\n"
                         "i=media title\r\na=sendrecv\r\n");
  ASSERT_EQ(s.other_lines.size(), 1u);
  EXPECT_EQ(s.other_lines[0].type, 'x');
  ASSERT_EQ(s.media[0].other_lines.size(), 2u);
  const std::string out = serialize(s);
  // i= goes right after m= (RFC 8866 order); the unknown line before the attributes.
  EXPECT_NE(out.find("x=session thing\r\nm=audio 1 RTP/AVP 0\r\ni=media title\r\n"
                     "y=media thing\r\na=sendrecv\r\n"),
            std::string::npos)
      << out;
  EXPECT_EQ(serialize(must(out)), out);
}

TEST(Sdp, RejectedLineWithoutFormatIsTolerated) {
  const Session s = must(kMinimal + "m=video 0 RTP/AVP\r\n");
  EXPECT_TRUE(s.media[0].formats.empty());
  EXPECT_EQ(serialize(s), kMinimal + "m=video 0 RTP/AVP\r\n");
}

TEST(Sdp, PortCountAndIpv6) {
  const Session s = must(
      "v=0\r\no=alice 2890844526 2890844527 IN IP6 2001:db8::1\r\ns=-\r\n"
      "c=IN IP6 2001:db8::1\r\nt=0 0\r\nm=audio 49170/2 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n");
  EXPECT_EQ(s.origin.addrtype, "IP6");
  EXPECT_EQ(s.media[0].port, 49170);
  EXPECT_EQ(s.media[0].port_count.value_or(0), 2u);
  EXPECT_EQ(rtpmap(s.media[1], 31)->encoding, "H261");
  EXPECT_NE(serialize(s).find("m=audio 49170/2 RTP/AVP 0\r\n"), std::string::npos);
}

TEST(Sdp, DirectionSessionAndMediaLevel) {
  Session s = must(kMinimal +
                   "a=sendonly\r\nm=audio 1 RTP/AVP 0\r\nm=audio 2 RTP/AVP 0\r\n"
                   "a=inactive\r\nm=audio 3 RTP/AVP 0\r\na=recvonly\r\n");
  EXPECT_EQ(direction(s, s.media[0]), Direction::SendOnly);  // inherited
  EXPECT_EQ(direction(s, s.media[1]), Direction::Inactive);
  EXPECT_EQ(direction(s, s.media[2]), Direction::RecvOnly);
  set_direction(s.media[1], Direction::SendRecv);
  EXPECT_EQ(direction(s, s.media[1]), Direction::SendRecv);
  EXPECT_EQ(s.media[1].attributes.size(), 1u);
  set_direction(s.media[0], Direction::RecvOnly);
  EXPECT_EQ(s.media[0].attributes.size(), 1u);
  EXPECT_EQ(direction(s, s.media[0]), Direction::RecvOnly);
  EXPECT_EQ(direction(must(kMinimal + "m=audio 1 RTP/AVP 0\r\n"),
                      must(kMinimal + "m=audio 1 RTP/AVP 0\r\n").media[0]),
            Direction::SendRecv);  // default

  EXPECT_EQ(reverse(Direction::SendOnly), Direction::RecvOnly);
  EXPECT_EQ(reverse(Direction::RecvOnly), Direction::SendOnly);
  EXPECT_EQ(reverse(Direction::Inactive), Direction::Inactive);
  EXPECT_EQ(without_receive(Direction::SendRecv), Direction::SendOnly);
  EXPECT_EQ(without_receive(Direction::RecvOnly), Direction::Inactive);
  EXPECT_EQ(without_receive(Direction::SendOnly), Direction::SendOnly);
  EXPECT_EQ(to_string(Direction::Inactive), "inactive");
  EXPECT_TRUE(is_unspecified_address("0.0.0.0"));
  EXPECT_TRUE(is_unspecified_address("::"));
  EXPECT_FALSE(is_unspecified_address("0.0.0.1"));
}

TEST(Sdp, AttributeEditing) {
  Session s = must(kPlainOffer);
  Media& m = s.media[0];
  EXPECT_EQ(m.remove_attributes("PTIME"), 1u);
  EXPECT_FALSE(m.has_attribute("ptime"));
  m.add_attribute("ptime", "30");
  m.add_flag("rtcp-mux");
  s.add_flag("ice-lite");
  const Session back = must(serialize(s));
  EXPECT_EQ(back.media[0].attribute("ptime")->value, "30");
  EXPECT_TRUE(back.media[0].has_attribute("rtcp-mux"));
  EXPECT_TRUE(back.has_attribute("ice-lite"));
  EXPECT_EQ(s.remove_attributes("ice-lite"), 1u);
}

TEST(Sdp, RtpmapAndPayloadTypeParsing) {
  EXPECT_EQ(payload_type("0").value_or(-1), 0);
  EXPECT_EQ(payload_type("127").value_or(-1), 127);
  EXPECT_FALSE(payload_type("128").has_value());
  EXPECT_FALSE(payload_type("webrtc-datachannel").has_value());
  EXPECT_FALSE(payload_type("").has_value());
  EXPECT_FALSE(payload_type("1000").has_value());
  EXPECT_FALSE(parse_rtpmap("111").has_value());
  EXPECT_FALSE(parse_rtpmap("111 opus").has_value());
  EXPECT_FALSE(parse_rtpmap("111 opus/0").has_value());
  EXPECT_FALSE(parse_rtpmap("111 /8000").has_value());
  EXPECT_FALSE(parse_rtpmap("111 opus/48000/0").has_value());
  EXPECT_FALSE(parse_rtpmap("300 opus/48000").has_value());
  EXPECT_EQ(parse_rtpmap("9 G722/8000")->channels, 1u);
  EXPECT_FALSE(static_rtpmap(96).has_value());
  EXPECT_EQ(static_rtpmap(9)->clock_rate, 8000u);  // RFC 3551 s.4.5.2
  // A malformed rtpmap is skipped; the static mapping still answers.
  const Session s = must(kMinimal +
                         "m=audio 1 RTP/AVP 0 96\r\na=rtpmap:96 broken\r\n"
                         "a=rtpmap:0 PCMU/8000\r\n");
  EXPECT_FALSE(rtpmap(s.media[0], 96).has_value());
  EXPECT_EQ(rtpmap(s.media[0], 0)->encoding, "PCMU");
}

// ---- rejections: each names its line and defect ----

TEST(SdpReject, EmptyAndBlank) {
  rejects("", SdpErrc::Empty, "empty");
  rejects("\r\n\r\n", SdpErrc::Empty, "empty");
}

TEST(SdpReject, HeadOrder) {
  rejects("o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\ns=-\r\n", SdpErrc::MissingLine, "line 1: expected v=");
  rejects("v=0\r\ns=-\r\no=- 1 1 IN IP4 1.2.3.4\r\n", SdpErrc::MissingLine, "line 2: expected o=");
  rejects("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nt=0 0\r\n", SdpErrc::MissingLine,
          "line 3: expected s=");
  rejects("v=0\r\n", SdpErrc::MissingLine, "o= missing");
  rejects("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n", SdpErrc::MissingLine, "s= missing");
}

TEST(SdpReject, Version) {
  rejects("v=1\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n", SdpErrc::BadVersion, "line 1: v= must be 0");
}

TEST(SdpReject, Duplicates) {
  rejects(kMinimal + "v=0\r\n", SdpErrc::DuplicateLine, "line 5: second v=");
  rejects(kMinimal + "o=- 1 1 IN IP4 1.2.3.4\r\n", SdpErrc::DuplicateLine, "line 5: second o=");
  rejects(kMinimal + "s=again\r\n", SdpErrc::DuplicateLine, "line 5: second s=");
  rejects(kMinimal + "c=IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.5\r\n", SdpErrc::DuplicateLine,
          "line 6: second session-level c=");
}

TEST(SdpReject, BadLines) {
  rejects(kMinimal + "garbage\r\n", SdpErrc::BadLine, "line 5: expected <type>=<value>");
  rejects(kMinimal + "A=foo\r\n", SdpErrc::BadLine, "line 5: expected <type>=<value>");
  rejects(kMinimal + "a =foo\r\n", SdpErrc::BadLine, "line 5");
  rejects(kMinimal + "a\r\n", SdpErrc::BadLine, "line 5");
  rejects(kMinimal + "\r\na=x\r\n", SdpErrc::BadLine, "line 5: empty line");
  rejects(kMinimal + "a=x\ry\r\n", SdpErrc::BadLine, "line 5: control character");
  rejects(kMinimal + std::string("a=x\0y\r\n", 7), SdpErrc::BadLine, "line 5: control character");
}

TEST(SdpReject, Origin) {
  rejects("v=0\r\no=- 1 1 IN IP4\r\ns=-\r\n", SdpErrc::BadOrigin,
          "line 2: o= needs <username> <sess-id> <sess-version>");
  rejects("v=0\r\no=- abc 1 IN IP4 1.2.3.4\r\ns=-\r\n", SdpErrc::BadOrigin,
          "line 2: o= sess-id and sess-version must be decimal");
  rejects("v=0\r\no=- 1 -1 IN IP4 1.2.3.4\r\ns=-\r\n", SdpErrc::BadOrigin, "line 2");
}

TEST(SdpReject, Connection) {
  rejects(kMinimal + "c=IN IP4\r\n", SdpErrc::BadConnection,
          "line 5: c= needs <nettype> <addrtype> <connection-address>");
  rejects(kMinimal + "m=audio 1 RTP/AVP 0\r\nc=IN IP4 1.2.3.4 extra\r\n", SdpErrc::BadConnection,
          "line 6: c= needs");
}

TEST(SdpReject, Bandwidth) {
  rejects(kMinimal + "b=AS\r\n", SdpErrc::BadBandwidth, "line 5: b= needs <bwtype>:<bandwidth>");
  rejects(kMinimal + "b=AS:lots\r\n", SdpErrc::BadBandwidth, "line 5: b= needs");
  rejects(kMinimal + "b=:64\r\n", SdpErrc::BadBandwidth, "line 5: b= needs");
  rejects(kMinimal + "b=AS:99999999999999999999999\r\n", SdpErrc::BadBandwidth, "line 5");
}

TEST(SdpReject, Timing) {
  rejects("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0\r\n", SdpErrc::BadTiming,
          "line 4: t= needs <start> <stop>");
  rejects("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=now later\r\n", SdpErrc::BadTiming,
          "line 4: t= needs");
  rejects("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nr=7d 1h 0\r\n", SdpErrc::BadTiming,
          "line 4: r= without a preceding t=");
}

TEST(SdpReject, Media) {
  rejects(kMinimal + "m=audio 1 RTP/AVP\r\n", SdpErrc::BadMedia,
          "line 5: m= needs <media> <port> <proto> <fmt>");
  rejects(kMinimal + "m=audio\r\n", SdpErrc::BadMedia, "line 5: m= needs");
  rejects(kMinimal + "m=audio 1\r\n", SdpErrc::BadMedia, "line 5: m= needs");
  rejects(kMinimal + "m=audio 70000 RTP/AVP 0\r\n", SdpErrc::BadMedia,
          "line 5: m= port must be 0..65535");
  rejects(kMinimal + "m=audio -1 RTP/AVP 0\r\n", SdpErrc::BadMedia, "line 5: m= port");
  rejects(kMinimal + "m=audio x RTP/AVP 0\r\n", SdpErrc::BadMedia, "line 5: m= port");
  rejects(kMinimal + "m=audio 1/0 RTP/AVP 0\r\n", SdpErrc::BadMedia,
          "line 5: m= number of ports must be 1..65535");
  rejects(kMinimal + "m=audio 1/99999999 RTP/AVP 0\r\n", SdpErrc::BadMedia,
          "line 5: m= number of ports");
  rejects(kMinimal + "m=audio 65000/1000 RTP/AVP 0\r\n", SdpErrc::BadMedia,
          "line 5: m= port range goes past 65535");
  rejects(kMinimal + "m=au(dio 1 RTP/AVP 0\r\n", SdpErrc::BadMedia,
          "line 5: m= media is not a token");
}

TEST(SdpReject, Attribute) {
  rejects(kMinimal + "a=\r\n", SdpErrc::BadAttribute, "line 5: a= needs an attribute name");
  rejects(kMinimal + "a=:value\r\n", SdpErrc::BadAttribute, "line 5: a= needs an attribute name");
  rejects(kMinimal + "a=bad name:x\r\n", SdpErrc::BadAttribute,
          "line 5: a= attribute name is not a token");
}

TEST(SdpReject, SessionLinesInsideMedia) {
  rejects(kMinimal + "m=audio 1 RTP/AVP 0\r\nt=0 0\r\n", SdpErrc::MisplacedLine,
          "line 6: t= is not allowed inside an m= section");
  rejects(kMinimal + "m=audio 1 RTP/AVP 0\r\nv=0\r\n", SdpErrc::MisplacedLine, "line 6: v=");
  rejects(kMinimal + "m=audio 1 RTP/AVP 0\r\nu=http://x\r\n", SdpErrc::MisplacedLine, "line 6: u=");
}

TEST(SdpLimits, Size) {
  ParseOptions small;
  small.max_size = 40;
  rejects(kMinimal + "a=0123456789\r\n", SdpErrc::TooLarge, "larger than 40 bytes", small);
  rejects(kMinimal + std::string(70000, 'x'), SdpErrc::TooLarge, "larger than 65536 bytes");
}

TEST(SdpLimits, Lines) {
  std::string many = kMinimal;
  for (int i = 0; i < 5000; ++i) many += "a=x\n";
  rejects(many, SdpErrc::TooLarge, "more than 4096 lines");
  ParseOptions opts;
  opts.max_lines = 5;
  rejects(kMinimal + "a=1\r\na=2\r\n", SdpErrc::TooLarge, "more than 5 lines", opts);
  // Lots of empty lines count too (no unbounded vector growth on "\n\n\n...").
  rejects(kMinimal + std::string(10000, '\n'), SdpErrc::TooLarge, "more than 4096 lines");
}

TEST(SdpLimits, MediaSections) {
  std::string s64 = kMinimal, s65 = kMinimal;
  for (int i = 0; i < 64; ++i) s64 += "m=audio 0 RTP/AVP 0\r\n";
  s65 = s64 + "m=audio 0 RTP/AVP 0\r\n";
  EXPECT_EQ(must(s64).media.size(), 64u);
  rejects(s65, SdpErrc::TooManyMedia, "line 69: more than 64 m= sections");
}

TEST(SdpLimits, Formats) {
  std::string fmts;
  for (int i = 0; i < 128; ++i) fmts += " " + std::to_string(i);
  EXPECT_EQ(must(kMinimal + "m=audio 1 RTP/AVP" + fmts + "\r\n").media[0].formats.size(), 128u);
  rejects(kMinimal + "m=audio 1 RTP/AVP" + fmts + " 0\r\n", SdpErrc::BadMedia,
          "m= lists more than 128 formats");
}

TEST(SdpLimits, ErrorCategory) {
  const std::error_code ec = SdpErrc::BadMedia;
  EXPECT_STREQ(ec.category().name(), "sip.sdp");
  EXPECT_EQ(ec.message(), "malformed m= line");
}

}  // namespace
}  // namespace sipws::sdp
