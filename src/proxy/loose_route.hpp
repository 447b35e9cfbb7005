#pragma once
// RFC 3261 s.16.4: Route information pre-processing (strict-router fix-up, removal of
// sipws's own Route entries), with the dialog signatures and flow tokens found in them.

#include "proxy/domains.hpp"
#include "proxy/network_view.hpp"
#include "proxy/request_context.hpp"
#include "proxy/routing.hpp"
#include "sip/message.hpp"

namespace sipws::proxy {

/// RFC 3261 s.16.4 on `req`: when the Request-URI is a Record-Route value of ours (a strict
/// router upstream), the last Route value becomes the Request-URI; then the top Route entries
/// naming sipws (at most 4) are removed. Returns what they held: how many, whether every one
/// carried a valid dialog signature of `signer` for `req`'s dialog, and the flow a token in
/// them names (kNoFlow when none, or when it is `src`'s own flow: the sender's side of the
/// route). Used for requests (LooseRouteProcessor) and for ACKs forwarded statelessly.
/// Thread: core io thread.
OwnRoutes remove_own_routes(sip::Message& req, const Source& src, const Domains& domains,
                            const NetworkView& net, const RouteSigner& signer);

/// Request processor "loose-route": remove_own_routes() on ctx.request(), the result kept in
/// ctx.own_routes() for the in-dialog check and the next hop. Always continues.
/// Thread: core io thread.
class LooseRouteProcessor final : public RequestProcessor {
 public:
  /// All three must outlive the processor.
  LooseRouteProcessor(const Domains& domains, const NetworkView& net, const RouteSigner& signer)
      : domains_(domains), net_(net), signer_(signer) {}
  std::string_view name() const override { return "loose-route"; }
  Action process(RequestContext& ctx) override;

 private:
  const Domains& domains_;
  const NetworkView& net_;
  const RouteSigner& signer_;
};

}  // namespace sipws::proxy
