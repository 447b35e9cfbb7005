#pragma once
// In-dialog requests (a To tag): relayed along sipws's signed Record-Route, past the policy
// processors (RFC 3261 s.16.12: the route set was fixed when the dialog was created).

#include "common/counters.hpp"
#include "proxy/domains.hpp"
#include "proxy/network_view.hpp"
#include "proxy/request_context.hpp"

namespace sipws::proxy {

/// Request processor "in-dialog", the last of the RFC 3261 s.16.3/16.4 steps. A request with
/// a To tag skips the policy chain (SkipChain: forwarded by its Route / Request-URI / flow
/// token): the dialog was authorised when it was created, and the signed Record-Route proves
/// it. With `strict` (strict_dialogs) it must have come along Route entries of ours that all
/// carry a valid dialog signature (ctx.own_routes(), from loose-route): a forged or unsigned
/// one gets 403 (proxy_forged_routes), no entry of ours 403, or 404 when it names sipws itself
/// (proxy_unrouted_in_dialog). Requests without a To tag continue. Thread: core io thread.
class InDialogProcessor final : public RequestProcessor {
 public:
  /// `domains`, `net` and `counters` (where the two counters live) must outlive the processor.
  InDialogProcessor(const Domains& domains, const NetworkView& net, bool strict,
                    Counters& counters = sipws::counters())
      : domains_(domains),
        net_(net),
        strict_(strict),
        forged_(counters.get("proxy_forged_routes")),
        unrouted_(counters.get("proxy_unrouted_in_dialog")) {}
  std::string_view name() const override { return "in-dialog"; }
  Action process(RequestContext& ctx) override;

 private:
  const Domains& domains_;
  const NetworkView& net_;
  bool strict_;
  Counter& forged_;
  Counter& unrouted_;
};

}  // namespace sipws::proxy
