#pragma once
// SIP, SIPS and tel URIs (RFC 3261 s.19.1, s.25.1; RFC 3966), parsed into views.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sipws::sip {

/// A `name[=value]` parameter; `value` is empty when absent (has_value tells "a" from "a=").
struct Param {
  std::string_view name;
  std::string_view value;
  bool has_value = false;
};

/// Finds a parameter by name, case-insensitively (RFC 3261 s.19.1.4). nullptr if absent.
const Param* find_param(const std::vector<Param>& params, std::string_view name);

/// `params` written back as ";name=value;name..." (values as parsed, quotes kept), leaving out
/// those `skip` (if set) returns true for. Empty if none is left.
std::string params_text(const std::vector<Param>& params,
                        bool (*skip)(std::string_view name) = nullptr);

enum class Scheme : std::uint8_t { Sip, Sips, Tel, Other };

/// A parsed URI. Every view points into the string the URI was parsed from, which must outlive
/// it. `user`/`password` keep their %-escapes (compare with uri_equal, not ==).
struct Uri {
  Scheme scheme = Scheme::Other;
  std::string_view scheme_name;  ///< as written, e.g. "sip", "SIPS", "tel", "http"
  std::string_view user;         ///< sip/sips userinfo user; tel: the number
  std::string_view password;
  std::string_view host;       ///< as written; IPv6 references keep their brackets
  std::uint16_t port = 0;      ///< 0 when absent
  std::vector<Param> params;   ///< ;name=value after the hostport (tel: after the number)
  std::vector<Param> headers;  ///< ?name=value&...
  std::string_view raw;        ///< the whole URI text

  bool is_sip() const { return scheme == Scheme::Sip || scheme == Scheme::Sips; }
  const Param* param(std::string_view name) const { return find_param(params, name); }
  /// The `transport` parameter, lower-cased semantics left to the caller; empty if none.
  std::string_view transport() const;
  /// True if the URI carries the `lr` parameter (RFC 3261 s.19.1.1).
  bool lr() const { return param("lr") != nullptr; }
};

/// Parses a URI (no surrounding <>). sip/sips need a valid host; tel needs a number; other
/// schemes are accepted as Scheme::Other with only `scheme_name` and `raw` set.
/// @returns nullopt for malformed text (bad host, bad port, bad escapes, empty userinfo...).
std::optional<Uri> parse_uri(std::string_view text);

/// URI comparison per RFC 3261 s.19.1.4 (sip/sips): scheme, user, password case-sensitive after
/// unescaping, host case-insensitive, ports, and the user/ttl/method/maddr/transport params.
bool uri_equal(const Uri& a, const Uri& b);

/// Serializes `sip:user@host:port;params` back to text (used when the proxy builds a URI).
std::string to_string(const Uri& u);

}  // namespace sipws::sip
