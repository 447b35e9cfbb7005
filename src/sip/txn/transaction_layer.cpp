#include "sip/txn/transaction_layer.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "common/instruments.hpp"
#include "sip/txn/keys.hpp"

// Notes on the implementation:
// - Transactions live in id -> unique_ptr maps, so a transaction's address stays valid while the
//   TU, called back, starts or answers other transactions. Keys map to ids.
// - Only timer callbacks erase transactions. Every "0 s" timer of a reliable transport
//   (D, I, J, K) and every failure report is a 0 ms timer, so nothing is erased and no TU
//   callback runs inside respond() / send_request().
// - A completed non-INVITE server transaction of UDP moves its key, destination and response
//   bytes to `lingering_` for Timer J and ends as a full transaction at once (see Lingering).
// - Each transaction has two timer slots: `retransmit` (A, E, G) and `deadline` (B, D, F, H, I,
//   J, K, L, M, and the deferred failure report). Every pending timer sits in one of them, so
//   the destructor can cancel them all.

namespace sipws::sip::txn {

namespace {

constexpr Millis kTimerD{32000};  // RFC 3261 s.17.1.1.2: "at least 32 seconds" on UDP
constexpr Millis kNow{0};

/// The layer's counters (names as exported on /metrics), looked up once in the injected
/// registry.
struct Stats {
  explicit Stats(Counters& c)
      : absorbed(c.get("sip_txn_retransmissions_absorbed")),
        retransmitted(c.get("sip_txn_retransmissions_sent")),
        timeouts(c.get("sip_txn_timeouts")),
        cancel_200(c.get("sip_txn_cancel_200")),
        cancel_481(c.get("sip_txn_cancel_481")),
        send_failures(c.get("sip_txn_send_failures")),
        stray_responses(c.get("sip_txn_stray_responses")),
        stray_acks(c.get("sip_txn_acks_to_tu")),
        acks_absorbed(c.get("sip_txn_acks_absorbed")),
        respond_ignored(c.get("sip_txn_respond_ignored")),
        duplicate_branch(c.get("sip_txn_duplicate_branch")),
        server_created(c.get("sip_txn_server_created")),
        client_created(c.get("sip_txn_client_created")) {}
  Counter& absorbed;
  Counter& retransmitted;
  Counter& timeouts;
  Counter& cancel_200;
  Counter& cancel_481;
  Counter& send_failures;
  Counter& stray_responses;
  Counter& stray_acks;
  Counter& acks_absorbed;
  Counter& respond_ignored;
  Counter& duplicate_branch;
  Counter& server_created;
  Counter& client_created;
};

enum class ClientState : std::uint8_t {
  Calling,
  Trying,
  Proceeding,
  Accepted,
  Completed,
  Terminated
};
enum class ServerState : std::uint8_t {
  Trying,
  Proceeding,
  Completed,
  Confirmed,
  Accepted,
  Terminated
};

struct ClientTxn {
  ClientTxnId id = 0;
  bool invite = false;
  bool reliable = false;
  bool keyed = false;  ///< `key` is registered (false after a duplicate branch)
  bool failure_transport = false;
  ClientState state = ClientState::Trying;
  /// The request and its bytes: for retransmissions and the ACK of a non-2xx final. Freed
  /// once neither can be needed (INVITE Accepted, non-INVITE Completed), while the
  /// transaction still absorbs responses for 32 s (Timer M) or T4 (Timer K).
  std::unique_ptr<Message> request;
  Destination dest;
  std::string key;
  std::shared_ptr<const std::string> request_bytes;
  std::shared_ptr<const std::string> ack_bytes;  ///< INVITE, Completed: the ACK we resend
  Millis interval{0};                            ///< current A / E interval
  TimerService::TimerId retransmit = 0;
  TimerService::TimerId deadline = 0;
};

struct ServerTxn {
  ServerTxnId id = 0;
  bool invite = false;
  bool reliable = false;
  bool internal = false;  ///< created by the layer for a CANCEL; the TU never saw its id
  ServerState state = ServerState::Trying;
  /// The request and the last response, parsed; on the heap (a Message is large) so that a
  /// completed non-INVITE transaction, which keeps neither, is small while Timer J runs.
  std::unique_ptr<Message> request;
  Source source;
  Destination dest;
  std::string key;
  /// The To tag of the last response sent: an RFC 2543 ACK is matched by it (s.17.2.3), a
  /// CANCEL's 200 carries it (s.9.2).
  std::string last_to_tag;
  std::shared_ptr<const std::string> last_bytes;
  Millis interval{0};  ///< current G interval
  TimerService::TimerId retransmit = 0;
  TimerService::TimerId deadline = 0;
};

}  // namespace

Destination response_destination(const Message& request, const Source& src) {
  Destination d;
  d.protocol = src.protocol;
  if (is_reliable(src.protocol)) {
    d.endpoint = src.peer;
    d.flow = src.flow;
    return d;
  }
  d.endpoint.address = src.peer.address;
  d.local = src.local;  // from the address and port the request came to
  const Via& via = request.top_via();
  if (via.param("rport") != nullptr) {
    d.endpoint.port = src.peer.port;  // RFC 3581 s.4
  } else {
    d.endpoint.port = via.port != 0 ? via.port : 5060;  // RFC 3261 s.18.2.2
  }
  return d;
}

class TransactionLayerImpl {
 public:
  TransactionLayerImpl(TimerService& timers, Sender& sender, TransactionUser& tu, TimerConfig cfg,
                       Instruments inst)
      : timers_(timers),
        sender_(sender),
        tu_(tu),
        cfg_(cfg),
        stats_(inst.counters),
        tokens_(inst.tokens) {}

  ~TransactionLayerImpl() {
    for (auto& [id, t] : clients_) cancel_timers(*t);
    for (auto& [id, t] : servers_) cancel_timers(*t);
    timers_.cancel(lingering_timer_);
  }

  void receive(const Message& msg, const Source& src) {
    if (msg.is_response()) {
      receive_response(msg, src);
    } else if (msg.method() == Method::Ack) {
      receive_ack(msg, src);
    } else if (msg.method() == Method::Cancel) {
      receive_cancel(msg, src);
    } else {
      receive_request(msg, src);
    }
  }

  void respond(ServerTxnId id, const Message& rsp) {
    ServerTxn* t = find_server(id);
    if (t == nullptr) {
      stats_.respond_ignored.inc();
      return;
    }
    const int status = rsp.status();
    if (t->invite) {
      respond_invite(*t, rsp, status);
    } else {
      respond_non_invite(*t, rsp, status);
    }
  }

  ClientTxnId send_request(const Message& request, const Destination& dest) {
    const ClientTxnId id = ++next_client_id_;
    auto bytes = request.serialize_shared();
    if (request.method() == Method::Ack) {
      // ACK has no client transaction (s.17.1.1.3 / s.13.2.2.4): sent once, nothing reported.
      if (!sender_.send(dest, std::move(bytes))) stats_.send_failures.inc();
      return id;
    }
    auto owned = std::make_unique<ClientTxn>();
    ClientTxn& t = *owned;
    t.id = id;
    t.invite = request.method() == Method::Invite;
    t.reliable = is_reliable(dest.protocol);
    t.state = t.invite ? ClientState::Calling : ClientState::Trying;
    t.request = std::make_unique<Message>(request);
    t.dest = dest;
    t.key = client_key(request);
    t.request_bytes = std::move(bytes);
    clients_.emplace(id, std::move(owned));
    stats_.client_created.inc();

    if (!client_keys_.emplace(t.key, id).second) {
      stats_.duplicate_branch.inc();  // a TU bug; fail the new transaction, keep the old one
      fail_client(t, true);
      return id;
    }
    t.keyed = true;
    if (!sender_.send(t.dest, t.request_bytes)) {
      stats_.send_failures.inc();
      fail_client(t, true);
      return id;
    }
    if (!t.reliable) {
      t.interval = cfg_.t1;
      t.retransmit = arm_client(id, t.interval, &TransactionLayerImpl::on_client_retransmit);
    }
    t.deadline = arm_client(id, 64 * cfg_.t1, &TransactionLayerImpl::on_client_deadline);  // B, F
    return id;
  }

  void transport_failed(Protocol protocol, const Endpoint& endpoint) {
    for (auto& [id, t] : clients_) {
      const bool waiting = t->state == ClientState::Calling || t->state == ClientState::Trying;
      if (!waiting || t->dest.flow != kNoFlow || t->dest.protocol != protocol ||
          t->dest.endpoint != endpoint) {
        continue;
      }
      stats_.send_failures.inc();
      fail_client(*t, true);
    }
  }

  const Message* server_request(ServerTxnId id) const {
    auto it = servers_.find(id);
    return it == servers_.end() ? nullptr : it->second->request.get();
  }
  const Source* server_source(ServerTxnId id) const {
    auto it = servers_.find(id);
    return it == servers_.end() ? nullptr : &it->second->source;
  }
  const Message* client_request(ClientTxnId id) const {
    auto it = clients_.find(id);
    return it == clients_.end() ? nullptr : it->second->request.get();
  }
  const Destination* client_destination(ClientTxnId id) const {
    auto it = clients_.find(id);
    return it == clients_.end() ? nullptr : &it->second->dest;
  }
  /// Live server transactions, lingering ones included (each counted once).
  std::size_t server_count() const {
    return servers_.size() + lingering_.size() - lingered_not_erased_;
  }
  std::size_t client_count() const { return clients_.size(); }
  std::size_t pending_count() const {
    std::size_t n = 0;
    for (const auto& [id, t] : servers_) {
      n += t->state == ServerState::Trying || t->state == ServerState::Proceeding ? 1 : 0;
    }
    for (const auto& [id, t] : clients_) {
      n += t->state == ClientState::Calling || t->state == ClientState::Trying ||
                   t->state == ClientState::Proceeding
               ? 1
               : 0;
    }
    return n;
  }

 private:
  using ClientHandler = void (TransactionLayerImpl::*)(ClientTxnId);
  using ServerHandler = void (TransactionLayerImpl::*)(ServerTxnId);

  // ---------------------------------------------------------------- helpers

  TimerService::TimerId arm_client(ClientTxnId id, Millis delay, ClientHandler fn) {
    return timers_.schedule(delay, [this, id, fn]() { (this->*fn)(id); });
  }
  TimerService::TimerId arm_server(ServerTxnId id, Millis delay, ServerHandler fn) {
    return timers_.schedule(delay, [this, id, fn]() { (this->*fn)(id); });
  }
  template <class Txn>
  void cancel_timers(Txn& t) {
    timers_.cancel(t.retransmit);
    timers_.cancel(t.deadline);
    t.retransmit = 0;
    t.deadline = 0;
  }
  ClientTxn* find_client(ClientTxnId id) {
    auto it = clients_.find(id);
    return it == clients_.end() ? nullptr : it->second.get();
  }
  ServerTxn* find_server(ServerTxnId id) {
    auto it = servers_.find(id);
    return it == servers_.end() ? nullptr : it->second.get();
  }
  ServerTxn* find_server_by_key(const std::string& key) {
    auto it = server_keys_.find(key);
    return it == server_keys_.end() ? nullptr : find_server(it->second);
  }
  bool send(const Destination& dest, const std::shared_ptr<const std::string>& bytes) {
    if (sender_.send(dest, bytes)) return true;
    stats_.send_failures.inc();
    return false;
  }

  // ---------------------------------------------------------------- client side (s.17.1)

  /// Frees the request of a client transaction that will send nothing more.
  static void release_request(ClientTxn& t) {
    t.request.reset();
    t.request_bytes.reset();
  }

  /// Moves `t` to Terminated and reports the failure from a 0 ms timer (never re-entrantly).
  void fail_client(ClientTxn& t, bool transport_error) {
    cancel_timers(t);
    t.state = ClientState::Terminated;
    t.failure_transport = transport_error;
    t.deadline = arm_client(t.id, kNow, &TransactionLayerImpl::on_client_deadline);
  }

  void erase_client(ClientTxnId id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;
    ClientTxn& t = *it->second;
    cancel_timers(t);
    if (t.keyed) client_keys_.erase(t.key);
    clients_.erase(it);
  }

  /// Timer A (INVITE, Calling) or E (non-INVITE, Trying / Proceeding).
  void on_client_retransmit(ClientTxnId id) {
    ClientTxn* t = find_client(id);
    if (t == nullptr) return;
    t->retransmit = 0;
    const bool active =
        t->invite ? t->state == ClientState::Calling
                  : (t->state == ClientState::Trying || t->state == ClientState::Proceeding);
    if (!active) return;
    stats_.retransmitted.inc();
    if (!send(t->dest, t->request_bytes)) {
      fail_client(*t, true);
      return;
    }
    if (t->invite) {
      t->interval *= 2;  // s.17.1.1.2: no cap for Timer A
    } else if (t->state == ClientState::Proceeding) {
      t->interval = cfg_.t2;  // s.17.1.2.2
    } else {
      t->interval = std::min(t->interval * 2, cfg_.t2);
    }
    t->retransmit = arm_client(id, t->interval, &TransactionLayerImpl::on_client_retransmit);
  }

  /// Timer B / F (no final response), D / K / M (end of Completed / Accepted), or the deferred
  /// failure report of a Terminated transaction.
  void on_client_deadline(ClientTxnId id) {
    ClientTxn* t = find_client(id);
    if (t == nullptr) return;
    t->deadline = 0;
    switch (t->state) {
      case ClientState::Calling:
      case ClientState::Trying:
      case ClientState::Proceeding:
        stats_.timeouts.inc();
        cancel_timers(*t);
        t->state = ClientState::Terminated;
        tu_.on_client_failure(id, false);
        break;
      case ClientState::Terminated:
        tu_.on_client_failure(id, t->failure_transport);
        break;
      case ClientState::Completed:
      case ClientState::Accepted:
        break;
    }
    erase_client(id);
  }

  void receive_response(const Message& rsp, const Source& src) {
    auto kit = client_keys_.find(client_key(rsp));
    ClientTxn* t = kit == client_keys_.end() ? nullptr : find_client(kit->second);
    if (t == nullptr) {
      stats_.stray_responses.inc();
      tu_.on_stray_response(rsp, src);
      return;
    }
    if (t->invite) {
      receive_invite_response(*t, rsp);
    } else {
      receive_non_invite_response(*t, rsp);
    }
  }

  void receive_invite_response(ClientTxn& t, const Message& rsp) {
    const int status = rsp.status();
    switch (t.state) {
      case ClientState::Calling:
      case ClientState::Proceeding:
        if (status < 200) {
          // s.17.1.1.2: Proceeding stops A; B only runs in Calling (the TU runs Timer C).
          cancel_timers(t);
          t.state = ClientState::Proceeding;
        } else if (status < 300) {
          cancel_timers(t);
          t.state = ClientState::Accepted;  // RFC 6026 s.8.4
          t.deadline = arm_client(t.id, 64 * cfg_.t1, &TransactionLayerImpl::on_client_deadline);
        } else {
          cancel_timers(t);
          t.state = ClientState::Completed;
          t.ack_bytes = make_ack(*t.request, rsp).serialize_shared();
          send(t.dest, t.ack_bytes);  // a lost ACK is recovered by the final's retransmission
          t.deadline = arm_client(t.id, t.reliable ? kNow : kTimerD,
                                  &TransactionLayerImpl::on_client_deadline);
        }
        tu_.on_response(t.id, rsp);
        if (status >= 200) release_request(t);  // the TU may look at it during the call
        return;
      case ClientState::Accepted:
        if (status >= 200 && status < 300) {
          tu_.on_response(t.id, rsp);  // RFC 6026 s.8.4: every 2xx goes to the TU
        } else {
          stats_.absorbed.inc();
        }
        return;
      case ClientState::Completed:
        stats_.absorbed.inc();
        if (status >= 300 && t.ack_bytes) {
          send(t.dest, t.ack_bytes);  // s.17.1.1.2: re-ACK every retransmitted final
        }
        return;
      case ClientState::Trying:
      case ClientState::Terminated:
        stats_.absorbed.inc();
        return;
    }
  }

  void receive_non_invite_response(ClientTxn& t, const Message& rsp) {
    const int status = rsp.status();
    if (t.state != ClientState::Trying && t.state != ClientState::Proceeding) {
      stats_.absorbed.inc();
      return;
    }
    if (status < 200) {
      t.state = ClientState::Proceeding;  // Timer E keeps running, at T2 from its next firing
    } else {
      cancel_timers(t);
      t.state = ClientState::Completed;
      t.deadline = arm_client(t.id, t.reliable ? kNow : cfg_.t4,  // Timer K
                              &TransactionLayerImpl::on_client_deadline);
    }
    tu_.on_response(t.id, rsp);
    if (status >= 200) release_request(t);  // the TU may look at it during the call
  }

  // ---------------------------------------------------------------- server side (s.17.2)

  ServerTxn& create_server(const Message& req, const Source& src, std::string key, bool internal) {
    const ServerTxnId id = ++next_server_id_;
    auto owned = std::make_unique<ServerTxn>();
    ServerTxn& t = *owned;
    t.id = id;
    t.invite = req.method() == Method::Invite;
    t.reliable = is_reliable(src.protocol);
    t.internal = internal;
    t.state = t.invite ? ServerState::Proceeding : ServerState::Trying;
    t.request = std::make_unique<Message>(req);
    t.source = src;
    t.dest = response_destination(req, src);
    t.key = std::move(key);
    server_keys_.emplace(t.key, id);
    servers_.emplace(id, std::move(owned));
    stats_.server_created.inc();
    return t;
  }

  /// Serializes `rsp` once, keeps it as the response to resend, and sends it.
  void send_response(ServerTxn& t, const Message& rsp) {
    t.last_bytes = rsp.serialize_shared();
    t.last_to_tag = std::string(rsp.to().tag());
    send(t.dest, t.last_bytes);
  }

  /// A request retransmission (s.17.2.1, s.17.2.2): resend the last response, if any, unless
  /// the INVITE was answered with a 2xx (RFC 6026 s.7.1) or ACKed.
  void absorb_retransmission(ServerTxn& t) {
    stats_.absorbed.inc();
    // INVITE: Accepted and Confirmed absorb silently; non-INVITE: Trying has nothing to send.
    const bool resend = t.state == ServerState::Proceeding || t.state == ServerState::Completed;
    if (resend && t.last_bytes) send(t.dest, t.last_bytes);
  }

  void receive_request(const Message& req, const Source& src) {
    std::string key = server_key(req, request_method(req));
    if (ServerTxn* t = find_server_by_key(key)) {
      absorb_retransmission(*t);
      return;
    }
    if (absorb_lingering(key)) return;
    ServerTxn& t = create_server(req, src, std::move(key), false);
    if (t.invite) send_response(t, make_response(req, 100));  // s.17.2.1, no To tag
    tu_.on_request(t.id, req, src);
  }

  /// Finds the INVITE server transaction an ACK belongs to (s.17.2.3). With an RFC 2543 ACK the
  /// To tag is the one of our response, not of the INVITE: try the ACK's (re-INVITE), then none
  /// (initial INVITE) and check it against the final response we sent.
  ServerTxn* match_ack(const Message& ack) {
    ServerTxn* t = find_server_by_key(server_key(ack, "INVITE"));
    if (t != nullptr || ack.top_via().rfc3261_branch()) return t;
    t = find_server_by_key(server_key(ack, "INVITE", {}));
    if (t == nullptr || t->last_to_tag.empty()) return nullptr;  // no tagged response yet
    return t->last_to_tag == ack.to().tag() ? t : nullptr;
  }

  void receive_ack(const Message& ack, const Source& src) {
    ServerTxn* t = match_ack(ack);
    if (t != nullptr && t->invite) {
      switch (t->state) {
        case ServerState::Completed:  // s.17.2.1: ACK for our non-2xx final
          stats_.acks_absorbed.inc();
          cancel_timers(*t);
          t->state = ServerState::Confirmed;
          t->deadline = arm_server(t->id, t->reliable ? kNow : cfg_.t4,  // Timer I
                                   &TransactionLayerImpl::on_server_deadline);
          return;
        case ServerState::Confirmed:
        case ServerState::Proceeding:  // no final sent yet: nothing to acknowledge
        case ServerState::Trying:
        case ServerState::Terminated:
          stats_.acks_absorbed.inc();
          return;
        case ServerState::Accepted:
          break;  // ACK for a 2xx: end-to-end, the TU's (RFC 6026 s.7.1)
      }
    }
    stats_.stray_acks.inc();
    tu_.on_ack(ack, src);
  }

  void receive_cancel(const Message& cancel, const Source& src) {
    std::string key = server_key(cancel, "CANCEL");
    if (ServerTxn* t = find_server_by_key(key)) {
      absorb_retransmission(*t);
      return;
    }
    if (absorb_lingering(key)) return;
    ServerTxn* invite = find_server_by_key(server_key(cancel, "INVITE"));
    if (invite != nullptr && !invite->invite) invite = nullptr;
    const ServerTxnId invite_id = invite != nullptr ? invite->id : 0;
    const bool report = invite != nullptr && invite->state == ServerState::Proceeding;
    std::string to_tag;
    if (invite != nullptr) to_tag = invite->last_to_tag;  // s.9.2: same To tag

    ServerTxn& t = create_server(cancel, src, std::move(key), true);
    Message rsp = make_response(cancel, invite != nullptr ? 200 : 481);  // s.9.2
    if (cancel.to().tag().empty()) rsp.set_to_tag(to_tag.empty() ? tokens_.token(10) : to_tag);
    if (invite != nullptr) {
      stats_.cancel_200.inc();
    } else {
      stats_.cancel_481.inc();
    }
    complete_non_invite(t, rsp);
    if (report) tu_.on_cancel(invite_id, cancel);
  }

  void respond_invite(ServerTxn& t, const Message& rsp, int status) {
    if (t.state == ServerState::Accepted && status >= 200 && status < 300) {
      send(t.dest, rsp.serialize_shared());  // RFC 6026 s.7.1: TU's 2xx retransmissions
      return;
    }
    if (t.state != ServerState::Proceeding) {
      stats_.respond_ignored.inc();
      return;
    }
    send_response(t, rsp);
    if (status < 200) return;
    cancel_timers(t);
    if (status < 300) {
      t.state = ServerState::Accepted;  // RFC 6026 s.7.1, Timer L
      // Accepted absorbs INVITE retransmissions silently and sends only the TU's 2xx: the
      // request and the response bytes are not needed for its 32 s.
      t.request.reset();
      t.last_bytes.reset();
      t.deadline = arm_server(t.id, 64 * cfg_.t1, &TransactionLayerImpl::on_server_deadline);
      return;
    }
    t.state = ServerState::Completed;
    if (!t.reliable) {
      t.interval = cfg_.t1;  // Timer G
      t.retransmit = arm_server(t.id, t.interval, &TransactionLayerImpl::on_server_retransmit);
    }
    t.deadline = arm_server(t.id, 64 * cfg_.t1, &TransactionLayerImpl::on_server_deadline);  // H
  }

  void respond_non_invite(ServerTxn& t, const Message& rsp, int status) {
    if (t.state != ServerState::Trying && t.state != ServerState::Proceeding) {
      stats_.respond_ignored.inc();
      return;
    }
    if (status < 200) {
      send_response(t, rsp);
      t.state = ServerState::Proceeding;
      return;
    }
    complete_non_invite(t, rsp);
  }

  /// Sends the final response of a non-INVITE server transaction and starts Timer J: 0 s on a
  /// reliable transport; on an unreliable one the transaction lingers (see Lingering) and the
  /// full transaction ends at once.
  void complete_non_invite(ServerTxn& t, const Message& rsp) {
    t.last_bytes = rsp.serialize_shared();
    send(t.dest, t.last_bytes);
    cancel_timers(t);
    t.state = ServerState::Completed;
    t.request.reset();
    if (!t.reliable) linger(t);
    t.deadline = arm_server(t.id, kNow, &TransactionLayerImpl::on_server_deadline);
  }

  /// Moves what a completed non-INVITE transaction needs until Timer J (its key, destination
  /// and response bytes) from `t` to lingering_.
  void linger(ServerTxn& t) {
    server_keys_.erase(t.key);
    const TimePoint until = timers_.now() + 64 * cfg_.t1;  // Timer J
    auto [it, fresh] =
        lingering_.try_emplace(std::move(t.key), Lingering{std::move(t.last_bytes), t.dest, until});
    t.key.clear();  // marks `t` as lingered until on_server_deadline erases it
    ++lingered_not_erased_;
    if (!fresh) return;  // unreachable: a key names one live transaction at a time
    lingering_order_.push_back(&it->first);
    if (lingering_timer_ == 0) arm_lingering(until);
  }

  /// A retransmitted request of a lingering transaction: resend its final response.
  bool absorb_lingering(const std::string& key) {
    auto it = lingering_.find(key);
    if (it == lingering_.end()) return false;
    stats_.absorbed.inc();
    send(it->second.dest, it->second.bytes);
    return true;
  }

  void arm_lingering(TimePoint until) {
    const auto delay =
        std::chrono::ceil<Millis>(std::max(until - timers_.now(), TimePoint::duration::zero()));
    lingering_timer_ = timers_.schedule(delay, [this] { on_lingering_timer(); });
  }

  /// Timer J of the lingering transactions that are due; re-armed for the next one.
  void on_lingering_timer() {
    lingering_timer_ = 0;
    const TimePoint now = timers_.now();
    while (!lingering_order_.empty()) {
      auto it = lingering_.find(*lingering_order_.front());
      if (it->second.until > now) {
        arm_lingering(it->second.until);
        return;
      }
      lingering_order_.pop_front();
      lingering_.erase(it);
    }
  }

  /// Timer G: retransmits the non-2xx final until the ACK (s.17.2.1), capped at T2.
  void on_server_retransmit(ServerTxnId id) {
    ServerTxn* t = find_server(id);
    if (t == nullptr) return;
    t->retransmit = 0;
    if (t->state != ServerState::Completed || !t->last_bytes) return;
    stats_.retransmitted.inc();
    send(t->dest, t->last_bytes);
    t->interval = std::min(t->interval * 2, cfg_.t2);
    t->retransmit = arm_server(id, t->interval, &TransactionLayerImpl::on_server_retransmit);
  }

  /// Timer H (no ACK: a timeout), I, J or L: the transaction terminates.
  void on_server_deadline(ServerTxnId id) {
    auto it = servers_.find(id);
    if (it == servers_.end()) return;
    ServerTxn& t = *it->second;
    t.deadline = 0;
    if (t.invite && t.state == ServerState::Completed) stats_.timeouts.inc();  // Timer H
    cancel_timers(t);
    const bool report = !t.internal;
    if (t.key.empty()) {
      --lingered_not_erased_;
    } else {
      server_keys_.erase(t.key);
    }
    servers_.erase(it);
    if (report) tu_.on_server_terminated(id);
  }

  TimerService& timers_;
  Sender& sender_;
  TransactionUser& tu_;
  TimerConfig cfg_;
  Stats stats_;
  TokenSource& tokens_;
  ServerTxnId next_server_id_ = 0;
  ClientTxnId next_client_id_ = 0;
  std::unordered_map<ServerTxnId, std::unique_ptr<ServerTxn>> servers_;
  std::unordered_map<ClientTxnId, std::unique_ptr<ClientTxn>> clients_;
  std::unordered_map<std::string, ServerTxnId> server_keys_;
  std::unordered_map<std::string, ClientTxnId> client_keys_;
  /// A completed non-INVITE server transaction of an unreliable transport while Timer J runs
  /// (RFC 3261 s.17.2.2). The TU is done with it (on_server_terminated is reported at the
  /// final response), and all it still does is answer a retransmitted request with the final
  /// response. Kept apart from servers_ so that it costs only its key, destination and bytes:
  /// a UDP REGISTER load holds 64*T1 = 32 s of them.
  struct Lingering {
    std::shared_ptr<const std::string> bytes;
    Destination dest;
    TimePoint until;  ///< Timer J
  };
  std::unordered_map<std::string, Lingering> lingering_;  ///< by server key
  /// The keys of lingering_ (node keys never move) in the order their Timer J ends: every
  /// lingering transaction waits the same 64*T1, so arrival order is deadline order.
  std::deque<const std::string*> lingering_order_;
  TimerService::TimerId lingering_timer_ = 0;  ///< armed for the front of lingering_order_
  /// Transactions of servers_ already lingered, until their 0 ms deadline erases them.
  std::size_t lingered_not_erased_ = 0;
};

// ------------------------------------------------------------------ TransactionLayer

TransactionLayer::TransactionLayer(TimerService& timers, Sender& sender, TransactionUser& tu,
                                   TimerConfig cfg, Instruments inst)
    : impl_(std::make_unique<TransactionLayerImpl>(timers, sender, tu, cfg, inst)) {}

TransactionLayer::~TransactionLayer() = default;

void TransactionLayer::receive(const Message& msg, const Source& src) { impl_->receive(msg, src); }

void TransactionLayer::respond(ServerTxnId id, const Message& response) {
  impl_->respond(id, response);
}

ClientTxnId TransactionLayer::send_request(const Message& request, const Destination& dest) {
  return impl_->send_request(request, dest);
}

void TransactionLayer::transport_failed(Protocol protocol, const Endpoint& endpoint) {
  impl_->transport_failed(protocol, endpoint);
}

const Message* TransactionLayer::server_request(ServerTxnId id) const {
  return impl_->server_request(id);
}
const Source* TransactionLayer::server_source(ServerTxnId id) const {
  return impl_->server_source(id);
}
const Message* TransactionLayer::client_request(ClientTxnId id) const {
  return impl_->client_request(id);
}
const Destination* TransactionLayer::client_destination(ClientTxnId id) const {
  return impl_->client_destination(id);
}
std::size_t TransactionLayer::server_count() const { return impl_->server_count(); }
std::size_t TransactionLayer::client_count() const { return impl_->client_count(); }
std::size_t TransactionLayer::pending_count() const { return impl_->pending_count(); }

}  // namespace sipws::sip::txn
