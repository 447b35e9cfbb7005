#pragma once
// The log of each module (issue 15: "per-module levels changeable at run time through the
// API"). Every module logs through its own spdlog logger, named after it and sharing the sinks
// and format of the daemon's log (app/logging.hpp), so that one module's level can be raised
// (`log_levels` in the config, PUT /api/v1/log) without flooding the log with the others'.
//
//   log::proxy().info("forwarding {} to {}", method, target);

#include <spdlog/spdlog.h>

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>

namespace sipws::log {

/// The modules with a level of their own: one per source folder, and `messages`, the SIP
/// messages traced at info (config `trace`, `--trace`).
enum class Module : std::size_t {
  admin,  ///< the admin API (src/app/admin_api.cpp)
  app,    ///< start-up, configuration, reload, shutdown (src/app)
  auth,
  bridge,
  messages,
  proxy,
  registrar,
  routing,
  store,
  transport,
  ws,
};
inline constexpr std::size_t kModules = static_cast<std::size_t>(Module::ws) + 1;

/// The modules' names ("admin", "app", ...), in the enum's order.
inline constexpr std::array<std::string_view, kModules> kModuleNames = {
    "admin",     "app",     "auth",  "bridge",    "messages", "proxy",
    "registrar", "routing", "store", "transport", "ws"};

/// The module named `name`, or nullopt.
std::optional<Module> module_named(std::string_view name);

/// The logger of module `m`. Until install() it is spdlog's default logger (unit tests, the
/// CLI commands). Thread: any.
spdlog::logger& get(Module m);

/// Makes each module's logger a copy of `base` (its sinks and formatter, synchronous or
/// asynchronous as `base` is) named after the module, keeping the level each module had (the
/// level of `base` the first time). The previous loggers stay alive, so that a thread that
/// fetched one before the swap finishes its call. Thread: the one that sets up logging, while
/// others may log.
void install(const std::shared_ptr<spdlog::logger>& base);

/// Sets the level of module `m` (the level of `base` before install()).
void set_level(Module m, spdlog::level::level_enum level);
/// Sets the level of every module; default_level() is `level` from now on.
void set_level_all(spdlog::level::level_enum level);
/// The level set_level_all() set last (the config's log_level), spdlog's default logger's
/// level before.
spdlog::level::level_enum default_level();
/// The level of module `m`.
spdlog::level::level_enum level(Module m);

/// A level's name as the config spells it: trace, debug, info, warn, error, off.
std::string_view level_name(spdlog::level::level_enum level);
/// The level named `name` (the config's spelling), or nullopt.
std::optional<spdlog::level::level_enum> level_named(std::string_view name);

inline spdlog::logger& admin() { return get(Module::admin); }
inline spdlog::logger& app() { return get(Module::app); }
inline spdlog::logger& auth() { return get(Module::auth); }
inline spdlog::logger& bridge() { return get(Module::bridge); }
inline spdlog::logger& messages() { return get(Module::messages); }
inline spdlog::logger& proxy() { return get(Module::proxy); }
inline spdlog::logger& registrar() { return get(Module::registrar); }
inline spdlog::logger& routing() { return get(Module::routing); }
inline spdlog::logger& store() { return get(Module::store); }
inline spdlog::logger& transport() { return get(Module::transport); }
inline spdlog::logger& ws() { return get(Module::ws); }

}  // namespace sipws::log
