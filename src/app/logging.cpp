#include "app/logging.hpp"

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace sipws::app {
namespace {

constexpr const char* kPattern = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v";
/// Lines that may wait for the writer thread before a log call waits (about 3 MB at most).
constexpr std::size_t kQueuedLines = 8192;

/// The synchronous logger, kept after the swap (see go_async_logging).
std::shared_ptr<spdlog::logger>& sync_logger() {
  static std::shared_ptr<spdlog::logger> logger;
  return logger;
}

bool async_on = false;

}  // namespace

void start_logging(const std::string& level) {
  sync_logger() = spdlog::stderr_color_mt("sipws");
  spdlog::set_default_logger(sync_logger());
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::set_pattern(kPattern);
}

void go_async_logging() {
  if (async_on) return;
  spdlog::init_thread_pool(kQueuedLines, 1);
  auto logger = spdlog::create_async<spdlog::sinks::stderr_color_sink_mt>("sipws-async");
  logger->set_level(spdlog::default_logger_raw()->level());
  logger->set_pattern(kPattern);
  spdlog::set_default_logger(std::move(logger));
  async_on = true;
}

void stop_logging() {
  if (!async_on) return;
  // Back to the synchronous logger (which unregisters the async one), then drop the thread
  // pool: its destructor lets the thread write every queued line (each holds its logger)
  // before joining it.
  spdlog::set_default_logger(sync_logger());
  spdlog::details::registry::instance().set_tp(nullptr);
  async_on = false;
}

}  // namespace sipws::app
