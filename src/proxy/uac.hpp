#pragma once
// The user agent client of the requests sipws originates itself (RFC 3261 s.8.1): the BYEs of
// a media timeout, the OPTIONS probes of PSTN gateways.

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/instruments.hpp"
#include "common/net.hpp"
#include "proxy/network_view.hpp"
#include "sip/message.hpp"
#include "sip/txn/transaction_layer.hpp"

namespace sipws::proxy {

/// A request sipws originates (RFC 3261 s.8.1.1), without Via: the Uac adds it.
struct OwnRequest {
  std::string method;  ///< "BYE", "OPTIONS"
  std::string uri;     ///< the Request-URI
  std::string from;    ///< From value, with its tag
  std::string to;      ///< To value (with the tag for an in-dialog request)
  std::string call_id;
  std::uint32_t cseq = 1;  ///< CSeq number (the method is `method`)
  /// Further headers, in order (Route, Reason...); values without CRLF.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type;  ///< of `body`; ignored when `body` is empty
  std::string body;          ///< e.g. the application/dtmf-relay text of an INFO
};

/// Sends the requests sipws originates as client transactions of the transaction layer, so
/// that they are retransmitted (Timer A/E), time out (Timer B/F) and fail on transport errors
/// like any forwarded request, and takes their responses (the transaction user passes them
/// here first, see on_response). Each request gets a Via naming the listen point of its
/// destination's transport (the one of the destination's address family first) with a fresh
/// branch of `shard` (make_own_branch), Max-Forwards 70 and the Content-Length of its body.
/// Counters: uac_requests_sent, uac_requests_unsendable (cannot be built, or no listen point
/// for the transport), uac_responses_2xx, uac_responses_failure (3xx-6xx), uac_timeouts
/// (Timer B/F), uac_transport_errors. Every final outcome is logged (debug for 2xx, info
/// otherwise). Counters go to `inst.counters`, branches come from `inst.tokens` (defaults: the
/// process-wide registry, per-thread generators). Thread: core io thread.
class Uac {
 public:
  /// The final status of a request; 0 = no response (Timer B/F, transport error).
  using Done = std::function<void(int status)>;
  /// The final response of a request (challenges, Min-Expires, the Contact list...); nullptr
  /// with no response (Timer B/F, transport error).
  using DoneWithResponse = std::function<void(const sip::Message* response)>;

  /// `net` must outlive the Uac.
  Uac(const NetworkView& net, unsigned shard = 0, Instruments inst = {});
  Uac(const Uac&) = delete;
  Uac& operator=(const Uac&) = delete;

  /// The transaction layer the requests go through (before the first send).
  void attach(sip::txn::TransactionLayer& txns) { txns_ = &txns; }

  /// Builds `req` with its Via and starts a client transaction to `dest`; `done` (optional)
  /// gets the final status later, never from inside send(). Returns the client transaction,
  /// or 0 (counted, logged; `done` is not called) when the request cannot be built or sipws
  /// has no listen point for `dest`'s transport.
  sip::txn::ClientTxnId send(const OwnRequest& req, const Destination& dest, Done done = {});
  /// send() for a caller that reads the final response (a registration client).
  sip::txn::ClientTxnId send(const OwnRequest& req, const Destination& dest, DoneWithResponse done);

  /// The listen point a request to `dest` leaves from (its Via): the first of `dest`'s
  /// transport and address family, else of its transport; nullptr if none. A caller writes
  /// sipws's own address in a Contact from it (make_self_uri).
  const ListenPoint* listen_point_for(const Destination& dest) const;

  /// A response to client transaction `id`: returns false if `id` is not one of ours (the
  /// caller passes it on to the proxy core). Provisional responses are absorbed.
  bool on_response(sip::txn::ClientTxnId id, const sip::Message& response);
  /// Timer B/F or a transport error on `id`: false if `id` is not one of ours.
  bool on_client_failure(sip::txn::ClientTxnId id, bool transport_error);

  /// Requests sent and not yet ended.
  std::size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    std::string what;  ///< "BYE sip:..." for the log
    DoneWithResponse done;
  };
  /// Ends `id` with `response` (nullptr = none; `status` 0): logs and calls its `done`.
  void finish(std::unordered_map<sip::txn::ClientTxnId, Pending>::iterator it, int status,
              std::string_view why, const sip::Message* response);

  const NetworkView& net_;
  unsigned shard_;
  TokenSource& tokens_;
  Counter& sent_;        ///< uac_requests_sent
  Counter& unsendable_;  ///< uac_requests_unsendable
  Counter& ok_;          ///< uac_responses_2xx
  Counter& failed_;      ///< uac_responses_failure
  Counter& timeouts_;    ///< uac_timeouts
  Counter& transport_;   ///< uac_transport_errors
  sip::txn::TransactionLayer* txns_ = nullptr;
  std::unordered_map<sip::txn::ClientTxnId, Pending> pending_;
};

}  // namespace sipws::proxy
