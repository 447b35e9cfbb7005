// Typed header views (RFC 3261 s.20, s.25.1; RFC 3581; RFC 7118 s.5.2; RFC 5118 s.4.5).
#include "sip/headers.hpp"

#include "sip/text.hpp"

namespace sipws::sip {
namespace {

using namespace text;

// Header parameters: *( SEMI generic-param ) with LWS allowed around ';' and '='.
// Values: token (plus ':' for unbracketed IPv6 received=), [IPv6], or a quoted string (kept
// with its quotes). Stops at end of input; anything else is malformed.
bool parse_header_params(std::string_view s, std::vector<Param>& out) {
  s = ltrim(s);
  if (!s.empty() && out.capacity() == 0) out.reserve(4);  // one allocation for the usual few
  while (!s.empty()) {
    if (s[0] != ';') return false;
    s = ltrim(s.substr(1));
    std::size_t n = 0;
    while (n < s.size() && is_token_char(s[n])) ++n;
    if (n == 0) return false;
    Param p;
    p.name = s.substr(0, n);
    s = ltrim(s.substr(n));
    if (!s.empty() && s[0] == '=') {
      s = ltrim(s.substr(1));
      if (s.empty()) return false;
      std::size_t v = 0;
      if (s[0] == '"') {
        const auto e = quoted_end(s, 0);
        if (e == std::string_view::npos) return false;
        v = e + 1;
      } else if (s[0] == '[') {
        const auto e = s.find(']');
        if (e == std::string_view::npos) return false;
        v = e + 1;
      } else {
        while (v < s.size() && (is_token_char(s[v]) || s[v] == ':')) ++v;
        if (v == 0) return false;
      }
      p.value = s.substr(0, v);
      p.has_value = true;
      s = ltrim(s.substr(v));
    }
    out.push_back(p);
  }
  return true;
}

bool is_display_token_text(std::string_view s) {
  for (char c : s) {
    if (!is_token_char(c) && !is_ws(c)) return false;
  }
  return true;
}

}  // namespace

std::string_view NameAddr::tag() const {
  const Param* p = param("tag");
  return p ? p->value : std::string_view();
}

std::optional<NameAddr> parse_name_addr(std::string_view value) {
  const auto v = trim(value);
  if (v.empty()) return std::nullopt;
  NameAddr na;
  na.raw = v;
  if (v == "*") {
    na.star = true;
    return na;
  }
  std::string_view rest;
  if (v[0] == '"') {
    const auto e = quoted_end(v, 0);
    if (e == std::string_view::npos) return std::nullopt;
    na.display = v.substr(1, e - 1);
    rest = ltrim(v.substr(e + 1));
    if (rest.empty() || rest[0] != '<') return std::nullopt;
  } else {
    const auto lt = v.find('<');
    if (lt != std::string_view::npos && is_display_token_text(v.substr(0, lt))) {
      na.display = trim(v.substr(0, lt));
      rest = v.substr(lt);
    }
  }
  if (!rest.empty()) {
    const auto gt = rest.find('>');
    if (gt == std::string_view::npos) return std::nullopt;
    auto uri = parse_uri(rest.substr(1, gt - 1));
    if (!uri) return std::nullopt;
    na.uri = std::move(*uri);
    na.angle = true;
    if (!parse_header_params(rest.substr(gt + 1), na.params)) return std::nullopt;
    return na;
  }
  // addr-spec: params after the URI belong to the header (RFC 3261 s.20.10); a URI with ',',
  // '?' or ';' of its own must have been enclosed in <>.
  std::size_t end = 0;
  while (end < v.size() && v[end] != ';' && !is_ws(v[end])) ++end;
  const auto uri_text = v.substr(0, end);
  if (uri_text.find_first_of(",?") != std::string_view::npos) return std::nullopt;
  auto uri = parse_uri(uri_text);
  if (!uri) return std::nullopt;
  na.uri = std::move(*uri);
  if (!parse_header_params(v.substr(end), na.params)) return std::nullopt;
  return na;
}

std::string_view Via::branch() const {
  const Param* p = param("branch");
  return p ? p->value : std::string_view();
}

bool Via::rfc3261_branch() const { return branch().starts_with("z9hG4bK"); }

std::optional<Via> parse_via(std::string_view value) {
  auto s = trim(value);
  Via via;
  via.raw = s;
  auto token = [&s]() {
    std::size_t n = 0;
    while (n < s.size() && is_token_char(s[n])) ++n;
    const auto t = s.substr(0, n);
    s = s.substr(n);
    return t;
  };
  auto slash = [&s]() {
    s = ltrim(s);
    if (s.empty() || s[0] != '/') return false;
    s = ltrim(s.substr(1));
    return true;
  };
  via.protocol_name = token();
  if (via.protocol_name.empty() || !slash()) return std::nullopt;
  via.protocol_version = token();
  if (via.protocol_version.empty() || !slash()) return std::nullopt;
  via.transport = token();
  if (via.transport.empty() || s.empty() || !is_ws(s[0])) return std::nullopt;
  s = ltrim(s);
  if (s.empty()) return std::nullopt;
  if (s[0] == '[') {
    const auto close = s.find(']');
    if (close == std::string_view::npos || !valid_ipv6(s.substr(1, close - 1))) {
      return std::nullopt;
    }
    via.host = s.substr(0, close + 1);
    s = s.substr(close + 1);
  } else {
    std::size_t n = 0;
    while (n < s.size() && (is_alnum(s[n]) || s[n] == '-' || s[n] == '.' || s[n] == '_')) ++n;
    via.host = s.substr(0, n);
    if (via.host.empty()) return std::nullopt;
    s = s.substr(n);
  }
  s = ltrim(s);
  if (!s.empty() && s[0] == ':') {
    s = ltrim(s.substr(1));
    std::size_t n = 0;
    while (n < s.size() && is_digit(s[n])) ++n;
    const auto port = parse_u32(s.substr(0, n));
    if (!port || *port > 65535 || n > 5) return std::nullopt;
    via.port = static_cast<std::uint16_t>(*port);
    s = s.substr(n);
  }
  if (!parse_header_params(s, via.params)) return std::nullopt;
  return via;
}

std::optional<CSeq> parse_cseq(std::string_view value) {
  const auto v = trim(value);
  std::size_t n = 0;
  while (n < v.size() && is_digit(v[n])) ++n;
  const auto num = parse_u32(v.substr(0, n));
  if (!num || *num >= 0x80000000U) return std::nullopt;
  if (n >= v.size() || !is_ws(v[n])) return std::nullopt;
  const auto method = ltrim(v.substr(n));
  if (!is_token(method)) return std::nullopt;
  CSeq c;
  c.number = *num;
  c.method_name = method;
  c.method = method_from_string(method);
  return c;
}

std::optional<std::uint32_t> parse_uint(std::string_view value) { return parse_u32(trim(value)); }

std::vector<std::string_view> split_list(std::string_view value) {
  std::vector<std::string_view> out;
  bool quoted = false;
  int angle = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (quoted) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
      continue;
    }
    if (c == '"') {
      quoted = true;
    } else if (c == '<') {
      ++angle;
    } else if (c == '>') {
      if (angle > 0) --angle;
    } else if (c == ',' && angle == 0) {
      const auto e = trim(value.substr(start, i - start));
      if (!e.empty()) out.push_back(e);
      start = i + 1;
    }
  }
  const auto e = trim(value.substr(std::min(start, value.size())));
  if (!e.empty()) out.push_back(e);
  return out;
}

std::optional<AuthParams> parse_auth(std::string_view value) {
  auto v = trim(value);
  std::size_t n = 0;
  while (n < v.size() && is_token_char(v[n])) ++n;
  if (n == 0) return std::nullopt;
  AuthParams a;
  a.scheme = v.substr(0, n);
  if (n < v.size() && !is_ws(v[n])) return std::nullopt;
  v = ltrim(v.substr(n));
  bool quoted = false;
  std::size_t start = 0;
  auto add = [&a](std::string_view item) {
    item = trim(item);
    if (item.empty()) return true;
    const auto eq = item.find('=');
    Param p;
    p.name = rtrim(item.substr(0, eq));
    if (!is_token(p.name)) return false;
    if (eq != std::string_view::npos) {
      auto val = ltrim(item.substr(eq + 1));
      if (!val.empty() && val[0] == '"') {
        const auto e = quoted_end(val, 0);
        if (e == std::string_view::npos || !trim(val.substr(e + 1)).empty()) return false;
        val = val.substr(1, e - 1);
      }
      p.value = val;
      p.has_value = true;
    }
    a.params.push_back(p);
    return true;
  };
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (quoted) {
      if (v[i] == '\\') {
        ++i;
      } else if (v[i] == '"') {
        quoted = false;
      }
    } else if (v[i] == '"') {
      quoted = true;
    } else if (v[i] == ',') {
      if (!add(v.substr(start, i - start))) return std::nullopt;
      start = i + 1;
    }
  }
  if (quoted) return std::nullopt;
  if (!add(v.substr(std::min(start, v.size())))) return std::nullopt;
  return a;
}

}  // namespace sipws::sip
