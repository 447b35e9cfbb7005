#pragma once
// The SIP trace (issue 15): the last N messages sipws received and sent, kept in memory per
// shard so that an operator can see what happened to one call (GET /api/v1/trace?call_id=,
// the web admin's ladder view), like sngrep shows it on a terminal. Credentials are masked.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "transport/pcap_writer.hpp"

namespace sipws::transport {

/// One traced message.
struct TraceEntry {
  std::uint64_t seq = 0;     ///< order over every ring of the process
  std::int64_t time_ms = 0;  ///< Unix time, ms
  bool out = false;          ///< sent by sipws (else received)
  Protocol protocol = Protocol::Udp;
  Endpoint local;  ///< sipws's address (unspecified when the sender did not name one)
  Endpoint peer;
  std::string call_id;
  std::string text;  ///< the message, Authorization / Proxy-Authorization `response` masked
};

/// The Call-ID of SIP message text `msg` (the `Call-ID` or compact `i` header of its header
/// section), "" if it has none.
std::string_view find_call_id(std::string_view msg);

/// `msg` with the digest `response` parameter of every Authorization and Proxy-Authorization
/// header replaced by "***", and any other scheme's credentials wholly (RFC 7616 s.3.4: the
/// response proves the password; with it an eavesdropper can try passwords offline).
std::string mask_credentials(std::string_view msg);

/// A bounded ring of traced messages; the oldest is dropped for a new one. Thread: record()
/// from one thread (the shard's); find() from any (a mutex guards the ring).
class TraceRing {
 public:
  /// Keeps at most `capacity` messages (0: none). With `pcap` (config trace_pcap; it outlives
  /// the ring), each message recorded is also queued for that file, masked as in the ring,
  /// whatever `capacity`.
  explicit TraceRing(std::size_t capacity, PcapWriter* pcap = nullptr);

  /// Records message `bytes` received (`out` false) or sent over `protocol` between `local`
  /// and `peer`. `call_id`: its Call-ID when the caller parsed it already (a received
  /// message), else "" and the ring finds it in `bytes`. Text that is not a SIP message
  /// (keep-alive CRLFs) is not recorded.
  void record(bool out, Protocol protocol, const Endpoint& local, const Endpoint& peer,
              std::string_view bytes, std::string_view call_id = {});
  /// The messages of Call-ID `call_id` still in the ring, oldest first.
  std::vector<TraceEntry> find(std::string_view call_id) const;
  std::size_t capacity() const { return capacity_; }
  /// Whether record() keeps anything (a ring, or a pcap file).
  bool active() const { return capacity_ > 0 || pcap_ != nullptr; }

 private:
  std::size_t capacity_;
  PcapWriter* pcap_;
  mutable std::mutex mu_;
  std::vector<TraceEntry> ring_;
  std::size_t next_ = 0;  ///< where the next entry goes once the ring is full
};

}  // namespace sipws::transport
