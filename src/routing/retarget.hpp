#pragma once
// Retargeting a request for call forwarding: the new Request-URI with its Diversion (RFC 5806)
// and History-Info (RFC 7044, causes per RFC 4458) entries, and the loop rules.

#include <optional>
#include <string>
#include <string_view>

#include "proxy/request_context.hpp"
#include "routing/voicemail.hpp"
#include "store/store.hpp"

namespace sipws::routing {

/// Why a call is forwarded (RFC 5806 s.2 reasons; RFC 4458 causes 302, 486, 408).
enum class ForwardReason { Unconditional, UserBusy, NoAnswer };

/// A refusal from retarget(): the status and reason phrase to end the call with.
struct RetargetError {
  int status = 482;
  std::string reason;
};

/// Retargets ctx.request() to `target` on behalf of `aor` (the subscriber whose rule applies):
/// Request-URI = target; a Diversion header naming the current Request-URI with the reason and
/// a counter; History-Info entries (the first request's Request-URI as index 1 if none yet,
/// then the target with `cause` and `mp`); ctx.retargets() extended; ctx.set_forwarded().
/// Refuses (nothing changed) when `target` is not a sip:/sips: URI (500), was already a target
/// of this call (482 Loop Detected) or the call was forwarded kMaxForwards times (480).
std::optional<RetargetError> retarget(proxy::RequestContext& ctx, std::string_view target,
                                      ForwardReason reason);

/// The URI a rule's target stands for: itself, or for the word "voicemail" the configured
/// template for `kind` with {user} = the AOR's user part (unconditional uses the no-answer
/// template unless its own is set). Empty when the template is not configured.
std::string forward_target(const store::ForwardRule& rule, const VoicemailTemplates& vm);

}  // namespace sipws::routing
