// proxy::Uac: requests sipws originates, as client transactions of the real transaction layer
// over the in-memory wire, time moved by a ManualTimerService.

#include "proxy/uac.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "processor_fixture.hpp"
#include "proxy/routing.hpp"
#include "wire.hpp"

namespace sipws::proxy {
namespace {

using test::ip;

/// The transaction user of these tests: everything goes to the Uac, what it does not take is
/// recorded as passed on (the proxy core's share in the daemon).
class UacTu final : public sip::txn::TransactionUser {
 public:
  explicit UacTu(Uac& uac) : uac_(uac) {}
  void on_request(sip::txn::ServerTxnId, const sip::Message&, const Source&) override {}
  void on_ack(const sip::Message&, const Source&) override {}
  void on_cancel(sip::txn::ServerTxnId, const sip::Message&) override {}
  void on_response(sip::txn::ClientTxnId id, const sip::Message& r) override {
    if (!uac_.on_response(id, r)) ++passed_on;
  }
  void on_client_failure(sip::txn::ClientTxnId id, bool transport_error) override {
    if (!uac_.on_client_failure(id, transport_error)) ++passed_on;
  }
  void on_stray_response(const sip::Message&, const Source&) override {}
  int passed_on = 0;

 private:
  Uac& uac_;
};

struct UacTest : ::testing::Test {
  UacTest() { uac.attach(txns); }
  OwnRequest bye() const {
    OwnRequest r;
    r.method = "BYE";
    r.uri = "sip:bob@127.0.0.1:5070";
    r.from = "<sip:alice@localhost>;tag=a1";
    r.to = "<sip:bob@localhost>;tag=b1";
    r.call_id = "c1@test";
    r.cseq = 7;
    r.headers.emplace_back("Reason", "SIP;cause=408;text=\"media timeout\"");
    return r;
  }
  /// A response from the peer to `req` (as the transport would deliver it).
  void answer(const sip::Message& req, int status) {
    sip::Message rsp = sip::make_response(req, status);
    auto parsed = sip::parse(rsp.serialize_shared());
    ASSERT_TRUE(parsed.has_value());
    txns.receive(*parsed, Source{Protocol::Udp, peer, {ip("127.0.0.1"), 5060}, kNoFlow});
  }
  Endpoint peer{ip("127.0.0.1"), 5070};
  Destination dest{Protocol::Udp, peer, kNoFlow, {}};
  ManualTimerService timers;
  test::Wire wire;
  test::LoopbackNetwork net;
  /// The Uac counts here and draws its branches from here (Instruments), not from the process.
  Counters reg;
  SeededTokens tokens{5};
  Uac uac{net, 3, Instruments{reg, tokens}};
  std::uint64_t counter(std::string_view name) { return reg.get(name).value(); }
  UacTu tu{uac};
  sip::txn::TransactionLayer txns{timers, wire, tu};
  std::vector<int> done;
};

TEST_F(UacTest, SendsTheRequestWithOurViaAndReportsTheFinalResponse) {
  const auto sent_before = counter("uac_requests_sent");
  const auto ok_before = counter("uac_responses_2xx");
  ASSERT_NE(uac.send(bye(), dest, [this](int s) { done.push_back(s); }), 0u);
  ASSERT_EQ(wire.sent.size(), 1u);
  const test::Sent out = wire.pop();
  EXPECT_EQ(out.dest.endpoint, peer);
  const sip::Message& m = out.msg;
  EXPECT_EQ(m.method(), sip::Method::Bye);
  EXPECT_EQ(m.request_uri().raw, "sip:bob@127.0.0.1:5070");
  EXPECT_EQ(m.count(sip::HeaderId::Via), 1u);
  EXPECT_EQ(m.top_via().host, "127.0.0.1");
  EXPECT_EQ(m.top_via().port, 5060);
  EXPECT_TRUE(m.top_via().branch().starts_with(kBranchPrefix));
  EXPECT_EQ(branch_shard(m.top_via().branch()), 3u);  // a response comes back to this shard
  SeededTokens same{5};
  EXPECT_EQ(m.top_via().branch(), make_own_branch(3, same));  // drawn from the given tokens
  EXPECT_EQ(m.cseq().number, 7u);
  EXPECT_EQ(m.max_forwards(), 70u);
  ASSERT_NE(m.find("Reason"), nullptr);
  answer(m, 100);
  EXPECT_TRUE(done.empty());  // provisional: absorbed
  answer(m, 200);
  EXPECT_EQ(done, std::vector<int>{200});
  EXPECT_EQ(uac.pending(), 0u);
  EXPECT_EQ(tu.passed_on, 0);
  EXPECT_EQ(counter("uac_requests_sent"), sent_before + 1);
  EXPECT_EQ(counter("uac_responses_2xx"), ok_before + 1);
}

TEST_F(UacTest, ANonFinalAnswerIsReportedAndCounted) {
  const auto before = counter("uac_responses_failure");
  uac.send(bye(), dest, [this](int s) { done.push_back(s); });
  answer(wire.pop().msg, 481);
  EXPECT_EQ(done, std::vector<int>{481});
  EXPECT_EQ(counter("uac_responses_failure"), before + 1);
}

TEST_F(UacTest, NoAnswerIsRetransmittedThenEndsAtTimerF) {
  const auto before = counter("uac_timeouts");
  uac.send(bye(), dest, [this](int s) { done.push_back(s); });
  timers.advance(Millis(500 * 64 - 1));
  EXPECT_GT(wire.sent.size(), 3u);  // Timer E retransmissions over UDP
  EXPECT_TRUE(done.empty());
  timers.advance(Millis(1));
  EXPECT_EQ(done, std::vector<int>{0});
  EXPECT_EQ(counter("uac_timeouts"), before + 1);
  EXPECT_EQ(uac.pending(), 0u);
}

TEST_F(UacTest, ATransportErrorEndsItWithoutAnAnswer) {
  const auto before = counter("uac_transport_errors");
  wire.fail_all = true;
  uac.send(bye(), dest, [this](int s) { done.push_back(s); });
  EXPECT_TRUE(done.empty());  // never from inside send()
  timers.advance(Millis(0));
  EXPECT_EQ(done, std::vector<int>{0});
  EXPECT_EQ(counter("uac_transport_errors"), before + 1);
}

TEST_F(UacTest, NoListenPointForTheTransportIsNotSent) {
  const auto before = counter("uac_requests_unsendable");
  Destination tls{Protocol::Tls, peer, kNoFlow, {}};
  EXPECT_EQ(uac.send(bye(), tls, [this](int s) { done.push_back(s); }), 0u);
  EXPECT_TRUE(wire.sent.empty());
  EXPECT_TRUE(done.empty());
  EXPECT_EQ(counter("uac_requests_unsendable"), before + 1);
}

TEST_F(UacTest, AMalformedRequestIsRefusedNotSent) {
  const auto before = counter("uac_requests_unsendable");
  OwnRequest bad = bye();
  bad.from = "";  // no From: the parser refuses it
  EXPECT_EQ(uac.send(bad, dest), 0u);
  EXPECT_TRUE(wire.sent.empty());
  EXPECT_EQ(counter("uac_requests_unsendable"), before + 1);
}

TEST_F(UacTest, ResponsesOfOtherTransactionsArePassedOn) {
  sip::Message other = test::request("OPTIONS", "sip:127.0.0.1:5070");
  other.set_top_via("SIP/2.0/UDP 127.0.0.1:5060;branch=" + make_own_branch(0));
  const auto id = txns.send_request(other, dest);
  ASSERT_NE(id, 0u);
  answer(wire.pop().msg, 200);
  EXPECT_EQ(tu.passed_on, 1);
}

}  // namespace
}  // namespace sipws::proxy
