#include "auth/flow_identity.hpp"

#include <spdlog/spdlog.h>

#include "auth/digest.hpp"
#include "sip/message.hpp"

namespace sipws::auth {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// RFC 3261 s.19.1.4: user parts compare after %-unescaping.
std::string unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

/// True if `uri` is sip:/sips: user@host naming `identity` ("user@domain").
bool names(const sip::Uri& uri, std::string_view identity) {
  const auto at = identity.rfind('@');
  if (at == std::string_view::npos || !uri.is_sip() || uri.user.empty()) return false;
  return unescape(uri.user) == identity.substr(0, at) && iequal(uri.host, identity.substr(at + 1));
}

}  // namespace

FlowIdentityProcessor::FlowIdentityProcessor(IdentityOf identity_of)
    : identity_of_(std::move(identity_of)), mismatches_(SIPWS_COUNTER("flow_identity_mismatch")) {}

proxy::Action FlowIdentityProcessor::process(proxy::RequestContext& ctx) {
  const FlowId flow = ctx.source().flow;
  if (flow == kNoFlow || !identity_of_) return proxy::Action::Continue;
  std::string identity = identity_of_(flow);
  if (identity.empty()) return proxy::Action::Continue;
  const sip::Message& req = ctx.request();
  const sip::Method m = req.method();
  if (m == sip::Method::Ack || m == sip::Method::Cancel) return proxy::Action::Continue;

  const char* field = nullptr;
  if (!names(req.from().uri, identity)) {
    field = "From";
  } else if (m == sip::Method::Register && !names(req.to().uri, identity)) {
    field = "To";
  }
  if (field) {
    mismatches_.inc();
    spdlog::info("flow-identity: {} on flow {} ({}) has a {} of another user", req.method_name(),
                 flow, identity, field);
    ctx.respond(403,
                std::string("Forbidden - ") + field + " does not match the WebSocket identity");
    return proxy::Action::Respond;
  }
  ctx.set_identity(std::move(identity));
  return proxy::Action::Continue;
}

}  // namespace sipws::auth
