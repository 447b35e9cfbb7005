// Server transactions (RFC 3261 s.17.2, RFC 6026 s.7): 100 Trying, retransmission absorption,
// Timers G/H/I/J/L, ACK handling, and the rule that respond() never calls the TU.

#include "txn_fixture.hpp"

namespace sipws::sip::txn::test {
namespace {

using std::chrono::milliseconds;

/// A response the TU would build (make_response + To tag), as the proxy does.
Message tu_response(const Message& request, int status, std::string_view to_tag = "uas1") {
  Message rsp = make_response(request, status);
  if (status > 100) rsp.set_to_tag(to_tag);
  return rsp;
}

TEST_F(TxnTest, InviteServerSends100TryingAtOnceAndReportsTheRequest) {
  const Req inv;
  layer.receive(inv.msg(), udp_src());
  ASSERT_EQ(sender.sent.size(), 1u);
  const Message trying = sender.sent[0].msg();
  EXPECT_TRUE(trying.is_response());
  EXPECT_EQ(trying.status(), 100);
  EXPECT_TRUE(trying.to().tag().empty());  // s.8.2.6.2: no To tag needed on 100
  EXPECT_EQ(trying.top_via().branch(), "z9hG4bK-inv1");
  EXPECT_EQ(trying.cseq().method, Method::Invite);
  // UDP without rport: source IP, Via sent-by port.
  EXPECT_EQ(sender.sent[0].dest.endpoint, ep("192.0.2.10", 5062));
  EXPECT_EQ(sender.sent[0].dest.protocol, Protocol::Udp);

  ASSERT_EQ(tu.events.size(), 1u);
  EXPECT_EQ(tu.events[0].kind, Event::Request);
  const ServerTxnId id = tu.events[0].id;
  EXPECT_NE(id, 0u);
  EXPECT_EQ(layer.server_count(), 1u);
  ASSERT_NE(layer.server_request(id), nullptr);
  EXPECT_EQ(layer.server_request(id)->call_id(), "call1@192.0.2.10");
  ASSERT_NE(layer.server_source(id), nullptr);
  EXPECT_EQ(layer.server_source(id)->peer, udp_src().peer);
}

TEST_F(TxnTest, InviteServerRetransmissionResendsTheLastResponse) {
  const Req inv;
  layer.receive(inv.msg(), udp_src());
  const ServerTxnId id = tu.events.at(0).id;
  layer.receive(inv.msg(), udp_src());
  ASSERT_EQ(sender.sent.size(), 2u);
  EXPECT_EQ(sender.sent[1].bytes, sender.sent[0].bytes);  // 100 again
  EXPECT_EQ(tu.events.size(), 1u);                        // not reported again

  layer.respond(id, tu_response(*layer.server_request(id), 180));
  ASSERT_EQ(sender.sent.size(), 3u);
  layer.receive(inv.msg(), udp_src());
  ASSERT_EQ(sender.sent.size(), 4u);
  EXPECT_EQ(sender.sent[3].msg().status(), 180);
  EXPECT_EQ(tu.events.size(), 1u);
}

TEST_F(TxnTest, InviteServerNonSuccessFinalIsRetransmittedByTimerGUntilAck) {
  const Req inv;
  layer.receive(inv.msg(), udp_src());
  const ServerTxnId id = tu.events.at(0).id;
  layer.respond(id, tu_response(*layer.server_request(id), 486, "busy"));
  ASSERT_EQ(sender.sent.size(), 2u);
  EXPECT_EQ(sender.sent[1].msg().status(), 486);

  timers.advance(milliseconds(3600));  // G: 500, 1000 (t=1500), 2000 (t=3500)
  ASSERT_EQ(sender.sent.size(), 5u);
  for (std::size_t i = 2; i < 5; ++i) EXPECT_EQ(sender.sent[i].bytes, sender.sent[1].bytes);
  EXPECT_EQ(sender.sent[4].at, milliseconds(3500));

  layer.receive(inv.msg(), udp_src());  // INVITE retransmission in Completed: 486 again
  ASSERT_EQ(sender.sent.size(), 6u);
  EXPECT_EQ(sender.sent[5].bytes, sender.sent[1].bytes);

  Req ack = inv.with_method("ACK");
  ack.to_tag = "busy";
  layer.receive(ack.msg(), udp_src());
  EXPECT_EQ(tu.count(Event::Ack), 0u);  // absorbed: ACK for a non-2xx is hop-by-hop
  layer.receive(ack.msg(), udp_src());  // retransmitted ACK in Confirmed: absorbed too
  EXPECT_EQ(tu.count(Event::Ack), 0u);
  layer.receive(inv.msg(), udp_src());  // Confirmed: INVITE absorbed silently
  EXPECT_EQ(sender.sent.size(), 6u);

  timers.advance(milliseconds(4999));  // no more G; Timer I = T4
  EXPECT_EQ(sender.sent.size(), 6u);
  EXPECT_EQ(layer.server_count(), 1u);
  timers.advance(milliseconds(1));
  EXPECT_EQ(layer.server_count(), 0u);
  ASSERT_EQ(tu.count(Event::ServerTerminated), 1u);
  EXPECT_EQ(tu.events.back().id, id);
  EXPECT_EQ(layer.server_request(id), nullptr);
}

TEST_F(TxnTest, InviteServerTimerGCapsAtT2AndTimerHTerminates) {
  const Req inv;
  layer.receive(inv.msg(), udp_src());
  const ServerTxnId id = tu.events.at(0).id;
  timers.advance(milliseconds(1000));
  layer.respond(id, tu_response(*layer.server_request(id), 404));
  timers.advance(milliseconds(31999));
  // Final at 1000; G at +500, +1500, +3500, +7500, then every T2 = 4000 until H at +32000.
  std::vector<Millis> expected{milliseconds(0), milliseconds(1000)};
  for (int t : {1500, 2500, 4500, 8500, 12500, 16500, 20500, 24500, 28500, 32500}) {
    expected.push_back(milliseconds(t));
  }
  EXPECT_EQ(send_times(), expected);
  EXPECT_EQ(tu.count(Event::ServerTerminated), 0u);
  timers.advance(milliseconds(1));  // Timer H = 64*T1 without ACK
  ASSERT_EQ(tu.count(Event::ServerTerminated), 1u);
  EXPECT_EQ(tu.events.back().id, id);
  EXPECT_EQ(tu.events.back().at, milliseconds(33000));
  EXPECT_EQ(layer.server_count(), 0u);
  EXPECT_EQ(timers.pending(), 0u);
}

TEST_F(TxnTest, InviteServerReliableHasNoTimerGAndTimerIIsZero) {
  const Req inv;
  layer.receive(inv.msg(), tcp_src());
  ASSERT_EQ(sender.sent.size(), 1u);
  EXPECT_EQ(sender.sent[0].dest.flow, 77u);  // back over the flow it came in on
  EXPECT_EQ(sender.sent[0].dest.endpoint, tcp_src().peer);
  const ServerTxnId id = tu.events.at(0).id;
  layer.respond(id, tu_response(*layer.server_request(id), 480));
  timers.advance(milliseconds(10000));
  EXPECT_EQ(sender.sent.size(), 2u);
  Req ack = inv.with_method("ACK");
  ack.to_tag = "uas1";
  layer.receive(ack.msg(), tcp_src());
  EXPECT_EQ(layer.server_count(), 1u);
  timers.advance(milliseconds(0));
  EXPECT_EQ(layer.server_count(), 0u);
  EXPECT_EQ(tu.count(Event::ServerTerminated), 1u);
  EXPECT_EQ(tu.count(Event::Ack), 0u);
}

TEST_F(TxnTest, InviteServerSuccessGoesToAcceptedAndAckReachesTheTu) {
  const Req inv;
  layer.receive(inv.msg(), udp_src());
  const ServerTxnId id = tu.events.at(0).id;
  const Message ok = tu_response(*layer.server_request(id), 200, "ok");
  layer.respond(id, ok);
  ASSERT_EQ(sender.sent.size(), 2u);
  timers.advance(milliseconds(5000));
  EXPECT_EQ(sender.sent.size(), 2u);  // the layer never retransmits a 2xx itself

  layer.receive(inv.msg(), udp_src());  // RFC 6026 s.7.1: INVITE retransmission absorbed
  EXPECT_EQ(sender.sent.size(), 2u);
  EXPECT_EQ(tu.count(Event::Request), 1u);

  layer.respond(id, ok);  // the TU's 2xx retransmission passes through
  ASSERT_EQ(sender.sent.size(), 3u);
  EXPECT_EQ(sender.sent[2].bytes, sender.sent[1].bytes);

  Req ack = inv.with_method("ACK");  // ACK for 2xx: a new branch (s.13.2.2.4)
  ack.via = "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-ack2xx";
  ack.to_tag = "ok";
  layer.receive(ack.msg(), udp_src());
  ASSERT_EQ(tu.count(Event::Ack), 1u);
  EXPECT_EQ(tu.events.back().msg->top_via().branch(), "z9hG4bK-ack2xx");

  Req same_branch_ack = inv.with_method("ACK");  // even with the INVITE's branch
  same_branch_ack.to_tag = "ok";
  layer.receive(same_branch_ack.msg(), udp_src());
  EXPECT_EQ(tu.count(Event::Ack), 2u);

  EXPECT_EQ(layer.server_request(id), nullptr);    // Accepted keeps no request for its 32 s
  layer.respond(id, tu_response(inv.msg(), 486));  // no non-2xx after a 2xx
  EXPECT_EQ(sender.sent.size(), 3u);

  timers.advance(milliseconds(26999));  // Timer L = 64*T1 from the 2xx
  EXPECT_EQ(layer.server_count(), 1u);
  timers.advance(milliseconds(1));
  EXPECT_EQ(layer.server_count(), 0u);
  ASSERT_EQ(tu.count(Event::ServerTerminated), 1u);
  EXPECT_EQ(tu.events.back().id, id);
}

TEST_F(TxnTest, AckMatchingNothingGoesToTheTu) {
  Req ack = Req{}.with_method("ACK");
  ack.to_tag = "t";
  layer.receive(ack.msg(), udp_src());
  EXPECT_EQ(tu.count(Event::Ack), 1u);
  EXPECT_EQ(layer.server_count(), 0u);
  EXPECT_TRUE(sender.sent.empty());
}

TEST_F(TxnTest, RespondNeverCallsTheTuAndUnknownIdIsANoOp) {
  const Req opt = Req{}.with_method("OPTIONS");
  layer.receive(opt.msg(), tcp_src());
  const ServerTxnId id = tu.events.at(0).id;
  const std::size_t before = tu.events.size();
  layer.respond(id, tu_response(*layer.server_request(id), 200));  // J = 0 on TCP
  EXPECT_EQ(tu.events.size(), before);
  EXPECT_EQ(layer.server_count(), 1u);
  timers.advance(milliseconds(0));
  EXPECT_EQ(tu.count(Event::ServerTerminated), 1u);

  const std::size_t sent = sender.sent.size();
  layer.respond(id, tu_response(opt.msg(), 200));  // gone
  layer.respond(12345, tu_response(opt.msg(), 200));
  EXPECT_EQ(sender.sent.size(), sent);
}

TEST_F(TxnTest, NonInviteServerAbsorbsRetransmissionsAndTimerJEndsIt) {
  const Req reg = Req{}.with_method("REGISTER");
  layer.receive(reg.msg(), udp_src());
  EXPECT_TRUE(sender.sent.empty());  // no 100 Trying for non-INVITE
  ASSERT_EQ(tu.events.size(), 1u);
  const ServerTxnId id = tu.events[0].id;

  layer.receive(reg.msg(), udp_src());  // Trying: nothing to resend
  EXPECT_TRUE(sender.sent.empty());
  EXPECT_EQ(tu.events.size(), 1u);

  layer.respond(id, tu_response(*layer.server_request(id), 100));
  layer.receive(reg.msg(), udp_src());  // Proceeding: the provisional again
  ASSERT_EQ(sender.sent.size(), 2u);
  EXPECT_EQ(sender.sent[1].msg().status(), 100);

  layer.respond(id, tu_response(*layer.server_request(id), 200, "r"));
  ASSERT_EQ(sender.sent.size(), 3u);
  layer.receive(reg.msg(), udp_src());  // Completed: the final again
  ASSERT_EQ(sender.sent.size(), 4u);
  EXPECT_EQ(sender.sent[3].bytes, sender.sent[2].bytes);
  EXPECT_EQ(tu.events.size(), 1u);
  EXPECT_EQ(layer.server_request(id), nullptr);    // a completed non-INVITE keeps only its bytes
  layer.respond(id, tu_response(reg.msg(), 500));  // ignored in Completed
  EXPECT_EQ(sender.sent.size(), 4u);
  timers.advance(milliseconds(0));  // the TU is done with it at the final response
  ASSERT_EQ(tu.count(Event::ServerTerminated), 1u);
  EXPECT_EQ(tu.events.back().id, id);

  // A second one, completed 10 s later, lingers until its own Timer J.
  timers.advance(milliseconds(10000));
  Req other = reg;
  other.via = "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-other";
  layer.receive(other.msg(), udp_src());
  const ServerTxnId id2 = tu.events.back().id;
  layer.respond(id2, tu_response(*layer.server_request(id2), 200, "r2"));
  ASSERT_EQ(sender.sent.size(), 5u);
  EXPECT_EQ(layer.server_count(), 2u);

  timers.advance(milliseconds(21999));
  layer.receive(reg.msg(), udp_src());  // still within the first one's Timer J: absorbed
  ASSERT_EQ(sender.sent.size(), 6u);
  EXPECT_EQ(sender.sent[5].bytes, sender.sent[2].bytes);
  EXPECT_EQ(layer.server_count(), 2u);  // non-INVITE finals are not retransmitted by timer
  timers.advance(milliseconds(1));      // Timer J = 64*T1 on UDP
  EXPECT_EQ(layer.server_count(), 1u);
  layer.receive(reg.msg(), udp_src());  // after J the same request is a new transaction
  EXPECT_EQ(tu.count(Event::Request), 3u);
  EXPECT_EQ(sender.sent.size(), 6u);

  layer.receive(other.msg(), udp_src());  // the second still answers until t = 42 s
  ASSERT_EQ(sender.sent.size(), 7u);
  EXPECT_EQ(sender.sent[6].bytes, sender.sent[4].bytes);
  timers.advance(milliseconds(10000));
  EXPECT_EQ(layer.server_count(), 1u);  // the third (Trying) only
  layer.receive(other.msg(), udp_src());
  EXPECT_EQ(tu.count(Event::Request), 4u);
}

TEST_F(TxnTest, ServerMatchingUsesBranchSentByAndMethod) {
  const Req inv;
  layer.receive(inv.msg(), udp_src());
  Req other_sent_by = inv;
  other_sent_by.via = "SIP/2.0/UDP 192.0.2.99:5062;branch=z9hG4bK-inv1";
  layer.receive(other_sent_by.msg(), udp_src());
  Req other_port = inv;
  other_port.via = "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-inv1";
  layer.receive(other_port.msg(), udp_src());
  Req other_branch = inv;
  other_branch.via = "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-inv2";
  layer.receive(other_branch.msg(), udp_src());
  const Req bye = inv.with_method("BYE");  // same branch, other method
  layer.receive(bye.msg(), udp_src());
  EXPECT_EQ(tu.count(Event::Request), 5u);
  EXPECT_EQ(layer.server_count(), 5u);

  layer.receive(other_sent_by.msg(), udp_src());  // each one matches itself again
  EXPECT_EQ(tu.count(Event::Request), 5u);
}

TEST_F(TxnTest, ServerMatchingIgnoresHostCase) {
  Req inv;
  inv.via = "SIP/2.0/UDP PC33.Example.COM:5062;branch=z9hG4bK-case";
  layer.receive(inv.msg(), udp_src());
  Req lower = inv;
  lower.via = "SIP/2.0/UDP pc33.example.com:5062;branch=z9hG4bK-case";
  layer.receive(lower.msg(), udp_src());
  EXPECT_EQ(tu.count(Event::Request), 1u);
  EXPECT_EQ(sender.sent.size(), 2u);  // 100, then 100 again
}

// pending_count(): what a graceful shutdown waits for. A server transaction counts until its
// final response is sent (not while Timer J/H keep it for retransmissions), a client one until
// its final response arrives.
TEST_F(TxnTest, PendingCountsTransactionsWithoutAFinalResponseOnly) {
  const Req inv;
  Req reg;
  reg.method = "REGISTER";
  reg.via = "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-reg1";
  reg.call_id = "reg1@192.0.2.10";
  layer.receive(inv.msg(), udp_src());
  layer.receive(reg.msg(), udp_src());
  ASSERT_EQ(tu.events.size(), 2u);
  EXPECT_EQ(layer.pending_count(), 2u);
  layer.respond(tu.events[0].id, tu_response(*layer.server_request(tu.events[0].id), 180));
  EXPECT_EQ(layer.pending_count(), 2u);  // a provisional is no answer
  layer.respond(tu.events[1].id, tu_response(*layer.server_request(tu.events[1].id), 200));
  EXPECT_EQ(layer.pending_count(), 1u);
  EXPECT_EQ(layer.server_count(), 2u);  // the REGISTER's transaction lingers (Timer J)
  layer.respond(tu.events[0].id, tu_response(*layer.server_request(tu.events[0].id), 486));
  EXPECT_EQ(layer.pending_count(), 0u);

  Req out;
  out.via = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-out1";
  out.call_id = "out1@192.0.2.1";
  layer.send_request(out.msg(), udp_dest());
  EXPECT_EQ(layer.pending_count(), 1u);
  layer.receive(out.response(180, "b1"), udp_src());
  EXPECT_EQ(layer.pending_count(), 1u);
  layer.receive(out.response(200, "b1"), udp_src());
  EXPECT_EQ(layer.pending_count(), 0u);
}

}  // namespace
}  // namespace sipws::sip::txn::test
