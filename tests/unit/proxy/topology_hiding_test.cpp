// Topology hiding (TopologyHiding, `topology_hiding` on a gateway or an upstream): what a
// hidden peer receives names sipws alone, and the dialog still works both ways, whichever side
// began it. Real proxy core, transaction layer and parser, in-memory wire.
//
// Inside: the UA alice at 127.0.0.1:5062 behind an inside proxy at 10.9.9.9 (which
// Record-Routes). Outside, hidden: bob at 127.0.0.2:5070. sipws: 127.0.0.1:5060.

#include "proxy/topology_hiding.hpp"

#include <gtest/gtest.h>

#include <memory>
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

using test::ip;
using test::Sent;
using test::Wire;

constexpr const char* kSecret = "topology-hiding-test-secret-0123";
constexpr const char* kInsideCallId = "inside-call-1@10.9.9.9";
constexpr const char* kOutsideCallId = "outside-call-7@127.0.0.2";
constexpr const char* kInsideRr = "<sip:10.9.9.9;lr;ftag=a1>";

Source alice_via_proxy() {  // the inside proxy forwards alice's requests
  return {Protocol::Udp, {ip("10.9.9.9"), 5060}, {ip("127.0.0.1"), 5060}, kNoFlow};
}
Source bob_source() {
  return {Protocol::Udp, {ip("127.0.0.2"), 5070}, {ip("127.0.0.1"), 5060}, kNoFlow};
}

/// Text that must never reach the hidden peer: the inside addresses and identifiers.
const std::vector<std::string>& inside_secrets() {
  static const std::vector<std::string> s = {"10.9.9.9",     "5062",      kInsideCallId,
                                             "z9hG4bKalice", "urn:uuid:", "reg-id"};
  return s;
}

void expect_nothing_inside(const Message& m) {
  const std::string text = m.serialize();
  for (const auto& secret : inside_secrets()) {
    EXPECT_EQ(text.find(secret), std::string::npos) << "\"" << secret << "\" leaked:\n" << text;
  }
}

std::string alice_invite() {
  return std::string(
             "INVITE sip:bob@127.0.0.2:5070 SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKproxy1\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKalice1;rport\r\n"
             "Max-Forwards: 69\r\n"
             "Record-Route: ") +
         kInsideRr +
         "\r\n"
         "From: <sip:alice@localhost>;tag=a1\r\n"
         "To: <sip:bob@127.0.0.2:5070>\r\n"
         "Call-ID: " +
         kInsideCallId +
         "\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:alice@127.0.0.1:5062;ob>;+sip.instance=\"<urn:uuid:0001>\";reg-id=1;"
         "expires=60\r\n"
         "Content-Length: 0\r\n\r\n";
}

std::string bob_invite() {
  return std::string(
             "INVITE sip:alice@localhost SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bKbob1\r\n"
             "Max-Forwards: 70\r\n"
             "From: <sip:bob@127.0.0.2>;tag=b7\r\n"
             "To: <sip:alice@localhost>\r\n"
             "Call-ID: ") +
         kOutsideCallId +
         "\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:bob@127.0.0.2:5070>\r\n"
         "Content-Length: 0\r\n\r\n";
}

/// A UAS's 200 to `request` with To tag `tag` and its Record-Route set (RFC 3261 s.12.1.1).
Message answer(const Message& request, std::string_view tag) {
  Message ok = sip::make_response(request, 200);
  ok.set_to_tag(tag);
  for (const auto* rr : request.find_all(HeaderId::RecordRoute)) {
    ok.append(HeaderId::RecordRoute, std::string(rr->value));
  }
  return ok;
}

/// Sends alice's INVITE (from the inside proxy) straight to bob's address: the request
/// processors of this test add no targets, so the Request-URI is the target.
class TopologyHidingTest : public ::testing::Test {
 protected:
  TopologyHidingTest()
      : resolver(timers),
        hiding(std::make_shared<const TopologyHiding>(kSecret,
                                                      std::vector<IpAddress>{ip("127.0.0.2")})),
        core(timers, domains, net, resolver, ProxyConfig{"sipws/0.1", kSecret, true}) {
    domains.add_domain("localhost");
    domains.add_alias("127.0.0.1");
    core.attach(txns, wire);
    core.set_topology_hiding(hiding);
  }

  void receive(const std::string& text, const Source& src) {
    auto m = sip::parse(text);
    ASSERT_TRUE(m.has_value()) << m.error().reason << "\n" << text;
    txns.receive(*m, src);
  }
  void receive(const Message& m, const Source& src) { receive(m.serialize(), src); }

  /// The next request on the wire (100 Trying skipped).
  Sent next_request() {
    while (!wire.sent.empty() && wire.sent.front().msg.is_response() &&
           wire.sent.front().msg.status() == 100) {
      wire.sent.pop_front();
    }
    return wire.pop();
  }

  /// An in-dialog request from `src` with `ruri`, `route`, `call_id` and tags, fresh branch.
  std::string in_dialog(const std::string& method, const std::string& ruri, const std::string& via,
                        const std::string& route, const std::string& from, const std::string& to,
                        const std::string& call_id, int cseq) {
    static int n = 0;
    std::string m = method + " " + ruri + " SIP/2.0\r\nVia: " + via + ";branch=z9hG4bKdlg" +
                    std::to_string(++n) + "\r\nMax-Forwards: 70\r\n";
    if (!route.empty()) m += "Route: " + route + "\r\n";
    m += "From: " + from + "\r\nTo: " + to + "\r\nCall-ID: " + call_id +
         "\r\nCSeq: " + std::to_string(cseq) + " " + method + "\r\nContent-Length: 0\r\n\r\n";
    return m;
  }

  ManualTimerService timers;
  Domains domains;
  test::LoopbackNetwork net;
  test::NoNamesResolver resolver;
  Wire wire;
  std::shared_ptr<const TopologyHiding> hiding;
  ProxyCore core;
  sip::txn::TransactionLayer txns{timers, wire, core};
};

// ---------------------------------------------------------------- the building blocks

TEST(TopologyHidingRules, CallIdFlipsBothWaysAndShowsNothingOfTheOriginal) {
  const TopologyHiding th(kSecret, {ip("127.0.0.2")});
  const std::string masked = th.flip_call_id(kInsideCallId);
  EXPECT_TRUE(masked.starts_with(kMaskedCallIdPrefix)) << masked;
  EXPECT_EQ(masked.find("10.9.9.9"), std::string::npos);
  EXPECT_EQ(th.flip_call_id(masked), kInsideCallId);
  EXPECT_EQ(th.flip_call_id(kInsideCallId), masked) << "deterministic: one dialog, one Call-ID";
  // A Call-ID that merely looks masked (another key, altered) is masked, not "unmasked".
  const TopologyHiding other("another-secret-0123456789abcdef", {});
  const std::string foreign = other.flip_call_id(kInsideCallId);
  EXPECT_NE(th.flip_call_id(foreign), kInsideCallId);
  EXPECT_EQ(th.flip_call_id(th.flip_call_id(foreign)), foreign);
  std::string altered = masked;
  altered.back() = altered.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(th.flip_call_id(th.flip_call_id(altered)), altered);
}

TEST(TopologyHidingRules, ContactTokenSealsTheUriAndTheRoute) {
  const TopologyHiding th(kSecret, {});
  const TopologyHiding::InsideTarget t{"sip:alice@127.0.0.1:5062;ob",
                                       {"<sip:10.9.9.9;lr>", "<sip:10.9.9.8;lr>"}};
  const std::string user = th.contact_user(t);
  EXPECT_TRUE(user.starts_with(kContactTokenPrefix)) << user;
  EXPECT_EQ(user.find("alice"), std::string::npos);
  auto back = th.inside_target(user);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->uri, t.uri);
  EXPECT_EQ(back->route, t.route);
  auto bare = th.inside_target(th.contact_user({"sip:x@192.0.2.1", {}}));
  ASSERT_TRUE(bare.has_value());
  EXPECT_TRUE(bare->route.empty());
  // Refused: altered, another key's, a masked Call-ID passed off as a token, junk.
  std::string altered = user;
  altered[altered.size() / 2] = altered[altered.size() / 2] == 'x' ? 'y' : 'x';
  EXPECT_FALSE(th.inside_target(altered).has_value());
  EXPECT_FALSE(TopologyHiding("another-secret-0123456789abcdef", {}).inside_target(user));
  std::string call_id_as_token(kContactTokenPrefix);
  call_id_as_token += th.flip_call_id("x").substr(kMaskedCallIdPrefix.size());
  EXPECT_FALSE(th.inside_target(call_id_as_token).has_value());
  EXPECT_FALSE(th.inside_target("sw-c").has_value());
  EXPECT_FALSE(th.inside_target("sw-c!!!").has_value());
  EXPECT_FALSE(th.inside_target("alice").has_value());
}

TEST(TopologyHidingRules, HidesPeersByAddressIpv4MappedToo) {
  const TopologyHiding th(kSecret, {ip("127.0.0.2"), ip("2001:db8::9")});
  EXPECT_TRUE(th.hides(ip("127.0.0.2")));
  EXPECT_TRUE(th.hides(ip("::ffff:127.0.0.2")));
  EXPECT_TRUE(th.hides(ip("2001:db8::9")));
  EXPECT_FALSE(th.hides(ip("127.0.0.1")));
  EXPECT_TRUE(TopologyHiding(kSecret, {}).empty());
}

// ---------------------------------------------------------------- a call from inside

TEST_F(TopologyHidingTest, InsideCallerToHiddenPeerShowsOnlySipwsAndWorksBothWays) {
  receive(alice_invite(), alice_via_proxy());
  Sent out = next_request();
  ASSERT_TRUE(out.msg.is_request());
  EXPECT_EQ(out.dest.endpoint, (Endpoint{ip("127.0.0.2"), 5070}));
  expect_nothing_inside(out.msg);
  EXPECT_EQ(out.msg.count(HeaderId::Via), 1u);
  EXPECT_TRUE(out.msg.top_via().branch().starts_with("z9hG4bK"));
  const auto rr = out.msg.find_all(HeaderId::RecordRoute);
  ASSERT_EQ(rr.size(), 1u);
  EXPECT_TRUE(rr[0]->value.starts_with("<sip:127.0.0.1:5060;lr")) << rr[0]->value;
  EXPECT_TRUE(out.msg.call_id().starts_with(kMaskedCallIdPrefix));
  const auto contact = sip::parse_name_addr(out.msg.find(HeaderId::Contact)->value);
  ASSERT_TRUE(contact.has_value());
  EXPECT_TRUE(contact->uri.user.starts_with(kContactTokenPrefix));
  EXPECT_EQ(contact->uri.host, "127.0.0.1");
  EXPECT_EQ(contact->uri.port, 5060);
  ASSERT_EQ(contact->params.size(), 1u) << "instance and reg-id go, expires stays";
  EXPECT_EQ(contact->params[0].name, "expires");

  // bob answers: alice gets her own Vias, Call-ID and the whole Record-Route set back.
  Message ok = answer(out.msg, "b1");
  ok.append(HeaderId::Contact, "<sip:bob@127.0.0.2:5070>");
  receive(ok, bob_source());
  Sent back = wire.pop();
  ASSERT_EQ(back.msg.status(), 200);
  EXPECT_EQ(back.dest.endpoint, alice_via_proxy().peer);
  EXPECT_EQ(back.msg.call_id(), kInsideCallId);
  const auto vias = back.msg.find_all(HeaderId::Via);
  ASSERT_EQ(vias.size(), 2u);
  EXPECT_TRUE(vias[0]->value.starts_with("SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKproxy1"));
  EXPECT_TRUE(vias[1]->value.starts_with("SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKalice1"));
  const auto back_rr = back.msg.find_all(HeaderId::RecordRoute);
  ASSERT_EQ(back_rr.size(), 2u);
  EXPECT_EQ(back_rr[0]->value, rr[0]->value);
  EXPECT_EQ(back_rr[1]->value, kInsideRr);
  EXPECT_EQ(back.msg.find(HeaderId::Contact)->value, "<sip:bob@127.0.0.2:5070>");
  wire.sent.clear();

  // bob hangs up along his route set: reaches alice through the inside proxy, in her terms.
  const std::string our_rr(rr[0]->value);
  receive(in_dialog("BYE", std::string(contact->uri.raw), "SIP/2.0/UDP 127.0.0.2:5070", our_rr,
                    "<sip:bob@127.0.0.2:5070>;tag=b1", "<sip:alice@localhost>;tag=a1",
                    std::string(out.msg.call_id()), 1),
          bob_source());
  Sent bye_in = next_request();
  ASSERT_TRUE(bye_in.msg.is_request());
  EXPECT_EQ(bye_in.dest.endpoint, (Endpoint{ip("10.9.9.9"), 5060}));
  EXPECT_EQ(bye_in.msg.request_uri().raw, "sip:alice@127.0.0.1:5062;ob");
  EXPECT_EQ(bye_in.msg.call_id(), kInsideCallId);
  ASSERT_NE(bye_in.msg.find(HeaderId::Route), nullptr);
  EXPECT_EQ(bye_in.msg.find(HeaderId::Route)->value, kInsideRr);
  EXPECT_EQ(bye_in.msg.count(HeaderId::Via), 2u) << "bob's Via stays: it is his own";
  wire.sent.clear();

  // alice's re-INVITE the other way: masked again, her Vias and Contact hidden.
  receive(in_dialog("INVITE", "sip:bob@127.0.0.2:5070",
                    "SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKp2\r\nVia: SIP/2.0/UDP 127.0.0.1:5062",
                    our_rr, "<sip:alice@localhost>;tag=a1", "<sip:bob@127.0.0.2:5070>;tag=b1",
                    kInsideCallId, 2),
          alice_via_proxy());
  Sent reinvite = next_request();
  ASSERT_TRUE(reinvite.msg.is_request());
  EXPECT_EQ(reinvite.dest.endpoint, (Endpoint{ip("127.0.0.2"), 5070}));
  EXPECT_EQ(reinvite.msg.call_id(), out.msg.call_id());
  EXPECT_EQ(reinvite.msg.count(HeaderId::Via), 1u);
  expect_nothing_inside(reinvite.msg);
}

TEST_F(TopologyHidingTest, CancelToTheHiddenPeerNamesTheMaskedCall) {
  receive(alice_invite(), alice_via_proxy());
  Sent out = next_request();
  Message ringing = sip::make_response(out.msg, 180);
  ringing.set_to_tag("b1");
  receive(ringing, bob_source());
  Sent relayed = wire.pop();
  ASSERT_EQ(relayed.msg.status(), 180);
  EXPECT_EQ(relayed.msg.call_id(), kInsideCallId);
  wire.sent.clear();
  Message cancel = sip::make_cancel(*sip::parse(alice_invite()));
  receive(cancel, alice_via_proxy());
  Sent c;
  for (auto& s : wire.sent) {
    if (s.msg.is_request() && s.msg.method() == sip::Method::Cancel) c = s;
  }
  ASSERT_TRUE(c.msg.is_request());
  EXPECT_EQ(c.dest.endpoint, (Endpoint{ip("127.0.0.2"), 5070}));
  EXPECT_EQ(c.msg.call_id(), out.msg.call_id());
  EXPECT_EQ(c.msg.top_via().branch(), out.msg.top_via().branch());
  expect_nothing_inside(c.msg);
}

// ---------------------------------------------------------------- a call from the hidden peer

TEST_F(TopologyHidingTest, HiddenCallerGetsAnswersThatShowOnlySipws) {
  // bob calls alice at her address (no registrar in this test: the Request-URI is hers).
  std::string inv = bob_invite();
  inv.replace(inv.find("sip:alice@localhost SIP"), 23, "sip:alice@10.9.9.9 SIP");
  receive(inv, bob_source());
  Sent in = next_request();
  ASSERT_TRUE(in.msg.is_request());
  EXPECT_EQ(in.dest.endpoint, (Endpoint{ip("10.9.9.9"), 5060}));
  const std::string inside_call_id(in.msg.call_id());
  EXPECT_TRUE(inside_call_id.starts_with(kMaskedCallIdPrefix)) << "the inside knows it masked";
  EXPECT_EQ(in.msg.count(HeaderId::Via), 2u) << "bob's Via is not hidden from the inside";

  // alice answers through the inside proxy, which Record-Routes above ours.
  Message ok = answer(in.msg, "a1");
  ok.push_front(HeaderId::RecordRoute, kInsideRr);
  ok.append(HeaderId::Contact, "<sip:alice@127.0.0.1:5062>;+sip.instance=\"<urn:uuid:0001>\"");
  receive(ok, alice_via_proxy());
  Sent back = wire.pop();
  ASSERT_EQ(back.msg.status(), 200);
  EXPECT_EQ(back.dest.endpoint, bob_source().peer);
  expect_nothing_inside(back.msg);
  EXPECT_EQ(back.msg.call_id(), kOutsideCallId);
  const auto rr = back.msg.find_all(HeaderId::RecordRoute);
  ASSERT_EQ(rr.size(), 1u);
  EXPECT_TRUE(rr[0]->value.starts_with("<sip:127.0.0.1:5060;lr"));
  const auto contact = sip::parse_name_addr(back.msg.find(HeaderId::Contact)->value);
  ASSERT_TRUE(contact.has_value());
  EXPECT_TRUE(contact->uri.user.starts_with(kContactTokenPrefix));
  wire.sent.clear();

  // bob's BYE to that Contact reaches alice through the inside proxy, with the inside Call-ID.
  receive(in_dialog("BYE", std::string(contact->uri.raw), "SIP/2.0/UDP 127.0.0.2:5070",
                    std::string(rr[0]->value), "<sip:bob@127.0.0.2>;tag=b7",
                    "<sip:alice@localhost>;tag=a1", kOutsideCallId, 2),
          bob_source());
  Sent bye = next_request();
  ASSERT_TRUE(bye.msg.is_request());
  EXPECT_EQ(bye.dest.endpoint, (Endpoint{ip("10.9.9.9"), 5060}));
  EXPECT_EQ(bye.msg.request_uri().raw, "sip:alice@127.0.0.1:5062");
  EXPECT_EQ(bye.msg.call_id(), inside_call_id);
  EXPECT_EQ(bye.msg.find(HeaderId::Route)->value, kInsideRr);
  Message bye_ok = sip::make_response(bye.msg, 200);
  wire.sent.clear();
  receive(bye_ok, alice_via_proxy());
  Sent bye_back = wire.pop();
  EXPECT_EQ(bye_back.msg.status(), 200);
  EXPECT_EQ(bye_back.msg.call_id(), kOutsideCallId);
  expect_nothing_inside(bye_back.msg);
}

TEST_F(TopologyHidingTest, ResponsesSipwsMakesForTheHiddenPeerCarryItsCallId) {
  std::string inv = bob_invite();
  inv.replace(inv.find("Max-Forwards: 70"), 16, "Max-Forwards: 0");
  inv.replace(inv.find("sip:alice@localhost SIP"), 23, "sip:alice@10.9.9.9 SIP");
  receive(inv, bob_source());
  ASSERT_FALSE(wire.sent.empty());
  Sent r = wire.sent.back();
  EXPECT_EQ(r.msg.status(), 483);
  EXPECT_EQ(r.msg.call_id(), kOutsideCallId);
}

// ---------------------------------------------------------------- what an attacker can send

TEST_F(TopologyHidingTest, ForgedContactTokenFromTheHiddenPeerGoesNowhereInside) {
  receive(alice_invite(), alice_via_proxy());
  Sent out = next_request();
  receive(answer(out.msg, "b1"), bob_source());
  wire.sent.clear();
  const std::string our_rr(out.msg.find(HeaderId::RecordRoute)->value);
  // A token altered by one character: not opened, so the Request-URI stays sipws's own.
  const auto contact = sip::parse_name_addr(out.msg.find(HeaderId::Contact)->value);
  std::string forged(contact->uri.raw);
  forged[10] = forged[10] == 'x' ? 'y' : 'x';
  receive(in_dialog("BYE", forged, "SIP/2.0/UDP 127.0.0.2:5070", our_rr,
                    "<sip:bob@127.0.0.2:5070>;tag=b1", "<sip:alice@localhost>;tag=a1",
                    std::string(out.msg.call_id()), 1),
          bob_source());
  ASSERT_FALSE(wire.sent.empty());
  for (const auto& s : wire.sent) {
    EXPECT_TRUE(s.msg.is_response()) << "forwarded:\n" << s.msg.serialize();
    EXPECT_EQ(s.dest.endpoint, bob_source().peer);
  }
  EXPECT_EQ(wire.sent.back().msg.status(), 404) << wire.sent.back().msg.serialize();
}

TEST_F(TopologyHidingTest, ContactTokenFromAPeerThatIsNotHiddenIsNotOpened) {
  receive(alice_invite(), alice_via_proxy());
  Sent out = next_request();
  const auto contact = sip::parse_name_addr(out.msg.find(HeaderId::Contact)->value);
  wire.sent.clear();
  // Someone else (127.0.0.3, not hidden) sends the token it learnt: no inside target for it.
  const Source stranger{Protocol::Udp, {ip("127.0.0.3"), 5080}, {ip("127.0.0.1"), 5060}, kNoFlow};
  receive(in_dialog("OPTIONS", std::string(contact->uri.raw), "SIP/2.0/UDP 127.0.0.3:5080", "",
                    "<sip:eve@127.0.0.3>;tag=e1", "<sip:alice@localhost>", "eve-1", 1),
          stranger);
  ASSERT_FALSE(wire.sent.empty());
  for (const auto& s : wire.sent) {
    EXPECT_TRUE(s.msg.is_response()) << "forwarded:\n" << s.msg.serialize();
  }
  EXPECT_EQ(wire.sent.back().msg.status(), 404) << wire.sent.back().msg.serialize();
}

TEST_F(TopologyHidingTest, WithoutHidingThePeerSeesTheInsideAsBefore) {
  core.set_topology_hiding(nullptr);
  receive(alice_invite(), alice_via_proxy());
  Sent out = next_request();
  EXPECT_EQ(out.msg.call_id(), kInsideCallId);
  EXPECT_EQ(out.msg.count(HeaderId::Via), 3u);
  EXPECT_EQ(out.msg.count(HeaderId::RecordRoute), 2u);
}

}  // namespace
}  // namespace sipws::proxy
