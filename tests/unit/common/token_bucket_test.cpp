#include "common/token_bucket.hpp"

#include <gtest/gtest.h>

namespace sipws {
namespace {

using namespace std::chrono_literals;

TEST(TokenBucket, AllowsBurstThenRefillsAtRate) {
  const TimePoint t0{};
  TokenBucket b(10, 10, t0);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(b.take(t0)) << i;
  EXPECT_FALSE(b.take(t0));
  EXPECT_FALSE(b.take(t0 + 50ms));  // half a token
  EXPECT_TRUE(b.take(t0 + 100ms));
  EXPECT_FALSE(b.take(t0 + 100ms));
  // Never more than the burst, however long the pause.
  int n = 0;
  while (b.take(t0 + 1h)) ++n;
  EXPECT_EQ(n, 10);
}

TEST(TokenBucket, ZeroRateIsUnlimited) {
  TokenBucket b(0, 0, TimePoint{});
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(b.take(TimePoint{}));
}

}  // namespace
}  // namespace sipws
