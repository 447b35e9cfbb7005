#pragma once
// A hook on what the proxy core forwards: the media bridge rewrites SDP bodies here (media
// anchoring), after the core has done its RFC 3261 s.16.6 work and before the bytes leave.

#include <string_view>

#include "common/net.hpp"
#include "sip/message.hpp"

namespace sipws::proxy {

/// Sees every request the core forwards on a branch, every response it relays upstream and
/// every stateless ACK, and may rewrite their bodies. Branches are named by the `branch`
/// parameter of the Via the core added (unique per branch). Thread: core io thread; must not
/// block.
class ForwardHook {
 public:
  virtual ~ForwardHook() = default;
  /// `request` is about to leave on branch `branch` towards `dest` (Via, Record-Route and
  /// Max-Forwards already done); `src` is where it came from. Returns 0 to send it, or a SIP
  /// status (e.g. 488 Not Acceptable Here, 503) to fail this branch with instead.
  virtual int on_forward_request(sip::Message& request, const Source& src, const Destination& dest,
                                 std::string_view branch) = 0;
  /// `response` (our Via already removed) arrived on branch `branch` and is about to be relayed
  /// upstream. 100 Trying is never shown.
  virtual void on_forward_response(sip::Message& response, std::string_view branch) = 0;
  /// Branch `branch` ended without a 2xx: non-2xx final `status`, 408 on timeout, 503/480 on
  /// transport error, 487 when cancelled before it started.
  virtual void on_branch_end(std::string_view branch, int status) = 0;
  /// An ACK (for a 2xx) forwarded statelessly towards `dest` (RFC 3261 s.16.11); it may carry
  /// the answer of a late offer.
  virtual void on_forward_ack(sip::Message& ack, const Source& src, const Destination& dest) = 0;
};

}  // namespace sipws::proxy
