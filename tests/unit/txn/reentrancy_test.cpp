// A TU that calls back into the layer from its callbacks (as the proxy core does), and the
// layer's counters.

#include <functional>

#include "common/counters.hpp"
#include "txn_fixture.hpp"

namespace sipws::sip::txn::test {
namespace {

using std::chrono::milliseconds;

/// A TU that runs a hook on each callback, with the layer to call back into.
class HookTu final : public TransactionUser {
 public:
  void on_request(ServerTxnId id, const Message& request, const Source&) override {
    ++requests;
    if (on_request_hook) on_request_hook(id, request);
  }
  void on_ack(const Message&, const Source&) override { ++acks; }
  void on_cancel(ServerTxnId, const Message&) override { ++cancels; }
  void on_response(ClientTxnId id, const Message& response) override {
    ++responses;
    if (on_response_hook) on_response_hook(id, response);
  }
  void on_client_failure(ClientTxnId id, bool) override {
    ++failures;
    if (on_failure_hook) on_failure_hook(id);
  }
  void on_stray_response(const Message&, const Source&) override { ++strays; }
  void on_server_terminated(ServerTxnId) override { ++terminated; }

  std::function<void(ServerTxnId, const Message&)> on_request_hook;
  std::function<void(ClientTxnId, const Message&)> on_response_hook;
  std::function<void(ClientTxnId)> on_failure_hook;
  int requests = 0, acks = 0, cancels = 0, responses = 0, failures = 0, strays = 0, terminated = 0;
};

class ReentrancyTest : public ::testing::Test {
 protected:
  Destination dest(Protocol p) const {
    Destination d;
    d.protocol = p;
    d.endpoint = ep("198.51.100.7", 5060);
    return d;
  }
  Source src(Protocol p) const {
    Source s;
    s.protocol = p;
    s.peer = ep("192.0.2.10", 40000);
    s.flow = p == Protocol::Udp ? kNoFlow : 5;
    return s;
  }
  ManualTimerService timers;
  RecordingSender sender{timers};
  HookTu tu;
  TransactionLayer layer{timers, sender, tu};
};

TEST_F(ReentrancyTest, TuAnswersAndForwardsFromInsideOnRequest) {
  // The proxy shape: a request comes in, the TU forwards it (new client txn) and answers.
  Req downstream = Req{}.with_method("OPTIONS");
  downstream.via = "SIP/2.0/TCP 203.0.113.1;branch=z9hG4bK-fwd";
  ClientTxnId forwarded = 0;
  tu.on_request_hook = [&](ServerTxnId id, const Message& req) {
    forwarded = layer.send_request(downstream.msg(), dest(Protocol::Tcp));
    Message rsp = make_response(req, 200);
    rsp.set_to_tag("x");
    layer.respond(id, rsp);  // J = 0 on TCP: must not erase the txn under our feet
  };
  layer.receive(Req{}.with_method("OPTIONS").msg(), src(Protocol::Tcp));
  EXPECT_EQ(tu.requests, 1);
  EXPECT_NE(forwarded, 0u);
  ASSERT_EQ(sender.sent.size(), 2u);
  EXPECT_EQ(sender.sent[1].msg().status(), 200);
  EXPECT_EQ(layer.server_count(), 1u);
  EXPECT_EQ(layer.client_count(), 1u);
  timers.advance(milliseconds(0));
  EXPECT_EQ(layer.server_count(), 0u);
  EXPECT_EQ(tu.terminated, 1);
}

TEST_F(ReentrancyTest, TuStartsANewTransactionFromInsideCallbacks) {
  // On a failure the TU tries the next target; on a final it queries the finished txn.
  Req first = Req{}.with_method("MESSAGE");
  first.via = "SIP/2.0/UDP 203.0.113.1;branch=z9hG4bK-try1";
  Req second = first;
  second.via = "SIP/2.0/UDP 203.0.113.1;branch=z9hG4bK-try2";
  ClientTxnId retry = 0;
  const Message* seen_request = nullptr;
  tu.on_failure_hook = [&](ClientTxnId id) {
    seen_request = layer.client_request(id);  // still valid during the callback
    retry = layer.send_request(second.msg(), dest(Protocol::Udp));
  };
  sender.fail_at = 1;
  const ClientTxnId id = layer.send_request(first.msg(), dest(Protocol::Udp));
  EXPECT_EQ(tu.failures, 0);
  timers.advance(milliseconds(0));
  EXPECT_EQ(tu.failures, 1);
  ASSERT_NE(seen_request, nullptr);
  EXPECT_NE(retry, 0u);
  EXPECT_NE(retry, id);
  EXPECT_EQ(layer.client_count(), 1u);  // the failed one gone, the retry running

  tu.on_response_hook = [&](ClientTxnId rid, const Message&) {
    EXPECT_EQ(rid, retry);
    EXPECT_NE(layer.client_request(rid), nullptr);
  };
  layer.receive(second.response(202, "acc"), src(Protocol::Udp));
  EXPECT_EQ(tu.responses, 1);
}

TEST_F(ReentrancyTest, CountersFollowTheEvents) {
  auto value = [](const char* name) { return counters().get(name).value(); };
  const auto absorbed = value("sip_txn_retransmissions_absorbed");
  const auto sent = value("sip_txn_retransmissions_sent");
  const auto timeouts = value("sip_txn_timeouts");
  const auto c481 = value("sip_txn_cancel_481");
  const auto c200 = value("sip_txn_cancel_200");
  const auto failures = value("sip_txn_send_failures");
  const auto strays = value("sip_txn_stray_responses");

  const Req inv;
  layer.receive(inv.msg(), src(Protocol::Udp));
  layer.receive(inv.msg(), src(Protocol::Udp));
  layer.receive(inv.with_method("CANCEL").msg(), src(Protocol::Udp));
  Req other = inv.with_method("CANCEL");
  other.via = "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-nope";
  layer.receive(other.msg(), src(Protocol::Udp));
  layer.receive(inv.response(200, "x"), src(Protocol::Udp));  // no client txn: stray

  Req opt = Req{}.with_method("OPTIONS");
  opt.via = "SIP/2.0/UDP 203.0.113.1;branch=z9hG4bK-c";
  layer.send_request(opt.msg(), dest(Protocol::Udp));
  timers.advance(milliseconds(32000));  // 10 retransmissions, then Timer F
  sender.fail_all = true;
  layer.send_request(opt.msg(), dest(Protocol::Udp));

  EXPECT_EQ(value("sip_txn_retransmissions_absorbed") - absorbed, 1u);
  EXPECT_EQ(value("sip_txn_retransmissions_sent") - sent, 10u);
  EXPECT_EQ(value("sip_txn_timeouts") - timeouts, 1u);
  EXPECT_EQ(value("sip_txn_cancel_481") - c481, 1u);
  EXPECT_EQ(value("sip_txn_cancel_200") - c200, 1u);
  EXPECT_EQ(value("sip_txn_send_failures") - failures, 1u);
  EXPECT_EQ(value("sip_txn_stray_responses") - strays, 1u);
}

}  // namespace
}  // namespace sipws::sip::txn::test
