// A listener bound to a wildcard address (issue 14): what the proxy core writes for itself
// (Via sent-by, Record-Route) is the host address each side can reach, never 0.0.0.0: toward
// the caller the address its request came to (IP_PKTINFO, Source::local), toward the callee the
// address the route to it leaves from (NetworkView::source_address_for), and a datagram leaves
// from what its Via names (Destination::local). An `advertise` keeps precedence.

#include <gtest/gtest.h>

#include <map>

#include "proxy/proxy_core.hpp"
#include "sip/parser.hpp"
#include "wire.hpp"

namespace sipws::proxy {
namespace {

using sip::HeaderId;
using test::Sent;

IpAddress ip(const char* s) { return boost::asio::ip::make_address(s); }

/// One UDP listener on 0.0.0.0:5060 (advertising `advertised`) on a host with an inside
/// address 10.200.0.1 (route to 10.200.0.0/24) and an outside one 10.201.0.1 (to the rest).
class TwoHomedNetwork final : public NetworkView {
 public:
  explicit TwoHomedNetwork(std::string advertised = "0.0.0.0") {
    lps_.push_back({Protocol::Udp, {ip("0.0.0.0"), 5060}, std::move(advertised)});
  }
  const std::vector<ListenPoint>& listen_points() const override { return lps_; }
  bool flow_alive(FlowId) const override { return false; }
  std::optional<Endpoint> flow_peer(FlowId) const override { return std::nullopt; }
  std::optional<Protocol> flow_protocol(FlowId) const override { return std::nullopt; }
  std::optional<IpAddress> source_address_for(const IpAddress& peer) const override {
    ++lookups;
    const auto b = peer.to_v4().to_bytes();
    return b[0] == 10 && b[1] == 200 ? ip("10.200.0.1") : ip("10.201.0.1");
  }
  mutable int lookups = 0;

 private:
  std::vector<ListenPoint> lps_;
};

/// Adds the target sip:bob@192.0.2.7:5070 to requests for bob@example.com.
class BobOutside final : public RequestProcessor {
 public:
  std::string_view name() const override { return "bob-outside"; }
  Action process(RequestContext& ctx) override {
    Target t;
    t.uri = "sip:bob@192.0.2.7:5070";
    ctx.targets().push_back(t);
    return Action::Continue;
  }
};

std::string invite_from_inside() {
  return "INVITE sip:bob@example.com SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 10.200.0.9:5062;branch=z9hG4bKw1\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:alice@example.com>;tag=a1\r\n"
         "To: <sip:bob@example.com>\r\n"
         "Call-ID: wild-1@test\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:alice@10.200.0.9:5062>\r\n"
         "Content-Length: 0\r\n\r\n";
}

class WildcardTest : public ::testing::Test {
 protected:
  explicit WildcardTest(std::string advertised = "0.0.0.0")
      : net(std::move(advertised)),
        core(timers, domains, net, resolver,
             ProxyConfig{"sipws/0.1", "wildcard-secret-0123456", true}) {
    domains.add_domain("example.com");
    core.add_request_processor(std::make_unique<BobOutside>());
    core.attach(txns, wire);
  }
  /// Alice's INVITE, sent to 10.200.0.1:5060 from 10.200.0.9:5062; returns what was forwarded.
  Sent forward_invite() {
    auto m = sip::parse(invite_from_inside());
    EXPECT_TRUE(m.has_value());
    txns.receive(
        *m, Source{Protocol::Udp, {ip("10.200.0.9"), 5062}, {ip("10.200.0.1"), 5060}, kNoFlow});
    EXPECT_EQ(wire.pop().msg.status(), 100);
    return wire.pop();
  }

  class NoResolver final : public Resolver {
    void resolve(const std::string&, std::function<void(std::optional<IpAddress>)> done) override {
      done(std::nullopt);
    }
  };
  ManualTimerService timers;
  Domains domains;
  TwoHomedNetwork net;
  NoResolver resolver;
  test::Wire wire;
  ProxyCore core;
  sip::txn::TransactionLayer txns{timers, wire, core};
};

TEST_F(WildcardTest, EachSideSeesTheAddressItCanReach) {
  const Sent fwd = forward_invite();
  ASSERT_TRUE(fwd.msg.is_request());
  EXPECT_EQ(fwd.dest.endpoint, (Endpoint{ip("192.0.2.7"), 5070}));
  // Leaves from the outside address, which its Via names.
  EXPECT_EQ(fwd.dest.local, (Endpoint{ip("10.201.0.1"), 5060}));
  EXPECT_EQ(fwd.msg.top_via().host, "10.201.0.1");
  EXPECT_EQ(fwd.msg.top_via().port, 5060);
  // Two Record-Routes: the callee's side first (it routes its requests to the top one).
  const auto rr = fwd.msg.find_all(HeaderId::RecordRoute);
  ASSERT_EQ(rr.size(), 2u);
  EXPECT_TRUE(rr[0]->value.starts_with("<sip:10.201.0.1:5060;lr")) << rr[0]->value;
  EXPECT_TRUE(rr[1]->value.starts_with("<sip:10.200.0.1:5060;lr")) << rr[1]->value;
  for (const auto& h : fwd.msg.find_all(HeaderId::Via)) {
    EXPECT_EQ(h->value.find("0.0.0.0"), std::string::npos) << h->value;
  }
}

TEST_F(WildcardTest, TheCallerGetsItsAnswersFromTheAddressItSentTo) {
  const Sent fwd = forward_invite();
  sip::Message rsp = sip::make_response(fwd.msg, 180);
  rsp.set_to_tag("b1");
  auto m = sip::parse(rsp.serialize());
  ASSERT_TRUE(m.has_value());
  txns.receive(*m,
               Source{Protocol::Udp, {ip("192.0.2.7"), 5070}, {ip("10.201.0.1"), 5060}, kNoFlow});
  const Sent ringing = wire.pop();
  EXPECT_EQ(ringing.msg.status(), 180);
  EXPECT_EQ(ringing.dest.endpoint, (Endpoint{ip("10.200.0.9"), 5062}));
  EXPECT_EQ(ringing.dest.local, (Endpoint{ip("10.200.0.1"), 5060}));
}

class AdvertisedWildcardTest : public WildcardTest {
 protected:
  AdvertisedWildcardTest() : WildcardTest("sip.example.net") {}
};

TEST_F(AdvertisedWildcardTest, AnAdvertisedNameIsWrittenOnBothSides) {
  const Sent fwd = forward_invite();
  EXPECT_EQ(fwd.msg.top_via().host, "sip.example.net");
  EXPECT_EQ(fwd.dest.local, (Endpoint{ip("10.201.0.1"), 5060}));  // still sent from there
  for (const auto* h : fwd.msg.find_all(HeaderId::RecordRoute)) {
    EXPECT_TRUE(h->value.starts_with("<sip:sip.example.net:5060;lr")) << h->value;
  }
}

}  // namespace
}  // namespace sipws::proxy
