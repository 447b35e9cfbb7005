#pragma once
// Typed views of the headers the core needs (RFC 3261 s.20, s.25.1). Each parse_* takes one
// header value (one element of a split list) and returns views into it, or nullopt if malformed.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "sip/types.hpp"
#include "sip/uri.hpp"

namespace sipws::sip {

/// name-addr or addr-spec with header parameters: From, To, Contact, Route, Record-Route, Path.
struct NameAddr {
  std::string_view display;  ///< display name, quotes stripped (escapes kept); may be empty
  Uri uri;
  /// Header params after the URI (tag, expires, q, +sip.instance...); a quoted value keeps its
  /// quotes (e.g. `"<urn:uuid:...>"`).
  std::vector<Param> params;
  bool angle = false;    ///< true if written as <uri>
  bool star = false;     ///< Contact: * (then uri is empty)
  std::string_view raw;  ///< the whole value
  const Param* param(std::string_view name) const { return find_param(params, name); }
  std::string_view tag() const;
};
std::optional<NameAddr> parse_name_addr(std::string_view value);

/// One Via value (RFC 3261 s.20.42, RFC 3581 rport, RFC 7118 s.5.2 WS/WSS).
struct Via {
  std::string_view protocol_name;     ///< "SIP"
  std::string_view protocol_version;  ///< "2.0"
  std::string_view transport;         ///< "UDP", "TCP", "TLS", "WS", "WSS", other tokens kept
  std::string_view host;              ///< sent-by host (IPv6 with brackets)
  std::uint16_t port = 0;             ///< 0 when absent
  std::vector<Param> params;
  std::string_view raw;
  const Param* param(std::string_view name) const { return find_param(params, name); }
  std::string_view branch() const;
  /// True when the branch starts with the RFC 3261 magic cookie "z9hG4bK".
  bool rfc3261_branch() const;
};
std::optional<Via> parse_via(std::string_view value);

struct CSeq {
  std::uint32_t number = 0;  ///< < 2**31 (RFC 3261 s.8.1.1.5)
  Method method = Method::Other;
  std::string_view method_name;
};
std::optional<CSeq> parse_cseq(std::string_view value);

/// A non-negative decimal that fits in 32 bits (Max-Forwards, Expires, Content-Length...).
std::optional<std::uint32_t> parse_uint(std::string_view value);

/// Splits a comma-separated header value into elements, honouring quotes, <> and escapes;
/// trims LWS around each element. Empty elements are skipped.
std::vector<std::string_view> split_list(std::string_view value);

/// Challenge / credentials (RFC 3261 s.25.1 challenge, credentials; RFC 7616).
struct AuthParams {
  std::string_view scheme;    ///< "Digest"
  std::vector<Param> params;  ///< values with quotes stripped
  const Param* param(std::string_view name) const { return find_param(params, name); }
};
std::optional<AuthParams> parse_auth(std::string_view value);

}  // namespace sipws::sip
