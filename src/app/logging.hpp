#pragma once
// The daemon's log: spdlog on stderr, synchronous while sipws starts, asynchronous once it
// serves (so that no io thread waits on a write to stderr).

#include <map>
#include <string>

namespace sipws::app {

/// Installs the synchronous stderr logger "sipws" as spdlog's default, and a copy per module
/// (log::install), at `level` ("trace", "debug", "info", "warn", "error", "off"), one line per
/// message: text "2026-12-06T15:00:00.123 info [proxy] text", or with `json` (config
/// log_format=json) a JSON object
/// {"time":"2026-12-06T15:00:00.123","level":"info","module":"proxy","msg":"text"} (the
/// message JSON-escaped:
/// CR, LF and quotes of a traced SIP message stay inside the string; invalid UTF-8 becomes
/// U+FFFD). What the CLI commands and the daemon's start-up log goes through it, in order
/// with what they print with fprintf (start-up errors, the ready line: plain text either way).
/// Thread: the main thread, before any other thread logs.
void start_logging(const std::string& level, bool json = false);

/// From now on log calls queue their line for one background thread that writes them to
/// stderr, in order (one worker, FIFO). When more than 8,192 lines wait (`--trace` at
/// thousands of messages per second), a log call waits for room: no line is dropped. The
/// synchronous logger stays alive, so that a thread that started a log call before the swap
/// finishes it. Call once, when no other thread logs (the daemon: after the ready line, before
/// the io threads start). Thread: the main thread.
void go_async_logging();

/// Sets every module's level to `level`, then each module named in `modules` (config
/// log_levels: module name -> level) to its own. Names and levels were checked by the config;
/// an unknown one is skipped. Thread: any (start-up, a reload).
void set_log_levels(const std::string& level, const std::map<std::string, std::string>& modules);

/// Writes every queued line, then stops the background thread (no-op if logging never went
/// asynchronous). Call before the process exits. Thread: the main thread, after every other
/// thread that logs has ended.
void stop_logging();

}  // namespace sipws::app
