#pragma once
// Per-subscriber call forwarding (the seed's usr_preferences `callfwd`): unconditional
// forwarding before the location lookup, and the rules that apply if the call then fails.

#include <memory>
#include <string>

#include "common/reloadable.hpp"
#include "proxy/domains.hpp"
#include "proxy/request_context.hpp"
#include "routing/dial_plan.hpp"
#include "store/store.hpp"

namespace sipws::routing {

/// Request processor "call-forward", for initial INVITEs whose Request-URI names a local AOR:
/// asks the store for the AOR's services (AsyncStore::user_services, Pause) and
///  - marks a subscriber as ctx.local_user() (gateway routes leave it alone);
///  - an `unconditional` rule retargets the call (retarget.hpp: Diversion, History-Info; a
///    loop ends with 482, too many forwards with 480) and, when the new target is local
///    again, repeats with that AOR's rules;
///  - `busy` / `no_answer` rules go to ctx.failure_forward() for forward-on-failure, and a
///    no_answer rule sets the ring timeout (its own, else `forward_ring_timeout`).
/// TARGET `voicemail` expands the `voicemail` templates ({user} = the AOR's user part).
/// A store error answers 503 with Retry-After (RequestContext::respond_store_unavailable;
/// logged and counted by the store) rather than ringing a user whose rules are unknown.
/// Thread: core io thread.
class CallForwardProcessor final : public proxy::RequestProcessor {
 public:
  /// `domains`, `store` and `plan` must outlive the processor.
  CallForwardProcessor(const proxy::Domains& domains, store::AsyncStore& store,
                       const Reloadable<DialPlan>& plan);

  std::string_view name() const override { return "call-forward"; }
  proxy::Action process(proxy::RequestContext& ctx) override;

 private:
  /// Looks up the AOR the Request-URI names now; resumes with `resume` when done.
  void lookup(proxy::RequestContext& ctx, std::shared_ptr<DialPlan> plan,
              std::function<void(proxy::Action)> resume);
  /// The local AOR ("user@domain") of the current Request-URI, empty if not local.
  std::string local_aor(const sip::Message& req) const;

  const proxy::Domains& domains_;
  store::AsyncStore& store_;
  const Reloadable<DialPlan>& plan_;
};

}  // namespace sipws::routing
