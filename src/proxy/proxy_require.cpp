#include "proxy/proxy_require.hpp"

#include <string>

#include "sip/headers.hpp"

namespace sipws::proxy {

Action ProxyRequireProcessor::process(RequestContext& ctx) {
  const sip::Message& req = ctx.request();
  if (req.count(sip::HeaderId::ProxyRequire) == 0) return Action::Continue;
  std::string unsupported;
  for (const auto* h : req.find_all(sip::HeaderId::ProxyRequire)) {
    for (auto tok : sip::split_list(h->value)) {
      if (!unsupported.empty()) unsupported += ", ";
      unsupported += tok;
    }
  }
  ctx.respond(420, "Bad Extension").append(sip::HeaderId::Unsupported, std::move(unsupported));
  return Action::Respond;
}

}  // namespace sipws::proxy
