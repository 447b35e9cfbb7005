#pragma once
// `sipws run`: wires transports, transactions, proxy core, registrar and auth on one io_context.

#include <functional>

#include "app/config.hpp"

namespace sipws::app {

/// Runs the daemon until SIGTERM/SIGINT. Prints "sipws ready: ..." on stderr once every
/// listener is bound. Thread: takes over the calling thread (runs the io_context).
/// @returns 0 after a clean shutdown, 2 when the configuration cannot be applied (store cannot
/// be opened, address cannot be bound, certificate cannot be loaded).
/// `reload` reads the configuration again on SIGHUP (it throws ConfigError for a bad file,
/// which keeps the old configuration); null: SIGHUP only logs.
int run_daemon(const Config& cfg, std::function<Config()> reload = nullptr);

}  // namespace sipws::app
