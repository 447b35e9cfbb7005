// in-dialog: requests with a To tag skip the policy chain along our signed Record-Route.

#include "proxy/in_dialog.hpp"

#include <gtest/gtest.h>

#include "processor_fixture.hpp"

namespace sipws::proxy {
namespace {

using test::context;
using test::counter;
using test::request;

struct InDialogTest : ::testing::Test {
  InDialogTest() { domains.add_domain("localhost"); }
  std::unique_ptr<RequestContext> bye(int ours, bool signed_ok,
                                      const std::string& ruri = "sip:bob@192.0.2.7") {
    auto ctx = context(request("BYE", ruri, "", "b1"));
    ctx->own_routes().count = ours;
    ctx->own_routes().signed_ok = signed_ok;
    return ctx;
  }
  Domains domains;
  test::LoopbackNetwork net;
  InDialogProcessor strict{domains, net, true};
  InDialogProcessor open{domains, net, false};
};

TEST_F(InDialogTest, AlongOurSignedRouteItSkipsThePolicyChain) {
  auto ctx = bye(1, true);
  EXPECT_EQ(strict.process(*ctx), Action::SkipChain);
  EXPECT_FALSE(ctx->response());
}

TEST_F(InDialogTest, AForgedSignatureGets403AndIsCounted) {
  const auto before = counter("proxy_forged_routes");
  auto ctx = bye(2, false);
  ASSERT_EQ(strict.process(*ctx), Action::Respond);
  EXPECT_EQ(ctx->response()->status(), 403);
  EXPECT_EQ(ctx->response()->reason(), "Forbidden - Invalid Record-Route Signature");
  EXPECT_EQ(counter("proxy_forged_routes"), before + 1);
}

TEST_F(InDialogTest, NoRouteOfOursGets403OrWhenAddressedToUs404) {
  const auto before = counter("proxy_unrouted_in_dialog");
  auto elsewhere = bye(0, true);
  ASSERT_EQ(strict.process(*elsewhere), Action::Respond);
  EXPECT_EQ(elsewhere->response()->status(), 403);
  auto to_us = bye(0, true, "sip:bob@127.0.0.1:5060");
  ASSERT_EQ(strict.process(*to_us), Action::Respond);
  EXPECT_EQ(to_us->response()->status(), 404);
  EXPECT_EQ(counter("proxy_unrouted_in_dialog"), before + 2);
}

TEST_F(InDialogTest, WithoutStrictDialogsAnyInDialogRequestSkipsTheChain) {
  auto ctx = bye(0, true);
  EXPECT_EQ(open.process(*ctx), Action::SkipChain);
}

TEST_F(InDialogTest, AnInitialRequestContinues) {
  auto ctx = context(request("INVITE", "sip:bob@192.0.2.7"));
  EXPECT_EQ(strict.process(*ctx), Action::Continue);
}

}  // namespace
}  // namespace sipws::proxy
