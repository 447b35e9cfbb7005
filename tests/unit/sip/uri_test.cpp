// URI parsing and comparison (RFC 3261 s.19.1, s.19.1.4; RFC 5118; RFC 3966).
#include <gtest/gtest.h>

#include "sip/headers.hpp"
#include "sip/uri.hpp"

namespace sipws::sip {
namespace {

Uri must(std::string_view s) {
  auto u = parse_uri(s);
  EXPECT_TRUE(u.has_value()) << s;
  return u ? *u : Uri{};
}

bool eq(std::string_view a, std::string_view b) { return uri_equal(must(a), must(b)); }

TEST(Uri, FullSipUri) {
  const auto u = must(
      "sips:alice:secret@Atlanta.com:5061;transport=tcp;lr;maddr=239.255.255.1"
      "?subject=project%20x&priority=urgent");
  EXPECT_EQ(u.scheme, Scheme::Sips);
  EXPECT_EQ(u.scheme_name, "sips");
  EXPECT_EQ(u.user, "alice");
  EXPECT_EQ(u.password, "secret");
  EXPECT_EQ(u.host, "Atlanta.com");
  EXPECT_EQ(u.port, 5061);
  EXPECT_EQ(u.transport(), "tcp");
  EXPECT_TRUE(u.lr());
  ASSERT_NE(u.param("MADDR"), nullptr);
  EXPECT_EQ(u.param("maddr")->value, "239.255.255.1");
  ASSERT_EQ(u.headers.size(), 2u);
  EXPECT_EQ(u.headers[0].name, "subject");
  EXPECT_EQ(u.headers[0].value, "project%20x");
  EXPECT_EQ(u.headers[1].value, "urgent");
}

TEST(Uri, HostOnlyAndParamsWithoutValue) {
  const auto u = must("sip:proxy.example.com;lr");
  EXPECT_TRUE(u.user.empty());
  EXPECT_EQ(u.host, "proxy.example.com");
  EXPECT_EQ(u.port, 0);
  ASSERT_EQ(u.params.size(), 1u);
  EXPECT_FALSE(u.params[0].has_value);
}

TEST(Uri, ParamsAreWrittenBackAsParsedButThoseSkipped) {
  auto na = parse_name_addr(R"(<sip:a@h>;expires=60;+sip.instance="<urn:uuid:1>";reg-id=1;lr)");
  ASSERT_TRUE(na.has_value());
  EXPECT_EQ(params_text(na->params), R"(;expires=60;+sip.instance="<urn:uuid:1>";reg-id=1;lr)");
  EXPECT_EQ(params_text(na->params, [](std::string_view n) { return n != "lr"; }), ";lr");
  EXPECT_EQ(params_text({}), "");
}

TEST(Uri, Ipv6References) {  // RFC 5118
  auto u = must("sip:[2001:db8::10]:5070");
  EXPECT_EQ(u.host, "[2001:db8::10]");
  EXPECT_EQ(u.port, 5070);
  u = must("sip:user@[2001:db8::10:5070]");  // s.4.3: no port, 5070 is the last group
  EXPECT_EQ(u.port, 0);
  EXPECT_TRUE(parse_uri("sip:[::ffff:192.0.2.2]").has_value());
  EXPECT_TRUE(parse_uri("sip:[2001:db8::192.0.2.1]").has_value());
  EXPECT_FALSE(parse_uri("sip:[2001:db8:::192.0.2.1]").has_value());  // s.4.10 three colons
  EXPECT_FALSE(parse_uri("sip:2001:db8::10").has_value());            // s.4.2 no brackets
  EXPECT_FALSE(parse_uri("sip:[2001:db8::10").has_value());
  EXPECT_FALSE(parse_uri("sip:[1:2:3:4:5:6:7:8:9]").has_value());
  EXPECT_FALSE(parse_uri("sip:[12345::1]").has_value());
}

TEST(Uri, Malformed) {
  for (std::string_view bad :
       {"", "sip:", "sip:@host", "sip:user@", "sip:host:99999", "sip:host:", "sip:host:5x",
        "sip:us er@host", "sip:user@host;;lr", "sip:user@host;", "sip:%zz@host", "sip:host?",
        "sip:ho st", "tel:", ":foo", "1sip:host", "sip:user@host>"}) {
    EXPECT_FALSE(parse_uri(bad).has_value()) << bad;
  }
}

TEST(Uri, UnusualUserPart) {  // RFC 4475 s.3.1.1.2 and s.3.1.1.9
  const auto u = must(
      "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
      "(doesn't-it)@example.com");
  EXPECT_EQ(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  EXPECT_EQ(u.host, "example.com");
  const auto s = must("sip:user;par=u%40example.net@example.com");
  EXPECT_EQ(s.user, "user;par=u%40example.net");
}

TEST(Uri, TelAndOtherSchemes) {
  const auto t = must("tel:+1-201-555-0123;phone-context=example.com");
  EXPECT_EQ(t.scheme, Scheme::Tel);
  EXPECT_EQ(t.user, "+1-201-555-0123");
  EXPECT_NE(t.param("phone-context"), nullptr);
  const auto o = must("soap.beep://192.0.2.103:3002");
  EXPECT_EQ(o.scheme, Scheme::Other);
  EXPECT_EQ(o.scheme_name, "soap.beep");
  EXPECT_FALSE(o.is_sip());
}

// RFC 3261 s.19.1.4: equivalent URIs.
TEST(Uri, EqualityExamplesEquivalent) {
  EXPECT_TRUE(eq("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"));
  EXPECT_TRUE(eq("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"));
  EXPECT_TRUE(eq("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"));
  EXPECT_TRUE(eq("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"));
  EXPECT_TRUE(eq("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                 "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"));
  EXPECT_TRUE(eq("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
                 "sip:alice@atlanta.com?priority=urgent&subject=project%20x"));
}

// RFC 3261 s.19.1.4: non-equivalent URIs.
TEST(Uri, EqualityExamplesNotEquivalent) {
  EXPECT_FALSE(eq("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"));
  EXPECT_FALSE(eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
  EXPECT_FALSE(eq("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"));
  EXPECT_FALSE(eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"));
  EXPECT_FALSE(eq("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"));
  EXPECT_FALSE(eq("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
  EXPECT_FALSE(eq("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"));
  EXPECT_FALSE(eq("sip:alice@atlanta.com", "sips:alice@atlanta.com"));
}

TEST(Uri, ToStringRoundTrip) {
  for (std::string_view s :
       {"sip:alice@example.com:5070;transport=ws;lr", "sips:[2001:db8::1]:5061",
        "sip:a:pw@h?x=1&y=2", "tel:+15550123;ext=9"}) {
    const auto u = must(s);
    EXPECT_EQ(to_string(u), s);
  }
}

}  // namespace
}  // namespace sipws::sip
