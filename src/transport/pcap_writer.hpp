#pragma once
// The SIP trace as a pcap file (issue 15, "trace_pcap"): every message sipws receives and sends,
// credentials masked, in a file that Wireshark, tshark and sngrep open. Each message is one
// IPv4 or IPv6 + UDP datagram between the real addresses and ports, whatever transport carried
// it: TCP, TLS, WS and WSS messages appear decrypted and unframed, as SIP over UDP, so that the
// SIP dissector decodes every one (on a port other than 5060 through its heuristic, or for sure
// with `tshark -d udp.port==PORT,sip`).

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/counters.hpp"
#include "common/net.hpp"

namespace sipws::transport {

/// Bytes of the pcap global header that starts every file.
inline constexpr std::size_t kPcapFileHeaderSize = 24;
/// Bytes of the header before each pcap record's packet.
inline constexpr std::size_t kPcapRecordHeaderSize = 16;
/// Largest IP packet written (and the files' snaplen): a longer message is truncated.
inline constexpr std::size_t kPcapMaxPacket = 65535;

/// The pcap global header (libpcap 2.4, magic 0xa1b2c3d4 with microsecond timestamps, snaplen
/// kPcapMaxPacket, LINKTYPE_RAW = 101: each packet starts with its IPv4 or IPv6 header), in
/// little-endian byte order on every host; pcap readers take either order.
std::string pcap_file_header();

/// One pcap record (record header + IP header + UDP header + payload) for message `text`
/// sent (`out`) or received at `time_ms` (Unix time, ms; before 1970 counts as 0): local ->
/// peer if `out`, else peer -> local. IPv4-mapped addresses are written as IPv4. The packet is
/// of the peer's family; a `local` of another family (or default-constructed) is written as the
/// unspecified address of that family (0.0.0.0 or ::) with local's port. IPv4: header checksum
/// set, UDP checksum 0 ("none", RFC 768); IPv6: UDP checksum set (mandatory, RFC 8200 s.8.1).
/// A UDP payload longer than kPcapMaxPacket - IP header - 8 bytes (65507 for IPv4, 65487 for
/// IPv6) is truncated to that: the IP and UDP length fields and incl_len give the truncated
/// size, orig_len the full one. Thread: any (a pure function).
std::string pcap_record(std::int64_t time_ms, bool out, const Endpoint& local, const Endpoint& peer,
                        std::string_view text);

/// Writes traced SIP messages to a pcap file (see pcap_record()) from a background thread, and
/// rotates it: when the next record would take the file past `max_bytes`, it is renamed to
/// path + ".1" (replacing the older one) and a new file is begun, so at most about
/// 2 x max_bytes are on disk. Records go to the file in the order write() queued them, which
/// may differ slightly from their timestamps' order when several threads write. I/O errors
/// never throw after construction: they are counted (write_errors()) and the records they lose
/// are dropped; a failed write leaves the file ending on a whole record. Thread: any, see each
/// function.
class PcapWriter {
 public:
  struct Options {
    std::string path;
    /// Size at which the file rotates, bytes; 0 = never. A single record larger than this is
    /// still written, alone in its file.
    std::uint64_t max_bytes = std::uint64_t{100} << 20;  // 100 MiB
    /// Bytes of records write() may hold before the writer thread has written them (the queue
    /// and the batch being written); a record beyond that is dropped.
    std::size_t max_queued_bytes = std::size_t{32} << 20;  // 32 MiB
    /// How long a queued record may wait before the writer thread writes it; sooner when the
    /// queue passes half of max_queued_bytes, and on close().
    std::chrono::milliseconds flush_interval{200};
  };

  /// Creates the file (mode 0640) and starts the writer thread. A regular file already at the
  /// path is first renamed to path + ".1" (replacing an older one). Thread: any (start-up).
  /// @throws std::runtime_error naming the path and the reason (strerror) when it cannot be
  /// renamed, created or written.
  explicit PcapWriter(Options options);
  /// close(). No write() may be running or come later.
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  /// Queues message `text` (see pcap_record() for the arguments). Never waits for the disk: the
  /// record is built on the calling thread and appended under a mutex; it is dropped (and
  /// counted) when the queue is full (Options::max_queued_bytes) or after close(). Thread: any.
  void write(std::int64_t time_ms, bool out, const Endpoint& local, const Endpoint& peer,
             std::string_view text);

  /// Writes what is queued, stops the writer thread and closes the file; later writes are
  /// dropped. Idempotent; returns once the file is complete, also to a second caller.
  /// Thread: any but the writer's.
  void close();

  /// Records written to the file. Thread: any.
  std::uint64_t written() const { return written_.value(); }
  /// Records not written: queue full, written after close(), or lost to an I/O error.
  /// Thread: any.
  std::uint64_t dropped() const { return dropped_.value(); }
  /// Failed file operations (rename, create, write, truncate, close). Thread: any.
  std::uint64_t write_errors() const { return write_errors_.value(); }

 private:
  /// The writer thread: waits for records, writes them, until close().
  void run();
  /// Writes `batch` to the file, rotating it as needed. Thread: the writer's.
  void write_batch(std::vector<std::string>& batch);
  /// Moves a regular file at the path to path + ".1", creates the path and writes the global
  /// header. 0, or the errno of the step that failed, which `step` then names ("create it"...);
  /// no file is open then. Thread: the writer's (the constructor's before it starts).
  int open_file(const char*& step);

  const Options options_;
  const std::string rotated_path_;  ///< path + ".1"
  int fd_ = -1;                     ///< the writer thread's (the constructor's before it starts)
  std::uint64_t file_bytes_ = 0;    ///< bytes of whole records (and the header) in the file

  std::mutex mu_;  ///< guards the fields below, down to stop_
  std::condition_variable cv_;
  std::vector<std::string> queue_;  ///< records not yet taken by the writer thread
  std::size_t queued_bytes_ = 0;    ///< bytes in queue_
  std::size_t writing_bytes_ = 0;   ///< bytes of the batch the writer thread is writing
  bool wake_ = false;               ///< the queue passed half of max_queued_bytes
  bool stop_ = false;               ///< close() was called: write() drops

  Counter written_;
  Counter dropped_;
  Counter write_errors_;

  std::mutex close_mu_;  ///< serializes close()
  std::thread thread_;   ///< last: started once every other member is constructed
};

}  // namespace sipws::transport
