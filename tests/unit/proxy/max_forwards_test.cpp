// max-forwards (RFC 3261 s.16.3 step 3).

#include "proxy/max_forwards.hpp"

#include <gtest/gtest.h>

#include "processor_fixture.hpp"

namespace sipws::proxy {
namespace {

using test::context;

sip::Message with_max_forwards(const std::string& value) {
  auto req = test::request("MESSAGE", "sip:bob@localhost");
  if (value.empty()) {
    req.remove_all(sip::HeaderId::MaxForwards);
  } else {
    req.set(sip::HeaderId::MaxForwards, value);
  }
  return req;
}

TEST(MaxForwards, ZeroGets483) {
  MaxForwardsProcessor p;
  auto ctx = context(with_max_forwards("0"));
  ASSERT_EQ(p.process(*ctx), Action::Respond);
  EXPECT_EQ(ctx->response()->status(), 483);
  EXPECT_EQ(ctx->response()->reason(), "Too Many Hops");
}

TEST(MaxForwards, OneOrNoneContinuesUnchanged) {
  MaxForwardsProcessor p;
  auto one = context(with_max_forwards("1"));
  EXPECT_EQ(p.process(*one), Action::Continue);
  EXPECT_EQ(one->request().max_forwards(), 1u);  // decremented per branch, not here
  auto none = context(with_max_forwards(""));
  EXPECT_EQ(p.process(*none), Action::Continue);
  EXPECT_FALSE(none->response());
}

}  // namespace
}  // namespace sipws::proxy
