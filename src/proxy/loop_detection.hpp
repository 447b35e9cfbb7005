#pragma once
// RFC 3261 s.16.3 step 4: loop detection.

#include "common/counters.hpp"
#include "proxy/network_view.hpp"
#include "proxy/request_context.hpp"

namespace sipws::proxy {

/// Request processor "loop-detection": a request carrying a Via of ours (host and port of one
/// of our listen points) whose branch holds the same loop hash as the request now
/// (routing.hpp loop_hash: Request-URI, tags, Call-ID, CSeq, Proxy-Require,
/// Proxy-Authorization, Route) came back unchanged: 482 Loop Detected, counted as
/// proxy_loops_detected (RFC 3261 s.16.3 step 4). A spiral (changed Request-URI) goes on.
/// Thread: core io thread.
class LoopDetectionProcessor final : public RequestProcessor {
 public:
  /// `net` and `counters` (where proxy_loops_detected lives) must outlive the processor.
  explicit LoopDetectionProcessor(const NetworkView& net, Counters& counters = sipws::counters())
      : net_(net), loops_(counters.get("proxy_loops_detected")) {}
  std::string_view name() const override { return "loop-detection"; }
  Action process(RequestContext& ctx) override;

 private:
  const NetworkView& net_;
  Counter& loops_;
};

}  // namespace sipws::proxy
