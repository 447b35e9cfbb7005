#pragma once
// Persistence via SOCI: subscribers (digest credentials), location bindings, services and call
// records. SQLite is the embedded default; the URI scheme picks the backend (sqlite:PATH,
// postgresql://..., mysql://...). The daemon keeps hot data in memory and
// uses AsyncStore so that no I/O thread ever waits on the database.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/call_record.hpp"
#include "common/expected.hpp"

namespace sipws::store {

/// Thrown by Store::open and the synchronous API on database errors (start-up, CLI).
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Why AsyncStore could not answer a read (category "sipws.store"). The cause (SQLite's
/// message) is logged by the store worker where it happened.
enum class StoreErrc {
  /// The database failed the query: an I/O error, a lock held past the busy timeout, a table
  /// or column gone, an unreadable file. Not an absence: the row may well exist.
  Unavailable = 1,
};
const std::error_category& store_category();
std::error_code make_error_code(StoreErrc e);

/// What an AsyncStore read answers: the value (for a lookup, std::nullopt = there is no such
/// row) or the error that kept the store from saying (StoreErrc). Callers must not read an
/// error as an absence: a request that needed the answer gets 503 (see
/// proxy::RequestContext::respond_store_unavailable).
template <class T>
using Result = Expected<T, std::error_code>;

/// A subscriber: credentials are stored as HA1 only (RFC 7616 s.3.4.2), never the password.
struct Subscriber {
  std::string user;
  std::string domain;      ///< also the digest realm
  std::string ha1_md5;     ///< hex MD5(user:realm:password)
  std::string ha1_sha256;  ///< hex SHA-256(user:realm:password)
};

/// One persisted registration binding (RFC 3261 s.10.3; RFC 5626 instance/reg-id; RFC 3327
/// Path). Only bindings reachable after a restart are persisted (not WS/WSS ones).
struct BindingRecord {
  std::string aor;           ///< "user@domain"
  std::string contact;       ///< the Contact URI as registered
  std::string instance;      ///< +sip.instance value, "" if none
  std::uint32_t reg_id = 0;  ///< 0 if none
  std::string path;          ///< Path header values joined with ", ", "" if none
  std::string received;  ///< source as "proto:ip:port[/local-ip:port]" (registrar::received_string)
  std::int64_t expires_at = 0;  ///< Unix time, seconds
  float q = 1.0f;
  std::string call_id;
  std::uint32_t cseq = 0;
  std::string user_agent;
  /// Cluster mode (docs/cluster.md): the node that holds the binding's flow ("" outside a
  /// cluster), and the Route entry through which the other nodes reach it
  /// ("<sip:FLOW-TOKEN@node-address;lr>"), "" outside a cluster.
  std::string node;
  std::string route;
};

/// One node of a cluster as the shared store knows it (table cluster_node): its id, the SIP
/// URI where the other nodes send it requests, and its heartbeat counter (bumped every second
/// by the node while it runs).
struct NodeRecord {
  std::string node;
  std::string address;
  std::int64_t beat = 0;
};

/// Call forwarding kinds (RFC 5806 s.2 reasons: unconditional, user-busy, no-answer).
enum class ForwardKind { Unconditional, Busy, NoAnswer };
/// "unconditional", "busy", "no_answer" (the CLI's words).
std::string_view forward_kind_name(ForwardKind k);
/// The kind named by `name` (CLI words above), nullopt otherwise.
std::optional<ForwardKind> parse_forward_kind(std::string_view name);

/// One per-subscriber forwarding rule (the seed's usr_preferences `callfwd`). Keyed by
/// (aor, kind).
struct ForwardRule {
  std::string aor;  ///< "user@domain", domain lower-case
  ForwardKind kind = ForwardKind::Unconditional;
  /// A sip:/sips:/tel: URI, or the word "voicemail" (expanded from the `voicemail` config).
  std::string target;
  /// No-answer only: seconds to ring before forwarding; 0 = the configured default.
  std::uint32_t ring_timeout_s = 0;
};

/// A subscriber's membership of one group (call classes: "local", "ld", "int"...).
struct GroupMembership {
  std::string aor;
  std::string group;
};

/// A local number or alias (a DID) that reaches an AOR: `sipws alias add +15551230001
/// alice@example.com`. The alias is a user part, valid in every local domain and as tel:.
struct Alias {
  std::string alias;
  std::string aor;
};

/// Everything the routing processors need about one AOR, in one round trip.
struct UserServices {
  bool subscriber = false;            ///< a row in the subscriber table
  std::vector<std::string> groups;    ///< sorted
  std::vector<ForwardRule> forwards;  ///< at most one per kind
};

/// Where the subscribers live (`store_layout`): sipws's own tables, or an existing Kamailio
/// database's `subscriber` table (username, domain, ha1, ha1b; MD5 only), sipws's bindings then
/// kept in `sipws_location` beside Kamailio's `location`.
enum class Layout { Sipws, Kamailio };

/// How Store::open opens a database.
struct OpenOptions {
  Layout layout = Layout::Sipws;
  /// Create or migrate the schema to this sipws's version (the daemon and every CLI command
  /// but `sipws db status`).
  bool migrate = true;
};

/// What `sipws db status` reports.
struct SchemaStatus {
  int version = 0;      ///< the database's schema version; 0 = empty (no sipws tables)
  int latest = 0;       ///< the version this sipws writes
  std::string backend;  ///< "sqlite", "postgresql" or "mysql"
  std::string layout;   ///< "sipws" or "kamailio"
};

/// Synchronous store. Thread: any, one call at a time (callers serialize; AsyncStore does).
class Store {
 public:
  virtual ~Store() = default;
  /// Opens `uri` and, with `options.migrate`, creates or migrates its schema (one
  /// transaction, serialised between processes sharing the database):
  /// - "sqlite:PATH" (parent directories created);
  /// - "postgresql://USER:PASSWORD@HOST:PORT/DATABASE[?libpq parameters]" (also postgres://);
  /// - "mysql://USER:PASSWORD@HOST:PORT/DATABASE" (also mariadb://; user and password
  ///   percent-decoded, port 3306 by default).
  /// Connecting gives up after 5 s. A network database that drops the connection later is
  /// connected again by the next call.
  /// @throws StoreError naming the URI (password masked) and the cause: bad scheme or URI,
  /// cannot connect or open, a schema newer than this sipws, a kamailio layout without
  /// Kamailio's subscriber table.
  static std::unique_ptr<Store> open(const std::string& uri, const OpenOptions& options = {});
  /// `uri` as logs may show it: the password of its user-info replaced by "***".
  static std::string shown_uri(const std::string& uri);

  /// The schema version of the database and of this sipws. @throws StoreError.
  virtual SchemaStatus schema_status() = 0;
  /// Creates or migrates the schema to this sipws's version (what open() does unless told
  /// not to). @returns the version found before (0: empty). @throws StoreError.
  virtual int migrate() = 0;

  /// Adds or replaces a subscriber. @throws StoreError.
  virtual void put_subscriber(const Subscriber& s) = 0;
  /// @returns true if it existed. @throws StoreError.
  virtual bool delete_subscriber(const std::string& user, const std::string& domain) = 0;
  /// The subscriber, or nullopt when there is none. @throws StoreError when the database
  /// fails (a failure is never answered as nullopt).
  virtual std::optional<Subscriber> find_subscriber(const std::string& user,
                                                    const std::string& domain) = 0;
  /// @throws StoreError.
  virtual std::vector<Subscriber> list_subscribers() = 0;

  /// Inserts or replaces the binding keyed by (aor, contact). @throws StoreError.
  virtual void put_binding(const BindingRecord& b) = 0;
  /// @throws StoreError.
  virtual void delete_binding(const std::string& aor, const std::string& contact) = 0;
  /// @throws StoreError.
  virtual std::vector<BindingRecord> load_bindings() = 0;
  /// The bindings of `aor` (normalized "user@domain") on every node, ordered by contact.
  /// @throws StoreError (never an empty answer for a failure).
  virtual std::vector<BindingRecord> find_bindings(const std::string& aor) = 0;
  /// Deletes the bindings that node `node` holds, only its WebSocket ones (received "ws:" or
  /// "wss:") with `websocket_only`: a node that restarts has lost their flows.
  /// @returns how many. @throws StoreError.
  virtual std::size_t delete_node_bindings(const std::string& node, bool websocket_only) = 0;

  /// Cluster heartbeat: bumps `node`'s beat (creating its row), recording `address`.
  /// @throws StoreError.
  virtual void heartbeat(const std::string& node, const std::string& address) = 0;
  /// Every node row, ordered by node. @throws StoreError.
  virtual std::vector<NodeRecord> list_nodes() = 0;

  // Groups, forwarding rules and aliases: every `aor` argument is "user@domain"; the store
  // lower-cases its domain (keys and filters alike), the user part and group names are kept.

  /// Adds `aor` to `group` (idempotent). @throws StoreError.
  virtual void add_group(const std::string& aor, const std::string& group) = 0;
  /// @returns true if the membership existed. @throws StoreError.
  virtual bool delete_group(const std::string& aor, const std::string& group) = 0;
  /// Memberships of `aor`, or of everyone when `aor` is empty; sorted by aor, group.
  virtual std::vector<GroupMembership> list_groups(const std::string& aor) = 0;

  /// Inserts or replaces the rule keyed by (aor, kind). @throws StoreError.
  virtual void put_forward(const ForwardRule& r) = 0;
  /// Deletes the rule of `kind`, or every rule of `aor` when `kind` is nullopt.
  /// @returns the number of rules deleted. @throws StoreError.
  virtual std::size_t delete_forward(const std::string& aor, std::optional<ForwardKind> kind) = 0;
  /// Rules of `aor`, or of everyone when `aor` is empty; sorted by aor, then kind in enum
  /// order (unconditional, busy, no_answer).
  virtual std::vector<ForwardRule> list_forwards(const std::string& aor) = 0;

  /// Inserts or replaces alias -> aor. @throws StoreError.
  virtual void put_alias(const Alias& a) = 0;
  /// @returns true if it existed. @throws StoreError.
  virtual bool delete_alias(const std::string& alias) = 0;
  /// The AOR of `alias`, or nullopt when there is none. @throws StoreError (never nullopt).
  virtual std::optional<std::string> find_alias(const std::string& alias) = 0;
  /// Every alias, sorted by alias.
  virtual std::vector<Alias> list_aliases() = 0;

  /// Appends call records (the `cdrs` table), in one transaction; each gets its row id in
  /// `records[i].id`. @throws StoreError (then none of them is stored).
  virtual void add_call_records(std::vector<CallRecord>& records) = 0;
  /// The call records matching `q`, newest first (start time, then id), from q.offset, at
  /// most q.limit; `total` (if not null) gets how many match without offset and limit.
  /// @throws StoreError.
  virtual std::vector<CallRecord> list_call_records(const CallRecordQuery& q,
                                                    std::size_t* total) = 0;

  /// Subscriber flag, groups and forwarding rules of "user@domain" in one call.
  /// @throws StoreError.
  virtual UserServices user_services(const std::string& user, const std::string& domain) = 0;

  /// Runs `body` (calls of this store) as one transaction: one commit for all. Errors that
  /// `body` catches itself do not abort it. @throws StoreError if the transaction cannot be
  /// begun or committed (then nothing of it is stored), or what `body` throws.
  virtual void transaction(const std::function<void()>& body) { body(); }

  /// A number that changes when another connection (another process: the CLI, another node)
  /// committed a change to the database since the previous call (SQLite's
  /// `PRAGMA data_version`; on PostgreSQL and MySQL a counter that every change of subscriber
  /// data bumps, this connection's own included). Caches compare it to know when to drop what
  /// they hold.
  /// @throws StoreError.
  virtual std::uint64_t data_version() = 0;

  /// Proves that the database can be read and written now: reads each table, and writes and
  /// deletes a probe binding in one committed transaction (no row changes). @throws StoreError
  /// naming the cause (disk full, read-only file, a table gone, a write refused, database down).
  virtual void check() = 0;
};

/// Read connections beside the writer's (`store_pool`): `size` Stores made by `open`, each
/// with a thread of its own that runs find_subscriber, user_services and find_alias in
/// parallel with the writer (which keeps the writes, run() jobs, polls and checks). Reads then
/// may overtake writes queued before them. size 0: every operation runs on the one worker,
/// in queue order.
struct ReadPool {
  std::size_t size = 0;
  std::function<std::unique_ptr<Store>()> open;
};

/// Runs Store calls on one worker thread; results are handed to `post` (which the daemon binds
/// to the core io_context) so callbacks run on the core thread.
///
/// Writes: consecutive queued writes share one transaction (one commit, one WAL sync), so
/// writes that arrive while the worker commits go together into the next one (group commit,
/// with no waiting added). A write may carry a `Durable` callback, answered once its
/// transaction committed (the rule `store_sync: ack`: acknowledge only what is durable);
/// without one it is write-behind (`store_sync: batch`). A failed write is logged and counted
/// ("store_write_errors"); what was stored before stays.
///
/// Reads: a failed read is logged, counted ("store_read_errors") and answered as an error
/// (StoreErrc::Unavailable), never as "not found"; the worker goes on with the next operation.
///
/// Health: a failed read, write or commit makes health() false with the cause; while it is
/// false the worker runs Store::check() every `check_interval`, and a check or write that
/// succeeds makes it true again (the daemon's GET /ready). Thread: call from the core thread
/// (health() and generation() from any).
class AsyncStore {
 public:
  using Post = std::function<void(std::function<void()>)>;
  /// Answer to a write that asked for it: an empty error_code once the write is durable
  /// (committed), StoreErrc::Unavailable when it or its commit failed (then it may or may not
  /// be stored: never acknowledge it).
  using Durable = std::function<void(std::error_code)>;
  /// One binding write of write_bindings(): a put, or a delete of (aor, contact) when `erase`.
  struct BindingWrite {
    BindingRecord record;  ///< a delete uses aor and contact only
    bool erase = false;
  };
  /// While the store is unhealthy, the worker checks it this often.
  static constexpr std::chrono::milliseconds kCheckInterval{1000};

  /// `check_interval`: how often an unhealthy store is checked (tests shorten it).
  /// @throws StoreError when `pool.open` does (before any thread started).
  AsyncStore(std::unique_ptr<Store> store, Post post,
             std::chrono::milliseconds check_interval = kCheckInterval, const ReadPool& pool = {});
  ~AsyncStore();  ///< drains queued writes, then joins the worker

  /// Store::find_subscriber on the worker; `done` runs on the core thread with the subscriber,
  /// std::nullopt when there is none, or an error when the store failed.
  void find_subscriber(std::string user, std::string domain,
                       std::function<void(Result<std::optional<Subscriber>>)> done);
  /// Store::user_services on the worker; `done` runs on the core thread with the services
  /// (`subscriber` false for a stranger) or an error when the store failed.
  void user_services(std::string user, std::string domain,
                     std::function<void(Result<UserServices>)> done);
  /// Store::find_bindings on a read connection; `done` runs on the asking thread with the
  /// bindings of `aor` on every node, or an error when the store failed.
  void find_bindings(std::string aor, std::function<void(Result<std::vector<BindingRecord>>)> done);
  /// Store::find_alias on the worker; `done` runs on the core thread with the AOR, std::nullopt
  /// when there is no such alias, or an error when the store failed.
  void find_alias(std::string alias, std::function<void(Result<std::optional<std::string>>)> done);
  /// Runs `job` with the store on the worker, in queue order (the admin API's reads and
  /// writes; a write there commits by itself). `done` runs on the asking thread with an empty
  /// error_code, or StoreErrc::Unavailable when `job` threw (logged as `what`, counted as a
  /// read error, the store marked unhealthy). `job` hands its results to `done` through what
  /// both capture.
  void run(std::string what, std::function<void(Store&)> job,
           std::function<void(std::error_code)> done);
  /// Queues Store::put_binding (write-behind). A write of the same (aor, contact) still queued
  /// is replaced, not repeated: only the newest state of a binding is written (counted as
  /// store_binding_writes_coalesced).
  void put_binding(BindingRecord b);
  /// Queues Store::delete_binding; replaces a queued write of the same binding like put_binding.
  void delete_binding(std::string aor, std::string contact);
  /// Queues `writes` in order (each coalesced like put_binding). `done`, if set, runs once on
  /// the asking thread (see answer_on_this_thread) when every one of them is durable: committed
  /// by the transaction that wrote it, or by the one that wrote a newer write of the same
  /// binding; with StoreErrc::Unavailable if any of them failed. Never runs before this returns.
  void write_bindings(std::vector<BindingWrite> writes, Durable done);

  /// Whether the last read, write, commit or check succeeded; when not, `error` names the
  /// failure. Thread: any.
  struct Health {
    bool ok = true;
    std::string error;
  };
  Health health() const;
  /// Synchronous access for start-up (loading bindings) before the io thread runs.
  Store& sync();
  /// Blocks until every queued operation has run (tests, shutdown).
  void flush();

  /// Bumped (by one or more) whenever the stored subscribers, groups, forwarding rules or
  /// aliases may have changed: another process committed to the store (seen within the
  /// poll_every() interval), or invalidate() was called. Caches of store data (e.g.
  /// auth::CredentialCache) drop their entries when it moves. Thread: any.
  std::uint64_t generation() const;
  /// From now on the worker asks the store every `interval` whether another process changed
  /// it (Store::data_version; a change bumps generation()); 0 stops it. Call it once the
  /// synchronous use of sync() is over (the worker then uses the store on its own).
  void poll_every(std::chrono::milliseconds interval);
  /// Bumps generation(): call after changing subscriber data through this process's own
  /// connection. Thread: any.
  void invalidate();

  /// Answers to queries asked from the calling thread are handed to `*post` (which must
  /// outlive every query asked) instead of the constructor's `post`: each shard's thread names
  /// its own io_context once, so a shard gets its answers back on its own thread. null
  /// restores the constructor's. Affects every AsyncStore. Thread: the thread it applies to.
  static void answer_on_this_thread(const Post* post);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sipws::store

template <>
struct std::is_error_code_enum<sipws::store::StoreErrc> : std::true_type {};
