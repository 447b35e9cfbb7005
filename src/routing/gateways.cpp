// Gateways and least-cost routing (see gateways.hpp).
#include "routing/gateways.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "common/text.hpp"
#include "proxy/routing.hpp"
#include "routing/call_classes.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"

namespace sipws::routing {
namespace {

constexpr std::uint32_t kMaxWeight = 65535;

std::string quoted(std::string_view s) { return "\"" + sanitize_reason(s) + "\""; }

// RFC 3261 s.25.1 user: unreserved / escaped / user-unreserved. ';' and '?' are legal too but
// escaped here so that no parser can mistake them for the start of parameters or headers.
bool user_char(char c) {
  if (sip::text::is_alnum(c)) return true;
  return std::string_view("-_.!~*'()&=+$,/").find(c) != std::string_view::npos;
}

using sip::text::is_hex;

std::string escape_user(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (user_char(c) || (c == '%' && i + 2 < s.size() && is_hex(s[i + 1]) && is_hex(s[i + 2]))) {
      out += c;  // a valid %HH escape is kept as it is
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    out += '%';
    out += text::hex_digit(u >> 4, text::HexCase::Upper);
    out += text::hex_digit(u, text::HexCase::Upper);
  }
  return out;
}

// telephone-subscriber, loosely (RFC 3261 s.19.1.1, RFC 3966): optional '+', then digits,
// '*', '#' and visual separators, with at least one digit.
bool is_telephone_user(std::string_view user) {
  bool digit = false;
  for (std::size_t i = 0; i < user.size(); ++i) {
    const char c = user[i];
    if (sip::text::is_digit(c)) {
      digit = true;
    } else if (!(c == '+' && i == 0) &&
               std::string_view("*#-.()").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return digit;
}

bool prefix_char(char c) {
  return sip::text::is_alnum(c) || std::string_view("+*#.-_").find(c) != std::string_view::npos;
}

void validate_gateway(const Gateway& gw, std::size_t i) {
  const std::string where = "gateways[" + std::to_string(i) + "]";
  if (gw.name.empty()) throw std::invalid_argument(where + ".name: empty");
  const auto uri = sip::parse_uri(gw.uri);
  if (!uri) throw std::invalid_argument(where + ".uri: not a valid URI: " + quoted(gw.uri));
  if (uri->scheme != sip::Scheme::Sip) {
    throw std::invalid_argument(where + ".uri: not a sip: URI: " + quoted(gw.uri));
  }
  if (!uri->user.empty()) {
    throw std::invalid_argument(
        where + ".uri: has a user part (the dialled number goes there): " + quoted(gw.uri));
  }
  if (!uri->headers.empty()) {
    throw std::invalid_argument(where + ".uri: has headers: " + quoted(gw.uri));
  }
  if (const sip::Param* t = uri->param("transport")) {
    if (!sip::text::iequal(t->value, "udp") && !sip::text::iequal(t->value, "tcp") &&
        !sip::text::iequal(t->value, "tls")) {
      throw std::invalid_argument(where +
                                  ".uri: transport must be udp, tcp or tls: " + quoted(gw.uri));
    }
  }
  if (gw.weight == 0 || gw.weight > kMaxWeight) {
    throw std::invalid_argument(where + ".weight: must be 1.." + std::to_string(kMaxWeight) +
                                ", not " + std::to_string(gw.weight));
  }
  if (!std::all_of(gw.prefix.begin(), gw.prefix.end(), prefix_char)) {
    throw std::invalid_argument(
        where + ".prefix: only letters, digits and +*#.-_ allowed: " + quoted(gw.prefix));
  }
}

}  // namespace

Mt19937Random::Mt19937Random() : gen_(std::random_device{}()) {}

std::uint32_t Mt19937Random::uniform(std::uint32_t max) {
  if (max == std::numeric_limits<std::uint32_t>::max()) return gen_();
  const std::uint64_t range = std::uint64_t{max} + 1;
  const std::uint64_t span = std::uint64_t{1} << 32;
  const std::uint64_t limit = span - span % range;  // largest multiple of range <= 2^32
  while (true) {
    const std::uint64_t x = gen_();
    if (x < limit) return static_cast<std::uint32_t>(x % range);
  }
}

bool Route::fails_over(int status) const {
  return std::find(failover_on.begin(), failover_on.end(), status) != failover_on.end();
}

std::optional<std::string> gateway_request_uri(const Gateway& gw, std::string_view number) {
  if (gw.strip >= number.size()) return std::nullopt;
  const std::string user = gw.prefix + std::string(number.substr(gw.strip));
  const auto colon = gw.uri.find(':');
  if (colon == std::string::npos) return std::nullopt;  // not validated: refuse quietly
  std::string out;
  out.reserve(gw.uri.size() + user.size() + 16);
  out.append(gw.uri, 0, colon + 1);
  out += escape_user(user);
  out += '@';
  out.append(gw.uri, colon + 1);
  if (is_telephone_user(text::percent_decode_lenient(user))) {
    const auto uri = sip::parse_uri(gw.uri);
    if (uri && uri->param("user") == nullptr) out += ";user=phone";
  }
  return out;
}

std::optional<IpAddress> gateway_address(std::string_view uri) {
  const auto u = sip::parse_uri(uri);
  if (!u || !u->is_sip()) return std::nullopt;
  return parse_ip(proxy::unbracket(u->host));
}

GatewayTable::GatewayTable(std::vector<Gateway> gateways, std::vector<Route> routes)
    : gateways_(std::move(gateways)), routes_(std::move(routes)) {
  for (std::size_t i = 0; i < gateways_.size(); ++i) {
    validate_gateway(gateways_[i], i);
    for (std::size_t j = 0; j < i; ++j) {
      if (gateways_[j].name == gateways_[i].name) {
        throw std::invalid_argument("gateways[" + std::to_string(i) + "].name: duplicate gateway " +
                                    quoted(gateways_[i].name));
      }
    }
  }
  up_ = std::vector<std::atomic<bool>>(gateways_.size());
  for (auto& u : up_) u.store(true, std::memory_order_relaxed);
  route_gateways_.resize(routes_.size());
  for (std::size_t r = 0; r < routes_.size(); ++r) {
    const Route& route = routes_[r];
    const std::string where = "routes[" + std::to_string(r) + "]";
    if (route.gateways.empty()) throw std::invalid_argument(where + ".gateways: empty");
    for (const auto& name : route.gateways) {
      const auto idx = index_of(name);
      if (!idx) throw std::invalid_argument(where + ".gateways: unknown gateway " + quoted(name));
      auto& list = route_gateways_[r];
      if (std::find(list.begin(), list.end(), *idx) == list.end()) list.push_back(*idx);
    }
    for (int status : route.failover_on) {
      if (status < 400 || status > 699) {
        throw std::invalid_argument(where + ".failover_on: " + std::to_string(status) +
                                    " is not a final error status (400..699)");
      }
    }
  }
}

std::optional<std::size_t> GatewayTable::index_of(std::string_view name) const {
  for (std::size_t i = 0; i < gateways_.size(); ++i) {
    if (gateways_[i].name == name) return i;
  }
  return std::nullopt;
}

void GatewayTable::set_up(std::string_view name, bool up) {
  if (const auto i = index_of(name)) up_[*i].store(up, std::memory_order_relaxed);
}

bool GatewayTable::is_up(std::string_view name) const {
  const auto i = index_of(name);
  return !i || up_[*i].load(std::memory_order_relaxed);
}

const Gateway* GatewayTable::find(std::string_view name) const {
  const auto i = index_of(name);
  return i ? &gateways_[*i] : nullptr;
}

// RFC 2782-style weighted order without replacement; weights are >= 1 so each gateway is
// picked with probability weight / (sum of the weights left).
void GatewayTable::order_group(std::vector<std::size_t>& group, Random& rnd) const {
  std::vector<std::size_t> out;
  out.reserve(group.size());
  while (group.size() > 1) {
    std::uint64_t sum = 0;
    for (std::size_t g : group) sum += gateways_[g].weight;
    // sum <= 65535 * gateways: fits in 32 bits for any real configuration; clamp anyway.
    const auto top = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(sum - 1, std::numeric_limits<std::uint32_t>::max()));
    const std::uint64_t pick = std::min(rnd.uniform(top), top);  // a bad Random cannot overrun
    std::uint64_t running = 0;
    auto it = group.begin();
    for (; it != group.end(); ++it) {
      running += gateways_[*it].weight;
      if (running > pick) break;
    }
    if (it == group.end()) --it;
    out.push_back(*it);
    group.erase(it);
  }
  out.insert(out.end(), group.begin(), group.end());
  group = std::move(out);
}

std::optional<Selection> GatewayTable::select(std::string_view number, std::string_view from_uri,
                                              Random& rnd) const {
  if (number.size() > kMaxNumberLength) return std::nullopt;
  for (std::size_t r = 0; r < routes_.size(); ++r) {
    const Route& route = routes_[r];
    if (!number_matches(route.match, number)) continue;
    if (route.from) {
      if (from_uri.size() > kMaxFromLength) continue;
      bool found = false;
      try {
        found = std::regex_search(from_uri.begin(), from_uri.end(), *route.from);
      } catch (const std::regex_error&) {
        found = false;
      }
      if (!found) continue;
    }

    std::vector<std::size_t> enabled;
    for (std::size_t g : route_gateways_[r]) {
      if (gateways_[g].enabled) enabled.push_back(g);
    }
    std::vector<std::size_t> live;
    for (std::size_t g : enabled) {
      if (up_[g].load(std::memory_order_relaxed)) live.push_back(g);
    }
    std::vector<std::size_t>& use = live.empty() ? enabled : live;
    std::stable_sort(use.begin(), use.end(), [this](std::size_t a, std::size_t b) {
      return gateways_[a].priority < gateways_[b].priority;
    });

    Selection sel;
    sel.route = &route;
    sel.attempts.reserve(use.size());
    for (auto begin = use.begin(); begin != use.end();) {
      const auto prio = gateways_[*begin].priority;
      const auto end = std::find_if(
          begin, use.end(), [this, prio](std::size_t g) { return gateways_[g].priority != prio; });
      std::vector<std::size_t> group(begin, end);
      order_group(group, rnd);
      for (std::size_t g : group) {
        if (auto ruri = gateway_request_uri(gateways_[g], number)) {
          sel.attempts.push_back({&gateways_[g], std::move(*ruri)});
        }
      }
      begin = end;
    }
    return sel;
  }
  return std::nullopt;
}

}  // namespace sipws::routing
