#pragma once
// Call classes (the seed's groups `local`, `ld`, `int`): which numbers a caller may dial.

#include "common/reloadable.hpp"
#include "proxy/request_context.hpp"
#include "routing/dial_plan.hpp"
#include "store/store.hpp"

namespace sipws::routing {

/// Request processor "call-class", after call-forward, for initial INVITEs not from a trusted
/// peer and not to a local user (ctx.local_user()): the dialled number (Request-URI user,
/// sip::text::dialled_number) is classified by `call_classes` (first regex_match wins); an
/// emergency class or no class lets it through; otherwise the caller (ctx.identity(); a
/// stranger has no groups) must be in the class's group (AsyncStore::user_services, Pause;
/// cached in ctx.caller_groups()), else 403 with the class's reason phrase. A store error
/// answers 503 with Retry-After (never a silent allow). Counters: call_class_denied. Thread: core
/// io thread.
class CallClassProcessor final : public proxy::RequestProcessor {
 public:
  CallClassProcessor(store::AsyncStore& store, const Reloadable<DialPlan>& plan);

  std::string_view name() const override { return "call-class"; }
  proxy::Action process(proxy::RequestContext& ctx) override;

 private:
  store::AsyncStore& store_;
  const Reloadable<DialPlan>& plan_;
};

}  // namespace sipws::routing
