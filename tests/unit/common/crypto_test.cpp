// common/crypto: digests and HMAC-SHA256 against the RFCs' test vectors.

#include "common/crypto.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace sipws::crypto {
namespace {

std::string hex(const HmacSha256::Mac& m) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : m) {
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

TEST(Crypto, DigestsMatchTheStandardsVectors) {
  // RFC 1321 appendix A.5 and FIPS 180-2 appendix B.1.
  EXPECT_EQ(digest_hex(Hash::Md5, {"abc"}), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(digest_hex(Hash::Md5, {""}), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(digest_hex(Hash::Sha256, {"abc"}),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // The parts are concatenated.
  EXPECT_EQ(digest_hex(Hash::Md5, {"a", "", "bc"}), digest_hex(Hash::Md5, {"abc"}));
}

TEST(Crypto, HmacSha256MatchesRfc4231) {
  // RFC 4231 s.4.2 (test case 1), s.4.3 (2) and s.4.7 (6: a 131-byte key, hashed first).
  const HmacSha256 one(std::string(20, '\x0b'));
  EXPECT_EQ(hex(*one.mac({"Hi There"})),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  const HmacSha256 two("Jefe");
  EXPECT_EQ(hex(*two.mac({"what do ya want ", "for nothing?"})),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  const HmacSha256 six(std::string(131, '\xaa'));
  EXPECT_EQ(hex(*six.mac({"Test Using Larger Than Block-Size Key - Hash Key First"})),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Crypto, OneKeyServesManyThreadsAlike) {
  const HmacSha256 key("shared key");
  const auto expected = key.mac({"call-id", "\n", "tag"});
  ASSERT_TRUE(expected);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (key.mac({"call-id", "\n", "tag"}) != expected) ++mismatches[t];
        if (digest_hex(Hash::Md5, {"abc"}) != "900150983cd24fb0d6963f7d28e17f72") ++mismatches[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

}  // namespace
}  // namespace sipws::crypto
