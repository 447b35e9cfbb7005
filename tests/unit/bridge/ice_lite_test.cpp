// IceLiteAgent: connectivity checks answered with short-term credentials (RFC 8445 s.7.3,
// RFC 5389 s.10.1.2), nomination, and robustness against arbitrary input.
#include "bridge/ice_lite.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "bridge/stun.hpp"

namespace sipws::bridge {
namespace {

using Bytes = std::vector<std::uint8_t>;

Endpoint ep(const char* addr, std::uint16_t port) {
  return Endpoint{boost::asio::ip::make_address(addr), port};
}

struct Request {
  std::string username = "LITEufrg:browser1";
  std::string key = "0123456789abcdefghijklmn";  // our pwd: the request is signed with it
  bool use_candidate = false;
  bool controlled = false;
  bool integrity = true;
  bool fingerprint = true;
  std::uint16_t method = stun::kBinding;
  stun::Class klass = stun::Class::Request;
  std::uint16_t extra_attr = 0;  ///< added (empty) when non-zero
};

Bytes build(const Request& r, const stun::TransactionId& txid) {
  stun::Builder b(r.klass, r.method, txid);
  b.add_text(stun::attr::kUsername, r.username);
  b.add_u32(stun::attr::kPriority, 0x6e7f1eff);
  if (r.controlled) {
    b.add_u64(stun::attr::kIceControlled, 42);
  } else {
    b.add_u64(stun::attr::kIceControlling, 0x1122334455667788);
  }
  if (r.use_candidate) b.add_flag(stun::attr::kUseCandidate);
  if (r.extra_attr != 0) b.add(r.extra_attr, {});
  if (r.integrity) b.add_message_integrity(r.key);
  if (r.fingerprint) b.add_fingerprint();
  return std::move(b).take();
}

class IceLiteTest : public ::testing::Test {
 protected:
  IceLiteTest() : agent_("LITEufrg", "0123456789abcdefghijklmn") {
    agent_.set_remote("browser1", "browserpasswordbrowserpassword");
  }
  IceLiteAgent agent_;
  const stun::TransactionId txid_ = stun::random_transaction_id();
  const Endpoint from_ = ep("198.51.100.7", 54321);
};

stun::Message parse_ok(const Bytes& b) {
  auto m = stun::parse(b);
  EXPECT_TRUE(m.has_value());
  return std::move(m).value();
}

TEST(IceLite, MakeGivesIceCharCredentials) {
  const auto is_ice_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
  };
  std::set<std::string> pwds;
  for (int i = 0; i < 20; ++i) {
    const IceLiteAgent a = IceLiteAgent::make();
    EXPECT_GE(a.ufrag().size(), 4u);
    EXPECT_GE(a.pwd().size(), 22u);
    for (char c : a.ufrag() + a.pwd()) EXPECT_TRUE(is_ice_char(c)) << c;
    pwds.insert(a.pwd());
  }
  EXPECT_EQ(pwds.size(), 20u);
}

TEST_F(IceLiteTest, ValidRequestGetsAuthenticatedSuccess) {
  const auto r = agent_.on_stun(build({}, txid_), from_);
  EXPECT_TRUE(r.valid);
  EXPECT_FALSE(r.nominated);
  const auto m = parse_ok(r.response);
  EXPECT_EQ(m.klass(), stun::Class::Success);
  EXPECT_EQ(m.method(), stun::kBinding);
  EXPECT_EQ(m.transaction_id(), txid_);
  EXPECT_EQ(m.xor_mapped_address(), from_);
  EXPECT_TRUE(stun::check_message_integrity(m, agent_.pwd()));
  EXPECT_TRUE(stun::check_fingerprint(m));
  EXPECT_EQ(agent_.selected(), from_);
  EXPECT_EQ(agent_.stats().valid, 1u);
}

TEST_F(IceLiteTest, Ipv6Source) {
  const Endpoint v6 = ep("2001:db8::42", 40000);
  const auto r = agent_.on_stun(build({}, txid_), v6);
  ASSERT_TRUE(r.valid);
  EXPECT_EQ(parse_ok(r.response).xor_mapped_address(), v6);
}

TEST_F(IceLiteTest, UseCandidateNominatesAndSelects) {
  Request req;
  req.use_candidate = true;
  const Endpoint other = ep("203.0.113.9", 9000);
  auto r = agent_.on_stun(build({}, txid_), other);  // valid, not nominated
  EXPECT_TRUE(r.valid);
  EXPECT_EQ(agent_.selected(), other);
  r = agent_.on_stun(build(req, stun::random_transaction_id()), from_);
  EXPECT_TRUE(r.valid);
  EXPECT_TRUE(r.nominated);
  EXPECT_EQ(agent_.selected(), from_);
  // A later valid but not nominated check does not move the selection.
  agent_.on_stun(build({}, stun::random_transaction_id()), other);
  EXPECT_EQ(agent_.selected(), from_);
  EXPECT_EQ(agent_.stats().nominated, 1u);
}

TEST_F(IceLiteTest, WrongPasswordIs401WithoutIntegrity) {
  Request req;
  req.key = "not-our-password-at-all!";
  const auto r = agent_.on_stun(build(req, txid_), from_);
  EXPECT_FALSE(r.valid);
  const auto m = parse_ok(r.response);
  EXPECT_EQ(m.klass(), stun::Class::Error);
  EXPECT_EQ(m.transaction_id(), txid_);
  ASSERT_TRUE(m.error_code());
  EXPECT_EQ(m.error_code()->code, 401);
  EXPECT_FALSE(m.has(stun::attr::kMessageIntegrity));
  EXPECT_TRUE(stun::check_fingerprint(m));
  EXPECT_FALSE(agent_.selected());
}

TEST_F(IceLiteTest, WrongUsernameIs401) {
  for (const char* user : {"OTHERufr:browser1", "LITEufrg:someoneelse", "LITEufrg",
                           "LITEufrg:", "LITEufrgX:browser1", ":browser1", ""}) {
    Request req;
    req.username = user;
    const auto r = agent_.on_stun(build(req, txid_), from_);
    EXPECT_FALSE(r.valid) << user;
    ASSERT_FALSE(r.response.empty()) << user;
    EXPECT_EQ(parse_ok(r.response).error_code()->code, 401) << user;
  }
  EXPECT_FALSE(agent_.selected());
}

TEST(IceLite, AnyRemoteUfragBeforeSetRemote) {
  IceLiteAgent a("LITEufrg", "0123456789abcdefghijklmn");
  Request req;
  req.username = "LITEufrg:whoever";
  EXPECT_TRUE(a.on_stun(build(req, stun::random_transaction_id()), ep("10.0.0.1", 1)).valid);
}

TEST_F(IceLiteTest, MissingIntegrityIs400) {
  Request req;
  req.integrity = false;
  const auto r = agent_.on_stun(build(req, txid_), from_);
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(parse_ok(r.response).error_code()->code, 400);
}

TEST_F(IceLiteTest, NonBindingRequestIs400) {
  Request req;
  req.method = 0x003;  // TURN Allocate
  const auto r = agent_.on_stun(build(req, txid_), from_);
  EXPECT_FALSE(r.valid);
  const auto m = parse_ok(r.response);
  EXPECT_EQ(m.method(), 0x003);
  EXPECT_EQ(m.error_code()->code, 400);
}

TEST_F(IceLiteTest, UnknownComprehensionRequiredIs420) {
  Request req;
  req.extra_attr = 0x0031;
  const auto r = agent_.on_stun(build(req, txid_), from_);
  EXPECT_FALSE(r.valid);
  const auto m = parse_ok(r.response);
  EXPECT_EQ(m.error_code()->code, 420);
  ASSERT_TRUE(m.find(stun::attr::kUnknownAttributes));
  const auto v = m.value(*m.find(stun::attr::kUnknownAttributes));
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0], 0x00);
  EXPECT_EQ(v[1], 0x31);
  EXPECT_TRUE(stun::check_message_integrity(m, agent_.pwd()));
  // Comprehension-optional attributes (e.g. Chrome's GOOG-NETWORK-INFO 0xC057) are fine.
  req.extra_attr = 0xC057;
  EXPECT_TRUE(agent_.on_stun(build(req, txid_), from_).valid);
}

TEST_F(IceLiteTest, ControlledPeerGetsRoleConflict) {
  Request req;
  req.controlled = true;
  const auto r = agent_.on_stun(build(req, txid_), from_);
  EXPECT_FALSE(r.valid);
  const auto m = parse_ok(r.response);
  EXPECT_EQ(m.error_code()->code, 487);
  EXPECT_TRUE(stun::check_message_integrity(m, agent_.pwd()));
}

TEST_F(IceLiteTest, DroppedSilently) {
  Request no_fp;
  no_fp.fingerprint = false;
  Request indication;
  indication.klass = stun::Class::Indication;
  Request response;
  response.klass = stun::Class::Success;
  for (const auto& req : {no_fp, indication, response}) {
    const auto r = agent_.on_stun(build(req, txid_), from_);
    EXPECT_TRUE(r.response.empty());
    EXPECT_FALSE(r.valid);
  }
  // A corrupted FINGERPRINT.
  Bytes b = build({}, txid_);
  b.back() ^= 0xFF;
  EXPECT_TRUE(agent_.on_stun(b, from_).response.empty());
  EXPECT_EQ(agent_.stats().dropped, 4u);
}

// Nothing but the untouched request is ever valid: not a truncation, not random bytes with a
// STUN header, not a request with bits flipped (MESSAGE-INTEGRITY and FINGERPRINT cover every
// byte before them, FINGERPRINT covers MESSAGE-INTEGRITY, and the FINGERPRINT value itself is
// checked). And none of it crashes.
TEST_F(IceLiteTest, GarbageTruncationAndBitFlipsAreNeverValid) {
  std::mt19937 rng(12345);  // fixed seed: reproducible
  std::uniform_int_distribution<int> byte(0, 255);
  const Bytes good = build({.use_candidate = true}, txid_);
  ASSERT_TRUE(agent_.on_stun(good, from_).valid);  // the control: the request itself is answered
  // Every truncation of a valid request.
  for (std::size_t n = 0; n < good.size(); ++n) {
    const auto r = agent_.on_stun(std::span(good).first(n), from_);
    EXPECT_FALSE(r.valid) << n;
  }
  // Random bytes with a plausible STUN header (so the attribute walker gets exercised).
  for (int i = 0; i < 20000; ++i) {
    Bytes b(static_cast<std::size_t>(20 + 4 * (rng() % 40)));
    for (auto& x : b) x = static_cast<std::uint8_t>(byte(rng));
    if (i % 2 == 0) {
      b[0] &= 0x3F;
      const std::size_t len = b.size() - 20;
      b[2] = static_cast<std::uint8_t>(len >> 8);
      b[3] = static_cast<std::uint8_t>(len);
      b[4] = 0x21, b[5] = 0x12, b[6] = 0xA4, b[7] = 0x42;
    }
    EXPECT_FALSE(agent_.on_stun(b, from_).valid) << i;
  }
  // Random bit flips of a valid request: valid exactly when the flips cancelled out.
  int changed = 0;
  for (int i = 0; i < 20000; ++i) {
    Bytes b = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k)
      b[rng() % b.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
    const bool untouched = b == good;
    if (!untouched) ++changed;
    EXPECT_EQ(agent_.on_stun(b, from_).valid, untouched) << i;
  }
  EXPECT_GT(changed, 19000);  // the loop did test altered messages
  EXPECT_EQ(agent_.stats().valid, 1u + static_cast<std::uint64_t>(20000 - changed));
}

}  // namespace
}  // namespace sipws::bridge
