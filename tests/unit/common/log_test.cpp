// The module loggers (common/log.hpp): names, levels, and that a module's level filters its
// lines alone, on real spdlog loggers writing into a string.
#include "common/log.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>
#include <string>

namespace sipws::log {
namespace {

TEST(LogModules, NamesAndLevelsRoundTrip) {
  for (std::size_t i = 0; i < kModules; ++i) {
    const auto m = module_named(kModuleNames[i]);
    ASSERT_TRUE(m.has_value()) << kModuleNames[i];
    EXPECT_EQ(static_cast<std::size_t>(*m), i);
  }
  EXPECT_FALSE(module_named("nosuch").has_value());
  EXPECT_FALSE(module_named("").has_value());
  for (std::string_view l : {"trace", "debug", "info", "warn", "error", "off"}) {
    const auto level = level_named(l);
    ASSERT_TRUE(level.has_value()) << l;
    EXPECT_EQ(level_name(*level), l);
  }
  EXPECT_FALSE(level_named("warning").has_value()) << "the config spells it warn";
  EXPECT_FALSE(level_named("loud").has_value());
}

TEST(LogModules, EachModuleFiltersItsOwnLinesAndNamesThem) {
  std::ostringstream out;
  auto base = std::make_shared<spdlog::logger>(
      "base", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  base->set_pattern("%l [%n] %v");
  base->set_level(spdlog::level::info);
  set_level_all(spdlog::level::warn);
  set_level(Module::proxy, spdlog::level::debug);
  install(base);

  EXPECT_EQ(level(Module::proxy), spdlog::level::debug);
  EXPECT_EQ(level(Module::ws), spdlog::level::warn);
  EXPECT_EQ(default_level(), spdlog::level::warn);
  proxy().debug("seen {}", 1);
  ws().info("not seen");
  ws().warn("seen {}", 2);
  EXPECT_EQ(out.str(), "debug [proxy] seen 1\nwarning [ws] seen 2\n");

  // A level set after install() applies to the installed logger at once.
  set_level(Module::ws, spdlog::level::info);
  ws().info("seen 3");
  EXPECT_NE(out.str().find("info [ws] seen 3\n"), std::string::npos) << out.str();

  // A second install (the switch to asynchronous logging) keeps each module's level.
  std::ostringstream out2;
  auto base2 = std::make_shared<spdlog::logger>(
      "base2", std::make_shared<spdlog::sinks::ostream_sink_mt>(out2));
  base2->set_pattern("[%n] %v");
  install(base2);
  ws().info("kept");
  proxy().debug("kept too");
  store().info("dropped");
  EXPECT_EQ(out2.str(), "[ws] kept\n[proxy] kept too\n");

  set_level_all(spdlog::level::off);
  proxy().error("nothing");
  EXPECT_EQ(out2.str(), "[ws] kept\n[proxy] kept too\n");
}

}  // namespace
}  // namespace sipws::log
