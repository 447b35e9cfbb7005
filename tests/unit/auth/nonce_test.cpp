// Stateless nonces: issue, check, expiry, forgery, realm binding.

#include "auth/nonce.hpp"

#include <gtest/gtest.h>

#include <set>

namespace sipws::auth {
namespace {

constexpr std::int64_t kNow = 1'700'000'000;

NonceManager::Secret secret(unsigned char fill) {
  NonceManager::Secret s;
  s.fill(fill);
  return s;
}

TEST(Nonce, IssuedNonceIsValidUntilItsLifetimeThenStale) {
  NonceManager nm(secret(1), 300);
  const std::string n = nm.issue("example.com", kNow);
  EXPECT_EQ(n.size(), 32u);
  EXPECT_EQ(n.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  EXPECT_EQ(nm.check(n, "example.com", kNow), NonceStatus::Valid);
  EXPECT_EQ(nm.check(n, "example.com", kNow + 300), NonceStatus::Valid);
  EXPECT_EQ(nm.check(n, "example.com", kNow + 301), NonceStatus::Stale);
  EXPECT_EQ(nm.check(n, "example.com", kNow + 100'000), NonceStatus::Stale);
}

TEST(Nonce, TwoChallengesInTheSameSecondGetDifferentNonces) {
  // nonce-count replay tracking is per nonce: a repeated nonce would make nc=1 a "replay".
  NonceManager nm(secret(1), 300);
  const std::string a = nm.issue("example.com", kNow);
  const std::string b = nm.issue("example.com", kNow);
  EXPECT_NE(a, b);
  EXPECT_EQ(nm.check(a, "example.com", kNow), NonceStatus::Valid);
  EXPECT_EQ(nm.check(b, "example.com", kNow), NonceStatus::Valid);
}

TEST(Nonce, LifetimeIsConfigurable) {
  NonceManager nm(secret(1), 10);
  const std::string n = nm.issue("example.com", kNow);
  EXPECT_EQ(nm.check(n, "example.com", kNow + 10), NonceStatus::Valid);
  EXPECT_EQ(nm.check(n, "example.com", kNow + 11), NonceStatus::Stale);
  EXPECT_EQ(nm.lifetime_s(), 10u);
}

TEST(Nonce, BoundToRealmAndSecret) {
  NonceManager nm(secret(1), 300);
  NonceManager other(secret(2), 300);
  const std::string n = nm.issue("example.com", kNow);
  EXPECT_EQ(nm.check(n, "example.org", kNow), NonceStatus::Invalid);
  EXPECT_EQ(other.check(n, "example.com", kNow), NonceStatus::Invalid);
  // Same secret (cluster nodes): accepted by the other node.
  NonceManager twin(secret(1), 300);
  EXPECT_EQ(twin.check(n, "example.com", kNow), NonceStatus::Valid);
}

TEST(Nonce, TamperedOrMalformedIsInvalid) {
  NonceManager nm(secret(1), 300);
  const std::string n = nm.issue("example.com", kNow);
  for (std::size_t i = 0; i < n.size(); ++i) {
    std::string t = n;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    EXPECT_EQ(nm.check(t, "example.com", kNow), NonceStatus::Invalid) << "position " << i;
  }
  EXPECT_EQ(nm.check("", "example.com", kNow), NonceStatus::Invalid);
  EXPECT_EQ(nm.check(n.substr(1), "example.com", kNow), NonceStatus::Invalid);
  EXPECT_EQ(nm.check(n + "A", "example.com", kNow), NonceStatus::Invalid);
  EXPECT_EQ(nm.check(std::string(32, '='), "example.com", kNow), NonceStatus::Invalid);
  EXPECT_EQ(nm.check(std::string(32, '\0'), "example.com", kNow), NonceStatus::Invalid);
  EXPECT_EQ(nm.check("dcd98b7102dd2f0e8b11d0f600bfb0c093", "example.com", kNow),
            NonceStatus::Invalid);
}

TEST(Nonce, FromTheFutureIsInvalid) {
  NonceManager nm(secret(1), 300);
  const std::string n = nm.issue("example.com", kNow + 60);
  EXPECT_EQ(nm.check(n, "example.com", kNow), NonceStatus::Invalid);
  const std::string skew = nm.issue("example.com", kNow + NonceManager::kMaxClockSkewS);
  EXPECT_EQ(nm.check(skew, "example.com", kNow), NonceStatus::Valid);
}

TEST(Nonce, RandomSecretsDifferAndNoncesChangeWithTime) {
  NonceManager a(300), b(300);
  EXPECT_NE(a.issue("example.com", kNow), b.issue("example.com", kNow));
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(a.issue("example.com", kNow + i));
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace sipws::auth
