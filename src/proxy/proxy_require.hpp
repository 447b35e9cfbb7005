#pragma once
// RFC 3261 s.16.3 step 5: Proxy-Require.

#include "proxy/request_context.hpp"

namespace sipws::proxy {

/// Request processor "proxy-require": sipws supports no extension that a proxy must be asked
/// for, so a request with Proxy-Require gets 420 Bad Extension listing every option-tag in
/// Unsupported (RFC 3261 s.16.3 step 5, s.8.2.2.3). Thread: core io thread.
class ProxyRequireProcessor final : public RequestProcessor {
 public:
  std::string_view name() const override { return "proxy-require"; }
  Action process(RequestContext& ctx) override;
};

}  // namespace sipws::proxy
