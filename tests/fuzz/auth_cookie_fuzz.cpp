// libFuzzer target for the session cookie (auth::SessionCookies, auth::cookie_values): what a
// browser, or anyone, sends in the `Cookie` header of a WebSocket upgrade (RFC 7118 s.7).
// The first byte is a tamper position; the rest is used three ways:
//   - as a `Cookie` header: every sipws_session value found is a piece of the header, and is
//     verified; a value that verifies is the canonical cookie for its aor and expiry (issue()
//     gives it back byte for byte);
//   - as a cookie value on its own (verify);
//   - as an aor: issue() then verify() gives that aor back until the expiry and Expired from
//     then on; a cookie with any one character changed, or checked with another key, does not
//     verify.
// Seeds: tests/fuzz/corpus/auth_cookie/, written by this target from the real cookie code:
//   SIPWS_FUZZ_WRITE_SEEDS=tests/fuzz/corpus/auth_cookie build-fuzz/auth_cookie_fuzz
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "auth/session_cookie.hpp"

namespace {

using namespace sipws::auth;

/// An invariant of our own code broke: name it and let the fuzzer report the input.
void check_at(bool ok, const char* what, int line) {
  if (ok) return;
  std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, line, what);
  std::abort();
}
#define check(cond) check_at((cond), #cond, __LINE__)

constexpr std::int64_t kNow = 1700000000;  // Unix seconds, the clock of every check here
constexpr std::uint32_t kLifetime = 43200;

const SessionCookies& cookies() {
  static const SessionCookies c("fuzz-cookie-key-0123456789abcdef", kLifetime);
  return c;
}
const SessionCookies& other_key() {
  static const SessionCookies c("another-deployment-key-456789abc", kLifetime);
  return c;
}

/// A cookie that verifies was made by issue() for that aor: the MAC cannot be forged and
/// base64url is decoded strictly, so issue() for its aor and expiry gives it back exactly.
void check_verified(const std::string& value, const std::string& aor) {
  check(!aor.empty());
  std::string raw;
  check(base64url_decode(value, raw));
  const std::string_view payload = std::string_view(raw).substr(0, raw.size() - 33);
  const auto bar = payload.rfind('|');
  check(bar == aor.size() && payload.substr(0, bar) == aor);
  const std::string_view exp_text = payload.substr(bar + 1);
  std::int64_t expiry = 0;
  const auto [end, ec] =
      std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), expiry);
  check(ec == std::errc() && end == exp_text.data() + exp_text.size() && expiry > kNow);
  check(cookies().issue(aor, expiry - kLifetime) == value);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = std::getenv("SIPWS_FUZZ_WRITE_SEEDS");
  if (dir == nullptr) return 0;
  // Real cookies for the key and clock above, alone and inside Cookie headers as browsers send.
  const std::string alice = cookies().issue("alice@example.com", kNow);
  const std::string bob = cookies().issue("bob@example.com", kNow - 100);
  const std::string expired = cookies().issue("carol@example.com", kNow - kLifetime);
  const std::string foreign = other_key().issue("alice@example.com", kNow);
  const std::pair<const char*, std::string> seeds[] = {
      {"cookie_alice", alice},
      {"cookie_expired", expired},
      {"cookie_other_key", foreign},
      {"header_one", "sipws_session=" + alice},
      {"header_many", "theme=dark; sipws_session=" + expired + "; lang=en; sipws_session=" + bob},
      {"header_quoted", "a=1;sipws_session=\"" + alice + "\" ; b"},
      {"aor_plain", "alice@example.com"},
      {"aor_bars", "we|ird@example.com"},
  };
  std::uint8_t pos = 0;
  for (const auto& [name, text] : seeds) {
    std::ofstream out(std::string(dir) + "/" + name, std::ios::binary);
    out.put(static_cast<char>(pos += 37));
    out << text;
  }
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 4096) return 0;
  const std::uint8_t tamper = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  // 1. A Cookie header.
  for (const std::string& v : cookie_values(text, kSessionCookieName)) {
    check(text.find(v) != std::string_view::npos);
    auto aor = cookies().verify(v, kNow);
    if (aor) {
      check_verified(v, *aor);
    } else {
      check(!to_string(aor.error()).empty());
    }
  }

  // 2. A cookie value.
  if (auto aor = cookies().verify(text, kNow)) check_verified(std::string(text), *aor);

  // 3. An aor: issue, verify, expire, tamper, other key.
  const std::string aor(text);
  const std::string value = cookies().issue(aor, kNow);
  auto back = cookies().verify(value, kNow);
  if (!aor.empty() && value.size() <= 1024) {
    check(back.has_value() && *back == aor);
    check(cookies().verify(value, kNow + kLifetime - 1).has_value());
    auto late = cookies().verify(value, kNow + kLifetime);
    check(!late && late.error() == CookieError::Expired);
    auto foreign = other_key().verify(value, kNow);
    check(!foreign && foreign.error() == CookieError::BadMac);
    // Any other character at one position: refused (base64url is decoded strictly, so no two
    // texts give the same bytes, and the MAC covers all of them).
    std::string forged = value;
    const std::size_t at = tamper % forged.size();
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    forged[at] = kAlphabet[(kAlphabet.find(forged[at]) + 1 + tamper % 63) % 64];
    check(forged != value);
    check(!cookies().verify(forged, kNow).has_value());
  } else {
    check(!back.has_value() && back.error() == CookieError::Malformed);
  }
  const std::string set = cookies().set_cookie_header(value, tamper & 1);
  check(cookie_values(set.substr(0, set.find(';')), kSessionCookieName).at(0) == value);
  return 0;
}
