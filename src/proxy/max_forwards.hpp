#pragma once
// RFC 3261 s.16.3 step 3: Max-Forwards.

#include "proxy/request_context.hpp"

namespace sipws::proxy {

/// Request processor "max-forwards": a request with Max-Forwards 0 gets 483 Too Many Hops
/// (RFC 3261 s.16.3 step 3). The decrement happens per branch when the request is forwarded
/// (s.16.6 step 3). Thread: core io thread.
class MaxForwardsProcessor final : public RequestProcessor {
 public:
  std::string_view name() const override { return "max-forwards"; }
  Action process(RequestContext& ctx) override;
};

}  // namespace sipws::proxy
