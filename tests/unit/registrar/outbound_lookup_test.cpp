// A JsSIP browser over WebSocket (RFC 7118, Outbound RFC 5626, GRUU RFC 5627), SIP phones over
// UDP/TCP, and the location lookup that routes requests to them.

#include <gtest/gtest.h>

#include "../store/store_fixtures.hpp"
#include "common/counters.hpp"
#include "registrar/location.hpp"
#include "registrar/lookup.hpp"
#include "registrar/registrar.hpp"
#include "registrar_test_util.hpp"

namespace sipws::registrar {
namespace {

using proxy::Action;
using sip::HeaderId;
using test::msg;
using test::param;
using test::run;

constexpr std::string_view kInstance = "<urn:uuid:6c8b3bd8-5e52-4e5b-9a3c-2f3c8f1a1a11>";

/// A REGISTER as JsSIP 3.10 sends it over WSS.
std::string jssip_register(int cseq, std::string_view expires = "600",
                           std::string_view reg_id = "1") {
  return "REGISTER sip:example.com SIP/2.0\n"
         "Via: SIP/2.0/WSS abcdefgh.invalid;branch=z9hG4bK56187" +
         std::to_string(cseq) +
         "\n"
         "Max-Forwards: 69\n"
         "To: <sip:alice@example.com>\n"
         "From: <sip:alice@example.com>;tag=9o3s6mc7qk\n"
         "Call-ID: mhcvd7lkq0dhb6ue3evn3i\n"
         "CSeq: " +
         std::to_string(cseq) +
         " REGISTER\n"
         "Contact: <sip:h7kjh12s@abcdefgh.invalid;transport=ws>;+sip.ice;reg-id=" +
         std::string(reg_id) + ";+sip.instance=\"" + std::string(kInstance) +
         "\";expires=" + std::string(expires) +
         "\n"
         "Expires: " +
         std::string(expires) +
         "\n"
         "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY\n"
         "Supported: path,gruu,outbound\n"
         "User-Agent: JsSIP 3.10.0\n"
         "Content-Length: 0\n\n";
}

/// A REGISTER of a SIP phone (one Via: it talks to us directly).
std::string phone_register(std::string_view user, std::string_view contact, std::string_view proto,
                           std::string_view extra = {}, int cseq = 1) {
  return "REGISTER sip:example.com SIP/2.0\n"
         "Via: SIP/2.0/" +
         std::string(proto) + " 192.0.2.20:5062;branch=z9hG4bKph" + std::to_string(cseq) +
         "\n"
         "Max-Forwards: 70\n"
         "From: <sip:" +
         std::string(user) +
         "@example.com>;tag=ph1\n"
         "To: <sip:" +
         std::string(user) +
         "@example.com>\n"
         "Call-ID: phone-" +
         std::string(user) +
         "\n"
         "CSeq: " +
         std::to_string(cseq) +
         " REGISTER\n"
         "Contact: " +
         std::string(contact) + "\n" + std::string(extra) + "Content-Length: 0\n\n";
}

std::string invite(std::string_view ruri, std::string_view extra = {}) {
  return "INVITE " + std::string(ruri) +
         " SIP/2.0\n"
         "Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKinv1\n"
         "Max-Forwards: 70\n"
         "From: <sip:carol@example.com>;tag=c1\n"
         "To: <" +
         std::string(ruri) +
         ">\n"
         "Call-ID: inv-1\n"
         "CSeq: 1 INVITE\n" +
         std::string(extra) + "Content-Length: 0\n\n";
}

class OutboundLookup : public ::testing::Test {
 protected:
  OutboundLookup() {
    domains.add_domain("example.com");
    domains.add_alias("127.0.0.1");
  }

  ManualTimerService timers;
  proxy::Domains domains;
  LocationService location{timers, nullptr};
  RegistrarProcessor registrar{domains, location, RegistrarConfig{}};
  std::vector<std::string> subscribers{"bob@example.com"};
  LocationLookupProcessor lookup{
      domains, location,
      [this](const std::string& aor, std::function<void(store::Result<bool>)> done) {
        done(std::find(subscribers.begin(), subscribers.end(), aor) != subscribers.end());
      }};
  Source ws = test::source(Protocol::Wss, "198.51.100.7", 52000, 7);
  Source udp = test::source(Protocol::Udp, "192.0.2.20", 5062, kNoFlow);
  Source tcp = test::source(Protocol::Tcp, "192.0.2.21", 40001, 9);
};

TEST_F(OutboundLookup, JssipRegisterGets200WithInstanceRegIdGruusAndRequireOutbound) {
  auto o = run(registrar, msg(jssip_register(1)), ws);
  ASSERT_EQ(o.status(), 200);
  auto c = o.contacts();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].uri.raw, "sip:h7kjh12s@abcdefgh.invalid;transport=ws");
  EXPECT_EQ(param(c[0], "+sip.instance"), kInstance);
  EXPECT_EQ(param(c[0], "reg-id"), "1");
  EXPECT_NE(c[0].param("+sip.ice"), nullptr);
  EXPECT_EQ(param(c[0], "expires"), "600");
  EXPECT_EQ(param(c[0], "pub-gruu"),
            "sip:alice@example.com;gr=urn:uuid:6c8b3bd8-5e52-4e5b-9a3c-2f3c8f1a1a11");
  const std::string tg = param(c[0], "temp-gruu");
  EXPECT_EQ(tg.rfind("sip:tgruu.", 0), 0u) << tg;
  EXPECT_EQ(tg.substr(tg.size() - 15), "@example.com;gr") << tg;
  EXPECT_EQ(o.header(HeaderId::Require), "outbound");
  EXPECT_EQ(o.header(HeaderId::Date), http_date(timers.unix_time()));
  const auto b = location.lookup("alice@example.com");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_TRUE(b[0].outbound);
  EXPECT_EQ(b[0].source.flow, 7u);
  EXPECT_EQ(b[0].user_agent, "JsSIP 3.10.0");
}

TEST_F(OutboundLookup, SameInstanceAndRegIdReplacesTheFlow) {
  ASSERT_EQ(run(registrar, msg(jssip_register(1)), ws).status(), 200);
  Source ws2 = test::source(Protocol::Wss, "198.51.100.7", 52001, 8);
  ASSERT_EQ(run(registrar, msg(jssip_register(2)), ws2).status(), 200);
  auto b = location.lookup("alice@example.com");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].source.flow, 8u);
  // The old flow closing no longer affects the binding.
  location.on_flow_closed(7);
  EXPECT_EQ(location.lookup("alice@example.com").size(), 1u);
  // A second reg-id of the same instance is a second flow (RFC 5626 s.4.2).
  Source ws3 = test::source(Protocol::Wss, "198.51.100.7", 52002, 10);
  ASSERT_EQ(run(registrar, msg(jssip_register(3, "600", "2")), ws3).status(), 200);
  EXPECT_EQ(location.lookup("alice@example.com").size(), 2u);
}

TEST_F(OutboundLookup, FlowClosedRemovesTheWebSocketBinding) {
  ASSERT_EQ(run(registrar, msg(jssip_register(1)), ws).status(), 200);
  location.on_flow_closed(7);
  EXPECT_TRUE(location.lookup("alice@example.com").empty());
  EXPECT_EQ(location.size(), 0u);
  EXPECT_EQ(timers.pending(), 1u);  // the expiry sweep only
  // Alice had a binding: she is known, so 480 rather than 404.
  auto o = run(lookup, msg(invite("sip:alice@example.com")), udp);
  EXPECT_EQ(o.status(), 480);
}

TEST_F(OutboundLookup, LookupTargetsTheWebSocketFlow) {
  ASSERT_EQ(run(registrar, msg(jssip_register(1)), ws).status(), 200);
  auto o = run(lookup, msg(invite("sip:alice@example.com")), udp);
  ASSERT_EQ(o.action, Action::Continue);
  ASSERT_EQ(o.targets.size(), 1u);
  const auto& t = o.targets[0];
  EXPECT_EQ(t.uri, "sip:h7kjh12s@abcdefgh.invalid;transport=ws");
  ASSERT_TRUE(t.next_hop.has_value());
  EXPECT_EQ(t.next_hop->protocol, Protocol::Wss);
  EXPECT_EQ(t.next_hop->endpoint, test::ep("198.51.100.7", 52000));
  EXPECT_EQ(t.next_hop->flow, 7u);
  EXPECT_TRUE(t.route.empty());
}

TEST_F(OutboundLookup, GruusResolveToTheirBinding) {
  auto o = run(registrar, msg(jssip_register(1)), ws);
  ASSERT_EQ(o.status(), 200);
  const auto c = o.contacts().at(0);
  // Another device of Alice, without an instance.
  ASSERT_EQ(run(registrar, msg(phone_register("alice", "<sip:alice@192.0.2.20:5062>", "UDP")), udp)
                .status(),
            200);
  ASSERT_EQ(location.lookup("alice@example.com").size(), 2u);

  auto pub = run(lookup, msg(invite(param(c, "pub-gruu"))), udp);
  ASSERT_EQ(pub.action, Action::Continue);
  ASSERT_EQ(pub.targets.size(), 1u);
  EXPECT_EQ(pub.targets[0].next_hop->flow, 7u);

  auto tmp = run(lookup, msg(invite(param(c, "temp-gruu"))), udp);
  ASSERT_EQ(tmp.action, Action::Continue);
  ASSERT_EQ(tmp.targets.size(), 1u);
  EXPECT_EQ(tmp.targets[0].uri, "sip:h7kjh12s@abcdefgh.invalid;transport=ws");

  EXPECT_EQ(run(lookup, msg(invite("sip:tgruu.nosuchtoken@example.com;gr")), udp).status(), 404);
  EXPECT_EQ(run(lookup, msg(invite("sip:alice@example.com;gr=urn:uuid:0000")), udp).status(), 480);
}

TEST_F(OutboundLookup, UdpPhoneTargetUsesThePeerAddress) {
  auto o = run(registrar, msg(phone_register("bob", "<sip:bob@10.0.0.5:5062>", "UDP")), udp);
  ASSERT_EQ(o.status(), 200);
  EXPECT_EQ(o.header(HeaderId::Require), "");  // no Outbound asked
  auto l = run(lookup, msg(invite("sip:bob@example.com")), udp);
  ASSERT_EQ(l.targets.size(), 1u);
  EXPECT_EQ(l.targets[0].uri, "sip:bob@10.0.0.5:5062");
  ASSERT_TRUE(l.targets[0].next_hop.has_value());
  EXPECT_EQ(l.targets[0].next_hop->protocol, Protocol::Udp);
  EXPECT_EQ(l.targets[0].next_hop->endpoint, test::ep("192.0.2.20", 5062));
  EXPECT_EQ(l.targets[0].next_hop->flow, kNoFlow);
}

TEST_F(OutboundLookup, ThirdPartyRegistrationIsReachedAtItsContact) {
  // The phone at 192.0.2.20:5062 (not behind NAT: its Via names its source) registers bob's
  // desk phone on another port and another host (nat_uac_test: a third-party registration).
  ASSERT_EQ(
      run(registrar,
          msg(phone_register("bob", "<sip:bob@192.0.2.20:5070>, <sip:bob@192.0.2.44>", "UDP")), udp)
          .status(),
      200);
  auto l = run(lookup, msg(invite("sip:bob@example.com")), udp);
  ASSERT_EQ(l.targets.size(), 2u);
  for (const auto& t : l.targets) {
    EXPECT_FALSE(t.next_hop.has_value()) << t.uri << ": routed by its Contact, not the source";
  }
  const auto bindings = location.lookup("bob@example.com");
  ASSERT_EQ(bindings.size(), 2u);
  for (const auto& b : bindings) EXPECT_FALSE(b.direct) << b.contact;
  // The same phone registering its own address: reached through the source as before.
  ASSERT_EQ(run(registrar, msg(phone_register("alice", "<sip:alice@192.0.2.20:5062>", "UDP")), udp)
                .status(),
            200);
  subscribers.emplace_back("alice@example.com");
  l = run(lookup, msg(invite("sip:alice@example.com")), udp);
  ASSERT_EQ(l.targets.size(), 1u);
  ASSERT_TRUE(l.targets[0].next_hop.has_value());
  EXPECT_EQ(l.targets[0].next_hop->endpoint, test::ep("192.0.2.20", 5062));
}

TEST_F(OutboundLookup, ForkTargetsCarryQ) {
  ASSERT_EQ(
      run(registrar,
          msg(phone_register("bob", "<sip:bob@10.0.0.5>;q=0.2, <sip:bob@10.0.0.6>;q=0.9", "UDP")),
          udp)
          .status(),
      200);
  auto l = run(lookup, msg(invite("sip:bob@example.com")), udp);
  ASSERT_EQ(l.targets.size(), 2u);
  EXPECT_EQ(l.targets[0].uri, "sip:bob@10.0.0.6");
  EXPECT_FLOAT_EQ(l.targets[0].q, 0.9f);
  EXPECT_EQ(l.targets[1].uri, "sip:bob@10.0.0.5");
  EXPECT_FLOAT_EQ(l.targets[1].q, 0.2f);
}

TEST_F(OutboundLookup, UnknownUserIs404SubscriberWithoutBindingIs480) {
  EXPECT_EQ(run(lookup, msg(invite("sip:nobody@example.com")), udp).status(), 404);
  EXPECT_EQ(run(lookup, msg(invite("sip:bob@example.com")), udp).status(), 480);
  // user@<our address> means user@<our domain>.
  EXPECT_EQ(run(lookup, msg(invite("sip:bob@127.0.0.1")), udp).status(), 480);
}

TEST_F(OutboundLookup, NotOursContinues) {
  // No user part: the core answers it.
  auto o = run(lookup, msg(invite("sip:example.com")), udp);
  EXPECT_EQ(o.action, Action::Continue);
  EXPECT_TRUE(o.targets.empty());
  EXPECT_FALSE(o.response.has_value());
  // Another domain.
  o = run(lookup, msg(invite("sip:bob@atlanta.example.org")), udp);
  EXPECT_EQ(o.action, Action::Continue);
  EXPECT_TRUE(o.targets.empty());
  // A Route left for elsewhere.
  o = run(lookup, msg(invite("sip:nobody@example.com", "Route: <sip:edge.example.org;lr>\n")), udp);
  EXPECT_EQ(o.action, Action::Continue);
  EXPECT_FALSE(o.response.has_value());
}

TEST_F(OutboundLookup, DeadOutboundTcpFlowGets430) {
  const std::string contact =
      "<sip:carol@192.0.2.21:40001;transport=tcp>;reg-id=1;+sip.instance=\"<urn:uuid:00000000-0000-"
      "0000-0000-000000000001>\"";
  auto o =
      run(registrar, msg(phone_register("carol", contact, "TCP", "Supported: outbound\n")), tcp);
  ASSERT_EQ(o.status(), 200);
  EXPECT_EQ(o.header(HeaderId::Require), "outbound");
  auto l = run(lookup, msg(invite("sip:carol@example.com")), udp);
  ASSERT_EQ(l.targets.size(), 1u);
  EXPECT_EQ(l.targets[0].next_hop->flow, 9u);
  EXPECT_EQ(l.targets[0].next_hop->protocol, Protocol::Tcp);

  location.on_flow_closed(9);
  EXPECT_EQ(location.lookup("carol@example.com").size(), 1u);  // kept, but its flow is dead
  EXPECT_EQ(run(lookup, msg(invite("sip:carol@example.com")), udp).status(), 430);

  // Re-registering over a new flow revives it.
  Source tcp2 = test::source(Protocol::Tcp, "192.0.2.21", 40002, 11);
  ASSERT_EQ(
      run(registrar, msg(phone_register("carol", contact, "TCP", "Supported: outbound\n", 2)), tcp2)
          .status(),
      200);
  l = run(lookup, msg(invite("sip:carol@example.com")), udp);
  ASSERT_EQ(l.targets.size(), 1u);
  EXPECT_EQ(l.targets[0].next_hop->flow, 11u);
}

TEST_F(OutboundLookup, PlainTcpBindingForgetsAClosedFlow) {
  ASSERT_EQ(
      run(registrar, msg(phone_register("dave", "<sip:dave@192.0.2.21;transport=tcp>", "TCP")), tcp)
          .status(),
      200);
  location.on_flow_closed(9);
  auto l = run(lookup, msg(invite("sip:dave@example.com")), udp);
  ASSERT_EQ(l.targets.size(), 1u);
  EXPECT_FALSE(l.targets[0].next_hop.has_value());  // routed by its contact URI
}

TEST_F(OutboundLookup, PathIsStoredEchoedAndRouted) {
  // Registered through an Outbound edge proxy: two Vias, a Path with "ob".
  std::string reg =
      "REGISTER sip:example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKedge1\n"
      "Via: SIP/2.0/WSS abcdefgh.invalid;branch=z9hG4bKua1\n"
      "Max-Forwards: 69\n"
      "To: <sip:erin@example.com>\n"
      "From: <sip:erin@example.com>;tag=e1\n"
      "Call-ID: erin-1\n"
      "CSeq: 1 REGISTER\n"
      "Path: <sip:sw-f3@edge.example.com;lr;ob>\n"
      "Contact: <sip:e1@abcdefgh.invalid;transport=ws>;reg-id=1;+sip.instance=\"<urn:uuid:e>\"\n"
      "Supported: path, outbound\n"
      "Content-Length: 0\n\n";
  Source edge = test::source(Protocol::Udp, "192.0.2.50", 5060, kNoFlow);
  auto o = run(registrar, msg(reg), edge);
  ASSERT_EQ(o.status(), 200);
  EXPECT_EQ(o.header(HeaderId::Path), "<sip:sw-f3@edge.example.com;lr;ob>");
  EXPECT_EQ(o.header(HeaderId::Require), "outbound");
  auto l = run(lookup, msg(invite("sip:erin@example.com")), udp);
  ASSERT_EQ(l.targets.size(), 1u);
  ASSERT_EQ(l.targets[0].route.size(), 1u);
  EXPECT_EQ(l.targets[0].route[0], "<sip:sw-f3@edge.example.com;lr;ob>");
  EXPECT_FALSE(l.targets[0].next_hop.has_value());  // the Path leads the way
}

TEST_F(OutboundLookup, RegIdIgnoredWhenFirstHopIsNotOutbound) {
  std::string reg =
      "REGISTER sip:example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bKp1\n"
      "Via: SIP/2.0/UDP 192.0.2.20:5062;branch=z9hG4bKua2\n"
      "To: <sip:fred@example.com>\n"
      "From: <sip:fred@example.com>;tag=f1\n"
      "Call-ID: fred-1\n"
      "CSeq: 1 REGISTER\n"
      "Contact: <sip:fred@192.0.2.20:5062>;reg-id=1;+sip.instance=\"<urn:uuid:f>\"\n"
      "Supported: outbound\n"
      "Content-Length: 0\n\n";
  auto o = run(registrar, msg(reg), test::source(Protocol::Udp, "192.0.2.50", 5060, kNoFlow));
  ASSERT_EQ(o.status(), 200);
  EXPECT_EQ(o.header(HeaderId::Require), "");
  auto b = location.lookup("fred@example.com");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_FALSE(b[0].outbound);
  EXPECT_EQ(b[0].reg_id, 0u);
}

TEST_F(OutboundLookup, TwoRegIdContactsInOneRequestIs400) {
  auto o = run(registrar,
               msg(phone_register("gina",
                                  "<sip:g@192.0.2.20>;reg-id=1;+sip.instance=\"<urn:uuid:g>\", "
                                  "<sip:g2@192.0.2.20>;reg-id=2;+sip.instance=\"<urn:uuid:g>\"",
                                  "UDP")),
               udp);
  EXPECT_EQ(o.status(), 400);
}

TEST_F(OutboundLookup, ExpiredBindingsDisappear) {
  ASSERT_EQ(run(registrar, msg(jssip_register(1, "60")), ws).status(), 200);
  timers.advance(Millis(59'000));
  ASSERT_EQ(location.lookup("alice@example.com").size(), 1u);
  EXPECT_EQ(location.lookup("alice@example.com")[0].expires_in(timers.now()), 1u);
  // A refresh at 59 s pushes expiry out by another 120 s.
  ASSERT_EQ(run(registrar, msg(jssip_register(2, "120")), ws).status(), 200);
  timers.advance(Millis(60'000));
  EXPECT_EQ(location.lookup("alice@example.com").size(), 1u);
  timers.advance(Millis(60'001));
  EXPECT_TRUE(location.lookup("alice@example.com").empty());
  EXPECT_EQ(location.size(), 0u);
  EXPECT_EQ(timers.pending(), 1u);  // the expiry sweep only
  EXPECT_EQ(run(lookup, msg(invite("sip:alice@example.com")), udp).status(), 480);
}

TEST(HttpDate, Rfc7231Format) {
  EXPECT_EQ(http_date(1'700'000'000), "Tue, 14 Nov 2023 22:13:20 GMT");
  EXPECT_EQ(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");  // the same second again (cached)
  EXPECT_EQ(http_date(1), "Thu, 01 Jan 1970 00:00:01 GMT");  // the next one is formatted anew
}

}  // namespace
}  // namespace sipws::registrar

namespace sipws::registrar {
namespace {

TEST(LookupAsyncSubscriber, PausesUntilTheStoreAnswersThenResponds480) {
  ManualTimerService timers;
  proxy::Domains domains;
  domains.add_domain("example.com");
  LocationService location{timers, nullptr};
  std::function<void(store::Result<bool>)> pending;
  LocationLookupProcessor lookup{
      domains, location,
      [&](const std::string& aor, std::function<void(store::Result<bool>)> done) {
        EXPECT_EQ(aor, "bob@example.com");
        pending = std::move(done);  // answered later, like the store
      }};
  proxy::RequestContext ctx(test::msg(invite("sip:bob@example.com")),
                            test::source(Protocol::Udp, "192.0.2.20", 5062, kNoFlow), 1);
  std::optional<proxy::Action> resumed;
  ctx.set_resume_factory(
      [&]() { return std::function<void(proxy::Action)>([&](proxy::Action a) { resumed = a; }); });
  ASSERT_EQ(lookup.process(ctx), proxy::Action::Pause);
  EXPECT_FALSE(ctx.response());
  ASSERT_TRUE(pending);
  pending(true);
  ASSERT_EQ(resumed, proxy::Action::Respond);
  ASSERT_TRUE(ctx.response());
  EXPECT_EQ(ctx.response()->status(), 480);
}

// The daemon's hook (is_subscriber_in) on a real SQLite store: a subscriber without bindings
// gets 480 and a stranger 404; once another connection dropped the subscriber table, the store
// cannot say, and the answer is 503 with Retry-After for both, never a 404.
TEST(LookupAsyncSubscriber, AStoreErrorIs503NotA404) {
  store::test::TempDir dir;
  store::test::TestQueue queue;
  store::AsyncStore astore(store::Store::open(dir.uri()), queue.post());
  astore.sync().put_subscriber(store::Subscriber{"bob", "example.com", "m", "s"});
  ManualTimerService timers;
  proxy::Domains domains;
  domains.add_domain("example.com");
  LocationService location{timers, nullptr};
  LocationLookupProcessor lookup{domains, location, is_subscriber_in(astore)};
  auto status_of = [&](const std::string& ruri) {
    proxy::RequestContext ctx(test::msg(invite(ruri)),
                              test::source(Protocol::Udp, "192.0.2.20", 5062, kNoFlow), 1);
    std::optional<proxy::Action> resumed;
    ctx.set_resume_factory([&]() {
      return std::function<void(proxy::Action)>([&](proxy::Action a) { resumed = a; });
    });
    EXPECT_EQ(lookup.process(ctx), proxy::Action::Pause);
    astore.flush();
    queue.drain();
    EXPECT_EQ(resumed, proxy::Action::Respond);
    if (!ctx.response()) return std::string("none");
    const sip::Header* retry = ctx.response()->find("Retry-After");
    return std::to_string(ctx.response()->status()) +
           (retry ? " " + std::string(retry->value) : "");
  };
  EXPECT_EQ(status_of("sip:bob@example.com"), "480");
  EXPECT_EQ(status_of("sip:nobody@example.com"), "404");
  const auto unavailable = counters().get("store_unavailable_responses").value();
  store::test::exec_sql(dir.file(), "DROP TABLE subscriber");
  EXPECT_EQ(status_of("sip:bob@example.com"), "503 5");
  EXPECT_EQ(status_of("sip:nobody@example.com"), "503 5");
  EXPECT_EQ(counters().get("store_unavailable_responses").value(), unavailable + 2);
}

/// A REGISTER processed with a resume handle, as the proxy core runs it: what process()
/// returned, and the action the chain was resumed with (if it was).
struct Paused {
  std::unique_ptr<proxy::RequestContext> ctx;
  proxy::Action returned = proxy::Action::Continue;
  std::optional<proxy::Action> resumed;
  int status() const { return ctx->response() ? ctx->response()->status() : 0; }
};
std::unique_ptr<Paused> process_register(RegistrarProcessor& registrar, const std::string& text,
                                         const Source& src) {
  auto p = std::make_unique<Paused>();
  p->ctx = std::make_unique<proxy::RequestContext>(test::msg(text), src, 1);
  p->ctx->set_resume_factory([raw = p.get()]() {
    return std::function<void(proxy::Action)>([raw](proxy::Action a) { raw->resumed = a; });
  });
  p->returned = registrar.process(*p->ctx);
  return p;
}

/// A registrar on a real SQLite store (AsyncStore answering through `queue`).
struct StoredRegistrar {
  explicit StoredRegistrar(RegistrarConfig cfg = {}) : registrar{domains, location, cfg, reg} {}
  Counters reg;  ///< the registrar counts here
  store::test::TempDir dir;
  store::test::TestQueue queue;
  store::AsyncStore astore{store::Store::open(dir.uri()), queue.post()};
  ManualTimerService timers;
  proxy::Domains domains = [] {
    proxy::Domains d;
    d.add_domain("example.com");
    return d;
  }();
  LocationService location{timers, &astore};
  RegistrarProcessor registrar;
};

// store_sync=ack on a real SQLite store: the 200 OK to a UDP phone's REGISTER is held (the
// chain pauses) until its binding is committed, so that another connection (a daemon
// restarted after a crash) finds it; a WebSocket binding is never stored and is answered at
// once. A binding write the database refuses turns the 200 into 503 with Retry-After, counted.
TEST(RegistrarDurable, TheOkWaitsForTheCommitAndARefusedWriteIs503) {
  StoredRegistrar r;
  auto& [reg, dir, queue, astore, timers, domains, location, registrar] = r;
  const Source udp = test::source(Protocol::Udp, "192.0.2.20", 5062, kNoFlow);
  const Source ws = test::source(Protocol::Wss, "198.51.100.7", 52000, 7);
  auto& waited = reg.get("registrar_register_waited_durable");
  auto& not_durable = reg.get("registrar_register_not_durable");

  auto bob =
      process_register(registrar, phone_register("bob", "<sip:bob@10.0.0.5:5062>", "UDP"), udp);
  EXPECT_EQ(bob->returned, Action::Pause);
  EXPECT_FALSE(bob->resumed);
  astore.flush();
  EXPECT_FALSE(bob->resumed);  // the answer comes through the core thread's queue
  queue.drain();
  ASSERT_EQ(bob->resumed, Action::Respond);
  EXPECT_EQ(bob->status(), 200);
  const auto rows = store::Store::open(dir.uri())->load_bindings();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].contact, "sip:bob@10.0.0.5:5062");
  EXPECT_EQ(waited.value(), 1u);

  auto alice = process_register(registrar, jssip_register(1), ws);
  EXPECT_EQ(alice->returned, Action::Respond);
  EXPECT_EQ(alice->status(), 200);

  store::test::exec_sql(dir.file(),
                        "CREATE TRIGGER refuse BEFORE INSERT ON location "
                        "BEGIN SELECT RAISE(ABORT, 'disk full'); END");
  auto carol =
      process_register(registrar, phone_register("carol", "<sip:carol@10.0.0.6:5062>", "UDP"), udp);
  EXPECT_EQ(carol->returned, Action::Pause);
  astore.flush();
  queue.drain();
  ASSERT_EQ(carol->resumed, Action::Respond);
  EXPECT_EQ(carol->status(), 503);
  const sip::Header* retry = carol->ctx->response()->find("Retry-After");
  ASSERT_NE(retry, nullptr);
  EXPECT_EQ(retry->value, "5");
  EXPECT_EQ(not_durable.value(), 1u);
  EXPECT_EQ(reg.get("registrar_register_ok").value(), 2u);  // bob, alice
  EXPECT_FALSE(astore.health().ok);
}

// store_sync=batch: the 200 OK goes out at once and the store is written behind it.
TEST(RegistrarDurable, BatchAnswersAtOnce) {
  RegistrarConfig cfg;
  cfg.ack_when_durable = false;
  StoredRegistrar r(cfg);
  auto& [reg, dir, queue, astore, timers, domains, location, registrar] = r;
  auto bob = process_register(registrar, phone_register("bob", "<sip:bob@10.0.0.5:5062>", "UDP"),
                              test::source(Protocol::Udp, "192.0.2.20", 5062, kNoFlow));
  EXPECT_EQ(bob->returned, Action::Respond);
  EXPECT_EQ(bob->status(), 200);
  astore.flush();
  EXPECT_EQ(astore.sync().load_bindings().size(), 1u);
}

}  // namespace
}  // namespace sipws::registrar
