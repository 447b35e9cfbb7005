// Signed Record-Route entries (RouteSigner) and strict in-dialog routing in the proxy core:
// an in-dialog request (To tag) or an ACK for a 2xx is relayed only along a Route entry of
// ours that carries a valid signature for its dialog (Call-ID + one of the tags). Real
// transaction layer and parser, in-memory wire.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "loopback.hpp"
#include "proxy/proxy_core.hpp"
#include "proxy/routing.hpp"
#include "sip/parser.hpp"
#include "wire.hpp"

namespace sipws::proxy {
namespace {

using sip::HeaderId;
using sip::Message;
using sip::Method;

using test::Sent;
using test::Wire;

constexpr const char* kRouteSecret = "dialog-test-route-secret-0123";
constexpr const char* kCallId = "dialog-1@test";
constexpr const char* kForbidden = "Forbidden - Invalid Record-Route Signature";

using FixedNetwork = test::LoopbackNetwork;
using test::ip;
using test::NoNamesResolver;

/// The caller (alice, tag a1) at 127.0.0.1:5062; the callee (bob, tag b1) at 127.0.0.2:5070.
Source caller_source() {
  return {Protocol::Udp, {ip("127.0.0.1"), 5062}, {ip("127.0.0.1"), 5060}, kNoFlow};
}
Source callee_source() {
  return {Protocol::Udp, {ip("127.0.0.2"), 5070}, {ip("127.0.0.1"), 5060}, kNoFlow};
}

std::string invite() {
  return std::string(
             "INVITE sip:bob@127.0.0.2:5070 SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKinv1\r\n"
             "Max-Forwards: 70\r\n"
             "From: <sip:alice@localhost>;tag=a1\r\n"
             "To: <sip:bob@127.0.0.2:5070>\r\n"
             "Call-ID: ") +
         kCallId +
         "\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:alice@127.0.0.1:5062>\r\n"
         "Content-Length: 0\r\n\r\n";
}

/// An in-dialog request. `route` empty: no Route header at all.
struct InDialog {
  std::string method = "BYE";
  std::string ruri = "sip:alice@127.0.0.1:5062";   // the caller's Contact
  std::string via = "SIP/2.0/UDP 127.0.0.2:5070";  ///< sent-by; the branch is added per send
  std::string route;
  std::string from = "<sip:bob@127.0.0.2:5070>;tag=b1";
  std::string to = "<sip:alice@localhost>;tag=a1";
  std::string call_id = kCallId;
  int cseq = 2;

  /// The request with a fresh Via branch: every send is a new transaction.
  std::string text() const {
    static int branches = 0;
    std::string m = method + " " + ruri + " SIP/2.0\r\nVia: " + via + ";branch=z9hG4bKdlg" +
                    std::to_string(++branches) + "\r\nMax-Forwards: 70\r\n";
    if (!route.empty()) m += "Route: " + route + "\r\n";
    m += "From: " + from + "\r\nTo: " + to + "\r\nCall-ID: " + call_id +
         "\r\nCSeq: " + std::to_string(cseq) + " " + method + "\r\nContent-Length: 0\r\n\r\n";
    return m;
  }
};

/// A BYE from the callee towards the caller, along `route`.
InDialog bye_from_callee(std::string route) {
  InDialog r;
  r.route = std::move(route);
  return r;
}

/// A BYE from the caller towards the callee, along `route`.
InDialog bye_from_caller(std::string route) {
  InDialog r;
  r.ruri = "sip:bob@127.0.0.2:5070";
  r.via = "SIP/2.0/UDP 127.0.0.1:5062";
  r.route = std::move(route);
  r.from = "<sip:alice@localhost>;tag=a1";
  r.to = "<sip:bob@127.0.0.2:5070>;tag=b1";
  return r;
}

/// Our Record-Route URI for this dialog with a given `sw` parameter text ("" = none).
std::string our_route(const std::string& sw_param) {
  return "<sip:127.0.0.1:5060;lr" + sw_param + ">";
}

std::string signed_route(const std::string& call_id = kCallId, const std::string& tag = "a1") {
  return our_route(";sw=" + RouteSigner(kRouteSecret).sign(call_id, tag));
}

class DialogRouteTest : public ::testing::Test {
 protected:
  explicit DialogRouteTest(bool strict = true)
      : resolver(timers),
        core(timers, domains, net, resolver, ProxyConfig{"sipws/0.1", kRouteSecret, strict}) {
    domains.add_domain("localhost");
    domains.add_alias("127.0.0.1");
    core.attach(txns, wire);
  }

  void receive(const std::string& text, const Source& src) {
    auto m = sip::parse(text);
    ASSERT_TRUE(m.has_value()) << m.error().reason << "\n" << text;
    txns.receive(*m, src);
  }

  /// Runs the INVITE through the proxy; returns the Record-Route value it added.
  std::string establish() {
    receive(invite(), caller_source());
    EXPECT_EQ(wire.pop().msg.status(), 100);
    Sent fwd = wire.pop();
    EXPECT_TRUE(fwd.msg.is_request());
    const auto rrs = fwd.msg.find_all(HeaderId::RecordRoute);
    EXPECT_EQ(rrs.size(), 1u);
    Message ok = sip::make_response(fwd.msg, 200);
    ok.set_to_tag("b1");
    auto m = sip::parse(ok.serialize());
    EXPECT_TRUE(m.has_value());
    if (m) txns.receive(*m, callee_source());
    Sent relayed = wire.pop();
    EXPECT_EQ(relayed.msg.status(), 200);
    EXPECT_TRUE(wire.sent.empty());
    return rrs.empty() ? std::string() : std::string(rrs.front()->value);
  }

  /// Sends `req` from `src` and expects exactly one message on the wire: a response to it
  /// with `status` and `reason`, back to the sender. Nothing is forwarded.
  void expect_refused(const InDialog& req, const Source& src, int status, std::string_view reason) {
    wire.sent.clear();
    receive(req.text(), src);
    ASSERT_EQ(wire.sent.size(), 1u) << req.text();
    const Sent& s = wire.sent.front();
    ASSERT_TRUE(s.msg.is_response()) << req.text();
    EXPECT_EQ(s.msg.status(), status) << req.text();
    EXPECT_EQ(s.msg.reason(), reason) << req.text();
    EXPECT_EQ(s.dest.endpoint, src.peer);
    wire.sent.clear();
  }

  /// Sends `req` from `src` and expects it forwarded (first message on the wire) to `to`.
  Sent expect_forwarded(const InDialog& req, const Source& src, const char* to,
                        std::uint16_t port) {
    wire.sent.clear();
    receive(req.text(), src);
    EXPECT_FALSE(wire.sent.empty()) << req.text();
    if (wire.sent.empty()) return {};
    Sent s = wire.pop();
    EXPECT_TRUE(s.msg.is_request()) << s.msg.serialize();
    EXPECT_EQ(s.dest.endpoint, (Endpoint{ip(to), port}));
    wire.sent.clear();
    return s;
  }

  ManualTimerService timers;
  Domains domains;
  FixedNetwork net;
  NoNamesResolver resolver;
  Wire wire;
  ProxyCore core;
  sip::txn::TransactionLayer txns{timers, wire, core};
};

// ---------------------------------------------------------------- the signature on the route

TEST_F(DialogRouteTest, RecordRouteCarriesASignatureForTheDialog) {
  const std::string rr = establish();
  auto na = sip::parse_name_addr(rr);
  ASSERT_TRUE(na.has_value()) << rr;
  const sip::Param* sig = na->uri.param(kRouteSignatureParam);
  ASSERT_NE(sig, nullptr) << rr;
  ASSERT_TRUE(sig->has_value);
  EXPECT_EQ(sig->value.size(), 16u);
  EXPECT_TRUE(na->uri.lr());
  const RouteSigner signer(kRouteSecret);
  EXPECT_EQ(sig->value, signer.sign(kCallId, "a1"));
  EXPECT_TRUE(signer.verify(sig->value, kCallId, "b1", "a1"));  // from the callee's side
  EXPECT_TRUE(signer.verify(sig->value, kCallId, "a1", "b1"));  // from the caller's side
  EXPECT_FALSE(signer.verify(sig->value, "dialog-2@test", "a1", "b1"));
  EXPECT_FALSE(RouteSigner("another-secret-0123456789").verify(sig->value, kCallId, "a1", ""));
}

TEST_F(DialogRouteTest, ByeFromTheCalleeAlongTheSignedRouteIsForwarded) {
  const std::string rr = establish();
  Sent bye = expect_forwarded(bye_from_callee(rr), callee_source(), "127.0.0.1", 5062);
  EXPECT_EQ(bye.msg.method(), Method::Bye);
  EXPECT_EQ(bye.msg.request_uri().raw, "sip:alice@127.0.0.1:5062");
  EXPECT_EQ(bye.msg.count(HeaderId::Route), 0u);  // our entry is consumed (s.16.4)
  EXPECT_EQ(bye.msg.count(HeaderId::Via), 2u);
  EXPECT_EQ(bye.msg.max_forwards(), 69u);
}

TEST_F(DialogRouteTest, ByeFromTheCallerAlongTheSignedRouteIsForwarded) {
  const std::string rr = establish();
  Sent bye = expect_forwarded(bye_from_caller(rr), caller_source(), "127.0.0.2", 5070);
  EXPECT_EQ(bye.msg.method(), Method::Bye);
  EXPECT_EQ(bye.msg.request_uri().raw, "sip:bob@127.0.0.2:5070");
  EXPECT_EQ(bye.msg.count(HeaderId::Route), 0u);
}

TEST_F(DialogRouteTest, ReInviteAlongTheSignedRouteIsForwardedAndAnswered) {
  const std::string rr = establish();
  InDialog reinvite = bye_from_caller(rr);
  reinvite.method = "INVITE";
  wire.sent.clear();
  receive(reinvite.text(), caller_source());
  EXPECT_EQ(wire.pop().msg.status(), 100);
  Sent fwd = wire.pop();
  EXPECT_EQ(fwd.msg.method(), Method::Invite);
  EXPECT_EQ(fwd.dest.endpoint, (Endpoint{ip("127.0.0.2"), 5070}));
  EXPECT_EQ(fwd.msg.count(HeaderId::RecordRoute), 0u);  // a target refresh, not a new dialog
}

TEST_F(DialogRouteTest, TheRouteStaysValidWithTheSignatureOfEitherTag) {
  // A signature made over the callee's tag (as if the dialog had been created the other way)
  // still names this dialog: verify() accepts either tag.
  Sent bye = expect_forwarded(bye_from_callee(signed_route(kCallId, "b1")), callee_source(),
                              "127.0.0.1", 5062);
  EXPECT_EQ(bye.msg.method(), Method::Bye);
}

// ---------------------------------------------------------------- forged routes: 403

TEST_F(DialogRouteTest, RouteOfOursWithABadSignatureIs403AndNothingIsForwarded) {
  const std::string good = RouteSigner(kRouteSecret).sign(kCallId, "a1");
  std::string flipped = good;
  flipped[0] = flipped[0] == '0' ? '1' : '0';
  const std::vector<std::string> bad_params = {
      "",                                                              // absent
      ";sw",                                                           // no value
      ";sw=",                                                          // empty
      ";sw=" + flipped,                                                // wrong
      ";sw=" + good.substr(0, 15),                                     // truncated
      ";sw=" + good + "0",                                             // too long
      ";sw=" + RouteSigner(kRouteSecret).sign("dialog-2@test", "a1"),  // another Call-ID
      ";sw=" + RouteSigner(kRouteSecret).sign(kCallId, "x9"),          // another dialog's tag
      ";sw=" + RouteSigner("another-secret-0123456789").sign(kCallId, "a1"),  // another key
  };
  for (const auto& p : bad_params) {
    SCOPED_TRACE(p);
    expect_refused(bye_from_callee(our_route(p)), callee_source(), 403, kForbidden);
    expect_refused(bye_from_caller(our_route(p)), caller_source(), 403, kForbidden);
  }
}

TEST_F(DialogRouteTest, EveryRouteEntryOfOursMustBeSigned) {
  // A double Record-Route (transport change): the second entry of ours is forged.
  const std::string routes = signed_route() + ", <sip:127.0.0.1:5060;transport=tcp;lr>";
  expect_refused(bye_from_callee(routes), callee_source(), 403, kForbidden);
  const std::string both = signed_route() + ", " + "<sip:127.0.0.1:5060;transport=tcp;lr;sw=" +
                           RouteSigner(kRouteSecret).sign(kCallId, "a1") + ">";
  expect_forwarded(bye_from_callee(both), callee_source(), "127.0.0.1", 5062);
}

TEST_F(DialogRouteTest, SignatureForAnotherCallIdDoesNotOpenThisOne) {
  // A subscriber replays the signature of its own dialog in a request of another Call-ID.
  InDialog bye = bye_from_callee(signed_route("mine@test", "a1"));
  bye.call_id = "victim@test";
  expect_refused(bye, callee_source(), 403, kForbidden);
}

// ---------------------------------------------------------------- no route of ours

TEST_F(DialogRouteTest, ToTaggedRequestWithoutOurRouteToAForeignHostIs403) {
  InDialog bye = bye_from_caller("");
  bye.ruri = "sip:bob@192.0.2.10:5060";
  expect_refused(bye, caller_source(), 403, "Relaying denied - In-Dialog Request Not Routed Here");
  // A foreign Route only: the same.
  InDialog routed = bye_from_caller("<sip:192.0.2.11:5060;lr>");
  expect_refused(routed, caller_source(), 403,
                 "Relaying denied - In-Dialog Request Not Routed Here");
}

TEST_F(DialogRouteTest, ToTaggedRequestWithoutOurRouteToSipwsItselfIs404) {
  for (const char* ruri : {"sip:bob@127.0.0.1:5060", "sip:bob@localhost", "sip:127.0.0.1"}) {
    SCOPED_TRACE(ruri);
    InDialog bye = bye_from_caller("");
    bye.ruri = ruri;
    expect_refused(bye, caller_source(), 404, "Not Found - No Such Dialog");
  }
}

// ---------------------------------------------------------------- ACK for a 2xx

TEST_F(DialogRouteTest, AckAlongTheSignedRouteIsForwarded) {
  const std::string rr = establish();
  InDialog ack = bye_from_caller(rr);
  ack.method = "ACK";
  ack.cseq = 1;
  Sent fwd = expect_forwarded(ack, caller_source(), "127.0.0.2", 5070);
  EXPECT_EQ(fwd.msg.method(), Method::Ack);
}

TEST_F(DialogRouteTest, AckWithAForgedOrNoRouteIsDroppedSilently) {
  establish();
  for (const std::string& route :
       {our_route(""), our_route(";sw=0123456789abcdef"), signed_route("dialog-2@test"),
        std::string(), std::string("<sip:192.0.2.11:5060;lr>")}) {
    SCOPED_TRACE(route);
    InDialog ack = bye_from_caller(route);
    ack.method = "ACK";
    ack.cseq = 1;
    wire.sent.clear();
    receive(ack.text(), caller_source());
    EXPECT_TRUE(wire.sent.empty()) << wire.sent.front().msg.serialize();
  }
}

// ---------------------------------------------------------------- strict_dialogs = false

class OpenDialogRouteTest : public DialogRouteTest {
 protected:
  OpenDialogRouteTest() : DialogRouteTest(false) {}
};

TEST_F(OpenDialogRouteTest, ForgedOrMissingRoutesAreFollowedAsBefore) {
  expect_forwarded(bye_from_callee(our_route("")), callee_source(), "127.0.0.1", 5062);
  expect_forwarded(bye_from_callee(our_route(";sw=0123456789abcdef")), callee_source(), "127.0.0.1",
                   5062);
  InDialog unrouted = bye_from_caller("");
  unrouted.ruri = "sip:bob@192.0.2.10:5060";
  expect_forwarded(unrouted, caller_source(), "192.0.2.10", 5060);
  InDialog ack = bye_from_caller(our_route(""));
  ack.method = "ACK";
  ack.cseq = 1;
  Sent fwd = expect_forwarded(ack, caller_source(), "127.0.0.2", 5070);
  EXPECT_EQ(fwd.msg.method(), Method::Ack);
}

TEST_F(OpenDialogRouteTest, RecordRouteIsStillSigned) {
  const std::string rr = establish();
  EXPECT_EQ(rr, signed_route());
}

// ---------------------------------------------------------------- RouteSigner

TEST(RouteSignerTest, IsDeterministicForAKeyAndDiffersAcrossKeys) {
  const RouteSigner a("key-one-0123456789abcdef"), a2("key-one-0123456789abcdef");
  const RouteSigner b("key-two-0123456789abcdef");
  EXPECT_EQ(a.sign("c@h", "t1"), a.sign("c@h", "t1"));
  EXPECT_EQ(a.sign("c@h", "t1"), a2.sign("c@h", "t1"));
  EXPECT_NE(a.sign("c@h", "t1"), b.sign("c@h", "t1"));
  EXPECT_NE(a.sign("c@h", "t1"), a.sign("c@h", "t2"));
  EXPECT_NE(a.sign("c@h", "t1"), a.sign("d@h", "t1"));
  // The separator keeps (Call-ID, tag) pairs apart.
  EXPECT_NE(a.sign("ab", "c"), a.sign("a", "bc"));
  // No key: a random one, different per signer.
  EXPECT_NE(RouteSigner().sign("c@h", "t1"), RouteSigner().sign("c@h", "t1"));
}

TEST(RouteSignerTest, SignaturesAreSixteenLowerCaseHexDigits) {
  const RouteSigner s("k");
  for (const auto& [call_id, tag] : std::vector<std::pair<std::string, std::string>>{
           {"", ""}, {"c", "t"}, {std::string(2000, 'x'), std::string(300, 'y')}}) {
    const std::string sig = s.sign(call_id, tag);
    ASSERT_EQ(sig.size(), 16u);
    for (char c : sig) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << sig;
  }
}

TEST(RouteSignerTest, VerifyAcceptsEitherTagAndRejectsOthers) {
  const RouteSigner s("verify-key-0123456789");
  const std::string sig = s.sign("call@h", "caller");
  EXPECT_TRUE(s.verify(sig, "call@h", "caller", "callee"));
  EXPECT_TRUE(s.verify(sig, "call@h", "callee", "caller"));
  EXPECT_TRUE(s.verify(sig, "call@h", "caller", ""));
  EXPECT_TRUE(s.verify(sig, "call@h", "", "caller"));
  EXPECT_FALSE(s.verify(sig, "call@h", "callee", "other"));
  EXPECT_FALSE(s.verify(sig, "call@h", "", ""));
  EXPECT_FALSE(s.verify(sig, "other@h", "caller", "callee"));
  EXPECT_FALSE(s.verify(sig.substr(0, 15), "call@h", "caller", ""));
  EXPECT_FALSE(s.verify(sig + "0", "call@h", "caller", ""));
  EXPECT_FALSE(s.verify("", "call@h", "caller", ""));
  // An empty tag never verifies, even against the signature of an empty tag.
  EXPECT_FALSE(s.verify(s.sign("call@h", ""), "call@h", "", ""));
}

}  // namespace
}  // namespace sipws::proxy
