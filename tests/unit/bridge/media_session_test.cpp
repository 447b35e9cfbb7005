// MediaSession over real UDP sockets on 127.0.0.1: a "browser" made of our own ICE/DTLS/SRTP
// pieces (the peer roles: controlling ICE agent, DTLS client) and a "phone" that is a plain UDP
// socket. Packets go through the bridge both ways, with real OpenSSL and libsrtp.

#include "bridge/media_session.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/udp.hpp>
#include <chrono>
#include <deque>

#include "bridge/stun.hpp"

namespace sipws::bridge {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;

/// Runs `io` until `done()` or the deadline (event driven: returns as soon as it holds).
template <typename Pred>
bool run_until(asio::io_context& io, Pred done,
               std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.run_one_for(std::chrono::milliseconds(20));
  }
  return true;
}

/// A UDP socket on 127.0.0.1 that queues what it receives.
struct Peer {
  explicit Peer(asio::io_context& io, const char* address = "127.0.0.1")
      : sock(io, udp::endpoint(asio::ip::make_address(address), 0)) {
    receive();
  }
  void receive() {
    sock.async_receive_from(
        asio::buffer(buf), from, [this](boost::system::error_code ec, std::size_t n) {
          if (ec) return;
          inbox.emplace_back(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
          receive();
        });
  }
  void send(std::span<const std::uint8_t> b, std::uint16_t port) {
    sock.send_to(asio::buffer(b.data(), b.size()),
                 udp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  std::uint16_t port() const { return sock.local_endpoint().port(); }
  udp::socket sock;
  udp::endpoint from;
  std::array<std::uint8_t, 2048> buf{};
  std::deque<std::vector<std::uint8_t>> inbox;
};

std::vector<std::uint8_t> rtp_packet(std::uint16_t seq, std::uint32_t ssrc, std::uint8_t fill) {
  std::vector<std::uint8_t> p(12 + 160, fill);
  p[0] = 0x80;
  p[1] = 0;  // PCMU
  p[2] = static_cast<std::uint8_t>(seq >> 8);
  p[3] = static_cast<std::uint8_t>(seq);
  for (int i = 0; i < 4; ++i) p[4 + i] = 0;  // timestamp
  p[8] = static_cast<std::uint8_t>(ssrc >> 24);
  p[9] = static_cast<std::uint8_t>(ssrc >> 16);
  p[10] = static_cast<std::uint8_t>(ssrc >> 8);
  p[11] = static_cast<std::uint8_t>(ssrc);
  return p;
}

/// An RFC 4733 telephone-event packet (payload type 101, the usual dynamic number): `event`
/// (0-9 digits, 10 '*', 11 '#'), the marker bit on the first packet of the event, volume 10,
/// duration 160 samples (20 ms at 8 kHz).
std::vector<std::uint8_t> dtmf_packet(std::uint16_t seq, std::uint32_t ssrc, std::uint8_t event) {
  std::vector<std::uint8_t> p = rtp_packet(seq, ssrc, 0);
  p.resize(12 + 4);
  p[1] = 0x80 | 101;  // M, PT 101
  p[12] = event;
  p[13] = 10;  // E=0, R=0, volume 10
  p[14] = 0;
  p[15] = 160;
  return p;
}

class MediaSessionTest : public ::testing::Test {
 protected:
  MediaSessionTest() : pool(41000, 41099), browser(io), phone(io) {
    cfg.address = asio::ip::make_address("127.0.0.1");
    cfg.port_min = 41000;
    cfg.port_max = 41099;
    cfg.media_timeout = Millis(0);
    identity = DtlsIdentity::generate();
    browser_identity = DtlsIdentity::generate();
  }

  /// The browser's SDP as the bridge sees it (the offer of a call to a phone).
  MediaDescription browser_md() const {
    MediaDescription md;
    md.flavor = MediaFlavor::WebRtc;
    md.address = "127.0.0.1";
    md.port = browser.port();
    md.rtcp_mux = true;
    md.ice_ufrag = "brow";
    md.ice_pwd = "browserpasswordbrowser01";
    md.fingerprint_alg = "sha-256";
    md.fingerprint = browser_identity->fingerprint_sha256();
    md.setup = "actpass";
    return md;
  }
  MediaDescription phone_md() const {
    MediaDescription md;
    md.flavor = MediaFlavor::Plain;
    md.address = "127.0.0.1";
    md.port = phone.port();
    return md;
  }

  /// A connectivity check from the browser (controlling, nominating) to leg A.
  std::vector<std::uint8_t> binding_request(const std::string& pwd, const std::string& ufrag) {
    stun::Builder b(stun::Class::Request, stun::kBinding, stun::random_transaction_id());
    b.add_text(stun::attr::kUsername, ufrag + ":brow");
    b.add_u32(stun::attr::kPriority, 1845501695u);
    b.add_u64(stun::attr::kIceControlling, 42);
    b.add_flag(stun::attr::kUseCandidate);
    b.add_message_integrity(pwd);
    b.add_fingerprint();
    return std::move(b).take();
  }

  asio::io_context io;
  BridgeConfig cfg;
  PortPool pool;
  std::shared_ptr<const DtlsIdentity> identity, browser_identity;
  Peer browser, phone;
};

TEST_F(MediaSessionTest, SdpNamesTheMediaAdvertiseAddressWhileMediaUsesTheBoundOne) {
  // media_advertise: a host behind NAT whose router forwards the media ports.
  cfg.advertise = asio::ip::make_address("203.0.113.7");
  auto s = MediaSession::make(io, cfg, pool, identity, MediaFlavor::WebRtc, MediaFlavor::Plain, {});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->leg(Side::A).webrtc_side(true).address, "203.0.113.7");
  EXPECT_EQ(s->leg(Side::B).plain_side().address, "203.0.113.7");
  // The sockets are still bound where the media arrives: the phone's RTP reaches leg B.
  Leg& plain = s->leg(Side::B);
  plain.set_remote(phone_md(), /*we_offered=*/true);
  phone.send(rtp_packet(1, 0x33333333, 0x01), plain.port());
  ASSERT_TRUE(run_until(io, [&] { return plain.stats().rx_packets == 1; }));
}

TEST_F(MediaSessionTest, WithoutMediaAdvertiseSdpNamesTheBoundAddress) {
  auto s = MediaSession::make(io, cfg, pool, identity, MediaFlavor::WebRtc, MediaFlavor::Plain, {});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->leg(Side::A).webrtc_side(true).address, "127.0.0.1");
  EXPECT_EQ(s->leg(Side::B).plain_side().address, "127.0.0.1");
}

TEST_F(MediaSessionTest, BrowserAndPhoneTalkThroughIceDtlsSrtpAndPlainRtpDtmfIncluded) {
  auto s = MediaSession::make(io, cfg, pool, identity, MediaFlavor::WebRtc, MediaFlavor::Plain, {});
  ASSERT_NE(s, nullptr);
  Leg& web = s->leg(Side::A);
  Leg& plain = s->leg(Side::B);
  web.set_remote(browser_md(), /*we_offered=*/false);
  plain.set_remote(phone_md(), /*we_offered=*/true);
  const WebRtcSide ours = web.webrtc_side(false);
  EXPECT_EQ(ours.setup, "passive");  // the browser offered actpass: it will be the DTLS client

  // ICE: the browser's check is answered with a success that integrity-checks with our pwd.
  browser.send(binding_request(ours.ice_pwd, ours.ice_ufrag), web.port());
  ASSERT_TRUE(run_until(io, [&] { return !browser.inbox.empty(); }));
  auto rsp = stun::parse(browser.inbox.front());
  browser.inbox.pop_front();
  ASSERT_TRUE(rsp.has_value());
  EXPECT_EQ(rsp->klass(), stun::Class::Success);
  EXPECT_TRUE(stun::check_message_integrity(*rsp, ours.ice_pwd));
  ASSERT_TRUE(rsp->xor_mapped_address().has_value());
  EXPECT_EQ(rsp->xor_mapped_address()->port, browser.port());

  // DTLS: the browser is the client and checks our certificate against our SDP fingerprint.
  DtlsTransport client(browser_identity, DtlsRole::Client, "sha-256", ours.fingerprint,
                       [&](std::span<const std::uint8_t> b) { browser.send(b, web.port()); });
  client.start();
  ASSERT_TRUE(run_until(io, [&] {
    while (!browser.inbox.empty()) {
      client.on_packet(browser.inbox.front());
      browser.inbox.pop_front();
    }
    return client.state() == DtlsTransport::State::Connected &&
           web.dtls_state() == DtlsTransport::State::Connected;
  })) << client.error();
  const SrtpKeys* keys = client.keys();
  ASSERT_NE(keys, nullptr);
  auto out = SrtpSession::make(keys->profile, keys->local_master, SrtpSession::Direction::Outbound);
  auto in = SrtpSession::make(keys->profile, keys->remote_master, SrtpSession::Direction::Inbound);
  ASSERT_TRUE(out && in);

  // Browser -> phone: SRTP in, plain RTP out, payload intact.
  for (std::uint16_t seq = 1; seq <= 5; ++seq) {
    auto pkt = rtp_packet(seq, 0x11111111, 0xab);
    const auto plain_copy = pkt;
    ASSERT_FALSE(out->protect_rtp(pkt));
    browser.send(pkt, web.port());
    ASSERT_TRUE(run_until(io, [&] { return !phone.inbox.empty(); }));
    EXPECT_EQ(phone.inbox.front(), plain_copy);
    phone.inbox.pop_front();
  }
  // The next SRTP packet at the browser. A late DTLS retransmission may still arrive: the
  // browser's DTLS takes it, media is RTP.
  auto next_at_browser = [&](std::vector<std::uint8_t>& got) {
    return run_until(io, [&] {
      while (!browser.inbox.empty() && got.empty()) {
        auto p = std::move(browser.inbox.front());
        browser.inbox.pop_front();
        if (classify(p) == PacketKind::Rtp) {
          got = std::move(p);
        } else if (classify(p) == PacketKind::Dtls) {
          client.on_packet(p);
        }
      }
      return !got.empty();
    });
  };
  // Phone -> browser: plain RTP in, SRTP out that the browser can decrypt.
  for (std::uint16_t seq = 100; seq < 105; ++seq) {
    auto pkt = rtp_packet(seq, 0x22222222, 0xcd);
    phone.send(pkt, plain.port());
    std::vector<std::uint8_t> got;
    ASSERT_TRUE(next_at_browser(got));
    EXPECT_NE(got, pkt);  // encrypted on the wire
    ASSERT_FALSE(in->unprotect_rtp(got));
    EXPECT_EQ(got, pkt);
  }
  // DTMF as RFC 4733 events, both ways: relayed as they are (same payload type, the SDP of
  // both legs keeps telephone-event/8000), so a digit pressed on either side arrives.
  {
    auto pkt = dtmf_packet(6, 0x11111111, 5);
    const auto plain_copy = pkt;
    ASSERT_FALSE(out->protect_rtp(pkt));
    browser.send(pkt, web.port());
    ASSERT_TRUE(run_until(io, [&] { return !phone.inbox.empty(); }));
    EXPECT_EQ(phone.inbox.front(), plain_copy) << "the browser's '5' reaches the phone";
    phone.inbox.pop_front();
  }
  {
    const auto pkt = dtmf_packet(105, 0x22222222, 11);
    phone.send(pkt, plain.port());
    std::vector<std::uint8_t> got;
    ASSERT_TRUE(next_at_browser(got));
    ASSERT_FALSE(in->unprotect_rtp(got));
    EXPECT_EQ(got, pkt) << "the phone's '#' reaches the browser";
  }
  EXPECT_EQ(web.stats().rx_packets, 6u);
  EXPECT_EQ(plain.stats().tx_packets, 6u);
  EXPECT_EQ(plain.stats().rx_packets, 6u);
  EXPECT_EQ(web.stats().tx_packets, 6u);
}

TEST_F(MediaSessionTest, SrtpFromAnAddressIceDidNotValidateIsDropped) {
  auto s = MediaSession::make(io, cfg, pool, identity, MediaFlavor::WebRtc, MediaFlavor::Plain, {});
  ASSERT_NE(s, nullptr);
  s->leg(Side::A).set_remote(browser_md(), false);
  s->leg(Side::B).set_remote(phone_md(), true);
  // No STUN check first: media is not accepted (RFC 8445 consent), nothing reaches the phone.
  auto pkt = rtp_packet(1, 1, 0);
  browser.send(pkt, s->leg(Side::A).port());
  ASSERT_TRUE(run_until(io, [&] { return s->leg(Side::A).stats().dropped == 1; }));
  EXPECT_TRUE(phone.inbox.empty());
}

TEST_F(MediaSessionTest, PlainLegLatchesToWhereThePhoneReallySendsFrom) {
  auto s = MediaSession::make(io, cfg, pool, identity, MediaFlavor::Plain, MediaFlavor::Plain, {});
  ASSERT_NE(s, nullptr);
  Peer caller(io);
  MediaDescription wrong = phone_md();
  wrong.port = 9;  // the SDP says discard; the phone sends from elsewhere (NAT)
  s->leg(Side::A).set_remote(wrong, false);
  s->leg(Side::B).set_remote(phone_md(), true);
  caller.send(rtp_packet(1, 7, 1), s->leg(Side::A).port());
  ASSERT_TRUE(run_until(io, [&] { return !phone.inbox.empty(); }));
  phone.send(rtp_packet(2, 8, 2), s->leg(Side::B).port());
  ASSERT_TRUE(run_until(io, [&] { return !caller.inbox.empty(); }));
  EXPECT_EQ(caller.inbox.front(), rtp_packet(2, 8, 2));
}

TEST_F(MediaSessionTest, ALatchedPlainLegIgnoresMediaFromAnotherHost) {
  auto s = MediaSession::make(io, cfg, pool, identity, MediaFlavor::Plain, MediaFlavor::Plain, {});
  ASSERT_NE(s, nullptr);
  Peer caller(io);
  s->leg(Side::A).set_remote(phone_md(), false);  // the caller's SDP names the phone's socket
  s->leg(Side::B).set_remote(phone_md(), true);
  // The callee (phone) latches its leg; a third party on another address then sends to the
  // same port: dropped, counted, and the callee's media still reaches the caller.
  caller.send(rtp_packet(1, 7, 1), s->leg(Side::A).port());
  ASSERT_TRUE(run_until(io, [&] { return !phone.inbox.empty(); }));
  phone.send(rtp_packet(2, 8, 2), s->leg(Side::B).port());
  ASSERT_TRUE(run_until(io, [&] { return !caller.inbox.empty(); }));
  caller.inbox.clear();
  Peer intruder(io, "127.0.0.2");
  intruder.send(rtp_packet(3, 9, 3), s->leg(Side::B).port());
  ASSERT_TRUE(run_until(io, [&] { return s->leg(Side::B).stats().dropped == 1; }));
  phone.send(rtp_packet(4, 8, 4), s->leg(Side::B).port());
  ASSERT_TRUE(run_until(io, [&] { return !caller.inbox.empty(); }));
  EXPECT_EQ(caller.inbox.front(), rtp_packet(4, 8, 4));
  // The caller leg's latch did not move either: its answer still goes to the caller.
  caller.send(rtp_packet(5, 7, 5), s->leg(Side::A).port());
  phone.inbox.clear();
  ASSERT_TRUE(run_until(io, [&] { return !phone.inbox.empty(); }));
  EXPECT_TRUE(intruder.inbox.empty());
}

TEST_F(MediaSessionTest, MediaTimeoutFiresWhenNothingArrives) {
  cfg.media_timeout = Millis(200);
  bool timed_out = false;
  auto s = MediaSession::make(io, cfg, pool, identity, MediaFlavor::Plain, MediaFlavor::Plain,
                              [&] { timed_out = true; });
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(run_until(
      io, [&] { return timed_out; }, std::chrono::milliseconds(3000)));
}

TEST_F(MediaSessionTest, PortsComeBackToThePoolOnClose) {
  const auto before = pool.free_count();
  auto s = MediaSession::make(io, cfg, pool, identity, MediaFlavor::WebRtc, MediaFlavor::Plain, {});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(pool.free_count(), before - 2);
  s->close();
  EXPECT_EQ(pool.free_count(), before);
}

TEST(PortPool, HandsOutEvenPortsUntilExhausted) {
  PortPool p(41001, 41006);  // even starts: 41002, 41004 (41006 has no pair)
  auto a = p.take();
  auto b = p.take();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a % 2, 0);
  EXPECT_EQ(*b % 2, 0);
  EXPECT_FALSE(p.take().has_value());
  p.give(*a);
  EXPECT_EQ(p.take(), a);
}

}  // namespace
}  // namespace sipws::bridge
