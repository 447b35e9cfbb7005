// proxy-require (RFC 3261 s.16.3 step 5).

#include "proxy/proxy_require.hpp"

#include <gtest/gtest.h>

#include "processor_fixture.hpp"

namespace sipws::proxy {
namespace {

using test::context;
using test::request;

TEST(ProxyRequire, EveryOptionTagIsListedAsUnsupportedIn420) {
  ProxyRequireProcessor p;
  auto ctx = context(
      request("INVITE", "sip:bob@localhost", "Proxy-Require: foo, bar\r\nProxy-Require: baz\r\n"));
  ASSERT_EQ(p.process(*ctx), Action::Respond);
  const sip::Message& rsp = *ctx->response();
  EXPECT_EQ(rsp.status(), 420);
  EXPECT_EQ(rsp.reason(), "Bad Extension");
  ASSERT_NE(rsp.find(sip::HeaderId::Unsupported), nullptr);
  EXPECT_EQ(rsp.find(sip::HeaderId::Unsupported)->value, "foo, bar, baz");
}

TEST(ProxyRequire, RequireForTheUasContinues) {
  ProxyRequireProcessor p;
  auto ctx = context(request("INVITE", "sip:bob@localhost", "Require: 100rel\r\n"));
  EXPECT_EQ(p.process(*ctx), Action::Continue);
  EXPECT_FALSE(ctx->response());
}

}  // namespace
}  // namespace sipws::proxy
