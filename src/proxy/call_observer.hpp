#pragma once
// A hook on the calls the proxy core handles: what the call tracker (live calls, call
// records) learns from. It only watches; the forward hook (forward_hook.hpp) is the one that
// may change what leaves.

#include "common/net.hpp"
#include "proxy/request_context.hpp"
#include "sip/message.hpp"
#include "sip/txn/transaction_layer.hpp"

namespace sipws::proxy {

/// Sees every request the core takes, every branch it starts and every response it sends
/// upstream. Requests and responses are the inside view (after TopologyHiding revealed them).
/// Thread: core io thread; must not block, must not call back into the core.
class CallObserver {
 public:
  virtual ~CallObserver() = default;
  /// Request `rc.original()` arrived as server transaction `id` (before the request chain).
  virtual void on_request(sip::txn::ServerTxnId id, const RequestContext& rc) = 0;
  /// A branch of `id` leaves for `target` towards `dest`; `fwd` is the request as forwarded
  /// (Record-Route and Via added).
  virtual void on_branch(sip::txn::ServerTxnId id, const Target& target, const sip::Message& fwd,
                         const Destination& dest) = 0;
  /// `rsp` is about to be sent upstream on `id` (relayed or made here; 100 Trying is not
  /// shown): `from` is the destination of the branch it came from, nullptr for one made here.
  virtual void on_response(sip::txn::ServerTxnId id, const RequestContext& rc,
                           const sip::Message& rsp, const Destination* from) = 0;
  /// The UAC cancelled INVITE `id` (RFC 3261 s.9.2), or the core was asked to (cancel()).
  virtual void on_cancel(sip::txn::ServerTxnId id) = 0;
};

}  // namespace sipws::proxy
