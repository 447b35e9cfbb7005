#include "auth/flow_identity.hpp"

#include "auth/digest.hpp"
#include "common/log.hpp"
#include "common/text.hpp"
#include "sip/message.hpp"

namespace sipws::auth {
namespace {

/// True if `uri` is sip:/sips: user@host naming `identity` ("user@domain"). The user parts
/// compare after %-unescaping (RFC 3261 s.19.1.4).
bool names(const sip::Uri& uri, std::string_view identity) {
  const auto at = identity.rfind('@');
  if (at == std::string_view::npos || !uri.is_sip() || uri.user.empty()) return false;
  return text::percent_decode_lenient(uri.user) == identity.substr(0, at) &&
         iequal(uri.host, identity.substr(at + 1));
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
    log::auth().info("flow-identity: {} on flow {} ({}) has a {} of another user",
                     req.method_name(), flow, identity, field);
    ctx.respond(403,
                std::string("Forbidden - ") + field + " does not match the WebSocket identity");
    return proxy::Action::Respond;
  }
  ctx.set_identity(std::move(identity));
  return proxy::Action::Continue;
}

}  // namespace sipws::auth
