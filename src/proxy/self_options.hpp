#pragma once
// OPTIONS addressed to sipws itself (RFC 3261 s.11, s.16.3 step 3 note): answered here.

#include "proxy/domains.hpp"
#include "proxy/network_view.hpp"
#include "proxy/request_context.hpp"

namespace sipws::proxy {

/// Request processor "self-options", after loose-route: an OPTIONS with no Route left whose
/// Request-URI names sipws itself without a user part gets 200 with Allow and Supported
/// (RFC 3261 s.11.2), also with Max-Forwards 0 (s.16.3 step 3: a proxy may answer an OPTIONS
/// addressed to it). Monitors and keep-alive probes use it. Thread: core io thread.
class SelfOptionsProcessor final : public RequestProcessor {
 public:
  /// Both must outlive the processor.
  SelfOptionsProcessor(const Domains& domains, const NetworkView& net)
      : domains_(domains), net_(net) {}
  std::string_view name() const override { return "self-options"; }
  Action process(RequestContext& ctx) override;

 private:
  const Domains& domains_;
  const NetworkView& net_;
};

}  // namespace sipws::proxy
