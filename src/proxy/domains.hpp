#pragma once
// The domains sipws is responsible for (its own AORs) and the hosts that name sipws itself.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sip/uri.hpp"

namespace sipws::proxy {

/// Local domains and aliases. A host is "local" if it equals a domain or an alias
/// (case-insensitive; IPv6 compared with or without brackets). Thread: immutable after setup.
class Domains {
 public:
  void add_domain(std::string d);
  /// Hosts that mean "this proxy" (listen IPs, advertised names, localhost).
  void add_alias(std::string host);
  bool is_local_domain(std::string_view host) const;
  /// True if `host` names this proxy (alias or domain).
  bool is_self(std::string_view host) const;
  /// A port sipws listens on (any transport).
  void add_port(std::uint16_t port) { ports_.push_back(port); }
  /// True if `host` names this proxy and `port` is 0 (absent) or one of ours; with no port
  /// registered at all, any port matches. This is "local" for a Request-URI (Kamailio's
  /// `myself`): `sip:uas@127.0.0.1:32070` is not local when nothing of sipws listens on 32070,
  /// even with domain 127.0.0.1.
  bool is_self(std::string_view host, std::uint16_t port) const;
  /// The local domain a local URI (is_self(host, port)) belongs to, lower-case: the host itself
  /// when it is a local domain, else (an address of ours) the primary domain.
  std::string local_domain_of(std::string_view host) const;
  /// The local AOR ("user@domain", domain lower-case) a sip:/sips: URI with a user part names
  /// (is_self(host, port), domain as local_domain_of), nullopt for any other URI.
  std::optional<std::string> local_aor(const sip::Uri& uri) const;
  const std::string& primary() const { return domains_.empty() ? empty_ : domains_.front(); }

 private:
  std::vector<std::string> domains_;
  std::vector<std::string> aliases_;
  std::vector<std::uint16_t> ports_;
  std::string empty_;
};

}  // namespace sipws::proxy
