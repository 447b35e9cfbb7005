#pragma once
// The location service (RFC 3261 s.10.3): address-of-record -> registered contacts, with
// Outbound flows (RFC 5626), GRUU instance ids (RFC 5627) and Path (RFC 3327). Bindings live in
// memory; UDP/TCP/TLS ones are written behind to the store so they survive a restart, WS/WSS
// ones die with their flow and are never persisted.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/expected.hpp"
#include "common/net.hpp"
#include "common/timer.hpp"
#include "sip/uri.hpp"
#include "store/store.hpp"

namespace sipws::registrar {

/// One registered contact of an address-of-record. Owns all its text.
struct Binding {
  std::uint64_t id = 0;      ///< unique within the LocationService, never 0
  std::string aor;           ///< "user@domain", domain lower-case
  std::string contact;       ///< the Contact URI exactly as registered (no <>)
  std::string params;        ///< Contact header params to echo (";+sip.instance=...;reg-id=1"),
                             ///< without expires and q
  std::string instance;      ///< +sip.instance without quotes ("<urn:uuid:...>"), "" if none
  std::uint32_t reg_id = 0;  ///< RFC 5626 reg-id when Outbound applied, else 0
  float q = 1.0f;            ///< RFC 3261 s.10.2.1.2, 0..1
  TimePoint expires_at{};    ///< TimerService::now() based
  std::int64_t unix_expires = 0;  ///< Unix seconds, for persistence
  std::string call_id;
  std::uint32_t cseq = 0;
  std::vector<std::string> path;  ///< Path values, first = closest to the registrar (RFC 3327)
  Source source;                  ///< where the REGISTER came from
  bool direct = false;            ///< the REGISTER came straight from the UA or an Outbound edge
                                  ///< (source is a usable next hop)
  bool outbound = false;          ///< RFC 5626 flow bound to this binding
  bool flow_dead = false;         ///< Outbound TCP/TLS flow closed: requests get 430
  std::string user_agent;
  std::string temp_gruu;  ///< temp-GRUU token (RFC 5627 s.3.2), "" if none

  /// The contact parsed (views into `contact`; keep the Binding alive). nullopt if malformed.
  std::optional<sip::Uri> uri() const { return sip::parse_uri(contact); }
  /// Whole seconds left at `now` (rounded up), 0 if expired.
  std::uint32_t expires_in(TimePoint now) const;
};

/// One Contact of a REGISTER after the registrar validated it (expiry already clamped).
struct ContactUpdate {
  std::string contact;       ///< URI text
  std::string params;        ///< params to echo (see Binding::params)
  std::string instance;      ///< "" if none
  std::uint32_t reg_id = 0;  ///< 0 unless Outbound applies to this contact
  float q = 1.0f;
  std::uint32_t expires = 0;  ///< seconds; 0 removes the binding
};

/// A validated REGISTER for one AOR (RFC 3261 s.10.3 steps 6-8).
struct RegisterUpdate {
  std::string aor;
  std::string call_id;
  std::uint32_t cseq = 0;
  Source source;
  bool direct = false;  ///< see Binding::direct
  std::vector<std::string> path;
  std::string user_agent;
  bool remove_all = false;  ///< Contact: * with Expires: 0
  std::vector<ContactUpdate> contacts;
};

/// Why an update was refused: the status and reason to answer with.
struct UpdateError {
  int status = 500;
  std::string reason;
};

/// In-memory location service with write-behind persistence. Thread: core io thread (the
/// thread running `timers`); not thread-safe.
class LocationService {
 public:
  /// `store` may be null (nothing persisted). Both must outlive the service.
  LocationService(TimerService& timers, store::AsyncStore* store);
  ~LocationService();
  LocationService(const LocationService&) = delete;
  LocationService& operator=(const LocationService&) = delete;

  /// Non-expired bindings of `aor` (user@domain, domain case-insensitive), highest q first,
  /// then most recently registered first. Pointers stay valid until the next mutation.
  std::vector<const Binding*> lookup(std::string_view aor) const;

  /// Applies a REGISTER atomically (RFC 3261 s.10.3 steps 6-8): either every contact is
  /// added/refreshed/removed or nothing changes. Bindings are matched by instance id (+reg-id)
  /// when the contact has one (RFC 5626 s.6, RFC 5627 s.6), else by URI (s.19.1.4).
  /// Errors: same Call-ID with a CSeq not higher than the stored one => 500 (step 6/7, the
  /// request "fails"); more than `max_per_aor` bindings => 403.
  Expected<std::size_t, UpdateError> update(const RegisterUpdate& u, std::size_t max_per_aor = 32);

  /// Removes the binding of `aor` whose contact equals `contact`. @returns true if one existed.
  bool remove(std::string_view aor, std::string_view contact);
  /// Removes every binding of `aor`; @returns how many.
  std::size_t remove_all(std::string_view aor);

  /// A connection closed (RFC 5626 s.5.3, RFC 7118): its WS/WSS bindings are removed at once;
  /// Outbound TCP/TLS bindings are marked dead (430 until re-registered); other bindings forget
  /// the flow (reached again through their contact URI).
  void on_flow_closed(FlowId flow);

  /// The binding of `aor` with instance id `instance` ("<urn:uuid:...>"), most recent first;
  /// nullptr if none (pub-GRUU, RFC 5627 s.8).
  const Binding* find_instance(std::string_view aor, std::string_view instance) const;
  /// The binding that issued temp-GRUU `token`, nullptr if none (RFC 5627 s.8).
  const Binding* find_temp_gruu(std::string_view token) const;
  /// True if `aor` has had a binding since start-up (480 rather than 404 when none is left).
  bool known(std::string_view aor) const;

  /// Restores persisted, non-expired bindings (start-up, before traffic). Their Source is
  /// rebuilt from `received`, with FlowId 0. @returns how many were restored.
  /// @throws store::StoreError from the store (start-up only).
  std::size_t load(store::Store& db);

  /// Number of bindings held.
  std::size_t size() const { return bindings_.size(); }
  /// The clock and timers the service runs on.
  TimerService& timers() const { return timers_; }

  /// Normalizes an AOR: lower-case domain part. Thread: any.
  static std::string normalize_aor(std::string_view aor);

 private:
  Binding* find_match(std::string_view aor, const ContactUpdate& c);
  Binding& insert(std::unique_ptr<Binding> b);
  void erase(std::uint64_t id);
  void arm(Binding& b);
  void persist(const Binding& b);
  void unpersist(const Binding& b);
  static bool persistable(const Binding& b);

  TimerService& timers_;
  store::AsyncStore* store_;
  std::uint64_t next_id_ = 0;
  std::unordered_map<std::uint64_t, std::unique_ptr<Binding>> bindings_;
  std::unordered_map<std::uint64_t, TimerService::TimerId> timer_ids_;
  std::unordered_map<std::string, std::vector<std::uint64_t>> by_aor_;
  std::unordered_map<FlowId, std::vector<std::uint64_t>> by_flow_;
  std::unordered_map<std::string, std::uint64_t> by_temp_gruu_;
  std::unordered_set<std::string> known_;
};

/// "udp:1.2.3.4:5060" / "wss:[::1]:443" for a Source (BindingRecord::received).
std::string received_string(const Source& s);
/// Parses received_string() output; nullopt if malformed.
std::optional<Source> parse_received(std::string_view text);

}  // namespace sipws::registrar
