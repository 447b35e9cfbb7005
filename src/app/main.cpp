// sipws: the command line. `sipws run` starts the daemon; `sipws user add|del|list` manages
// subscribers in the same store.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "app/config.hpp"
#include "app/daemon.hpp"
#include "auth/digest.hpp"
#include "store/store.hpp"

namespace {

using sipws::app::Config;
using sipws::app::ConfigError;

int user_command(const Config& cfg, const std::string& action, const std::string& aor,
                 const std::string& password) {
  auto store = sipws::store::Store::open(cfg.store);
  if (action == "list") {
    for (const auto& s : store->list_subscribers()) std::cout << s.user << '@' << s.domain << '\n';
    return 0;
  }
  auto parts = sipws::auth::split_aor(aor);
  if (!parts) {
    std::fprintf(stderr, "sipws user %s: %s\n", action.c_str(), parts.error().c_str());
    return 2;
  }
  if (action == "add") {
    store->put_subscriber(sipws::auth::make_subscriber(parts->first, parts->second, password));
    std::cout << "added " << aor << '\n';
    return 0;
  }
  if (!store->delete_subscriber(parts->first, parts->second)) {
    std::fprintf(stderr, "sipws user del: no subscriber %s\n", aor.c_str());
    return 1;
  }
  std::cout << "deleted " << aor << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sipws: SIP-over-WebSocket gateway, SIP proxy/registrar and WebRTC bridge"};
  app.require_subcommand(1);
  std::optional<std::string> config_file;
  std::vector<std::string> sets;
  bool trace = false;
  auto add_common = [&](CLI::App* sub) {
    sub->add_option("--config,-c", config_file, "JSON configuration file (comments allowed)");
    sub->add_option("--set", sets, "override a key: --set key=value (lists comma-separated)")
        ->take_all();
  };
  auto* run = app.add_subcommand("run", "run the daemon (embedded default without --config)");
  add_common(run);
  run->add_flag("--trace", trace, "print every SIP message in and out");

  auto* user = app.add_subcommand("user", "manage subscribers (HA1 stored, never the password)");
  user->require_subcommand(1);
  std::string aor, password;
  auto* add = user->add_subcommand("add", "add or replace a subscriber");
  add->add_option("aor", aor, "user@domain")->required();
  add->add_option("password", password, "password")->required();
  add_common(add);
  auto* del = user->add_subcommand("del", "delete a subscriber");
  del->add_option("aor", aor, "user@domain")->required();
  add_common(del);
  auto* list = user->add_subcommand("list", "list subscribers");
  add_common(list);

  CLI11_PARSE(app, argc, argv);

  Config cfg;
  try {
    cfg = sipws::app::load_config(config_file, sets);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "sipws: %s\n", e.what());
    return 2;
  }
  if (trace) cfg.trace = true;
  spdlog::set_default_logger(spdlog::stderr_color_mt("sipws"));
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  try {
    if (run->parsed()) return sipws::app::run_daemon(cfg);
    const std::string action = add->parsed() ? "add" : del->parsed() ? "del" : "list";
    return user_command(cfg, action, aor, password);
  } catch (const sipws::store::StoreError& e) {
    std::fprintf(stderr, "sipws: config key 'store': %s\n", e.what());
    return 2;
  }
}
