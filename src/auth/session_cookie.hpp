#pragma once
// Signed session cookies for WebSocket handshake authentication (RFC 7118 s.7 and Appendix A:
// the web page logs in over HTTPS, the browser presents the cookie on the WebSocket upgrade).
// Stateless: the cookie carries the identity and its expiry, signed with a server key, so any
// node holding the key can check it. No I/O except load_or_create_secret (start-up).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"
#include "common/text.hpp"

#include "common/crypto.hpp"

namespace sipws::auth {

/// The cookie name sipws sets and reads.
inline constexpr std::string_view kSessionCookieName = "sipws_session";

/// Why a cookie was refused.
enum class CookieError {
  Malformed,  ///< not base64url, or not "aor|expiry|mac"
  BadMac,     ///< signed with another key, or altered
  Expired,    ///< expiry <= now
};
std::string_view to_string(CookieError e);

/// Issues and checks session cookie values:
///   base64url(aor "|" expiry "|" HMAC-SHA256(secret, aor "|" expiry))
/// with `aor` = "user@domain", `expiry` in Unix seconds (decimal) and the 32-byte MAC raw,
/// base64url without padding. Thread: any (immutable after construction).
class SessionCookies {
 public:
  /// `secret`: the server key (any bytes, at least 16). `lifetime_s`: validity of new cookies.
  SessionCookies(std::string_view secret, std::uint32_t lifetime_s);

  /// A value for `aor` valid until now_unix + lifetime.
  std::string issue(std::string_view aor, std::int64_t now_unix) const;
  /// The aor of a valid value. Never throws; any input is safe (MAC compared in constant time).
  Expected<std::string, CookieError> verify(std::string_view value, std::int64_t now_unix) const;

  std::uint32_t lifetime_s() const { return lifetime_s_; }

  /// The `Set-Cookie` value that stores `value` (RFC 6265): HttpOnly, SameSite=Strict,
  /// Path=/, Max-Age=lifetime, and Secure when `secure` (HTTPS listener; a plain-HTTP page
  /// could not send a Secure cookie back on ws://).
  std::string set_cookie_header(std::string_view value, bool secure) const;
  /// The `Set-Cookie` value that deletes the cookie (Max-Age=0).
  static std::string clear_cookie_header(bool secure);

 private:
  std::string mac(std::string_view payload) const;  ///< 32 raw bytes; "" on OpenSSL failure

  /// HMAC-SHA256 keyed with the secret once (shared by copies: it is immutable).
  std::shared_ptr<const crypto::HmacSha256> hmac_;
  std::uint32_t lifetime_s_;
};

/// Every value of cookie `name` in a `Cookie` request header ("a=1; sipws_session=x"), in
/// order (a browser may send several with the same name from different paths).
std::vector<std::string> cookie_values(std::string_view header, std::string_view name);

// base64url without padding (RFC 4648 s.5) and its inverse: common/text.hpp's.
using sipws::text::base64url_decode;
using sipws::text::base64url_encode;

/// The server key for session cookies kept in `path`: read if the file exists (it must hold
/// exactly 32 bytes), otherwise 32 bytes from RAND_bytes written to a new file with mode 0600
/// (its folder created). Start-up only. @throws std::runtime_error naming the path and cause.
std::string load_or_create_secret(const std::string& path);

}  // namespace sipws::auth
