#include "ws/origin_policy.hpp"

#include <stdexcept>

#include "common/text.hpp"

namespace sipws::ws {
namespace {

struct Parsed {
  std::string scheme;
  std::string host;
  unsigned port = 0;
};

using text::to_lower;

unsigned default_port(const std::string& scheme) {
  if (scheme == "https" || scheme == "wss") return 443;
  if (scheme == "http" || scheme == "ws") return 80;
  return 0;
}

/// Parses `scheme://host[:port]` (RFC 6454 s.6.2 serialization); error text on failure.
std::optional<Parsed> parse_origin(std::string_view s, std::string* why) {
  auto fail = [why](const char* w) -> std::optional<Parsed> {
    if (why) *why = w;
    return std::nullopt;
  };
  const auto sep = s.find("://");
  if (sep == std::string_view::npos || sep == 0) return fail("must be scheme://host[:port]");
  Parsed p;
  p.scheme = to_lower(s.substr(0, sep));
  for (char c : p.scheme) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')) {
      return fail("has a bad scheme");
    }
  }
  std::string_view rest = s.substr(sep + 3);
  std::string_view host;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return fail("has an unterminated [IPv6] host");
    host = rest.substr(0, close + 1);
    rest = rest.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return fail("has text after the host");
      port = rest.substr(1);
      if (port.empty()) return fail("has an empty port");
    }
  } else {
    const auto colon = rest.find(':');
    host = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = rest.substr(colon + 1);
      if (port.empty()) return fail("has an empty port");
    }
  }
  if (host.empty()) return fail("has no host");
  for (char c : host) {
    if (c == '/' || c == '?' || c == '#' || c == '@' || c == ' ' || c == '\t' ||
        static_cast<unsigned char>(c) < 0x20) {
      return fail("must not have a path, query, user info or spaces");
    }
  }
  p.host = to_lower(host);
  if (!port.empty()) {
    if (port.size() > 5) return fail("has a bad port");
    unsigned v = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return fail("has a bad port");
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v == 0 || v > 65535) return fail("has a bad port");
    p.port = v;
  } else {
    p.port = default_port(p.scheme);
  }
  return p;
}

}  // namespace

std::optional<std::string> OriginPolicy::validate(std::string_view pattern) {
  if (pattern == "null") return std::nullopt;
  std::string why;
  auto p = parse_origin(pattern, &why);
  if (!p) return why;
  const auto star = p->host.find('*');
  if (star != std::string::npos) {
    if (star != 0 || p->host.size() < 3 || p->host[1] != '.' ||
        p->host.find('*', 1) != std::string::npos) {
      return std::string("may use '*' only as the first label (https://*.example.com)");
    }
  }
  return std::nullopt;
}

OriginPolicy::OriginPolicy(const std::vector<std::string>& patterns, bool allow_no_origin)
    : allow_no_origin_(allow_no_origin) {
  for (const auto& text : patterns) {
    if (auto why = validate(text)) {
      throw std::invalid_argument("origin \"" + text + "\" " + *why);
    }
    Pattern pat;
    if (text == "null") {
      pat.scheme = "null";
      patterns_.push_back(pat);
      continue;
    }
    auto p = parse_origin(text, nullptr);
    pat.scheme = p->scheme;
    pat.port = p->port;
    if (p->host.size() > 2 && p->host[0] == '*') {
      pat.wildcard = true;
      pat.host = p->host.substr(1);  // ".example.com"
    } else {
      pat.host = p->host;
    }
    patterns_.push_back(std::move(pat));
  }
}

bool OriginPolicy::allows(std::string_view origin) const {
  if (origin.empty()) return allow_no_origin_;
  if (patterns_.empty()) return true;
  if (origin == "null") {
    for (const auto& p : patterns_) {
      if (p.scheme == "null") return true;
    }
    return false;
  }
  auto o = parse_origin(origin, nullptr);
  if (!o || o->host.find('*') != std::string::npos) return false;
  for (const auto& p : patterns_) {
    if (p.scheme == "null" || p.scheme != o->scheme || p.port != o->port) continue;
    if (!p.wildcard) {
      if (p.host == o->host) return true;
      continue;
    }
    // "*.example.com": o->host ends with ".example.com" and has a non-empty label before it.
    if (o->host.size() > p.host.size() &&
        o->host.compare(o->host.size() - p.host.size(), p.host.size(), p.host) == 0 &&
        o->host[o->host.size() - p.host.size() - 1] != '.') {
      return true;
    }
  }
  return false;
}

}  // namespace sipws::ws
