#pragma once
// RFC 3261 s.16.3 step 2: the Request-URI scheme check.

#include "proxy/request_context.hpp"

namespace sipws::proxy {

/// Request processor "uri-scheme", first in the chain: a Request-URI that is neither sip:,
/// sips: nor tel: (sip::Scheme::Other) gets 416 Unsupported URI Scheme (RFC 3261 s.16.3
/// step 2). Thread: core io thread.
class UriSchemeProcessor final : public RequestProcessor {
 public:
  std::string_view name() const override { return "uri-scheme"; }
  Action process(RequestContext& ctx) override;
};

}  // namespace sipws::proxy
