// sipws: the command line. `sipws run` starts the daemon; `sipws user|group|forward|alias ...`
// manage subscribers and their services in the same store, `sipws db status|migrate` its
// schema (docs/configuration.md). Exit codes: 0 done, 1 nothing to delete, no such subscriber
// or a schema behind this sipws (db status), 2 usage, configuration or store error.

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "app/config.hpp"
#include "app/daemon.hpp"
#include "app/logging.hpp"
#include "app/service_checks.hpp"
#include "auth/digest.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"
#include "store/store.hpp"

namespace {

using sipws::app::Config;
using sipws::app::ConfigError;
using sipws::store::ForwardKind;
using sipws::store::Store;

/// Arguments of the store subcommands; each subcommand fills the ones it declares.
struct Args {
  std::string aor;
  std::string password;
  std::string group;
  std::string kind;
  std::string target;
  std::string alias;
  std::optional<std::string> ring_timeout;  ///< as typed; checked by forward_command
};

/// A store command's refusal, printed as "sipws FAMILY ACTION: message". Thrown only by the
/// command functions below (CLI code, not the data plane); `code` is the exit code.
class CliError : public std::runtime_error {
 public:
  CliError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

[[noreturn]] void usage_error(const std::string& message) { throw CliError(2, message); }

/// A parsed "user@domain" (domain lower-cased by auth::split_aor).
struct Aor {
  std::string user;
  std::string domain;
  std::string text() const { return user + '@' + domain; }
};

/// @throws CliError (exit 2) with split_aor's explanation.
Aor parse_aor(std::string_view text) {
  auto parts = sipws::auth::split_aor(text);
  if (!parts) usage_error(parts.error());
  return Aor{std::move(parts->first), std::move(parts->second)};
}

/// The AOR filter of a `list [AOR]` command: "" (everyone) when not given.
std::string list_filter(const std::string& text) {
  return text.empty() ? std::string() : parse_aor(text).text();
}

/// @throws CliError (exit 1) unless `aor` is in the subscriber table.
void require_subscriber(Store& store, const Aor& aor) {
  if (!store.find_subscriber(aor.user, aor.domain)) {
    throw CliError(1, "no subscriber " + aor.text() + "; add it with sipws user add");
  }
}

int user_command(Store& store, const std::string& action, const Args& a) {
  if (action == "list") {
    for (const auto& s : store.list_subscribers()) std::cout << s.user << '@' << s.domain << '\n';
    return 0;
  }
  const Aor aor = parse_aor(a.aor);
  if (action == "add") {
    store.put_subscriber(sipws::auth::make_subscriber(aor.user, aor.domain, a.password));
    std::cout << "added " << a.aor << '\n';
    return 0;
  }
  if (!store.delete_subscriber(aor.user, aor.domain)) {
    throw CliError(1, "no subscriber " + a.aor);
  }
  std::cout << "deleted " << a.aor << '\n';
  return 0;
}

int group_command(Store& store, const std::string& action, const Args& a) {
  if (action == "list") {
    for (const auto& g : store.list_groups(list_filter(a.aor))) {
      std::cout << g.aor << ' ' << g.group << '\n';
    }
    return 0;
  }
  const Aor aor = parse_aor(a.aor);
  if (auto why = sipws::app::group_defect(a.group); !why.empty()) usage_error(why);
  if (action == "add") {
    require_subscriber(store, aor);
    store.add_group(aor.text(), a.group);
    std::cout << "added " << aor.text() << " to group " << a.group << '\n';
    return 0;
  }
  if (!store.delete_group(aor.text(), a.group)) {
    throw CliError(1, aor.text() + " is not in group " + a.group);
  }
  std::cout << "deleted " << aor.text() << " from group " << a.group << '\n';
  return 0;
}

ForwardKind parse_kind(const std::string& word) {
  auto kind = sipws::store::parse_forward_kind(word);
  if (!kind) usage_error("kind '" + word + "': want unconditional, busy or no_answer");
  return *kind;
}

/// TARGET: the word `voicemail` or a URI that sip::parse_uri accepts as sip: or sips: (a number
/// is written sip:+15551230001@example.com;user=phone).
void check_target(const std::string& target) {
  if (auto why = sipws::app::forward_target_defect(target); !why.empty()) usage_error(why);
}

/// "aor kind target[ ring_timeout=S]": the line `forward list` prints.
std::string describe(const sipws::store::ForwardRule& r) {
  std::string out =
      r.aor + ' ' + std::string(sipws::store::forward_kind_name(r.kind)) + ' ' + r.target;
  if (r.ring_timeout_s != 0) out += " ring_timeout=" + std::to_string(r.ring_timeout_s);
  return out;
}

using sipws::app::kMaxRingTimeoutS;

int forward_command(Store& store, const std::string& action, const Args& a) {
  if (action == "list") {
    for (const auto& r : store.list_forwards(list_filter(a.aor))) std::cout << describe(r) << '\n';
    return 0;
  }
  const Aor aor = parse_aor(a.aor);
  if (action == "del") {
    const auto kind = a.kind.empty() ? std::nullopt : std::optional(parse_kind(a.kind));
    const std::size_t n = store.delete_forward(aor.text(), kind);
    const std::string what =
        kind ? std::string(sipws::store::forward_kind_name(*kind)) + " rule" : "forwarding rules";
    if (n == 0) throw CliError(1, "no " + what + " for " + aor.text());
    std::cout << "deleted " << (kind ? what : std::to_string(n) + ' ' + what) << " of "
              << aor.text() << '\n';
    return 0;
  }
  sipws::store::ForwardRule rule{aor.text(), parse_kind(a.kind), a.target, 0};
  check_target(a.target);
  if (a.ring_timeout) {
    if (rule.kind != ForwardKind::NoAnswer) usage_error("--ring-timeout applies to no_answer only");
    const auto s = sipws::sip::text::parse_u32(*a.ring_timeout);
    if (!s || *s < 1 || *s > kMaxRingTimeoutS) {
      usage_error("--ring-timeout '" + *a.ring_timeout + "': want whole seconds, 1.." +
                  std::to_string(kMaxRingTimeoutS));
    }
    rule.ring_timeout_s = *s;
  }
  require_subscriber(store, aor);
  store.put_forward(rule);
  std::cout << "set " << describe(rule) << '\n';
  return 0;
}

/// ALIAS as stored (app::normalize_alias). @throws CliError (exit 2).
std::string parse_alias(const std::string& text) {
  auto alias = sipws::app::normalize_alias(text);
  if (!alias) usage_error(alias.error());
  return std::move(*alias);
}

int alias_command(Store& store, const std::string& action, const Args& a) {
  if (action == "list") {
    for (const auto& al : store.list_aliases()) std::cout << al.alias << ' ' << al.aor << '\n';
    return 0;
  }
  const std::string alias = parse_alias(a.alias);
  if (action == "add") {
    const Aor aor = parse_aor(a.aor);  // need not be a subscriber (e.g. a trunk's user)
    store.put_alias({alias, aor.text()});
    std::cout << "added alias " << alias << " for " << aor.text() << '\n';
    return 0;
  }
  if (!store.delete_alias(alias)) throw CliError(1, "no alias " + alias);
  std::cout << "deleted alias " << alias << '\n';
  return 0;
}

/// `sipws db status`: the store (password masked), its backend, layout and schema version;
/// exit 1 when the schema is missing or older than this sipws. `sipws db migrate`: creates or
/// migrates the schema and says from which version.
int db_command(Store& store, const std::string& action, const Args&) {
  if (action == "migrate") {
    const int from = store.migrate();
    const int to = store.schema_status().latest;
    if (from == to) {
      std::cout << "schema already at version " << to << '\n';
    } else if (from == 0) {
      std::cout << "schema created at version " << to << '\n';
    } else {
      std::cout << "schema migrated from version " << from << " to " << to << '\n';
    }
    return 0;
  }
  const auto s = store.schema_status();
  std::cout << "backend: " << s.backend << "\nlayout: " << s.layout << "\nschema: ";
  if (s.version == 0) {
    std::cout << "none (an empty database; sipws db migrate or sipws run creates it)\n";
  } else if (s.version < s.latest) {
    std::cout << s.version << " (this sipws: " << s.latest
              << "; sipws db migrate or sipws run migrates it)\n";
  } else {
    std::cout << s.version << " (current)\n";
  }
  return s.version == s.latest ? 0 : 1;
}

using StoreCommand = int (*)(Store&, const std::string& action, const Args&);

/// Runs `sipws FAMILY ACTION` on the configured store; a refusal is printed with that prefix,
/// and so is a store that fails the command (exit 2: a failed read is never taken for "none").
/// @throws StoreError when the store cannot be opened.
int run_store_command(const Config& cfg, StoreCommand command, const std::string& family,
                      const std::string& action, const Args& args) {
  const std::string uri = sipws::app::resolve_store(cfg);
  auto options = sipws::app::store_options(cfg);
  // `db` reports and migrates the schema itself; every other command migrates on opening
  // (an empty database gets its schema on first use).
  options.migrate = family != "db";
  if (family == "db") std::cout << "store: " << Store::shown_uri(uri) << '\n';
  auto store = Store::open(uri, options);
  try {
    return command(*store, action, args);
  } catch (const CliError& e) {
    std::fprintf(stderr, "sipws %s %s: %s\n", family.c_str(), action.c_str(), e.what());
    return e.code();
  } catch (const sipws::store::StoreError& e) {
    std::fprintf(stderr, "sipws %s %s: store error: %s\n", family.c_str(), action.c_str(),
                 e.what());
    return 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sipws: SIP-over-WebSocket gateway, SIP proxy/registrar and WebRTC bridge"};
  app.require_subcommand(1);
  std::optional<std::string> config_file;
  std::vector<std::string> sets;
  bool trace = false;
  Args args;
  auto add_common = [&](CLI::App* sub) {
    sub->add_option("--config,-c", config_file, "JSON configuration file (comments allowed)");
    sub->add_option("--set", sets, "override a key: --set key=value (lists comma-separated)")
        ->take_all();
  };
  auto* run = app.add_subcommand("run", "run the daemon (embedded default without --config)");
  add_common(run);
  run->add_flag("--trace", trace, "print every SIP message in and out");
  std::string check_file;
  auto* check = app.add_subcommand("check-config",
                                   "check a configuration file: exit 0 if sipws "
                                   "would start with it, 2 naming the bad key");
  check->add_option("file", check_file, "the JSON configuration file")->required();
  check->add_option("--set", sets, "override a key, as for run")->take_all();

  // A command family (`sipws user ...`) and its actions, each with --config and --set.
  struct Family {
    CLI::App* app;
    StoreCommand command;
  };
  std::vector<Family> families;
  auto family = [&](const char* name, const char* help, StoreCommand command) {
    CLI::App* f = app.add_subcommand(name, help);
    f->require_subcommand(1);
    families.push_back({f, command});
    return f;
  };
  auto action = [&](CLI::App* f, const char* name, const char* help) {
    CLI::App* a = f->add_subcommand(name, help);
    add_common(a);
    return a;
  };
  auto aor_arg = [&](CLI::App* a, const char* help = "user@domain") {
    return a->add_option("aor", args.aor, help);
  };

  auto* user = family("user", "manage subscribers (HA1 stored, never the password)", user_command);
  auto* user_add = action(user, "add", "add or replace a subscriber");
  aor_arg(user_add)->required();
  user_add->add_option("password", args.password, "password")->required();
  aor_arg(action(user, "del", "delete a subscriber"))->required();
  action(user, "list", "list subscribers");

  auto* group = family("group", "manage subscribers' groups (call classes)", group_command);
  auto group_args = [&](CLI::App* a) {
    aor_arg(a)->required();
    a->add_option("group", args.group, "group name (a SIP token)")->required();
  };
  group_args(action(group, "add", "add a subscriber to a group"));
  group_args(action(group, "del", "remove a subscriber from a group"));
  aor_arg(action(group, "list", "list memberships: \"aor group\" lines"), "only this user@domain");

  auto* forward = family("forward", "manage call forwarding rules", forward_command);
  auto* forward_set = action(forward, "set", "add or replace the rule of one kind");
  aor_arg(forward_set)->required();
  forward_set->add_option("kind", args.kind, "unconditional, busy or no_answer")->required();
  forward_set->add_option("target", args.target, "voicemail, or a sip: or sips: URI")->required();
  forward_set->add_option("--ring-timeout", args.ring_timeout,
                          "no_answer only: seconds to ring first, 1..600");
  auto* forward_del = action(forward, "del", "delete the rule of one kind, or all of an AOR");
  aor_arg(forward_del)->required();
  forward_del->add_option("kind", args.kind, "unconditional, busy or no_answer (default: all)");
  aor_arg(action(forward, "list", "list rules: \"aor kind target\" lines"),
          "only this user@domain");

  auto* alias = family("alias", "manage aliases (numbers) that reach an AOR", alias_command);
  auto* alias_add = action(alias, "add", "add or replace an alias");
  alias_add->add_option("alias", args.alias, "user part, e.g. +15551230001 or sales")->required();
  aor_arg(alias_add, "the user@domain it reaches")->required();
  action(alias, "del", "delete an alias")->add_option("alias", args.alias, "the alias")->required();
  action(alias, "list", "list aliases: \"alias aor\" lines");

  auto* db = family("db", "the store's schema", db_command);
  action(db, "status", "backend, layout and schema version (exit 1 if not current)");
  action(db, "migrate", "create or migrate the schema to this sipws's version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help: 0; any usage error: 2
  }

  if (check->parsed()) config_file = check_file;
  Config cfg;
  try {
    cfg = sipws::app::load_config(config_file, sets);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "sipws: %s\n", e.what());
    return 2;
  }
  if (check->parsed()) {
    std::printf("sipws: %s is a valid configuration\n", check_file.c_str());
    return 0;
  }
  if (trace) cfg.trace = true;
  sipws::app::start_logging(cfg.log_level, cfg.log_json);
  sipws::app::set_log_levels(cfg.log_level, cfg.log_levels);
  struct LogDrain {
    ~LogDrain() { sipws::app::stop_logging(); }  // every queued line, on every return path
  } log_drain;

  try {
    if (run->parsed()) {
      return sipws::app::run_daemon(cfg, [&]() {
        Config next = sipws::app::load_config(config_file, sets);
        if (trace) next.trace = true;
        return next;
      });
    }
    for (const Family& f : families) {
      if (!f.app->parsed()) continue;
      const std::string act = f.app->get_subcommands().front()->get_name();
      return run_store_command(cfg, f.command, f.app->get_name(), act, args);
    }
    return 2;  // unreachable: CLI11 requires one subcommand
  } catch (const sipws::store::StoreError& e) {
    std::fprintf(stderr, "sipws: config key 'store': %s\n", e.what());
    return 2;
  }
}
