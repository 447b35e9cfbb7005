#pragma once
// Call records (issue 15, item 3): the sink that takes finished records from every shard's
// call tracker and writes them, in batches and off the io threads, to the store's `cdrs` table
// and optionally to a JSON-lines file; and the JSON / CSV shapes the admin API and that file
// share.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/call_record.hpp"
#include "store/store.hpp"

namespace sipws::app {

/// "2026-12-07T15:04:05.123Z" for Unix time `ms` (UTC, millisecond precision).
std::string iso_time(std::int64_t ms);
/// Unix time in ms of a UTC time "2026-12-07T15:04:05Z" (fraction ".123" and the final "Z"
/// optional) or date "2026-12-07" (midnight UTC); nullopt if malformed or out of range.
std::optional<std::int64_t> parse_iso_time(std::string_view text);

/// A call as the admin API shows it (docs/admin-api.md): `live` adds id and state and leaves
/// out what only an ended call has (end, duration, hangup); times are ISO 8601 UTC, `answer`
/// null when unanswered; `legs` null when the bridge did not anchor the media.
nlohmann::json call_record_json(const CallRecord& r, bool live);

/// The CSV header line of call records, and one record as a CSV line (RFC 4180: fields with a
/// comma, quote or line break quoted, quotes doubled; lists joined by spaces). Both end in
/// CRLF.
std::string call_record_csv_header();
std::string call_record_csv(const CallRecord& r);

/// Collects the records of ended calls from any thread and writes them in batches: each
/// flush() hands what was collected to the store's worker, which appends them as JSON lines
/// to `jsonl_path` (if not empty; config `cdr_file`) and inserts them into the store in one
/// transaction. A failed write is logged and counted (cdr_write_errors); records written:
/// cdr_records. Thread: add() and version() from any; flush() from the thread the store
/// answers on (shard 0).
class CdrSink {
 public:
  /// `store` must outlive the sink.
  CdrSink(store::AsyncStore& store, std::string jsonl_path);
  /// Queues one record.
  void add(CallRecord r);
  /// Hands the queued records to the store worker (nothing if none).
  void flush();
  /// Grows each time a batch is stored (the admin events socket: "cdrs" changed).
  std::uint64_t version() const { return version_.load(std::memory_order_relaxed); }

 private:
  store::AsyncStore& store_;
  std::string jsonl_path_;
  std::mutex mu_;
  std::vector<CallRecord> queued_;
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace sipws::app
