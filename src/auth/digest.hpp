#pragma once
// HTTP Digest computations for SIP (RFC 2617 s.3.2.2, RFC 7616 s.3.4.1, RFC 8760: MD5 and
// SHA-256), subscriber records (HA1 only) and "user@domain" parsing. Pure functions: no I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/expected.hpp"
#include "common/text.hpp"
#include "sip/headers.hpp"
#include "store/store.hpp"

namespace sipws::auth {

/// Digest algorithms sipws offers and accepts (RFC 8760 s.2). "-sess" variants are not offered.
enum class DigestAlgorithm { Md5, Sha256 };

/// "MD5" or "SHA-256" (the `algorithm=` token).
std::string_view algorithm_name(DigestAlgorithm a);
/// Parses an `algorithm=` value case-insensitively; an empty value means MD5 (RFC 2617
/// s.3.2.2). nullopt for anything else (MD5-sess, SHA-512-256...).
std::optional<DigestAlgorithm> parse_algorithm(std::string_view s);

/// Lower-case hex MD5 of `data`. Thread: any.
std::string md5_hex(std::string_view data);
/// Lower-case hex SHA-256 of `data`. Thread: any.
std::string sha256_hex(std::string_view data);
/// H(data) for algorithm `a`.
std::string digest_hex(DigestAlgorithm a, std::string_view data);

/// HA1 = H(user ":" realm ":" password) (RFC 7616 s.3.4.2, non-sess).
std::string ha1(DigestAlgorithm a, std::string_view user, std::string_view realm,
                std::string_view password);

/// The request-digest (RFC 7616 s.3.4.1; RFC 2617 s.3.2.2.1):
///   qop "auth": H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" H(method ":" uri))
///   qop empty:  H(HA1 ":" nonce ":" H(method ":" uri))   (RFC 2069 compatibility)
/// `ha1_hex` is the stored HA1 (hex). qop "auth-int" is not supported: callers reject it.
std::string digest_response(DigestAlgorithm a, std::string_view ha1_hex, std::string_view method,
                            std::string_view uri, std::string_view nonce, std::string_view qop,
                            std::string_view nc, std::string_view cnonce);

/// True if the two strings are equal, in time independent of where they differ (for
/// comparing digests). Thread: any.
bool constant_time_equal(std::string_view a, std::string_view b);

// ASCII lower-case copy (hex digests, qop and realm comparisons) and case-insensitive equality.
using sipws::text::iequal;
using sipws::text::to_lower;
/// The value of auth-param `name` of a Digest credential or challenge (unquoted), "" if absent.
std::string_view auth_param(const sip::AuthParams& a, std::string_view name);

/// What a client answers a Digest challenge with (RFC 7616 s.3.4; a UAC, RFC 3261 s.22.2).
struct DigestSecret {
  std::string user;      ///< username
  std::string password;  ///< the password, or empty when only `ha1_md5` is known
  std::string ha1_md5;   ///< MD5 HA1 (hex) for the challenge's realm; used without a password
};

/// The credentials (the value of an Authorization or Proxy-Authorization header) that answer
/// challenge `challenge` (a WWW-Authenticate / Proxy-Authenticate value) for `method` and
/// Request-URI `uri`: algorithm MD5 or SHA-256 as the challenge names it (MD5 when it names
/// none), qop=auth when the challenge offers it (nc `nc` as 8 hex digits, `cnonce`), the RFC
/// 2069 form otherwise; realm, nonce and opaque echoed. nullopt when it cannot be answered:
/// not Digest, no nonce, an algorithm sipws does not do (MD5-sess...), only qop=auth-int, or
/// a SHA-256 challenge with no password (an MD5 HA1 cannot answer it).
std::optional<std::string> answer_challenge(std::string_view challenge, const DigestSecret& secret,
                                            std::string_view method, std::string_view uri,
                                            std::uint32_t nc, std::string_view cnonce);

/// A subscriber record for `user@domain` with both HA1s (realm = domain); the password is not
/// kept. Used by `sipws user add`.
store::Subscriber make_subscriber(std::string_view user, std::string_view domain,
                                  std::string_view password);

/// Splits "alice@example.com" into {"alice", "example.com"} (domain lower-cased). Errors (as
/// a message for the CLI): empty, no '@', more than one '@', empty user or domain, whitespace
/// or control characters, a "sip:" prefix.
Expected<std::pair<std::string, std::string>, std::string> split_aor(std::string_view aor);

}  // namespace sipws::auth
