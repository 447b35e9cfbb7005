#pragma once
// SIP enumerations: methods and header ids (RFC 3261 s.7, s.20), with compact forms.

#include <cstdint>
#include <string_view>

namespace sipws::sip {

/// Request methods sipws knows by name; anything else is Method::Other with its name kept.
enum class Method : std::uint8_t {
  Other,
  Invite,
  Ack,
  Bye,
  Cancel,
  Register,
  Options,
  Info,
  Update,
  Prack,
  Subscribe,
  Notify,
  Refer,
  Message,
  Publish,
};

/// Exact, case-sensitive match of a method token (RFC 3261 s.7.1: methods are case-sensitive).
Method method_from_string(std::string_view token);
/// "INVITE" etc.; "" for Method::Other.
std::string_view method_name(Method m);

/// Headers the core looks at. Other headers are HeaderId::Other and are kept verbatim.
enum class HeaderId : std::uint8_t {
  Other,
  Via,     // v
  From,    // f
  To,      // t
  CallId,  // i
  CSeq,
  MaxForwards,
  Contact,  // m
  Route,
  RecordRoute,
  Path,
  ContentLength,    // l
  ContentType,      // c
  ContentEncoding,  // e
  Expires,
  MinExpires,
  Require,
  ProxyRequire,
  Supported,  // k
  Unsupported,
  Allow,
  Authorization,
  ProxyAuthorization,
  WwwAuthenticate,
  ProxyAuthenticate,
  AuthenticationInfo,
  UserAgent,
  Server,
  Date,
  Timestamp,
  Event,    // o
  Subject,  // s
  ReferTo,  // r
  RetryAfter,
  FlowTimer,
  kCount
};

/// Maps a header name (case-insensitive, compact forms included) to its id.
HeaderId header_id(std::string_view name);
/// Canonical full name ("Via", "Call-ID", "CSeq", "WWW-Authenticate"...); "" for Other.
std::string_view header_name(HeaderId id);
/// True for headers whose value is a comma-separated list that the parser splits into one
/// Header entry per element (Via, Route, Record-Route, Path, Contact; RFC 3261 s.7.3.1).
bool is_split_list(HeaderId id);

}  // namespace sipws::sip
