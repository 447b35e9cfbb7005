#include "app/config.hpp"

#include "transport/connection_limiter.hpp"
#include "ws/origin_policy.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "common/log.hpp"
#include "common/net.hpp"
#include "proxy/routing.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"
#include "store/store.hpp"
#include "ws/client.hpp"

namespace sipws::app {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& key, const std::string& what) {
  throw ConfigError("config key '" + key + "': " + what);
}

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto pos = s.find(',');
    const std::string_view item = text::trim(s.substr(0, pos));
    if (!item.empty()) out.emplace_back(item);
    if (pos == std::string_view::npos) break;
    s.remove_prefix(pos + 1);
  }
  return out;
}

std::optional<std::uint64_t> to_uint(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

/// Splits a `listen` entry into the address and the text after " advertise " (empty if none).
std::pair<std::string, std::string> split_advertise(const std::string& item) {
  const auto first = item.find_first_of(" \t");
  if (first == std::string::npos) return {item, ""};
  std::istringstream words(item.substr(first));
  std::string keyword;
  std::string value;
  std::string extra;
  words >> keyword >> value >> extra;
  if (keyword != "advertise" || value.empty() || !extra.empty()) {
    fail("listen", "entry \"" + item +
                       "\" must be proto:host:port, optionally followed by \"advertise "
                       "HOST[:PORT]\", e.g. udp:0.0.0.0:5060 advertise sip.example.net:5060");
  }
  return {item.substr(0, first), value};
}

/// The `advertise HOST[:PORT]` of a `listen` entry: a DNS name or IP literal (IPv6 in
/// brackets) and an optional port. Fails naming 'listen'.
Advertise parse_advertise(const std::string& item, const std::string& text) {
  Advertise adv;
  if (text.empty()) return adv;
  const auto bad = [&](const std::string& why) {
    fail("listen", "entry \"" + item + "\": advertise " + why +
                       ", e.g. advertise sip.example.net:5060 or advertise 203.0.113.7");
  };
  std::string_view host = text;
  std::string_view port;
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) bad("has an unclosed [");
    host = std::string_view(text).substr(0, close + 1);
    const auto rest = std::string_view(text).substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') bad("must be HOST or HOST:PORT");
      port = rest.substr(1);
    }
    if (!is_ip(host.substr(1, host.size() - 2))) bad("has a bad IPv6 address");
  } else {
    const auto colon = text.find(':');
    if (colon != std::string::npos) {
      host = std::string_view(text).substr(0, colon);
      port = std::string_view(text).substr(colon + 1);
    }
    if (!is_ip(host) && !sip::text::valid_hostname(host)) {
      bad("must be a DNS name or an IP address (IPv6 as [addr])");
    }
  }
  if (!port.empty() || text.back() == ':') {
    const auto p = to_uint(port);
    if (!p || *p == 0 || *p > 65535) bad("has a bad port (1-65535)");
    adv.port = static_cast<std::uint16_t>(*p);
  }
  adv.host = std::string(host);
  return adv;
}

/// Splits "host:port" / "[v6]:port"; fails naming `key`.
std::pair<std::string, std::uint16_t> host_port(const std::string& key, const std::string& text,
                                                const std::string& example) {
  std::string host;
  std::string_view rest;
  std::string_view t = text;
  if (!t.empty() && t.front() == '[') {
    auto close = t.find(']');
    if (close == std::string_view::npos || close + 1 >= t.size() || t[close + 1] != ':') {
      fail(key, "entry \"" + text + "\" must be host:port, IPv6 as [addr]:port, e.g. " + example);
    }
    host = std::string(t.substr(1, close - 1));
    rest = t.substr(close + 2);
  } else {
    auto colon = t.rfind(':');
    if (colon == std::string_view::npos) {
      fail(key, "entry \"" + text + "\" has no port; write host:port, e.g. " + example);
    }
    host = std::string(t.substr(0, colon));
    rest = t.substr(colon + 1);
  }
  auto port = to_uint(rest);
  if (!port || *port > 65535) {
    fail(key, "entry \"" + text + "\" has a bad port (0-65535), e.g. " + example);
  }
  if (host.empty()) fail(key, "entry \"" + text + "\" has no host, e.g. " + example);
  return {host, static_cast<std::uint16_t>(*port)};
}

/// Config::base_dir for a configuration read from `file` (if any) with key `state_dir`: the
/// absolute folder relative paths resolve against, "" for the working directory (no file and
/// no state_dir: the embedded default's ./var/ stays where it always was).
std::string base_dir_of(const std::optional<std::string>& file, const std::string& state_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path base;
  if (file) base = fs::absolute(fs::path(*file), ec).parent_path();
  if (!state_dir.empty()) {
    base = fs::path(state_dir).is_absolute() || base.empty() ? fs::absolute(fs::path(state_dir), ec)
                                                             : base / state_dir;
  }
  return base.empty() ? std::string() : base.lexically_normal().string();
}

/// The JSON every file and `--set` is applied over: the member initialisers of Config (the one
/// place a default is written).
const json& defaults() {
  static const json d = to_json(Config{});
  return d;
}

/// Converts a `--set` string to the JSON type of the key's default.
json from_text(const std::string& key, const json& like, const std::string& text) {
  if (like.is_array()) {
    json a = json::array();
    for (auto& s : split_commas(text)) a.push_back(s);
    return a;
  }
  if (like.is_boolean()) {
    if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
    if (text == "false" || text == "0" || text == "no" || text == "off") return false;
    fail(key, "\"" + text + "\" is not a boolean; use true or false");
  }
  if (like.is_number()) {
    auto v = to_uint(text);
    if (!v) fail(key, "\"" + text + "\" is not a non-negative integer");
    return *v;
  }
  return text;
}

std::string get_string(const json& j, const std::string& key) {
  const auto& v = j.at(key);
  if (!v.is_string()) fail(key, "must be a string");
  return v.get<std::string>();
}

std::uint32_t get_uint(const json& j, const std::string& key, std::uint64_t lo, std::uint64_t hi) {
  const auto& v = j.at(key);
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0)) {
    fail(key, "must be a non-negative integer");
  }
  const auto n = v.get<std::uint64_t>();
  if (n < lo || n > hi) {
    fail(key, std::to_string(n) + " is out of range; use " + std::to_string(lo) + ".." +
                  std::to_string(hi));
  }
  return static_cast<std::uint32_t>(n);
}

std::vector<std::string> get_list(const json& j, const std::string& key) {
  const auto& v = j.at(key);
  std::vector<std::string> out;
  if (v.is_string()) return split_commas(v.get<std::string>());
  if (!v.is_array()) fail(key, "must be a list of strings");
  for (const auto& e : v) {
    if (!e.is_string()) fail(key, "must be a list of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

/// The keys whose values are lists of objects or objects: JSON only (not `--set`).
bool structured_key(const std::string& key) {
  return key == "trusted_peers" || key == "gateways" || key == "routes" || key == "call_classes" ||
         key == "voicemail" || key == "registrations" || key == "log_levels" || key == "cluster";
}

/// `cluster` into c.cluster_*: {} (off) or {"node", "address", "secret"} all given. The address
/// must name one of this node's own UDP/TCP listen entries (the other nodes send there).
/// @throws ConfigError naming `cluster.<field>`.
void parse_cluster(const json& o, Config& c);

/// Reads the fields of object `o` at `where` ("gateways[0]"): each must be in `known`.
void check_fields(const json& o, const std::string& where,
                  std::initializer_list<std::string_view> known) {
  if (!o.is_object()) fail(where, "must be an object");
  for (const auto& [k, v] : o.items()) {
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      std::string list;
      for (auto n : known) list.append(list.empty() ? "" : ", ").append(n);
      // One new key name, then a throw (a + b + c appends to the rvalue).
      // NOLINTNEXTLINE(performance-inefficient-string-concatenation)
      fail(where + "." + k, "unknown field; known fields are " + list);
    }
  }
}

std::string field_string(const json& o, const std::string& where, const char* name, bool required,
                         std::string dflt = {}) {
  if (!o.contains(name)) {
    if (required) fail(where + "." + name, "is required");
    return dflt;
  }
  if (!o.at(name).is_string()) fail(where + "." + name, "must be a string");
  return o.at(name).get<std::string>();
}

void parse_cluster(const json& o, Config& c) {
  check_fields(o, "cluster", {"node", "address", "secret"});
  if (o.empty()) return;
  c.cluster_node = field_string(o, "cluster", "node", true);
  c.cluster_address = field_string(o, "cluster", "address", true);
  c.cluster_secret = field_string(o, "cluster", "secret", true);
  if (c.cluster_node.empty() || c.cluster_node.size() > 32 ||
      c.cluster_node.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789_-") != std::string::npos) {
    fail("cluster.node", "\"" + c.cluster_node + "\" must be 1-32 of A-Z a-z 0-9 _ -, e.g. \"a\"");
  }
  if (c.cluster_secret.size() < 16) {
    fail("cluster.secret", "must be at least 16 characters (every node of the cluster shares it)");
  }
  const auto uri = sip::parse_uri(c.cluster_address);
  const auto ip = uri && uri->is_sip() ? parse_ip(uri->host) : std::nullopt;
  if (!ip || uri->port == 0) {
    fail("cluster.address", "\"" + c.cluster_address +
                                "\" must be a sip: URI with this node's IP and port, e.g. "
                                "sip:10.0.0.11:5060;transport=udp");
  }
  Protocol proto = Protocol::Udp;
  if (const sip::Param* t = uri->param("transport")) {
    const std::string name = text::to_lower(t->value);
    if (name == "tcp") {
      proto = Protocol::Tcp;
    } else if (name != "udp") {
      fail("cluster.address", "transport must be udp or tcp");
    }
  }
  const bool listened = std::any_of(c.listen.begin(), c.listen.end(), [&](const ListenSpec& l) {
    const auto host = parse_ip(l.host);
    return l.protocol == proto && l.port == uri->port && host &&
           (unmapped(*host) == unmapped(*ip) || host->is_unspecified());
  });
  if (!listened) {
    fail("cluster.address",
         "\"" + c.cluster_address + "\" is none of this node's listen entries: add " +
             std::string(proto == Protocol::Tcp ? "tcp:" : "udp:") + std::string(uri->host) + ":" +
             std::to_string(uri->port) + " to listen");
  }
}

std::uint32_t field_uint(const json& o, const std::string& where, const char* name,
                         std::uint32_t dflt, std::uint64_t lo, std::uint64_t hi) {
  if (!o.contains(name)) return dflt;
  const auto& v = o.at(name);
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0)) {
    fail(where + "." + name, "must be a non-negative integer");
  }
  const auto n = v.get<std::uint64_t>();
  if (n < lo || n > hi) {
    fail(where + "." + name, std::to_string(n) + " is out of range; use " + std::to_string(lo) +
                                 ".." + std::to_string(hi));
  }
  return static_cast<std::uint32_t>(n);
}

bool field_bool(const json& o, const std::string& where, const char* name, bool dflt) {
  if (!o.contains(name)) return dflt;
  if (!o.at(name).is_boolean()) fail(where + "." + name, "must be true or false");
  return o.at(name).get<bool>();
}

/// Compiles `text` (ECMAScript); fails naming the field.
std::regex field_regex(const std::string& where, const std::string& text) {
  try {
    return std::regex(text, std::regex::ECMAScript | std::regex::optimize);
  } catch (const std::regex_error& e) {
    fail(where, "\"" + text + "\" is not a valid regular expression (" + e.what() + ")");
  }
}

/// `max_message_size` of a gateway / upstream object `o` at `where`: bytes, 0 (no cap) or
/// 512..65535.
std::uint32_t field_peer_message_size(const json& o, const std::string& where) {
  const std::uint32_t v = field_uint(o, where, "max_message_size", 0, 0, 65535);
  if (v != 0 && v < 512) {
    fail(where + ".max_message_size",
         "must be 0 (no cap) or 512..65535 bytes (an INVITE with SDP needs some 800)");
  }
  return v;
}

/// `dtmf` of a gateway / upstream object `o` at `where`: "rfc4733" (default, false) or "info"
/// (true: the peer gets key presses as SIP INFO).
bool field_dtmf_info(const json& o, const std::string& where) {
  const std::string v = field_string(o, where, "dtmf", false);
  if (v.empty() || v == "rfc4733") return false;
  if (v == "info") return true;
  fail(where + ".dtmf",
       "must be \"rfc4733\" (telephone-event in RTP, the default) or \"info\" "
       "(SIP INFO application/dtmf-relay), not \"" +
           v + "\"");
}

/// `strip_headers` of object `o` at `where`: header names proxy::strippable_header() allows.
std::vector<std::string> field_strip_headers(const json& o, const std::string& where) {
  std::vector<std::string> out;
  if (!o.contains("strip_headers")) return out;
  const auto& v = o.at("strip_headers");
  const std::string w = where + ".strip_headers";
  if (!v.is_array()) fail(w, "must be a list of header names, e.g. [\"P-Asserted-Identity\"]");
  for (const auto& e : v) {
    if (!e.is_string() || !proxy::strippable_header(e.get<std::string>())) {
      fail(w, e.dump() +
                  " cannot be stripped: give header names, but not one that routing, "
                  "transactions, dialogs, bodies or authentication need (Via, From, To, "
                  "Call-ID, CSeq, Max-Forwards, Contact, Route, Record-Route, Path, Content-*, "
                  "Authorization, Proxy-Authorization, Expires, Require, Proxy-Require)");
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

const json& list_of_objects(const json& j, const std::string& key) {
  const auto& v = j.at(key);
  if (!v.is_array()) fail(key, "must be a list of objects (see docs/configuration.md)");
  return v;
}

/// `domains`: host names (more local domains) or objects naming a domain whose registrar is
/// upstream (SBC mode, registrar/upstream.hpp).
void parse_domains(const json& j, Config& c) {
  auto check_name = [](const std::string& d, const std::string& where) {
    if (d.empty() || d.find_first_of(" \t;:@<>\"") != std::string::npos) {
      fail(where, "entry \"" + d + "\" is not a host name, e.g. example.com");
    }
  };
  const auto& v = j.at("domains");
  if (!v.is_array()) {
    c.domains = get_list(j, "domains");
    for (const auto& d : c.domains) check_name(d, "domains");
    return;
  }
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i].is_string()) {
      c.domains.push_back(v[i].get<std::string>());
      check_name(c.domains.back(), "domains");
      continue;
    }
    const std::string w = "domains[" + std::to_string(i) + "]";
    if (!v[i].is_object()) fail(w, "must be a host name or an object {\"name\", \"upstream\"}");
    check_fields(v[i], w,
                 {"name", "upstream", "path", "upstream_unregister", "strip_headers",
                  "topology_hiding", "max_message_size", "dtmf"});
    registrar::UpstreamDomain u;
    u.name = sip::text::to_lower(field_string(v[i], w, "name", true));
    check_name(u.name, w + ".name");
    u.upstream = field_string(v[i], w, "upstream", false);
    if (u.upstream.empty()) {
      // {"name": ...} alone is a local domain like a plain string.
      check_fields(v[i], w, {"name"});
      c.domains.push_back(u.name);
      continue;
    }
    if (!registrar::upstream_destination(u.upstream)) {
      fail(w + ".upstream", "\"" + u.upstream +
                                "\" must be a sip: URI with an IP address and a udp, tcp or tls "
                                "transport, e.g. sip:10.0.0.5:5060;transport=udp");
    }
    u.path = field_bool(v[i], w, "path", false);
    u.unregister = field_bool(v[i], w, "upstream_unregister", true);
    u.strip_headers = field_strip_headers(v[i], w);
    u.topology_hiding = field_bool(v[i], w, "topology_hiding", false);
    u.max_message_size = field_peer_message_size(v[i], w);
    u.dtmf_info = field_dtmf_info(v[i], w);
    if (u.topology_hiding && u.path) {
      fail(w + ".topology_hiding",
           "cannot be combined with \"path\": true (a Path registration shows the UA's own "
           "Contact upstream); set \"path\": false, so the Contact carries sipws's address");
    }
    c.upstream_domains.push_back(std::move(u));
  }
  for (const auto& u : c.upstream_domains) {
    const bool local = sip::text::iequal(u.name, c.domain) ||
                       std::any_of(c.domains.begin(), c.domains.end(), [&](const std::string& d) {
                         return sip::text::iequal(d, u.name);
                       });
    if (local) {
      fail("domains", "\"" + u.name +
                          "\" is both a local domain and an upstream one: remove it from "
                          "`domain` / the plain `domains` entries, or drop its `upstream`");
    }
  }
}

/// `registrations`: the trunks sipws registers to (registrar/trunk.hpp).
void parse_registrations(const json& j, Config& c) {
  const auto& regs = list_of_objects(j, "registrations");
  for (std::size_t i = 0; i < regs.size(); ++i) {
    const std::string w = "registrations[" + std::to_string(i) + "]";
    check_fields(regs[i], w,
                 {"name", "aor", "registrar", "outbound_proxy", "auth_user", "password", "ha1",
                  "expires", "contact_user"});
    registrar::TrunkConfig t;
    t.name = field_string(regs[i], w, "name", false);
    t.aor = field_string(regs[i], w, "aor", true);
    t.registrar = field_string(regs[i], w, "registrar", false);
    t.outbound_proxy = field_string(regs[i], w, "outbound_proxy", false);
    t.auth_user = field_string(regs[i], w, "auth_user", false);
    t.password = field_string(regs[i], w, "password", false);
    t.ha1 = field_string(regs[i], w, "ha1", false);
    t.contact_user = field_string(regs[i], w, "contact_user", false);
    if (regs[i].contains("expires")) {
      const auto& e = regs[i].at("expires");
      if (!e.is_number_unsigned()) fail(w + ".expires", "must be a number of seconds, 1..86400");
      t.expires =
          static_cast<std::uint32_t>(std::min<std::uint64_t>(e.get<std::uint64_t>(), 1u << 30));
    }
    auto done = registrar::complete_trunk(std::move(t));
    if (!done) {
      const std::string& e = done.error();
      const auto colon = e.find(':');
      fail(w + "." + e.substr(0, colon), e.substr(colon + 2));
    }
    c.registrations.push_back(std::move(*done));
  }
}

void parse_routing(const json& j, Config& c) {
  parse_domains(j, c);
  parse_registrations(j, c);
  const auto fc = get_string(j, "foreign_callers");
  if (fc == "challenge") {
    c.foreign_callers = auth::ForeignCallers::Challenge;
  } else if (fc == "allow") {
    c.foreign_callers = auth::ForeignCallers::Allow;
  } else {
    fail("foreign_callers", "\"" + fc + "\" must be challenge or allow");
  }

  const auto& peers = list_of_objects(j, "trusted_peers");
  for (std::size_t i = 0; i < peers.size(); ++i) {
    const std::string w = "trusted_peers[" + std::to_string(i) + "]";
    check_fields(peers[i], w, {"name", "source", "transport", "from", "ruri", "relay"});
    auth::TrustedPeer p;
    p.name = field_string(peers[i], w, "name", false);
    const auto src = field_string(peers[i], w, "source", true);
    auto net = IpNetwork::parse(src);
    if (!net) fail(w + ".source", "\"" + src + "\" must be an IP address or CIDR, e.g. 10.0.0.0/8");
    p.source = *net;
    const auto t = field_string(peers[i], w, "transport", false, "any");
    if (t != "any") {
      auto proto = protocol_from_string(t);
      if (!proto) fail(w + ".transport", "\"" + t + "\" must be any, udp, tcp, tls, ws or wss");
      p.transport = proto;
    }
    if (peers[i].contains("from"))
      p.from = field_regex(w + ".from", field_string(peers[i], w, "from", true));
    if (peers[i].contains("ruri"))
      p.ruri = field_regex(w + ".ruri", field_string(peers[i], w, "ruri", true));
    p.relay = field_bool(peers[i], w, "relay", false);
    c.trusted_peers.push_back(std::move(p));
  }

  const auto& gws = list_of_objects(j, "gateways");
  for (std::size_t i = 0; i < gws.size(); ++i) {
    const std::string w = "gateways[" + std::to_string(i) + "]";
    check_fields(
        gws[i], w,
        {"name", "uri", "priority", "weight", "strip", "prefix", "enabled", "probe_interval",
         "auth_user", "password", "strip_headers", "topology_hiding", "max_message_size", "dtmf"});
    routing::Gateway g;
    g.name = field_string(gws[i], w, "name", true);
    g.uri = field_string(gws[i], w, "uri", true);
    g.priority = field_uint(gws[i], w, "priority", 1, 0, 1000000);
    g.weight = field_uint(gws[i], w, "weight", 1, 1, 65535);
    g.strip = field_uint(gws[i], w, "strip", 0, 0, 64);
    g.prefix = field_string(gws[i], w, "prefix", false);
    g.enabled = field_bool(gws[i], w, "enabled", true);
    g.probe_interval_s = field_uint(gws[i], w, "probe_interval", 0, 0, 86400);
    g.auth_user = field_string(gws[i], w, "auth_user", false);
    g.password = field_string(gws[i], w, "password", false);
    g.strip_headers = field_strip_headers(gws[i], w);
    g.topology_hiding = field_bool(gws[i], w, "topology_hiding", false);
    g.max_message_size = field_peer_message_size(gws[i], w);
    g.dtmf_info = field_dtmf_info(gws[i], w);
    if (g.dtmf_info && !routing::gateway_address(g.uri)) {
      fail(w + ".dtmf",
           "\"info\" needs an IP address in `uri` (sip:10.0.0.9:5060): sipws knows the peer by "
           "address");
    }
    if (g.max_message_size != 0 && !routing::gateway_address(g.uri)) {
      fail(w + ".max_message_size",
           "needs an IP address in `uri` (sip:10.0.0.9:5060): sipws knows the peer by address");
    }
    if (g.topology_hiding && !routing::gateway_address(g.uri)) {
      fail(w + ".topology_hiding",
           "needs an IP address in `uri` (sip:10.0.0.9:5060): sipws knows a hidden peer by "
           "the address its messages come from and go to");
    }
    if (g.auth_user.empty() != g.password.empty()) {
      fail(w + (g.auth_user.empty() ? ".auth_user" : ".password"),
           "give both auth_user and password (the credentials sipws answers the gateway's "
           "401/407 with), or neither");
    }
    c.gateways.push_back(std::move(g));
  }
  const auto& routes = list_of_objects(j, "routes");
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const std::string w = "routes[" + std::to_string(i) + "]";
    check_fields(routes[i], w, {"match", "from", "gateways", "failover_on"});
    routing::Route r;
    r.match_text = field_string(routes[i], w, "match", true);
    r.match = field_regex(w + ".match", r.match_text);
    if (routes[i].contains("from")) {
      r.from_text = field_string(routes[i], w, "from", true);
      r.from = field_regex(w + ".from", r.from_text);
    }
    if (!routes[i].contains("gateways") || !routes[i].at("gateways").is_array() ||
        routes[i].at("gateways").empty()) {
      fail(w + ".gateways", "must be a non-empty list of gateway names");
    }
    for (const auto& g : routes[i].at("gateways")) {
      if (!g.is_string()) fail(w + ".gateways", "must be a list of gateway names");
      r.gateways.push_back(g.get<std::string>());
    }
    if (routes[i].contains("failover_on")) {
      const auto& f = routes[i].at("failover_on");
      if (!f.is_array()) fail(w + ".failover_on", "must be a list of SIP status codes");
      r.failover_on.clear();
      for (const auto& code : f) {
        if (!code.is_number_integer() || code.get<int>() < 400 || code.get<int>() > 699) {
          fail(w + ".failover_on", "must hold SIP status codes 400..699, e.g. [408, 503]");
        }
        r.failover_on.push_back(code.get<int>());
      }
    }
    c.routes.push_back(std::move(r));
  }
  try {
    routing::GatewayTable check(c.gateways, c.routes);
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    const auto colon = what.find(':');
    fail(colon == std::string::npos ? "gateways" : what.substr(0, colon),
         colon == std::string::npos ? what : what.substr(colon + 2));
  }

  const auto& classes = list_of_objects(j, "call_classes");
  for (std::size_t i = 0; i < classes.size(); ++i) {
    const std::string w = "call_classes[" + std::to_string(i) + "]";
    check_fields(classes[i], w, {"name", "match", "group", "reason", "emergency"});
    routing::CallClass k;
    k.name = field_string(classes[i], w, "name", true);
    k.match_text = field_string(classes[i], w, "match", true);
    k.match = field_regex(w + ".match", k.match_text);
    k.emergency = field_bool(classes[i], w, "emergency", false);
    k.group = field_string(classes[i], w, "group", !k.emergency);
    if (!k.group.empty() && !sip::text::is_token(k.group)) {
      fail(w + ".group", "\"" + k.group + "\" must be a token such as ld or int");
    }
    k.reason = field_string(classes[i], w, "reason", false);
    c.call_classes.push_back(std::move(k));
  }
  try {
    routing::CallClasses check(c.call_classes);
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    const auto colon = what.find(':');
    fail(colon == std::string::npos ? "call_classes" : what.substr(0, colon),
         colon == std::string::npos ? what : what.substr(colon + 2));
  }

  const auto& vm = j.at("voicemail");
  check_fields(vm, "voicemail", {"busy", "no_answer", "unconditional"});
  c.voicemail.busy = field_string(vm, "voicemail", "busy", false);
  c.voicemail.no_answer = field_string(vm, "voicemail", "no_answer", false);
  c.voicemail.unconditional = field_string(vm, "voicemail", "unconditional", false);
  auto check_template = [](const char* name, const std::string& tmpl) {
    if (tmpl.empty()) return;
    if (auto why = routing::validate_voicemail_template(tmpl)) {
      fail(std::string("voicemail.") + name, *why);
    }
  };
  check_template("busy", c.voicemail.busy);
  check_template("no_answer", c.voicemail.no_answer);
  check_template("unconditional", c.voicemail.unconditional);
  c.gateway_timeout_s = get_uint(j, "gateway_timeout", 1, 300);
  c.forward_ring_timeout_s = get_uint(j, "forward_ring_timeout", 1, 600);
  c.auth_max_failures = get_uint(j, "auth_max_failures", 0, 1000000);
  c.auth_max_user_failures = get_uint(j, "auth_max_user_failures", 0, 1000000);
  c.auth_failure_window_s = get_uint(j, "auth_failure_window", 1, 86400);
  c.auth_ban_time_s = get_uint(j, "auth_ban_time", 1, 604800);
  const auto ba = get_string(j, "auth_ban_action");
  if (ba != "reject" && ba != "drop")
    fail("auth_ban_action", "\"" + ba + "\" must be reject or drop");
  c.auth_ban_drop = ba == "drop";
  c.flood_max_requests = get_uint(j, "flood_max_requests", 0, 100000000);
  c.flood_window_s = get_uint(j, "flood_window", 1, 3600);
  c.flood_block_time_s = get_uint(j, "flood_block_time", 1, 86400);
  const auto fa = get_string(j, "flood_action");
  if (fa != "reject" && fa != "drop") fail("flood_action", "\"" + fa + "\" must be reject or drop");
  c.flood_drop = fa == "drop";
  c.flood_exempt = get_list(j, "flood_exempt");
  for (const auto& n : c.flood_exempt) {
    if (!IpNetwork::parse(n)) {
      fail("flood_exempt", "entry \"" + n + "\" must be an IP address or CIDR, e.g. 10.0.0.0/8");
    }
  }
  for (const char* k :
       {"trusted_peers", "gateways", "routes", "call_classes", "voicemail", "registrations"}) {
    c.routing_json[k] = j.at(k);
  }
}

Config from_json(const json& j) {
  Config c;
  c.listen.clear();  // the key's value replaces the default list
  for (const auto& item : get_list(j, "listen")) {
    const std::string example = "udp:127.0.0.1:5060";
    const auto [entry, advertise] = split_advertise(item);
    auto colon = entry.find(':');
    auto proto =
        colon == std::string::npos ? std::nullopt : protocol_from_string(entry.substr(0, colon));
    if (!proto) {
      // One new message, then a throw: nothing to append to (a + b + c appends to the rvalue).
      // NOLINTBEGIN(performance-inefficient-string-concatenation)
      fail("listen", "entry \"" + entry + "\" must be proto:host:port with proto " +
                         "udp|tcp|tls|ws|wss, e.g. " + example);
      // NOLINTEND(performance-inefficient-string-concatenation)
    }
    auto [host, port] = host_port("listen", entry.substr(colon + 1), example);
    if (!is_ip(host)) fail("listen", "entry \"" + entry + "\": host must be an IP address");
    c.listen.push_back(ListenSpec{*proto, host, port, parse_advertise(item, advertise)});
  }
  if (c.listen.empty()) fail("listen", "needs at least one entry, e.g. udp:127.0.0.1:5060");

  c.domain = get_string(j, "domain");
  if (c.domain.empty() || c.domain.find_first_of(" \t;:@<>\"") != std::string::npos) {
    fail("domain", "\"" + c.domain + "\" is not a host name, e.g. example.com");
  }
  c.store = get_string(j, "store");
  if (c.store.rfind("sqlite:", 0) != 0 && c.store.rfind("postgresql://", 0) != 0 &&
      c.store.rfind("postgres://", 0) != 0 && c.store.rfind("mysql://", 0) != 0 &&
      c.store.rfind("mariadb://", 0) != 0) {
    fail("store", "\"" + store::Store::shown_uri(c.store) +
                      "\" must be sqlite:PATH, postgresql://... or mysql://..., e.g. "
                      "sqlite:./var/sipws.db");
  }
  const auto auth = get_string(j, "auth");
  if (auth == "digest") {
    c.auth = AuthMode::Digest;
  } else if (auth == "off") {
    c.auth = AuthMode::Off;
  } else {
    fail("auth", "\"" + auth + "\" must be digest or off");
  }
  std::tie(c.admin_host, c.admin_port) =
      host_port("admin_listen", get_string(j, "admin_listen"), "127.0.0.1:8081");
  const auto lf = get_string(j, "log_format");
  if (lf != "text" && lf != "json") fail("log_format", "\"" + lf + "\" must be text or json");
  c.log_json = lf == "json";
  c.log_level = get_string(j, "log_level");
  if (!log::level_named(c.log_level)) {
    fail("log_level", "\"" + c.log_level + "\" must be trace|debug|info|warn|error|off");
  }
  const json& levels = j.at("log_levels");
  if (!levels.is_object()) {
    fail("log_levels", "must be an object of module -> level, e.g. {\"proxy\": \"debug\"}");
  }
  for (const auto& [module, level] : levels.items()) {
    if (!log::module_named(module)) {
      std::string names;
      for (auto n : log::kModuleNames) names.append(names.empty() ? "" : ", ").append(n);
      fail("log_levels." + module, "unknown module; the modules are " + names);
    }
    if (!level.is_string() || !log::level_named(level.get<std::string>())) {
      fail("log_levels." + module, "must be trace|debug|info|warn|error|off");
    }
    c.log_levels[module] = level.get<std::string>();
  }
  if (!j.at("trace").is_boolean()) fail("trace", "must be true or false");
  c.trace = j.at("trace").get<bool>();
  c.tls_cert = get_string(j, "tls_cert");
  c.tls_key = get_string(j, "tls_key");
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    fail(c.tls_cert.empty() ? "tls_cert" : "tls_key",
         "tls_cert and tls_key go together: set both, or neither for the dev certificate");
  }
  c.dev_cert_dir = get_string(j, "dev_cert_dir");
  c.www_root = get_string(j, "www_root");
  c.admin_www_root = get_string(j, "admin_www_root");
  c.state_dir = get_string(j, "state_dir");
  c.ws_ping_interval_s = get_uint(j, "ws_ping_interval", 0, 86400);
  c.ws_pong_timeout_s = get_uint(j, "ws_pong_timeout", 1, 3600);
  c.max_message_size = get_uint(j, "max_message_size", 1024, 1048576);
  c.max_send_queue = get_uint(j, "max_send_queue", 0, 1u << 30);
  if (c.max_send_queue != 0 && c.max_send_queue < c.max_message_size) {
    fail("max_send_queue", "must be 0 (no bound) or at least max_message_size (" +
                               std::to_string(c.max_message_size) + " bytes)");
  }
  c.threads = get_uint(j, "threads", 0, kMaxThreads);
  if (c.threads == 0) {
    c.threads = std::clamp<unsigned>(std::thread::hardware_concurrency(), 1, kMaxThreads);
  }
  c.ws_allowed_origins = get_list(j, "ws_allowed_origins");
  for (const auto& o : c.ws_allowed_origins) {
    if (auto why = ws::OriginPolicy::validate(o)) {
      fail("ws_allowed_origins", "entry \"" + o + "\" " + *why +
                                     ", e.g. https://phone.example.com:8443 or "
                                     "https://*.example.com");
    }
  }
  if (!j.at("ws_allow_no_origin").is_boolean()) fail("ws_allow_no_origin", "must be true or false");
  c.ws_allow_no_origin = j.at("ws_allow_no_origin").get<bool>();
  c.ws_max_connections = get_uint(j, "ws_max_connections", 0, 1000000);
  c.ws_max_connections_per_ip = get_uint(j, "ws_max_connections_per_ip", 0, 1000000);
  c.tcp_max_connections = get_uint(j, "tcp_max_connections", 0, 1000000);
  c.tcp_max_connections_per_ip = get_uint(j, "tcp_max_connections_per_ip", 0, 1000000);
  c.ws_connection_limit_exempt = get_list(j, "ws_connection_limit_exempt");
  for (const auto& n : c.ws_connection_limit_exempt) {
    if (!transport::IpNetwork::parse(n)) {
      fail("ws_connection_limit_exempt",
           "entry \"" + n + "\" must be an IP address or CIDR, e.g. 10.0.0.5 or 10.0.0.0/8");
    }
  }
  c.ws_handshake_timeout_ms = get_uint(j, "ws_handshake_timeout", 100, 600000);
  c.ws_first_message_timeout_ms = get_uint(j, "ws_first_message_timeout", 0, 3600000);
  c.ws_max_message_rate = get_uint(j, "ws_max_message_rate", 0, 1000000);
  const auto ws_auth = get_string(j, "ws_auth");
  if (ws_auth == "off") {
    c.ws_auth = WsAuthMode::Off;
  } else if (ws_auth == "cookie") {
    c.ws_auth = WsAuthMode::Cookie;
  } else if (ws_auth == "digest") {
    c.ws_auth = WsAuthMode::Digest;
  } else if (ws_auth == "any") {
    c.ws_auth = WsAuthMode::Any;
  } else {
    fail("ws_auth", "\"" + ws_auth + "\" must be off, cookie, digest or any");
  }
  c.ws_auth_secret = get_string(j, "ws_auth_secret");
  if (!c.ws_auth_secret.empty() && c.ws_auth_secret.size() < 16) {
    fail("ws_auth_secret",
         "is " + std::to_string(c.ws_auth_secret.size()) +
             " characters; use at least 16 (e.g. `openssl rand -hex 32`), or leave it empty "
             "for a generated key file beside the store");
  }
  c.admin_token = get_string(j, "admin_token");
  if (!c.admin_token.empty() &&
      (c.admin_token.size() < 16 || c.admin_token.size() > 512 ||
       std::any_of(c.admin_token.begin(), c.admin_token.end(), [](char ch) {
         return static_cast<unsigned char>(ch) <= 0x20 || static_cast<unsigned char>(ch) >= 0x7f;
       }))) {
    fail("admin_token",
         "must be 16 to 512 printable characters without spaces (e.g. `openssl rand -hex 32`), "
         "or empty to turn the admin API off");
  }
  c.cdr_file = get_string(j, "cdr_file");
  c.trace_messages = get_uint(j, "trace_messages", 0, 10000000);
  c.trace_pcap = get_string(j, "trace_pcap");
  c.trace_pcap_max_mb = get_uint(j, "trace_pcap_max_mb", 0, 1048576);
  c.ws_session_lifetime_s = get_uint(j, "ws_session_lifetime", 60, 2592000);
  c.registrar_min_expires = get_uint(j, "registrar_min_expires", 1, std::uint64_t{86400} * 7);
  c.registrar_max_expires = get_uint(j, "registrar_max_expires", 1, std::uint64_t{86400} * 7);
  c.registrar_default_expires =
      get_uint(j, "registrar_default_expires", 1, std::uint64_t{86400} * 7);
  if (c.registrar_min_expires > c.registrar_default_expires ||
      c.registrar_default_expires > c.registrar_max_expires) {
    fail("registrar_default_expires",
         "needs registrar_min_expires <= registrar_default_expires <= registrar_max_expires");
  }
  c.nonce_lifetime_s = get_uint(j, "nonce_lifetime", 10, 86400);
  c.timer_t1_ms = get_uint(j, "timer_t1", 10, 60000);
  c.timer_t2_ms = get_uint(j, "timer_t2", 10, 600000);
  c.timer_t4_ms = get_uint(j, "timer_t4", 10, 600000);
  if (c.timer_t2_ms < c.timer_t1_ms) fail("timer_t2", "must be >= timer_t1");
  c.shutdown_grace_s = get_uint(j, "shutdown_grace", 0, 3600);
  const auto sync = get_string(j, "store_sync");
  if (sync == "ack") {
    c.store_sync = StoreSync::Ack;
  } else if (sync == "batch") {
    c.store_sync = StoreSync::Batch;
  } else {
    fail("store_sync", "\"" + sync + "\" must be ack or batch");
  }
  c.store_layout = get_string(j, "store_layout");
  if (c.store_layout != "sipws" && c.store_layout != "kamailio") {
    fail("store_layout", "\"" + c.store_layout +
                             "\" must be sipws (its own tables) or kamailio (an existing "
                             "Kamailio subscriber table)");
  }
  c.store_pool = get_uint(j, "store_pool", 0, 64);
  parse_cluster(j.at("cluster"), c);
  const auto anchor = get_string(j, "media_anchor");
  if (anchor == "auto") {
    c.media_anchor = MediaAnchor::Auto;
  } else if (anchor == "always") {
    c.media_anchor = MediaAnchor::Always;
  } else if (anchor == "never") {
    c.media_anchor = MediaAnchor::Never;
  } else {
    fail("media_anchor", "\"" + anchor + "\" must be auto, always or never");
  }
  c.media_address = get_string(j, "media_address");
  if (!c.media_address.empty() && !is_ip(c.media_address)) {
    fail("media_address", "\"" + c.media_address + "\" must be an IP address");
  }
  c.media_advertise = get_string(j, "media_advertise");
  if (!c.media_advertise.empty() && !is_ip(c.media_advertise)) {
    fail("media_advertise",
         "\"" + c.media_advertise +
             "\" must be an IP address (SDP names media by address): the public IP that "
             "forwards the media ports to this host");
  }
  const auto ports = get_string(j, "media_ports");
  auto dash = ports.find('-');
  auto lo = to_uint(std::string_view(ports).substr(0, dash));
  auto hi =
      dash == std::string::npos ? std::nullopt : to_uint(std::string_view(ports).substr(dash + 1));
  if (!lo || !hi || *lo >= *hi || *hi > 65535 || *lo < 1024) {
    fail("media_ports", "\"" + ports + "\" must be LOW-HIGH with 1024 <= LOW < HIGH <= 65535");
  }
  c.media_port_min = static_cast<std::uint16_t>(*lo);
  c.media_port_max = static_cast<std::uint16_t>(*hi);
  if (*hi - *lo + 1 < 4 * std::uint64_t{c.threads}) {
    fail("media_ports", "\"" + ports + "\" is too small for " + std::to_string(c.threads) +
                            " threads: each thread anchors media on its own share of at least " +
                            "4 ports; widen the range or lower 'threads'");
  }
  c.media_timeout_s = get_uint(j, "media_timeout", 0, 86400);
  c.nat_keepalive_interval_s = get_uint(j, "nat_keepalive_interval", 0, 3600);
  const auto km = get_string(j, "nat_keepalive_method");
  if (km != "options" && km != "crlf") {
    fail("nat_keepalive_method", "\"" + km + "\" must be options or crlf");
  }
  c.nat_keepalive_crlf = km == "crlf";
  c.dns_servers = get_list(j, "dns_servers");
  for (const auto& s : c.dns_servers) {
    auto [host, port] = host_port("dns_servers", s, "127.0.0.1:5353");
    if (!is_ip(host)) fail("dns_servers", "entry \"" + s + "\": host must be an IP address");
    if (port == 0) fail("dns_servers", "entry \"" + s + "\" needs a port, e.g. 127.0.0.1:53");
  }
  c.dns_cache_min_ttl_s = get_uint(j, "dns_cache_min_ttl", 0, 86400);
  c.dns_cache_max_ttl_s = get_uint(j, "dns_cache_max_ttl", 0, 604800);
  if (c.dns_cache_max_ttl_s < c.dns_cache_min_ttl_s) {
    fail("dns_cache_max_ttl", "must be >= dns_cache_min_ttl");
  }
  c.dns_negative_ttl_s = get_uint(j, "dns_negative_ttl", 0, 86400);
  c.user_agent = get_string(j, "user_agent");
  c.ws_peers = get_list(j, "ws_peers");
  for (const auto& url : c.ws_peers) {
    if (!ws::parse_ws_url(url)) {
      fail("ws_peers", "entry \"" + url +
                           "\" must be a ws:// or wss:// URL, e.g. wss://pbx.example.com:8443/ws");
    }
  }
  c.ws_client_ca_file = get_string(j, "ws_client_ca_file");
  if (!j.at("ws_client_verify").is_boolean()) fail("ws_client_verify", "must be true or false");
  c.ws_client_verify = j.at("ws_client_verify").get<bool>();
  c.ws_client_resource = get_string(j, "ws_client_resource");
  if (c.ws_client_resource.empty() || c.ws_client_resource.front() != '/' ||
      c.ws_client_resource.find_first_of(" \t\r\n#") != std::string::npos) {
    fail("ws_client_resource", "\"" + c.ws_client_resource + "\" must be a path such as / or /ws");
  }
  parse_routing(j, c);
  return c;
}

}  // namespace

std::string ListenSpec::to_string() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  std::string s = std::string(lower_name(protocol)) + ":" + h + ":" + std::to_string(port);
  if (!advertise.host.empty()) {
    s += " advertise " + advertise.host;
    if (advertise.port != 0) s += ":" + std::to_string(advertise.port);
  }
  return s;
}

Config load_config(const std::optional<std::string>& file, const std::vector<std::string>& sets) {
  json j = defaults();
  if (file) {
    std::ifstream in(*file);
    if (!in) throw ConfigError("config file '" + *file + "' cannot be read; check the path");
    std::stringstream ss;
    ss << in.rdbuf();
    json f;
    try {
      f = json::parse(ss.str(), nullptr, true, /*ignore_comments=*/true);
    } catch (const json::parse_error& e) {
      throw ConfigError("config file '" + *file + "' is not valid JSON: " + e.what());
    }
    if (!f.is_object()) throw ConfigError("config file '" + *file + "' must hold a JSON object");
    for (auto& [k, v] : f.items()) {
      if (!j.contains(k)) fail(k, "unknown key (see docs/configuration.md)");
      j[k] = v;
    }
  }
  bool store_set = false;
  for (const auto& s : sets) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw ConfigError("--set '" + s + "' must be key=value, e.g. --set domain=example.com");
    }
    const std::string key = s.substr(0, eq);
    if (!j.contains(key)) fail(key, "unknown key (see docs/configuration.md)");
    const bool json_list = key == "domains" && s.size() > eq + 1 && s[eq + 1] == '[';
    if (structured_key(key) || json_list) {
      // Lists of objects: --set takes their JSON text (`domains` too when it starts with '[').
      try {
        j[key] = json::parse(s.substr(eq + 1));
      } catch (const json::parse_error& e) {
        fail(key, std::string("--set needs JSON for this key: ") + e.what());
      }
      continue;
    }
    j[key] = from_text(key, defaults().at(key), s.substr(eq + 1));
    if (key == "store") store_set = true;
  }
  Config c = from_json(j);
  c.demo_users = !file && !store_set;
  c.base_dir = base_dir_of(file, c.state_dir);
  return c;
}

std::string resolve_path(const Config& c, const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty() || c.base_dir.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(c.base_dir) / path).lexically_normal().string();
}

std::string resolve_store(const Config& c) {
  const std::string prefix = "sqlite:";
  if (c.store.rfind(prefix, 0) != 0) return c.store;
  std::string path = c.store.substr(prefix.size());
  if (path.rfind("//", 0) == 0) path.erase(0, 2);  // "sqlite://PATH", as the store reads it
  if (path.empty() || path == ":memory:") return c.store;
  return prefix + resolve_path(c, path);
}

store::OpenOptions store_options(const Config& c) {
  store::OpenOptions o;
  o.layout = c.store_layout == "kamailio" ? store::Layout::Kamailio : store::Layout::Sipws;
  return o;
}

nlohmann::json to_json(const Config& c) {
  json j = json::object();
  json listen = json::array();
  for (const auto& l : c.listen) listen.push_back(l.to_string());
  j["listen"] = listen;
  j["domain"] = c.domain;
  j["store"] = c.store;
  j["store_sync"] = c.store_sync == StoreSync::Ack ? "ack" : "batch";
  j["store_layout"] = c.store_layout;
  j["store_pool"] = c.store_pool;
  j["cluster"] = c.cluster_node.empty() ? json::object()
                                        : json{{"node", c.cluster_node},
                                               {"address", c.cluster_address},
                                               {"secret", c.cluster_secret}};
  j["shutdown_grace"] = c.shutdown_grace_s;
  j["auth"] = c.auth == AuthMode::Digest ? "digest" : "off";
  j["admin_listen"] = c.admin_host + ":" + std::to_string(c.admin_port);
  j["admin_token"] = c.admin_token;
  j["cdr_file"] = c.cdr_file;
  j["trace_messages"] = c.trace_messages;
  j["trace_pcap"] = c.trace_pcap;
  j["trace_pcap_max_mb"] = c.trace_pcap_max_mb;
  j["log_level"] = c.log_level;
  j["log_levels"] = c.log_levels;
  j["log_format"] = c.log_json ? "json" : "text";
  j["trace"] = c.trace;
  j["tls_cert"] = c.tls_cert;
  j["tls_key"] = c.tls_key;
  j["dev_cert_dir"] = c.dev_cert_dir;
  j["www_root"] = c.www_root;
  j["admin_www_root"] = c.admin_www_root;
  j["state_dir"] = c.state_dir;
  j["ws_ping_interval"] = c.ws_ping_interval_s;
  j["ws_pong_timeout"] = c.ws_pong_timeout_s;
  j["max_message_size"] = c.max_message_size;
  j["max_send_queue"] = c.max_send_queue;
  j["threads"] = c.threads;
  j["ws_allowed_origins"] = c.ws_allowed_origins;
  j["ws_allow_no_origin"] = c.ws_allow_no_origin;
  j["ws_max_connections"] = c.ws_max_connections;
  j["ws_max_connections_per_ip"] = c.ws_max_connections_per_ip;
  j["tcp_max_connections"] = c.tcp_max_connections;
  j["tcp_max_connections_per_ip"] = c.tcp_max_connections_per_ip;
  j["ws_connection_limit_exempt"] = c.ws_connection_limit_exempt;
  j["ws_handshake_timeout"] = c.ws_handshake_timeout_ms;
  j["ws_first_message_timeout"] = c.ws_first_message_timeout_ms;
  j["ws_max_message_rate"] = c.ws_max_message_rate;
  j["ws_auth"] = c.ws_auth == WsAuthMode::Cookie   ? "cookie"
                 : c.ws_auth == WsAuthMode::Digest ? "digest"
                 : c.ws_auth == WsAuthMode::Any    ? "any"
                                                   : "off";
  j["ws_auth_secret"] = c.ws_auth_secret;
  j["ws_session_lifetime"] = c.ws_session_lifetime_s;
  j["registrar_min_expires"] = c.registrar_min_expires;
  j["registrar_max_expires"] = c.registrar_max_expires;
  j["registrar_default_expires"] = c.registrar_default_expires;
  j["nonce_lifetime"] = c.nonce_lifetime_s;
  j["timer_t1"] = c.timer_t1_ms;
  j["timer_t2"] = c.timer_t2_ms;
  j["timer_t4"] = c.timer_t4_ms;
  j["media_anchor"] = c.media_anchor == MediaAnchor::Auto     ? "auto"
                      : c.media_anchor == MediaAnchor::Always ? "always"
                                                              : "never";
  j["media_address"] = c.media_address;
  j["media_advertise"] = c.media_advertise;
  j["media_ports"] = std::to_string(c.media_port_min) + "-" + std::to_string(c.media_port_max);
  j["media_timeout"] = c.media_timeout_s;
  j["nat_keepalive_interval"] = c.nat_keepalive_interval_s;
  j["nat_keepalive_method"] = c.nat_keepalive_crlf ? "crlf" : "options";
  j["dns_servers"] = c.dns_servers;
  j["dns_cache_min_ttl"] = c.dns_cache_min_ttl_s;
  j["dns_cache_max_ttl"] = c.dns_cache_max_ttl_s;
  j["dns_negative_ttl"] = c.dns_negative_ttl_s;
  j["user_agent"] = c.user_agent;
  j["ws_peers"] = c.ws_peers;
  j["ws_client_ca_file"] = c.ws_client_ca_file;
  j["ws_client_verify"] = c.ws_client_verify;
  j["ws_client_resource"] = c.ws_client_resource;
  json doms = c.domains;
  for (const auto& u : c.upstream_domains) {
    doms.push_back({{"name", u.name},
                    {"upstream", u.upstream},
                    {"path", u.path},
                    {"upstream_unregister", u.unregister},
                    {"strip_headers", u.strip_headers},
                    {"topology_hiding", u.topology_hiding},
                    {"max_message_size", u.max_message_size},
                    {"dtmf", u.dtmf_info ? "info" : "rfc4733"}});
  }
  j["domains"] = doms;
  j["foreign_callers"] = c.foreign_callers == auth::ForeignCallers::Allow ? "allow" : "challenge";
  for (const auto& [k, v] : c.routing_json.items()) j[k] = v;
  j["gateway_timeout"] = c.gateway_timeout_s;
  j["forward_ring_timeout"] = c.forward_ring_timeout_s;
  j["auth_max_failures"] = c.auth_max_failures;
  j["auth_max_user_failures"] = c.auth_max_user_failures;
  j["auth_failure_window"] = c.auth_failure_window_s;
  j["auth_ban_time"] = c.auth_ban_time_s;
  j["auth_ban_action"] = c.auth_ban_drop ? "drop" : "reject";
  j["flood_max_requests"] = c.flood_max_requests;
  j["flood_window"] = c.flood_window_s;
  j["flood_block_time"] = c.flood_block_time_s;
  j["flood_action"] = c.flood_drop ? "drop" : "reject";
  j["flood_exempt"] = c.flood_exempt;
  return j;
}

std::string describe(const Config& c) {
  std::string s = "domain=" + c.domain + " store=" + store::Store::shown_uri(resolve_store(c)) +
                  " auth=" + (c.auth == AuthMode::Digest ? "digest" : "off") +
                  " ws_auth=" + to_json(c).at("ws_auth").get<std::string>() +
                  " threads=" + std::to_string(c.threads) + " listen=";
  for (std::size_t i = 0; i < c.listen.size(); ++i) {
    if (i) s += ',';
    s += c.listen[i].to_string();
  }
  return s;
}

}  // namespace sipws::app
