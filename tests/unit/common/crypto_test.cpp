// common/crypto: digests and HMAC-SHA256 against the RFCs' test vectors.

#include "common/crypto.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "common/text.hpp"

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
  const Siv siv(std::string(Siv::kKeySize, 's'));
  const auto expected = key.mac({"call-id", "\n", "tag"});
  ASSERT_TRUE(expected);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (key.mac({"call-id", "\n", "tag"}) != expected) ++mismatches[t];
        if (digest_hex(Hash::Md5, {"abc"}) != "900150983cd24fb0d6963f7d28e17f72") ++mismatches[t];
        // Each seal and open copies the one keyed context: never a state left from another.
        const std::string plain = "call-" + std::to_string(t * 10000 + i);
        auto sealed = siv.seal("p", plain);
        if (!sealed || siv.open("p", *sealed) != plain || siv.seal("p", plain) != sealed) {
          ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

/// Bytes from hex digits (test vectors).
std::string unhex(std::string_view h) {
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16));
  }
  return out;
}

TEST(Crypto, SivMatchesRfc5297AndIsDeterministic) {
  // RFC 5297 appendix A.1 (deterministic authenticated encryption): tag (V) || ciphertext.
  const Siv siv(unhex("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"));
  const std::string ad = unhex("101112131415161718191a1b1c1d1e1f2021222324252627");
  const std::string plain = unhex("112233445566778899aabbccddee");
  auto sealed = siv.seal(ad, plain);
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ(text::hex_encode(*sealed),
            "85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c");
  EXPECT_EQ(siv.seal(ad, plain), sealed) << "the same input seals the same";
  auto opened = siv.open(ad, *sealed);
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(*opened, plain);
}

TEST(Crypto, SivRefusesWhatItDidNotSeal) {
  const Siv siv(std::string(Siv::kKeySize, 'k'));
  const std::string sealed = siv.seal("purpose", "call-1@host").value();
  EXPECT_EQ(sealed.size(), Siv::kTagSize + 11);
  EXPECT_FALSE(siv.open("another purpose", sealed).has_value());
  EXPECT_FALSE(Siv(std::string(Siv::kKeySize, 'x')).open("purpose", sealed).has_value());
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    std::string altered = sealed;
    altered[i] = static_cast<char>(altered[i] ^ 0x01);
    EXPECT_FALSE(siv.open("purpose", altered).has_value()) << "byte " << i;
  }
  EXPECT_FALSE(siv.open("purpose", sealed.substr(0, Siv::kTagSize - 1)).has_value());
  EXPECT_FALSE(siv.open("purpose", sealed.substr(0, sealed.size() - 1)).has_value());
  EXPECT_THROW(Siv("short"), std::invalid_argument);
}

}  // namespace
}  // namespace sipws::crypto
