// uri-scheme (RFC 3261 s.16.3 step 2).

#include "proxy/uri_scheme.hpp"

#include <gtest/gtest.h>

#include "processor_fixture.hpp"

namespace sipws::proxy {
namespace {

using test::context;
using test::request;

TEST(UriScheme, AnOtherSchemeGets416) {
  UriSchemeProcessor p;
  auto ctx = context(request("INVITE", "mailto:bob@example.com"));
  ASSERT_EQ(p.process(*ctx), Action::Respond);
  ASSERT_TRUE(ctx->response());
  EXPECT_EQ(ctx->response()->status(), 416);
  EXPECT_EQ(ctx->response()->reason(), "Unsupported URI Scheme");
}

TEST(UriScheme, SipSipsAndTelContinue) {
  UriSchemeProcessor p;
  for (const char* uri : {"sip:bob@localhost", "sips:bob@localhost", "tel:+15551230001"}) {
    auto ctx = context(request("INVITE", uri));
    EXPECT_EQ(p.process(*ctx), Action::Continue) << uri;
    EXPECT_FALSE(ctx->response()) << uri;
  }
}

}  // namespace
}  // namespace sipws::proxy
