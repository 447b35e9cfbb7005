#include "auth/trusted_peers.hpp"

namespace sipws::auth {
namespace {

/// regex_search bounded in input size; a (not expected) regex_error counts as no match so that
/// untrusted input never throws out of the request path.
bool found(const std::optional<std::regex>& pattern, std::string_view text) {
  if (!pattern) return true;
  if (text.size() > TrustedPeers::kMaxPatternInput) return false;
  try {
    return std::regex_search(text.begin(), text.end(), *pattern);
  } catch (const std::regex_error&) {
    return false;
  }
}

}  // namespace

const TrustedPeer* TrustedPeers::match(const Source& src, const sip::Message& req) const {
  for (const auto& p : peers_) {
    if (!p.source.contains(src.peer.address)) continue;
    if (p.transport && *p.transport != src.protocol) continue;
    if (!found(p.from, req.from().uri.raw)) continue;
    if (!found(p.ruri, req.request_uri().raw)) continue;
    return &p;
  }
  return nullptr;
}

bool TrustedPeers::contains_source(const IpAddress& ip) const {
  for (const auto& p : peers_) {
    if (p.source.contains(ip)) return true;
  }
  return false;
}

}  // namespace sipws::auth
