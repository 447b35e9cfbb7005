// DtlsTransport: two real OpenSSL endpoints wired to each other in memory.
#include "bridge/dtls.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <regex>
#include <thread>
#include <vector>

#include "bridge/demux.hpp"
#include "bridge/srtp.hpp"

namespace sipws::bridge {
namespace {

using Bytes = std::vector<std::uint8_t>;
using State = DtlsTransport::State;

std::shared_ptr<const DtlsIdentity> identity_a() {
  static const auto id = DtlsIdentity::generate("client-test");
  return id;
}
std::shared_ptr<const DtlsIdentity> identity_b() {
  static const auto id = DtlsIdentity::generate("server-test");
  return id;
}

/// A lossy in-memory link: datagrams queue per direction; `drop` decides per datagram
/// (direction, index in that direction) whether it is lost.
struct Link {
  std::deque<Bytes> to_client;
  std::deque<Bytes> to_server;
  int sent_by_client = 0;
  int sent_by_server = 0;
  std::function<bool(bool from_client, int index)> drop = [](bool, int) { return false; };
  std::unique_ptr<DtlsTransport> client;
  std::unique_ptr<DtlsTransport> server;

  Link(DtlsOptions client_opts = {}, DtlsOptions server_opts = {},
       std::string client_expects = identity_b()->fingerprint_sha256(),
       std::string server_expects = identity_a()->fingerprint_sha256()) {
    client = std::make_unique<DtlsTransport>(
        identity_a(), DtlsRole::Client, "sha-256", std::move(client_expects),
        [this](std::span<const std::uint8_t> d) {
          EXPECT_LE(d.size(), 1200u);
          EXPECT_EQ(classify(d), PacketKind::Dtls);
          if (!drop(true, sent_by_client++)) to_server.emplace_back(d.begin(), d.end());
        },
        std::move(client_opts));
    server = std::make_unique<DtlsTransport>(
        identity_b(), DtlsRole::Server, "sha-256", std::move(server_expects),
        [this](std::span<const std::uint8_t> d) {
          EXPECT_LE(d.size(), 1200u);
          if (!drop(false, sent_by_server++)) to_client.emplace_back(d.begin(), d.end());
        },
        std::move(server_opts));
  }

  /// Delivers queued datagrams until both queues are empty.
  void pump() {
    for (int guard = 0; guard < 1000 && (!to_client.empty() || !to_server.empty()); ++guard) {
      if (!to_server.empty()) {
        Bytes d = std::move(to_server.front());
        to_server.pop_front();
        server->on_packet(d);
      }
      if (!to_client.empty()) {
        Bytes d = std::move(to_client.front());
        to_client.pop_front();
        client->on_packet(d);
      }
    }
  }

  /// Runs the handshake, firing retransmission timers (for real: OpenSSL's DTLS timer reads
  /// the wall clock and has no injection point) until both sides settle or `rounds` run out.
  void run(int rounds = 20) {
    server->start();
    client->start();
    for (int i = 0; i < rounds; ++i) {
      pump();
      if (settled()) return;
      std::optional<Millis> wait;
      for (auto* t : {client.get(), server.get()}) {
        if (auto w = t->next_timeout(); w && (!wait || *w < *wait)) wait = w;
      }
      if (!wait) return;
      std::this_thread::sleep_for(*wait + Millis(1));
      client->on_timeout();
      server->on_timeout();
    }
  }
  bool settled() const {
    auto done = [](State s) { return s == State::Connected || s == State::Failed; };
    return done(client->state()) && done(server->state()) && to_client.empty() && to_server.empty();
  }
};

DtlsOptions fast_timers() {
  DtlsOptions o;
  o.initial_timeout = Millis(30);
  o.max_timeout = Millis(120);
  return o;
}

TEST(DtlsIdentity, FingerprintFormat) {
  const auto& fp = identity_a()->fingerprint_sha256();
  EXPECT_TRUE(std::regex_match(fp, std::regex("([0-9A-F]{2}:){31}[0-9A-F]{2}"))) << fp;
  EXPECT_NE(fp, identity_b()->fingerprint_sha256());
  EXPECT_EQ(identity_a()->fingerprint("SHA-256"), fp);
  EXPECT_EQ(identity_a()->fingerprint("sha-1")->size(), 20u * 3 - 1);
  EXPECT_EQ(identity_a()->fingerprint("sha-512")->size(), 64u * 3 - 1);
  EXPECT_FALSE(identity_a()->fingerprint("md5"));
}

TEST(Dtls, HandshakeConnectsBothSidesWithMirroredKeys) {
  Link link;
  link.run();
  ASSERT_EQ(link.client->state(), State::Connected) << link.client->error();
  ASSERT_EQ(link.server->state(), State::Connected) << link.server->error();
  const SrtpKeys* c = link.client->keys();
  const SrtpKeys* s = link.server->keys();
  ASSERT_NE(c, nullptr);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(c->profile, SrtpProfile::AeadAes128Gcm);  // both offer GCM first
  EXPECT_EQ(s->profile, c->profile);
  EXPECT_EQ(c->local_master.size(), 28u);
  EXPECT_EQ(c->local_master, s->remote_master);
  EXPECT_EQ(c->remote_master, s->local_master);
  EXPECT_NE(c->local_master, c->remote_master);
  EXPECT_FALSE(link.client->next_timeout());
}

TEST(Dtls, SynchronousDeliveryFromTheSendCallback) {
  // Each side hands its datagrams straight to the other inside `send`: on_packet re-enters
  // the sender while it is still flushing, never while OpenSSL is running on it.
  std::unique_ptr<DtlsTransport> client, server;
  client = std::make_unique<DtlsTransport>(
      identity_a(), DtlsRole::Client, "sha-256", identity_b()->fingerprint_sha256(),
      [&](std::span<const std::uint8_t> d) { server->on_packet(d); });
  server = std::make_unique<DtlsTransport>(
      identity_b(), DtlsRole::Server, "sha-256", identity_a()->fingerprint_sha256(),
      [&](std::span<const std::uint8_t> d) { client->on_packet(d); });
  client->start();
  EXPECT_EQ(client->state(), State::Connected) << client->error();
  EXPECT_EQ(server->state(), State::Connected) << server->error();
  ASSERT_NE(client->keys(), nullptr);
  ASSERT_NE(server->keys(), nullptr);
  EXPECT_EQ(client->keys()->local_master, server->keys()->remote_master);
}

TEST(Dtls, ServerPicksCmWhenItOffersOnlyCm) {
  DtlsOptions server_opts;
  server_opts.srtp_profiles = {SrtpProfile::Aes128CmSha1_80};
  Link link({}, server_opts);
  link.run();
  ASSERT_EQ(link.client->state(), State::Connected) << link.client->error();
  ASSERT_EQ(link.server->state(), State::Connected) << link.server->error();
  EXPECT_EQ(link.client->keys()->profile, SrtpProfile::Aes128CmSha1_80);
  EXPECT_EQ(link.client->keys()->local_master.size(), 30u);
  EXPECT_EQ(link.client->keys()->local_master, link.server->keys()->remote_master);
}

/// SRTP both ways with the exported keys: what one side protects the other unprotects.
void expect_srtp_both_ways(const SrtpKeys& a, const SrtpKeys& b) {
  auto a_out = SrtpSession::make(a.profile, a.local_master, SrtpSession::Direction::Outbound);
  auto a_in = SrtpSession::make(a.profile, a.remote_master, SrtpSession::Direction::Inbound);
  auto b_out = SrtpSession::make(b.profile, b.local_master, SrtpSession::Direction::Outbound);
  auto b_in = SrtpSession::make(b.profile, b.remote_master, SrtpSession::Direction::Inbound);
  ASSERT_TRUE(a_out && a_in && b_out && b_in);
  const Bytes rtp = {0x80, 0x00, 0x00, 0x01, 0, 0, 0, 160, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4};
  Bytes p = rtp;
  ASSERT_FALSE(a_out->protect_rtp(p));
  ASSERT_FALSE(b_in->unprotect_rtp(p));
  EXPECT_EQ(p, rtp);
  p = rtp;
  ASSERT_FALSE(b_out->protect_rtp(p));
  ASSERT_FALSE(a_in->unprotect_rtp(p));
  EXPECT_EQ(p, rtp);
  // Keys of the wrong direction do not verify.
  p = rtp;
  p[3] = 2;
  ASSERT_FALSE(a_out->protect_rtp(p));
  EXPECT_TRUE(a_in->unprotect_rtp(p));
  const Bytes rtcp = {0x80, 201, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef};
  p = rtcp;
  ASSERT_FALSE(b_out->protect_rtcp(p));
  ASSERT_FALSE(a_in->unprotect_rtcp(p));
  EXPECT_EQ(p, rtcp);
}

TEST(Dtls, ExportedKeysWorkForSrtpBothProfiles) {
  for (auto profile : {SrtpProfile::AeadAes128Gcm, SrtpProfile::Aes128CmSha1_80}) {
    DtlsOptions opts;
    opts.srtp_profiles = {profile};
    Link link(opts, opts);
    link.run();
    ASSERT_EQ(link.client->state(), State::Connected) << link.client->error();
    ASSERT_EQ(link.server->state(), State::Connected) << link.server->error();
    ASSERT_EQ(link.client->keys()->profile, profile);
    expect_srtp_both_ways(*link.client->keys(), *link.server->keys());
  }
}

TEST(Dtls, ClientRejectsWrongServerFingerprint) {
  std::string wrong = identity_b()->fingerprint_sha256();
  wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
  Link link({}, {}, wrong);
  link.run();
  EXPECT_EQ(link.client->state(), State::Failed);
  EXPECT_NE(link.client->error().find("fingerprint"), std::string::npos) << link.client->error();
  EXPECT_EQ(link.client->keys(), nullptr);
  EXPECT_NE(link.server->state(), State::Connected);  // the client's alert stops it
  EXPECT_EQ(link.server->keys(), nullptr);
}

TEST(Dtls, ServerRejectsWrongClientFingerprint) {
  Link link({}, {}, identity_b()->fingerprint_sha256(), identity_b()->fingerprint_sha256());
  link.run();
  EXPECT_EQ(link.server->state(), State::Failed);
  EXPECT_NE(link.server->error().find("fingerprint"), std::string::npos) << link.server->error();
  EXPECT_NE(link.client->state(), State::Connected);
  EXPECT_EQ(link.client->keys(), nullptr);
}

TEST(Dtls, FingerprintComparisonIgnoresCaseAndAcceptsOtherHashes) {
  std::string lower = identity_b()->fingerprint_sha256();
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  Link link({}, {}, lower);
  link.run();
  EXPECT_EQ(link.client->state(), State::Connected) << link.client->error();

  // sha-1 on the client side.
  std::deque<Bytes> to_server, to_client;
  DtlsTransport client(
      identity_a(), DtlsRole::Client, "sha-1", *identity_b()->fingerprint("sha-1"),
      [&](std::span<const std::uint8_t> d) { to_server.emplace_back(d.begin(), d.end()); });
  DtlsTransport server(
      identity_b(), DtlsRole::Server, "SHA-256", identity_a()->fingerprint_sha256(),
      [&](std::span<const std::uint8_t> d) { to_client.emplace_back(d.begin(), d.end()); });
  client.start();
  for (int i = 0; i < 50 && (!to_server.empty() || !to_client.empty()); ++i) {
    while (!to_server.empty()) {
      Bytes d = std::move(to_server.front());
      to_server.pop_front();
      server.on_packet(d);  // starts the server implicitly
    }
    while (!to_client.empty()) {
      Bytes d = std::move(to_client.front());
      to_client.pop_front();
      client.on_packet(d);
    }
  }
  EXPECT_EQ(client.state(), State::Connected) << client.error();
  EXPECT_EQ(server.state(), State::Connected) << server.error();
}

TEST(Dtls, UnsupportedFingerprintAlgorithmFailsAtStart) {
  DtlsTransport t(identity_a(), DtlsRole::Client, "md5", "00:11",
                  [](std::span<const std::uint8_t>) { ADD_FAILURE() << "nothing may be sent"; });
  EXPECT_EQ(t.state(), State::New);
  t.start();
  EXPECT_EQ(t.state(), State::Failed);
  EXPECT_NE(t.error().find("md5"), std::string::npos);
  t.on_packet(Bytes(20, 22));
  EXPECT_FALSE(t.next_timeout());
  EXPECT_EQ(t.state(), State::Failed);
}

TEST(Dtls, LostClientHelloIsRetransmittedOnTimeout) {
  Link link(fast_timers(), fast_timers());
  link.drop = [](bool from_client, int index) { return from_client && index == 0; };
  link.server->start();
  link.client->start();
  EXPECT_TRUE(link.to_server.empty());  // the ClientHello was lost
  const auto timeout = link.client->next_timeout();
  ASSERT_TRUE(timeout);
  EXPECT_LE(*timeout, Millis(30));
  EXPECT_GT(*timeout, Millis(15));
  link.client->on_timeout();  // too early: nothing is sent yet
  EXPECT_TRUE(link.to_server.empty());
  std::this_thread::sleep_for(*timeout + Millis(1));
  link.client->on_timeout();
  EXPECT_FALSE(link.to_server.empty());  // retransmitted
  link.run();
  EXPECT_EQ(link.client->state(), State::Connected) << link.client->error();
  EXPECT_EQ(link.server->state(), State::Connected) << link.server->error();
  EXPECT_EQ(link.client->keys()->local_master, link.server->keys()->remote_master);
}

TEST(Dtls, LostFlightsInBothDirectionsStillConnect) {
  Link link(fast_timers(), fast_timers());
  // Lose the server's whole first flight and the client's second flight's first datagram.
  link.drop = [](bool from_client, int index) { return from_client ? index == 1 : index < 4; };
  link.run(40);
  EXPECT_EQ(link.client->state(), State::Connected) << link.client->error();
  EXPECT_EQ(link.server->state(), State::Connected) << link.server->error();
  EXPECT_GT(link.sent_by_server, 4);
}

TEST(Dtls, GivesUpWhenThePeerNeverAnswers) {
  DtlsOptions o;
  o.initial_timeout = Millis(1);  // raised to kMinTimeout
  o.max_timeout = Millis(2);
  int sent = 0;
  DtlsTransport t(
      identity_a(), DtlsRole::Client, "sha-256", identity_b()->fingerprint_sha256(),
      [&](std::span<const std::uint8_t>) { ++sent; }, o);
  t.start();
  for (int i = 0; i < 40 && t.state() == State::Connecting; ++i) {
    std::this_thread::sleep_for(*t.next_timeout() + Millis(1));
    t.on_timeout();
  }
  EXPECT_EQ(t.state(), State::Failed);
  EXPECT_GT(sent, 5);
  EXPECT_FALSE(t.next_timeout());
}

TEST(Dtls, NoUseSrtpMeansFailed) {
  DtlsOptions none;
  none.srtp_profiles = {};
  Link link({}, none);
  link.run();
  EXPECT_NE(link.client->state(), State::Connected);
  EXPECT_NE(link.server->state(), State::Connected);
  EXPECT_NE(link.client->error().find("SRTP"), std::string::npos) << link.client->error();
}

TEST(Dtls, CloseSendsCloseNotify) {
  Link link;
  link.run();
  ASSERT_EQ(link.server->state(), State::Connected);
  link.client->close();
  EXPECT_EQ(link.client->state(), State::Closed);
  EXPECT_EQ(link.client->keys(), nullptr);
  ASSERT_FALSE(link.to_server.empty());
  link.pump();
  EXPECT_EQ(link.server->state(), State::Closed);
  EXPECT_EQ(link.server->keys(), nullptr);
}

TEST(Dtls, GarbageNeverCrashesAndDoesNotBreakAConnection) {
  Link link;
  std::mt19937 rng(7);
  auto garbage = [&] {
    Bytes b(1 + rng() % 300);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    if (rng() % 2 == 0) b[0] = static_cast<std::uint8_t>(20 + rng() % 44);  // DTLS-looking
    return b;
  };
  link.server->start();
  for (int i = 0; i < 200; ++i) link.server->on_packet(garbage());
  // Before any handshake the server may fail on garbage (acceptable: a real session only feeds
  // it datagrams from the ICE-selected peer), but garbage never completes a handshake.
  EXPECT_NE(link.server->state(), State::Connected);
  Link fresh;
  fresh.run();
  ASSERT_EQ(fresh.server->state(), State::Connected);
  ASSERT_EQ(fresh.client->state(), State::Connected);
  const SrtpKeys client_keys = *fresh.client->keys();
  const SrtpKeys server_keys = *fresh.server->keys();
  for (int i = 0; i < 500; ++i) {
    fresh.server->on_packet(garbage());
    fresh.client->on_packet(garbage());
  }
  // A connected pair ignores it: forged records are dropped (RFC 6347 s.4.1.2.7), and records
  // of epoch 0 (where a forged plaintext alert would have to be) are stale after the handshake.
  // Both stay connected with the keys they had, and the keys still protect SRTP both ways.
  EXPECT_EQ(fresh.server->state(), State::Connected) << fresh.server->error();
  EXPECT_EQ(fresh.client->state(), State::Connected) << fresh.client->error();
  ASSERT_NE(fresh.server->keys(), nullptr);
  ASSERT_NE(fresh.client->keys(), nullptr);
  EXPECT_EQ(fresh.client->keys()->local_master, client_keys.local_master);
  EXPECT_EQ(fresh.client->keys()->remote_master, client_keys.remote_master);
  EXPECT_EQ(fresh.server->keys()->local_master, server_keys.local_master);
  EXPECT_EQ(fresh.server->keys()->remote_master, server_keys.remote_master);
  expect_srtp_both_ways(*fresh.client->keys(), *fresh.server->keys());
}

}  // namespace
}  // namespace sipws::bridge
