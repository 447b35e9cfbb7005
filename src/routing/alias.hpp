#pragma once
// Local numbers and aliases (DIDs): `sipws alias add +15551230001 alice@example.com`.

#include <functional>
#include <string>

#include "proxy/domains.hpp"
#include "proxy/request_context.hpp"
#include "store/store.hpp"

namespace sipws::routing {

/// Request processor "alias", the first routing processor (and the re-run point after a
/// forward on failure). For initial requests but REGISTER, ACK and CANCEL:
///  - a tel: Request-URI (RFC 3966) becomes `sip:<number>@<primary domain>;user=phone`, and a
///    local `user=phone` user is read as a dialled number (visual separators removed);
///  - a Request-URI naming a local domain (or our address and port) whose AOR has no binding
///    is looked up in the alias table (AsyncStore, Pause) by its dialled number; a hit
///    rewrites the Request-URI to `sip:<aor>`.
/// A store error answers 503 with Retry-After (RequestContext::respond_store_unavailable;
/// counted as store_read_errors by the store): an alias the store could not look up is not a
/// miss.
/// Thread: core io thread.
class AliasProcessor final : public proxy::RequestProcessor {
 public:
  /// True if `aor` ("user@domain") has bindings (no store trip for registered users).
  using HasBindings = std::function<bool(const std::string& aor)>;
  AliasProcessor(const proxy::Domains& domains, store::AsyncStore& store, HasBindings has_bindings);

  std::string_view name() const override { return "alias"; }
  proxy::Action process(proxy::RequestContext& ctx) override;

 private:
  const proxy::Domains& domains_;
  store::AsyncStore& store_;
  HasBindings has_bindings_;
};

}  // namespace sipws::routing
