#include "app/logging.hpp"

#include <spdlog/async.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/log.hpp"

namespace sipws::app {
namespace {

constexpr const char* kPattern = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v";
/// log_format=json: %* is the message as a JSON string (JsonMessage); %n the module (a name
/// of log::kModuleNames, or "sipws" for the CLI's lines), no character to escape.
constexpr const char* kJsonPattern =
    R"({"time":"%Y-%m-%dT%H:%M:%S.%e","level":"%l","module":"%n","msg":%*})";

/// The %* flag: the message as a quoted, escaped JSON string (nlohmann's dump; invalid UTF-8
/// replaced).
class JsonMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*time*/,
              spdlog::memory_buf_t& dest) override {
    const std::string quoted = nlohmann::json(std::string(msg.payload.data(), msg.payload.size()))
                                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(quoted.data(), quoted.data() + quoted.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessage>();
  }
};

bool json_lines = false;

std::unique_ptr<spdlog::formatter> make_formatter() {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  if (json_lines) {
    f->add_flag<JsonMessage>('*').set_pattern(kJsonPattern);
  } else {
    f->set_pattern(kPattern);
  }
  return f;
}
/// Lines that may wait for the writer thread before a log call waits (about 3 MB at most).
constexpr std::size_t kQueuedLines = 8192;

/// The synchronous logger, kept after the swap (see go_async_logging).
std::shared_ptr<spdlog::logger>& sync_logger() {
  static std::shared_ptr<spdlog::logger> logger;
  return logger;
}

bool async_on = false;

}  // namespace

void start_logging(const std::string& level, bool json) {
  json_lines = json;
  sync_logger() = spdlog::stderr_color_mt("sipws");
  spdlog::set_default_logger(sync_logger());
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::set_formatter(make_formatter());
  log::install(sync_logger());
}

void set_log_levels(const std::string& level, const std::map<std::string, std::string>& modules) {
  const auto all = log::level_named(level);
  if (all) {
    spdlog::set_level(*all);  // the CLI's lines
    log::set_level_all(*all);
  }
  for (const auto& [name, l] : modules) {
    const auto m = log::module_named(name);
    const auto lv = log::level_named(l);
    if (m && lv) log::set_level(*m, *lv);
  }
}

void go_async_logging() {
  if (async_on) return;
  spdlog::init_thread_pool(kQueuedLines, 1);
  auto logger = spdlog::create_async<spdlog::sinks::stderr_color_sink_mt>("sipws-async");
  logger->set_level(spdlog::default_logger_raw()->level());
  logger->set_formatter(make_formatter());
  log::install(logger);
  spdlog::set_default_logger(std::move(logger));
  async_on = true;
}

void stop_logging() {
  if (!async_on) return;
  // Back to the synchronous logger (which unregisters the async one), then drop the thread
  // pool: its destructor lets the thread write every queued line (each holds its logger)
  // before joining it.
  spdlog::set_default_logger(sync_logger());
  log::install(sync_logger());
  spdlog::details::registry::instance().set_tp(nullptr);
  async_on = false;
}

}  // namespace sipws::app
