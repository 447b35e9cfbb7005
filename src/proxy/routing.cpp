#include "proxy/routing.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <stdexcept>

#include "common/random.hpp"
#include "common/text.hpp"
#include "sip/text.hpp"

namespace sipws::proxy {
namespace {

// FNV-1a, 32 bits: a stable, cheap hash for loop detection (not security relevant).
struct Fnv {
  std::uint32_t h = 2166136261u;
  void add(std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 16777619u;
    }
    h ^= 0xff;  // field separator
    h *= 16777619u;
  }
};

using text::iequal;

}  // namespace

std::uint16_t default_port(Protocol p) {
  switch (p) {
    case Protocol::Tls:
      return 5061;
    case Protocol::Ws:
      return 80;
    case Protocol::Wss:
      return 443;
    default:
      return 5060;
  }
}

std::string_view unbracket(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

std::string make_branch(std::string_view loop_hash, unsigned shard, TokenSource& tokens) {
  std::string b(kBranchPrefix);
  b += loop_hash;
  b += '-';
  tokens.append(b, 12);
  b += '.';
  b += std::to_string(shard);
  return b;
}

std::string make_own_branch(unsigned shard, TokenSource& tokens) {
  std::string b(kBranchPrefix);
  b += 'o';
  tokens.append(b, 12);
  b += '.';
  b += std::to_string(shard);
  return b;
}

namespace {
/// A shard number: 1 to 3 decimal digits, below 256.
std::optional<unsigned> shard_number(std::string_view digits) {
  unsigned n = 0;
  if (digits.empty() || digits.size() > 3) return std::nullopt;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || p != digits.data() + digits.size() || n > 255) return std::nullopt;
  return n;
}
}  // namespace

std::optional<unsigned> branch_shard(std::string_view branch) {
  if (!branch.starts_with(kBranchPrefix)) return std::nullopt;
  const auto dot = branch.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  return shard_number(branch.substr(dot + 1));
}

std::optional<unsigned> route_shard(const sip::Uri& uri) {
  const sip::Param* p = uri.param(kRouteShardParam);
  if (p == nullptr) return std::nullopt;
  return shard_number(p->value);
}

std::string make_via(const ListenPoint& lp, std::string_view branch) {
  std::string v = "SIP/2.0/";
  v += via_token(lp.protocol);
  v += ' ';
  v += lp.advertised;
  v += ':';
  v += std::to_string(lp.sent_by_port());
  v += ";branch=";
  v += branch;
  if (lp.protocol == Protocol::Udp) v += ";rport";
  return v;
}

std::string loop_hash(const sip::Message& request) {
  Fnv f;
  f.add(request.request_uri().raw);
  f.add(request.to().tag());
  f.add(request.from().tag());
  f.add(request.call_id());
  f.add(std::to_string(request.cseq().number));
  for (const auto* h : request.find_all(sip::HeaderId::ProxyRequire)) f.add(h->value);
  for (const auto* h : request.find_all(sip::HeaderId::ProxyAuthorization)) f.add(h->value);
  for (const auto* h : request.find_all(sip::HeaderId::Route)) f.add(h->value);
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", f.h);
  return std::string(buf, 8);
}

std::string_view branch_loop_hash(std::string_view branch) {
  if (branch.substr(0, kBranchPrefix.size()) != kBranchPrefix) return {};
  std::string_view rest = branch.substr(kBranchPrefix.size());
  if (rest.size() < 9 || rest[8] != '-') return {};
  return rest.substr(0, 8);
}

namespace {

/// The key set_flow_token_key() gave (cluster mode), null before.
const crypto::HmacSha256* g_flow_key = nullptr;

/// HMAC-SHA256 under the key of flow-token signatures: set_flow_token_key()'s, else a random
/// per-process one (flows do not outlive the process).
const crypto::HmacSha256& flow_token_hmac() {
  if (g_flow_key != nullptr) return *g_flow_key;
  static const crypto::HmacSha256 hmac = [] {
    std::array<unsigned char, 32> k{};
    if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1) {
      throw std::runtime_error("flow tokens: no random bytes from OpenSSL");
    }
    return crypto::HmacSha256(std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
  }();
  return hmac;
}

/// 12 hex digits (48 bits) of HMAC-SHA256(key, decimal flow id); "" if OpenSSL failed (a token
/// that then never verifies).
std::string flow_signature(std::string_view id_digits) {
  const auto mac = flow_token_hmac().mac({id_digits});
  return mac ? text::hex_encode(mac->data(), 6) : std::string();
}

bool same(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

void set_flow_token_key(std::string_view key) {
  // Once per process, before any token: never freed (tokens may be checked until exit).
  g_flow_key = new crypto::HmacSha256(key);  // NOLINT(cppcoreguidelines-owning-memory)
}

std::string flow_token_user(FlowId flow) {
  std::string digits = std::to_string(flow);
  std::string u = "sw-f" + digits;
  u += '.';
  u += flow_signature(digits);
  return u;
}

RouteSigner::RouteSigner(std::string key) {
  if (key.empty()) {
    key.resize(32);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), 32) != 1) {
      throw std::runtime_error("record-route signatures: no random bytes from OpenSSL");
    }
  }
  hmac_ = std::make_shared<const crypto::HmacSha256>(key);
}

std::string RouteSigner::sign(std::string_view call_id, std::string_view tag) const {
  const auto mac = hmac_->mac({call_id, "\n", tag});
  // "" when OpenSSL failed: verify() then fails, a request is refused, never wrongly admitted.
  return mac ? text::hex_encode(mac->data(), 8) : std::string();
}

bool RouteSigner::verify(std::string_view sig, std::string_view call_id, std::string_view tag_a,
                         std::string_view tag_b) const {
  if (sig.size() != 16) return false;
  if (!tag_a.empty() && same(sig, sign(call_id, tag_a))) return true;
  return !tag_b.empty() && same(sig, sign(call_id, tag_b));
}

std::string make_self_uri(const ListenPoint& lp, std::string_view user, bool sips) {
  std::string v = sips ? "sips:" : "sip:";
  if (!user.empty()) {
    v += user;
    v += '@';
  }
  v += lp.advertised;
  v += ':';
  v += std::to_string(lp.sent_by_port());
  if (lp.protocol != Protocol::Udp) {
    v += ";transport=";
    v += lower_name(lp.protocol);
  }
  return v;
}

std::string make_record_route(const ListenPoint& lp, FlowId flow, bool sips,
                              std::string_view signature, std::optional<unsigned> shard) {
  std::string v = "<";
  v += make_self_uri(lp, flow != kNoFlow ? flow_token_user(flow) : std::string(), sips);
  v += ";lr";
  if (!signature.empty()) {
    v += ';';
    v += kRouteSignatureParam;
    v += '=';
    v += signature;
  }
  if (shard) {
    v += ';';
    v += kRouteShardParam;
    v += '=';
    v += std::to_string(*shard);
  }
  v += '>';
  return v;
}

FlowId flow_token(const sip::Uri& uri) {
  std::string_view u = uri.user;
  if (u.substr(0, 4) != "sw-f") return kNoFlow;
  u.remove_prefix(4);
  const auto dot = u.find('.');
  if (dot == std::string_view::npos) return kNoFlow;
  const std::string_view digits = u.substr(0, dot);
  FlowId id = kNoFlow;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
  if (ec != std::errc() || p != digits.data() + digits.size()) return kNoFlow;
  // A token we did not sign (forged, or from before a restart) names no flow (RFC 5626 s.5.2).
  return same(u.substr(dot + 1), flow_signature(digits)) ? id : kNoFlow;
}

std::optional<NextHop> next_hop_for(const sip::Uri& uri) {
  if (!uri.is_sip()) return std::nullopt;
  NextHop hop;
  std::string_view t = uri.transport();
  if (!t.empty()) {
    auto p = protocol_from_string(t);
    if (!p) return std::nullopt;
    hop.protocol = *p;
  } else if (uri.scheme == sip::Scheme::Sips) {
    hop.protocol = Protocol::Tls;
  }
  if (uri.scheme == sip::Scheme::Sips && hop.protocol == Protocol::Tcp)
    hop.protocol = Protocol::Tls;
  if (uri.scheme == sip::Scheme::Sips && hop.protocol == Protocol::Ws) hop.protocol = Protocol::Wss;
  std::string_view host = uri.host;
  if (const auto* m = uri.param("maddr"); m && m->has_value && !m->value.empty()) host = m->value;
  hop.host = std::string(unbracket(host));
  hop.port = uri.port != 0 ? uri.port : default_port(hop.protocol);
  return hop;
}

bool names_listen_point(const sip::Uri& uri, const std::vector<ListenPoint>& lps,
                        bool host_is_self) {
  auto hop = next_hop_for(uri);
  if (!hop) return false;
  for (const auto& lp : lps) {
    const bool host_match = host_is_self || iequal(hop->host, unbracket(lp.advertised)) ||
                            iequal(hop->host, lp.local.address.to_string());
    if (!host_match) continue;
    // A URI without an explicit port names us if any listener uses (or advertises) the default
    // port; with a port, that port must be ours (any protocol: Record-Route transports may
    // differ).
    for (const std::uint16_t port : {lp.local.port, lp.sent_by_port()}) {
      if (uri.port == 0 ? port == hop->port || port == 5060 : port == uri.port) return true;
    }
  }
  return false;
}

std::optional<std::string> via_with_received(const sip::Via& via, const Source& src) {
  if (is_websocket(src.protocol)) return std::nullopt;
  const std::string ip = src.peer.address.to_string();
  const bool need_received = unbracket(via.host) != ip;
  const auto* rport = via.param("rport");
  const bool need_rport = rport != nullptr && (!rport->has_value || rport->value.empty());
  if (!need_received && !need_rport) return std::nullopt;
  std::string v;
  v.reserve(via.raw.size() + 40);
  v += via.protocol_name;
  v += '/';
  v += via.protocol_version;
  v += '/';
  v += via.transport;
  v += ' ';
  v += via.host;
  if (via.port != 0) {
    v += ':';
    v += std::to_string(via.port);
  }
  for (const auto& p : via.params) {
    if (iequal(p.name, "received")) continue;
    v += ';';
    v += p.name;
    if (iequal(p.name, "rport")) {
      v += '=';
      v += std::to_string(src.peer.port);
      continue;
    }
    if (p.has_value) {
      v += '=';
      v += p.value;
    }
  }
  if (need_received || rport != nullptr) {
    v += ";received=";
    v += ip;
  }
  return v;
}

bool strippable_header(std::string_view name) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), sip::text::is_token_char)) {
    return false;
  }
  using sip::HeaderId;
  switch (sip::header_id(name)) {
    case HeaderId::Via:
    case HeaderId::From:
    case HeaderId::To:
    case HeaderId::CallId:
    case HeaderId::CSeq:
    case HeaderId::MaxForwards:
    case HeaderId::Contact:
    case HeaderId::Route:
    case HeaderId::RecordRoute:
    case HeaderId::Path:
    case HeaderId::ContentLength:
    case HeaderId::ContentType:
    case HeaderId::ContentEncoding:
    case HeaderId::Authorization:
    case HeaderId::ProxyAuthorization:
    case HeaderId::Expires:
    case HeaderId::Require:
    case HeaderId::ProxyRequire:
      return false;
    default:
      return true;
  }
}

}  // namespace sipws::proxy
