// Digest computations against the RFCs' own examples.

#include "auth/digest.hpp"

#include <gtest/gtest.h>

namespace sipws::auth {
namespace {

TEST(Digest, HashesOfKnownStrings) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// RFC 2617 s.3.5.
TEST(Digest, Rfc2617Example) {
  const std::string h1 =
      ha1(DigestAlgorithm::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
  EXPECT_EQ(h1, "939e7578ed9e3c518a452acee763bce9");
  EXPECT_EQ(digest_response(DigestAlgorithm::Md5, h1, "GET", "/dir/index.html",
                            "dcd98b7102dd2f0e8b11d0f600bfb0c093", "auth", "00000001", "0a4f113b"),
            "6629fae49393a05397450978507c4ef1");
}

// RFC 7616 s.3.9.1 (MD5 and SHA-256 with the same nonce and cnonce).
TEST(Digest, Rfc7616Examples) {
  const char* realm = "http-auth@example.org";
  const char* nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
  const char* cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
  const std::string md5 = ha1(DigestAlgorithm::Md5, "Mufasa", realm, "Circle of Life");
  EXPECT_EQ(digest_response(DigestAlgorithm::Md5, md5, "GET", "/dir/index.html", nonce, "auth",
                            "00000001", cnonce),
            "8ca523f5e9506fed4657c9700eebdbec");
  const std::string sha = ha1(DigestAlgorithm::Sha256, "Mufasa", realm, "Circle of Life");
  EXPECT_EQ(digest_response(DigestAlgorithm::Sha256, sha, "GET", "/dir/index.html", nonce, "auth",
                            "00000001", cnonce),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

// Without qop (RFC 2069 compatibility, RFC 2617 s.3.2.2.1): H(HA1:nonce:HA2).
TEST(Digest, NoQopForm) {
  const std::string h1 = ha1(DigestAlgorithm::Md5, "bob", "biloxi.com", "zanzibar");
  const std::string ha2 = md5_hex("REGISTER:sip:biloxi.com");
  EXPECT_EQ(
      digest_response(DigestAlgorithm::Md5, h1, "REGISTER", "sip:biloxi.com", "n1", "", "", ""),
      md5_hex(h1 + ":n1:" + ha2));
  EXPECT_NE(digest_response(DigestAlgorithm::Md5, h1, "REGISTER", "sip:biloxi.com", "n1", "auth",
                            "00000001", "c"),
            md5_hex(h1 + ":n1:" + ha2));
}

TEST(Digest, AlgorithmNames) {
  EXPECT_EQ(parse_algorithm(""), DigestAlgorithm::Md5);
  EXPECT_EQ(parse_algorithm("md5"), DigestAlgorithm::Md5);
  EXPECT_EQ(parse_algorithm("SHA-256"), DigestAlgorithm::Sha256);
  EXPECT_EQ(parse_algorithm("sha-256"), DigestAlgorithm::Sha256);
  EXPECT_FALSE(parse_algorithm("MD5-sess"));
  EXPECT_FALSE(parse_algorithm("SHA-512-256"));
  EXPECT_EQ(algorithm_name(DigestAlgorithm::Sha256), "SHA-256");
  EXPECT_EQ(algorithm_name(DigestAlgorithm::Md5), "MD5");
}

TEST(Digest, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(Subscriber, MakeSubscriberStoresBothHa1sNeverThePassword) {
  auto s = make_subscriber("alice", "example.com", "s3cret");
  EXPECT_EQ(s.user, "alice");
  EXPECT_EQ(s.domain, "example.com");
  EXPECT_EQ(s.ha1_md5, md5_hex("alice:example.com:s3cret"));
  EXPECT_EQ(s.ha1_sha256, sha256_hex("alice:example.com:s3cret"));
  EXPECT_EQ(s.ha1_md5.size(), 32u);
  EXPECT_EQ(s.ha1_sha256.size(), 64u);
}

TEST(Subscriber, SplitAor) {
  auto ok = split_aor("alice@Example.COM");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->first, "alice");
  EXPECT_EQ(ok->second, "example.com");
  ASSERT_TRUE(split_aor("a.b+c@[::1]"));

  auto bad = [](std::string_view s) {
    auto r = split_aor(s);
    return r ? std::string() : r.error();
  };
  EXPECT_NE(bad("").find("empty"), std::string::npos);
  EXPECT_NE(bad("alice").find("no '@'"), std::string::npos);
  EXPECT_NE(bad("alice").find("'alice'"), std::string::npos);
  EXPECT_NE(bad("@example.com").find("empty user"), std::string::npos);
  EXPECT_NE(bad("alice@").find("empty domain"), std::string::npos);
  EXPECT_NE(bad("a@b@c").find("more than one"), std::string::npos);
  EXPECT_NE(bad("al ice@example.com").find("whitespace"), std::string::npos);
  EXPECT_NE(bad("alice@example.com\n").find("control"), std::string::npos);
  EXPECT_NE(bad("sip:alice@example.com").find("sip:"), std::string::npos);
}

// The client side (trunk registrations): RFC 7616 s.3.9.1's SHA-256 example answered from
// its challenge gives the RFC's response.
TEST(Digest, AnswerChallengeGivesTheRfc7616Response) {
  const std::string chal =
      "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, "
      "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
      "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
  const auto v =
      answer_challenge(chal, DigestSecret{"Mufasa", "Circle of Life", ""}, "GET", "/dir/index.html",
                       1, "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ");
  ASSERT_TRUE(v.has_value());
  EXPECT_NE(
      v->find("response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""),
      std::string::npos)
      << *v;
  EXPECT_NE(v->find("algorithm=SHA-256"), std::string::npos);
  EXPECT_NE(v->find("qop=auth, nc=00000001"), std::string::npos);
  EXPECT_NE(v->find("opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""), std::string::npos);
}

TEST(Digest, AnswerChallengeWithAnHa1AndWhatItCannotAnswer) {
  const std::string h1 = ha1(DigestAlgorithm::Md5, "bob", "biloxi.com", "zanzibar");
  const auto v =
      answer_challenge("Digest realm=\"biloxi.com\", nonce=\"n\"", DigestSecret{"bob", "", h1},
                       "REGISTER", "sip:biloxi.com", 1, "c");
  ASSERT_TRUE(v.has_value());
  const std::string ha2 = md5_hex("REGISTER:sip:biloxi.com");
  EXPECT_NE(v->find("response=\"" + md5_hex(h1 + ":n:" + ha2) + "\""), std::string::npos) << *v;
  EXPECT_EQ(v->find("qop"), std::string::npos);  // none offered: the RFC 2069 form
  const DigestSecret pw{"bob", "zanzibar", ""};
  EXPECT_FALSE(answer_challenge("Basic realm=\"x\"", pw, "REGISTER", "sip:b", 1, "c"));
  EXPECT_FALSE(answer_challenge("Digest realm=\"x\"", pw, "REGISTER", "sip:b", 1, "c"));
  EXPECT_FALSE(answer_challenge("Digest realm=\"x\", nonce=\"n\", algorithm=MD5-sess", pw,
                                "REGISTER", "sip:b", 1, "c"));
  EXPECT_FALSE(answer_challenge("Digest realm=\"x\", nonce=\"n\", qop=\"auth-int\"", pw, "REGISTER",
                                "sip:b", 1, "c"));
  EXPECT_FALSE(answer_challenge("Digest realm=\"x\", nonce=\"n\", algorithm=SHA-256",
                                DigestSecret{"bob", "", h1}, "REGISTER", "sip:b", 1, "c"));
}

}  // namespace
}  // namespace sipws::auth
