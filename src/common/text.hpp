#pragma once
// ASCII text helpers (case, white space) and byte encodings (hex, percent-encoding, base64url)
// for every layer: the one copy of each. Header-only and C++17, because src/ws/ compiles as C++17
// and tools/load links no sipws library. Pure functions; never std::tolower/std::toupper (no
// locale: protocol text is ASCII). Thread: any.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sipws::text {

// ---- ASCII character classes and case --------------------------------------------------------

/// 'A'..'Z' to 'a'..'z'; every other byte (non-ASCII included) unchanged.
constexpr char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
/// 'a'..'z' to 'A'..'Z'; every other byte unchanged.
constexpr char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }
/// '0'..'9', 'a'..'f', 'A'..'F'.
constexpr bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
/// The value 0..15 of hex digit `c` (either case); -1 if `c` is not a hex digit.
constexpr int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Lower-cases the ASCII letters of `s` in place (see lower()).
inline void lower_in_place(std::string& s) {
  for (char& c : s) c = lower(c);
}
/// A copy of `s` with its ASCII letters lower-cased (see lower()).
inline std::string to_lower(std::string_view s) {
  std::string out(s);
  lower_in_place(out);
  return out;
}
/// A copy of `s` with its ASCII letters upper-cased (see upper()).
inline std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = upper(c);
  return out;
}
/// ASCII case-insensitive equality (other bytes compare exactly).
inline bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}
/// True if `s` begins with `prefix`, ASCII case-insensitively.
inline bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequal(s.substr(0, prefix.size()), prefix);
}

// ---- white space -------------------------------------------------------------------------------

/// SP, HTAB, CR, LF: SIP's LWS after unfolding (RFC 3261 s.25.1; built values may still hold
/// CR/LF), and a superset of HTTP's OWS (RFC 9110 s.5.6.3).
constexpr bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
/// `s` without its leading white space (is_ws).
constexpr std::string_view ltrim(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  return s;
}
/// `s` without its trailing white space (is_ws).
constexpr std::string_view rtrim(std::string_view s) {
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}
/// `s` without its leading and trailing white space (is_ws): a view into `s`.
constexpr std::string_view trim(std::string_view s) { return rtrim(ltrim(s)); }

// ---- hex ---------------------------------------------------------------------------------------

enum class HexCase { Lower, Upper };

/// The hex digit of the low four bits of `v`: '0'..'9', then 'a'..'f' or 'A'..'F'.
constexpr char hex_digit(unsigned v, HexCase hc = HexCase::Lower) {
  return (hc == HexCase::Lower ? "0123456789abcdef" : "0123456789ABCDEF")[v & 0xf];
}
/// `n` bytes at `data` as 2n hex digits, most significant nibble first ("\x0a\xff" -> "0aff"),
/// with `separator` between bytes if not empty ("0A:FF", as in an SDP fingerprint).
inline std::string hex_encode(const void* data, std::size_t n, HexCase hc = HexCase::Lower,
                              std::string_view separator = {}) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve(n * (2 + separator.size()));
  for (std::size_t i = 0; i < n; ++i) {
    if (i != 0) out.append(separator);
    out += hex_digit(p[i] >> 4, hc);
    out += hex_digit(p[i], hc);
  }
  return out;
}
/// `bytes` as hex digits (see the pointer overload).
inline std::string hex_encode(std::string_view bytes, HexCase hc = HexCase::Lower,
                              std::string_view separator = {}) {
  return hex_encode(bytes.data(), bytes.size(), hc, separator);
}

// ---- percent-encoding (RFC 3986 s.2.1) -------------------------------------------------------

namespace detail {
inline std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += (plus_is_space && c == '+') ? ' ' : c;
    }
  }
  return out;
}
}  // namespace detail

/// `s` with every %HH escape (either case) replaced by its byte; nullopt if a '%' is not followed
/// by two hex digits. Any other character, '+' included, is kept. For URL paths.
inline std::optional<std::string> percent_decode(std::string_view s) {
  return detail::percent_decode(s, false);
}
/// application/x-www-form-urlencoded decoding of one name or value: percent_decode() that also
/// turns '+' into a space. nullopt on a malformed escape.
inline std::optional<std::string> form_decode(std::string_view s) {
  return detail::percent_decode(s, true);
}
/// `s` with every valid %HH escape replaced by its byte and anything else, a malformed escape
/// included ("%4", "%zz"), kept as written. Never fails. For comparing SIP URI parts, which
/// compare after unescaping (RFC 3261 s.19.1.4) even when an escape is malformed.
inline std::string percent_decode_lenient(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// ---- base64url (RFC 4648 s.5) ------------------------------------------------------------------

/// The value 0..63 of base64url character `c` ('A'-'Z', 'a'-'z', '0'-'9', '-', '_'); -1 for any
/// other character ('+', '/' and '=' included).
constexpr int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}
/// `bytes` in base64url without padding: ceil(4n/3) characters ("f" -> "Zg", "foo" -> "Zm9v").
inline std::string base64url_encode(std::string_view bytes) {
  constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const std::uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (n - i == 1) {
    const std::uint32_t v = p[i] << 16;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
  } else if (n - i == 2) {
    const std::uint32_t v = (p[i] << 16) | (p[i + 1] << 8);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
  }
  return out;
}
/// Decodes unpadded base64url `text` into `out` (cleared first). False, `out` then unspecified,
/// on a character outside the alphabet (padding '=' included), a length of 4k+1, or non-zero
/// leftover bits (only the canonical text of a value decodes: one value, one text).
inline bool base64url_decode(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 == 1) return false;
  out.reserve(text.size() / 4 * 3 + 2);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = base64url_value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return (acc & ((1u << bits) - 1)) == 0;
}

}  // namespace sipws::text
