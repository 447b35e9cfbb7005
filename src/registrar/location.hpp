#pragma once
// The location service (RFC 3261 s.10.3): address-of-record -> registered contacts, with
// Outbound flows (RFC 5626), GRUU instance ids (RFC 5627) and Path (RFC 3327). Bindings live in
// memory; UDP/TCP/TLS ones are written behind to the store so they survive a restart, WS/WSS
// ones die with their flow and are not persisted, except in cluster mode (set_cluster), where
// every binding is written with its node so that the other nodes find it.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/expected.hpp"
#include "common/instruments.hpp"
#include "common/net.hpp"
#include "common/timer.hpp"
#include "sip/headers.hpp"
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
  /// The NAT keep-alive's OPTIONS went unanswered (NatKeepalive): lookups skip it until the UA
  /// registers again or answers a keep-alive.
  bool unreachable = false;
  std::string user_agent;
  std::string temp_gruu;  ///< temp-GRUU token (RFC 5627 s.3.2), "" if none

  /// The contact parsed (views into `contact`; keep the Binding alive). nullopt if malformed.
  std::optional<sip::Uri> uri() const { return sip::parse_uri(contact); }
  /// Whole seconds left at `now` (rounded up), 0 if expired.
  std::uint32_t expires_in(TimePoint now) const;
};

/// True if Contact `uri` names `src`'s address and port (a missing port is 5060, 5061 for a
/// sips URI or a TLS source; a host name never matches).
bool contact_names_source(const sip::Uri& uri, const Source& src);

/// Kamailio's nat_uac_test for a REGISTER the UA sent itself over UDP, TCP or TLS (its top
/// `via`, one `contact`, where it came from): the UA is behind NAT when the Via's sent-by is not
/// the source address and port (flags 2 and 16), or the Contact names a private address
/// (common/net is_private) other than the source (flag 1).
bool behind_nat(const sip::Via& via, const sip::Uri& contact, const Source& src);

/// A third-party registration: a UA not behind NAT (behind_nat()) registering a Contact that
/// is not its own source address and port (another host or port, a host name). Such a binding
/// is reached at its Contact (RFC 3261 s.10.2.1); any other UDP/TCP/TLS binding registered
/// directly through the REGISTER's source (the NAT's pinhole). WebSocket sources never (their
/// Contacts are `.invalid`, RFC 7118 s.5.2).
bool is_third_party(const sip::Via& via, const sip::Uri& contact, const Source& src);

/// One Contact of a REGISTER after the registrar validated it (expiry already clamped).
struct ContactUpdate {
  std::string contact;       ///< URI text
  std::string params;        ///< params to echo (see Binding::params)
  std::string instance;      ///< "" if none
  std::uint32_t reg_id = 0;  ///< 0 unless Outbound applies to this contact
  float q = 1.0f;
  std::uint32_t expires = 0;  ///< seconds; 0 removes the binding
  /// A third-party registration (is_third_party()): reached at its Contact, not through the
  /// REGISTER's source.
  bool third_party = false;
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

/// In-memory location service with write-behind persistence, one object shared by every
/// shard.
///
/// Thread: every method may be called from any thread at once, except load() (start-up, before
/// traffic) and the destructor (on the thread running `timers`, once no other thread uses the
/// service). The AORs are split into kPartitions partitions by a hash of the normalized AOR,
/// each with its own mutex and indexes: a call about one AOR locks that AOR's partition only,
/// briefly; on_flow_closed() locks the partitions one after the other. No call returns a
/// pointer into the service: lookups copy, or visit() under the lock.
///
/// Expiry (RFC 3261 s.10.3 step 8): a binding whose expires_at has passed (timers.now(), called
/// from every caller's thread: thread-safe for AsioTimerService, steady_clock) is never
/// returned, and a sweep every `sweep_every` on the thread running `timers` removes it and its
/// stored row. size() counts a binding until the sweep removed it.
///
/// Persistence: store writes are decided under the partition lock and queued on the
/// AsyncStore just after it is released, in the order the partition applied them.
class LocationService {
 public:
  /// Number of partitions (independent locks). At most 100: a temp-GRUU token starts with its
  /// partition as two decimal digits.
  static constexpr std::size_t kPartitions = 64;
  /// Default period of the expiry sweep.
  static constexpr Millis kSweepInterval{1000};

  /// `store` may be null (nothing persisted). Both must outlive the service. Arms the repeating
  /// expiry sweep on `timers` every `sweep_every` (at least 1 ms). Counts registrar_bindings_added,
  /// registrar_bindings_removed, registrar_bindings_expired and
  /// registrar_ws_bindings_flow_closed in `inst.counters`; temp-GRUU tokens come from
  /// `inst.tokens`, called from any caller's thread under a partition lock (the default,
  /// per_thread_tokens(), is safe so; a SeededTokens only while one thread uses the service).
  /// Thread: the one running `timers`.
  LocationService(TimerService& timers, store::AsyncStore* store,
                  Millis sweep_every = kSweepInterval, Instruments inst = {});
  /// Cancels the sweep. Thread: the one running `timers`, with no other caller left.
  ~LocationService();
  LocationService(const LocationService&) = delete;
  LocationService& operator=(const LocationService&) = delete;

  /// Copies of the non-expired bindings of `aor` (user@domain, domain case-insensitive),
  /// highest q first, then most recently registered first. Hot paths use visit() instead.
  std::vector<Binding> lookup(std::string_view aor) const;

  /// Calls `fn(const Binding&)` for each non-expired binding of `aor`, in lookup() order, while
  /// holding that AOR's partition lock: `fn` must be short and must not call back into this
  /// service (it would deadlock or wait on another AOR's lock), and must not keep the
  /// reference. No allocation by the service. Exceptions from `fn` propagate (lock released).
  template <class Fn>
  void visit(std::string_view aor, Fn&& fn) const {
    using F = std::remove_reference_t<Fn>;
    visit_impl(aor, VisitFn{const_cast<void*>(static_cast<const void*>(std::addressof(fn))),
                            [](void* f, const Binding& b) { (*static_cast<F*>(f))(b); }});
  }

  /// True if `aor` has at least one non-expired binding (a dead Outbound flow counts).
  bool has_bindings(std::string_view aor) const;

  /// Applies a REGISTER atomically (RFC 3261 s.10.3 steps 6-8), under one partition lock:
  /// either every contact is added/refreshed/removed or nothing changes. Bindings are matched
  /// by instance id (+reg-id) when the contact has one (RFC 5626 s.6, RFC 5627 s.6), else by
  /// URI (s.19.1.4). Expired bindings of the AOR are removed first (as if swept).
  /// Errors: same Call-ID with a CSeq not higher than the stored one => 500 (step 6/7, the
  /// request "fails"); more than `max_per_aor` bindings => 403.
  ///
  /// Durability (`store_sync: ack`): when `on_durable` points to a callback and the update
  /// succeeded and queued store writes (UDP/TCP/TLS bindings; WS/WSS ones are never stored),
  /// the callback is moved out of `*on_durable` (left empty) and runs once on this thread
  /// when those writes committed, or with an error when they failed
  /// (AsyncStore::write_bindings). Otherwise `*on_durable` is left as it was: nothing waits,
  /// the caller may answer at once.
  Expected<std::size_t, UpdateError> update(const RegisterUpdate& u, std::size_t max_per_aor = 32,
                                            store::AsyncStore::Durable* on_durable = nullptr);

  /// Removes the non-expired binding of `aor` whose contact equals `contact` (s.19.1.4).
  /// @returns true if one existed (counted as registrar_bindings_removed).
  bool remove(std::string_view aor, std::string_view contact);
  /// Removes every binding of `aor`; @returns how many were not expired.
  std::size_t remove_all(std::string_view aor);

  /// Calls `fn(const Binding&)` for every non-expired binding, one partition (and its lock) at
  /// a time: the same rules as visit(). For periodic work (the NAT keep-alive), not per
  /// request.
  template <class Fn>
  void visit_all(Fn&& fn) const {
    using F = std::remove_reference_t<Fn>;
    visit_all_impl(VisitFn{const_cast<void*>(static_cast<const void*>(std::addressof(fn))),
                           [](void* f, const Binding& b) { (*static_cast<F*>(f))(b); }});
  }

  /// Marks binding `id` of `aor` unreachable or reachable again (see Binding::unreachable);
  /// returns false if there is no such binding (expired, replaced).
  bool set_unreachable(std::string_view aor, std::uint64_t id, bool unreachable);

  /// A connection closed (RFC 5626 s.5.3, RFC 7118): its WS/WSS bindings are removed at once;
  /// Outbound TCP/TLS bindings are marked dead (430 until re-registered); other bindings forget
  /// the flow (reached again through their contact URI). Locks each partition in turn.
  void on_flow_closed(FlowId flow);

  /// A copy of the non-expired binding of `aor` with instance id `instance`
  /// ("<urn:uuid:...>"), most recent first; nullopt if none (pub-GRUU, RFC 5627 s.8).
  std::optional<Binding> find_instance(std::string_view aor, std::string_view instance) const;
  /// A copy of the non-expired binding that issued temp-GRUU `token`, nullopt if none
  /// (RFC 5627 s.8). The token names its partition (two leading digits, then 16 random
  /// characters), so only that partition is locked; a token not of that form is not found.
  std::optional<Binding> find_temp_gruu(std::string_view token) const;
  /// True if `aor` has had a binding since start-up (480 rather than 404 when none is left),
  /// expired or not.
  bool known(std::string_view aor) const;

  /// Restores persisted, non-expired bindings (start-up, before traffic). Their Source is
  /// rebuilt from `received`, with FlowId 0. @returns how many were restored.
  /// @throws store::StoreError from the store (start-up only).
  std::size_t load(store::Store& db);

  /// Number of bindings held, including expired ones the sweep has not removed yet.
  std::size_t size() const { return size_.load(std::memory_order_relaxed); }
  /// The clock and timers the service runs on.
  TimerService& timers() const { return timers_; }

  /// Whether a binding learnt over `p` is written to the store: WS/WSS bindings die with their
  /// flow and are not, except in cluster mode, where every binding is (the other nodes find
  /// them there). Thread: any.
  bool persisted(Protocol p) const { return cluster_ || !is_websocket(p); }

  /// Cluster mode (docs/cluster.md): every binding is written with this node's id `node` and
  /// the Route entry `route_of(binding)` through which the other nodes reach it; load()
  /// restores this node's bindings only (and those of no node), and deletes this node's stored
  /// WebSocket bindings, whose flows did not survive the restart. `route_of` is called under a
  /// partition lock, from any thread. Thread: start-up, before load() and traffic.
  void set_cluster(std::string node, std::function<std::string(const Binding&)> route_of);

  /// Normalizes an AOR: lower-case domain part. Thread: any.
  static std::string normalize_aor(std::string_view aor);

 private:
  struct Partition;  ///< one slice of the AORs with its lock and indexes (location.cpp)
  class StoreOps;    ///< store writes decided under a partition lock (location.cpp)

  /// A visitor without ownership or allocation (see visit()).
  struct VisitFn {
    void* fn;
    void (*call)(void*, const Binding&);
  };
  void visit_impl(std::string_view aor, VisitFn fn) const;
  void visit_all_impl(VisitFn fn) const;

  Partition& partition(std::string_view normalized_aor) const;
  Expected<std::size_t, UpdateError> update_locked(Partition& p, const std::string& aor,
                                                   const RegisterUpdate& u, std::size_t max_per_aor,
                                                   TimePoint now, StoreOps& ops);
  Binding& insert(Partition& p, Binding b);
  void erase(Partition& p, Binding& b, StoreOps& ops);
  void set_expiry(Partition& p, Binding& b, TimePoint at);
  void purge_expired(Partition& p, std::string_view aor, TimePoint now, StoreOps& ops);
  void commit(Partition& p, std::unique_lock<std::mutex>& lock, StoreOps& ops,
              store::AsyncStore::Durable durable = nullptr);
  void sweep();

  TimerService& timers_;
  store::AsyncStore* store_;
  bool cluster_ = false;  ///< set_cluster() was called
  std::string node_;      ///< this node's id in cluster mode
  std::function<std::string(const Binding&)> route_of_;
  const Millis sweep_every_;
  TokenSource& tokens_;
  Counter& added_;                         ///< registrar_bindings_added
  Counter& removed_;                       ///< registrar_bindings_removed
  Counter& expired_;                       ///< registrar_bindings_expired
  Counter& ws_removed_;                    ///< registrar_ws_bindings_flow_closed
  TimerService::TimerId sweep_timer_ = 0;  ///< the thread running timers_ only
  std::atomic<std::uint64_t> next_id_{0};
  std::atomic<std::size_t> size_{0};
  std::unique_ptr<Partition[]> partitions_;
};

/// "udp:1.2.3.4:5060" / "wss:[::1]:443" for a Source (BindingRecord::received); for UDP with
/// a known local endpoint, the listener the binding registered on follows after a '/'
/// ("udp:1.2.3.4:5060/10.0.0.1:5060"), so that a restored binding is reached from it.
std::string received_string(const Source& s);
/// Parses received_string() output (with or without the local part); nullopt if malformed.
std::optional<Source> parse_received(std::string_view text);

}  // namespace sipws::registrar
