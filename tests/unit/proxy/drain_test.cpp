// drain: graceful shutdown (shutdown_grace) refuses new requests, lets dialogs go on.

#include "proxy/drain.hpp"

#include <gtest/gtest.h>

#include "processor_fixture.hpp"

namespace sipws::proxy {
namespace {

using test::context;

TEST(Drain, NothingChangesUntilDraining) {
  std::atomic<bool> draining{false};
  Counters reg;
  DrainProcessor p(draining, reg);
  auto ctx = context(test::request("INVITE", "sip:bob@localhost"));
  EXPECT_EQ(p.process(*ctx), Action::Continue);
  EXPECT_FALSE(ctx->response());
  EXPECT_EQ(reg.get("shutdown_refused_requests").value(), 0u);
}

TEST(Drain, WhileDrainingANewRequestGets503WithRetryAfterAndIsCounted) {
  std::atomic<bool> draining{true};
  Counters reg;
  DrainProcessor p(draining, reg);
  for (const char* method : {"INVITE", "REGISTER", "MESSAGE", "OPTIONS"}) {
    auto ctx = context(test::request(method, "sip:bob@localhost"));
    ASSERT_EQ(p.process(*ctx), Action::Respond) << method;
    EXPECT_EQ(ctx->response()->status(), 503);
    EXPECT_EQ(ctx->response()->reason(), "Service Unavailable - Shutting Down");
    const sip::Header* retry = ctx->response()->find(sip::HeaderId::RetryAfter);
    ASSERT_NE(retry, nullptr);
    EXPECT_EQ(retry->value, "1");
  }
  EXPECT_EQ(reg.get("shutdown_refused_requests").value(), 4u);
}

TEST(Drain, WhileDrainingRequestsWithinADialogPass) {
  std::atomic<bool> draining{true};
  Counters reg;
  DrainProcessor p(draining, reg);
  auto bye = context(test::request("BYE", "sip:bob@127.0.0.1:5070", "", "b1"));
  EXPECT_EQ(p.process(*bye), Action::Continue);
  EXPECT_FALSE(bye->response());
  EXPECT_EQ(reg.get("shutdown_refused_requests").value(), 0u);
}

}  // namespace
}  // namespace sipws::proxy
