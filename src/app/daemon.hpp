#pragma once
// `sipws run`: wires transports, transactions, proxy core, registrar and auth into `threads`
// shards, each on its own io_context and thread (docs/architecture.md "Threads").

#include <functional>

#include "app/config.hpp"

namespace sipws::app {

/// Runs the daemon until SIGTERM/SIGINT. Prints "sipws ready: ..." on stderr once every
/// listener of every shard is bound. Thread: takes over the calling thread (it runs shard 0 and
/// starts one thread for each other shard, joined before it returns).
/// @returns 0 after a clean shutdown, 2 when the configuration cannot be applied (store cannot
/// be opened, address cannot be bound, certificate cannot be loaded).
/// `reload` reads the configuration again on SIGHUP (it throws ConfigError for a bad file,
/// which keeps the old configuration); null: SIGHUP only logs.
int run_daemon(const Config& cfg, std::function<Config()> reload = nullptr);

}  // namespace sipws::app
