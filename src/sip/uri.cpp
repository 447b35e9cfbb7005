// SIP/SIPS/tel URI parsing, comparison and printing (RFC 3261 s.19.1, s.25.1; RFC 5118; RFC 3966).
#include "sip/uri.hpp"

#include <string>

#include "sip/text.hpp"

namespace sipws::sip {
namespace text {
namespace {
bool valid_ipv4_impl(std::string_view s) {
  int parts = 0;
  while (true) {
    const auto dot = s.find('.');
    const auto part = s.substr(0, dot);
    if (part.empty() || part.size() > 3) return false;
    int v = 0;
    for (char c : part) {
      if (!is_digit(c)) return false;
      v = v * 10 + (c - '0');
    }
    if (v > 255) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  return parts == 4;
}

// Counts the 16-bit groups of a ':'-separated run; an IPv4 tail counts 2. -1 if malformed.
int ipv6_groups(std::string_view s, bool allow_ipv4) {
  if (s.empty()) return 0;
  int n = 0;
  while (true) {
    const auto colon = s.find(':');
    const auto part = s.substr(0, colon);
    if (part.empty()) return -1;
    if (colon == std::string_view::npos && allow_ipv4 && part.find('.') != std::string_view::npos) {
      if (!valid_ipv4_impl(part)) return -1;
      n += 2;
    } else {
      if (part.size() > 4) return -1;
      for (char c : part) {
        if (!is_hex(c)) return -1;
      }
      ++n;
    }
    if (colon == std::string_view::npos) break;
    s.remove_prefix(colon + 1);
  }
  return n;
}

}  // namespace

bool valid_ipv6(std::string_view s) {
  const auto dbl = s.find("::");
  if (dbl == std::string_view::npos) return ipv6_groups(s, true) == 8;
  if (s.find("::", dbl + 1) != std::string_view::npos) return false;
  const int l = ipv6_groups(s.substr(0, dbl), false);
  const int r = ipv6_groups(s.substr(dbl + 2), true);
  return l >= 0 && r >= 0 && l + r <= 7;
}

bool valid_ipv4(std::string_view s) { return valid_ipv4_impl(s); }

bool valid_hostname(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_alnum(c) && c != '-' && c != '.' && c != '_') return false;
  }
  return true;
}

}  // namespace text

namespace {

using namespace text;

bool chars_ok(std::string_view s, std::string_view extra) {
  for (char c : s) {
    if (is_unreserved(c) || c == '%') continue;
    if (extra.find(c) == std::string_view::npos) return false;
  }
  return escapes_ok(s);
}

// ;name[=value] list; empty names are malformed.
bool parse_params(std::string_view s, char sep, std::string_view extra, std::vector<Param>& out) {
  if (!s.empty() && out.capacity() == 0) out.reserve(4);  // one allocation for the usual few
  while (!s.empty()) {
    const auto end = s.find(sep);
    const auto item = s.substr(0, end);
    const auto eq = item.find('=');
    Param p;
    p.name = item.substr(0, eq);
    if (eq != std::string_view::npos) {
      p.value = item.substr(eq + 1);
      p.has_value = true;
    }
    if (p.name.empty() || !chars_ok(p.name, extra) || !chars_ok(p.value, extra)) return false;
    out.push_back(p);
    if (end == std::string_view::npos) break;
    s.remove_prefix(end + 1);
    if (s.empty()) return false;  // trailing separator
  }
  return true;
}

constexpr std::string_view kParamExtra = "[]/:&+$";
constexpr std::string_view kHeaderExtra = "[]/?:+$";

// RFC 3261 s.19.1.4: URI parts compare after %-unescaping (a malformed escape as written).
using sipws::text::percent_decode_lenient;

bool iequal_unescaped(std::string_view a, std::string_view b) {
  return iequal(percent_decode_lenient(a), percent_decode_lenient(b));
}

}  // namespace

std::string params_text(const std::vector<Param>& params, bool (*skip)(std::string_view name)) {
  std::string out;
  for (const auto& p : params) {
    if (skip != nullptr && skip(p.name)) continue;
    out += ';';
    out += p.name;
    if (p.has_value) {
      out += '=';
      out += p.value;
    }
  }
  return out;
}

const Param* find_param(const std::vector<Param>& params, std::string_view name) {
  for (const auto& p : params) {
    if (iequal(p.name, name)) return &p;
  }
  return nullptr;
}

std::string_view Uri::transport() const {
  const Param* p = param("transport");
  return p ? p->value : std::string_view();
}

std::optional<Uri> parse_uri(std::string_view text) {
  if (text.empty()) return std::nullopt;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '<' || c == '>' || c == '"') return std::nullopt;
  }
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || !is_alpha(text[0])) return std::nullopt;
  Uri u;
  u.raw = text;
  u.scheme_name = text.substr(0, colon);
  for (char c : u.scheme_name) {
    if (!is_alnum(c) && c != '+' && c != '-' && c != '.') return std::nullopt;
  }
  std::string_view rest = text.substr(colon + 1);
  if (iequal(u.scheme_name, "sip")) {
    u.scheme = Scheme::Sip;
  } else if (iequal(u.scheme_name, "sips")) {
    u.scheme = Scheme::Sips;
  } else if (iequal(u.scheme_name, "tel")) {
    u.scheme = Scheme::Tel;
    const auto semi = rest.find(';');
    u.user = rest.substr(0, semi);
    if (u.user.empty() || !chars_ok(u.user, "+#-.()*")) return std::nullopt;
    if (semi != std::string_view::npos &&
        !parse_params(rest.substr(semi + 1), ';', kParamExtra, u.params)) {
      return std::nullopt;
    }
    return u;
  } else {
    u.scheme = Scheme::Other;
    if (rest.empty()) return std::nullopt;
    return u;
  }

  // sip / sips: [userinfo "@"] hostport uri-parameters [headers]
  const auto at = rest.find('@');
  if (at != std::string_view::npos) {
    const auto userinfo = rest.substr(0, at);
    const auto pc = userinfo.find(':');
    u.user = userinfo.substr(0, pc);
    if (pc != std::string_view::npos) {
      u.password = userinfo.substr(pc + 1);
      if (!chars_ok(u.password, "&=+$,")) return std::nullopt;
    }
    if (u.user.empty() || !chars_ok(u.user, "&=+$,;?/")) return std::nullopt;
    rest.remove_prefix(at + 1);
  }
  std::size_t pos = 0;
  if (!rest.empty() && rest[0] == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || !valid_ipv6(rest.substr(1, close - 1))) {
      return std::nullopt;
    }
    u.host = rest.substr(0, close + 1);
    pos = close + 1;
  } else {
    pos = rest.find_first_of(":;?");
    if (pos == std::string_view::npos) pos = rest.size();
    u.host = rest.substr(0, pos);
    if (!valid_hostname(u.host)) return std::nullopt;
  }
  if (pos < rest.size() && rest[pos] == ':') {
    auto end = rest.find_first_of(";?", pos + 1);
    if (end == std::string_view::npos) end = rest.size();
    const auto port_text = rest.substr(pos + 1, end - pos - 1);
    const auto port = parse_u32(port_text);
    if (!port || *port > 65535 || port_text.size() > 5) return std::nullopt;
    u.port = static_cast<std::uint16_t>(*port);
    pos = end;
  }
  if (pos < rest.size() && rest[pos] != ';' && rest[pos] != '?') return std::nullopt;
  rest.remove_prefix(pos);
  const auto q = rest.find('?');
  const auto params = rest.substr(0, q);
  if (!params.empty() &&
      (params.size() == 1 || !parse_params(params.substr(1), ';', kParamExtra, u.params))) {
    return std::nullopt;
  }
  if (q != std::string_view::npos) {
    const auto hdrs = rest.substr(q + 1);
    if (hdrs.empty() || !parse_params(hdrs, '&', kHeaderExtra, u.headers)) return std::nullopt;
  }
  return u;
}

bool uri_equal(const Uri& a, const Uri& b) {
  if (a.scheme != b.scheme) return false;
  if (!a.is_sip()) {
    if (a.scheme == Scheme::Tel) {
      return percent_decode_lenient(a.user) == percent_decode_lenient(b.user) &&
             a.params.size() == b.params.size();
    }
    return iequal(a.raw, b.raw);
  }
  if (percent_decode_lenient(a.user) != percent_decode_lenient(b.user)) return false;
  if (percent_decode_lenient(a.password) != percent_decode_lenient(b.password)) return false;
  if (!iequal(a.host, b.host) || a.port != b.port) return false;
  for (std::string_view name : {"user", "ttl", "method", "maddr", "transport"}) {
    const Param* pa = a.param(name);
    const Param* pb = b.param(name);
    if ((pa == nullptr) != (pb == nullptr)) return false;
    if (pa && !iequal_unescaped(pa->value, pb->value)) return false;
  }
  for (const auto& pa : a.params) {
    const Param* pb = b.param(pa.name);
    if (pb && !iequal_unescaped(pa.value, pb->value)) return false;
  }
  if (a.headers.size() != b.headers.size()) return false;
  for (const auto& ha : a.headers) {
    const Param* hb = find_param(b.headers, ha.name);
    if (!hb || !iequal_unescaped(ha.value, hb->value)) return false;
  }
  return true;
}

std::string to_string(const Uri& u) {
  if (u.scheme == Scheme::Other) return std::string(u.raw);
  std::string out;
  out.reserve(u.raw.size() + 32);
  if (!u.scheme_name.empty()) {
    out.append(u.scheme_name);
  } else {
    out.append(u.scheme == Scheme::Sips ? "sips" : u.scheme == Scheme::Tel ? "tel" : "sip");
  }
  out.push_back(':');
  if (!u.user.empty()) {
    out.append(u.user);
    if (!u.password.empty()) {
      out.push_back(':');
      out.append(u.password);
    }
    if (u.scheme != Scheme::Tel) out.push_back('@');
  }
  if (u.scheme != Scheme::Tel) {
    out.append(u.host);
    if (u.port != 0) {
      out.push_back(':');
      out.append(std::to_string(u.port));
    }
  }
  for (const auto& p : u.params) {
    out.push_back(';');
    out.append(p.name);
    if (p.has_value) {
      out.push_back('=');
      out.append(p.value);
    }
  }
  char sep = '?';
  for (const auto& h : u.headers) {
    out.push_back(sep);
    sep = '&';
    out.append(h.name);
    out.push_back('=');
    out.append(h.value);
  }
  return out;
}

}  // namespace sipws::sip
