// The registrar and the location lookup inside the real ProxyCore and transaction layer, as the
// daemon wires them: a browser registers over WebSocket, a UDP phone calls it, the flow closes.
// The wire is an in-memory Sender; time is a ManualTimerService.

#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "proxy/proxy_core.hpp"
#include "registrar/location.hpp"
#include "registrar/lookup.hpp"
#include "registrar/registrar.hpp"
#include "registrar_test_util.hpp"
#include "sip/txn/transaction_layer.hpp"

namespace sipws::registrar {
namespace {

using sip::HeaderId;
using sip::Message;
using test::Network;
using test::Sent;
using test::WireSender;

class NoResolver final : public proxy::Resolver {
 public:
  void resolve(const std::string&, std::function<void(std::optional<IpAddress>)> done) override {
    done(std::nullopt);
  }
};

std::string browser_register(int cseq) {
  return "REGISTER sip:example.com SIP/2.0\r\n"
         "Via: SIP/2.0/WS abcdefgh.invalid;branch=z9hG4bKbr" +
         std::to_string(cseq) +
         "\r\n"
         "Max-Forwards: 69\r\n"
         "To: <sip:alice@example.com>\r\n"
         "From: <sip:alice@example.com>;tag=9o3s6mc7qk\r\n"
         "Call-ID: mhcvd7lkq0dhb6ue3evn3i\r\n"
         "CSeq: " +
         std::to_string(cseq) +
         " REGISTER\r\n"
         "Contact: <sip:h7kjh12s@abcdefgh.invalid;transport=ws>;+sip.ice;reg-id=1;"
         "+sip.instance=\"<urn:uuid:6c8b3bd8-5e52-4e5b-9a3c-2f3c8f1a1a11>\";expires=600\r\n"
         "Expires: 600\r\n"
         "Supported: path,gruu,outbound\r\n"
         "Content-Length: 0\r\n\r\n";
}

std::string phone_invite(const std::string& call_id, const std::string& branch) {
  return "INVITE sip:alice@example.com SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 192.0.2.20:5062;branch=" +
         branch +
         "\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:bob@example.com>;tag=b1\r\n"
         "To: <sip:alice@example.com>\r\n"
         "Call-ID: " +
         call_id +
         "\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:bob@192.0.2.20:5062>\r\n"
         "Content-Length: 0\r\n\r\n";
}

class ProxyChain : public ::testing::Test {
 protected:
  ProxyChain() : core(timers, domains, net, resolver) {
    domains.add_domain("example.com");
    domains.add_alias("127.0.0.1");
    core.attach(txns, wire);
    core.add_request_processor(std::make_unique<RegistrarProcessor>(domains, location));
    core.add_request_processor(std::make_unique<LocationLookupProcessor>(domains, location));
    net.flows[7] = browser.peer;
    net.protocols[5] = Protocol::Tcp;  // the tests' TCP flow
  }
  void receive(const std::string& text, const Source& src) {
    auto m = sip::parse(text);
    ASSERT_TRUE(m.has_value()) << m.error().reason;
    txns.receive(*m, src);
  }

  ManualTimerService timers;
  proxy::Domains domains;
  Network net;
  NoResolver resolver;
  WireSender wire;
  LocationService location{timers, nullptr};
  proxy::ProxyCore core;
  sip::txn::TransactionLayer txns{timers, wire, core};
  Source browser = test::source(Protocol::Ws, "198.51.100.7", 52000, 7);
  Source phone = test::source(Protocol::Udp, "192.0.2.20", 5062, kNoFlow);
};

TEST_F(ProxyChain, BrowserRegistersPhoneCallsItOverItsFlow) {
  receive(browser_register(1), browser);
  Sent ok = wire.pop();
  ASSERT_EQ(ok.msg.status(), 200);
  EXPECT_EQ(ok.dest.flow, 7u);
  ASSERT_NE(ok.msg.find(HeaderId::Contact), nullptr);
  EXPECT_NE(ok.msg.find(HeaderId::Contact)->value.find("reg-id=1"), std::string_view::npos);

  receive(phone_invite("call-1", "z9hG4bKp1"), phone);
  EXPECT_EQ(wire.pop().msg.status(), 100);
  Sent fwd = wire.pop();
  ASSERT_TRUE(fwd.msg.is_request());
  EXPECT_EQ(fwd.msg.method(), sip::Method::Invite);
  EXPECT_EQ(fwd.msg.request_uri().raw, "sip:h7kjh12s@abcdefgh.invalid;transport=ws");
  EXPECT_EQ(fwd.dest.flow, 7u);
  EXPECT_EQ(fwd.dest.protocol, Protocol::Ws);
  EXPECT_EQ(fwd.dest.endpoint, browser.peer);
  EXPECT_TRUE(wire.sent.empty());
}

TEST_F(ProxyChain, ARegisterOverUdpFreesTheProxyContextOnceAnsweredNotAtTimerJ) {
  // The transaction layer alone absorbs retransmissions for 64*T1 (32 s); the proxy's context
  // of a non-INVITE request goes as soon as the final response left.
  Source udp = test::source(Protocol::Udp, "192.0.2.30", 5070, kNoFlow);
  receive(browser_register(1), udp);
  ASSERT_EQ(wire.pop().msg.status(), 200);
  timers.advance(Millis(0));
  EXPECT_EQ(core.active_requests(), 0u);
  receive(browser_register(1), udp);  // a retransmission: the stored 200 again
  EXPECT_EQ(wire.pop().msg.status(), 200);
  EXPECT_TRUE(wire.sent.empty());
  EXPECT_EQ(core.active_requests(), 0u);
}

TEST_F(ProxyChain, ClosedFlowDeregistersTheBrowser) {
  receive(browser_register(1), browser);
  ASSERT_EQ(wire.pop().msg.status(), 200);
  net.flows.erase(7);
  location.on_flow_closed(7);
  receive(phone_invite("call-2", "z9hG4bKp2"), phone);
  EXPECT_EQ(wire.pop().msg.status(), 100);
  Sent rsp = wire.pop();
  EXPECT_EQ(rsp.msg.status(), 480);
  EXPECT_EQ(rsp.dest.endpoint, phone.peer);
}

TEST_F(ProxyChain, UnknownUserIs404) {
  std::string inv = phone_invite("call-3", "z9hG4bKp3");
  inv.replace(inv.find("sip:alice@example.com"), 21, "sip:zoe@example.com");
  receive(inv, phone);
  EXPECT_EQ(wire.pop().msg.status(), 100);
  EXPECT_EQ(wire.pop().msg.status(), 404);
}

}  // namespace
}  // namespace sipws::registrar
