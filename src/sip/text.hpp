#pragma once
// Small character-class and string helpers shared by the SIP parser files (RFC 3261 s.25.1).
// Used by src/sip/ and by the SDP code of src/bridge/; pure functions, no allocation (but
// dialled_number and to_lower, which return a string). The generic ASCII helpers (case, white
// space and trimming, hex, percent, base64url) are common/text.hpp's, named here too for the
// SIP code.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/text.hpp"

namespace sipws::sip::text {

using sipws::text::hex_value;
using sipws::text::iequal;
using sipws::text::is_alnum;
using sipws::text::is_alpha;
using sipws::text::is_digit;
using sipws::text::is_hex;
using sipws::text::is_ws;
using sipws::text::istarts_with;
using sipws::text::lower;
using sipws::text::lower_in_place;
using sipws::text::ltrim;
using sipws::text::rtrim;
using sipws::text::to_lower;
using sipws::text::trim;

/// RFC 3261 token characters.
inline bool is_token_char(char c) {
  if (is_alnum(c)) return true;
  switch (c) {
    case '-':
    case '.':
    case '!':
    case '%':
    case '*':
    case '_':
    case '+':
    case '`':
    case '\'':
    case '~':
      return true;
    default:
      return false;
  }
}
inline bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_token_char(c)) return false;
  }
  return true;
}
/// RFC 3261 unreserved (alphanum / mark).
inline bool is_unreserved(char c) {
  if (is_alnum(c)) return true;
  switch (c) {
    case '-':
    case '_':
    case '.':
    case '!':
    case '~':
    case '*':
    case '\'':
    case '(':
    case ')':
      return true;
    default:
      return false;
  }
}

/// True when every byte is below 0x80: valid UTF-8 (RFC 3629) without decoding, the common
/// case of a SIP message.
inline bool is_ascii(std::string_view s) {
  unsigned char any = 0;
  for (char c : s) any |= static_cast<unsigned char>(c);
  return (any & 0x80) == 0;
}

/// Decimal digits only, value < 2^32.
inline std::optional<std::uint32_t> parse_u32(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
    if (v > 0xffffffffULL) return std::nullopt;
  }
  return static_cast<std::uint32_t>(v);
}

/// Validates %HH escapes in `s`: every '%' is followed by two hex digits.
inline bool escapes_ok(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return false;
      if (!is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
      i += 2;
    }
  }
  return true;
}

/// Index of the closing quote of a quoted string starting at s[open] == '"', honouring
/// quoted-pairs; npos if unterminated.
inline std::size_t quoted_end(std::string_view s, std::size_t open) {
  for (std::size_t i = open + 1; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
      continue;
    }
    if (s[i] == '"') return i;
  }
  return std::string_view::npos;
}

/// The dialled number in a user part (RFC 3966 s.5.1.1): when `user` is a telephone number
/// (an optional leading '+', then digits, '*', '#' and the visual separators '-', '.', '(',
/// ')', ' ', with at least one digit), the same without its visual separators; any other user
/// part unchanged ("alice" stays "alice", "+1 (555) 123-0001" becomes "+15551230001").
inline std::string dialled_number(std::string_view user) {
  bool digit = false;
  for (std::size_t i = 0; i < user.size(); ++i) {
    const char c = user[i];
    if (is_digit(c)) {
      digit = true;
    } else if (c == '+' && i == 0) {
    } else if (c != '*' && c != '#' && c != '-' && c != '.' && c != '(' && c != ')' && c != ' ') {
      return std::string(user);
    }
  }
  if (!digit) return std::string(user);
  std::string out;
  out.reserve(user.size());
  for (char c : user) {
    if (c != '-' && c != '.' && c != '(' && c != ')' && c != ' ') out += c;
  }
  return out;
}

/// IPv6 address text without brackets (RFC 4291 s.2.2, RFC 5118 s.4.10). Defined in uri.cpp.
bool valid_ipv6(std::string_view s);
/// Dotted-quad IPv4 address.
bool valid_ipv4(std::string_view s);
/// hostname characters (alnum, '-', '.', '_'), non-empty.
bool valid_hostname(std::string_view s);

}  // namespace sipws::sip::text
