// RFC 3263 s.4.3 failover in the proxy core: a branch whose located destination fails
// (503, transport error, Timer B/F) is sent again, with a new Via branch and client
// transaction, to the next destination the Resolver located; the best-response logic runs only
// once the list is exhausted. Real transaction layer and parser, in-memory wire, manual clock.

#include <gtest/gtest.h>

#include <deque>

#include "proxy/proxy_core.hpp"
#include "proxy/routing.hpp"
#include "sip/parser.hpp"
#include "wire.hpp"

namespace sipws::proxy {
namespace {

using sip::HeaderId;
using sip::Message;

using test::Sent;
using test::Wire;

class Loopback final : public NetworkView {
 public:
  Loopback() {
    auto lo = boost::asio::ip::make_address("127.0.0.1");
    lps_.push_back({Protocol::Udp, {lo, 5060}, "127.0.0.1"});
    lps_.push_back({Protocol::Tcp, {lo, 5060}, "127.0.0.1"});
  }
  const std::vector<ListenPoint>& listen_points() const override { return lps_; }
  bool flow_alive(FlowId) const override { return false; }
  std::optional<Endpoint> flow_peer(FlowId) const override { return std::nullopt; }
  std::optional<Protocol> flow_protocol(FlowId) const override { return std::nullopt; }

 private:
  std::vector<ListenPoint> lps_;
};

Destination dest(Protocol p, const char* ip, std::uint16_t port) {
  Destination d;
  d.protocol = p;
  d.endpoint = Endpoint{boost::asio::ip::make_address(ip), port};
  d.host = "svc.example.net";
  return d;
}

/// Locates svc.example.net to three destinations (UDP, UDP, TCP), answering on the next
/// advance of the manual clock.
class ListResolver final : public Resolver {
 public:
  explicit ListResolver(ManualTimerService& t) : timers_(t) {}
  void resolve(const std::string&, std::function<void(std::optional<IpAddress>)> done) override {
    timers_.schedule(Millis(0), [done = std::move(done)]() { done(std::nullopt); });
  }
  void locate(const sip::Uri& target, bool secure,
              std::function<void(std::vector<Destination>)> done) override {
    ++locates;
    last_secure = secure;
    std::vector<Destination> ds;
    if (target.host == "svc.example.net") ds = list;
    timers_.schedule(Millis(0), [ds, done = std::move(done)]() { done(ds); });
  }
  std::vector<Destination> list{dest(Protocol::Udp, "127.0.0.20", 5060),
                                dest(Protocol::Udp, "127.0.0.21", 5060),
                                dest(Protocol::Tcp, "127.0.0.22", 5070)};
  int locates = 0;
  bool last_secure = false;

 private:
  ManualTimerService& timers_;
};

const Source kCaller{Protocol::Udp,
                     {boost::asio::ip::make_address("127.0.0.1"), 5062},
                     {boost::asio::ip::make_address("127.0.0.1"), 5060},
                     kNoFlow};

std::string request(const std::string& method, const std::string& ruri,
                    const std::string& branch = "z9hG4bKf1") {
  return method + " " + ruri +
         " SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=" +
         branch +
         "\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:alice@localhost>;tag=a1\r\n"
         "To: <" +
         ruri +
         ">\r\n"
         "Call-ID: failover-1@test\r\n"
         "CSeq: 1 " +
         method +
         "\r\n"
         "Contact: <sip:alice@127.0.0.1:5062>\r\n"
         "Content-Length: 0\r\n\r\n";
}

Source from(const Destination& d) {
  return {d.protocol, d.endpoint, {boost::asio::ip::make_address("127.0.0.1"), 5060}, kNoFlow};
}

class FailoverTest : public ::testing::Test {
 protected:
  FailoverTest() : resolver(timers), core(timers, domains, net, resolver) {
    domains.add_domain("localhost");
    core.attach(txns, wire);
  }

  void receive(const std::string& text, const Source& src = kCaller) {
    auto m = sip::parse(text);
    ASSERT_TRUE(m.has_value()) << m.error().reason;
    txns.receive(*m, src);
  }

  void answer(const Sent& fwd, int status) {
    Message rsp = sip::make_response(fwd.msg, status);
    if (status > 100) rsp.set_to_tag("b" + std::to_string(status));
    auto m = sip::parse(rsp.serialize());
    ASSERT_TRUE(m.has_value());
    txns.receive(*m, from(fwd.dest));
  }

  /// Sends the INVITE, lets the resolver answer, returns the first forwarded copy.
  Sent invite_svc() {
    receive(request("INVITE", "sip:bob@svc.example.net"));
    EXPECT_EQ(wire.pop().msg.status(), 100);
    timers.advance(Millis(0));
    return wire.pop_request();
  }

  /// Final responses sent back to the caller.
  std::vector<int> upstream_finals() {
    std::vector<int> out;
    for (const auto& s : wire.sent) {
      if (!s.msg.is_request() && s.msg.status() >= 200) out.push_back(s.msg.status());
    }
    return out;
  }

  ManualTimerService timers;
  Domains domains;
  Loopback net;
  ListResolver resolver;
  Wire wire;
  ProxyCore core;
  sip::txn::TransactionLayer txns{timers, wire, core};
};

TEST_F(FailoverTest, A503MovesTheRequestToTheNextDestinationWithANewBranch) {
  Sent first = invite_svc();
  EXPECT_EQ(first.dest.endpoint.to_string(), "127.0.0.20:5060");
  answer(first, 503);
  Sent ack = wire.pop();
  EXPECT_EQ(ack.msg.method(), sip::Method::Ack);  // the client transaction ACKs the 503
  EXPECT_EQ(ack.dest.endpoint.to_string(), "127.0.0.20:5060");
  Sent second = wire.pop();
  ASSERT_TRUE(second.msg.is_request());
  EXPECT_EQ(second.msg.method(), sip::Method::Invite);
  EXPECT_EQ(second.dest.endpoint.to_string(), "127.0.0.21:5060");
  EXPECT_NE(second.msg.top_via().branch(), first.msg.top_via().branch());
  // The same request as the first copy: not forwarded twice over.
  EXPECT_EQ(second.msg.max_forwards(), 69u);
  EXPECT_EQ(second.msg.count(HeaderId::Via), 2u);
  EXPECT_EQ(second.msg.count(HeaderId::RecordRoute), 1u);
  EXPECT_EQ(second.msg.request_uri().raw, "sip:bob@svc.example.net");
  EXPECT_TRUE(upstream_finals().empty());  // the 503 is not relayed
  EXPECT_EQ(resolver.locates, 1);          // the list is not looked up again

  answer(second, 200);
  Sent ok = wire.pop();
  EXPECT_EQ(ok.msg.status(), 200);
  EXPECT_EQ(ok.dest.endpoint.port, 5062);
}

TEST_F(FailoverTest, TransportErrorMovesOn) {
  wire.fail_to = boost::asio::ip::make_address("127.0.0.20");
  Sent first = invite_svc();
  EXPECT_EQ(first.dest.endpoint.to_string(), "127.0.0.20:5060");
  timers.advance(Millis(0));  // the failure is reported on the next turn
  Sent second = wire.pop_request();
  EXPECT_EQ(second.dest.endpoint.to_string(), "127.0.0.21:5060");
  EXPECT_EQ(second.msg.method(), sip::Method::Invite);
}

TEST_F(FailoverTest, TimerBMovesOnToTheNextDestination) {
  Sent first = invite_svc();
  // No answer: Timer A retransmissions, then Timer B (64*T1 = 32 s).
  timers.advance(Millis(32000));
  std::optional<Sent> second;
  for (auto& s : wire.sent) {
    if (s.msg.is_request() && s.dest.endpoint.to_string() == "127.0.0.21:5060") second = s;
  }
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->msg.method(), sip::Method::Invite);
  EXPECT_NE(second->msg.top_via().branch(), first.msg.top_via().branch());
}

TEST_F(FailoverTest, TimerFMovesOnForNonInvite) {
  receive(request("MESSAGE", "sip:bob@svc.example.net", "z9hG4bKm1"));
  timers.advance(Millis(0));
  Sent first = wire.pop_request();
  EXPECT_EQ(first.dest.endpoint.to_string(), "127.0.0.20:5060");
  timers.advance(Millis(32000));
  bool moved = false;
  for (auto& s : wire.sent) {
    moved = moved || (s.msg.is_request() && s.dest.endpoint.to_string() == "127.0.0.21:5060");
  }
  EXPECT_TRUE(moved);
}

TEST_F(FailoverTest, ExhaustedListGivesTheBestResponse) {
  Sent a = invite_svc();
  answer(a, 503);
  Sent b = wire.pop_request();
  EXPECT_EQ(b.dest.endpoint.to_string(), "127.0.0.21:5060");
  answer(b, 503);
  Sent c = wire.pop_request();
  EXPECT_EQ(c.dest.endpoint.to_string(), "127.0.0.22:5070");
  EXPECT_EQ(c.dest.protocol, Protocol::Tcp);
  EXPECT_EQ(c.msg.top_via().transport, "TCP");
  answer(c, 503);
  // s.16.7: a 503 is not relayed as such; nothing left to try.
  EXPECT_EQ(upstream_finals(), std::vector<int>{500});
}

TEST_F(FailoverTest, OtherFailuresAreNotRetried) {
  Sent a = invite_svc();
  answer(a, 486);
  EXPECT_EQ(upstream_finals(), std::vector<int>{486});
  for (const auto& s : wire.sent) {
    if (s.msg.is_request()) {
      EXPECT_EQ(s.msg.method(), sip::Method::Ack);
    }
  }
}

TEST_F(FailoverTest, CancelledRequestIsNotRetried) {
  Sent a = invite_svc();
  answer(a, 180);
  receive(
      "CANCEL sip:bob@svc.example.net SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKf1\r\nMax-Forwards: 70\r\n"
      "From: <sip:alice@localhost>;tag=a1\r\nTo: <sip:bob@svc.example.net>\r\n"
      "Call-ID: failover-1@test\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n");
  answer(a, 503);
  for (const auto& s : wire.sent) {
    if (s.msg.is_request() && s.msg.method() == sip::Method::Invite) {
      EXPECT_NE(s.dest.endpoint.to_string(), "127.0.0.21:5060") << "retried after CANCEL";
    }
  }
}

TEST_F(FailoverTest, SipsRequestUriIsLocatedAsSecure) {
  receive(request("MESSAGE", "sips:bob@svc.example.net", "z9hG4bKs1"));
  timers.advance(Millis(0));
  EXPECT_TRUE(resolver.last_secure);
}

// ---------------------------------------------------------------- WebSocket servers as next hops

TEST_F(FailoverTest, WebSocketServerWithARealHostIsLocatedAndDialled) {
  resolver.list = {dest(Protocol::Ws, "127.0.0.30", 8080), dest(Protocol::Wss, "127.0.0.31", 443)};
  receive(request("INVITE", "sip:bob@svc.example.net;transport=ws"));
  EXPECT_EQ(wire.pop().msg.status(), 100);
  timers.advance(Millis(0));
  EXPECT_EQ(resolver.locates, 1);
  Sent first = wire.pop_request();
  EXPECT_EQ(first.dest.protocol, Protocol::Ws);
  EXPECT_EQ(first.dest.endpoint.to_string(), "127.0.0.30:8080");
  EXPECT_EQ(first.dest.flow, kNoFlow);  // the transport's WebSocket client opens (or reuses) one
  // No WS listener here: the Via still says WS (RFC 7118 s.5.2), with sipws's host and port,
  // and so does the Record-Route entry facing the WebSocket side.
  EXPECT_EQ(first.msg.top_via().transport, "WS");
  EXPECT_EQ(first.msg.top_via().host, "127.0.0.1");
  EXPECT_EQ(first.msg.top_via().port, 5060);
  ASSERT_NE(first.msg.find(HeaderId::RecordRoute), nullptr);
  EXPECT_NE(first.msg.find(HeaderId::RecordRoute)->value.find("transport=ws"), std::string::npos);

  // The connection could not be opened: the transport reports it, the branch fails over.
  txns.transport_failed(Protocol::Ws, first.dest.endpoint);
  timers.advance(Millis(0));
  Sent second = wire.pop_request();
  EXPECT_EQ(second.dest.protocol, Protocol::Wss);
  EXPECT_EQ(second.dest.endpoint.to_string(), "127.0.0.31:443");
  EXPECT_EQ(second.msg.top_via().transport, "WSS");
  txns.transport_failed(Protocol::Wss, second.dest.endpoint);
  timers.advance(Millis(0));
  EXPECT_EQ(upstream_finals(), std::vector<int>{500});  // 503 from the last one, s.16.7
}

TEST_F(FailoverTest, BrowserContactsAreNeverDialled) {
  int n = 0;
  for (const char* ruri :
       {"sip:alice@df7jal23ls0d.invalid;transport=ws", "sip:alice@X.INVALID;transport=wss",
        "sip:alice@a.invalid.;transport=ws"}) {
    wire.sent.clear();
    receive(request("MESSAGE", ruri, "z9hG4bKinv" + std::to_string(++n)));
    timers.advance(Millis(0));
    EXPECT_EQ(upstream_finals(), std::vector<int>{480}) << ruri;
  }
  EXPECT_EQ(resolver.locates, 0);
}

// A target with credentials (a gateway's auth_user/password, Kamailio's uac_auth) answers its
// destination's 401/407 itself: the request goes again, as it was before forwarding, with the
// credentials; a second challenge is relayed; a target without credentials relays the first.
class ChallengeTarget final : public RequestProcessor {
 public:
  explicit ChallengeTarget(bool with_credentials) : with_credentials_(with_credentials) {}
  std::string_view name() const override { return "challenge-target"; }
  Action process(RequestContext& ctx) override {
    Target t;
    t.uri = "sip:15551234@127.0.0.30:5060";
    if (with_credentials_) {
      t.answer_challenge = [this](const Message& challenge,
                                  const Message& request) -> std::optional<std::string> {
        ++asked;
        seen_status = challenge.status();
        seen_uri = std::string(request.request_uri().raw);
        return "Digest username=\"gw\", response=\"r" + std::to_string(asked) + "\"";
      };
    }
    ctx.targets().push_back(std::move(t));
    return Action::SkipChain;
  }
  bool with_credentials_;
  int asked = 0;
  int seen_status = 0;
  std::string seen_uri;
};

class ChallengeTest : public FailoverTest {
 protected:
  explicit ChallengeTest(bool with_credentials = true) {
    auto p = std::make_unique<ChallengeTarget>(with_credentials);
    target = p.get();
    core.add_request_processor(std::move(p));
  }
  Sent invite_gw() {
    receive(request("INVITE", "sip:15551234@localhost"));
    EXPECT_EQ(wire.pop().msg.status(), 100);
    return wire.pop_request();
  }
  ChallengeTarget* target = nullptr;
};

TEST_F(ChallengeTest, A407IsAnsweredWithTheTargetsCredentialsOnANewBranch) {
  Sent first = invite_gw();
  EXPECT_EQ(first.dest.endpoint.to_string(), "127.0.0.30:5060");
  EXPECT_EQ(first.msg.count(HeaderId::ProxyAuthorization), 0u);
  answer(first, 407);
  Sent second = wire.pop_request();
  ASSERT_TRUE(second.msg.is_request());
  EXPECT_EQ(second.msg.method(), sip::Method::Invite);
  EXPECT_EQ(second.dest.endpoint.to_string(), "127.0.0.30:5060");
  EXPECT_NE(second.msg.top_via().branch(), first.msg.top_via().branch());
  ASSERT_NE(second.msg.find(HeaderId::ProxyAuthorization), nullptr);
  EXPECT_EQ(second.msg.find(HeaderId::ProxyAuthorization)->value,
            "Digest username=\"gw\", response=\"r1\"");
  // As it was before forwarding: one Via of ours, Max-Forwards decremented once, one RR.
  EXPECT_EQ(second.msg.count(HeaderId::Via), 2u);
  EXPECT_EQ(second.msg.max_forwards(), 69u);
  EXPECT_EQ(second.msg.count(HeaderId::RecordRoute), 1u);
  EXPECT_EQ(second.msg.cseq().number, first.msg.cseq().number);
  EXPECT_EQ(target->seen_status, 407);
  EXPECT_EQ(target->seen_uri, "sip:15551234@127.0.0.30:5060");
  EXPECT_TRUE(upstream_finals().empty());  // the 407 is not relayed

  answer(second, 200);
  EXPECT_EQ(upstream_finals(), (std::vector<int>{200}));
}

TEST_F(ChallengeTest, ASecondChallengeIsRelayed) {
  Sent first = invite_gw();
  answer(first, 401);
  Sent second = wire.pop_request();
  EXPECT_NE(second.msg.find(HeaderId::Authorization), nullptr);
  answer(second, 401);
  EXPECT_EQ(target->asked, 1);
  EXPECT_EQ(upstream_finals(), (std::vector<int>{401}));
}

class ChallengeWithoutCredentials : public ChallengeTest {
 protected:
  ChallengeWithoutCredentials() : ChallengeTest(false) {}
};

TEST_F(ChallengeWithoutCredentials, TheChallengeIsRelayed) {
  Sent first = invite_gw();
  answer(first, 407);
  EXPECT_EQ(upstream_finals(), (std::vector<int>{407}));
}

}  // namespace
}  // namespace sipws::proxy
