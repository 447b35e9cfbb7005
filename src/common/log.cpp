#include "common/log.hpp"

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

namespace sipws::log {
namespace {

constexpr int kUnset = -1;

struct Registry {
  std::array<std::atomic<spdlog::logger*>, kModules> current{};
  std::array<std::atomic<int>, kModules> levels{};
  std::atomic<int> all{kUnset};  ///< what set_level_all() set last
  std::mutex mu;                 ///< install() and set_level() against each other
  /// Every logger ever installed: one fetched before a swap stays valid (a few per process).
  std::vector<std::shared_ptr<spdlog::logger>> keep;

  Registry() {
    for (auto& l : levels) l.store(kUnset);
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

constexpr std::size_t index(Module m) { return static_cast<std::size_t>(m); }

constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 6> kLevels = {{
    {"trace", spdlog::level::trace},
    {"debug", spdlog::level::debug},
    {"info", spdlog::level::info},
    {"warn", spdlog::level::warn},
    {"error", spdlog::level::err},
    {"off", spdlog::level::off},
}};

}  // namespace

std::optional<Module> module_named(std::string_view name) {
  for (std::size_t i = 0; i < kModules; ++i) {
    if (kModuleNames[i] == name) return static_cast<Module>(i);
  }
  return std::nullopt;
}

spdlog::logger& get(Module m) {
  spdlog::logger* l = registry().current[index(m)].load(std::memory_order_acquire);
  return l != nullptr ? *l : *spdlog::default_logger_raw();
}

void install(const std::shared_ptr<spdlog::logger>& base) {
  Registry& r = registry();
  const std::lock_guard lock(r.mu);
  for (std::size_t i = 0; i < kModules; ++i) {
    auto l = base->clone(std::string(kModuleNames[i]));
    int level = r.levels[i].load();
    if (level == kUnset) {
      level = static_cast<int>(base->level());
      r.levels[i].store(level);
    }
    l->set_level(static_cast<spdlog::level::level_enum>(level));
    r.current[i].store(l.get(), std::memory_order_release);
    r.keep.push_back(std::move(l));
  }
}

void set_level(Module m, spdlog::level::level_enum level) {
  Registry& r = registry();
  const std::lock_guard lock(r.mu);
  r.levels[index(m)].store(static_cast<int>(level));
  if (spdlog::logger* l = r.current[index(m)].load()) l->set_level(level);
}

void set_level_all(spdlog::level::level_enum level) {
  registry().all.store(static_cast<int>(level));
  for (std::size_t i = 0; i < kModules; ++i) set_level(static_cast<Module>(i), level);
}

spdlog::level::level_enum level(Module m) {
  const int l = registry().levels[index(m)].load();
  return l == kUnset ? spdlog::default_logger_raw()->level()
                     : static_cast<spdlog::level::level_enum>(l);
}

spdlog::level::level_enum default_level() {
  const int l = registry().all.load();
  return l == kUnset ? spdlog::default_logger_raw()->level()
                     : static_cast<spdlog::level::level_enum>(l);
}

std::string_view level_name(spdlog::level::level_enum level) {
  for (const auto& [name, l] : kLevels) {
    if (l == level) return name;
  }
  return level == spdlog::level::critical ? "error" : "info";
}

std::optional<spdlog::level::level_enum> level_named(std::string_view name) {
  for (const auto& [n, l] : kLevels) {
    if (n == name) return l;
  }
  return std::nullopt;
}

}  // namespace sipws::log
