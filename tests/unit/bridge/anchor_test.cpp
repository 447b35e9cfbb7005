// MediaAnchor, the proxy's forward hook: which calls it anchors, what SDP each end gets through
// a whole call (offer, answer, re-INVITE for hold, UPDATE from the other end, BYE), the failure
// paths (no common codec, rejected or cancelled calls) and the BYEs of a media timeout.
// Real parser, real SDP model, real sockets for the media sessions (127.0.0.1).

#include "bridge/anchor.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/udp.hpp>
#include <chrono>

#include "sip/parser.hpp"
#include "sip/sdp.hpp"

namespace sipws::bridge {
namespace {

namespace asio = boost::asio;
using sip::Message;

std::string chrome_offer(const std::string& fingerprint,
                         const std::string& codecs = "111 0 8 9 101",
                         const std::string& direction = "sendrecv") {
  return "v=0\r\n"
         "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
         "s=-\r\n"
         "t=0 0\r\n"
         "a=group:BUNDLE 0\r\n"
         "a=msid-semantic: WMS\r\n"
         "m=audio 9 UDP/TLS/RTP/SAVPF " +
         codecs +
         "\r\n"
         "c=IN IP4 0.0.0.0\r\n"
         "a=rtcp:9 IN IP4 0.0.0.0\r\n"
         "a=candidate:1 1 udp 2122260223 192.0.2.7 54321 typ host\r\n"
         "a=ice-ufrag:abcd\r\n"
         "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
         "a=ice-options:trickle\r\n"
         "a=fingerprint:sha-256 " +
         fingerprint +
         "\r\n"
         "a=setup:actpass\r\n"
         "a=mid:0\r\n"
         "a=" +
         direction +
         "\r\n"
         "a=rtcp-mux\r\n"
         "a=rtpmap:111 opus/48000/2\r\n"
         "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
         "a=rtpmap:0 PCMU/8000\r\n"
         "a=rtpmap:8 PCMA/8000\r\n"
         "a=rtpmap:9 G722/8000\r\n"
         "a=rtpmap:101 telephone-event/8000\r\n"
         "a=ssrc:1234 cname:xyz\r\n";
}

std::string chrome_answer(const std::string& fingerprint) {
  return "v=0\r\n"
         "o=- 99 2 IN IP4 127.0.0.1\r\n"
         "s=-\r\n"
         "t=0 0\r\n"
         "a=group:BUNDLE 0\r\n"
         "m=audio 9 UDP/TLS/RTP/SAVPF 8\r\n"
         "c=IN IP4 0.0.0.0\r\n"
         "a=ice-ufrag:wxyz\r\n"
         "a=ice-pwd:zyxwvutsrqponmlkjihgfedc\r\n"
         "a=fingerprint:sha-256 " +
         fingerprint +
         "\r\n"
         "a=setup:active\r\n"
         "a=mid:0\r\n"
         "a=sendrecv\r\n"
         "a=rtcp-mux\r\n"
         "a=rtpmap:8 PCMA/8000\r\n";
}

std::string phone_sdp(int port, const std::string& codecs,
                      const std::string& direction = "sendrecv", int version = 1) {
  std::string s =
      "v=0\r\n"
      "o=phone 1 " +
      std::to_string(version) +
      " IN IP4 127.0.0.1\r\n"
      "s=-\r\n"
      "c=IN IP4 127.0.0.1\r\n"
      "t=0 0\r\n"
      "m=audio " +
      std::to_string(port) + " RTP/AVP " + codecs + "\r\n";
  for (const auto& [pt, name] :
       {std::pair{"0", "PCMU/8000"}, {"8", "PCMA/8000"}, {"101", "telephone-event/8000"}}) {
    if (codecs.find(pt) != std::string::npos)
      s += std::string("a=rtpmap:") + pt + " " + name + "\r\n";
  }
  s += "a=" + direction + "\r\n";
  return s;
}

/// A request of the call "c1": caller tag "a1" (From), callee tag "b1" once in dialog.
Message request(const std::string& method, const std::string& body, bool from_caller = true,
                bool in_dialog = false, int cseq = 1) {
  std::string from = from_caller ? "<sip:alice@localhost>;tag=a1" : "<sip:bob@localhost>;tag=b1";
  std::string to = from_caller ? "<sip:bob@localhost>" : "<sip:alice@localhost>;tag=a1";
  if (in_dialog && from_caller) to += ";tag=b1";
  std::string m = method +
                  " sip:bob@127.0.0.1:5070 SIP/2.0\r\n"
                  "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-x" +
                  std::to_string(cseq) +
                  "\r\n"
                  "Max-Forwards: 70\r\n"
                  "From: " +
                  from +
                  "\r\n"
                  "To: " +
                  to +
                  "\r\n"
                  "Call-ID: c1\r\n"
                  "CSeq: " +
                  std::to_string(cseq) + " " + method +
                  "\r\n"
                  "Contact: <sip:" +
                  (from_caller ? "alice@abc.invalid;transport=ws" : "bob@127.0.0.1:5070") + ">\r\n";
  if (!body.empty()) m += "Content-Type: application/sdp\r\n";
  m += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  auto msg = sip::parse(m);
  EXPECT_TRUE(msg.has_value()) << m;
  return *msg;
}

Message response(const Message& req, int status, const std::string& body) {
  Message rsp = sip::make_response(req, status);
  if (req.to().tag().empty()) rsp.set_to_tag(req.from().tag() == "a1" ? "b1" : "a1");
  rsp.append(sip::HeaderId::Contact, req.from().tag() == "a1"
                                         ? "<sip:bob@127.0.0.1:5070>"
                                         : "<sip:alice@abc.invalid;transport=ws>");
  if (!body.empty()) rsp.set_body(body, "application/sdp");
  auto m = sip::parse(rsp.serialize());
  EXPECT_TRUE(m.has_value());
  return *m;
}

sdp::Session parsed(const Message& m) {
  auto s = sdp::parse(m.body());
  EXPECT_TRUE(s.has_value()) << m.body();
  return s ? *s : sdp::Session{};
}

/// The value of attribute `name` of `m`, "" if absent.
std::string attr_value(const sdp::Media& m, std::string_view name) {
  const auto* a = m.attribute(name);
  return a ? a->value : std::string();
}

/// The telephone-event payload types of the first m= line of `s`.
std::vector<int> dtmf_pts_of(const sdp::Session& s) {
  return s.media.empty() ? std::vector<int>{} : telephone_event_pts(s.media[0]);
}

bool has_attr(const sdp::Session& s, const std::string& name) {
  if (s.attribute(name)) return true;
  for (const auto& m : s.media) {
    if (m.attribute(name)) return true;
  }
  return false;
}

class AnchorTest : public ::testing::Test {
 protected:
  AnchorTest() {
    cfg.address = asio::ip::make_address("127.0.0.1");
    cfg.port_min = 42000;
    cfg.port_max = 42099;
    cfg.media_timeout = Millis(0);
    browser_fp = DtlsIdentity::generate()->fingerprint_sha256();
  }
  std::unique_ptr<MediaAnchor> make(AnchorMode mode) {
    return std::make_unique<MediaAnchor>(io, cfg, mode,
                                         [this](const proxy::OwnRequest& r, const Destination& d) {
                                           originated.emplace_back(r, d);
                                         });
  }

  asio::io_context io;
  BridgeConfig cfg;
  std::string browser_fp;
  Source ws_src{Protocol::Ws,
                {asio::ip::make_address("127.0.0.1"), 40000},
                {asio::ip::make_address("127.0.0.1"), 8080},
                7};
  Source udp_src{Protocol::Udp,
                 {asio::ip::make_address("127.0.0.1"), 5070},
                 {asio::ip::make_address("127.0.0.1"), 5060},
                 kNoFlow};
  Destination udp_dest{Protocol::Udp, {asio::ip::make_address("127.0.0.1"), 5070}, kNoFlow, {}};
  Destination ws_dest{Protocol::Ws, {asio::ip::make_address("127.0.0.1"), 40000}, 7, {}};
  std::vector<std::pair<proxy::OwnRequest, Destination>> originated;
};

TEST_F(AnchorTest, BrowserCallsPhoneThenHoldsThenHangsUp) {
  auto anchor = make(AnchorMode::Auto);
  Message invite = request("INVITE", chrome_offer(browser_fp));
  ASSERT_EQ(anchor->on_forward_request(invite, ws_src, udp_dest, "br1"), 0);
  EXPECT_EQ(anchor->active_sessions(), 1u);
  // The phone is offered plain RTP on the bridge: G.711/G.722/telephone-event, nothing WebRTC.
  sdp::Session to_phone = parsed(invite);
  ASSERT_EQ(to_phone.media.size(), 1u);
  EXPECT_EQ(to_phone.media[0].proto, "RTP/AVP");
  EXPECT_GE(to_phone.media[0].port, 42000);
  EXPECT_LE(to_phone.media[0].port, 42099);
  EXPECT_EQ(to_phone.media[0].formats, (std::vector<std::string>{"0", "8", "9", "101"}));
  for (const char* a :
       {"fingerprint", "ice-ufrag", "ice-pwd", "candidate", "setup", "rtcp-mux", "ssrc"}) {
    EXPECT_FALSE(has_attr(to_phone, a)) << a;
  }
  const std::string first_version = to_phone.origin.sess_version;

  // The phone answers PCMU: the browser gets the bridge's ICE-lite DTLS-SRTP side.
  Message ok = response(invite, 200, phone_sdp(6000, "0"));
  anchor->on_forward_response(ok, "br1");
  sdp::Session to_browser = parsed(ok);
  ASSERT_EQ(to_browser.media.size(), 1u);
  EXPECT_EQ(to_browser.media[0].proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_TRUE(to_browser.has_attribute("ice-lite"));
  EXPECT_EQ(attr_value(to_browser.media[0], "setup"), "passive");
  EXPECT_EQ(attr_value(to_browser.media[0], "mid"), "0");
  EXPECT_TRUE(to_browser.media[0].has_attribute("rtcp-mux"));
  EXPECT_EQ(to_browser.media[0].formats, (std::vector<std::string>{"0"}));
  auto session = anchor->session("c1");
  ASSERT_NE(session, nullptr);
  EXPECT_EQ(to_browser.media[0].port, session->leg(Side::A).port());
  EXPECT_EQ(to_phone.media[0].port, session->leg(Side::B).port());

  // Hold from the browser (re-INVITE, sendonly): the phone sees sendonly and a newer o= version.
  Message hold =
      request("INVITE", chrome_offer(browser_fp, "111 0 8 9 101", "sendonly"), true, true, 2);
  ASSERT_EQ(anchor->on_forward_request(hold, ws_src, udp_dest, "br2"), 0);
  sdp::Session held = parsed(hold);
  EXPECT_EQ(sdp::direction(held, held.media[0]), sdp::Direction::SendOnly);
  EXPECT_EQ(held.media[0].port, to_phone.media[0].port);  // same leg, same port
  EXPECT_GT(std::stoull(held.origin.sess_version), std::stoull(first_version));
  Message hold_ok = response(hold, 200, phone_sdp(6000, "0", "recvonly", 2));
  anchor->on_forward_response(hold_ok, "br2");
  sdp::Session held_answer = parsed(hold_ok);
  EXPECT_EQ(sdp::direction(held_answer, held_answer.media[0]), sdp::Direction::RecvOnly);
  EXPECT_EQ(anchor->session("c1"), session);  // the same media session goes on

  // BYE ends the media.
  Message bye = request("BYE", "", false, true, 3);
  EXPECT_EQ(anchor->on_forward_request(bye, udp_src, ws_dest, "br3"), 0);
  EXPECT_EQ(anchor->active_sessions(), 0u);
  EXPECT_TRUE(session->closed());
}

TEST_F(AnchorTest, PhoneCallsBrowserAndLaterSendsAnUpdate) {
  auto anchor = make(AnchorMode::Auto);
  Message invite = request("INVITE", phone_sdp(6000, "8 101"));
  ASSERT_EQ(anchor->on_forward_request(invite, udp_src, ws_dest, "br1"), 0);
  sdp::Session to_browser = parsed(invite);
  EXPECT_EQ(to_browser.media[0].proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_EQ(attr_value(to_browser.media[0], "setup"), "actpass");
  EXPECT_EQ(to_browser.media[0].formats, (std::vector<std::string>{"8", "101"}));

  Message ok = response(invite, 200, chrome_answer(browser_fp));
  anchor->on_forward_response(ok, "br1");
  sdp::Session to_phone = parsed(ok);
  EXPECT_EQ(to_phone.media[0].proto, "RTP/AVP");
  EXPECT_EQ(to_phone.connection->address, "127.0.0.1");
  EXPECT_EQ(to_phone.media[0].formats, (std::vector<std::string>{"8"}));
  EXPECT_FALSE(has_attr(to_phone, "fingerprint"));

  // An UPDATE from the callee (the browser here: From tag b1) is an offer the other way.
  Message update = request("UPDATE", chrome_offer(browser_fp, "0 8"), false, true, 1);
  ASSERT_EQ(anchor->on_forward_request(update, ws_src, udp_dest, "br2"), 0);
  sdp::Session upd = parsed(update);
  EXPECT_EQ(upd.media[0].proto, "RTP/AVP");
  EXPECT_EQ(upd.media[0].port, to_phone.media[0].port);
  EXPECT_EQ(anchor->active_sessions(), 1u);
}

TEST_F(AnchorTest, LateOfferFromAPhoneIsAnsweredInTheAck) {
  // A delayed-offer PBX: INVITE without SDP, the browser offers in its 200, the phone answers
  // in the ACK (RFC 3261 s.13.2.1).
  auto anchor = make(AnchorMode::Auto);
  Message invite = request("INVITE", "");
  ASSERT_EQ(anchor->on_forward_request(invite, udp_src, ws_dest, "br1"), 0);
  EXPECT_TRUE(invite.body().empty());
  ASSERT_EQ(anchor->active_sessions(), 1u);
  auto session = anchor->session("c1");

  Message ok = response(invite, 200, chrome_offer(browser_fp));
  anchor->on_forward_response(ok, "br1");
  sdp::Session to_phone = parsed(ok);
  ASSERT_EQ(to_phone.media.size(), 1u);
  EXPECT_EQ(to_phone.media[0].proto, "RTP/AVP");
  EXPECT_EQ(to_phone.media[0].port, session->leg(Side::A).port());
  EXPECT_EQ(to_phone.media[0].formats, (std::vector<std::string>{"0", "8", "9", "101"}));
  EXPECT_FALSE(has_attr(to_phone, "fingerprint"));

  Message ack = request("ACK", phone_sdp(6000, "0"), true, true, 1);
  anchor->on_forward_ack(ack, udp_src, ws_dest);
  sdp::Session to_browser = parsed(ack);
  EXPECT_EQ(to_browser.media[0].proto, "UDP/TLS/RTP/SAVPF");
  EXPECT_TRUE(to_browser.has_attribute("ice-lite"));
  EXPECT_EQ(attr_value(to_browser.media[0], "setup"), "passive");  // the browser offered actpass
  EXPECT_EQ(to_browser.media[0].port, session->leg(Side::B).port());
  EXPECT_EQ(to_browser.media[0].formats, (std::vector<std::string>{"0"}));
  EXPECT_EQ(anchor->active_sessions(), 1u);
}

TEST_F(AnchorTest, NoCommonCodecIs488AndLeavesNoSession) {
  auto anchor = make(AnchorMode::Auto);
  Message invite = request("INVITE", chrome_offer(browser_fp, "111"));
  EXPECT_EQ(anchor->on_forward_request(invite, ws_src, udp_dest, "br1"), 488);
  EXPECT_EQ(anchor->active_sessions(), 0u);
}

TEST_F(AnchorTest, OnlyMixedCallsAreAnchoredInAutoModeAndNoneInNever) {
  auto anchor = make(AnchorMode::Auto);
  const std::string webrtc = chrome_offer(browser_fp);
  Message browser_to_browser = request("INVITE", webrtc);
  EXPECT_EQ(anchor->on_forward_request(browser_to_browser, ws_src, ws_dest, "br1"), 0);
  EXPECT_EQ(browser_to_browser.body(), webrtc);
  Message phone_to_phone = request("INVITE", phone_sdp(6000, "0"));
  EXPECT_EQ(anchor->on_forward_request(phone_to_phone, udp_src, udp_dest, "br2"), 0);
  EXPECT_EQ(phone_to_phone.body(), phone_sdp(6000, "0"));
  EXPECT_EQ(anchor->active_sessions(), 0u);

  auto never = make(AnchorMode::Never);
  Message mixed = request("INVITE", webrtc);
  EXPECT_EQ(never->on_forward_request(mixed, ws_src, udp_dest, "br3"), 0);
  EXPECT_EQ(mixed.body(), webrtc);
  EXPECT_EQ(never->active_sessions(), 0u);
}

TEST_F(AnchorTest, AlwaysAnchorsPlainCallsToo) {
  auto anchor = make(AnchorMode::Always);
  Message invite = request("INVITE", phone_sdp(6000, "0"));
  ASSERT_EQ(anchor->on_forward_request(invite, udp_src, udp_dest, "br1"), 0);
  sdp::Session out = parsed(invite);
  EXPECT_EQ(out.connection->address, "127.0.0.1");
  EXPECT_NE(out.media[0].port, 6000);
  EXPECT_EQ(anchor->active_sessions(), 1u);
}

TEST_F(AnchorTest, AFailedOrCancelledCallFreesItsMedia) {
  auto anchor = make(AnchorMode::Auto);
  for (int status : {486, 487}) {
    Message invite = request("INVITE", chrome_offer(browser_fp));
    ASSERT_EQ(anchor->on_forward_request(invite, ws_src, udp_dest, "br-fail"), 0);
    auto session = anchor->session("c1");
    ASSERT_NE(session, nullptr);
    anchor->on_branch_end("br-fail", status);
    EXPECT_EQ(anchor->active_sessions(), 0u) << status;
    EXPECT_TRUE(session->closed());
  }
}

TEST_F(AnchorTest, MediaTimeoutSendsByeToBothEnds) {
  cfg.media_timeout = Millis(100);
  auto anchor = make(AnchorMode::Auto);
  Message invite = request("INVITE", chrome_offer(browser_fp));
  ASSERT_EQ(anchor->on_forward_request(invite, ws_src, udp_dest, "br1"), 0);
  Message ok = response(invite, 200, phone_sdp(6000, "0"));
  anchor->on_forward_response(ok, "br1");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (originated.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    io.run_one_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(originated.size(), 2u);
  EXPECT_EQ(anchor->active_sessions(), 0u);
  // To the caller over its flow, as if the callee hung up; and to the callee.
  const auto& [to_caller, caller_dest] = originated[0];
  EXPECT_EQ(caller_dest.flow, 7u);
  EXPECT_EQ(to_caller.method, "BYE");
  EXPECT_EQ(to_caller.uri, "sip:alice@abc.invalid;transport=ws");
  EXPECT_EQ(to_caller.from, "<sip:bob@localhost>;tag=b1");
  EXPECT_EQ(to_caller.to, "<sip:alice@localhost>;tag=a1");
  ASSERT_EQ(to_caller.headers.size(), 1u);
  EXPECT_EQ(to_caller.headers[0].first, "Reason");
  const auto& [to_callee, callee_dest] = originated[1];
  EXPECT_EQ(callee_dest.endpoint.port, 5070);
  EXPECT_EQ(to_callee.method, "BYE");
  EXPECT_EQ(to_callee.uri, "sip:bob@127.0.0.1:5070");
  EXPECT_EQ(to_callee.cseq, 2u);
}

/// An RTP packet (RFC 3550) of payload type `pt`: an RFC 4733 event when `event` >= 0, else
/// 160 bytes of audio.
std::vector<std::uint8_t> rtp(int pt, std::uint16_t seq, std::uint32_t ts, int event = -1,
                              bool end = false, std::uint16_t duration = 0) {
  std::vector<std::uint8_t> p(event < 0 ? 12 + 160 : 12 + 4, 0xff);
  p[0] = 0x80;
  p[1] = static_cast<std::uint8_t>(pt);
  p[2] = static_cast<std::uint8_t>(seq >> 8);
  p[3] = static_cast<std::uint8_t>(seq);
  for (int i = 0; i < 4; ++i) p[4 + i] = static_cast<std::uint8_t>(ts >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) p[8 + i] = static_cast<std::uint8_t>(i + 1);  // SSRC
  if (event >= 0) {
    p[12] = static_cast<std::uint8_t>(event);
    p[13] = end ? 0x8a : 10;  // E bit, volume 10
    p[14] = static_cast<std::uint8_t>(duration >> 8);
    p[15] = static_cast<std::uint8_t>(duration);
  }
  return p;
}

TEST_F(AnchorTest, KeyPressesBecomeInfoRequestsForAPeerThatWantsInfo) {
  // A phone (127.0.0.1) calls a PBX at 127.0.0.2 that wants DTMF as SIP INFO; the call is
  // anchored (always), so the phone's RFC 4733 events reach sipws.
  auto anchor = make(AnchorMode::Always);
  const auto pbx = asio::ip::make_address("127.0.0.2");
  anchor->set_peer_rules(std::make_shared<const proxy::PeerRules>(
      std::vector<std::pair<IpAddress, proxy::PeerRule>>{{pbx, proxy::PeerRule{{}, 0, true}}}));
  const Destination pbx_dest{Protocol::Udp, {pbx, 5070}, kNoFlow, {}};

  // The PBX listens for the bridge's audio here.
  asio::ip::udp::socket pbx_rtp(io,
                                asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const int pbx_port = pbx_rtp.local_endpoint().port();

  Message invite = request("INVITE", phone_sdp(6000, "0 101"));
  ASSERT_EQ(anchor->on_forward_request(invite, udp_src, pbx_dest, "br1"), 0);
  // The PBX is offered no telephone-event.
  sdp::Session to_pbx = parsed(invite);
  EXPECT_EQ(to_pbx.media[0].formats, (std::vector<std::string>{"0"}));
  EXPECT_TRUE(dtmf_pts_of(to_pbx).empty());

  Message ok = response(invite, 200, phone_sdp(pbx_port, "0"));
  anchor->on_forward_response(ok, "br1");
  anchor->on_branch_end("br1", 200);
  // The phone's answer keeps the telephone-event it offered, though the PBX has none.
  sdp::Session to_phone = parsed(ok);
  EXPECT_EQ(to_phone.media[0].formats, (std::vector<std::string>{"0", "101"}));
  const auto bridge_port = to_phone.media[0].port;

  asio::ip::udp::socket phone_rtp(io,
                                  asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const asio::ip::udp::endpoint bridge(asio::ip::make_address("127.0.0.1"), bridge_port);
  auto send = [&](const std::vector<std::uint8_t>& p) {
    phone_rtp.send_to(asio::buffer(p), bridge);
  };
  auto run_until = [&](auto done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io.run_one_for(std::chrono::milliseconds(20));
    }
  };
  // Audio is relayed to the PBX; key 5 (three end packets) and then # are not: two INFOs.
  send(rtp(0, 1, 160));
  std::array<std::uint8_t, 2048> buf{};
  asio::ip::udp::endpoint from;
  std::size_t got = 0;
  pbx_rtp.async_receive_from(asio::buffer(buf), from,
                             [&](boost::system::error_code ec, std::size_t n) {
                               if (!ec) got = n;
                             });
  run_until([&] { return got != 0; });
  ASSERT_EQ(got, 172u);  // the audio packet, relayed
  EXPECT_EQ(buf[1] & 0x7f, 0);
  std::uint16_t seq = 2;
  for (auto [event, ts] : {std::pair{5, 320u}, {11, 2000u}}) {
    send(rtp(101, seq++, ts, event, false, 160));
    send(rtp(101, seq++, ts, event, false, 320));
    for (int i = 0; i < 3; ++i) send(rtp(101, seq++, ts, event, true, 640));
  }
  run_until([&] { return originated.size() >= 2; });
  ASSERT_EQ(originated.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& [info, dest] = originated[i];
    EXPECT_EQ(dest.endpoint, pbx_dest.endpoint);
    EXPECT_EQ(info.method, "INFO");
    EXPECT_EQ(info.uri, "sip:bob@127.0.0.1:5070");  // the PBX's Contact
    EXPECT_EQ(info.from, "<sip:alice@localhost>;tag=a1");
    EXPECT_EQ(info.to, "<sip:bob@localhost>;tag=b1");
    EXPECT_EQ(info.call_id, "c1");
    EXPECT_EQ(info.cseq, 2u + i);  // after the phone's INVITE (1), in its sequence
    EXPECT_EQ(info.content_type, "application/dtmf-relay");
  }
  EXPECT_EQ(originated[0].second.endpoint.port, 5070);
  EXPECT_EQ(originated[0].first.body, "Signal=5\r\nDuration=80\r\n");
  EXPECT_EQ(originated[1].first.body, "Signal=#\r\nDuration=80\r\n");
  // No event packet reached the PBX: whatever arrived there is audio.
  std::size_t events_at_pbx = 0;
  while (pbx_rtp.available() > 0) {
    const auto n = pbx_rtp.receive_from(asio::buffer(buf), from);
    if (n > 12 && (buf[1] & 0x7f) == 101) ++events_at_pbx;
  }
  EXPECT_EQ(events_at_pbx, 0u);

  // The phone's next request (CSeq 2) comes after the two INFOs at the PBX: 4. Its response
  // gets the phone's number back, and so does the ACK of a re-INVITE.
  Message reinvite = request("INVITE", phone_sdp(6000, "0 101", "sendrecv", 2), true, true, 2);
  ASSERT_EQ(anchor->on_forward_request(reinvite, udp_src, pbx_dest, "br2"), 0);
  EXPECT_EQ(reinvite.cseq().number, 4u);
  EXPECT_EQ(reinvite.cseq().method, sip::Method::Invite);
  EXPECT_TRUE(dtmf_pts_of(parsed(reinvite)).empty());
  Message ok2 = response(reinvite, 200, phone_sdp(pbx_port, "0", "sendrecv", 2));
  anchor->on_forward_response(ok2, "br2");
  EXPECT_EQ(ok2.cseq().number, 2u);
  EXPECT_EQ(parsed(ok2).media[0].formats, (std::vector<std::string>{"0", "101"}));
  anchor->on_branch_end("br2", 200);
  Message ack = request("ACK", "", true, true, 2);
  anchor->on_forward_ack(ack, udp_src, pbx_dest);
  EXPECT_EQ(ack.cseq().number, 4u);
  EXPECT_EQ(ack.cseq().method, sip::Method::Ack);
  // A request from the PBX is not renumbered.
  Message from_pbx = request("INFO", "", false, true, 7);
  ASSERT_EQ(anchor->on_forward_request(from_pbx, udp_src, udp_dest, "br3"), 0);
  EXPECT_EQ(from_pbx.cseq().number, 7u);
  Message bye = request("BYE", "", true, true, 3);
  ASSERT_EQ(anchor->on_forward_request(bye, udp_src, pbx_dest, "br4"), 0);
  EXPECT_EQ(bye.cseq().number, 5u);
  EXPECT_EQ(anchor->active_sessions(), 0u);
  Message bye_ok = response(bye, 200, "");
  anchor->on_forward_response(bye_ok, "br4");
  EXPECT_EQ(bye_ok.cseq().number, 3u);
  anchor->on_branch_end("br4", 200);
}

TEST_F(AnchorTest, AFloodOfKeyPressesIsNotAFloodOfInfos) {
  auto anchor = make(AnchorMode::Always);
  const auto pbx = asio::ip::make_address("127.0.0.2");
  anchor->set_peer_rules(std::make_shared<const proxy::PeerRules>(
      std::vector<std::pair<IpAddress, proxy::PeerRule>>{{pbx, proxy::PeerRule{{}, 0, true}}}));
  const Destination pbx_dest{Protocol::Udp, {pbx, 5070}, kNoFlow, {}};
  Message invite = request("INVITE", phone_sdp(6000, "0 101"));
  ASSERT_EQ(anchor->on_forward_request(invite, udp_src, pbx_dest, "br1"), 0);
  Message ok = response(invite, 200, phone_sdp(6010, "0"));
  anchor->on_forward_response(ok, "br1");
  const asio::ip::udp::endpoint bridge(asio::ip::make_address("127.0.0.1"),
                                       parsed(ok).media[0].port);
  asio::ip::udp::socket phone_rtp(io,
                                  asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  // 200 one-packet key presses (each a new event) at once: at most the burst of 20 become
  // INFOs (plus what the rate refills while they are read), the rest are dropped.
  constexpr int kEvents = 200;
  for (int i = 0; i < kEvents; ++i) {
    phone_rtp.send_to(
        asio::buffer(rtp(101, static_cast<std::uint16_t>(i), 160u * (i + 1), i % 10, true, 400)),
        bridge);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (phone_rtp.available() == 0 && std::chrono::steady_clock::now() < deadline &&
         anchor->session("c1")->leg(Side::A).stats().rx_packets < kEvents) {
    io.run_one_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(anchor->session("c1")->leg(Side::A).stats().rx_packets, kEvents);
  EXPECT_GE(originated.size(), 20u);
  EXPECT_LT(originated.size(), 60u);
}

TEST_F(AnchorTest, APbxThatWantsInfoCallingABrowserOffersItTelephoneEvent) {
  auto anchor = make(AnchorMode::Auto);
  anchor->set_peer_rules(
      std::make_shared<const proxy::PeerRules>(std::vector<std::pair<IpAddress, proxy::PeerRule>>{
          {udp_src.peer.address, proxy::PeerRule{{}, 0, true}}}));
  // The PBX offers G.711 alone; the browser is offered telephone-event too, and its answer
  // with telephone-event reaches the PBX without it.
  Message invite = request("INVITE", phone_sdp(6000, "8"));
  ASSERT_EQ(anchor->on_forward_request(invite, udp_src, ws_dest, "br1"), 0);
  sdp::Session to_browser = parsed(invite);
  EXPECT_EQ(to_browser.media[0].formats, (std::vector<std::string>{"8", "101"}));
  EXPECT_EQ(dtmf_pts_of(to_browser), std::vector<int>{101});
  std::string answer = chrome_answer(browser_fp);
  answer.replace(answer.find("SAVPF 8"), 7, "SAVPF 8 101");
  answer += "a=rtpmap:101 telephone-event/8000\r\n";
  Message ok = response(invite, 200, answer);
  anchor->on_forward_response(ok, "br1");
  sdp::Session to_pbx = parsed(ok);
  EXPECT_EQ(to_pbx.media[0].formats, (std::vector<std::string>{"8"}));
  // Without the rule, nothing is added or removed.
  auto plain = make(AnchorMode::Auto);
  Message invite2 = request("INVITE", phone_sdp(6000, "8"));
  ASSERT_EQ(plain->on_forward_request(invite2, udp_src, ws_dest, "br1"), 0);
  EXPECT_EQ(parsed(invite2).media[0].formats, (std::vector<std::string>{"8"}));
}

}  // namespace
}  // namespace sipws::bridge
