// self-options: OPTIONS addressed to sipws itself (RFC 3261 s.11, s.16.3 step 3).

#include "proxy/self_options.hpp"

#include <gtest/gtest.h>

#include "processor_fixture.hpp"

namespace sipws::proxy {
namespace {

using test::context;
using test::request;

struct SelfOptionsTest : ::testing::Test {
  SelfOptionsTest() { domains.add_domain("localhost"); }
  Domains domains;
  test::LoopbackNetwork net;
  SelfOptionsProcessor p{domains, net};
};

TEST_F(SelfOptionsTest, OptionsToOurAddressGets200WithAllowEvenAtMaxForwardsZero) {
  auto req = request("OPTIONS", "sip:127.0.0.1:5060");
  req.set(sip::HeaderId::MaxForwards, "0");
  auto ctx = context(req);
  ASSERT_EQ(p.process(*ctx), Action::Respond);
  const sip::Message& rsp = *ctx->response();
  EXPECT_EQ(rsp.status(), 200);
  ASSERT_NE(rsp.find(sip::HeaderId::Allow), nullptr);
  EXPECT_NE(rsp.find(sip::HeaderId::Allow)->value.find("REGISTER"), std::string_view::npos);
  ASSERT_NE(rsp.find(sip::HeaderId::Supported), nullptr);
  EXPECT_NE(rsp.find(sip::HeaderId::Supported)->value.find("outbound"), std::string_view::npos);
}

TEST_F(SelfOptionsTest, OptionsToOurDomainWithoutUserGets200) {
  auto ctx = context(request("OPTIONS", "sip:localhost"));
  ASSERT_EQ(p.process(*ctx), Action::Respond);
  EXPECT_EQ(ctx->response()->status(), 200);
}

TEST_F(SelfOptionsTest, OptionsToAUserARouteOrAnotherHostContinue) {
  auto to_user = context(request("OPTIONS", "sip:bob@localhost"));
  EXPECT_EQ(p.process(*to_user), Action::Continue);
  auto routed = context(request("OPTIONS", "sip:127.0.0.1:5060", "Route: <sip:192.0.2.1;lr>\r\n"));
  EXPECT_EQ(p.process(*routed), Action::Continue);
  auto other = context(request("OPTIONS", "sip:192.0.2.1:5060"));
  EXPECT_EQ(p.process(*other), Action::Continue);
  auto invite = context(request("INVITE", "sip:127.0.0.1:5060"));
  EXPECT_EQ(p.process(*invite), Action::Continue);
  EXPECT_FALSE(to_user->response() || routed->response() || other->response() ||
               invite->response());
}

}  // namespace
}  // namespace sipws::proxy
