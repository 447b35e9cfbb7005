#pragma once
// Location lookup (RFC 3261 s.16.5): turns a Request-URI of a local domain into the registered
// contacts of that AOR, resolving GRUUs (RFC 5627 s.8) and honouring Outbound flows (RFC 5626
// s.5.3) and Path (RFC 3327 s.5.4).

#include <functional>
#include <string>
#include <string_view>

#include "common/counters.hpp"
#include "proxy/domains.hpp"
#include "proxy/request_context.hpp"
#include "registrar/location.hpp"

namespace sipws::registrar {

/// For non-REGISTER requests to a user of a local domain (no Route left pointing elsewhere):
/// one proxy::Target per usable binding (uri = the contact as registered, route = its Path,
/// next_hop = the flow / address it registered from, q) and Continue. No binding: 480 if the
/// AOR is known (a subscriber, or had bindings), else 404, and 503 with Retry-After when the
/// store failed to say whether it is a subscriber (RequestContext::respond_store_unavailable);
/// only dead Outbound flows: 430. Targets already in the context (cluster-lookup's: the AOR's
/// bindings on other nodes) count as found.
/// Requests without a user part (OPTIONS sip:host) and other domains: Continue untouched.
/// Thread: the thread running its proxy core (one per shard); the LocationService it shares
/// may be used from any thread.
class LocationLookupProcessor final : public proxy::RequestProcessor {
 public:
  /// Asks whether `aor` ("user@domain") is a subscriber and calls `done` with the answer (or
  /// the store's error), now or later on the core io thread (the daemon asks the store without
  /// blocking). May be null.
  using IsSubscriber =
      std::function<void(const std::string& aor, std::function<void(store::Result<bool>)> done)>;
  /// `domains` and `location` must outlive the processor. Counts registrar_lookup_found,
  /// registrar_lookup_not_found, registrar_lookup_unavailable and registrar_lookup_flow_failed
  /// in `reg` (default: the process-wide registry).
  LocationLookupProcessor(const proxy::Domains& domains, const LocationService& location,
                          IsSubscriber is_subscriber = nullptr, Counters& reg = counters());

  std::string_view name() const override { return "location-lookup"; }
  proxy::Action process(proxy::RequestContext& ctx) override;

 private:
  /// The lookup's counters, looked up once.
  struct Stats {
    explicit Stats(Counters& reg);
    Counter& found;
    Counter& not_found;
    Counter& unavailable;
    Counter& flow_failed;
  };

  const proxy::Domains& domains_;
  const LocationService& location_;
  /// No usable binding: 480 for a known AOR, else 404 (503 if the hook failed); Pause while the
  /// hook answers later.
  proxy::Action unreachable(proxy::RequestContext& ctx, const std::string& aor);

  IsSubscriber is_subscriber_;
  Stats stats_;
};

/// The target for one binding (see LocationLookupProcessor). Thread: any.
proxy::Target target_for(const Binding& b);

/// The IsSubscriber hook that asks `store` (AsyncStore::find_subscriber of the AOR's user and
/// domain, answered on the asking thread); a store error reaches `done` as an error, never as
/// "not a subscriber". `store` must outlive the hook.
LocationLookupProcessor::IsSubscriber is_subscriber_in(store::AsyncStore& store);

}  // namespace sipws::registrar
