#include "ws/origin_policy.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace sipws::ws {
namespace {

TEST(OriginPolicy, EmptyListAllowsEverythingAndNoOriginFollowsTheSwitch) {
  EXPECT_TRUE(OriginPolicy({}, true).allows("https://any.test"));
  EXPECT_TRUE(OriginPolicy({}, true).allows(""));
  EXPECT_FALSE(OriginPolicy({}, false).allows(""));
  EXPECT_TRUE(OriginPolicy({}, false).allows("https://any.test"));
}

TEST(OriginPolicy, ExactOriginsCompareSchemeHostCaseInsensitivelyAndDefaultPorts) {
  OriginPolicy p({"https://Phone.Example.com", "http://127.0.0.1:8080", "https://[::1]:8443"},
                 false);
  EXPECT_TRUE(p.allows("https://phone.example.com"));
  EXPECT_TRUE(p.allows("HTTPS://PHONE.EXAMPLE.COM:443"));
  EXPECT_FALSE(p.allows("http://phone.example.com"));
  EXPECT_FALSE(p.allows("https://phone.example.com:8443"));
  EXPECT_FALSE(p.allows("https://phone.example.com.evil.test"));
  EXPECT_TRUE(p.allows("http://127.0.0.1:8080"));
  EXPECT_FALSE(p.allows("http://127.0.0.1"));
  EXPECT_TRUE(p.allows("https://[::1]:8443"));
  EXPECT_FALSE(p.allows(""));
  EXPECT_FALSE(p.allows("null"));
  EXPECT_FALSE(p.allows("garbage"));
}

TEST(OriginPolicy, WildcardMatchesSubdomainsAtAnyDepthButNotTheApex) {
  OriginPolicy p({"https://*.example.com", "https://*.example.net:8443"}, true);
  EXPECT_TRUE(p.allows("https://a.example.com"));
  EXPECT_TRUE(p.allows("https://a.b.example.com"));
  EXPECT_FALSE(p.allows("https://example.com"));
  EXPECT_FALSE(p.allows("https://badexample.com"));
  EXPECT_FALSE(p.allows("https://a.example.com.evil.test"));
  EXPECT_FALSE(p.allows("http://a.example.com"));
  EXPECT_FALSE(p.allows("https://a.example.com:8443"));
  EXPECT_TRUE(p.allows("https://x.example.net:8443"));
  EXPECT_FALSE(p.allows("https://x.example.net"));
  EXPECT_FALSE(p.allows("https://*.example.com"));
  EXPECT_TRUE(p.allows(""));
}

TEST(OriginPolicy, NullOriginOnlyByExactEntry) {
  EXPECT_FALSE(OriginPolicy({"https://*.example.com"}, true).allows("null"));
  EXPECT_TRUE(OriginPolicy({"null"}, true).allows("null"));
}

TEST(OriginPolicy, ValidateExplainsBadEntries) {
  EXPECT_FALSE(OriginPolicy::validate("https://example.com"));
  EXPECT_FALSE(OriginPolicy::validate("https://*.example.com:8443"));
  EXPECT_FALSE(OriginPolicy::validate("null"));
  for (const char* bad :
       {"example.com", "https://", "https://a.example.com/path", "https://a.*.example.com",
        "https://*", "https://*example.com", "https://example.com:99999",
        "https://example.com:", "://x", "https://user@example.com"}) {
    EXPECT_TRUE(OriginPolicy::validate(bad)) << bad;
  }
  EXPECT_THROW(OriginPolicy({"example.com"}, true), std::invalid_argument);
}

}  // namespace
}  // namespace sipws::ws
