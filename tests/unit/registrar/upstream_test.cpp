// Upstream registrar mode (registrar/upstream.hpp) inside the real ProxyCore, transaction
// layer and Uac, as the daemon wires them: a browser on a WebSocket flow registers with a PBX
// at 10.0.0.5 through sipws (Contact rewritten, or Path), the PBX calls it back, the browser
// calls the PBX, the flow closes and sipws un-registers it. The wire is an in-memory Sender;
// time is a ManualTimerService.

#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "proxy/proxy_core.hpp"
#include "proxy/uac.hpp"
#include "registrar/upstream.hpp"
#include "registrar_test_util.hpp"
#include "sip/txn/transaction_layer.hpp"

namespace sipws::registrar {
namespace {

using sip::HeaderId;
using sip::Message;
using test::Network;
using test::Sent;
using test::Tu;
using test::WireSender;

class NoResolver final : public proxy::Resolver {
 public:
  void resolve(const std::string& host,
               std::function<void(std::optional<IpAddress>)> done) override {
    ADD_FAILURE() << "unexpected lookup of " << host;
    done(std::nullopt);
  }
};

constexpr const char* kContact = "sip:h7kjh12s@abcdefgh.invalid;transport=ws";

std::string browser_register(int cseq, const std::string& extra = {}) {
  return "REGISTER sip:pbx.example.com SIP/2.0\r\n"
         "Via: SIP/2.0/WS abcdefgh.invalid;branch=z9hG4bKbr" +
         std::to_string(cseq) +
         "\r\n"
         "Max-Forwards: 69\r\n"
         "To: <sip:alice@pbx.example.com>\r\n"
         "From: <sip:alice@pbx.example.com>;tag=9o3s6mc7qk\r\n"
         "Call-ID: mhcvd7lkq0dhb6ue3evn3i\r\n"
         "CSeq: " +
         std::to_string(cseq) +
         " REGISTER\r\n"
         "Contact: <" +
         kContact +
         ">;reg-id=1;+sip.instance=\"<urn:uuid:6c8b3bd8-5e52-4e5b-9a3c-2f3c8f1a1a11>\";"
         "expires=600\r\n" +
         extra + "Content-Length: 0\r\n\r\n";
}

const std::string kCredentials =
    "Authorization: Digest username=\"alice\", realm=\"pbx.example.com\", nonce=\"n1\", "
    "uri=\"sip:pbx.example.com\", response=\"0123456789abcdef0123456789abcdef\", "
    "algorithm=MD5\r\n";

/// The response of the PBX to `req` (its Via copied), with `headers` added.
std::string pbx_response(const Message& req, int status, const std::string& headers) {
  Message rsp = sip::make_response(req, status);
  if (status >= 200 && req.method() != sip::Method::Register) rsp.set_to_tag("pbx1");
  std::string text = rsp.serialize();
  text.insert(text.size() - 2, headers);  // before the blank line
  return text;
}

/// The Contact URI the PBX got in a forwarded REGISTER.
std::string contact_uri(const Message& m) {
  auto na = sip::parse_name_addr(m.find(HeaderId::Contact)->value);
  return na ? std::string(na->uri.raw) : std::string();
}

class Upstream : public ::testing::Test {
 protected:
  explicit Upstream(bool path = false, std::vector<std::string> strip = {})
      : core(timers, domains, net, resolver) {
    domains.add_domain("example.com");
    domains.add_alias("127.0.0.1");
    domains.add_port(5060);
    domains.add_port(8080);
    core.attach(txns, wire);
    uac.attach(txns);
    UpstreamDomain d;
    d.name = "PBX.example.com";
    d.upstream = "sip:10.0.0.5:5060;transport=udp";
    d.path = path;
    d.strip_headers = std::move(strip);
    if (!d.strip_headers.empty()) {
      // As the daemon does (make_peer_rules): the core strips what goes to the upstream.
      proxy::PeerRule rule;
      rule.strip_headers = d.strip_headers;
      core.set_peer_rules(std::make_shared<const proxy::PeerRules>(
          std::vector<std::pair<IpAddress, proxy::PeerRule>>{
              {boost::asio::ip::make_address("10.0.0.5"), rule}}));
    }
    auto p = std::make_unique<UpstreamRegistrarProcessor>(std::vector<UpstreamDomain>{d}, domains,
                                                          table, reg);
    processor = p.get();
    core.add_request_processor(std::move(p));
    net.flows[7] = browser.peer;
  }
  void receive(const std::string& text, const Source& src) {
    auto m = sip::parse(text);
    ASSERT_TRUE(m.has_value()) << m.error().reason << "\n" << text;
    txns.receive(*m, src);
  }
  /// Registers the browser through sipws: REGISTER, the PBX's 401, the REGISTER with
  /// credentials, the PBX's 200 (which lists what `contact_in_200` makes of the contact it got).
  /// Returns the 200 the browser got.
  Message register_browser(const std::function<std::string(const Message&)>& contact_in_200) {
    receive(browser_register(1), browser);
    Sent fwd = wire.pop();
    EXPECT_TRUE(fwd.msg.is_request());
    receive(pbx_response(fwd.msg, 401,
                         "WWW-Authenticate: Digest realm=\"pbx.example.com\", nonce=\"n1\"\r\n"),
            pbx);
    Sent challenge = wire.pop();
    EXPECT_EQ(challenge.msg.status(), 401);
    EXPECT_EQ(challenge.dest.flow, 7u);
    EXPECT_NE(challenge.msg.find(HeaderId::WwwAuthenticate), nullptr);
    receive(browser_register(2, kCredentials), browser);
    fwd = wire.pop();
    EXPECT_NE(fwd.msg.find(HeaderId::Authorization), nullptr);
    receive(pbx_response(fwd.msg, 200, "Contact: " + contact_in_200(fwd.msg) + "\r\n"), pbx);
    return wire.pop().msg;
  }

  /// register_browser() with a PBX that grants `expires` seconds to the rewritten contact;
  /// returns that contact's URI (`sip:sw-u...@127.0.0.1:5060`).
  std::string register_granted(std::uint32_t expires) {
    std::string uri;
    register_browser([&](const Message& fwd) {
      uri = contact_uri(fwd);
      return "<" + uri + ">;expires=" + std::to_string(expires);
    });
    return uri;
  }

  ManualTimerService timers;
  proxy::Domains domains;
  Network net;
  NoResolver resolver;
  WireSender wire;
  Counters reg;
  UpstreamBindings table{"route key of the tests", timers};
  UpstreamRegistrarProcessor* processor = nullptr;
  proxy::ProxyCore core;
  proxy::Uac uac{net};
  Tu tu{&core, uac};
  sip::txn::TransactionLayer txns{timers, wire, tu};
  Source browser = test::source(Protocol::Ws, "198.51.100.7", 52000, 7);
  Source pbx = test::source(Protocol::Udp, "10.0.0.5", 5060, kNoFlow);
  Source stranger = test::source(Protocol::Udp, "192.0.2.66", 5060, kNoFlow);
};

class UpstreamStrip : public Upstream {
 protected:
  UpstreamStrip() : Upstream(false, {"User-Agent", "X-Secret"}) {}
};

TEST_F(UpstreamStrip, HeadersThePbxChokesOnAreRemovedFromWhatGoesToIt) {
  receive(browser_register(1, "User-Agent: JsSIP 3.10\r\nX-Secret: 1\r\nX-Kept: 2\r\n"), browser);
  Sent fwd = wire.pop();
  ASSERT_TRUE(fwd.msg.is_request());
  EXPECT_EQ(fwd.msg.find(HeaderId::UserAgent), nullptr);
  EXPECT_EQ(fwd.msg.find("X-Secret"), nullptr);
  EXPECT_NE(fwd.msg.find("X-Kept"), nullptr);
  const std::string invite =
      "INVITE sip:200@pbx.example.com SIP/2.0\r\n"
      "Via: SIP/2.0/WS abcdefgh.invalid;branch=z9hG4bKinv9\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:alice@pbx.example.com>;tag=a9\r\n"
      "To: <sip:200@pbx.example.com>\r\n"
      "Call-ID: browser-call-9\r\n"
      "CSeq: 1 INVITE\r\n"
      "User-Agent: JsSIP 3.10\r\n"
      "Contact: <sip:h7kjh12s@abcdefgh.invalid;transport=ws;ob>\r\n"
      "Content-Length: 0\r\n\r\n";
  receive(invite, browser);
  EXPECT_EQ(wire.pop().msg.status(), 100);
  Sent out = wire.pop();
  ASSERT_TRUE(out.msg.is_request());
  EXPECT_EQ(out.msg.method(), sip::Method::Invite);
  EXPECT_EQ(out.msg.find(HeaderId::UserAgent), nullptr);
}

class UpstreamPath : public Upstream {
 protected:
  UpstreamPath() : Upstream(true) {}
};

std::string invite_to(const std::string& ruri, const std::string& route = {}) {
  return "INVITE " + ruri +
         " SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKpbx1\r\n"
         "Max-Forwards: 70\r\n" +
         (route.empty() ? std::string() : "Route: " + route + "\r\n") +
         "From: <sip:100@pbx.example.com>;tag=p1\r\n"
         "To: <sip:alice@pbx.example.com>\r\n"
         "Call-ID: pbx-call-1\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:100@10.0.0.5:5060>\r\n"
         "Content-Length: 0\r\n\r\n";
}

TEST_F(Upstream, RegisterGoesToThePbxWithItsContactRewrittenAndRestoredInThe200) {
  receive(browser_register(1), browser);
  Sent fwd = wire.pop();
  ASSERT_TRUE(fwd.msg.is_request());
  EXPECT_EQ(fwd.msg.method(), sip::Method::Register);
  EXPECT_EQ(fwd.dest.endpoint, test::ep("10.0.0.5", 5060));
  EXPECT_EQ(fwd.dest.protocol, Protocol::Udp);
  EXPECT_EQ(fwd.msg.request_uri().raw, "sip:pbx.example.com");
  EXPECT_EQ(fwd.msg.count(HeaderId::Via), 2u);
  EXPECT_EQ(fwd.msg.count(HeaderId::Path), 0u);
  // sipws's address on the listener the REGISTER leaves from, a token, the UA's parameters
  // but reg-id (Outbound ends at this edge).
  const std::string uri = contact_uri(fwd.msg);
  EXPECT_TRUE(uri.starts_with("sip:sw-u")) << uri;
  EXPECT_TRUE(uri.ends_with("@127.0.0.1:5060")) << uri;
  const std::string_view value = fwd.msg.find(HeaderId::Contact)->value;
  EXPECT_EQ(value.find("reg-id"), std::string_view::npos) << value;
  EXPECT_NE(value.find("+sip.instance"), std::string_view::npos) << value;
  EXPECT_NE(value.find("expires=600"), std::string_view::npos) << value;
  EXPECT_EQ(value.find("invalid"), std::string_view::npos) << value;

  // The PBX's 200 lists the binding (and a desk phone's): the browser sees its own contact.
  receive(pbx_response(fwd.msg, 200,
                       "Contact: <" + uri +
                           ">;expires=300\r\nContact: <sip:alice@10.0.0.9:5060>;expires=100\r\n"),
          pbx);
  Sent ok = wire.pop();
  ASSERT_EQ(ok.msg.status(), 200);
  EXPECT_EQ(ok.dest.flow, 7u);
  auto contacts = ok.msg.find_all(HeaderId::Contact);
  ASSERT_EQ(contacts.size(), 2u);
  EXPECT_EQ(contacts[0]->value, std::string("<") + kContact + ">;expires=300");
  EXPECT_EQ(contacts[1]->value, "<sip:alice@10.0.0.9:5060>;expires=100");
  ASSERT_EQ(table.size(), 1u);
  const std::string token = uri.substr(4, uri.find('@') - 4);
  auto b = table.find(token);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->aor, "alice@pbx.example.com");
  EXPECT_EQ(b->contact, kContact);
  EXPECT_EQ(b->source.flow, 7u);
  EXPECT_EQ(reg.get("upstream_registers_forwarded").value(), 1u);
  EXPECT_TRUE(wire.sent.empty());
}

TEST_F(Upstream, TheChallengeAndTheCredentialsPassUnchanged) {
  std::string uri;
  Message ok = register_browser([&](const Message& fwd) {
    uri = contact_uri(fwd);
    return "<" + uri + ">;expires=300";
  });
  EXPECT_EQ(ok.status(), 200);
  // The same UA contact gets the same token in both REGISTERs: one binding upstream.
  EXPECT_EQ(table.size(), 1u);
  auto b = table.find(uri.substr(4, uri.find('@') - 4));
  ASSERT_TRUE(b.has_value());
  ASSERT_EQ(b->credentials.size(), 1u);
  EXPECT_FALSE(b->credentials[0].first);
  EXPECT_NE(b->credentials[0].second.find("response=\"0123456789abcdef"), std::string::npos);
}

TEST_F(Upstream, ThePbxReachesTheBrowserThroughItsTokenOverTheFlow) {
  const std::string uri = register_granted(300);
  receive(invite_to(uri), pbx);
  EXPECT_EQ(wire.pop().msg.status(), 100);
  Sent fwd = wire.pop();
  ASSERT_TRUE(fwd.msg.is_request());
  EXPECT_EQ(fwd.msg.request_uri().raw, kContact);
  EXPECT_EQ(fwd.dest.flow, 7u);
  EXPECT_EQ(fwd.dest.protocol, Protocol::Ws);
  EXPECT_GE(fwd.msg.count(HeaderId::RecordRoute), 1u);
  EXPECT_EQ(reg.get("upstream_requests_in").value(), 1u);
}

TEST_F(Upstream, AnUnknownTokenGets404AndAStrangerCannotUseAToken) {
  const std::string uri = register_granted(300);
  receive(invite_to("sip:sw-uAAAAAAAAAAAAAAAAAAAAAA@127.0.0.1:5060"), pbx);
  EXPECT_EQ(wire.pop().msg.status(), 100);
  EXPECT_EQ(wire.pop().msg.status(), 404);
  EXPECT_EQ(reg.get("upstream_unknown_token").value(), 1u);
  // The right token from another address is not the PBX's: the processor lets the chain go
  // on (in the daemon: the relay policy and the location lookup, which knows no such user;
  // here nothing follows it) and nothing reaches the browser.
  std::string text = invite_to(uri);
  text.replace(text.find("z9hG4bKpbx1"), 11, "z9hG4bKstr1");
  receive(text, stranger);
  EXPECT_EQ(reg.get("upstream_requests_in").value(), 0u);
  while (!wire.sent.empty()) {
    Sent s = wire.pop();
    EXPECT_NE(s.dest.flow, 7u);
    if (s.msg.is_request()) {
      EXPECT_NE(s.msg.request_uri().raw, kContact);
    }
  }
}

TEST_F(Upstream, TheBrowserCallsThePbxWhichChallengesIt) {
  const std::string invite =
      "INVITE sip:200@pbx.example.com SIP/2.0\r\n"
      "Via: SIP/2.0/WS abcdefgh.invalid;branch=z9hG4bKinv1\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:alice@pbx.example.com>;tag=a1\r\n"
      "To: <sip:200@pbx.example.com>\r\n"
      "Call-ID: browser-call-1\r\n"
      "CSeq: 1 INVITE\r\n"
      "Contact: <sip:h7kjh12s@abcdefgh.invalid;transport=ws;ob>\r\n"
      "Content-Length: 0\r\n\r\n";
  receive(invite, browser);
  EXPECT_EQ(wire.pop().msg.status(), 100);
  Sent fwd = wire.pop();
  ASSERT_TRUE(fwd.msg.is_request());
  EXPECT_EQ(fwd.dest.endpoint, test::ep("10.0.0.5", 5060));
  EXPECT_EQ(fwd.msg.request_uri().raw, "sip:200@pbx.example.com");
  EXPECT_EQ(fwd.msg.count(HeaderId::RecordRoute), 2u);  // WS flow in, UDP out
  receive(pbx_response(fwd.msg, 407,
                       "Proxy-Authenticate: Digest realm=\"pbx.example.com\", nonce=\"n2\"\r\n"),
          pbx);
  // The ACK for the 407 is the transaction layer's; the 407 goes to the browser unchanged.
  Sent rsp;
  do {
    rsp = wire.pop();
  } while (rsp.msg.is_request() && !wire.sent.empty());
  EXPECT_EQ(rsp.msg.status(), 407);
  EXPECT_EQ(rsp.dest.flow, 7u);
  EXPECT_NE(rsp.msg.find(HeaderId::ProxyAuthenticate), nullptr);
  EXPECT_EQ(reg.get("upstream_requests_out").value(), 1u);
}

TEST_F(Upstream, AClosedFlowIsUnregisteredUpstreamAtOnceWithANewCallId) {
  const std::string uri = register_granted(300);
  net.flows.erase(7);
  processor->on_flow_closed(7, uac);
  Sent unreg = wire.pop();
  ASSERT_TRUE(unreg.msg.is_request());
  EXPECT_EQ(unreg.msg.method(), sip::Method::Register);
  EXPECT_EQ(unreg.dest.endpoint, test::ep("10.0.0.5", 5060));
  EXPECT_EQ(unreg.msg.request_uri().raw, "sip:pbx.example.com");
  EXPECT_EQ(unreg.msg.find(HeaderId::Contact)->value, "<" + uri + ">;expires=0");
  EXPECT_NE(unreg.msg.call_id(), "mhcvd7lkq0dhb6ue3evn3i");
  EXPECT_EQ(unreg.msg.to().uri.raw, "sip:alice@pbx.example.com");
  ASSERT_NE(unreg.msg.find(HeaderId::Authorization), nullptr);  // replayed
  EXPECT_EQ(reg.get("upstream_unregisters_sent").value(), 1u);
  // Until the PBX confirms, its requests to the dead flow get 480 at once.
  receive(invite_to(uri), pbx);
  EXPECT_EQ(wire.pop().msg.status(), 100);
  EXPECT_EQ(wire.pop().msg.status(), 480);
  receive(pbx_response(unreg.msg, 200, ""), pbx);
  EXPECT_EQ(reg.get("upstream_unregisters_ok").value(), 1u);
  EXPECT_EQ(table.size(), 0u);
  // A second close of the same flow sends nothing.
  processor->on_flow_closed(7, uac);
  EXPECT_TRUE(wire.sent.empty());
}

TEST_F(Upstream, AnUnregistrationThePbxRefusesLeavesTheBindingDead) {
  const std::string uri = register_granted(300);
  net.flows.erase(7);
  processor->on_flow_closed(7, uac);
  Sent unreg = wire.pop();
  receive(pbx_response(unreg.msg, 401, "WWW-Authenticate: Digest realm=\"x\", nonce=\"n9\"\r\n"),
          pbx);
  EXPECT_EQ(reg.get("upstream_unregisters_failed").value(), 1u);
  receive(invite_to(uri), pbx);
  EXPECT_EQ(wire.pop().msg.status(), 100);
  EXPECT_EQ(wire.pop().msg.status(), 480);
}

TEST_F(Upstream, AnUnregisterFromTheBrowserRemovesTheBinding) {
  const std::string uri = register_granted(300);
  std::string bye = browser_register(3);
  bye.replace(bye.find("expires=600"), 11, "expires=0");
  receive(bye, browser);
  Sent fwd = wire.pop();
  EXPECT_NE(fwd.msg.find(HeaderId::Contact)->value.find("expires=0"), std::string_view::npos);
  receive(pbx_response(fwd.msg, 200, ""), pbx);  // no binding left
  EXPECT_EQ(wire.pop().msg.status(), 200);
  EXPECT_EQ(table.size(), 0u);
}

TEST_F(Upstream, ContactStarRemovesTheAorsBindingsOnIts2xx) {
  register_granted(300);
  ASSERT_EQ(table.size(), 1u);
  std::string star = browser_register(3, "Expires: 0\r\n");
  const auto at = star.find("Contact: <");
  star.replace(at, star.find("\r\n", at) - at, "Contact: *");
  receive(star, browser);
  Sent fwd = wire.pop();
  ASSERT_TRUE(fwd.msg.is_request());
  EXPECT_EQ(fwd.msg.find(HeaderId::Contact)->value, "*");  // passed as it is
  receive(pbx_response(fwd.msg, 200, ""), pbx);
  EXPECT_EQ(wire.pop().msg.status(), 200);
  EXPECT_EQ(table.size(), 0u);
}

TEST_F(Upstream, ABindingExpiresWithWhatThePbxGranted) {
  const std::string uri = register_granted(60);
  const std::string token = uri.substr(4, uri.find('@') - 4);
  timers.advance(std::chrono::seconds(59));
  EXPECT_TRUE(table.find(token).has_value());
  timers.advance(std::chrono::seconds(2));
  EXPECT_FALSE(table.find(token).has_value());
}

TEST_F(UpstreamPath, RegisterKeepsTheContactAndAddsAPathWithTheFlowToken) {
  receive(browser_register(1), browser);
  Sent fwd = wire.pop();
  ASSERT_TRUE(fwd.msg.is_request());
  EXPECT_EQ(contact_uri(fwd.msg), kContact);
  EXPECT_NE(fwd.msg.find(HeaderId::Contact)->value.find("reg-id=1"), std::string_view::npos);
  ASSERT_EQ(fwd.msg.count(HeaderId::Path), 1u);
  const std::string path(fwd.msg.find(HeaderId::Path)->value);
  EXPECT_TRUE(path.starts_with("<sip:sw-f7.")) << path;
  EXPECT_TRUE(path.ends_with("@127.0.0.1:5060;lr>")) << path;
  // The UA did not say it supports Path; the registrar the operator named does.
  EXPECT_TRUE(sip::has_option_tag(fwd.msg, HeaderId::Supported, "path"));

  receive(pbx_response(
              fwd.msg, 200,
              std::string("Contact: <") + kContact + ">;expires=300\r\nPath: " + path + "\r\n"),
          pbx);
  Sent ok = wire.pop();
  ASSERT_EQ(ok.msg.status(), 200);
  EXPECT_EQ(ok.msg.find(HeaderId::Contact)->value, std::string("<") + kContact + ">;expires=300");
  ASSERT_EQ(table.size(), 1u);

  // The PBX's INVITE comes along the Path: down the flow its token names.
  receive(invite_to(kContact, path), pbx);
  EXPECT_EQ(wire.pop().msg.status(), 100);
  Sent inv = wire.pop();
  ASSERT_TRUE(inv.msg.is_request());
  EXPECT_EQ(inv.msg.request_uri().raw, kContact);
  EXPECT_EQ(inv.dest.flow, 7u);
  EXPECT_EQ(inv.msg.count(HeaderId::Route), 0u);
}

TEST_F(UpstreamPath, AClosedFlowIsUnregisteredWithItsPath) {
  receive(browser_register(1), browser);
  Sent fwd = wire.pop();
  const std::string path(fwd.msg.find(HeaderId::Path)->value);
  receive(pbx_response(fwd.msg, 200, std::string("Contact: <") + kContact + ">;expires=300\r\n"),
          pbx);
  ASSERT_EQ(wire.pop().msg.status(), 200);
  net.flows.erase(7);
  processor->on_flow_closed(7, uac);
  Sent unreg = wire.pop();
  ASSERT_TRUE(unreg.msg.is_request());
  EXPECT_EQ(unreg.msg.find(HeaderId::Contact)->value, std::string("<") + kContact + ">;expires=0");
  ASSERT_NE(unreg.msg.find(HeaderId::Path), nullptr);
  EXPECT_EQ(unreg.msg.find(HeaderId::Path)->value, path);
  EXPECT_TRUE(sip::has_option_tag(unreg.msg, HeaderId::Supported, "path"));
}

TEST(UpstreamDestination, IpLiteralsAndStreamTransportsOnly) {
  auto d = upstream_destination("sip:10.0.0.5:5070;transport=tcp");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->protocol, Protocol::Tcp);
  EXPECT_EQ(d->endpoint, test::ep("10.0.0.5", 5070));
  d = upstream_destination("sip:[::1]");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->protocol, Protocol::Udp);
  EXPECT_EQ(d->endpoint.port, 5060);
  EXPECT_FALSE(upstream_destination("sip:pbx.example.com").has_value());
  EXPECT_FALSE(upstream_destination("sip:10.0.0.5;transport=ws").has_value());
  EXPECT_FALSE(upstream_destination("http://10.0.0.5/").has_value());
  EXPECT_FALSE(upstream_destination("garbage").has_value());
}

TEST(UpstreamBindingsTable, TokensAreStablePerContactAndDifferPerKey) {
  ManualTimerService t;
  UpstreamBindings a("key one", t);
  UpstreamBindings b("key two", t);
  const std::string ta = a.token_for("alice@pbx", kContact);
  EXPECT_EQ(ta, a.token_for("alice@pbx", kContact));
  EXPECT_EQ(ta.size(), 4u + 22u);
  EXPECT_NE(ta, a.token_for("bob@pbx", kContact));
  EXPECT_NE(ta, a.token_for("alice@pbx", "sip:other@x.invalid;transport=ws"));
  EXPECT_NE(ta, b.token_for("alice@pbx", kContact));
}

TEST(UpstreamBindingsTable, AReRegistrationOnANewFlowMovesTheBinding) {
  ManualTimerService t;
  UpstreamBindings table("k", t);
  UpstreamBinding b;
  b.token = "sw-uX";
  b.source.flow = 7;
  b.expires_at = t.now() + std::chrono::seconds(60);
  table.put(b);
  b.source.flow = 9;  // the UA reconnected and registered again
  table.put(b);
  EXPECT_TRUE(table.on_flow_closed(7).empty());  // the old flow's close no longer concerns it
  auto dead = table.on_flow_closed(9);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_TRUE(table.find("sw-uX")->flow_dead);
}

}  // namespace
}  // namespace sipws::registrar
