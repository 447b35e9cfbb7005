// NatKeepalive on a manual clock with a real LocationService: which bindings get keep-alives,
// how unanswered ones turn unreachable (lookups skip them) and how an answer or a REGISTER
// brings them back.

#include "registrar/nat_keepalive.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "proxy/domains.hpp"
#include "registrar/lookup.hpp"
#include "registrar_test_util.hpp"

namespace sipws::registrar {
namespace {

using test::one;

constexpr Millis kInterval{30000};

/// Records each keep-alive and lets the test answer it.
struct Pings {
  struct Sent {
    NatKeepalive::Ping ping;
    std::function<void(int)> done;
  };
  NatKeepalive::Send send() {
    return [this](const NatKeepalive::Ping& p, std::function<void(int)> done) {
      sent.push_back({p, std::move(done)});
    };
  }
  /// Answers every keep-alive sent so far with `status` (0: none) and forgets them.
  void answer_all(int status) {
    auto all = std::move(sent);
    sent.clear();
    for (auto& s : all) s.done(status);
  }
  std::vector<Sent> sent;
};

class NatKeepaliveTest : public ::testing::Test {
 protected:
  NatKeepaliveTest()
      : loc(t, nullptr, Millis(3'600'000)), nat(t, loc, kInterval, 3, pings.send(), reg) {
    nat.start();
  }
  /// One keep-alive round: the clock moves one interval.
  void tick() { t.advance(kInterval); }

  ManualTimerService t;
  LocationService loc;
  Pings pings;
  Counters reg;
  NatKeepalive nat;
};

TEST_F(NatKeepaliveTest, OnlyBindingsWhoseContactIsNotTheirSourceArePinged) {
  // Behind NAT: the Contact names a private address, the REGISTER came from the router.
  const Source natted = test::source(Protocol::Udp, "198.51.100.7", 40123, kNoFlow);
  ASSERT_TRUE(loc.update(one("a@x.org", "sip:a@192.168.1.20:5060", 600, natted)));
  // Not behind NAT: Contact and source agree (default port 5060).
  const Source open = test::source(Protocol::Udp, "198.51.100.8", 5060, kNoFlow);
  ASSERT_TRUE(loc.update(one("b@x.org", "sip:b@198.51.100.8", 600, open)));
  // WebSocket bindings have their own pings; a TCP binding whose flow closed has no pinhole.
  ASSERT_TRUE(loc.update(one("c@x.org", "sip:c@df7jal23ls0d.invalid;transport=ws", 600,
                             test::source(Protocol::Ws, "198.51.100.9", 50000, 5))));
  ASSERT_TRUE(loc.update(one("d@x.org", "sip:d@10.0.0.4:5060;transport=tcp", 600,
                             test::source(Protocol::Tcp, "198.51.100.10", 41000, 6))));
  loc.on_flow_closed(6);

  EXPECT_TRUE(pings.sent.empty());  // nothing before the first interval
  tick();
  ASSERT_EQ(pings.sent.size(), 1u);
  const auto& p = pings.sent[0].ping;
  EXPECT_EQ(p.aor, "a@x.org");
  EXPECT_EQ(p.contact, "sip:a@192.168.1.20:5060");
  EXPECT_EQ(p.dest.protocol, Protocol::Udp);
  EXPECT_EQ(p.dest.endpoint, natted.peer);  // through the pinhole, not to the private address
  EXPECT_EQ(p.dest.local, natted.local);    // from the listener it registered on
  EXPECT_EQ(reg.get("nat_keepalive_sent").value(), 1u);
}

TEST_F(NatKeepaliveTest, ATcpBindingIsPingedOverItsFlow) {
  const Source tcp = test::source(Protocol::Tcp, "198.51.100.7", 40123, 9);
  ASSERT_TRUE(loc.update(one("a@x.org", "sip:a@192.168.1.20:5060;transport=tcp", 600, tcp)));
  tick();
  ASSERT_EQ(pings.sent.size(), 1u);
  EXPECT_EQ(pings.sent[0].ping.dest.flow, 9u);
}

TEST_F(NatKeepaliveTest, ThreeUnansweredKeepalivesMakeTheBindingUnreachableUntilItAnswers) {
  const Source natted = test::source(Protocol::Udp, "198.51.100.7", 40123, kNoFlow);
  ASSERT_TRUE(loc.update(one("a@x.org", "sip:a@192.168.1.20:5060", 3600, natted)));
  for (int i = 1; i <= 2; ++i) {
    tick();
    ASSERT_EQ(pings.sent.size(), 1u);
    pings.answer_all(0);
    EXPECT_FALSE(loc.lookup("a@x.org").at(0).unreachable) << "after " << i << " misses";
  }
  tick();
  pings.answer_all(0);
  EXPECT_TRUE(loc.lookup("a@x.org").at(0).unreachable);
  EXPECT_EQ(reg.get("nat_bindings_unreachable").value(), 1u);
  EXPECT_EQ(reg.get("nat_keepalive_unanswered").value(), 3u);
  // Still pinged: any final answer, even a 405, brings it back.
  tick();
  ASSERT_EQ(pings.sent.size(), 1u);
  pings.answer_all(405);
  EXPECT_FALSE(loc.lookup("a@x.org").at(0).unreachable);
  EXPECT_EQ(reg.get("nat_bindings_unreachable").value(), 1u);
}

TEST_F(NatKeepaliveTest, ACallToAnUnreachableBindingGets480AtOnce) {
  proxy::Domains domains;
  domains.add_domain("x.org");
  LocationLookupProcessor lookup(domains, loc, nullptr);
  const auto invite = test::msg(
      "INVITE sip:a@x.org SIP/2.0\n"
      "Via: SIP/2.0/UDP 192.0.2.5:5060;branch=z9hG4bKnat1\n"
      "Max-Forwards: 70\n"
      "From: <sip:b@x.org>;tag=1\n"
      "To: <sip:a@x.org>\n"
      "Call-ID: nat-call\n"
      "CSeq: 1 INVITE\n"
      "Content-Length: 0\n\n");
  const Source caller = test::source(Protocol::Udp, "192.0.2.5", 5060, kNoFlow);
  const Source natted = test::source(Protocol::Udp, "198.51.100.7", 40123, kNoFlow);
  ASSERT_TRUE(loc.update(one("a@x.org", "sip:a@192.168.1.20:5060", 3600, natted)));
  EXPECT_EQ(test::run(lookup, invite, caller).targets.size(), 1u);
  for (int i = 0; i < 3; ++i) {
    tick();
    pings.answer_all(0);
  }
  const auto o = test::run(lookup, invite, caller);
  EXPECT_TRUE(o.targets.empty());
  EXPECT_EQ(o.status(), 480);
}

TEST_F(NatKeepaliveTest, ARegisterMakesAnUnreachableBindingReachable) {
  const Source natted = test::source(Protocol::Udp, "198.51.100.7", 40123, kNoFlow);
  ASSERT_TRUE(loc.update(one("a@x.org", "sip:a@192.168.1.20:5060", 3600, natted)));
  for (int i = 0; i < 3; ++i) {
    tick();
    pings.answer_all(0);
  }
  ASSERT_TRUE(loc.lookup("a@x.org").at(0).unreachable);
  ASSERT_TRUE(loc.update(one("a@x.org", "sip:a@192.168.1.20:5060", 3600, natted, "cid", 2)));
  EXPECT_FALSE(loc.lookup("a@x.org").at(0).unreachable);
}

TEST_F(NatKeepaliveTest, AKeepaliveStillWaitingIsNotSentAgainAndLateAnswersAfterStopAreIgnored) {
  const Source natted = test::source(Protocol::Udp, "198.51.100.7", 40123, kNoFlow);
  ASSERT_TRUE(loc.update(one("a@x.org", "sip:a@192.168.1.20:5060", 3600, natted)));
  tick();
  tick();  // the first is unanswered still (Timer F is longer than a short interval)
  EXPECT_EQ(pings.sent.size(), 1u);
  EXPECT_EQ(nat.outstanding(), 1u);
  nat.stop();
  pings.answer_all(0);  // no effect, no crash
  EXPECT_FALSE(loc.lookup("a@x.org").at(0).unreachable);
  tick();
  EXPECT_TRUE(pings.sent.empty());
}

}  // namespace
}  // namespace sipws::registrar
