// ProxyCore with the real transaction layer and parser, driven through its I/O boundary: an
// in-memory Sender records what would go on the wire, a ManualTimerService moves time.

#include "proxy/proxy_core.hpp"

#include <gtest/gtest.h>

#include <deque>

#include "proxy/routing.hpp"
#include "sip/parser.hpp"
#include "wire.hpp"

namespace sipws::proxy {
namespace {

using sip::HeaderId;
using sip::Message;

using test::Sent;
using WireSender = test::Wire;

class FixedNetwork final : public NetworkView {
 public:
  FixedNetwork() {
    auto lo = boost::asio::ip::make_address("127.0.0.1");
    lps_.push_back({Protocol::Udp, {lo, 5060}, "127.0.0.1"});
    lps_.push_back({Protocol::Tcp, {lo, 5060}, "127.0.0.1"});
    lps_.push_back({Protocol::Ws, {lo, 8080}, "127.0.0.1"});
  }
  const std::vector<ListenPoint>& listen_points() const override { return lps_; }
  bool flow_alive(FlowId id) const override { return flows.count(id) > 0; }
  std::optional<Endpoint> flow_peer(FlowId id) const override {
    auto it = flows.find(id);
    if (it == flows.end()) return std::nullopt;
    return it->second;
  }
  std::optional<Protocol> flow_protocol(FlowId id) const override {
    if (flows.count(id) == 0) return std::nullopt;
    return id == 5 ? Protocol::Tcp : Protocol::Ws;  // the tests' TCP flow is 5, others WS
  }
  std::map<FlowId, Endpoint> flows;

 private:
  std::vector<ListenPoint> lps_;
};

/// Resolves names from a table, answering on the next advance of the manual clock.
class TableResolver final : public Resolver {
 public:
  explicit TableResolver(ManualTimerService& t) : timers_(t) {}
  void resolve(const std::string& host,
               std::function<void(std::optional<IpAddress>)> done) override {
    std::optional<IpAddress> a;
    if (host == "phone.example.net") a = boost::asio::ip::make_address("127.0.0.9");
    timers_.schedule(Millis(0), [a, done = std::move(done)]() { done(a); });
  }

 private:
  ManualTimerService& timers_;
};

/// A processor that adds fixed targets (the location lookup's job in the daemon).
class FixedTargets final : public RequestProcessor {
 public:
  explicit FixedTargets(std::vector<Target> t) : targets_(std::move(t)) {}
  std::string_view name() const override { return "fixed-targets"; }
  Action process(RequestContext& ctx) override {
    if (ctx.request().request_uri().host != "localhost") return Action::Continue;
    for (const auto& t : targets_) ctx.targets().push_back(t);
    return Action::Continue;
  }

 private:
  std::vector<Target> targets_;
};

/// A processor that pauses and lets the test resume it.
class Pauser final : public RequestProcessor {
 public:
  std::string_view name() const override { return "pauser"; }
  Action process(RequestContext& ctx) override {
    if (ctx.request().method() != sip::Method::Message) return Action::Continue;
    resume = ctx.pause_handle();
    return Action::Pause;
  }
  std::function<void(Action)> resume;
};

Source udp_source(std::uint16_t port = 5062) {
  return {Protocol::Udp,
          {boost::asio::ip::make_address("127.0.0.1"), port},
          {boost::asio::ip::make_address("127.0.0.1"), 5060},
          kNoFlow};
}

Source ws_source(FlowId flow) {
  return {Protocol::Ws,
          {boost::asio::ip::make_address("127.0.0.1"), 40000},
          {boost::asio::ip::make_address("127.0.0.1"), 8080},
          flow};
}

std::string invite(const std::string& ruri, const std::string& via, const std::string& extra = "",
                   const std::string& branch = "z9hG4bKc1") {
  return "INVITE " + ruri +
         " SIP/2.0\r\n"
         "Via: SIP/2.0/" +
         via + ";branch=" + branch +
         "\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:alice@localhost>;tag=a1\r\n"
         "To: <" +
         ruri +
         ">\r\n"
         "Call-ID: call-1@test\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:alice@127.0.0.1:5062>\r\n" +
         extra + "Content-Length: 0\r\n\r\n";
}

constexpr const char* kRouteSecret = "test-route-secret-0123456789";

/// The `;sw=` parameter sipws puts on its Record-Route entries of dialog `call_id` created by
/// the caller's tag "a1" (the one invite() uses).
std::string sw(const std::string& call_id) {
  return ";sw=" + RouteSigner(kRouteSecret).sign(call_id, "a1");
}

class ProxyCoreTest : public ::testing::Test {
 protected:
  ProxyCoreTest()
      : resolver(timers),
        core(timers, domains, net, resolver, ProxyConfig{"sipws/0.1", kRouteSecret, true}) {
    domains.add_domain("localhost");
    domains.add_alias("127.0.0.1");
    core.attach(txns, wire);
  }

  void receive(const std::string& text, const Source& src) {
    auto m = sip::parse(text);
    ASSERT_TRUE(m.has_value()) << m.error().reason;
    txns.receive(*m, src);
  }

  /// Feeds a response to the last request sent (as the downstream UAS would build it).
  void answer(const Message& forwarded, int status, const Source& from,
              const std::string& to_tag = "b1") {
    Message rsp = sip::make_response(forwarded, status);
    if (status > 100) rsp.set_to_tag(to_tag);
    auto m = sip::parse(rsp.serialize());
    ASSERT_TRUE(m.has_value());
    txns.receive(*m, from);
  }

  ManualTimerService timers;
  Domains domains;
  FixedNetwork net;
  TableResolver resolver;
  WireSender wire;
  ProxyCore core;
  sip::txn::TransactionLayer txns{timers, wire, core};
};

/// A core with its own counters registry and a seeded token source (Instruments): what it
/// counts and the tags and branches it draws are its own, not the process's.
class ProxyCoreInstrumentsTest : public ::testing::Test {
 protected:
  static constexpr std::uint64_t kSeed = 17;
  ProxyCoreInstrumentsTest()
      : resolver(timers),
        core(timers, domains, net, resolver, ProxyConfig{"sipws/0.1", kRouteSecret, true},
             Instruments{registry, tokens}) {
    domains.add_domain("localhost");
    domains.add_alias("127.0.0.1");
    core.attach(txns, wire);
  }
  void receive(const std::string& text) {
    auto m = sip::parse(text);
    ASSERT_TRUE(m.has_value()) << m.error().reason;
    txns.receive(*m, udp_source());
  }

  Counters registry;
  SeededTokens tokens{kSeed};
  ManualTimerService timers;
  Domains domains;
  FixedNetwork net;
  TableResolver resolver;
  WireSender wire;
  ProxyCore core;
  sip::txn::TransactionLayer txns{timers, wire, core};
};

TEST_F(ProxyCoreInstrumentsTest, CountsIntoItsOwnRegistryAndTagsFromItsOwnTokens) {
  const auto global_before = counters().get("proxy_local_responses").value();
  // To sipws itself, claimed by nobody: 404 with a To tag of the core's tokens.
  receive(invite("sip:nobody@localhost", "UDP 127.0.0.1:5062"));
  EXPECT_EQ(wire.pop().msg.status(), 100);
  const Sent s = wire.pop();
  EXPECT_EQ(s.msg.status(), 404);
  SeededTokens same(kSeed);  // the same seed draws the same characters
  EXPECT_EQ(s.msg.to().tag(), same.token(10));
  EXPECT_EQ(registry.get("proxy_requests").value(), 1u);
  EXPECT_EQ(registry.get("proxy_local_responses").value(), 1u);
  EXPECT_EQ(counters().get("proxy_local_responses").value(), global_before);

  // Forwarded: the Via branch carries the next 12 characters of the same tokens.
  receive(invite("sip:bob@127.0.0.2", "UDP 127.0.0.1:5062", "", "z9hG4bKc2"));
  EXPECT_EQ(wire.pop().msg.status(), 100);
  const Sent fwd = wire.pop();
  ASSERT_TRUE(fwd.msg.is_request());
  const std::string_view branch = fwd.msg.top_via().branch();
  EXPECT_EQ(branch, make_branch(branch_loop_hash(branch), 0, same));
  EXPECT_EQ(registry.get("proxy_requests").value(), 2u);
  EXPECT_EQ(registry.get("proxy_branches_forwarded").value(), 1u);
}

TEST_F(ProxyCoreInstrumentsTest, ItsOwnProcessorsCountIntoItsRegistry) {
  // A request to sipws with a To tag and no Route of ours: in-dialog refuses it (404).
  std::string m = invite("sip:nobody@localhost", "UDP 127.0.0.1:5062");
  m.replace(m.find("To: <sip:nobody@localhost>"), 26, "To: <sip:nobody@localhost>;tag=x9");
  receive(m);
  EXPECT_EQ(wire.pop().msg.status(), 100);
  EXPECT_EQ(wire.pop().msg.status(), 404);
  EXPECT_EQ(registry.get("proxy_unrouted_in_dialog").value(), 1u);
}

TEST_F(ProxyCoreTest, OptionsToItselfIsAnswered200) {
  receive(
      "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKo1\r\n"
      "Max-Forwards: 0\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: o1\r\n"
      "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
      udp_source());
  Sent s = wire.pop();
  EXPECT_EQ(s.msg.status(), 200);
  EXPECT_NE(s.msg.find(HeaderId::Allow), nullptr);
  EXPECT_FALSE(s.msg.to().tag().empty());
  EXPECT_EQ(s.dest.endpoint.port, 5062);
}

TEST_F(ProxyCoreTest, MaxForwardsZeroIs483) {
  std::string m = invite("sip:bob@127.0.0.2", "UDP 127.0.0.1:5062");
  m.replace(m.find("Max-Forwards: 70"), 16, "Max-Forwards: 0");
  receive(m, udp_source());
  EXPECT_EQ(wire.pop().msg.status(), 100);
  EXPECT_EQ(wire.pop().msg.status(), 483);
}

TEST_F(ProxyCoreTest, UnknownSchemeIs416) {
  receive(
      "OPTIONS nobarr:foo SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKu1\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: u1\r\n"
      "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
      udp_source());
  EXPECT_EQ(wire.pop().msg.status(), 416);
}

TEST_F(ProxyCoreTest, UnknownProxyRequireIs420WithUnsupported) {
  receive(invite("sip:bob@127.0.0.2", "UDP 127.0.0.1:5062", "Proxy-Require: foo, bar\r\n"),
          udp_source());
  EXPECT_EQ(wire.pop().msg.status(), 100);
  Sent s = wire.pop();
  EXPECT_EQ(s.msg.status(), 420);
  ASSERT_NE(s.msg.find(HeaderId::Unsupported), nullptr);
  EXPECT_EQ(s.msg.find(HeaderId::Unsupported)->value, "foo, bar");
}

TEST_F(ProxyCoreTest, ForwardsUdpToUdpWithOneRecordRouteAndRelaysResponses) {
  receive(invite("sip:bob@127.0.0.2:5070", "UDP 127.0.0.1:5062"), udp_source());
  EXPECT_EQ(wire.pop().msg.status(), 100);
  Sent fwd = wire.pop();
  ASSERT_TRUE(fwd.msg.is_request());
  EXPECT_EQ(fwd.dest.endpoint.to_string(), "127.0.0.2:5070");
  EXPECT_EQ(fwd.dest.protocol, Protocol::Udp);
  EXPECT_EQ(fwd.msg.max_forwards(), 69u);
  EXPECT_EQ(fwd.msg.count(HeaderId::Via), 2u);
  EXPECT_TRUE(fwd.msg.top_via().branch().starts_with(kBranchPrefix));
  ASSERT_EQ(fwd.msg.count(HeaderId::RecordRoute), 1u);
  EXPECT_EQ(fwd.msg.find(HeaderId::RecordRoute)->value,
            "<sip:127.0.0.1:5060;lr" + sw("call-1@test") + ">");

  Source uas = udp_source(5070);
  uas.peer.address = boost::asio::ip::make_address("127.0.0.2");
  answer(fwd.msg, 180, uas);
  Sent ringing = wire.pop();
  EXPECT_EQ(ringing.msg.status(), 180);
  EXPECT_EQ(ringing.msg.count(HeaderId::Via), 1u);  // our Via stripped
  EXPECT_EQ(ringing.dest.endpoint.port, 5062);
  answer(fwd.msg, 200, uas);
  Sent ok = wire.pop();
  EXPECT_EQ(ok.msg.status(), 200);
  EXPECT_EQ(ok.msg.count(HeaderId::Via), 1u);
}

TEST_F(ProxyCoreTest, WebSocketToUdpGetsTwoRecordRoutesWithFlowToken) {
  net.flows[7] = ws_source(7).peer;
  receive(invite("sip:bob@127.0.0.2:5070", "WS abc.invalid"), ws_source(7));
  EXPECT_EQ(wire.pop().msg.status(), 100);
  Sent fwd = wire.pop();
  auto rrs = fwd.msg.find_all(HeaderId::RecordRoute);
  ASSERT_EQ(rrs.size(), 2u);
  EXPECT_EQ(rrs[0]->value, "<sip:127.0.0.1:5060;lr" + sw("call-1@test") + ">");
  EXPECT_EQ(rrs[1]->value, "<sip:" + flow_token_user(7) + "@127.0.0.1:8080;transport=ws;lr" +
                               sw("call-1@test") + ">");

  // The phone's BYE follows the route set back to the browser's flow.
  receive(
      "BYE sip:alice@abc.invalid;transport=ws SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKbye1\r\nMax-Forwards: 70\r\n"
      "Route: <sip:127.0.0.1:5060;lr" +
          sw("call-1@test") + ">, <sip:" + flow_token_user(7) + "@127.0.0.1:8080;transport=ws;lr" +
          sw("call-1@test") +
          ">\r\n"
          "From: <sip:bob@127.0.0.2>;tag=b1\r\nTo: <sip:alice@localhost>;tag=a1\r\n"
          "Call-ID: call-1@test\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
      udp_source(5070));
  Sent bye = wire.pop();
  EXPECT_EQ(bye.msg.method(), sip::Method::Bye);
  EXPECT_EQ(bye.dest.flow, 7u);
  EXPECT_EQ(bye.msg.count(HeaderId::Route), 0u);
  EXPECT_EQ(bye.msg.top_via().transport, "WS");
}

TEST_F(ProxyCoreTest, WebSocketFlowTokenPinsTheNextHopEvenWithRoutesLeft) {
  // Another proxy (e.g. a sipws acting as a WebSocket client) connected to us over WS flow 7
  // and record-routed itself: its entry follows ours. Its WS side can only be reached over
  // the connection it opened, so the request goes over flow 7 with its Route entry kept.
  net.flows[7] = ws_source(7).peer;
  receive(
      "BYE sip:sipp@127.0.0.3:5062 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKbye7\r\nMax-Forwards: 70\r\n"
      "Route: <sip:127.0.0.1:5060;lr" +
          sw("call-7@test") + ">, <sip:" + flow_token_user(7) + "@127.0.0.1:8080;transport=ws;lr" +
          sw("call-7@test") +
          ">, <sip:127.0.0.9:8088;transport=ws;lr>\r\n"
          "From: <sip:bob@127.0.0.2>;tag=b1\r\nTo: <sip:sipp@example.net>;tag=a1\r\n"
          "Call-ID: call-7@test\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
      udp_source(5070));
  Sent bye = wire.pop();
  EXPECT_EQ(bye.msg.method(), sip::Method::Bye);
  EXPECT_EQ(bye.dest.flow, 7u);
  ASSERT_EQ(bye.msg.count(HeaderId::Route), 1u);
  EXPECT_EQ(bye.msg.find(HeaderId::Route)->value, "<sip:127.0.0.9:8088;transport=ws;lr>");

  // A TCP flow token does not: the remaining Route is followed (dialled) as before.
  net.flows[5] = Endpoint{boost::asio::ip::make_address("127.0.0.5"), 40005};
  receive(
      "BYE sip:sipp@127.0.0.3:5062 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKbye8\r\nMax-Forwards: 70\r\n"
      "Route: <sip:127.0.0.1:5060;lr" +
          sw("call-8@test") + ">, <sip:" + flow_token_user(5) + "@127.0.0.1:5060;transport=tcp;lr" +
          sw("call-8@test") +
          ">, <sip:127.0.0.9:5090;transport=tcp;lr>\r\n"
          "From: <sip:bob@127.0.0.2>;tag=b1\r\nTo: <sip:sipp@example.net>;tag=a1\r\n"
          "Call-ID: call-8@test\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
      udp_source(5070));
  Sent bye2 = wire.pop();
  EXPECT_EQ(bye2.msg.method(), sip::Method::Bye);
  EXPECT_EQ(bye2.dest.flow, kNoFlow);
  EXPECT_EQ(bye2.dest.endpoint.to_string(), "127.0.0.9:5090");
}

TEST_F(ProxyCoreTest, DeadFlowTokenGives430) {
  receive(
      "BYE sip:alice@abc.invalid;transport=ws SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKbye2\r\nMax-Forwards: 70\r\n"
      "Route: <sip:" +
          flow_token_user(99) + "@127.0.0.1:8080;transport=ws;lr" + sw("call-2@test") +
          ">\r\n"
          "From: <sip:bob@127.0.0.2>;tag=b1\r\nTo: <sip:alice@localhost>;tag=a1\r\n"
          "Call-ID: call-2@test\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
      udp_source(5070));
  EXPECT_EQ(wire.pop().msg.status(), 430);
}

TEST_F(ProxyCoreTest, ForgedFlowTokenDoesNotReachTheFlow) {
  net.flows[7] = ws_source(7).peer;
  // Unsigned (the pre-signature form) and wrongly signed tokens name no flow.
  for (std::string user : {std::string("sw-f7"), std::string("sw-f7.000000000000"),
                           flow_token_user(8).replace(4, 1, "7")}) {
    wire.sent.clear();
    receive(
        "BYE sip:alice@abc.invalid;transport=ws SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKforge" +
            user +
            "\r\nMax-Forwards: 70\r\n"
            "Route: <sip:" +
            user +
            "@127.0.0.1:8080;transport=ws;lr>\r\n"
            "From: <sip:bob@127.0.0.2>;tag=b1\r\nTo: <sip:alice@localhost>;tag=a1\r\n"
            "Call-ID: call-forge@test\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        udp_source(5070));
    for (const auto& s : wire.sent) EXPECT_NE(s.dest.flow, 7u) << user;
  }
  EXPECT_EQ(flow_token(sip::parse_uri("sip:" + flow_token_user(7) + "@127.0.0.1").value()), 7u);
}

TEST_F(ProxyCoreTest, AckFor2xxIsForwardedStatelesslyAlongTheRoute) {
  net.flows[3] = ws_source(3).peer;
  receive(
      "ACK sip:alice@abc.invalid;transport=ws SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKack1\r\nMax-Forwards: 70\r\n"
      "Route: <sip:127.0.0.1:5060;lr" +
          sw("call-3@test") + ">, <sip:" + flow_token_user(3) + "@127.0.0.1:8080;transport=ws;lr" +
          sw("call-3@test") +
          ">\r\n"
          "From: <sip:bob@127.0.0.2>;tag=b1\r\nTo: <sip:alice@localhost>;tag=a1\r\n"
          "Call-ID: call-3@test\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
      udp_source(5070));
  Sent ack = wire.pop();
  EXPECT_EQ(ack.msg.method(), sip::Method::Ack);
  EXPECT_EQ(ack.dest.flow, 3u);
  EXPECT_EQ(ack.msg.max_forwards(), 69u);
  EXPECT_EQ(ack.msg.count(HeaderId::Via), 2u);
}

TEST_F(ProxyCoreTest, LoopIsDetectedFromOurOwnBranch) {
  // Forward once, then feed the forwarded request back in: same loop hash => 482.
  receive(invite("sip:bob@127.0.0.2:5070", "UDP 127.0.0.1:5062"), udp_source());
  wire.pop();
  Sent fwd = wire.pop();
  std::string again = fwd.msg.serialize();
  // Undo what forwarding changed in the hashed fields: none (Request-URI, tags, Call-ID,
  // CSeq, Route are the same), so the request comes back as a loop.
  receive(again, udp_source(5060));
  EXPECT_EQ(wire.pop().msg.status(), 100);
  EXPECT_EQ(wire.pop().msg.status(), 482);
}

TEST_F(ProxyCoreTest, ResolvesHostNamesAsynchronously) {
  receive(invite("sip:bob@phone.example.net", "UDP 127.0.0.1:5062"), udp_source());
  EXPECT_EQ(wire.pop().msg.status(), 100);
  EXPECT_TRUE(wire.sent.empty());
  timers.advance(Millis(0));
  Sent fwd = wire.pop();
  EXPECT_EQ(fwd.dest.endpoint.to_string(), "127.0.0.9:5060");
  EXPECT_EQ(fwd.dest.host, "phone.example.net");
}

TEST_F(ProxyCoreTest, UnresolvableHostIsAnswered) {
  receive(invite("sip:bob@nowhere.example.net", "UDP 127.0.0.1:5062"), udp_source());
  wire.pop();
  timers.advance(Millis(0));
  EXPECT_EQ(wire.pop().msg.status(), 500);  // 503 from the branch becomes 500 (s.16.7)
}

TEST_F(ProxyCoreTest, ForksToAllTargetsAndCancelsTheOthersOn2xx) {
  Target a;
  a.uri = "sip:alice@127.0.0.3:5070";
  Target b;
  b.uri = "sip:alice@127.0.0.4:5070";  // same q: parallel forking
  core.add_request_processor(std::make_unique<FixedTargets>(std::vector<Target>{a, b}));
  receive(invite("sip:alice@localhost", "UDP 127.0.0.1:5062"), udp_source());
  EXPECT_EQ(wire.pop().msg.status(), 100);
  Sent b1 = wire.pop();
  Sent b2 = wire.pop();
  EXPECT_EQ(b1.msg.request_uri().raw, "sip:alice@127.0.0.3:5070");
  EXPECT_EQ(b2.msg.request_uri().raw, "sip:alice@127.0.0.4:5070");
  EXPECT_NE(b1.msg.top_via().branch(), b2.msg.top_via().branch());

  Source s3 = udp_source(5070);
  s3.peer.address = boost::asio::ip::make_address("127.0.0.3");
  Source s4 = udp_source(5070);
  s4.peer.address = boost::asio::ip::make_address("127.0.0.4");
  answer(b2.msg, 180, s4, "t4");
  EXPECT_EQ(wire.pop().msg.status(), 180);
  answer(b1.msg, 200, s3, "t3");
  EXPECT_EQ(wire.pop().msg.status(), 200);
  Sent cancel = wire.pop();
  EXPECT_EQ(cancel.msg.method(), sip::Method::Cancel);
  EXPECT_EQ(cancel.dest.endpoint.address.to_string(), "127.0.0.4");
  EXPECT_EQ(cancel.msg.top_via().branch(), b2.msg.top_via().branch());
}

TEST_F(ProxyCoreTest, BestFinalResponseWhenAllBranchesFail) {
  Target a;
  a.uri = "sip:alice@127.0.0.3:5070";
  Target b;
  b.uri = "sip:alice@127.0.0.4:5070";
  core.add_request_processor(std::make_unique<FixedTargets>(std::vector<Target>{a, b}));
  receive(invite("sip:alice@localhost", "UDP 127.0.0.1:5062"), udp_source());
  wire.pop();
  Sent b1 = wire.pop();
  Sent b2 = wire.pop();
  Source s3 = udp_source(5070);
  s3.peer.address = boost::asio::ip::make_address("127.0.0.3");
  Source s4 = udp_source(5070);
  s4.peer.address = boost::asio::ip::make_address("127.0.0.4");
  answer(b1.msg, 486, s3);
  EXPECT_EQ(wire.pop().msg.method(), sip::Method::Ack);  // hop-by-hop ACK by the client txn
  EXPECT_TRUE(wire.sent.empty());                        // waits for the other branch
  answer(b2.msg, 404, s4);
  EXPECT_EQ(wire.pop().msg.method(), sip::Method::Ack);
  Sent final = wire.pop();
  // Lowest class wins (s.16.7 step 6); within 4xx the proxy may pick any.
  EXPECT_EQ(final.msg.status() / 100, 4);
  EXPECT_EQ(final.msg.count(HeaderId::Via), 1u);
}

TEST_F(ProxyCoreTest, CancelIsPropagatedAfterAProvisional) {
  receive(invite("sip:bob@127.0.0.2:5070", "UDP 127.0.0.1:5062"), udp_source());
  wire.pop();
  Sent fwd = wire.pop();
  Source uas = udp_source(5070);
  uas.peer.address = boost::asio::ip::make_address("127.0.0.2");
  answer(fwd.msg, 180, uas);
  wire.pop();
  receive(
      "CANCEL sip:bob@127.0.0.2:5070 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKc1\r\nMax-Forwards: 70\r\n"
      "From: <sip:alice@localhost>;tag=a1\r\nTo: <sip:bob@127.0.0.2:5070>\r\n"
      "Call-ID: call-1@test\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n",
      udp_source());
  Sent ok = wire.pop();
  EXPECT_EQ(ok.msg.status(), 200);
  EXPECT_EQ(ok.msg.cseq().method, sip::Method::Cancel);
  Sent cancel = wire.pop();
  EXPECT_EQ(cancel.msg.method(), sip::Method::Cancel);
  EXPECT_EQ(cancel.msg.top_via().branch(), fwd.msg.top_via().branch());
  answer(fwd.msg, 487, uas);
  EXPECT_EQ(wire.pop().msg.method(), sip::Method::Ack);
  Sent terminated = wire.pop();
  EXPECT_EQ(terminated.msg.status(), 487);
}

TEST_F(ProxyCoreTest, NoAnswerTimesOutWith408) {
  receive(invite("sip:bob@127.0.0.2:5070", "TCP 127.0.0.1:5062"),
          Source{Protocol::Tcp,
                 {boost::asio::ip::make_address("127.0.0.1"), 5062},
                 {boost::asio::ip::make_address("127.0.0.1"), 5060},
                 5});
  net.flows[5] = {boost::asio::ip::make_address("127.0.0.1"), 5062};
  wire.pop();
  wire.pop();
  timers.advance(Millis(64 * 500));
  // The UDP branch retransmitted the INVITE (Timer A) until Timer B fired.
  while (!wire.sent.empty() && wire.sent.front().msg.is_request()) wire.sent.pop_front();
  Sent t = wire.pop();
  EXPECT_EQ(t.msg.status(), 408);
  EXPECT_EQ(t.dest.flow, 5u);
}

TEST_F(ProxyCoreTest, PausedChainResumes) {
  auto p = std::make_unique<Pauser>();
  Pauser* pauser = p.get();
  core.add_request_processor(std::move(p));
  receive(
      "MESSAGE sip:bob@127.0.0.2:5070 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKm1\r\nMax-Forwards: 70\r\n"
      "From: <sip:alice@localhost>;tag=a1\r\nTo: <sip:bob@127.0.0.2:5070>\r\n"
      "Call-ID: m1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n",
      udp_source());
  EXPECT_TRUE(wire.sent.empty());
  ASSERT_TRUE(pauser->resume);
  pauser->resume(Action::Continue);
  Sent fwd = wire.pop();
  EXPECT_EQ(fwd.msg.method(), sip::Method::Message);
  EXPECT_EQ(fwd.msg.count(HeaderId::RecordRoute), 0u);  // MESSAGE creates no dialog
}

TEST_F(ProxyCoreTest, RequestToOurselvesThatNobodyClaimsIsNotForwarded) {
  receive(invite("sip:nobody@127.0.0.1:5060", "UDP 127.0.0.1:5062"), udp_source());
  EXPECT_EQ(wire.pop().msg.status(), 100);
  EXPECT_EQ(wire.pop().msg.status(), 404);
}

TEST_F(ProxyCoreTest, ReceivedAndRportAreFilledForUdp) {
  receive(invite("sip:bob@127.0.0.2:5070", "UDP 10.0.0.1:5062;rport"), udp_source(6000));
  wire.pop();
  Sent fwd = wire.pop();
  auto vias = fwd.msg.find_all(HeaderId::Via);
  ASSERT_EQ(vias.size(), 2u);
  auto v = sip::parse_via(vias[1]->value);
  ASSERT_TRUE(v);
  ASSERT_NE(v->param("received"), nullptr);
  EXPECT_EQ(v->param("received")->value, "127.0.0.1");
  ASSERT_NE(v->param("rport"), nullptr);
  EXPECT_EQ(v->param("rport")->value, "6000");
}

}  // namespace
}  // namespace sipws::proxy

namespace sipws::proxy {
namespace {

/// Records what the core shows the forward hook and rewrites bodies like the media anchor.
class RecordingHook final : public ForwardHook {
 public:
  int on_forward_request(Message& request, const Source& src, const Destination& dest,
                         std::string_view branch) override {
    requests.push_back({std::string(request.method_name()), std::string(branch), src.protocol,
                        dest.endpoint.port});
    if (fail_with != 0) return fail_with;
    request.set_body("v=0\r\n", "application/sdp");
    return 0;
  }
  void on_forward_response(Message& response, std::string_view branch) override {
    responses.push_back({response.status(), std::string(branch)});
    response.set_body("answer", "application/sdp");
  }
  void on_branch_end(std::string_view branch, int status) override {
    ended.push_back({status, std::string(branch)});
  }
  void on_forward_ack(Message& /*ack*/, const Source& /*src*/, const Destination&) override {
    ++acks;
  }
  struct Req {
    std::string method, branch;
    Protocol from;
    std::uint16_t to_port;
  };
  std::vector<Req> requests;
  std::vector<std::pair<int, std::string>> responses, ended;
  int acks = 0;
  int fail_with = 0;
};

class ForwardHookTest : public ProxyCoreTest {
 protected:
  ForwardHookTest() { core.set_forward_hook(&hook); }
  RecordingHook hook;
};

TEST_F(ForwardHookTest, SeesEachBranchAndItsResponsesAndMayRewriteBodies) {
  receive(invite("sip:bob@127.0.0.2:5070", "UDP 127.0.0.1:5062"), udp_source());
  EXPECT_EQ(wire.pop().msg.status(), 100);
  Sent fwd = wire.pop();
  ASSERT_EQ(hook.requests.size(), 1u);
  EXPECT_EQ(hook.requests[0].method, "INVITE");
  EXPECT_EQ(hook.requests[0].to_port, 5070);
  // The hook is called with our Via on top: its branch names the branch.
  EXPECT_EQ(hook.requests[0].branch, fwd.msg.top_via().branch());
  EXPECT_EQ(fwd.msg.body(), "v=0\r\n");

  Source uas = udp_source(5070);
  uas.peer.address = boost::asio::ip::make_address("127.0.0.2");
  answer(fwd.msg, 183, uas);
  Sent early = wire.pop();
  EXPECT_EQ(early.msg.body(), "answer");
  answer(fwd.msg, 486, uas);
  ASSERT_EQ(hook.responses.size(), 1u);  // the 486 is not relayed by the hook path...
  ASSERT_EQ(hook.ended.size(), 1u);      // ...it ends the branch
  EXPECT_EQ(hook.ended[0].first, 486);
  EXPECT_EQ(hook.ended[0].second, hook.requests[0].branch);
}

TEST_F(ForwardHookTest, AStatusFromTheHookFailsTheBranchWithIt) {
  hook.fail_with = 488;
  receive(invite("sip:bob@127.0.0.2:5070", "UDP 127.0.0.1:5062"), udp_source());
  EXPECT_EQ(wire.pop().msg.status(), 100);
  Sent s = wire.pop();
  EXPECT_TRUE(s.msg.is_response());
  EXPECT_EQ(s.msg.status(), 488);
  ASSERT_EQ(hook.ended.size(), 1u);
  EXPECT_EQ(hook.ended[0].first, 488);
}

}  // namespace
}  // namespace sipws::proxy

namespace sipws::proxy {
namespace {

TEST_F(ProxyCoreTest, SipsRequestIsNeverForwardedOverAnInsecureHop) {
  receive(invite("sips:bob@127.0.0.2:5070;transport=udp", "TLS 127.0.0.1:5062"), udp_source());
  EXPECT_EQ(wire.pop().msg.status(), 100);
  Sent s = wire.pop();
  ASSERT_TRUE(s.msg.is_response());
  EXPECT_EQ(s.msg.status(), 480);
  EXPECT_NE(s.msg.reason().find("SIPS"), std::string_view::npos);
  EXPECT_TRUE(wire.sent.empty());
}

TEST_F(ProxyCoreTest, SipsRequestIsNotDowngradedToAPlainWebSocketFlow) {
  net.flows[7] = ws_source(7).peer;  // a ws: (not wss:) flow
  // The Route names the browser's flow (as an in-dialog request would), over ws.
  receive(invite("sips:alice@abc.invalid", "UDP 127.0.0.1:5062",
                 "Route: <sip:" + flow_token_user(7) + "@127.0.0.1:8080;transport=ws;lr>\r\n"),
          udp_source());
  EXPECT_EQ(wire.pop().msg.status(), 100);
  Sent s = wire.pop();
  ASSERT_TRUE(s.msg.is_response());
  EXPECT_EQ(s.msg.status(), 480);
}

TEST(RecordRoute, SipsRequestsGetASipsRecordRoute) {
  ListenPoint lp{Protocol::Wss, {boost::asio::ip::make_address("127.0.0.1"), 8443}, "127.0.0.1"};
  EXPECT_EQ(make_record_route(lp, 3, true),
            "<sips:" + flow_token_user(3) + "@127.0.0.1:8443;transport=wss;lr>");
  EXPECT_EQ(make_record_route(lp, kNoFlow), "<sip:127.0.0.1:8443;transport=wss;lr>");
}

// A listener with `advertise` writes the advertised host and port, and a Route naming either
// that or its bound address is recognised as this proxy (RFC 3261 s.16.4).
TEST(RecordRoute, AdvertisedHostAndPortAreWrittenAndRecognised) {
  ListenPoint lp{
      Protocol::Udp, {boost::asio::ip::make_address("0.0.0.0"), 5060}, "sip.example.net", 5080};
  EXPECT_EQ(make_record_route(lp, kNoFlow), "<sip:sip.example.net:5080;lr>");
  EXPECT_EQ(make_via(lp, "z9hG4bK-x"), "SIP/2.0/UDP sip.example.net:5080;branch=z9hG4bK-x;rport");
  const std::vector<ListenPoint> lps{lp};
  auto named = [&](const char* uri) {
    return names_listen_point(*sip::parse_uri(uri), lps, false);
  };
  EXPECT_TRUE(named("sip:sip.example.net:5080;lr"));
  EXPECT_TRUE(named("sip:SIP.example.NET:5060;lr"));  // the bound port too
  EXPECT_FALSE(named("sip:sip.example.net:5081;lr"));
  EXPECT_FALSE(named("sip:other.example.net:5080;lr"));
  lp.advertised_port = 0;  // host only: the bound port
  EXPECT_EQ(make_record_route(lp, kNoFlow), "<sip:sip.example.net:5060;lr>");
}

// Shards (threads > 1): a branch ends in the shard of its client transaction, a Record-Route
// entry carries the shard of its dialog; anything else names no shard.
TEST(Shards, BranchesAndRecordRoutesNameTheirShard) {
  EXPECT_EQ(branch_shard(make_branch("0123abcd", 5)), 5u);
  EXPECT_EQ(branch_loop_hash(make_branch("0123abcd", 5)), "0123abcd");
  EXPECT_EQ(branch_shard(make_own_branch(17)), 17u);
  EXPECT_EQ(branch_shard(make_branch("0123abcd")), 0u);
  for (const char* foreign : {"z9hG4bK.3", "z9hG4bK-sw0123abcd-xyz", "z9hG4bK-swx.256",
                              "z9hG4bK-swx.-1", "z9hG4bK-swx.", "z9hG4bK-swx.1a", "", "."}) {
    EXPECT_FALSE(branch_shard(foreign).has_value()) << foreign;
  }
  ListenPoint lp{Protocol::Udp, {boost::asio::ip::make_address("127.0.0.1"), 5060}, "127.0.0.1"};
  const std::string rr = make_record_route(lp, kNoFlow, false, "sig", 3u);
  EXPECT_EQ(rr, "<sip:127.0.0.1:5060;lr;sw=sig;sw-sh=3>");
  auto na = sip::parse_name_addr(rr);
  ASSERT_TRUE(na.has_value());
  EXPECT_EQ(route_shard(na->uri), 3u);
  auto plain = sip::parse_name_addr(make_record_route(lp, kNoFlow));
  ASSERT_TRUE(plain.has_value());
  EXPECT_FALSE(route_shard(plain->uri).has_value());
  auto bad = sip::parse_name_addr("<sip:127.0.0.1;lr;sw-sh=999>");
  ASSERT_TRUE(bad.has_value());
  EXPECT_FALSE(route_shard(bad->uri).has_value());
}

}  // namespace
}  // namespace sipws::proxy
