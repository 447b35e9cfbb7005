// CANCEL matching (RFC 3261 s.9.2), RFC 2543 fallback matching (s.17.2.3), response
// destinations (s.18.2.2, RFC 3581) and the matching keys.

#include "sip/txn/keys.hpp"
#include "txn_fixture.hpp"

namespace sipws::sip::txn::test {
namespace {

using std::chrono::milliseconds;

TEST_F(TxnTest, CancelMatchingAnInviteIsAnswered200AndReported) {
  const Req inv;
  layer.receive(inv.msg(), udp_src());
  const ServerTxnId invite_id = tu.events.at(0).id;
  const Req cancel = inv.with_method("CANCEL");  // same branch and sent-by (s.9.1)
  layer.receive(cancel.msg(), udp_src());

  ASSERT_EQ(sender.sent.size(), 2u);
  const Message ok = sender.sent[1].msg();
  EXPECT_EQ(ok.status(), 200);
  EXPECT_EQ(ok.cseq().method, Method::Cancel);
  EXPECT_FALSE(ok.to().tag().empty());
  EXPECT_EQ(sender.sent[1].dest.endpoint, ep("192.0.2.10", 5062));
  ASSERT_EQ(tu.count(Event::Cancel), 1u);
  EXPECT_EQ(tu.events.back().id, invite_id);
  EXPECT_EQ(tu.events.back().msg->method(), Method::Cancel);
  EXPECT_EQ(tu.count(Event::Request), 1u);  // the CANCEL is not a new request for the TU

  layer.receive(cancel.msg(), udp_src());  // retransmitted CANCEL: 200 again, not reported
  ASSERT_EQ(sender.sent.size(), 3u);
  EXPECT_EQ(sender.sent[2].bytes, sender.sent[1].bytes);
  EXPECT_EQ(tu.count(Event::Cancel), 1u);

  // The INVITE transaction is untouched: the TU answers it with 487.
  layer.respond(invite_id, make_response(*layer.server_request(invite_id), 487));
  ASSERT_EQ(sender.sent.size(), 4u);
  EXPECT_EQ(sender.sent[3].msg().status(), 487);

  // Timer J of the CANCEL's own transaction is not reported to the TU (it never saw it).
  timers.advance(milliseconds(32000));
  EXPECT_EQ(tu.count(Event::ServerTerminated), 1u);  // the INVITE's (Timer H), not the CANCEL's
  EXPECT_EQ(tu.events.back().kind, Event::ServerTerminated);
  EXPECT_EQ(tu.events.back().id, invite_id);
  EXPECT_EQ(layer.server_count(), 0u);
}

TEST_F(TxnTest, CancelUsesTheToTagOfTheInviteResponse) {
  const Req inv;
  layer.receive(inv.msg(), udp_src());
  const ServerTxnId invite_id = tu.events.at(0).id;
  Message ringing = make_response(*layer.server_request(invite_id), 180);
  ringing.set_to_tag("ring1");
  layer.respond(invite_id, ringing);
  layer.receive(inv.with_method("CANCEL").msg(), udp_src());
  ASSERT_EQ(sender.sent.size(), 3u);
  EXPECT_EQ(sender.sent[2].msg().to().tag(), "ring1");
  EXPECT_EQ(tu.count(Event::Cancel), 1u);
}

TEST_F(TxnTest, CancelAfterTheFinalIsAnswered200ButNotReported) {
  const Req inv;
  layer.receive(inv.msg(), udp_src());
  const ServerTxnId invite_id = tu.events.at(0).id;
  Message busy = make_response(*layer.server_request(invite_id), 486);
  busy.set_to_tag("b");
  layer.respond(invite_id, busy);
  layer.receive(inv.with_method("CANCEL").msg(), udp_src());
  ASSERT_EQ(sender.sent.size(), 3u);
  EXPECT_EQ(sender.sent[2].msg().status(), 200);
  EXPECT_EQ(tu.count(Event::Cancel), 0u);
}

TEST_F(TxnTest, CountsIntoTheGivenRegistryAndTagsFromTheGivenSource) {
  // A layer with its own registry and a seeded token source (the fixture's uses the defaults).
  Counters mine;
  SeededTokens tokens(42);
  TransactionLayer own(timers, sender, tu, TimerConfig{}, Instruments{mine, tokens});
  const auto global_481 = counters().get("sip_txn_cancel_481").value();
  own.receive(Req{}.with_method("CANCEL").msg(), udp_src());  // matches nothing: 481
  ASSERT_EQ(sender.sent.size(), 1u);
  const Message rsp = sender.sent[0].msg();
  EXPECT_EQ(rsp.status(), 481);
  EXPECT_EQ(rsp.to().tag(), SeededTokens(42).token(10));
  EXPECT_EQ(mine.get("sip_txn_cancel_481").value(), 1u);
  EXPECT_EQ(mine.get("sip_txn_server_created").value(), 1u);
  EXPECT_EQ(counters().get("sip_txn_cancel_481").value(), global_481);
}

TEST_F(TxnTest, CancelMatchingNothingIsAnswered481AndNotReported) {
  const Req inv;
  layer.receive(inv.msg(), udp_src());
  Req cancel = inv.with_method("CANCEL");
  cancel.via = "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-unknown";
  layer.receive(cancel.msg(), udp_src());
  ASSERT_EQ(sender.sent.size(), 2u);
  const Message rsp = sender.sent[1].msg();
  EXPECT_EQ(rsp.status(), 481);
  EXPECT_EQ(rsp.cseq().method, Method::Cancel);
  EXPECT_EQ(tu.count(Event::Cancel), 0u);
  EXPECT_EQ(tu.count(Event::Request), 1u);
  layer.receive(cancel.msg(), udp_src());  // absorbed by its transaction: 481 again
  ASSERT_EQ(sender.sent.size(), 3u);
  EXPECT_EQ(sender.sent[2].bytes, sender.sent[1].bytes);

  // A CANCEL for a non-INVITE transaction with the same branch does not match either.
  const Req opt = Req{}.with_method("OPTIONS");
  Req opt_on_branch = opt;
  opt_on_branch.via = "SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-opt";
  layer.receive(opt_on_branch.msg(), udp_src());
  Req cancel_opt = opt_on_branch.with_method("CANCEL");
  layer.receive(cancel_opt.msg(), udp_src());
  EXPECT_EQ(sender.sent.back().msg().status(), 481);
  EXPECT_EQ(tu.count(Event::Cancel), 0u);
}

Req rfc2543_invite() {
  Req r;
  r.via = "SIP/2.0/UDP 192.0.2.20:5060";  // no branch at all
  r.call_id = "old@192.0.2.20";
  return r;
}

TEST_F(TxnTest, Rfc2543RequestsMatchByDialogFieldsAndTopVia) {
  const Req inv = rfc2543_invite();
  layer.receive(inv.msg(), udp_src());
  layer.receive(inv.msg(), udp_src());  // retransmission
  EXPECT_EQ(tu.count(Event::Request), 1u);
  EXPECT_EQ(sender.sent.size(), 2u);  // 100 twice

  Req other_from_tag = inv;
  other_from_tag.from_tag = "a2";
  layer.receive(other_from_tag.msg(), udp_src());
  Req other_cseq = inv;
  other_cseq.cseq = 2;
  layer.receive(other_cseq.msg(), udp_src());
  Req other_uri = inv;
  other_uri.uri = "sip:carol@example.com";
  layer.receive(other_uri.msg(), udp_src());
  Req old_branch = inv;  // a non-cookie branch is an RFC 2543 branch: dialog fields still count
  old_branch.via = "SIP/2.0/UDP 192.0.2.20:5060;branch=1234";
  layer.receive(old_branch.msg(), udp_src());
  EXPECT_EQ(tu.count(Event::Request), 5u);
}

TEST_F(TxnTest, Rfc2543AckAndCancelMatchTheInvite) {
  const Req inv = rfc2543_invite();
  layer.receive(inv.msg(), udp_src());
  const ServerTxnId id = tu.events.at(0).id;

  layer.receive(inv.with_method("CANCEL").msg(), udp_src());
  ASSERT_EQ(tu.count(Event::Cancel), 1u);
  EXPECT_EQ(tu.events.back().id, id);
  EXPECT_EQ(sender.sent.back().msg().status(), 200);

  Message rsp = make_response(*layer.server_request(id), 487);
  rsp.set_to_tag("t487");
  layer.respond(id, rsp);

  Req wrong_ack = inv.with_method("ACK");  // To tag must be the one of our response
  wrong_ack.to_tag = "other";
  layer.receive(wrong_ack.msg(), udp_src());
  EXPECT_EQ(tu.count(Event::Ack), 1u);  // not ours: the TU's

  Req ack = inv.with_method("ACK");
  ack.to_tag = "t487";
  layer.receive(ack.msg(), udp_src());
  EXPECT_EQ(tu.count(Event::Ack), 1u);  // absorbed: the transaction is Confirmed
  const std::size_t sent = sender.sent.size();
  timers.advance(milliseconds(5000));  // no Timer G after the ACK; Timer I ends it
  EXPECT_EQ(sender.sent.size(), sent);
  EXPECT_EQ(tu.count(Event::ServerTerminated), 1u);
}

TEST(ResponseDestination, UdpWithoutRportUsesSentByPortOr5060) {
  Source src;
  src.protocol = Protocol::Udp;
  src.peer = ep("192.0.2.10", 40000);
  Req r;
  Destination d = response_destination(r.msg(), src);
  EXPECT_EQ(d.protocol, Protocol::Udp);
  EXPECT_EQ(d.endpoint, ep("192.0.2.10", 5062));  // received IP, sent-by port
  EXPECT_EQ(d.flow, kNoFlow);

  r.via = "SIP/2.0/UDP host.example.com;branch=z9hG4bK-x";
  d = response_destination(r.msg(), src);
  EXPECT_EQ(d.endpoint, ep("192.0.2.10", 5060));
}

TEST(ResponseDestination, UdpWithRportUsesTheSourcePort) {
  Source src;
  src.protocol = Protocol::Udp;
  src.peer = ep("192.0.2.10", 40000);
  Req r;
  r.via = "SIP/2.0/UDP 10.0.0.5:5062;rport;branch=z9hG4bK-x";
  Destination d = response_destination(r.msg(), src);
  EXPECT_EQ(d.endpoint, ep("192.0.2.10", 40000));
  r.via = "SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-x;rport=1234";
  d = response_destination(r.msg(), src);
  EXPECT_EQ(d.endpoint, ep("192.0.2.10", 40000));
}

TEST(ResponseDestination, ConnectionOrientedUsesTheFlow) {
  Source src;
  src.protocol = Protocol::Wss;
  src.peer = ep("2001:db8::7", 51000);
  src.flow = 42;
  Req r;
  r.via = "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK-ws";
  const Destination d = response_destination(r.msg(), src);
  EXPECT_EQ(d.protocol, Protocol::Wss);
  EXPECT_EQ(d.flow, 42u);
  EXPECT_EQ(d.endpoint, ep("2001:db8::7", 51000));
}

TEST(Keys, ClientKeyIsBranchPlusCSeqMethod) {
  Req r;
  const Message inv = r.msg();
  EXPECT_EQ(client_key(inv), client_key(r.response(180)));
  EXPECT_EQ(client_key(inv), client_key(r.response(200, "x")));
  EXPECT_NE(client_key(inv), client_key(r.with_method("CANCEL").msg()));
  EXPECT_EQ(client_key(r.with_method("CANCEL").msg()),
            client_key(r.with_method("CANCEL").response(200)));
}

TEST(Keys, ServerKeyMapsAckAndCancelToTheInvite) {
  Req r;
  const std::string invite_key = server_key(r.msg(), "INVITE");
  Req ack = r.with_method("ACK");
  ack.to_tag = "t";
  EXPECT_EQ(server_key(ack.msg(), "INVITE"), invite_key);  // cookie branch: To tag irrelevant
  EXPECT_EQ(server_key(r.with_method("CANCEL").msg(), "INVITE"), invite_key);
  EXPECT_NE(server_key(r.with_method("CANCEL").msg(), "CANCEL"), invite_key);
}

}  // namespace
}  // namespace sipws::sip::txn::test
