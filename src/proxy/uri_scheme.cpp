#include "proxy/uri_scheme.hpp"

namespace sipws::proxy {

Action UriSchemeProcessor::process(RequestContext& ctx) {
  if (ctx.request().request_uri().scheme != sip::Scheme::Other) return Action::Continue;
  ctx.respond(416, "Unsupported URI Scheme");
  return Action::Respond;
}

}  // namespace sipws::proxy
