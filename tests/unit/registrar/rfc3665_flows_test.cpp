// RFC 3665 s.2 registration flows as data, against the real parser, the RegistrarProcessor and
// an in-memory LocationService. The REGISTERs are those of the RFC with Authorization removed:
// digest auth is off (empty identity) unless a test sets one.

#include <gtest/gtest.h>

#include <algorithm>

#include "registrar/location.hpp"
#include "registrar/registrar.hpp"
#include "registrar_test_util.hpp"

namespace sipws::registrar {
namespace {

using sip::HeaderId;
using test::msg;
using test::param;
using test::run;

constexpr std::string_view kBobF1 =
    "REGISTER sips:ss2.biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashds7\n"
    "Max-Forwards: 70\n"
    "From: Bob <sips:bob@biloxi.example.com>;tag=a73kszlfl\n"
    "To: Bob <sips:bob@biloxi.example.com>\n"
    "Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com\n"
    "CSeq: 2 REGISTER\n"
    "Contact: <sips:bob@client.biloxi.example.com>\n"
    "Content-Length: 0\n"
    "\n";

// s.2.2 F1: Bob adds a mailto: contact (same Call-ID, next CSeq).
constexpr std::string_view kBobUpdate =
    "REGISTER sips:ss2.biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashds8\n"
    "Max-Forwards: 70\n"
    "From: Bob <sips:bob@biloxi.example.com>;tag=a73kszlfl\n"
    "To: Bob <sips:bob@biloxi.example.com>\n"
    "Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com\n"
    "CSeq: 3 REGISTER\n"
    "Contact: mailto:bob@biloxi.example.com\n"
    "Content-Length: 0\n"
    "\n";

// s.2.3 F1: a query, no Contact.
constexpr std::string_view kBobQuery =
    "REGISTER sips:ss2.biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashd92\n"
    "Max-Forwards: 70\n"
    "From: Bob <sips:bob@biloxi.example.com>;tag=ja745.2\n"
    "To: Bob <sips:bob@biloxi.example.com>\n"
    "Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com\n"
    "CSeq: 4 REGISTER\n"
    "Content-Length: 0\n"
    "\n";

// s.2.4 F1: cancellation of every binding.
constexpr std::string_view kBobCancel =
    "REGISTER sips:ss2.biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashd93\n"
    "Max-Forwards: 70\n"
    "From: Bob <sips:bob@biloxi.example.com>;tag=1ae6cbe5\n"
    "To: Bob <sips:bob@biloxi.example.com>\n"
    "Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com\n"
    "CSeq: 5 REGISTER\n"
    "Contact: *\n"
    "Expires: 0\n"
    "Content-Length: 0\n"
    "\n";

class Rfc3665Flows : public ::testing::Test {
 protected:
  Rfc3665Flows() {
    domains.add_domain("biloxi.example.com");
    domains.add_alias("ss2.biloxi.example.com");
  }
  test::Outcome reg(std::string_view text, const std::string& identity = {}) {
    return run(registrar, msg(text), src, identity);
  }
  /// A REGISTER of Bob with one Contact line and optional extra header lines.
  static std::string bob(std::string_view contact, std::string_view extra, int cseq = 10,
                         std::string_view call_id = "1j9FpLxk3uxtm8tn@biloxi.example.com") {
    std::string s =
        "REGISTER sips:ss2.biloxi.example.com SIP/2.0\n"
        "Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKx" +
        std::to_string(cseq) +
        "\n"
        "Max-Forwards: 70\n"
        "From: Bob <sips:bob@biloxi.example.com>;tag=a73kszlfl\n"
        "To: Bob <sips:bob@biloxi.example.com>\n"
        "Call-ID: " +
        std::string(call_id) + "\nCSeq: " + std::to_string(cseq) + " REGISTER\n";
    if (!contact.empty()) s += "Contact: " + std::string(contact) + "\n";
    s += std::string(extra);
    s += "Content-Length: 0\n\n";
    return s;
  }

  ManualTimerService timers;
  proxy::Domains domains;
  LocationService location{timers, nullptr};
  RegistrarProcessor registrar{domains, location, RegistrarConfig{}};
  Source src = test::source(Protocol::Tls, "192.0.2.4", 49152, 3);
};

TEST_F(Rfc3665Flows, S2_1_NewRegistrationEchoesTheBinding) {
  auto o = reg(kBobF1);
  ASSERT_EQ(o.action, proxy::Action::Respond);
  ASSERT_EQ(o.status(), 200);
  auto c = o.contacts();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].uri.raw, "sips:bob@client.biloxi.example.com");
  EXPECT_EQ(param(c[0], "expires"), "3600");  // the registrar's default
  EXPECT_FALSE(o.header(HeaderId::Date).empty());
  EXPECT_NE(o.response->to().tag(), "");
  EXPECT_EQ(o.response->call_id(), "1j9FpLxk3uxtm8tn@biloxi.example.com");
  EXPECT_EQ(o.response->cseq().number, 2u);
  ASSERT_EQ(location.lookup("bob@biloxi.example.com").size(), 1u);
}

TEST_F(Rfc3665Flows, S2_2_UpdateAddsAContactAndReturnsBoth) {
  ASSERT_EQ(reg(kBobF1).status(), 200);
  auto o = reg(kBobUpdate);
  ASSERT_EQ(o.status(), 200);
  auto c = o.contacts();
  ASSERT_EQ(c.size(), 2u);
  std::vector<std::string> uris{std::string(c[0].uri.raw), std::string(c[1].uri.raw)};
  std::sort(uris.begin(), uris.end());
  EXPECT_EQ(uris[0], "mailto:bob@biloxi.example.com");
  EXPECT_EQ(uris[1], "sips:bob@client.biloxi.example.com");
}

TEST_F(Rfc3665Flows, S2_3_QueryReturnsCurrentContactsUnchanged) {
  ASSERT_EQ(reg(kBobF1).status(), 200);
  ASSERT_EQ(reg(kBobUpdate).status(), 200);
  timers.advance(Millis(100'000));
  auto o = reg(kBobQuery);
  ASSERT_EQ(o.status(), 200);
  auto c = o.contacts();
  ASSERT_EQ(c.size(), 2u);
  for (const auto& na : c) EXPECT_EQ(param(na, "expires"), "3500");  // time has passed
  EXPECT_EQ(location.size(), 2u);
}

TEST_F(Rfc3665Flows, S2_3_QueryWithoutBindingsIs200WithoutContact) {
  auto o = reg(kBobQuery);
  ASSERT_EQ(o.status(), 200);
  EXPECT_TRUE(o.contacts().empty());
  EXPECT_FALSE(o.header(HeaderId::Date).empty());
  EXPECT_FALSE(location.known("bob@biloxi.example.com"));
}

TEST_F(Rfc3665Flows, S2_4_StarWithExpiresZeroRemovesEverything) {
  ASSERT_EQ(reg(kBobF1).status(), 200);
  ASSERT_EQ(reg(kBobUpdate).status(), 200);
  auto o = reg(kBobCancel);
  ASSERT_EQ(o.status(), 200);
  EXPECT_TRUE(o.contacts().empty());
  EXPECT_TRUE(location.lookup("bob@biloxi.example.com").empty());
  EXPECT_EQ(location.size(), 0u);
  EXPECT_EQ(timers.pending(), 1u);  // the expiry sweep only: no timer per binding
}

TEST_F(Rfc3665Flows, S2_4_StarNeedsExpiresZeroAndNoOtherContact) {
  ASSERT_EQ(reg(kBobF1).status(), 200);
  EXPECT_EQ(reg(bob("*", "", 11)).status(), 400);               // no Expires
  EXPECT_EQ(reg(bob("*", "Expires: 60\n", 12)).status(), 400);  // not zero
  EXPECT_EQ(reg(bob("*", "Contact: <sip:bob@192.0.2.4>\nExpires: 0\n", 13)).status(), 400);
  EXPECT_EQ(location.size(), 1u);
}

TEST_F(Rfc3665Flows, S2_5_IdentityOtherThanTheAorIsForbidden) {
  auto o = reg(kBobF1, "alice@biloxi.example.com");
  EXPECT_EQ(o.status(), 403);
  EXPECT_EQ(location.size(), 0u);
  // The right identity (domain compared case-insensitively) is accepted.
  EXPECT_EQ(reg(kBobF1, "bob@BILOXI.example.com").status(), 200);
}

TEST_F(Rfc3665Flows, S2_5_TooBriefIntervalGets423WithMinExpires) {
  auto o = reg(bob("<sips:bob@client.biloxi.example.com>", "Expires: 30\n"));
  ASSERT_EQ(o.status(), 423);
  EXPECT_EQ(o.header(HeaderId::MinExpires), "60");
  // The contact parameter wins over the header.
  o = reg(bob("<sips:bob@client.biloxi.example.com>;expires=59", "Expires: 3600\n", 11));
  EXPECT_EQ(o.status(), 423);
  EXPECT_EQ(location.size(), 0u);
}

TEST_F(Rfc3665Flows, LongIntervalIsClampedToMax) {
  auto o = reg(bob("<sips:bob@client.biloxi.example.com>", "Expires: 86400\n"));
  ASSERT_EQ(o.status(), 200);
  EXPECT_EQ(param(o.contacts().at(0), "expires"), "3600");
}

TEST_F(Rfc3665Flows, ExpiresZeroRemovesOneBinding) {
  ASSERT_EQ(reg(kBobF1).status(), 200);
  ASSERT_EQ(reg(kBobUpdate).status(), 200);
  auto o = reg(bob("<sips:bob@client.biloxi.example.com>;expires=0", ""));
  ASSERT_EQ(o.status(), 200);
  auto c = o.contacts();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].uri.raw, "mailto:bob@biloxi.example.com");
}

TEST_F(Rfc3665Flows, OldCSeqOnTheSameCallIdFailsAndChangesNothing) {
  ASSERT_EQ(reg(bob("<sips:bob@client.biloxi.example.com>", "Expires: 600\n", 5)).status(), 200);
  // s.10.3 step 7: same Call-ID, CSeq not higher => the request fails.
  auto o = reg(bob("<sips:bob@client.biloxi.example.com>", "Expires: 0\n", 5));
  EXPECT_EQ(o.status(), 500);
  o = reg(bob("<sips:bob@client.biloxi.example.com>", "Expires: 0\n", 4));
  EXPECT_EQ(o.status(), 500);
  EXPECT_EQ(location.size(), 1u);
  // Another Call-ID (a new UA registration) may carry any CSeq.
  o = reg(bob("<sips:bob@client.biloxi.example.com>", "Expires: 0\n", 1, "other-call-id"));
  EXPECT_EQ(o.status(), 200);
  EXPECT_EQ(location.size(), 0u);
}

TEST_F(Rfc3665Flows, ToOutsideOurDomainIs404AndOtherDomainsContinue) {
  std::string foreign_to =
      "REGISTER sips:ss2.biloxi.example.com SIP/2.0\n"
      "Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKq1\n"
      "From: <sip:carol@atlanta.example.com>;tag=1\n"
      "To: <sip:carol@atlanta.example.com>\n"
      "Call-ID: c1\nCSeq: 1 REGISTER\nContact: <sip:carol@192.0.2.5>\nContent-Length: 0\n\n";
  // The Request-URI names this registrar but the AOR is not ours: not for us to serve.
  EXPECT_EQ(reg(foreign_to).action, proxy::Action::Continue);
  std::string ruri_foreign =
      "REGISTER sip:atlanta.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bKq2\n"
      "From: <sip:carol@atlanta.example.com>;tag=1\n"
      "To: <sip:carol@atlanta.example.com>\n"
      "Call-ID: c2\nCSeq: 1 REGISTER\nContact: <sip:carol@192.0.2.5>\nContent-Length: 0\n\n";
  EXPECT_EQ(reg(ruri_foreign).action, proxy::Action::Continue);
  std::string wrong_aor =
      "REGISTER sip:biloxi.example.com SIP/2.0\n"
      "Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bKq3\n"
      "From: <sip:carol@atlanta.example.com>;tag=1\n"
      "To: <sip:carol@atlanta.example.com>\n"
      "Call-ID: c3\nCSeq: 1 REGISTER\nContact: <sip:carol@192.0.2.5>\nContent-Length: 0\n\n";
  EXPECT_EQ(reg(wrong_aor).status(), 404);
  EXPECT_EQ(location.size(), 0u);
}

TEST_F(Rfc3665Flows, UnknownRequireIs420) {
  auto o = reg(bob("<sips:bob@client.biloxi.example.com>", "Require: outbound, foo\n"));
  ASSERT_EQ(o.status(), 420);
  EXPECT_EQ(o.header(HeaderId::Unsupported), "foo");
}

TEST_F(Rfc3665Flows, BadQValueIs400) {
  EXPECT_EQ(reg(bob("<sips:bob@client.biloxi.example.com>;q=1.5", "")).status(), 400);
  EXPECT_EQ(reg(bob("<sips:bob@client.biloxi.example.com>;q=abc", "", 11)).status(), 400);
  EXPECT_EQ(location.size(), 0u);
}

TEST_F(Rfc3665Flows, MultipleContactsOrderedByQ) {
  auto o = reg(bob("<sip:bob@192.0.2.1>;q=0.1, <sip:bob@192.0.2.2>;q=1.0",
                   "Contact: <sip:bob@192.0.2.3>;q=0.5\n"));
  ASSERT_EQ(o.status(), 200);
  auto c = o.contacts();
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].uri.raw, "sip:bob@192.0.2.2");
  EXPECT_EQ(param(c[0], "q"), "");  // 1.0 is the default: not written
  EXPECT_EQ(c[1].uri.raw, "sip:bob@192.0.2.3");
  EXPECT_EQ(param(c[1], "q"), "0.5");
  EXPECT_EQ(c[2].uri.raw, "sip:bob@192.0.2.1");
  EXPECT_EQ(param(c[2], "q"), "0.1");
}

TEST_F(Rfc3665Flows, TooManyContactsIs403) {
  std::string extra;
  for (int i = 0; i < 32; ++i)
    extra += "Contact: <sip:bob@192.0.2." + std::to_string(i + 1) + ">\n";
  EXPECT_EQ(reg(bob("<sip:bob@198.51.100.1>", extra)).status(), 403);
  EXPECT_EQ(location.size(), 0u);
}

}  // namespace
}  // namespace sipws::registrar
