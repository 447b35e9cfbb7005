#include "proxy/domains.hpp"

#include <algorithm>

#include "sip/text.hpp"

namespace sipws::proxy {
namespace {

std::string_view strip_brackets(std::string_view h) {
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') return h.substr(1, h.size() - 2);
  return h;
}

/// Host equality: ASCII case-insensitive, IPv6 brackets ignored.
bool iequal(std::string_view a, std::string_view b) {
  return sip::text::iequal(strip_brackets(a), strip_brackets(b));
}

bool contains(const std::vector<std::string>& v, std::string_view host) {
  return std::any_of(v.begin(), v.end(), [&](const std::string& s) { return iequal(s, host); });
}

}  // namespace

void Domains::add_domain(std::string d) {
  if (!contains(domains_, d)) domains_.push_back(std::move(d));
}

void Domains::add_alias(std::string host) {
  if (!contains(aliases_, host)) aliases_.push_back(std::move(host));
}

bool Domains::is_local_domain(std::string_view host) const { return contains(domains_, host); }

bool Domains::is_self(std::string_view host) const {
  return contains(domains_, host) || contains(aliases_, host);
}

bool Domains::is_self(std::string_view host, std::uint16_t port) const {
  if (!is_self(host)) return false;
  if (port == 0 || ports_.empty()) return true;
  return std::find(ports_.begin(), ports_.end(), port) != ports_.end();
}

std::string Domains::local_domain_of(std::string_view host) const {
  std::string d(is_local_domain(host) ? strip_brackets(host) : std::string_view(primary()));
  sip::text::lower_in_place(d);
  return d;
}

std::optional<std::string> Domains::local_aor(const sip::Uri& uri) const {
  if (!uri.is_sip() || uri.user.empty() || !is_self(uri.host, uri.port)) return std::nullopt;
  return std::string(uri.user) + "@" + local_domain_of(uri.host);
}

}  // namespace sipws::proxy
