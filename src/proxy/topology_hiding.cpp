#include "proxy/topology_hiding.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "common/text.hpp"
#include "proxy/routing.hpp"
#include "sip/headers.hpp"

namespace sipws::proxy {
namespace {

using sip::HeaderId;

constexpr std::string_view kCallIdPurpose = "sipws th call-id";
constexpr std::string_view kContactPurpose = "sipws th contact";

/// Contact header parameters that name the UA instance rather than the call: not shown to a
/// hidden peer (RFC 5626 s.4.2, RFC 5627 s.4.2).
bool identifies_the_instance(std::string_view param) {
  return text::iequal(param, "+sip.instance") || text::iequal(param, "reg-id") ||
         text::iequal(param, "pub-gruu") || text::iequal(param, "temp-gruu");
}

std::string derive_key(std::string_view secret) {
  const crypto::HmacSha256 h(secret);
  const auto mac = h.mac({"sipws topology hiding key"});
  if (!mac) throw std::runtime_error("topology hiding: HMAC-SHA256 failed");
  return {reinterpret_cast<const char*>(mac->data()), mac->size()};
}

std::vector<std::string> values_of(const sip::Message& m, HeaderId id) {
  std::vector<std::string> out;
  for (const auto* h : m.find_all(id)) out.emplace_back(h->value);
  return out;
}

bool is_own_entry(std::string_view value, const TopologyHiding::IsOwn& is_own) {
  auto na = sip::parse_name_addr(value);
  return na && is_own(na->uri);
}

void replace_all(sip::Message& m, HeaderId id, const std::vector<std::string>& values,
                 std::size_t from, std::size_t to) {
  m.remove_all(id);
  for (std::size_t i = from; i < to; ++i) m.append(id, values[i]);
}

}  // namespace

TopologyHiding::TopologyHiding(std::string_view secret, std::vector<IpAddress> peers)
    : siv_(derive_key(secret)), peers_(std::move(peers)) {
  for (auto& p : peers_) p = unmapped(p);
}

bool TopologyHiding::hides(const IpAddress& address) const {
  if (peers_.empty()) return false;
  const IpAddress a = unmapped(address);
  return std::find(peers_.begin(), peers_.end(), a) != peers_.end();
}

std::string TopologyHiding::flip_call_id(std::string_view call_id) const {
  if (call_id.starts_with(kMaskedCallIdPrefix)) {
    std::string sealed;
    if (text::base64url_decode(call_id.substr(kMaskedCallIdPrefix.size()), sealed)) {
      if (auto plain = siv_.open(kCallIdPurpose, sealed)) return std::move(*plain);
    }
  }
  auto sealed = siv_.seal(kCallIdPurpose, call_id);
  // OpenSSL failed: the Call-ID is left as it is (the call may fail; nothing is revealed that
  // a transparent proxy would not show).
  if (!sealed) return std::string(call_id);
  std::string out(kMaskedCallIdPrefix);
  out += text::base64url_encode(*sealed);
  return out;
}

std::string TopologyHiding::contact_user(const InsideTarget& target) const {
  std::string plain = target.uri;
  for (const auto& r : target.route) {
    plain += '\n';
    plain += r;
  }
  auto sealed = siv_.seal(kContactPurpose, plain);
  std::string out(kContactTokenPrefix);
  if (sealed) out += text::base64url_encode(*sealed);
  return out;
}

std::optional<TopologyHiding::InsideTarget> TopologyHiding::inside_target(
    std::string_view user) const {
  if (!user.starts_with(kContactTokenPrefix)) return std::nullopt;
  std::string sealed;
  if (!text::base64url_decode(user.substr(kContactTokenPrefix.size()), sealed)) {
    return std::nullopt;
  }
  auto plain = siv_.open(kContactPurpose, sealed);
  if (!plain) return std::nullopt;
  // uri, then one Route value a line.
  InsideTarget t;
  std::string_view rest = *plain;
  std::size_t nl = rest.find('\n');
  t.uri = std::string(rest.substr(0, nl));
  while (nl != std::string_view::npos) {
    rest.remove_prefix(nl + 1);
    nl = rest.find('\n');
    t.route.emplace_back(rest.substr(0, nl));
  }
  if (t.uri.empty()) return std::nullopt;
  return t;
}

std::string TopologyHiding::contact_value(const sip::NameAddr& contact, const ListenPoint& out,
                                          const std::vector<std::string>& route) const {
  const bool sips = contact.uri.scheme == sip::Scheme::Sips;
  std::string v = "<";
  v += make_self_uri(out, contact_user({std::string(contact.uri.raw), route}), sips);
  v += '>';
  v += sip::params_text(contact.params, identifies_the_instance);
  return v;
}

void TopologyHiding::replace_contacts(sip::Message& m, const ListenPoint& out,
                                      const std::vector<std::string>& route) const {
  std::vector<std::string> contacts;
  for (const auto* h : m.find_all(HeaderId::Contact)) {
    auto na = sip::parse_name_addr(h->value);
    contacts.push_back(na && !na->star ? contact_value(*na, out, route) : std::string(h->value));
  }
  if (!contacts.empty()) replace_all(m, HeaderId::Contact, contacts, 0, contacts.size());
}

void TopologyHiding::hide_request(sip::Message& request, const ListenPoint& out,
                                  const IsOwn& is_own, std::vector<std::string>* inside_rr) const {
  // Via: ours alone (the proxy restores the rest on the response, reveal_response).
  if (request.count(HeaderId::Via) > 1) {
    std::string top(request.find(HeaderId::Via)->value);
    request.remove_all(HeaderId::Via);
    request.push_front(HeaderId::Via, std::move(top));
  }
  // Record-Route: our top entry (the one facing the peer) stays; the rest lead inside: a
  // second entry of ours (a double Record-Route names the inside listener and the UA's flow)
  // and the inside proxies' entries.
  const auto rr = values_of(request, HeaderId::RecordRoute);
  const bool initial = request.to().tag().empty();
  const std::size_t keep = initial && !rr.empty() && is_own_entry(rr[0], is_own) ? 1 : 0;
  std::vector<std::string> inside(rr.begin() + static_cast<std::ptrdiff_t>(keep), rr.end());
  if (!rr.empty()) replace_all(request, HeaderId::RecordRoute, rr, 0, keep);
  if (request.method() != sip::Method::Register) replace_contacts(request, out, inside);
  request.set(HeaderId::CallId, flip_call_id(request.call_id()));
  if (inside_rr != nullptr) *inside_rr = std::move(inside);
}

void TopologyHiding::hide_response(sip::Message& response, const ListenPoint& out,
                                   const IsOwn& is_own) const {
  // Record-Route: [inside proxies..., ours (one or two)..., the peer's side...]. The last of
  // our entries (the one facing the peer) and what follows stay; the entries before it lead
  // inside: the route from sipws to the UA, nearest first.
  const auto rr = values_of(response, HeaderId::RecordRoute);
  std::size_t first_own = 0;
  while (first_own < rr.size() && !is_own_entry(rr[first_own], is_own)) ++first_own;
  std::size_t facing = first_own;  // no entry of ours: nothing leads inside
  if (first_own == rr.size()) {
    facing = 0;
  } else {
    while (facing + 1 < rr.size() && is_own_entry(rr[facing + 1], is_own)) ++facing;
  }
  std::vector<std::string> route(rr.rbegin() + static_cast<std::ptrdiff_t>(rr.size() - facing),
                                 rr.rend());
  if (facing > 0) replace_all(response, HeaderId::RecordRoute, rr, facing, rr.size());
  if (response.status() < 300 && response.method() != sip::Method::Register) {
    replace_contacts(response, out, route);
  }
  response.set(HeaderId::CallId, flip_call_id(response.call_id()));
}

void TopologyHiding::reveal_request(sip::Message& request) const {
  request.set(HeaderId::CallId, flip_call_id(request.call_id()));
  const sip::Uri& ruri = request.request_uri();
  if (!ruri.is_sip() || !ruri.user.starts_with(kContactTokenPrefix)) return;
  auto target = inside_target(ruri.user);
  if (!target) return;  // not ours: routed (and refused) as any other Request-URI
  request.set_request_uri(std::move(target->uri));
  for (auto& r : target->route) request.append(HeaderId::Route, std::move(r));
}

void TopologyHiding::reveal_response(sip::Message& response, const sip::Message& forwarded,
                                     const std::vector<std::string>& inside_rr) const {
  const auto vias = values_of(forwarded, HeaderId::Via);
  response.remove_all(HeaderId::Via);
  for (auto it = vias.rbegin(); it != vias.rend(); ++it) response.push_front(HeaderId::Via, *it);
  response.set(HeaderId::CallId, flip_call_id(response.call_id()));
  if (!inside_rr.empty() && response.count(HeaderId::RecordRoute) > 0) {
    for (const auto& r : inside_rr) response.append(HeaderId::RecordRoute, r);
  }
}

}  // namespace sipws::proxy
