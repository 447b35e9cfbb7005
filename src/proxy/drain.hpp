#pragma once
// Graceful shutdown (`shutdown_grace`): while the daemon drains, new requests are refused.

#include <atomic>

#include "common/counters.hpp"
#include "proxy/request_context.hpp"

namespace sipws::proxy {

/// Request processor "drain": once `draining` is set (SIGTERM), a request outside a dialog (no
/// To tag: a new REGISTER, INVITE, MESSAGE...) gets `503 Service Unavailable - Shutting Down`
/// with `Retry-After: 1`, so that the client retries here after the restart or fails over at
/// once to another server (RFC 3261 s.21.5.4, RFC 3263 s.4.3); requests within a dialog (a
/// BYE, a re-INVITE) still pass, and transactions already started run to their end. Counted
/// in `shutdown_refused_requests`. Thread: core io thread (`draining` may be set from any).
class DrainProcessor final : public RequestProcessor {
 public:
  /// `draining` must outlive the processor.
  explicit DrainProcessor(const std::atomic<bool>& draining, Counters& reg = counters())
      : draining_(draining), refused_(reg.get("shutdown_refused_requests")) {}
  std::string_view name() const override { return "drain"; }
  Action process(RequestContext& ctx) override;

  /// Retry-After of the 503, seconds: about the time a restart takes.
  static constexpr std::uint32_t kRetryAfterS = 1;

 private:
  const std::atomic<bool>& draining_;
  Counter& refused_;
};

}  // namespace sipws::proxy
