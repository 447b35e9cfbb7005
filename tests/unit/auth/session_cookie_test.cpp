// Session cookies (RFC 7118 s.7 handshake auth): signing, expiry, tampering, wrong key, the
// Cookie header parser and the key file.

#include "auth/session_cookie.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "handshake_test_util.hpp"

namespace sipws::auth {
namespace {

const std::string kKey = "0123456789abcdef0123456789abcdef";
constexpr std::int64_t kNow = 1'700'000'000;

TEST(SessionCookie, IssuedValueVerifiesUntilItsExpiry) {
  SessionCookies c(kKey, 3600);
  const std::string v = c.issue("alice@example.com", kNow);
  // base64url, no padding: safe as a cookie value without quoting.
  EXPECT_EQ(v.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
  auto ok = c.verify(v, kNow);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok.value(), "alice@example.com");
  EXPECT_TRUE(c.verify(v, kNow + 3599));
  auto late = c.verify(v, kNow + 3600);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error(), CookieError::Expired);
}

TEST(SessionCookie, PayloadIsAorExpiryAndHmac) {
  SessionCookies c(kKey, 60);
  std::string raw;
  ASSERT_TRUE(base64url_decode(c.issue("bob@example.com", kNow), raw));
  const std::string prefix = "bob@example.com|" + std::to_string(kNow + 60) + "|";
  ASSERT_EQ(raw.size(), prefix.size() + 32);
  EXPECT_EQ(raw.substr(0, prefix.size()), prefix);
}

TEST(SessionCookie, TamperedValuesAreRefused) {
  SessionCookies c(kKey, 3600);
  const std::string v = c.issue("alice@example.com", kNow);
  std::string raw;
  ASSERT_TRUE(base64url_decode(v, raw));
  // Another user, same MAC.
  std::string other = raw;
  other[0] = 'm';
  auto r = c.verify(base64url_encode(other), kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), CookieError::BadMac);
  // A later expiry, same MAC.
  const std::string exp = std::to_string(kNow + 3600);
  std::string longer = raw;
  longer.replace(longer.find(exp), exp.size(), std::to_string(kNow + 999999));
  r = c.verify(base64url_encode(longer), kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), CookieError::BadMac);
  // One flipped MAC bit.
  std::string flipped = raw;
  flipped.back() = static_cast<char>(flipped.back() ^ 1);
  r = c.verify(base64url_encode(flipped), kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), CookieError::BadMac);
}

TEST(SessionCookie, WrongSecretIsRefused) {
  SessionCookies mine(kKey, 3600);
  SessionCookies theirs("fedcba9876543210fedcba9876543210", 3600);
  auto r = mine.verify(theirs.issue("alice@example.com", kNow), kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), CookieError::BadMac);
}

TEST(SessionCookie, GarbageIsMalformedNeverACrash) {
  SessionCookies c(kKey, 3600);
  for (const std::string& v :
       std::vector<std::string>{"", "a", "not base64!", "YWxpY2U", std::string(5000, 'A'),
                                base64url_encode("alice|123|short")}) {
    auto r = c.verify(v, kNow);
    ASSERT_FALSE(r) << v;
    EXPECT_EQ(r.error(), CookieError::Malformed) << v;
  }
}

TEST(SessionCookie, ZeroLifetimeIsExpiredAtOnce) {
  SessionCookies c(kKey, 0);
  auto r = c.verify(c.issue("x@y", kNow), kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), CookieError::Expired);
}

TEST(SessionCookie, SetCookieAttributes) {
  SessionCookies c(kKey, 43200);
  EXPECT_EQ(c.set_cookie_header("V", true),
            "sipws_session=V; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=43200");
  EXPECT_EQ(c.set_cookie_header("V", false),
            "sipws_session=V; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200");
  EXPECT_EQ(SessionCookies::clear_cookie_header(true),
            "sipws_session=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0");
}

TEST(SessionCookie, CookieHeaderParsing) {
  EXPECT_EQ(cookie_values("a=1; sipws_session=abc; b=2", "sipws_session"),
            std::vector<std::string>{"abc"});
  EXPECT_EQ(cookie_values("sipws_session=x;sipws_session=\"y\"", "sipws_session"),
            (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(cookie_values("", "sipws_session").empty());
  EXPECT_TRUE(cookie_values("xsipws_session=1; sipws_sessionx=2", "sipws_session").empty());
}

TEST(SessionCookie, Base64UrlRoundTripsAndRejectsNonCanonical) {
  for (const std::string& s :
       std::vector<std::string>{"", "f", "fo", "foo", "foob", std::string("\0\xff|", 3)}) {
    std::string out;
    ASSERT_TRUE(base64url_decode(base64url_encode(s), out));
    EXPECT_EQ(out, s);
  }
  std::string out;
  EXPECT_FALSE(base64url_decode("Zg=", out));
  EXPECT_FALSE(base64url_decode("Zh", out));  // leftover bits set: not canonical
  EXPECT_FALSE(base64url_decode("Z", out));
}

TEST(SessionCookie, KeyFileIsCreatedOnceWithMode0600) {
  test::TempDir dir;
  const std::string path = dir.path() + "/var/ws_auth.key";
  const std::string a = load_or_create_secret(path);
  ASSERT_EQ(a.size(), 32u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(load_or_create_secret(path), a);  // survives a restart
  // A damaged key file is an error naming the file, not a silent new key.
  std::ofstream(path, std::ios::trunc) << "short";
  try {
    load_or_create_secret(path);
    ADD_FAILURE() << "accepted a 5-byte key";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sipws::auth
