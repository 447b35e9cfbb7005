#pragma once
// The flow-identity request processor: a WebSocket flow whose handshake proved an identity
// (RFC 7118 s.7: session cookie or HTTP Digest on the upgrade) may only speak as that identity.

#include <functional>
#include <string>
#include <string_view>

#include "common/counters.hpp"
#include "common/net.hpp"
#include "proxy/request_context.hpp"

namespace sipws::auth {

/// Request processor "flow-identity", first in the chain. For a request that arrived on a flow
/// with a bound identity ("user@domain", see transport::FlowTable::bind_identity):
///  - the From URI must be sip/sips with that user (after %-unescaping, case-sensitive) and
///    host (case-insensitive), else `403 Forbidden - From does not match the WebSocket
///    identity`;
///  - a REGISTER's To URI likewise, else `403 Forbidden - To does not match the WebSocket
///    identity`;
///  - on a match the identity becomes ctx.identity(), so digest-auth passes without a SIP
///    challenge (the handshake checked the same subscriber credentials) and the registrar
///    lets it register only its own AOR.
/// Requests on other flows (no handshake auth, UDP/TCP, WS with ws_auth=off) pass untouched.
/// ACK and CANCEL pass (they cannot be answered with a 403; the INVITE they belong to was
/// checked). In-dialog requests do not run the chain (they follow their route set).
/// Counter: flow_identity_mismatch. Thread: core io thread.
class FlowIdentityProcessor final : public proxy::RequestProcessor {
 public:
  /// The identity bound to a flow, "" if none (the daemon binds FlowTable::identity).
  using IdentityOf = std::function<std::string(FlowId)>;
  explicit FlowIdentityProcessor(IdentityOf identity_of);

  std::string_view name() const override { return "flow-identity"; }
  proxy::Action process(proxy::RequestContext& ctx) override;

 private:
  IdentityOf identity_of_;
  Counter& mismatches_;
};

}  // namespace sipws::auth
