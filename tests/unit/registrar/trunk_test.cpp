// Trunks (registrar/trunk.hpp): the registration client through the real Uac and transaction
// layer, answered by hand on an in-memory wire (challenge, 423, refresh, back-off), and the
// inbound processor. Time is a ManualTimerService.

#include "registrar/trunk.hpp"

#include <gtest/gtest.h>

#include <deque>

#include "auth/digest.hpp"
#include "proxy/proxy_core.hpp"
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

TrunkConfig trunk(std::uint32_t expires = 600) {
  TrunkConfig t;
  t.aor = "sip:1000@provider.example";
  t.outbound_proxy = "sip:192.0.2.10:5060";
  t.password = "pw";
  t.expires = expires;
  auto done = complete_trunk(t);
  EXPECT_TRUE(done.has_value()) << done.error();
  return *done;
}

class Trunks : public ::testing::Test {
 protected:
  explicit Trunks(TrunkConfig t = trunk()) : registrar({std::move(t)}, timers, uac, reg) {
    uac.attach(txns);
  }
  /// Answers the last REGISTER on the wire with `status` and extra header lines.
  void answer(const Message& req, int status, const std::string& headers) {
    Message rsp = sip::make_response(req, status);
    std::string text = rsp.serialize();
    text.insert(text.size() - 2, headers);
    auto m = sip::parse(text);
    ASSERT_TRUE(m.has_value()) << text;
    txns.receive(*m, provider);
  }

  ManualTimerService timers;
  Network net;
  WireSender wire;
  Counters reg;
  proxy::Uac uac{net};
  Tu tu{nullptr, uac};
  sip::txn::TransactionLayer txns{timers, wire, tu};
  TrunkRegistrar registrar;
  Source provider = test::source(Protocol::Udp, "192.0.2.10", 5060, kNoFlow);
};

TEST_F(Trunks, RegistersAnswersTheChallengeAndRefreshesBeforeExpiry) {
  registrar.start();
  Sent first = wire.pop();
  ASSERT_TRUE(first.msg.is_request());
  EXPECT_EQ(first.dest.endpoint, test::ep("192.0.2.10", 5060));
  EXPECT_EQ(first.msg.request_uri().raw, "sip:provider.example");
  EXPECT_EQ(first.msg.to().uri.raw, "sip:1000@provider.example");
  EXPECT_EQ(first.msg.find(HeaderId::Contact)->value, "<sip:1000@127.0.0.1:5060>;expires=600");
  answer(first.msg, 401,
         "WWW-Authenticate: Digest realm=\"provider.example\", nonce=\"abc\", qop=\"auth\"\r\n");
  Sent second = wire.pop();
  EXPECT_EQ(second.msg.call_id(), first.msg.call_id());
  EXPECT_EQ(second.msg.cseq().number, first.msg.cseq().number + 1);
  const auto* cred = second.msg.find(HeaderId::Authorization);
  ASSERT_NE(cred, nullptr);
  // The provider's check: the same response from the password.
  auto p = sip::parse_auth(cred->value);
  ASSERT_TRUE(p.has_value());
  const std::string expect =
      auth::digest_response(auth::DigestAlgorithm::Md5,
                            auth::ha1(auth::DigestAlgorithm::Md5, "1000", "provider.example", "pw"),
                            "REGISTER", "sip:provider.example", "abc", "auth",
                            auth::auth_param(*p, "nc"), auth::auth_param(*p, "cnonce"));
  EXPECT_EQ(auth::auth_param(*p, "response"), expect);
  EXPECT_EQ(auth::auth_param(*p, "nc"), "00000001");
  answer(second.msg, 200, "Contact: <sip:1000@127.0.0.1:5060>;expires=100\r\n");
  EXPECT_EQ(registrar.registered(), 1u);
  EXPECT_EQ(registrar.states()[0].granted_s, 100u);
  EXPECT_EQ(reg.get("trunk_register_ok").value(), 1u);
  EXPECT_TRUE(wire.sent.empty());
  timers.advance(std::chrono::seconds(79));
  EXPECT_TRUE(wire.sent.empty());
  timers.advance(std::chrono::seconds(2));  // at 4/5 of the 100 s granted
  Sent refresh = wire.pop();
  EXPECT_EQ(refresh.msg.call_id(), first.msg.call_id());
  EXPECT_GT(refresh.msg.cseq().number, second.msg.cseq().number);
}

TEST_F(Trunks, WrongCredentialsFailAndRetryWithBackOff) {
  registrar.start();
  Sent first = wire.pop();
  answer(first.msg, 407, "Proxy-Authenticate: Digest realm=\"p\", nonce=\"n1\"\r\n");
  Sent second = wire.pop();
  EXPECT_NE(second.msg.find(HeaderId::ProxyAuthorization), nullptr);
  answer(second.msg, 407, "Proxy-Authenticate: Digest realm=\"p\", nonce=\"n2\"\r\n");
  EXPECT_TRUE(wire.sent.empty());  // no loop of challenges
  EXPECT_EQ(registrar.registered(), 0u);
  EXPECT_EQ(registrar.states()[0].failures, 1u);
  EXPECT_EQ(reg.get("trunk_register_failed").value(), 1u);
  timers.advance(std::chrono::seconds(4));
  EXPECT_TRUE(wire.sent.empty());
  timers.advance(std::chrono::seconds(1));  // 5 s back-off
  Sent again = wire.pop();
  answer(again.msg, 503, "");
  timers.advance(std::chrono::seconds(9));
  EXPECT_TRUE(wire.sent.empty());
  timers.advance(std::chrono::seconds(1));  // then 10 s
  EXPECT_FALSE(wire.sent.empty());
}

TEST_F(Trunks, AStaleChallengeIsAnsweredAgain) {
  registrar.start();
  answer(wire.pop().msg, 401, "WWW-Authenticate: Digest realm=\"p\", nonce=\"n1\"\r\n");
  Sent second = wire.pop();
  answer(second.msg, 401, "WWW-Authenticate: Digest realm=\"p\", nonce=\"n2\", stale=true\r\n");
  Sent third = wire.pop();
  EXPECT_NE(third.msg.find(HeaderId::Authorization)->value.find("nonce=\"n2\""),
            std::string_view::npos);
}

TEST_F(Trunks, IntervalTooBriefAsksAgainWithMinExpires) {
  registrar.start();
  answer(wire.pop().msg, 423, "Min-Expires: 1200\r\n");
  Sent second = wire.pop();
  EXPECT_EQ(second.msg.find(HeaderId::Contact)->value, "<sip:1000@127.0.0.1:5060>;expires=1200");
}

TEST_F(Trunks, NoAnswerIsAFailure) {
  registrar.start();
  wire.pop();
  timers.advance(std::chrono::seconds(33));  // Timer F, 64*T1
  while (!wire.sent.empty()) wire.pop();     // retransmissions
  EXPECT_EQ(registrar.states()[0].failures, 1u);
  EXPECT_EQ(registrar.states()[0].last_status, 0);
}

TEST_F(Trunks, StopCancelsTheRefresh) {
  registrar.start();
  answer(wire.pop().msg, 200, "Contact: <sip:1000@127.0.0.1:5060>;expires=60\r\n");
  registrar.stop();
  timers.advance(std::chrono::seconds(120));
  EXPECT_TRUE(wire.sent.empty());
}

TEST(TrunkConfigCheck, DefaultsAndErrorsNameTheField) {
  TrunkConfig t;
  t.aor = "sip:1000@provider.example";
  t.registrar = "sip:192.0.2.10;transport=tcp";
  t.ha1 = "0123456789abcdef0123456789ABCDEF";
  auto ok = complete_trunk(t);
  ASSERT_TRUE(ok.has_value()) << ok.error();
  EXPECT_EQ(ok->outbound_proxy, "sip:192.0.2.10;transport=tcp");
  EXPECT_EQ(ok->auth_user, "1000");
  EXPECT_EQ(ok->contact_user, "1000");
  EXPECT_EQ(ok->name, "sip:1000@provider.example");
  auto error_of = [](TrunkConfig c) {
    auto r = complete_trunk(std::move(c));
    return r.has_value() ? std::string() : r.error().substr(0, r.error().find(':'));
  };
  TrunkConfig bad = t;
  bad.aor = "sip:provider.example";
  EXPECT_EQ(error_of(bad), "aor");
  bad = t;
  bad.registrar = "sip:provider.example";  // a name, and no outbound_proxy
  EXPECT_EQ(error_of(bad), "outbound_proxy");
  bad = t;
  bad.ha1 = "xyz";
  EXPECT_EQ(error_of(bad), "ha1");
  bad = t;
  bad.ha1.clear();
  EXPECT_EQ(error_of(bad), "password");
  bad = t;
  bad.expires = 0;
  EXPECT_EQ(error_of(bad), "expires");
  bad = t;
  bad.contact_user = "a b";
  EXPECT_EQ(error_of(bad), "contact_user");
}

TEST(TrunkInbound, ACallFromTheProviderToTheContactIsForTheNumberDialled) {
  proxy::Domains domains;
  domains.add_domain("example.com");
  domains.add_alias("127.0.0.1");
  Counters reg;
  TrunkInboundProcessor p({trunk()}, domains, reg);
  auto invite = [](const std::string& ruri) {
    return test::msg("INVITE " + ruri +
                     " SIP/2.0\n"
                     "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKp1\n"
                     "Max-Forwards: 70\n"
                     "From: <sip:+15551234567@provider.example>;tag=f\n"
                     "To: <sip:15557654321@provider.example>\n"
                     "Call-ID: c1\n"
                     "CSeq: 1 INVITE\n"
                     "Content-Length: 0\n\n");
  };
  const Source provider = test::source(Protocol::Udp, "192.0.2.10", 5060, kNoFlow);
  proxy::RequestContext ctx(invite("sip:1000@127.0.0.1:5060"), provider, 1);
  EXPECT_EQ(p.process(ctx), proxy::Action::Continue);
  EXPECT_EQ(ctx.request().request_uri().raw, "sip:15557654321@example.com");
  EXPECT_TRUE(ctx.from_trusted_peer());
  EXPECT_FALSE(ctx.may_leave());  // local users and aliases only
  EXPECT_EQ(reg.get("trunk_requests_in").value(), 1u);

  // The same from another address or port, or to another user: not the trunk's.
  for (const auto& [src, ruri] :
       {std::pair{test::source(Protocol::Udp, "192.0.2.11", 5060, kNoFlow),
                  std::string("sip:1000@127.0.0.1:5060")},
        std::pair{test::source(Protocol::Udp, "192.0.2.10", 5099, kNoFlow),
                  std::string("sip:1000@127.0.0.1:5060")},
        std::pair{provider, std::string("sip:1001@127.0.0.1:5060")}}) {
    proxy::RequestContext other(invite(ruri), src, 2);
    EXPECT_EQ(p.process(other), proxy::Action::Continue);
    EXPECT_EQ(other.request().request_uri().raw, ruri);
    EXPECT_FALSE(other.from_trusted_peer());
  }
}

}  // namespace
}  // namespace sipws::registrar
