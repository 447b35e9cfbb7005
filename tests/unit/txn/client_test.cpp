// Client transactions (RFC 3261 s.17.1, RFC 6026 s.8): retransmission timers A/E, timeouts B/F,
// Completed/Accepted lifetimes D/K/M, the layer's ACK for non-2xx, transport failures.

#include "txn_fixture.hpp"

namespace sipws::sip::txn::test {
namespace {

using std::chrono::milliseconds;

Req downstream_invite() {
  Req r;
  r.via = "SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-out1";
  return r;
}

Req downstream_options() {
  Req r = downstream_invite().with_method("OPTIONS");
  r.via = "SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-out2";
  return r;
}

TEST_F(TxnTest, InviteClientUdpRetransmitsWithTimerAAndTimesOutWithTimerB) {
  const Req inv = downstream_invite();
  const ClientTxnId id = layer.send_request(inv.msg(), udp_dest());
  ASSERT_NE(id, 0u);
  ASSERT_EQ(sender.sent.size(), 1u);
  EXPECT_EQ(sender.sent[0].dest.endpoint, udp_dest().endpoint);
  EXPECT_EQ(sender.sent[0].msg().method(), Method::Invite);
  EXPECT_EQ(layer.client_count(), 1u);
  ASSERT_NE(layer.client_destination(id), nullptr);
  EXPECT_EQ(layer.client_destination(id)->endpoint, udp_dest().endpoint);
  ASSERT_NE(layer.client_request(id), nullptr);

  timers.advance(milliseconds(31999));
  // Timer A: T1, doubling without cap: 500, 1000, 2000, 4000, 8000, 16000.
  const std::vector<Millis> expected{milliseconds(0),    milliseconds(500),  milliseconds(1500),
                                     milliseconds(3500), milliseconds(7500), milliseconds(15500),
                                     milliseconds(31500)};
  EXPECT_EQ(send_times(), expected);
  for (const auto& s : sender.sent) EXPECT_EQ(s.bytes, sender.sent[0].bytes);
  EXPECT_TRUE(tu.events.empty());

  timers.advance(milliseconds(1));  // Timer B = 64*T1 = 32 s
  ASSERT_EQ(tu.events.size(), 1u);
  EXPECT_EQ(tu.events[0].kind, Event::ClientFailure);
  EXPECT_EQ(tu.events[0].id, id);
  EXPECT_FALSE(tu.events[0].transport_error);
  EXPECT_EQ(tu.events[0].at, milliseconds(32000));
  EXPECT_EQ(layer.client_count(), 0u);
  EXPECT_EQ(layer.client_request(id), nullptr);
  EXPECT_EQ(timers.pending(), 0u);
}

TEST_F(TxnTest, InviteClientReliableDoesNotRetransmit) {
  const ClientTxnId id = layer.send_request(downstream_invite().msg(), tcp_dest());
  timers.advance(milliseconds(31999));
  EXPECT_EQ(sender.sent.size(), 1u);
  EXPECT_TRUE(tu.events.empty());
  timers.advance(milliseconds(1));
  ASSERT_EQ(tu.events.size(), 1u);
  EXPECT_EQ(tu.events[0].kind, Event::ClientFailure);
  EXPECT_EQ(tu.events[0].id, id);
  EXPECT_EQ(sender.sent.size(), 1u);
}

TEST_F(TxnTest, InviteClientProvisionalStopsTimersAAndB) {
  const Req inv = downstream_invite();
  const ClientTxnId id = layer.send_request(inv.msg(), udp_dest());
  timers.advance(milliseconds(600));  // one retransmission at 500
  EXPECT_EQ(sender.sent.size(), 2u);
  layer.receive(inv.response(180, "b1"), udp_src());
  ASSERT_EQ(tu.events.size(), 1u);
  EXPECT_EQ(tu.events[0].kind, Event::Response);
  EXPECT_EQ(tu.events[0].id, id);
  EXPECT_EQ(tu.events[0].msg->status(), 180);
  timers.advance(milliseconds(120000));  // no A, no B: the TU's Timer C decides
  EXPECT_EQ(sender.sent.size(), 2u);
  EXPECT_EQ(tu.events.size(), 1u);
  EXPECT_EQ(layer.client_count(), 1u);
  layer.receive(inv.response(183, "b1"), udp_src());  // every provisional reaches the TU
  EXPECT_EQ(tu.count(Event::Response), 2u);
}

TEST_F(TxnTest, InviteClientNonSuccessFinalIsAckedByTheLayerAndAbsorbed) {
  const Req inv = downstream_invite();
  const ClientTxnId id = layer.send_request(inv.msg(), udp_dest());
  layer.receive(inv.response(100), udp_src());
  layer.receive(inv.response(486, "busy1"), udp_src());

  ASSERT_EQ(tu.count(Event::Response), 2u);
  EXPECT_EQ(tu.events[1].msg->status(), 486);
  EXPECT_EQ(tu.events[1].id, id);
  ASSERT_EQ(sender.sent.size(), 2u);  // INVITE + ACK
  const Sent& ack_sent = sender.sent[1];
  EXPECT_EQ(ack_sent.dest.endpoint, udp_dest().endpoint);
  EXPECT_EQ(ack_sent.dest.protocol, Protocol::Udp);
  const Message ack = ack_sent.msg();
  EXPECT_EQ(ack.method(), Method::Ack);
  EXPECT_EQ(ack.top_via().branch(), "z9hG4bK-out1");  // s.17.1.1.3: the INVITE's top Via
  EXPECT_EQ(ack.to().tag(), "busy1");                 // To of the response
  EXPECT_EQ(ack.cseq().number, 1u);
  EXPECT_EQ(ack.cseq().method, Method::Ack);
  EXPECT_EQ(ack.request_uri().raw, "sip:bob@example.com");

  // A retransmitted final: absorbed (TU not told again) and ACKed again with the same bytes.
  layer.receive(inv.response(486, "busy1"), udp_src());
  EXPECT_EQ(tu.count(Event::Response), 2u);
  ASSERT_EQ(sender.sent.size(), 3u);
  EXPECT_EQ(sender.sent[2].bytes, sender.sent[1].bytes);
  EXPECT_EQ(layer.client_request(id), nullptr);  // the ACK is built: no request kept
  // No retransmission of the INVITE in Completed.
  timers.advance(milliseconds(31999));
  EXPECT_EQ(sender.sent.size(), 3u);
  EXPECT_EQ(layer.client_count(), 1u);
  timers.advance(milliseconds(1));  // Timer D = 32 s on UDP
  EXPECT_EQ(layer.client_count(), 0u);
  EXPECT_EQ(tu.count(Event::ClientFailure), 0u);
  // After D a late final matches nothing.
  layer.receive(inv.response(486, "busy1"), udp_src());
  EXPECT_EQ(tu.count(Event::Stray), 1u);
}

TEST_F(TxnTest, InviteClientReliableTimerDIsZero) {
  const Req inv = downstream_invite();
  layer.send_request(inv.msg(), tcp_dest());
  layer.receive(inv.response(603, "d1"), tcp_src());
  ASSERT_EQ(sender.sent.size(), 2u);
  EXPECT_EQ(sender.sent[1].dest.flow, 12u);  // the ACK follows the INVITE's destination
  EXPECT_EQ(layer.client_count(), 1u);       // not erased re-entrantly
  timers.advance(milliseconds(0));
  EXPECT_EQ(layer.client_count(), 0u);
}

TEST_F(TxnTest, InviteClientSuccessGoesToAcceptedAndPassesRetransmitted2xx) {
  const Req inv = downstream_invite();
  const ClientTxnId id = layer.send_request(inv.msg(), udp_dest());
  layer.receive(inv.response(200, "ok1"), udp_src());
  ASSERT_EQ(tu.count(Event::Response), 1u);
  EXPECT_EQ(sender.sent.size(), 1u);             // the layer never ACKs a 2xx
  EXPECT_EQ(layer.client_request(id), nullptr);  // Accepted sends nothing: no request kept
  timers.advance(milliseconds(10000));
  EXPECT_EQ(sender.sent.size(), 1u);  // no Timer A in Accepted

  layer.receive(inv.response(200, "ok1"), udp_src());  // retransmission
  layer.receive(inv.response(200, "ok2"), udp_src());  // another fork's 2xx
  ASSERT_EQ(tu.count(Event::Response), 3u);
  EXPECT_EQ(tu.events[1].id, id);
  EXPECT_EQ(tu.events[2].msg->to().tag(), "ok2");
  layer.receive(inv.response(180, "x"), udp_src());  // provisional after 2xx: absorbed
  EXPECT_EQ(tu.count(Event::Response), 3u);

  timers.advance(milliseconds(21999));
  EXPECT_EQ(layer.client_count(), 1u);
  timers.advance(milliseconds(1));  // Timer M = 64*T1 from the first 2xx
  EXPECT_EQ(layer.client_count(), 0u);
  layer.receive(inv.response(200, "ok1"), udp_src());
  EXPECT_EQ(tu.count(Event::Stray), 1u);
  EXPECT_EQ(tu.count(Event::Response), 3u);
}

TEST_F(TxnTest, NonInviteClientTimerECapsAtT2AndTimerFFires) {
  const ClientTxnId id = layer.send_request(downstream_options().msg(), udp_dest());
  timers.advance(milliseconds(32000));
  const std::vector<Millis> expected{milliseconds(0),     milliseconds(500),   milliseconds(1500),
                                     milliseconds(3500),  milliseconds(7500),  milliseconds(11500),
                                     milliseconds(15500), milliseconds(19500), milliseconds(23500),
                                     milliseconds(27500), milliseconds(31500)};
  EXPECT_EQ(send_times(), expected);
  ASSERT_EQ(tu.events.size(), 1u);
  EXPECT_EQ(tu.events[0].kind, Event::ClientFailure);
  EXPECT_EQ(tu.events[0].id, id);
  EXPECT_FALSE(tu.events[0].transport_error);
  EXPECT_EQ(tu.events[0].at, milliseconds(32000));
  EXPECT_EQ(layer.client_count(), 0u);
}

TEST_F(TxnTest, NonInviteClientProceedingRetransmitsAtT2) {
  const Req opt = downstream_options();
  layer.send_request(opt.msg(), udp_dest());
  timers.advance(milliseconds(600));
  layer.receive(opt.response(100), udp_src());
  EXPECT_EQ(tu.count(Event::Response), 1u);
  timers.advance(milliseconds(9400));  // to t = 10000
  // 0, 500; then the pending E at 1500; then every T2: 5500, 9500.
  const std::vector<Millis> expected{milliseconds(0), milliseconds(500), milliseconds(1500),
                                     milliseconds(5500), milliseconds(9500)};
  EXPECT_EQ(send_times(), expected);
}

TEST_F(TxnTest, NonInviteClientFinalThenTimerKAbsorbsRetransmissions) {
  const Req opt = downstream_options();
  const ClientTxnId id = layer.send_request(opt.msg(), udp_dest());
  layer.receive(opt.response(200, "t1"), udp_src());
  ASSERT_EQ(tu.count(Event::Response), 1u);
  EXPECT_EQ(tu.events[0].id, id);
  EXPECT_EQ(layer.client_request(id), nullptr);  // Completed sends nothing: no request kept
  layer.receive(opt.response(200, "t1"), udp_src());
  EXPECT_EQ(tu.count(Event::Response), 1u);  // absorbed in Completed
  timers.advance(milliseconds(4999));
  EXPECT_EQ(sender.sent.size(), 1u);  // no Timer E in Completed
  EXPECT_EQ(layer.client_count(), 1u);
  timers.advance(milliseconds(1));  // Timer K = T4
  EXPECT_EQ(layer.client_count(), 0u);
  EXPECT_EQ(tu.count(Event::ClientFailure), 0u);
}

TEST_F(TxnTest, NonInviteClientReliableTimerKIsZero) {
  const Req opt = downstream_options();
  layer.send_request(opt.msg(), tcp_dest());
  timers.advance(milliseconds(10000));
  EXPECT_EQ(sender.sent.size(), 1u);  // no Timer E on TCP
  layer.receive(opt.response(404, "t1"), tcp_src());
  EXPECT_EQ(layer.client_count(), 1u);
  timers.advance(milliseconds(0));
  EXPECT_EQ(layer.client_count(), 0u);
}

TEST_F(TxnTest, ResponseMatchingNeedsBranchAndCSeqMethod) {
  const Req inv = downstream_invite();
  layer.send_request(inv.msg(), udp_dest());
  Req other_method = inv;
  other_method.cseq_method = "CANCEL";
  layer.receive(other_method.response(200, "c"), udp_src());
  Req other_branch = inv;
  other_branch.via = "SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-elsewhere";
  layer.receive(other_branch.response(200, "c"), udp_src());
  EXPECT_EQ(tu.count(Event::Stray), 2u);
  EXPECT_EQ(tu.count(Event::Response), 0u);

  // A CANCEL shares the INVITE's branch but is its own client transaction.
  Message cancel = make_cancel(inv.msg());
  const ClientTxnId cid = layer.send_request(cancel, udp_dest());
  EXPECT_EQ(layer.client_count(), 2u);
  layer.receive(other_method.response(200, "c"), udp_src());
  ASSERT_EQ(tu.count(Event::Response), 1u);
  EXPECT_EQ(tu.events.back().id, cid);
}

TEST_F(TxnTest, SendFailureIsReportedLaterNotReentrantly) {
  sender.fail_all = true;
  const ClientTxnId id = layer.send_request(downstream_invite().msg(), udp_dest());
  ASSERT_NE(id, 0u);
  EXPECT_TRUE(tu.events.empty());  // never from inside send_request()
  timers.advance(milliseconds(0));
  ASSERT_EQ(tu.events.size(), 1u);
  EXPECT_EQ(tu.events[0].kind, Event::ClientFailure);
  EXPECT_EQ(tu.events[0].id, id);
  EXPECT_TRUE(tu.events[0].transport_error);
  EXPECT_EQ(layer.client_count(), 0u);
  EXPECT_EQ(sender.sent.size(), 1u);  // nothing retransmitted after the failure
  timers.advance(milliseconds(64000));
  EXPECT_EQ(tu.events.size(), 1u);
  EXPECT_EQ(timers.pending(), 0u);
}

TEST_F(TxnTest, RetransmissionSendFailureFailsTheTransaction) {
  sender.fail_at = 3;  // the second retransmission (t = 1500)
  const ClientTxnId id = layer.send_request(downstream_options().msg(), udp_dest());
  timers.advance(milliseconds(1500));
  ASSERT_EQ(tu.events.size(), 1u);
  EXPECT_EQ(tu.events[0].kind, Event::ClientFailure);
  EXPECT_EQ(tu.events[0].id, id);
  EXPECT_TRUE(tu.events[0].transport_error);
  EXPECT_EQ(layer.client_count(), 0u);
  timers.advance(milliseconds(40000));
  EXPECT_EQ(sender.sent.size(), 3u);
  EXPECT_EQ(tu.events.size(), 1u);
}

TEST_F(TxnTest, TransportFailedFailsWaitingTransactionsToThatDestinationOnly) {
  Destination ws = tcp_dest();
  ws.protocol = Protocol::Ws;
  ws.flow = kNoFlow;  // dialled, no flow yet
  const ClientTxnId waiting = layer.send_request(downstream_invite().msg(), ws);
  Req answered_req = downstream_options();
  const ClientTxnId answered = layer.send_request(answered_req.msg(), ws);
  layer.receive(answered_req.response(100, "x"), udp_src());  // Proceeding: it got through
  Req other_req = downstream_options();
  other_req.via = "SIP/2.0/WS 203.0.113.1:80;branch=z9hG4bK-out3";
  const ClientTxnId other = layer.send_request(other_req.msg(), tcp_dest());  // TCP, same peer
  timers.advance(milliseconds(0));
  EXPECT_EQ(tu.count(Event::ClientFailure), 0u);

  layer.transport_failed(Protocol::Ws, ws.endpoint);
  EXPECT_EQ(tu.count(Event::ClientFailure), 0u);  // never re-entrantly
  timers.advance(milliseconds(0));
  ASSERT_EQ(tu.count(Event::ClientFailure), 1u);
  const auto& ev = tu.events.back();
  EXPECT_EQ(ev.id, waiting);
  EXPECT_TRUE(ev.transport_error);
  EXPECT_NE(layer.client_request(answered), nullptr);
  EXPECT_NE(layer.client_request(other), nullptr);
}

TEST_F(TxnTest, DuplicateBranchFailsTheNewTransactionOnly) {
  const Req opt = downstream_options();
  const ClientTxnId first = layer.send_request(opt.msg(), udp_dest());
  const ClientTxnId second = layer.send_request(opt.msg(), udp_dest());
  EXPECT_NE(first, second);
  timers.advance(milliseconds(0));
  ASSERT_EQ(tu.count(Event::ClientFailure), 1u);
  EXPECT_EQ(tu.events[0].id, second);
  layer.receive(opt.response(200, "x"), udp_src());
  ASSERT_EQ(tu.count(Event::Response), 1u);
  EXPECT_EQ(tu.events.back().id, first);
}

TEST_F(TxnTest, DestroyingTheLayerCancelsItsTimers) {
  {
    TransactionLayer local(timers, sender, tu);
    local.send_request(downstream_invite().msg(), udp_dest());
    local.send_request(downstream_options().msg(), udp_dest());
    EXPECT_GT(timers.pending(), 0u);
  }
  EXPECT_EQ(timers.pending(), 0u);
  timers.advance(milliseconds(64000));
  EXPECT_TRUE(tu.events.empty());
}

}  // namespace
}  // namespace sipws::sip::txn::test
