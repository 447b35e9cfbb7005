#include "common/text.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace sipws::text {
namespace {

using namespace std::string_literals;

TEST(Text, CaseChangesAsciiLettersOnly) {
  EXPECT_EQ(lower('A'), 'a');
  EXPECT_EQ(lower('Z'), 'z');
  EXPECT_EQ(lower('a'), 'a');
  EXPECT_EQ(lower('@'), '@');  // 'A' - 1
  EXPECT_EQ(lower('['), '[');  // 'Z' + 1
  EXPECT_EQ(lower('\xC4'), '\xC4');
  EXPECT_EQ(upper('a'), 'A');
  EXPECT_EQ(upper('`'), '`');  // 'a' - 1
  EXPECT_EQ(upper('{'), '{');  // 'z' + 1
  EXPECT_EQ(to_lower("Alice@Example.COM \xC4"), "alice@example.com \xC4");
  EXPECT_EQ(to_upper("sha-256"), "SHA-256");
  EXPECT_EQ(to_lower(""), "");
  std::string s = "MiXeD";
  lower_in_place(s);
  EXPECT_EQ(s, "mixed");
}

TEST(Text, IequalIgnoresAsciiCaseOnly) {
  EXPECT_TRUE(iequal("Via", "vIA"));
  EXPECT_TRUE(iequal("", ""));
  EXPECT_FALSE(iequal("via", "vias"));
  EXPECT_FALSE(iequal("a", "b"));
  EXPECT_FALSE(iequal("@", "`"));  // differ by 32 but are not letters
  EXPECT_FALSE(iequal("\xC4", "\xE4"));
  EXPECT_TRUE(istarts_with("SIP/2.0", "sip/"));
  EXPECT_FALSE(istarts_with("si", "sip"));
  EXPECT_TRUE(istarts_with("x", ""));
}

TEST(Text, CharacterClasses) {
  EXPECT_TRUE(is_digit('0'));
  EXPECT_FALSE(is_digit('a'));
  EXPECT_TRUE(is_alpha('q'));
  EXPECT_FALSE(is_alpha('1'));
  EXPECT_TRUE(is_alnum('Q'));
  EXPECT_FALSE(is_alnum('-'));
  for (char c : "09afAF"s) EXPECT_TRUE(is_hex(c)) << c;
  for (char c : "gG/:@`"s) EXPECT_FALSE(is_hex(c)) << c;
}

TEST(Text, TrimRemovesWhiteSpaceAtTheEndsOnly) {
  EXPECT_EQ(trim(" \t a b\r\n"), "a b");
  EXPECT_EQ(ltrim("  a "), "a ");
  EXPECT_EQ(rtrim("  a \t"), "  a");
  EXPECT_EQ(trim(" \t\r\n"), "");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim("\va\f"), "\va\f");  // only SP, HTAB, CR, LF are white space here
  static_assert(trim("  x ") == "x");
}

TEST(Text, HexValueIsMinusOneOutsideTheDigits) {
  EXPECT_EQ(hex_value('0'), 0);
  EXPECT_EQ(hex_value('9'), 9);
  EXPECT_EQ(hex_value('a'), 10);
  EXPECT_EQ(hex_value('F'), 15);
  EXPECT_EQ(hex_value('g'), -1);
  EXPECT_EQ(hex_value('G'), -1);
  EXPECT_EQ(hex_value('/'), -1);
  EXPECT_EQ(hex_value('\0'), -1);
}

TEST(Text, HexEncodeBothCasesAndSeparator) {
  const unsigned char bytes[] = {0x00, 0x0a, 0xff, 0x5c};
  EXPECT_EQ(hex_encode(bytes, sizeof bytes), "000aff5c");
  EXPECT_EQ(hex_encode(bytes, sizeof bytes, HexCase::Upper), "000AFF5C");
  EXPECT_EQ(hex_encode(bytes, sizeof bytes, HexCase::Upper, ":"), "00:0A:FF:5C");
  EXPECT_EQ(hex_encode(bytes, 0), "");
  EXPECT_EQ(hex_encode("\x01\xfe"s), "01fe");
  EXPECT_EQ(hex_digit(0x1b), 'b');
  EXPECT_EQ(hex_digit(0xc, HexCase::Upper), 'C');
}

struct Decoded {
  std::string_view in;
  std::optional<std::string> out;  ///< nullopt: must fail
};

TEST(Text, PercentDecodeIsStrict) {
  const Decoded cases[] = {{"/a%20b%2Fc%2f", "/a b/c/"},
                           {"a+b", "a+b"},
                           {"%00", "\0"s},
                           {"", ""},
                           {"%", std::nullopt},
                           {"%4", std::nullopt},
                           {"ab%4", std::nullopt},
                           {"%zz", std::nullopt},
                           {"%4g", std::nullopt}};
  for (const auto& c : cases) EXPECT_EQ(percent_decode(c.in), c.out) << c.in;
}

TEST(Text, FormDecodeTurnsPlusIntoSpace) {
  const Decoded cases[] = {
      {"a+b%2Bc", "a b+c"}, {"p%40ss+word", "p@ss word"}, {"%2", std::nullopt}};
  for (const auto& c : cases) EXPECT_EQ(form_decode(c.in), c.out) << c.in;
}

TEST(Text, PercentDecodeLenientKeepsMalformedEscapes) {
  const Decoded cases[] = {{"al%69ce", "alice"}, {"%41%4a", "AJ"}, {"a+b", "a+b"},
                           {"100%", "100%"},     {"%4", "%4"},     {"%zz%41", "%zzA"},
                           {"%%41", "%A"}};
  for (const auto& c : cases) EXPECT_EQ(percent_decode_lenient(c.in), *c.out) << c.in;
}

TEST(Text, Base64urlRoundTripsWithoutPadding) {
  // RFC 4648 s.10 test vectors, padding removed; '+' and '/' become '-' and '_'.
  const std::pair<std::string, std::string_view> vectors[] = {
      {"", ""},           {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foobar", "Zm9vYmFy"},
      {"\xfb\xff", "-_8"}};
  for (const auto& [bytes, text] : vectors) EXPECT_EQ(base64url_encode(bytes), text) << text;
  std::string out = "stale";
  ASSERT_TRUE(base64url_decode("Zm9vYmE", out));
  EXPECT_EQ(out, "fooba");
  ASSERT_TRUE(base64url_decode("-_8", out));
  EXPECT_EQ(out, "\xfb\xff"s);
  ASSERT_TRUE(base64url_decode("", out));
  EXPECT_EQ(out, "");
  for (int n = 0; n < 300; ++n) {
    std::string bytes;
    for (int i = 0; i < n; ++i) bytes += static_cast<char>((i * 37 + n) & 0xff);
    ASSERT_TRUE(base64url_decode(base64url_encode(bytes), out)) << n;
    EXPECT_EQ(out, bytes) << n;
  }
}

TEST(Text, Base64urlDecodeRejectsNonCanonicalText) {
  std::string out;
  EXPECT_FALSE(base64url_decode("Zg==", out));  // padding
  EXPECT_FALSE(base64url_decode("+/8", out));   // base64, not base64url
  EXPECT_FALSE(base64url_decode("Z", out));     // 4k+1 characters
  EXPECT_FALSE(base64url_decode("Zh", out));    // leftover bits set
  EXPECT_FALSE(base64url_decode("Zm9 v", out));
  EXPECT_EQ(base64url_value('A'), 0);
  EXPECT_EQ(base64url_value('_'), 63);
  EXPECT_EQ(base64url_value('='), -1);
}

}  // namespace
}  // namespace sipws::text
