#pragma once
// RFC 3261 s.17 transaction layer with RFC 6026 (Accepted states), I/O-free: it sends through a
// Sender, schedules through a TimerService and reports to a TransactionUser (the proxy core).

#include <cstdint>
#include <memory>
#include <string>

#include "common/instruments.hpp"
#include "common/net.hpp"
#include "common/timer.hpp"
#include "sip/message.hpp"

namespace sipws::sip::txn {

/// Outgoing bytes. Implemented by the transport layer. Thread: the layer's.
class Sender {
 public:
  virtual ~Sender() = default;
  /// Queues `bytes` for `dest`. Returns false on immediate failure (no route, flow gone, socket
  /// error); the layer then fails the transaction at once (RFC 3261 s.17.1.4 transport error).
  virtual bool send(const Destination& dest, std::shared_ptr<const std::string> bytes) = 0;
};

using ServerTxnId = std::uint64_t;  ///< never 0
using ClientTxnId = std::uint64_t;  ///< never 0

/// The transaction user: the proxy core. Callbacks run on the layer's thread, never re-entrantly
/// from inside send_request()/respond().
class TransactionUser {
 public:
  virtual ~TransactionUser() = default;
  /// A new request created server transaction `id` (never ACK). For INVITE the layer has
  /// already sent 100 Trying (RFC 3261 s.17.2.1) unless configured not to.
  virtual void on_request(ServerTxnId id, const Message& request, const Source& src) = 0;
  /// An ACK the layer does not absorb: ACK for a 2xx (matching an INVITE server transaction in
  /// Accepted state, RFC 6026, or none at all). The proxy forwards it statelessly (s.16.11).
  virtual void on_ack(const Message& ack, const Source& src) = 0;
  /// A CANCEL matched INVITE server transaction `invite_id` (s.9.2); the layer already answered
  /// the CANCEL with 200. The TU cancels its branches and answers the INVITE with 487.
  /// A CANCEL matching nothing is answered 481 by the layer and not reported; neither is one
  /// arriving after the INVITE got its final response (answered 200, nothing left to cancel).
  virtual void on_cancel(ServerTxnId invite_id, const Message& cancel) = 0;
  /// A response for client transaction `id`: every provisional, the first final, and for
  /// INVITE every 2xx retransmission while Accepted (RFC 6026 s.7.2). Non-2xx final
  /// retransmissions are absorbed (and ACKed by the layer for INVITE).
  virtual void on_response(ClientTxnId id, const Message& response) = 0;
  /// Client transaction `id` will get no final response: Timer B/F fired (`transport_error`
  /// false) or the transport failed (true). The TU acts as if 408 / 503 were received.
  virtual void on_client_failure(ClientTxnId id, bool transport_error) = 0;
  /// A response matching no client transaction (s.17.1.3); the proxy forwards it statelessly
  /// if it is a 2xx to an INVITE (s.16.7 step 10 note), drops the rest.
  virtual void on_stray_response(const Message& response, const Source& src) = 0;
  /// Server transaction `id` is gone (Terminated); its id is no longer valid. A non-INVITE
  /// transaction is reported right after its final response (from a 0 ms timer) also on UDP:
  /// until Timer J the layer alone answers retransmissions with that response.
  virtual void on_server_terminated(ServerTxnId /*id*/) {}
};

/// Timer values (RFC 3261 s.17.1.1.1, Table 4).
struct TimerConfig {
  Millis t1{500};
  Millis t2{4000};
  Millis t4{5000};
};

/// Where a response to `request` goes (RFC 3261 s.18.2.2, RFC 3581): back over the flow it
/// came in on for connection-oriented transports; for UDP to the source IP and the rport (if
/// the Via has `rport`) or the Via sent-by port (default 5060).
Destination response_destination(const Message& request, const Source& src);

class TransactionLayerImpl;

/// Matches incoming messages to transactions (s.17.1.3, s.17.2.3, with the RFC 2543 fallback
/// for branches without the magic cookie), runs their state machines and timers A-K, L, M.
/// Thread: single; every call and callback on the thread that runs `timers`.
/// Counters: sip_txn_retransmissions_absorbed, sip_txn_retransmissions_sent, sip_txn_timeouts
/// (B, F, H), sip_txn_cancel_200, sip_txn_cancel_481, sip_txn_send_failures,
/// sip_txn_stray_responses, sip_txn_acks_to_tu, sip_txn_acks_absorbed, sip_txn_respond_ignored,
/// sip_txn_duplicate_branch, sip_txn_server_created, sip_txn_client_created, in
/// `inst.counters`; the To tag of a CANCEL's 200 comes from `inst.tokens`.
class TransactionLayer {
 public:
  TransactionLayer(TimerService& timers, Sender& sender, TransactionUser& tu, TimerConfig cfg = {},
                   Instruments inst = {});
  ~TransactionLayer();
  TransactionLayer(const TransactionLayer&) = delete;
  TransactionLayer& operator=(const TransactionLayer&) = delete;

  /// Feeds one parsed message from the transport: request retransmissions are absorbed (the
  /// last response is resent), new requests reach the TU, responses reach their client txn.
  void receive(const Message& msg, const Source& src);

  /// Sends `response` through server transaction `id` (serialized once, kept for
  /// retransmission on UDP). No-op for an unknown id. A final response moves the txn on
  /// (Completed, or Accepted for an INVITE 2xx).
  void respond(ServerTxnId id, const Message& response);

  /// Starts a client transaction sending `request` to `dest`; its top Via branch must be new.
  /// A send failure is reported later through on_client_failure (never re-entrantly).
  /// An ACK has no client transaction: it is sent once and nothing is ever reported for its id.
  /// A branch + method already in use fails the new transaction (on_client_failure, true).
  ClientTxnId send_request(const Message& request, const Destination& dest);

  /// A connection to `protocol`/`endpoint` could not be opened (reported later by the
  /// transport, e.g. a WebSocket client connection refused or its handshake failed): every
  /// client transaction sending there without a flow and still without a response fails with
  /// a transport error (RFC 3261 s.17.1.4; reported through on_client_failure, never
  /// re-entrantly), so the TU can fail over at once instead of waiting for Timer B/F.
  void transport_failed(Protocol protocol, const Endpoint& endpoint);

  /// The request that created server transaction `id`; nullptr if it is gone, is a non-INVITE
  /// that sent its final response (only the response bytes are kept for retransmissions then)
  /// or an INVITE that sent a 2xx (Accepted keeps neither).
  const Message* server_request(ServerTxnId id) const;
  /// The Source of that request, or nullptr.
  const Source* server_source(ServerTxnId id) const;
  /// The request of client transaction `id`; nullptr if it is gone or got its final response
  /// (valid during the on_response call of that final, freed after it).
  const Message* client_request(ClientTxnId id) const;
  /// The destination client transaction `id` sends to, or nullptr.
  const Destination* client_destination(ClientTxnId id) const;

  std::size_t server_count() const;
  std::size_t client_count() const;
  /// Transactions still without a final response: server transactions in Trying/Proceeding
  /// (the TU owes an answer) and client transactions in Calling/Trying/Proceeding (a final
  /// response is awaited). What a graceful shutdown waits for (`shutdown_grace`); O(number of
  /// transactions), not for the per-message path.
  std::size_t pending_count() const;

 private:
  std::unique_ptr<TransactionLayerImpl> impl_;
};

}  // namespace sipws::sip::txn
