#pragma once
// The registrar processor (RFC 3261 s.10.3) with Outbound (RFC 5626 s.6), GRUU (RFC 5627 s.6)
// and Path (RFC 3327 s.5.3). It answers REGISTER for the local domains; digest auth runs before
// it in the request chain.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/counters.hpp"
#include "proxy/domains.hpp"
#include "proxy/request_context.hpp"
#include "registrar/location.hpp"

namespace sipws::registrar {

/// Registration intervals, seconds (RFC 3261 s.10.2.1, s.10.3 step 7).
struct RegistrarConfig {
  std::uint32_t min_expires = 60;         ///< shorter non-zero requests get 423 + Min-Expires
  std::uint32_t max_expires = 3600;       ///< longer requests are clamped
  std::uint32_t default_expires = 3600;   ///< neither Expires header nor expires param
  std::size_t max_contacts_per_aor = 32;  ///< more => 403
  /// `store_sync: ack`: the 200 OK waits until the bindings it reports are durable in the
  /// store (the chain pauses); a failed write is answered 503 instead. false (`batch`): the
  /// store is written behind the answer.
  bool ack_when_durable = true;
};

/// Handles REGISTER whose Request-URI host is a local domain (or names this proxy while the To
/// domain is local); anything else continues down the chain. Responds 200 with every current
/// binding (Contact with expires, instance/reg-id echoed, pub-gruu/temp-gruu when
/// `Supported: gruu`), Date, Path (when `Supported: path`), `Require: outbound` (when the
/// REGISTER has `Supported: outbound` and Outbound was applied). Errors: 400 (bad Contact,
/// `*` misuse), 403 (identity is not the AOR, too many contacts), 404 (To not in our domain),
/// 420 (unknown Require), 423 (interval too brief), 500 (CSeq out of order), 503 + Retry-After
/// (the store could not make the change durable, with `ack_when_durable`; the binding is
/// applied in memory all the same, so calls still reach it, but the UA is told to retry).
/// Thread: the thread running its proxy core (one per shard); the LocationService it shares
/// may be used from any thread.
class RegistrarProcessor final : public proxy::RequestProcessor {
 public:
  /// `domains` and `location` must outlive the processor. Counts registrar_register_ok,
  /// registrar_register_rejected, registrar_register_waited_durable and
  /// registrar_register_not_durable in `reg` (default: the process-wide registry).
  RegistrarProcessor(const proxy::Domains& domains, LocationService& location,
                     RegistrarConfig cfg = {}, Counters& reg = counters());

  std::string_view name() const override { return "registrar"; }
  proxy::Action process(proxy::RequestContext& ctx) override;

 private:
  /// The registrar's counters, looked up once.
  struct Stats {
    explicit Stats(Counters& reg);
    Counter& ok;
    Counter& rejected;
    Counter& waited_durable;
    Counter& not_durable;
  };
  /// Counts the rejection and answers `status` with `reason`.
  proxy::Action reject(proxy::RequestContext& ctx, int status, std::string_view reason);

  const proxy::Domains& domains_;
  LocationService& location_;
  RegistrarConfig cfg_;
  Stats stats_;
};

/// An RFC 7231 s.7.1.1.1 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") for the Date header
/// (RFC 3261 s.20.17). `unix_seconds` since the epoch.
std::string http_date(std::int64_t unix_seconds);

/// The public GRUU of `instance` ("<urn:uuid:...>") for `aor` (RFC 5627 s.3.1):
/// "sip:user@domain;gr=urn:uuid:...".
std::string pub_gruu(std::string_view aor, std::string_view instance);
/// The temporary GRUU for `token` (RFC 5627 s.3.2): "sip:tgruu.TOKEN@domain;gr".
std::string temp_gruu(std::string_view aor, std::string_view token);
/// Prefix of the user part of a temp-GRUU.
inline constexpr std::string_view kTempGruuPrefix = "tgruu.";

}  // namespace sipws::registrar
