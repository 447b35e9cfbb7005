// RelayPolicyProcessor: every row of its class comment (REGISTER for a foreign domain, trusted
// peers, open mode, in->in / in->out / out->in / out->out for every method, tel: and Route
// targets, ACK / CANCEL) and a reload through Reloadable::set. Requests are parsed from text;
// the policy is synchronous (no store), so each request is one process() call.

#include "auth/relay_policy.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "sip/parser.hpp"

namespace sipws::auth {
namespace {

using proxy::Action;
using proxy::RequestContext;

sip::Message parse(const std::string& text) {
  auto m = sip::parse(text);
  if (!m) {
    ADD_FAILURE() << "parse failed: " << m.error().reason << "\n" << text;
    return {};
  }
  return std::move(m.value());
}

/// A request as a UA sends it: Request-URI `ruri`, To `to` (the Request-URI if empty).
sip::Message request(const std::string& method, const std::string& ruri, const std::string& from,
                     const std::vector<std::string>& extra = {}, std::string to = {}) {
  if (to.empty()) to = ruri;
  std::string t = method + " " + ruri +
                  " SIP/2.0\r\n"
                  "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK776asdhds\r\n"
                  "Max-Forwards: 70\r\n"
                  "To: <" +
                  to + ">\r\nFrom: <" + from +
                  ">;tag=1928301774\r\n"
                  "Call-ID: a84b4c76e66710@203.0.113.5\r\n"
                  "CSeq: 1 " +
                  method + "\r\n";
  for (const auto& h : extra) t += h + "\r\n";
  t += "Content-Length: 0\r\n\r\n";
  return parse(t);
}

sip::Message reg(const std::string& ruri, const std::string& aor) {
  return request("REGISTER", ruri, aor, {"Contact: <sip:alice@203.0.113.5:5060>", "Expires: 300"},
                 aor);
}

Source source(const char* addr, Protocol p = Protocol::Udp) {
  Source s;
  s.protocol = p;
  s.peer = Endpoint{boost::asio::ip::make_address(addr), 5060};
  return s;
}

TrustedPeer peer(const char* net, std::string name = {}, bool relay = false) {
  TrustedPeer p;
  p.source = *IpNetwork::parse(net);
  p.name = std::move(name);
  p.relay = relay;
  return p;
}

std::uint64_t counter(const char* name) { return counters().get(name).value(); }

class RelayPolicyTest : public ::testing::Test {
 protected:
  RelayPolicyTest() : config_(std::make_shared<RelayPolicyConfig>()), proc_(domains_, config_) {
    domains_.add_domain("example.com");
    domains_.add_domain("second.example");
    domains_.add_alias("127.0.0.1");
    domains_.add_port(5060);
    domains_.add_port(5061);
  }

  /// Replaces the configuration the way a SIGHUP does.
  void configure(ForeignCallers fc, std::vector<TrustedPeer> peers = {}, bool open = false) {
    auto c = std::make_shared<RelayPolicyConfig>();
    c->foreign_callers = fc;
    c->trusted_peers = TrustedPeers(std::move(peers));
    c->open = open;
    config_.set(std::move(c));
  }

  /// Runs the policy; `ctx` keeps the outcome. A Pause is never expected (no async step).
  Action run(RequestContext& ctx) {
    const Action a = proc_.process(ctx);
    EXPECT_NE(a, Action::Pause);
    EXPECT_NE(a, Action::SkipChain);
    EXPECT_EQ(a == Action::Respond, ctx.response().has_value());
    return a;
  }

  /// Expects `req` from `src` to be refused with 403 `reason`.
  void expect_403(const sip::Message& req, std::string_view reason, const Source& src) {
    RequestContext ctx(req, src, 1);
    ASSERT_EQ(run(ctx), Action::Respond) << req.serialize();
    EXPECT_EQ(ctx.response()->status(), 403);
    EXPECT_EQ(ctx.response()->reason(), reason);
    EXPECT_FALSE(ctx.response()->to().tag().empty());
  }

  proxy::Domains domains_;
  Reloadable<RelayPolicyConfig> config_;
  RelayPolicyProcessor proc_;
  Source stranger_ = source("198.51.100.9");
};

TEST_F(RelayPolicyTest, RegisterForAForeignDomainIs403DomainNotServed) {
  const auto before = counter("relay_register_foreign");
  // Request-URI and To both foreign; a local Request-URI with a foreign To; and the reverse.
  expect_403(reg("sip:foreign.test", "sip:alice@foreign.test"), "Domain Not Served", stranger_);
  expect_403(reg("sip:example.com", "sip:alice@foreign.test"), "Domain Not Served", stranger_);
  expect_403(reg("sip:foreign.test", "sip:alice@example.com"), "Domain Not Served", stranger_);
  EXPECT_EQ(counter("relay_register_foreign"), before + 3);
}

TEST_F(RelayPolicyTest, RegisterToOurAddressWithAPortNotOursIs403) {
  expect_403(reg("sip:127.0.0.1:32070", "sip:alice@example.com"), "Domain Not Served", stranger_);
  expect_403(reg("sip:example.com:32070", "sip:alice@example.com"), "Domain Not Served", stranger_);
  for (const char* ruri : {"sip:127.0.0.1", "sip:127.0.0.1:5060", "sip:127.0.0.1:5061",
                           "sip:example.com", "sip:EXAMPLE.COM:5060", "sip:second.example"}) {
    RequestContext ctx(reg(ruri, "sip:alice@example.com"), stranger_, 1);
    EXPECT_EQ(run(ctx), Action::Continue) << ruri;
    EXPECT_TRUE(ctx.required_auth_realm().empty()) << ruri;  // the registrar's 401 does it
  }
}

TEST_F(RelayPolicyTest, RegisterWithARouteLeftIsNeverForwarded) {
  auto req = reg("sip:example.com", "sip:alice@example.com");
  req.push_front(sip::HeaderId::Route, "<sip:registrar.foreign.test;lr>");
  expect_403(req, "Domain Not Served", stranger_);
}

TEST_F(RelayPolicyTest, ForeignRegisterIsRefusedEvenInOpenModeAndFromATrustedPeer) {
  configure(ForeignCallers::Challenge, {peer("203.0.113.5", "pbx", /*relay=*/true)},
            /*open=*/true);
  expect_403(reg("sip:foreign.test", "sip:alice@foreign.test"), "Domain Not Served", stranger_);
  expect_403(reg("sip:foreign.test", "sip:alice@foreign.test"), "Domain Not Served",
             source("203.0.113.5"));
}

TEST_F(RelayPolicyTest, TrustedPeerBySourceIsMarkedAndReachesLocalTargets) {
  configure(ForeignCallers::Challenge, {peer("203.0.113.0/24", "pbx")});
  const auto before = counter("relay_trusted");
  for (const char* ruri :
       {"sip:bob@example.com", "sip:+15551230001@127.0.0.1:5060;user=phone", "tel:+15551230001"}) {
    RequestContext ctx(request("INVITE", ruri, "sip:100@pbx.example"), source("203.0.113.5"), 1);
    ASSERT_EQ(run(ctx), Action::Continue) << ruri;
    EXPECT_TRUE(ctx.from_trusted_peer());
    EXPECT_EQ(ctx.trusted_peer(), "pbx");
    EXPECT_FALSE(ctx.may_leave());  // no `relay`
    EXPECT_TRUE(ctx.required_auth_realm().empty());
  }
  EXPECT_EQ(counter("relay_trusted"), before + 3);
}

TEST_F(RelayPolicyTest, TrustedPeerWithoutRelayToAForeignTargetIs403) {
  configure(ForeignCallers::Allow, {peer("203.0.113.5", "pbx")});
  const auto before = counter("relay_denied");
  RequestContext ctx(request("INVITE", "sip:0044207946000@carrier.test", "sip:100@pbx.example"),
                     source("203.0.113.5"), 1);
  ASSERT_EQ(run(ctx), Action::Respond);
  EXPECT_EQ(ctx.response()->status(), 403);
  EXPECT_EQ(ctx.response()->reason(), "Relaying denied");
  EXPECT_TRUE(ctx.from_trusted_peer());  // marked before the refusal
  EXPECT_EQ(counter("relay_denied"), before + 1);
}

TEST_F(RelayPolicyTest, TrustedPeerWithRelayMayReachForeignTargets) {
  configure(ForeignCallers::Challenge, {peer("203.0.113.5", "sbc", /*relay=*/true)});
  RequestContext ctx(request("INVITE", "sip:0044207946000@carrier.test", "sip:100@pbx.example"),
                     source("203.0.113.5"), 1);
  ASSERT_EQ(run(ctx), Action::Continue);
  EXPECT_EQ(ctx.trusted_peer(), "sbc");
  EXPECT_TRUE(ctx.may_leave());
}

TEST_F(RelayPolicyTest, UnnamedTrustedPeerIsNamedByItsNetwork) {
  configure(ForeignCallers::Challenge, {peer("203.0.113.5")});
  RequestContext ctx(request("INVITE", "sip:bob@example.com", "sip:100@pbx.example"),
                     source("203.0.113.5"), 1);
  ASSERT_EQ(run(ctx), Action::Continue);
  EXPECT_TRUE(ctx.from_trusted_peer());
  EXPECT_NE(ctx.trusted_peer().find("203.0.113.5"), std::string::npos) << ctx.trusted_peer();
}

TEST_F(RelayPolicyTest, TrustedPeerMatchNeedsItsTransportAndPatterns) {
  TrustedPeer gw = peer("203.0.113.5", "gw", /*relay=*/true);
  gw.transport = Protocol::Tls;
  gw.from = std::regex("^sip:[0-9]+@pbx\\.example$");
  gw.ruri = std::regex("@carrier\\.test$");
  configure(ForeignCallers::Challenge, {gw});
  const auto out = request("INVITE", "sip:0044207946000@carrier.test", "sip:100@pbx.example");

  RequestContext tls(out, source("203.0.113.5", Protocol::Tls), 1);
  ASSERT_EQ(run(tls), Action::Continue);
  EXPECT_EQ(tls.trusted_peer(), "gw");

  // Same address over UDP: a stranger to a foreign target.
  RequestContext udp(out, source("203.0.113.5", Protocol::Udp), 1);
  ASSERT_EQ(run(udp), Action::Respond);
  EXPECT_FALSE(udp.from_trusted_peer());
  EXPECT_EQ(udp.response()->reason(), "Relaying denied");

  // From pattern fails: a stranger again.
  RequestContext other_from(
      request("INVITE", "sip:0044207946000@carrier.test", "sip:mallory@attacker.test"),
      source("203.0.113.5", Protocol::Tls), 1);
  ASSERT_EQ(run(other_from), Action::Respond);
  EXPECT_FALSE(other_from.from_trusted_peer());

  // Request-URI pattern fails (a local target): not the peer, so a stranger's out->in call.
  RequestContext other_ruri(request("INVITE", "sip:bob@example.com", "sip:100@pbx.example"),
                            source("203.0.113.5", Protocol::Tls), 1);
  ASSERT_EQ(run(other_ruri), Action::Continue);
  EXPECT_FALSE(other_ruri.from_trusted_peer());
  EXPECT_EQ(other_ruri.required_auth_realm(), "example.com");
}

TEST_F(RelayPolicyTest, OpenModeLetsAStrangerGoAnywhere) {
  configure(ForeignCallers::Challenge, {}, /*open=*/true);
  for (const char* ruri : {"sip:0044207946000@carrier.test", "sip:bob@example.com"}) {
    RequestContext ctx(request("INVITE", ruri, "sip:mallory@attacker.test"), stranger_, 1);
    ASSERT_EQ(run(ctx), Action::Continue) << ruri;
    EXPECT_TRUE(ctx.required_auth_realm().empty()) << ruri;
  }
}

TEST_F(RelayPolicyTest, OpenModeLetsATrustedPeerWithoutRelayGoAnywhere) {
  configure(ForeignCallers::Challenge, {peer("203.0.113.5", "pbx")}, /*open=*/true);
  RequestContext ctx(request("INVITE", "sip:0044207946000@carrier.test", "sip:100@pbx.example"),
                     source("203.0.113.5"), 1);
  ASSERT_EQ(run(ctx), Action::Continue);
  EXPECT_TRUE(ctx.from_trusted_peer());
}

TEST_F(RelayPolicyTest, LocalFromContinuesToDigestAuthInToInAndInToOut) {
  for (const char* ruri : {"sip:bob@example.com", "sip:bob@second.example",
                           "sip:0044207946000@carrier.test", "sip:carol@foreign.test"}) {
    for (const char* method : {"INVITE", "MESSAGE", "SUBSCRIBE", "OPTIONS", "REFER"}) {
      RequestContext ctx(request(method, ruri, "sip:alice@EXAMPLE.com"), stranger_, 1);
      EXPECT_EQ(run(ctx), Action::Continue) << method << " " << ruri;
      EXPECT_TRUE(ctx.required_auth_realm().empty());  // digest-auth challenges the From
      EXPECT_FALSE(ctx.from_trusted_peer());
      EXPECT_FALSE(ctx.may_leave());  // until digest-auth sets the identity
    }
  }
}

TEST_F(RelayPolicyTest, StrangerToAForeignTargetIs403RelayingDeniedForEveryMethod) {
  configure(ForeignCallers::Allow);  // allow concerns local targets only
  const auto before = counter("relay_denied");
  int n = 0;
  for (const char* method : {"INVITE", "MESSAGE", "SUBSCRIBE", "OPTIONS", "REFER", "NOTIFY",
                             "PUBLISH", "INFO", "UPDATE"}) {
    expect_403(request(method, "sip:0044207946000@127.0.0.2:5099", "sip:mallory@attacker.test"),
               "Relaying denied", stranger_);
    expect_403(request(method, "sip:carol@foreign.test", "sip:mallory@attacker.test"),
               "Relaying denied", stranger_);
    n += 2;
  }
  EXPECT_EQ(counter("relay_denied"), before + n);
}

TEST_F(RelayPolicyTest, OurAddressWithAPortNotOursIsNotLocal) {
  // The example: nothing of sipws listens on 32070.
  expect_403(request("INVITE", "sip:uas@127.0.0.1:32070", "sip:mallory@attacker.test"),
             "Relaying denied", stranger_);
  expect_403(request("MESSAGE", "sip:bob@example.com:32070", "sip:mallory@attacker.test"),
             "Relaying denied", stranger_);
}

TEST_F(RelayPolicyTest, StrangerWithAHandshakeIdentityMayRelay) {
  RequestContext ctx(request("INVITE", "sip:carol@foreign.test", "sip:mallory@attacker.test"),
                     source("198.51.100.9", Protocol::Wss), 1);
  ctx.set_identity("alice@example.com");  // flow handshake auth (RFC 7118 s.7)
  ASSERT_EQ(run(ctx), Action::Continue);
  EXPECT_TRUE(ctx.required_auth_realm().empty());
}

TEST_F(RelayPolicyTest, ForeignCallersAllowReachesLocalUsersUnauthenticated) {
  configure(ForeignCallers::Allow);
  for (const char* method : {"INVITE", "MESSAGE", "SUBSCRIBE", "OPTIONS", "REFER"}) {
    RequestContext ctx(request(method, "sip:bob@example.com", "sip:carol@other.example"), stranger_,
                       1);
    ASSERT_EQ(run(ctx), Action::Continue) << method;
    EXPECT_TRUE(ctx.required_auth_realm().empty()) << method;
    EXPECT_FALSE(ctx.may_leave()) << method;  // gateways and foreign targets refuse it
  }
}

TEST_F(RelayPolicyTest, ForeignCallersChallengeRequiresAuthInTheTargetsDomain) {
  struct Case {
    const char* ruri;
    const char* realm;
  };
  for (const Case& c :
       {Case{"sip:bob@example.com", "example.com"}, Case{"sip:bob@EXAMPLE.COM", "example.com"},
        Case{"sip:bob@second.example", "second.example"},
        Case{"sip:bob@127.0.0.1:5060", "example.com"}, Case{"sip:bob@127.0.0.1", "example.com"}}) {
    for (const char* method : {"INVITE", "MESSAGE", "SUBSCRIBE", "OPTIONS", "REFER"}) {
      RequestContext ctx(request(method, c.ruri, "sip:carol@other.example"), stranger_, 1);
      ASSERT_EQ(run(ctx), Action::Continue) << method << " " << c.ruri;
      EXPECT_EQ(ctx.required_auth_realm(), c.realm) << method << " " << c.ruri;
    }
  }
}

TEST_F(RelayPolicyTest, TelTargetCountsAsLocal) {
  RequestContext challenged(request("INVITE", "tel:+15551230001", "sip:carol@other.example"),
                            stranger_, 1);
  ASSERT_EQ(run(challenged), Action::Continue);
  EXPECT_EQ(challenged.required_auth_realm(), "example.com");  // the primary domain

  configure(ForeignCallers::Allow);
  RequestContext allowed(request("MESSAGE", "tel:+1-555-123-0001", "sip:carol@other.example"),
                         stranger_, 1);
  ASSERT_EQ(run(allowed), Action::Continue);
  EXPECT_TRUE(allowed.required_auth_realm().empty());
}

TEST_F(RelayPolicyTest, RouteLeftPointingElsewhereCountsAsNonLocal) {
  configure(ForeignCallers::Allow, {peer("203.0.113.5", "pbx")});
  const std::vector<std::string> route = {"Route: <sip:evil.test;lr>"};
  // A local Request-URI does not make the next hop local.
  expect_403(request("INVITE", "sip:bob@example.com", "sip:mallory@attacker.test", route),
             "Relaying denied", stranger_);
  expect_403(request("MESSAGE", "tel:+15551230001", "sip:mallory@attacker.test", route),
             "Relaying denied", stranger_);
  expect_403(request("INVITE", "sip:bob@example.com", "sip:100@pbx.example", route),
             "Relaying denied", source("203.0.113.5"));
  // Our own address with a port of another process is not us either.
  expect_403(request("INVITE", "sip:bob@example.com", "sip:mallory@attacker.test",
                     {"Route: <sip:127.0.0.1:32070;lr>"}),
             "Relaying denied", stranger_);
}

TEST_F(RelayPolicyTest, RouteLeftPointingAtUsCountsAsLocal) {
  RequestContext ctx(request("INVITE", "sip:bob@example.com", "sip:carol@other.example",
                             {"Route: <sip:127.0.0.1:5061;transport=tcp;lr>"}),
                     stranger_, 1);
  ASSERT_EQ(run(ctx), Action::Continue);
  EXPECT_EQ(ctx.required_auth_realm(), "example.com");
}

TEST_F(RelayPolicyTest, AckAndCancelAreUntouched) {
  configure(ForeignCallers::Challenge, {peer("203.0.113.5", "pbx")});
  for (const char* method : {"ACK", "CANCEL"}) {
    for (const Source& src : {stranger_, source("203.0.113.5")}) {
      RequestContext ctx(
          request(method, "sip:0044207946000@carrier.test", "sip:mallory@attacker.test"), src, 1);
      ASSERT_EQ(run(ctx), Action::Continue) << method;
      EXPECT_FALSE(ctx.from_trusted_peer()) << method;
      EXPECT_TRUE(ctx.required_auth_realm().empty()) << method;
    }
  }
}

TEST_F(RelayPolicyTest, ReloadTakesEffectForTheNextRequest) {
  const auto call = [&] {
    return request("INVITE", "sip:bob@example.com", "sip:carol@other.example");
  };
  RequestContext first(call(), source("203.0.113.5"), 1);
  ASSERT_EQ(run(first), Action::Continue);
  EXPECT_EQ(first.required_auth_realm(), "example.com");
  EXPECT_FALSE(first.from_trusted_peer());

  configure(ForeignCallers::Allow);
  RequestContext second(call(), source("203.0.113.5"), 2);
  ASSERT_EQ(run(second), Action::Continue);
  EXPECT_TRUE(second.required_auth_realm().empty());

  configure(ForeignCallers::Challenge, {peer("203.0.113.5", "pbx")});
  RequestContext third(call(), source("203.0.113.5"), 3);
  ASSERT_EQ(run(third), Action::Continue);
  EXPECT_EQ(third.trusted_peer(), "pbx");
  EXPECT_TRUE(third.required_auth_realm().empty());

  configure(ForeignCallers::Challenge);  // the peer is removed again
  RequestContext fourth(request("INVITE", "sip:carol@foreign.test", "sip:100@pbx.example"),
                        source("203.0.113.5"), 4);
  ASSERT_EQ(run(fourth), Action::Respond);
  EXPECT_FALSE(fourth.from_trusted_peer());
  EXPECT_EQ(fourth.response()->reason(), "Relaying denied");
}

}  // namespace
}  // namespace sipws::auth
