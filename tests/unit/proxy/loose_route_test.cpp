// loose-route (RFC 3261 s.16.4): our Route entries removed, their signatures and flow tokens.

#include "proxy/loose_route.hpp"

#include <gtest/gtest.h>

#include "processor_fixture.hpp"

namespace sipws::proxy {
namespace {

using test::context;
using test::request;

struct LooseRouteTest : ::testing::Test {
  LooseRouteTest() { domains.add_domain("localhost"); }
  /// A Record-Route value of ours on UDP 127.0.0.1:5060, signed for the fixture's dialog
  /// (Call-ID c1@test, From tag a1) unless `signature` is given.
  std::string ours(FlowId flow = kNoFlow, std::optional<std::string> signature = {}) const {
    return make_record_route(net.listen_points().front(), flow, false,
                             signature.value_or(signer.sign("c1@test", "a1")));
  }
  Domains domains;
  test::LoopbackNetwork net;
  RouteSigner signer{"a test key of 16+ bytes"};
  LooseRouteProcessor p{domains, net, signer};
};

TEST_F(LooseRouteTest, OurSignedTopRouteIsRemovedAndTheNextOneKept) {
  auto ctx = context(request("BYE", "sip:bob@192.0.2.7",
                             "Route: " + ours() + "\r\nRoute: <sip:192.0.2.9;lr>\r\n", "b1"));
  EXPECT_EQ(p.process(*ctx), Action::Continue);
  const auto routes = ctx->request().find_all(sip::HeaderId::Route);
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0]->value, "<sip:192.0.2.9;lr>");
  EXPECT_EQ(ctx->own_routes().count, 1);
  EXPECT_TRUE(ctx->own_routes().signed_ok);
  EXPECT_EQ(ctx->own_routes().flow, kNoFlow);
}

TEST_F(LooseRouteTest, AForgedSignatureIsRemovedButMarked) {
  auto ctx = context(request("BYE", "sip:bob@192.0.2.7",
                             "Route: " + ours(kNoFlow, "0123456789abcdef") + "\r\n", "b1"));
  EXPECT_EQ(p.process(*ctx), Action::Continue);
  EXPECT_EQ(ctx->request().count(sip::HeaderId::Route), 0u);
  EXPECT_EQ(ctx->own_routes().count, 1);
  EXPECT_FALSE(ctx->own_routes().signed_ok);
}

TEST_F(LooseRouteTest, AForeignTopRouteIsLeftAlone) {
  auto ctx = context(request("INVITE", "sip:bob@192.0.2.7", "Route: <sip:192.0.2.9;lr>\r\n"));
  EXPECT_EQ(p.process(*ctx), Action::Continue);
  EXPECT_EQ(ctx->request().count(sip::HeaderId::Route), 1u);
  EXPECT_EQ(ctx->own_routes().count, 0);
}

TEST_F(LooseRouteTest, AFlowTokenNamesTheFlowUnlessItIsTheSendersOwn) {
  const std::string route = "Route: " + ours(42) + "\r\n";
  auto ctx = context(request("BYE", "sip:bob@192.0.2.7", route, "b1"));
  p.process(*ctx);
  EXPECT_EQ(ctx->own_routes().flow, 42u);
  auto from_that_flow =
      context(request("BYE", "sip:bob@192.0.2.7", route, "b1"), test::udp_source(42));
  p.process(*from_that_flow);
  EXPECT_EQ(from_that_flow->own_routes().flow, kNoFlow);
  EXPECT_EQ(from_that_flow->own_routes().count, 1);
}

TEST_F(LooseRouteTest, AStrictRoutersRequestUriOfOursTakesTheLastRoute) {
  std::string rr = ours(42);
  const std::string uri = rr.substr(1, rr.size() - 2);  // without <>
  auto ctx = context(request(
      "BYE", uri, "Route: <sip:192.0.2.9;lr>\r\nRoute: <sip:bob@192.0.2.7:5070>\r\n", "b1"));
  EXPECT_EQ(p.process(*ctx), Action::Continue);
  EXPECT_EQ(ctx->request().request_uri().raw, "sip:bob@192.0.2.7:5070");
  const auto routes = ctx->request().find_all(sip::HeaderId::Route);
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0]->value, "<sip:192.0.2.9;lr>");
  EXPECT_EQ(ctx->own_routes().flow, 42u);
  EXPECT_EQ(ctx->own_routes().count, 1);
  EXPECT_TRUE(ctx->own_routes().signed_ok);
}

}  // namespace
}  // namespace sipws::proxy
