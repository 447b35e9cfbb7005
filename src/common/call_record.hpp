#pragma once
// One call attempt as sipws keeps it: the live view of a call in progress and, once it ended,
// its call record (CDR; Kamailio's acc module). Made by proxy::CallTracker, stored by the store
// (`cdrs` table), shown by the admin API. No I/O here.

#include <cstdint>
#include <string>
#include <vector>

namespace sipws {

/// Media counters of one leg of an anchored call: what the bridge received from that end.
struct LegCounts {
  std::uint64_t packets = 0;  ///< RTP + RTCP packets
  std::uint64_t bytes = 0;
};

/// A call attempt: one initial INVITE (RFC 3261 s.13) and, when answered, its dialog. Times
/// are Unix time in ms (wall clock); 0 = not (yet) reached.
struct CallRecord {
  std::int64_t id = 0;      ///< the store's row id (0 until stored; unused for live calls)
  std::string live_id;      ///< live calls: "<shard>-<n>", the admin API's handle to end it
  std::string state;        ///< live calls: "trying", "ringing" or "answered"; records: ""
  std::string call_id;      ///< the Call-ID (the inside one, under topology hiding)
  std::string from;         ///< From URI of the INVITE
  std::string to;           ///< To URI of the INVITE
  std::string request_uri;  ///< Request-URI as received
  std::string source;       ///< "udp:192.0.2.1:5060": transport and address it came from
  std::string user;         ///< the identity that authenticated it ("" if none)
  std::int64_t start_ms = 0;
  std::int64_t answer_ms = 0;
  std::int64_t end_ms = 0;
  int status = 0;      ///< final status sent to the caller (200 for an answered call)
  std::string reason;  ///< its reason phrase
  /// Who ended it: "caller", "callee" (BYE, or the caller's CANCEL), "admin" (the admin
  /// API), "media_timeout", "expired" (no request in the dialog for 12 h), "shutdown";
  /// "" for an attempt that ended with its final response.
  std::string hangup;
  std::string route;                   ///< the dial-plan route taken ("" if none)
  std::vector<std::string> gateways;   ///< gateways tried, in order (failovers listed)
  std::vector<std::string> forwarded;  ///< Request-URIs it was forwarded to, in order
  bool media_anchored = false;
  LegCounts caller_leg;  ///< meaningful when media_anchored
  LegCounts callee_leg;
};

/// The filters of a call-record query (admin API GET /api/v1/cdrs); empty / 0 = any.
struct CallRecordQuery {
  std::string call_id;        ///< exact
  std::string from;           ///< substring of the From URI
  std::string to;             ///< substring of the To URI
  int status = 0;             ///< exact final status
  std::int64_t since_ms = 0;  ///< start at or after
  std::int64_t until_ms = 0;  ///< start before
  std::size_t offset = 0;
  std::size_t limit = 100;
};

}  // namespace sipws
