// Serial forking and failure handling in the proxy core (RFC 3261 s.16.6 step 2, s.16.7 step 6):
// q-groups tried one after the other, Target::continue_on and response_timeout (PSTN gateway
// failover), FailureProcessors with the chain re-run, and the ring timeout. Real transaction
// layer and parser, in-memory wire, manual clock: every assertion is on what went on the wire.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "loopback.hpp"
#include "proxy/proxy_core.hpp"
#include "proxy/routing.hpp"
#include "sip/parser.hpp"
#include "wire.hpp"

namespace sipws::proxy {
namespace {

using sip::HeaderId;
using sip::Message;
using sip::Method;

using test::Sent;
using test::Wire;

constexpr const char* kRouteSecret = "serial-test-route-secret-0123";
constexpr const char* kCallId = "serial-1@test";
constexpr std::uint16_t kCallerPort = 5062;

using FixedNetwork = test::LoopbackNetwork;
using test::ip;
using test::NoNamesResolver;

Target target(std::string uri, float q = 1.0f, std::vector<int> continue_on = {},
              Millis response_timeout = Millis(0)) {
  Target t;
  t.uri = std::move(uri);
  t.q = q;
  t.continue_on = std::move(continue_on);
  t.response_timeout = response_timeout;
  return t;
}

/// The location lookup's job: adds fixed targets for sip:alice@localhost, and the ring timeout
/// (a no-answer rule) for the step they start.
class FixedTargets final : public RequestProcessor {
 public:
  FixedTargets(std::vector<Target> t, Millis ring) : targets_(std::move(t)), ring_(ring) {}
  std::string_view name() const override { return "fixed-targets"; }
  Action process(RequestContext& ctx) override {
    ++calls;
    if (ctx.request().request_uri().host != "localhost") return Action::Continue;
    for (const auto& t : targets_) ctx.targets().push_back(t);
    if (ring_.count() > 0) ctx.set_ring_timeout(ring_);
    return Action::Continue;
  }
  int calls = 0;

 private:
  std::vector<Target> targets_;
  Millis ring_;
};

/// A forward-on-failure rule: retargets to `to` (adding a header, as a Diversion would be) when
/// `when` accepts the outcome; records every outcome it is shown.
class RetargetOnFailure final : public FailureProcessor {
 public:
  RetargetOnFailure(std::string to, std::function<bool(const StepOutcome&)> when)
      : to_(std::move(to)), when_(std::move(when)) {}
  std::string_view name() const override { return "retarget"; }
  bool on_failure(RequestContext& ctx, const StepOutcome& outcome) override {
    seen.push_back(outcome);
    if (!when_(outcome)) return false;
    ctx.request().set_request_uri(to_);
    ctx.request().append("X-Forwarded-By", "retarget-" + std::to_string(seen.size()));
    return true;
  }
  std::vector<StepOutcome> seen;

 private:
  std::string to_;
  std::function<bool(const StepOutcome&)> when_;
};

std::string invite(const std::string& ruri, const std::string& branch = "z9hG4bKs1") {
  return "INVITE " + ruri +
         " SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=" +
         branch +
         "\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:carol@localhost>;tag=a1\r\n"
         "To: <" +
         ruri +
         ">\r\n"
         "Call-ID: " +
         kCallId +
         "\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:carol@127.0.0.1:5062>\r\n"
         "Content-Length: 0\r\n\r\n";
}

std::string cancel(const std::string& ruri, const std::string& branch = "z9hG4bKs1") {
  return "CANCEL " + ruri +
         " SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=" +
         branch +
         "\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:carol@localhost>;tag=a1\r\n"
         "To: <" +
         ruri +
         ">\r\n"
         "Call-ID: " +
         kCallId +
         "\r\n"
         "CSeq: 1 CANCEL\r\n"
         "Content-Length: 0\r\n\r\n";
}

bool to_caller(const Sent& s) {
  return s.dest.endpoint.address == ip("127.0.0.1") && s.dest.endpoint.port == kCallerPort;
}

class SerialForkTest : public ::testing::Test {
 protected:
  SerialForkTest()
      : resolver(timers),
        core(timers, domains, net, resolver, ProxyConfig{"sipws/0.1", kRouteSecret, true}) {
    domains.add_domain("localhost");
    domains.add_alias("127.0.0.1");
    core.attach(txns, wire);
  }

  /// Registers the target chain (and a ring timeout for the first step).
  FixedTargets* use_targets(std::vector<Target> targets, Millis ring = Millis(0)) {
    auto p = std::make_unique<FixedTargets>(std::move(targets), ring);
    FixedTargets* raw = p.get();
    core.add_request_processor(std::move(p));
    return raw;
  }

  RetargetOnFailure* add_retarget(
      std::string to,
      std::function<bool(const StepOutcome&)> when = [](const StepOutcome&) { return true; }) {
    auto p = std::make_unique<RetargetOnFailure>(std::move(to), std::move(when));
    RetargetOnFailure* raw = p.get();
    core.add_failure_processor(std::move(p));
    return raw;
  }

  void receive(const std::string& text) {
    auto m = sip::parse(text);
    ASSERT_TRUE(m.has_value()) << m.error().reason;
    txns.receive(
        *m,
        Source{Protocol::Udp, {ip("127.0.0.1"), kCallerPort}, {ip("127.0.0.1"), 5060}, kNoFlow});
  }

  /// The caller's INVITE to alice@localhost; checks the 100 Trying and removes it.
  void call() {
    receive(invite("sip:alice@localhost"));
    Sent trying = wire.pop();
    EXPECT_EQ(trying.msg.status(), 100);
    EXPECT_TRUE(to_caller(trying));
  }

  /// Feeds the response of the downstream element `fwd` was sent to.
  void answer(const Sent& fwd, int status, const std::string& to_tag = "") {
    Message rsp = sip::make_response(fwd.msg, status);
    if (status > 100) {
      rsp.set_to_tag(to_tag.empty() ? "t" + fwd.dest.endpoint.address.to_string() : to_tag);
    }
    auto m = sip::parse(rsp.serialize());
    ASSERT_TRUE(m.has_value());
    txns.receive(*m,
                 Source{fwd.dest.protocol, fwd.dest.endpoint, {ip("127.0.0.1"), 5060}, kNoFlow});
  }

  /// Removes and returns every message sent to `addr` with `method` (ACKs are skipped unless
  /// asked for).
  std::vector<Sent> take_requests(const char* addr, Method method = Method::Invite) {
    std::vector<Sent> out;
    for (auto it = wire.sent.begin(); it != wire.sent.end();) {
      if (it->msg.is_request() && it->msg.method() == method &&
          it->dest.endpoint.address == ip(addr)) {
        out.push_back(std::move(*it));
        it = wire.sent.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  /// The only `method` request sent to `addr` so far (removed); fails the test otherwise.
  Sent take_one(const char* addr, Method method = Method::Invite) {
    auto v = take_requests(addr, method);
    EXPECT_EQ(v.size(), 1u) << "requests to " << addr;
    return v.empty() ? Sent{} : v.front();
  }

  /// Removes and returns the statuses of every response sent to the caller, in order.
  std::vector<int> take_caller_statuses() {
    std::vector<int> out;
    for (auto it = wire.sent.begin(); it != wire.sent.end();) {
      if (to_caller(*it) && it->msg.is_response() && it->msg.cseq().method == Method::Invite) {
        out.push_back(it->msg.status());
        it = wire.sent.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  /// Drops the hop-by-hop ACKs the client transactions send for non-2xx finals.
  void drop_acks() {
    std::erase_if(wire.sent, [](const Sent& s) {
      return s.msg.is_request() && s.msg.method() == Method::Ack;
    });
  }

  bool any_request_to(const char* addr) const {
    return std::any_of(wire.sent.begin(), wire.sent.end(), [&](const Sent& s) {
      return s.msg.is_request() && s.dest.endpoint.address == ip(addr);
    });
  }

  ManualTimerService timers;
  Domains domains;
  FixedNetwork net;
  NoNamesResolver resolver;
  Wire wire;
  ProxyCore core;
  sip::txn::TransactionLayer txns{timers, wire, core};
};

// ---------------------------------------------------------------- q-groups (s.16.6 step 2)

TEST_F(SerialForkTest, LowerQGroupForksInParallelOnlyAfterTheFirstFails) {
  // Listed out of order: the core sorts by q and keeps the order within a group.
  use_targets({target("sip:alice@127.0.0.4:5070", 0.5f), target("sip:alice@127.0.0.3:5070", 1.0f),
               target("sip:alice@127.0.0.5:5070", 0.5f)});
  call();
  Sent a = take_one("127.0.0.3");
  EXPECT_EQ(a.msg.request_uri().raw, "sip:alice@127.0.0.3:5070");
  EXPECT_TRUE(wire.sent.empty());

  answer(a, 180);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{180});
  answer(a, 486);
  drop_acks();
  EXPECT_TRUE(take_caller_statuses().empty());  // the walk goes on: nothing final upstream
  Sent b = take_one("127.0.0.4");
  Sent c = take_one("127.0.0.5");
  EXPECT_TRUE(wire.sent.empty());
  EXPECT_EQ(b.msg.request_uri().raw, "sip:alice@127.0.0.4:5070");
  EXPECT_EQ(c.msg.request_uri().raw, "sip:alice@127.0.0.5:5070");
  EXPECT_NE(b.msg.top_via().branch(), c.msg.top_via().branch());
  EXPECT_NE(b.msg.top_via().branch(), a.msg.top_via().branch());
  for (const Sent* s : {&b, &c}) {
    EXPECT_EQ(s->msg.max_forwards(), 69u);  // forwarded once, not once per step
    EXPECT_EQ(s->msg.count(HeaderId::Via), 2u);
    EXPECT_EQ(s->msg.count(HeaderId::RecordRoute), 1u);
  }

  answer(b, 180);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{180});
  answer(c, 200);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{200});
  Sent cancel_b = take_one("127.0.0.4", Method::Cancel);
  EXPECT_EQ(cancel_b.msg.top_via().branch(), b.msg.top_via().branch());
  EXPECT_TRUE(take_requests("127.0.0.5", Method::Cancel).empty());
}

TEST_F(SerialForkTest, AllGroupsFailingGiveTheBestResponseOfAllSteps) {
  use_targets({target("sip:alice@127.0.0.3:5070", 1.0f), target("sip:alice@127.0.0.4:5070", 0.5f)});
  call();
  answer(take_one("127.0.0.3"), 302);
  drop_acks();
  EXPECT_TRUE(take_caller_statuses().empty());
  answer(take_one("127.0.0.4"), 486);
  // s.16.7 step 6: the lowest class wins across both steps (3xx before 4xx).
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{302});
}

TEST_F(SerialForkTest, SixHundredFromTheFirstGroupStopsTheWalk) {
  use_targets({target("sip:alice@127.0.0.3:5070", 1.0f), target("sip:alice@127.0.0.4:5070", 0.5f),
               target("sip:alice@127.0.0.5:5070", 0.5f)});
  call();
  answer(take_one("127.0.0.3"), 600);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{600});
  timers.advance(Millis(40000));
  EXPECT_FALSE(any_request_to("127.0.0.4"));
  EXPECT_FALSE(any_request_to("127.0.0.5"));
}

TEST_F(SerialForkTest, TwoHundredInTheFirstGroupMeansTheNextGroupNeverStarts) {
  use_targets({target("sip:alice@127.0.0.3:5070", 1.0f), target("sip:alice@127.0.0.4:5070", 0.5f)});
  call();
  answer(take_one("127.0.0.3"), 200);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{200});
  timers.advance(Millis(200000));  // past Timer C and every transaction timer
  EXPECT_FALSE(any_request_to("127.0.0.4"));
  EXPECT_TRUE(take_caller_statuses().empty());
}

// ---------------------------------------------------------------- gateways: continue_on

class GatewayFailoverTest : public SerialForkTest {
 protected:
  /// Two PSTN gateways over TCP (no INVITE retransmissions to muddle the wire), failing over on
  /// 408 and 503 only, each abandoned after 2 s without any response.
  void two_gateways(Millis timeout = Millis(2000)) {
    use_targets({target("sip:+15551234@127.0.0.3:5070;transport=tcp", 1.0f, {408, 503}, timeout),
                 target("sip:+15551234@127.0.0.4:5070;transport=tcp", 0.5f, {408, 503}, timeout)});
  }
};

TEST_F(GatewayFailoverTest, A503MovesToTheNextGatewayAndTheCallerNeverSeesIt) {
  two_gateways();
  call();
  Sent gw1 = take_one("127.0.0.3");
  EXPECT_EQ(gw1.dest.protocol, Protocol::Tcp);
  answer(gw1, 503);
  drop_acks();
  Sent gw2 = take_one("127.0.0.4");
  EXPECT_EQ(gw2.msg.request_uri().raw, "sip:+15551234@127.0.0.4:5070;transport=tcp");
  answer(gw2, 183);
  answer(gw2, 200);
  // Everything the caller got, 100 Trying aside: no 503 (nor its 500) ever went upstream.
  EXPECT_EQ(take_caller_statuses(), (std::vector<int>{183, 200}));
  EXPECT_TRUE(wire.sent.empty());
}

TEST_F(GatewayFailoverTest, AStatusOutsideContinueOnEndsTheWalk) {
  two_gateways();
  call();
  answer(take_one("127.0.0.3"), 486);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{486});
  timers.advance(Millis(40000));
  EXPECT_FALSE(any_request_to("127.0.0.4"));
}

TEST_F(GatewayFailoverTest, EveryGatewayFailing503GivesTheCaller500) {
  two_gateways();
  call();
  answer(take_one("127.0.0.3"), 503);
  answer(take_one("127.0.0.4"), 503);
  // s.16.7 step 6: a 503 is not relayed as such (it would make the caller fail over too).
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{500});
}

// ---------------------------------------------------------------- gateways: response_timeout

TEST_F(GatewayFailoverTest, ASilentGatewayIsAbandonedAfterExactlyItsResponseTimeout) {
  two_gateways(Millis(2000));
  call();
  Sent gw1 = take_one("127.0.0.3");
  timers.advance(Millis(1999));
  EXPECT_TRUE(wire.sent.empty()) << wire.sent.front().msg.serialize();
  timers.advance(Millis(1));
  Sent gw2 = take_one("127.0.0.4");
  EXPECT_NE(gw2.msg.top_via().branch(), gw1.msg.top_via().branch());
  // No provisional from the dead gateway: no CANCEL yet (s.9.1), and nothing upstream.
  EXPECT_TRUE(wire.sent.empty());
  answer(gw2, 200);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{200});
}

TEST_F(GatewayFailoverTest, EverySilentGatewayEndsWith408AfterBothTimeouts) {
  two_gateways(Millis(2000));
  call();
  take_one("127.0.0.3");
  timers.advance(Millis(2000));
  take_one("127.0.0.4");
  timers.advance(Millis(1999));
  EXPECT_TRUE(wire.sent.empty());
  timers.advance(Millis(1));
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{408});
}

TEST_F(GatewayFailoverTest, AHundredTryingBeforeTheTimeoutKeepsTheBranch) {
  two_gateways(Millis(2000));
  call();
  Sent gw1 = take_one("127.0.0.3");
  timers.advance(Millis(1500));
  answer(gw1, 100);
  timers.advance(Millis(10000));
  EXPECT_TRUE(wire.sent.empty());  // no second gateway, no CANCEL, 100 not relayed
  answer(gw1, 200);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{200});
  EXPECT_FALSE(any_request_to("127.0.0.4"));
}

TEST_F(GatewayFailoverTest, AProvisionalAfterTheLocalTimeoutIsCancelledNotRelayed) {
  two_gateways(Millis(2000));
  call();
  Sent gw1 = take_one("127.0.0.3");
  timers.advance(Millis(2000));
  Sent gw2 = take_one("127.0.0.4");
  answer(gw1, 180);  // too late: the branch ended here as 408
  Sent c = take_one("127.0.0.3", Method::Cancel);
  EXPECT_EQ(c.msg.top_via().branch(), gw1.msg.top_via().branch());
  EXPECT_EQ(c.msg.request_uri().raw, gw1.msg.request_uri().raw);
  EXPECT_TRUE(take_caller_statuses().empty());
  answer(gw1, 487);  // its final non-2xx is ignored too
  drop_acks();
  EXPECT_TRUE(take_caller_statuses().empty());
  answer(gw2, 180);
  answer(gw2, 200);
  EXPECT_EQ(take_caller_statuses(), (std::vector<int>{180, 200}));
}

TEST_F(GatewayFailoverTest, ALate2xxFromATimedOutGatewayIsRelayedAndWins) {
  two_gateways(Millis(2000));
  call();
  Sent gw1 = take_one("127.0.0.3");
  timers.advance(Millis(2000));
  Sent gw2 = take_one("127.0.0.4");
  answer(gw2, 180);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{180});
  answer(gw1, 200);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{200});
  Sent c = take_one("127.0.0.4", Method::Cancel);
  EXPECT_EQ(c.msg.top_via().branch(), gw2.msg.top_via().branch());
}

// ---------------------------------------------------------------- failure processors

using FailureForwardTest = SerialForkTest;

TEST_F(FailureForwardTest, BusyOnEveryBranchRetargetsWithTheModifiedRequest) {
  use_targets({target("sip:alice@127.0.0.3:5070"), target("sip:alice@127.0.0.4:5070")});
  RetargetOnFailure* fp =
      add_retarget("sip:voicemail@127.0.0.7:5070", [](const StepOutcome& o) { return o.all_busy; });
  call();
  Sent a = take_one("127.0.0.3");
  Sent b = take_one("127.0.0.4");
  answer(a, 486);
  EXPECT_TRUE(fp->seen.empty());  // the step is not over yet
  answer(b, 486);
  drop_acks();
  ASSERT_EQ(fp->seen.size(), 1u);
  EXPECT_EQ(fp->seen[0].best_status, 486);
  EXPECT_TRUE(fp->seen[0].all_busy);
  EXPECT_FALSE(fp->seen[0].no_answer);
  EXPECT_TRUE(take_caller_statuses().empty());

  Sent vm = take_one("127.0.0.7");
  EXPECT_EQ(vm.msg.request_uri().raw, "sip:voicemail@127.0.0.7:5070");
  ASSERT_NE(vm.msg.find("X-Forwarded-By"), nullptr);
  EXPECT_EQ(vm.msg.find("X-Forwarded-By")->value, "retarget-1");
  EXPECT_EQ(vm.msg.max_forwards(), 69u);
  EXPECT_EQ(vm.msg.count(HeaderId::Via), 2u);
  EXPECT_EQ(vm.msg.count(HeaderId::RecordRoute), 1u);
  EXPECT_TRUE(wire.sent.empty());
  answer(vm, 200);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{200});
}

TEST_F(FailureForwardTest, ShowsTheOutcomeAndAFalseAnswerLetsTheBestResponseThrough) {
  use_targets({target("sip:alice@127.0.0.3:5070"), target("sip:alice@127.0.0.4:5070")});
  RetargetOnFailure* fp =
      add_retarget("sip:voicemail@127.0.0.7:5070", [](const StepOutcome& o) { return o.all_busy; });
  call();
  Sent a = take_one("127.0.0.3");
  Sent b = take_one("127.0.0.4");
  answer(a, 486);
  answer(b, 404);
  ASSERT_EQ(fp->seen.size(), 1u);
  EXPECT_EQ(fp->seen[0].best_status, 486);  // the first of the 4xx class (s.16.7 step 6)
  EXPECT_FALSE(fp->seen[0].all_busy);
  EXPECT_FALSE(fp->seen[0].no_answer);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{486});
  EXPECT_FALSE(any_request_to("127.0.0.7"));
}

TEST_F(FailureForwardTest, NoAnswerOutcomeWhenEveryBranchEnds408Or480) {
  use_targets({target("sip:alice@127.0.0.3:5070"), target("sip:alice@127.0.0.4:5070")});
  RetargetOnFailure* fp = add_retarget("sip:voicemail@127.0.0.7:5070",
                                       [](const StepOutcome& o) { return o.no_answer; });
  call();
  answer(take_one("127.0.0.3"), 480);
  answer(take_one("127.0.0.4"), 408);
  ASSERT_EQ(fp->seen.size(), 1u);
  EXPECT_TRUE(fp->seen[0].no_answer);
  EXPECT_FALSE(fp->seen[0].all_busy);
  EXPECT_EQ(fp->seen[0].best_status, 480);
  answer(take_one("127.0.0.7"), 486);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{480});  // first 4xx still the best
}

TEST_F(FailureForwardTest, RingTimeoutCancelsTheRingingBranchesAndForwardsOnNoAnswer) {
  // TCP targets: no retransmissions; .4 stays silent (no provisional, so no CANCEL yet).
  use_targets({target("sip:alice@127.0.0.3:5070;transport=tcp"),
               target("sip:alice@127.0.0.4:5070;transport=tcp")},
              Millis(20000));
  RetargetOnFailure* fp = add_retarget("sip:voicemail@127.0.0.7:5070;transport=tcp");
  call();
  Sent a = take_one("127.0.0.3");
  Sent b = take_one("127.0.0.4");
  answer(a, 180);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{180});
  timers.advance(Millis(19999));
  EXPECT_TRUE(wire.sent.empty());
  EXPECT_TRUE(fp->seen.empty());
  timers.advance(Millis(1));

  Sent cancel_a = take_one("127.0.0.3", Method::Cancel);
  EXPECT_EQ(cancel_a.msg.top_via().branch(), a.msg.top_via().branch());
  EXPECT_TRUE(take_requests("127.0.0.4", Method::Cancel).empty());
  ASSERT_EQ(fp->seen.size(), 1u);
  EXPECT_TRUE(fp->seen[0].no_answer);
  EXPECT_FALSE(fp->seen[0].all_busy);
  Sent vm = take_one("127.0.0.7");
  EXPECT_EQ(vm.msg.request_uri().raw, "sip:voicemail@127.0.0.7:5070;transport=tcp");
  ASSERT_NE(vm.msg.find("X-Forwarded-By"), nullptr);
  EXPECT_TRUE(take_caller_statuses().empty());

  answer(b, 100);  // the silent branch wakes up: now it can be cancelled
  Sent cancel_b = take_one("127.0.0.4", Method::Cancel);
  EXPECT_EQ(cancel_b.msg.top_via().branch(), b.msg.top_via().branch());
  answer(b, 487);
  drop_acks();

  answer(vm, 180);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{180});
  // The cancelled branch answered before our CANCEL reached it: a 2xx still wins.
  answer(a, 200);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{200});
  Sent cancel_vm = take_one("127.0.0.7", Method::Cancel);
  EXPECT_EQ(cancel_vm.msg.top_via().branch(), vm.msg.top_via().branch());
  answer(vm, 487);
  drop_acks();
  EXPECT_TRUE(take_caller_statuses().empty());
  EXPECT_TRUE(wire.sent.empty());
}

TEST_F(FailureForwardTest, LateTwoHundredCancelsTheNewBranchOnceItResponds) {
  use_targets({target("sip:alice@127.0.0.3:5070;transport=tcp")}, Millis(15000));
  add_retarget("sip:voicemail@127.0.0.7:5070;transport=tcp");
  call();
  Sent a = take_one("127.0.0.3");
  answer(a, 180);
  take_caller_statuses();
  timers.advance(Millis(15000));
  take_one("127.0.0.3", Method::Cancel);
  Sent vm = take_one("127.0.0.7");
  answer(a, 200);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{200});
  EXPECT_TRUE(wire.sent.empty());  // the new branch has sent nothing: CANCEL waits (s.9.1)
  answer(vm, 100);
  Sent c = take_one("127.0.0.7", Method::Cancel);
  EXPECT_EQ(c.msg.top_via().branch(), vm.msg.top_via().branch());
}

TEST_F(FailureForwardTest, RingTimeoutWithoutARetargetGives408) {
  use_targets({target("sip:alice@127.0.0.3:5070;transport=tcp")}, Millis(15000));
  RetargetOnFailure* fp =
      add_retarget("sip:voicemail@127.0.0.7:5070", [](const StepOutcome&) { return false; });
  call();
  Sent a = take_one("127.0.0.3");
  answer(a, 180);
  take_caller_statuses();
  timers.advance(Millis(15000));
  ASSERT_EQ(fp->seen.size(), 1u);
  EXPECT_TRUE(fp->seen[0].no_answer);
  take_one("127.0.0.3", Method::Cancel);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{408});
  answer(a, 487);
  drop_acks();
  EXPECT_TRUE(take_caller_statuses().empty());
}

TEST_F(FailureForwardTest, CallerCancelDuringAStepStopsEveryLaterStep) {
  use_targets({target("sip:alice@127.0.0.3:5070", 1.0f), target("sip:alice@127.0.0.4:5070", 0.5f)});
  RetargetOnFailure* fp = add_retarget("sip:voicemail@127.0.0.7:5070");
  call();
  Sent a = take_one("127.0.0.3");
  answer(a, 180);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{180});
  receive(cancel("sip:alice@localhost"));
  Sent cancel_ok = wire.pop();
  EXPECT_EQ(cancel_ok.msg.status(), 200);
  EXPECT_EQ(cancel_ok.msg.cseq().method, Method::Cancel);
  Sent c = take_one("127.0.0.3", Method::Cancel);
  EXPECT_EQ(c.msg.top_via().branch(), a.msg.top_via().branch());
  answer(a, 487);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{487});
  EXPECT_TRUE(fp->seen.empty());  // a cancelled call is not forwarded anywhere
  timers.advance(Millis(40000));
  EXPECT_FALSE(any_request_to("127.0.0.4"));
  EXPECT_FALSE(any_request_to("127.0.0.7"));
}

TEST_F(FailureForwardTest, CallerCancelBeforeAnyProvisionalStopsLaterSteps) {
  use_targets({target("sip:alice@127.0.0.3:5070;transport=tcp", 1.0f),
               target("sip:alice@127.0.0.4:5070", 0.5f)});
  call();
  Sent a = take_one("127.0.0.3");
  receive(cancel("sip:alice@localhost"));
  EXPECT_EQ(wire.pop().msg.status(), 200);                   // for the CANCEL
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{487});  // nobody downstream can answer yet
  answer(a, 100);
  take_one("127.0.0.3", Method::Cancel);
  answer(a, 487);
  timers.advance(Millis(40000));
  EXPECT_FALSE(any_request_to("127.0.0.4"));
}

/// Counts its runs and, on a re-run, answers 404 (the forward target is unknown).
class RerunPoint final : public RequestProcessor {
 public:
  std::string_view name() const override { return "rerun-point"; }
  Action process(RequestContext& ctx) override {
    ++calls;
    if (!ctx.rerun()) return Action::Continue;
    ctx.respond(404, "Not Found");
    return Action::Respond;
  }
  int calls = 0;
};

TEST_F(FailureForwardTest, ReRunStartsAtTheNamedProcessorAndItsAnswerCompetes) {
  FixedTargets* ft =
      use_targets({target("sip:alice@127.0.0.3:5070"), target("sip:alice@127.0.0.4:5070")});
  auto rp = std::make_unique<RerunPoint>();
  RerunPoint* rerun_point = rp.get();
  core.add_request_processor(std::move(rp));
  core.set_rerun_from("rerun-point");
  RetargetOnFailure* fp = add_retarget("sip:nobody@localhost");
  call();
  EXPECT_EQ(ft->calls, 1);
  EXPECT_EQ(rerun_point->calls, 1);
  answer(take_one("127.0.0.3"), 486);
  answer(take_one("127.0.0.4"), 486);
  EXPECT_EQ(fp->seen.size(), 1u);
  EXPECT_EQ(ft->calls, 1);           // before the rerun point: not run again
  EXPECT_EQ(rerun_point->calls, 2);  // from the rerun point on: run again
  // The re-run's 404 competes with the 486s (s.16.7 step 6): the first 4xx wins.
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{486});
  drop_acks();
  EXPECT_TRUE(wire.sent.empty());
}

TEST_F(FailureForwardTest, ChainAnswer480GoesThroughTheFailureProcessorsAsNoAnswer) {
  /// A known user without a usable binding, with a no-answer forwarding rule.
  class Unavailable final : public RequestProcessor {
   public:
    std::string_view name() const override { return "unavailable"; }
    Action process(RequestContext& ctx) override {
      ctx.failure_forward().no_answer = "sip:voicemail@127.0.0.7:5070";
      ctx.respond(480, "Temporarily Unavailable");
      return Action::Respond;
    }
  };
  core.add_request_processor(std::make_unique<Unavailable>());
  RetargetOnFailure* fp = add_retarget("sip:voicemail@127.0.0.7:5070",
                                       [](const StepOutcome& o) { return o.no_answer; });
  call();
  ASSERT_EQ(fp->seen.size(), 1u);
  EXPECT_TRUE(fp->seen[0].no_answer);
  EXPECT_EQ(fp->seen[0].best_status, 480);
  EXPECT_TRUE(take_caller_statuses().empty());
  Sent vm = take_one("127.0.0.7");
  answer(vm, 200);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{200});
}

TEST_F(FailureForwardTest, MaxRerunsBoundsAProcessorThatAlwaysRetargets) {
  use_targets({target("sip:alice@127.0.0.3:5070")});
  RetargetOnFailure* fp = add_retarget("sip:loop@127.0.0.8:5070");
  call();
  answer(take_one("127.0.0.3"), 486);
  int forwarded = 0;
  std::vector<int> finals;
  for (int round = 0; round < 50 && finals.empty(); ++round) {
    auto reqs = take_requests("127.0.0.8");
    if (reqs.empty()) break;
    ASSERT_EQ(reqs.size(), 1u);
    ++forwarded;
    answer(reqs.front(), 486);
    finals = take_caller_statuses();
  }
  EXPECT_EQ(finals, std::vector<int>{486});
  EXPECT_EQ(forwarded, 8);  // kMaxReruns
  EXPECT_EQ(fp->seen.size(), 8u);
  drop_acks();
  EXPECT_TRUE(wire.sent.empty());
}

TEST_F(FailureForwardTest, MaxRerunsBoundsRetargetsThatFailAtOnce) {
  use_targets({target("sip:alice@127.0.0.3:5070")});
  // A browser contact without its flow fails synchronously (480): the re-runs nest.
  RetargetOnFailure* fp = add_retarget("sip:gone@x.invalid;transport=ws");
  call();
  answer(take_one("127.0.0.3"), 486);
  EXPECT_EQ(fp->seen.size(), 8u);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{486});
  drop_acks();
  EXPECT_TRUE(wire.sent.empty());
  EXPECT_EQ(core.active_requests(), 1u);  // until the server transaction ends
  timers.advance(Millis(40000));
  EXPECT_EQ(core.active_requests(), 0u);
}

TEST_F(GatewayFailoverTest, EveryBranchOfAGroupMustAllowTheWalkToGoOn) {
  use_targets({target("sip:+15551234@127.0.0.3:5070;transport=tcp", 1.0f, {408, 503}),
               target("sip:+15551234@127.0.0.4:5070;transport=tcp", 1.0f, {408, 503}),
               target("sip:+15551234@127.0.0.5:5070;transport=tcp", 0.5f, {408, 503})});
  call();
  Sent gw1a = take_one("127.0.0.3");
  Sent gw1b = take_one("127.0.0.4");
  answer(gw1a, 503);
  EXPECT_FALSE(any_request_to("127.0.0.5"));  // the group is not over yet
  answer(gw1b, 486);                          // not in its continue_on: the walk stops
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{486});
  timers.advance(Millis(40000));
  EXPECT_FALSE(any_request_to("127.0.0.5"));
}

// ---------------------------------------------------------------- RFC 3261 s.16.7 details

// s.16.7 step 2: a provisional response from 101 to 199 resets Timer C (> 3 min), so a phone
// that starts ringing 100 s after the INVITE rings until 100 + 180 s.
TEST_F(SerialForkTest, TimerCRestartsOnEachProvisionalAbove100) {
  use_targets({target("sip:alice@127.0.0.3:5070;transport=tcp")});
  call();
  Sent a = take_one("127.0.0.3");
  timers.advance(Millis(1000));
  answer(a, 100);  // stops Timer B; does not touch Timer C
  timers.advance(Millis(99000));
  answer(a, 180);  // t = 100 s: Timer C now runs until t = 280 s
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{180});
  timers.advance(Millis(179999));
  EXPECT_TRUE(take_requests("127.0.0.3", Method::Cancel).empty());
  EXPECT_TRUE(take_caller_statuses().empty());
  timers.advance(Millis(1));
  take_one("127.0.0.3", Method::Cancel);  // s.16.8: Timer C fired, the branch is cancelled
  answer(a, 487);
  // The branch ends as 408 at once or with its 487: either way one final for the caller.
  const std::vector<int> finals = take_caller_statuses();
  ASSERT_EQ(finals.size(), 1u);
  EXPECT_TRUE(finals[0] == 408 || finals[0] == 487) << finals[0];
}

// s.16.7 step 5: after a 6xx no new branch is created: a ring timeout that fires while a
// branch is still pending after a 603 does not forward on "no answer"; the caller gets 603.
TEST_F(FailureForwardTest, RingTimeoutAfterA6xxCreatesNoNewBranch) {
  use_targets({target("sip:alice@127.0.0.3:5070;transport=tcp"),
               target("sip:alice@127.0.0.4:5070;transport=tcp")},
              Millis(20000));
  add_retarget("sip:voicemail@127.0.0.7:5070;transport=tcp",
               [](const StepOutcome& o) { return o.no_answer; });
  call();
  Sent a = take_one("127.0.0.3");
  take_one("127.0.0.4");  // stays silent: no provisional, so no CANCEL can go yet
  answer(a, 603);
  EXPECT_TRUE(take_caller_statuses().empty());  // s.16.7 step 6: waits for the other branch
  timers.advance(Millis(20000));
  EXPECT_FALSE(any_request_to("127.0.0.7"));
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{603});
}

// ---------------------------------------------------------------- the target chain

/// Forks every candidate at once, whatever its q, and records whether each decision was a
/// first step (it decides: SkipChain).
class AllAtOnce final : public TargetProcessor {
 public:
  std::string_view name() const override { return "all-at-once"; }
  Action process(TargetStep& step) override {
    firsts.push_back(step.first());
    step.start_first(step.candidates().size());
    return Action::SkipChain;
  }
  std::vector<bool> firsts;
};

/// Drops the candidates on `host` and leaves the decision to the next processor (Continue).
class DropHost final : public TargetProcessor {
 public:
  explicit DropHost(std::string host) : host_(std::move(host)) {}
  std::string_view name() const override { return "drop-host"; }
  Action process(TargetStep& step) override {
    std::erase_if(step.candidates(),
                  [&](const Target& t) { return t.uri.find(host_) != std::string::npos; });
    return Action::Continue;
  }

 private:
  std::string host_;
};

/// Starts nothing (the target set is empty after all).
class StartNothing final : public TargetProcessor {
 public:
  std::string_view name() const override { return "start-nothing"; }
  Action process(TargetStep& /*step*/) override { return Action::SkipChain; }
};

TEST_F(SerialForkTest, AnAddedTargetProcessorDecidesTheStepBeforeTheQValueOne) {
  use_targets({target("sip:alice@127.0.0.3:5070", 1.0f), target("sip:alice@127.0.0.4:5070", 0.5f)});
  auto p = std::make_unique<AllAtOnce>();
  AllAtOnce* all = p.get();
  core.add_target_processor(std::move(p));
  call();
  Sent a = take_one("127.0.0.3");
  Sent b = take_one("127.0.0.4");  // q=0.5 in the same step: the q-value processor never ran
  EXPECT_EQ(all->firsts, std::vector<bool>{true});
  answer(a, 486);
  answer(b, 302);
  drop_acks();
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{302});  // the best of both branches
  EXPECT_EQ(all->firsts, std::vector<bool>{true});           // no candidate left: not asked again
}

TEST_F(SerialForkTest, ATargetProcessorThatContinuesLeavesTheStepsToTheQValueProcessor) {
  use_targets({target("sip:alice@127.0.0.3:5070", 1.0f), target("sip:alice@127.0.0.4:5070", 1.0f),
               target("sip:alice@127.0.0.5:5070", 0.5f)});
  core.add_target_processor(std::make_unique<DropHost>("127.0.0.4"));
  call();
  Sent a = take_one("127.0.0.3");
  EXPECT_TRUE(wire.sent.empty());  // 127.0.0.4 dropped, 127.0.0.5 waits for its q-group
  answer(a, 486);
  drop_acks();
  Sent c = take_one("127.0.0.5");
  answer(c, 200);
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{200});
  EXPECT_FALSE(any_request_to("127.0.0.4"));
}

TEST_F(SerialForkTest, ATargetChainThatStartsNothingAnswers480) {
  use_targets({target("sip:alice@127.0.0.3:5070", 1.0f)});
  core.add_target_processor(std::make_unique<StartNothing>());
  call();
  EXPECT_EQ(take_caller_statuses(), std::vector<int>{480});  // RFC 3261 s.16.5
  EXPECT_FALSE(any_request_to("127.0.0.3"));
}

}  // namespace
}  // namespace sipws::proxy
