// Typed header views: name-addr, Via, CSeq, lists, auth (RFC 3261 s.20, s.25.1).
#include <gtest/gtest.h>

#include "sip/headers.hpp"
#include "sip/text.hpp"

namespace sipws::sip {
namespace {

TEST(NameAddr, QuotedDisplayAngleAndParams) {
  const auto na = parse_name_addr(R"("Alice \"A\" Smith" <sip:alice@example.com;lr>;tag=1928;x)");
  ASSERT_TRUE(na);
  EXPECT_EQ(na->display, R"(Alice \"A\" Smith)");
  EXPECT_TRUE(na->angle);
  EXPECT_EQ(na->uri.host, "example.com");
  EXPECT_TRUE(na->uri.lr());  // URI param, not header param
  EXPECT_EQ(na->tag(), "1928");
  ASSERT_EQ(na->params.size(), 2u);
  EXPECT_FALSE(na->params[1].has_value);
}

TEST(NameAddr, AddrSpecParamsBelongToHeader) {  // RFC 3261 s.20.10
  const auto na = parse_name_addr("sip:bob@biloxi.com;tag=a73kszlfl;expires=60");
  ASSERT_TRUE(na);
  EXPECT_FALSE(na->angle);
  EXPECT_TRUE(na->uri.params.empty());
  EXPECT_EQ(na->tag(), "a73kszlfl");
  ASSERT_NE(na->param("EXPIRES"), nullptr);
  EXPECT_EQ(na->param("expires")->value, "60");
}

TEST(NameAddr, TokenDisplayLwsAndQuotedParam) {
  auto na = parse_name_addr("Bob Smith  <sip:bob@b.com> ; q = 0.5 ; +sip.instance=\"<urn:x>\"");
  ASSERT_TRUE(na);
  EXPECT_EQ(na->display, "Bob Smith");
  EXPECT_EQ(na->param("q")->value, "0.5");
  EXPECT_EQ(na->param("+sip.instance")->value, "\"<urn:x>\"");
  na = parse_name_addr("caller<sip:caller@example.com>;tag=323");  // RFC 4475 s.3.1.1.6
  ASSERT_TRUE(na);
  EXPECT_EQ(na->display, "caller");
  na = parse_name_addr("*");
  ASSERT_TRUE(na);
  EXPECT_TRUE(na->star);
}

TEST(NameAddr, Rejects) {
  for (std::string_view bad :
       {"", "\"unterminated <sip:a@b>", "<sip:a@b", "< sip:a@b >", "Bell, Alexander <sip:a@b>",
        "sip:user@example.com?Route=%3Csip:x%3E", "<sip:a@b>;;", "<sip:a@b>;tag=", "<sip:a@b> x",
        "\"x\" sip:a@b"}) {
    EXPECT_FALSE(parse_name_addr(bad).has_value()) << bad;
  }
}

TEST(Via, FullWithRportReceivedBranch) {
  const auto v = parse_via(
      "SIP/2.0/WSS df7jal23ls0d.invalid:8443;rport=5060;received=192.0.2.7;"
      "branch=z9hG4bKnashds7;alias");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->protocol_name, "SIP");
  EXPECT_EQ(v->protocol_version, "2.0");
  EXPECT_EQ(v->transport, "WSS");
  EXPECT_EQ(v->host, "df7jal23ls0d.invalid");
  EXPECT_EQ(v->port, 8443);
  EXPECT_EQ(v->param("rport")->value, "5060");
  EXPECT_EQ(v->param("received")->value, "192.0.2.7");
  EXPECT_EQ(v->branch(), "z9hG4bKnashds7");
  EXPECT_TRUE(v->rfc3261_branch());
  EXPECT_FALSE(v->param("alias")->has_value);
}

TEST(Via, RportWithoutValueAndLws) {
  const auto v = parse_via("SIP  /  2.0 / UDP   host.example.com ; rport ; branch = 1234");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->transport, "UDP");
  EXPECT_EQ(v->port, 0);
  ASSERT_NE(v->param("rport"), nullptr);
  EXPECT_FALSE(v->param("rport")->has_value);
  EXPECT_EQ(v->branch(), "1234");
  EXPECT_FALSE(v->rfc3261_branch());
}

TEST(Via, Ipv6SentByAndReceived) {  // RFC 5118 s.4.5, s.4.7
  auto v = parse_via("SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3;received=2001:db8::9:255");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->host, "[2001:db8::9:1]");
  EXPECT_EQ(v->port, 6050);
  EXPECT_EQ(v->param("received")->value, "2001:db8::9:255");
  v = parse_via("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255]");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->param("received")->value, "[2001:db8::9:255]");
}

TEST(Via, Rejects) {
  for (std::string_view bad :
       {"", "SIP/2.0/UDP", "SIP/2.0 UDP host", "SIP/2.0/UDP host;;", "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP [::1", "SIP/2.0/UDPhost", "SIP/2.0/UDP host;branch="}) {
    EXPECT_FALSE(parse_via(bad).has_value()) << bad;
  }
}

TEST(CSeq, ParsesAndBounds) {
  auto c = parse_cseq("0009\r\n  INVITE");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->number, 9u);
  EXPECT_EQ(c->method, Method::Invite);
  c = parse_cseq("2147483647 FOO");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->method, Method::Other);
  EXPECT_EQ(c->method_name, "FOO");
  EXPECT_FALSE(parse_cseq("2147483648 INVITE"));  // RFC 3261 s.8.1.1.5: < 2**31
  EXPECT_FALSE(parse_cseq("36893488147419103232 INVITE"));
  EXPECT_FALSE(parse_cseq("INVITE"));
  EXPECT_FALSE(parse_cseq("1INVITE"));
  EXPECT_FALSE(parse_cseq("-1 INVITE"));
  EXPECT_FALSE(parse_cseq("1 INV ITE"));
}

TEST(ParseUint, Bounds) {
  EXPECT_EQ(parse_uint(" 0068 "), 68u);
  EXPECT_EQ(parse_uint("4294967295"), 4294967295u);
  EXPECT_FALSE(parse_uint("4294967296"));
  EXPECT_FALSE(parse_uint("-1"));
  EXPECT_FALSE(parse_uint(""));
  EXPECT_FALSE(parse_uint("1 2"));
}

TEST(SplitList, QuotesEscapesAngles) {
  const auto v =
      split_list(R"("Doe, \"J\"" <sip:a@b;x=1,y>;q=0.5 , <sip:c@d>,,sip:e@f ,"a\\", <sip:g@h>)");
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v[0], R"("Doe, \"J\"" <sip:a@b;x=1,y>;q=0.5)");
  EXPECT_EQ(v[1], "<sip:c@d>");
  EXPECT_EQ(v[2], "sip:e@f");
  EXPECT_EQ(v[3], R"("a\\")");  // the escaped backslash does not escape the quote
  EXPECT_EQ(v[4], "<sip:g@h>");
  EXPECT_EQ(split_list(R"("a\", b")").size(), 1u);  // escaped quote: comma stays inside
  EXPECT_TRUE(split_list(" , ,").empty());
}

TEST(Auth, DigestCredentials) {
  const auto a =
      parse_auth(R"(Digest username="bob, jr", realm="biloxi.com", nonce="dcd98b",)"
                 R"( uri="sip:bob@biloxi.com", response="245f23", algorithm=MD5, qop=auth)");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->scheme, "Digest");
  ASSERT_EQ(a->params.size(), 7u);
  EXPECT_EQ(a->param("username")->value, "bob, jr");
  EXPECT_EQ(a->param("ALGORITHM")->value, "MD5");
  EXPECT_EQ(a->param("qop")->value, "auth");
  EXPECT_FALSE(parse_auth(R"(Digest realm="unterminated)"));
  EXPECT_FALSE(parse_auth(""));
  const auto u = parse_auth("NoOneKnowsThisScheme opaque-data=here");  // RFC 4475 s.3.3.7
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "NoOneKnowsThisScheme");
}

TEST(Types, HeaderIdsAndMethods) {
  EXPECT_EQ(header_id("v"), HeaderId::Via);
  EXPECT_EQ(header_id("I"), HeaderId::CallId);
  EXPECT_EQ(header_id("call-id"), HeaderId::CallId);
  EXPECT_EQ(header_id("l"), HeaderId::ContentLength);
  EXPECT_EQ(header_id("k"), HeaderId::Supported);
  EXPECT_EQ(header_id("o"), HeaderId::Event);
  EXPECT_EQ(header_id("r"), HeaderId::ReferTo);
  EXPECT_EQ(header_id("www-authenticate"), HeaderId::WwwAuthenticate);
  EXPECT_EQ(header_id("X-Foo"), HeaderId::Other);
  EXPECT_EQ(header_id("x"), HeaderId::Other);
  EXPECT_EQ(header_name(HeaderId::CallId), "Call-ID");
  EXPECT_EQ(header_name(HeaderId::WwwAuthenticate), "WWW-Authenticate");
  EXPECT_EQ(method_from_string("INVITE"), Method::Invite);
  EXPECT_EQ(method_from_string("invite"), Method::Other);  // case-sensitive
  EXPECT_EQ(method_name(Method::Register), "REGISTER");
  EXPECT_TRUE(is_split_list(HeaderId::Path));
  EXPECT_FALSE(is_split_list(HeaderId::Allow));
}

TEST(Text, IsAsciiOnlyWithoutBytesFrom0x80) {
  EXPECT_TRUE(text::is_ascii(""));
  EXPECT_TRUE(text::is_ascii("SIP/2.0 200 OK\r\n\x7f"));
  EXPECT_FALSE(text::is_ascii("h\xc3\xa9llo"));  // UTF-8, not ASCII
  EXPECT_FALSE(text::is_ascii(std::string_view("a\x80", 2)));
}

}  // namespace
}  // namespace sipws::sip
