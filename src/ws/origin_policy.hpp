#pragma once
// Which browser origins may open a SIP WebSocket (RFC 6455 s.10.2: the server checks Origin to
// stop other sites' pages from using a visitor's browser against it). No websocketpp types.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sipws::ws {

/// An Origin allow-list. Entries are exact origins (`https://phone.example.com:8443`) or
/// wildcard host patterns (`https://*.example.com`: any subdomain at any depth, not the apex).
/// Scheme and host compare case-insensitively; a missing port means the scheme's default (80
/// for http/ws, 443 for https/wss), so `https://a.example.com` equals `https://a.example.com:443`.
/// An empty list allows every origin. A request without Origin (native SIP clients, no browser)
/// is allowed iff `allow_no_origin`. The literal origin `null` matches only an exact `null` entry.
/// Thread: any (immutable after construction).
class OriginPolicy {
 public:
  OriginPolicy() = default;
  /// @throws std::invalid_argument naming the first malformed entry (see validate()).
  OriginPolicy(const std::vector<std::string>& patterns, bool allow_no_origin);

  /// `origin` is the header value ("" when the header is absent).
  bool allows(std::string_view origin) const;
  bool allow_no_origin() const { return allow_no_origin_; }
  bool empty() const { return patterns_.empty(); }

  /// Why `pattern` is not a valid entry, or nullopt if it is.
  static std::optional<std::string> validate(std::string_view pattern);

 private:
  struct Pattern {
    std::string scheme;
    std::string host;  ///< lower case; for a wildcard, the suffix after "*." with a leading '.'
    bool wildcard = false;
    unsigned port = 0;
  };
  std::vector<Pattern> patterns_;
  bool allow_no_origin_ = true;
};

}  // namespace sipws::ws
