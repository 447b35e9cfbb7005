// sipws-load: a SIP load generator for WebSocket (RFC 7118), UDP and TCP, and a trivial
// responder to measure it against. See tools/load/README.md for the CLI contract.

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "engine.hpp"

namespace {

using namespace sipws::load;

volatile sig_atomic_t g_interrupted = 0;
void on_signal(int) { g_interrupted = 1; }

std::vector<std::string> split_commas(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (const auto& s : in) {
    std::size_t p = 0;
    while (p <= s.size()) {
      std::size_t c = s.find(',', p);
      if (c == std::string::npos) c = s.size();
      if (c > p) out.push_back(s.substr(p, c - p));
      p = c + 1;
    }
  }
  return out;
}

void raise_nofile() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

/// Sleeps until `deadline` (mono ns) or until `done()` holds or SIGINT; polls every 5 ms.
template <typename Fn>
void wait_until(std::int64_t deadline, Fn done) {
  while (!g_interrupted && !done() && mono_ns() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int bad_option(const std::string& what) {
  std::cerr << "sipws-load: " << what << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"sipws-load: SIP load generator for WebSocket (RFC 7118), UDP and TCP"};
  std::string mode;
  std::vector<std::string> sources, listen;
  std::string password;
  app.add_option("MODE", mode, "register | call | answer | connect | respond")
      ->required()
      ->check(CLI::IsMember({"register", "call", "answer", "connect", "respond"}));
  app.add_option("--target", o.target_text,
                 "ws://HOST:PORT[/path], wss://HOST:PORT[/path], udp:HOST:PORT, tcp:HOST:PORT");
  app.add_option("--domain", o.domain, "SIP domain of the AORs (default: the target's host)");
  app.add_option("--user-prefix", o.user_prefix, "users are P<N>");
  app.add_option("--user-base", o.user_base, "first N; connection i uses user P<N+i>");
  app.add_option("--password", password, "digest password (default: the user name)");
  app.add_option("--connections", o.connections, "concurrent connections")
      ->check(CLI::Range(1, 10000000));
  app.add_option("--threads", o.threads, "generator threads")->check(CLI::Range(1, 256));
  app.add_option("--duration", o.duration_s, "measured seconds")->check(CLI::Range(0.0, 1e7));
  app.add_option("--warmup", o.warmup_s, "seconds not measured")->check(CLI::Range(0.0, 1e6));
  app.add_option("--count", o.count, "stop after N finished operations (0: no bound)");
  app.add_option("--rate", o.rate, "operations/s started in total (0: closed loop)")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--timeout", o.timeout_ms, "operation timeout, ms")->check(CLI::Range(1, 3600000));
  app.add_option("--expires", o.expires, "Expires of REGISTERs, s")->check(CLI::Range(1, 86400));
  app.add_option("--to", o.to, "call: Request-URI/To ({n}: per-call index)");
  app.add_option("--to-range", o.to_range, "call: {n} = index mod K + --user-base");
  app.add_option("--hold", o.hold_ms, "call: ms between the ACK and the BYE");
  app.add_option("--answer-delay", o.answer_delay_ms, "answer: 180, then 200 after MS");
  app.add_option("--hold-for", o.hold_for_s, "connect: seconds to hold the registered flows");
  app.add_option("--source", sources, "local addresses to bind, round-robin (comma-separated)");
  app.add_option("--pid", o.pids, "server process to sample (repeatable)");
  app.add_option("--json", o.json, "also write the report as JSON to FILE (- = stdout)");
  app.add_option("--listen", listen, "respond: ws://127.0.0.1:PORT, udp:..., tcp:... (repeatable)");
  app.add_flag("--verify", o.verify, "WSS: verify the server certificate");
  app.add_flag("--quiet", o.quiet, "only the report");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return bad_option(e.what());
  }

  o.mode_name = mode;
  if (mode == "register")
    o.mode = Mode::Register;
  else if (mode == "call")
    o.mode = Mode::Call;
  else if (mode == "answer")
    o.mode = Mode::Answer;
  else if (mode == "connect")
    o.mode = Mode::Connect;
  else
    o.mode = Mode::Respond;

  std::string err;
  if (o.mode != Mode::Respond) {
    if (o.target_text.empty()) return bad_option("--target is required in mode " + mode);
    auto u = parse_url(o.target_text, err);
    if (!u) return bad_option("--target " + o.target_text + ": " + err);
    o.target = *u;
    if (o.domain.empty()) o.domain = o.target.host;
  } else {
    if (listen.empty()) return bad_option("--listen is required in mode respond");
  }
  for (const auto& l : split_commas(listen)) {
    auto u = parse_url(l, err);
    // NOLINTNEXTLINE(performance-inefficient-string-concatenation): one new message, then exit.
    if (!u) return bad_option("--listen " + l + ": " + err);
    if (u->proto == Proto::Wss) return bad_option("--listen " + l + ": wss is not served");
    o.listen.push_back(*u);
  }
  for (const auto& s : split_commas(sources)) {
    in_addr a{};
    if (!parse_ipv4(s, a)) return bad_option("--source " + s + ": not an IPv4 address");
    o.sources.push_back(a);
  }
  o.password_set = app.count("--password") > 0;
  o.password = password;
  if (o.to.empty()) o.to = "sip:answer@" + o.domain;
  if (o.to.rfind("sip:", 0) != 0 && o.to.rfind("sips:", 0) != 0) {
    return bad_option("--to " + o.to + ": expected a sip: or sips: URI");
  }
  bool explicit_warmup = app.count("--warmup") > 0;
  if (!explicit_warmup && (o.count > 0 || o.mode == Mode::Answer || o.mode == Mode::Respond)) {
    o.warmup_s = 0;  // a bounded count, or a passive mode, is measured from the start
  }
  if (o.mode == Mode::Connect) o.warmup_s = 0;
  if (o.hold_for_s < 0) o.hold_for_s = o.duration_s;
  if (o.mode == Mode::Respond) o.connections = 0;
  if (o.threads > 1 && o.mode != Mode::Respond && o.threads > o.connections) {
    o.threads = static_cast<unsigned>(o.connections);
  }

  raise_nofile();
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  SslCtxPtr tls;
  if (o.mode != Mode::Respond && o.target.proto == Proto::Wss) {
    tls = make_client_ssl_ctx(o.verify);
    if (!tls) {
      std::cerr << "sipws-load: cannot create the TLS context\n";
      return 1;
    }
  }

  RunInfo run;
  run.mode = mode;
  run.transport = o.mode == Mode::Respond
                      ? (o.listen.empty() ? "?" : proto_name(o.listen.front().proto))
                      : proto_name(o.target.proto);
  run.target = o.target_text;
  run.connections = o.connections;
  run.threads = o.threads;
  for (int pid : o.pids) {
    ProcReport p;
    p.pid = pid;
    p.before = sample_proc(pid);  // before any flow is opened
    run.procs.push_back(p);
  }

  Shared sh(o);
  sh.tls = tls.get();
  std::int64_t t0 = mono_ns();
  std::int64_t wstart = t0 + static_cast<std::int64_t>(o.warmup_s * 1e9);
  sh.window_start.store(wstart);
  if (!o.quiet) {
    std::cerr << "sipws-load: " << mode << " "
              << (o.mode == Mode::Respond ? std::string("on ") + listen.front() : o.target_text)
              << ", " << o.connections << " connections, " << o.threads << " thread(s), warm-up "
              << o.warmup_s << " s, duration " << o.duration_s << " s\n";
  }

  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned i = 0; i < o.threads; ++i) workers.push_back(std::make_unique<Worker>(sh, i));
  std::vector<std::thread> threads;
  threads.reserve(workers.size());
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

  run.self.pid = static_cast<int>(getpid());
  auto sample_start = [&] {
    for (auto& p : run.procs) p.start = sample_proc(p.pid);
    run.self.start = sample_proc(run.self.pid);
  };
  std::int64_t measured_from = wstart;
  if (o.mode == Mode::Connect) {
    sample_start();
    // Setup: every flow registered or failed (each bounded by --timeout), then hold.
    // Each flow is bounded by --timeout (connect, then REGISTER); the overall bound is a
    // safety net for opens queued behind the per-thread limit of handshakes in flight.
    std::int64_t setup_bound = t0 + static_cast<std::int64_t>(o.timeout_ms) * 2000000 +
                               static_cast<std::int64_t>(o.connections / 100 + 5) * 1000000000LL;
    wait_until(setup_bound, [&] { return sh.setup_done.load() >= o.connections; });
    std::fprintf(stderr, "connect: %llu registered\n",
                 static_cast<unsigned long long>(sh.registered.load()));
    std::int64_t hold_end = mono_ns() + static_cast<std::int64_t>(o.hold_for_s * 1e9);
    wait_until(hold_end, [] { return false; });
  } else {
    auto count_done = [&] { return o.count > 0 && sh.finished.load() >= o.count; };
    auto fatal = [&] { return sh.fatal.load() != 0; };
    wait_until(wstart, [&] { return count_done() || fatal(); });
    sample_start();
    measured_from = std::max(mono_ns(), wstart);
    if (o.mode == Mode::Answer) {
      // scripts start their callers once every user is registered
      wait_until(measured_from + static_cast<std::int64_t>(o.duration_s * 1e9),
                 [&] { return sh.setup_done.load() >= o.connections; });
      if (!o.quiet) {
        std::fprintf(stderr, "answer: %llu registered\n",
                     static_cast<unsigned long long>(sh.registered.load()));
      }
    }
    wait_until(measured_from + static_cast<std::int64_t>(o.duration_s * 1e9),
               [&] { return count_done() || fatal(); });
  }
  std::int64_t t_end = mono_ns();
  for (auto& p : run.procs) p.end = sample_proc(p.pid);  // flows still open
  run.self.end = sample_proc(run.self.pid);
  sh.window_end.store(t_end);
  sh.stop.store(true);
  for (auto& t : threads) t.join();

  Stats total;
  std::string first_error;
  for (auto& w : workers) {
    total.merge(w->stats());
    if (first_error.empty()) first_error = w->first_error();
  }
  run.duration_s = static_cast<double>(t_end - measured_from) / 1e9;
  if (o.mode == Mode::Connect) run.duration_s = static_cast<double>(t_end - t0) / 1e9;
  if (run.duration_s < 0) run.duration_s = 0;
  nlohmann::json j = report_json(run, total);
  if (!first_error.empty()) j["first_error"] = first_error;
  bool json_stdout = o.json == "-";
  std::string text = report_text(j);
  if (!first_error.empty()) text += "first error: " + first_error + "\n";
  (json_stdout ? std::cerr : std::cout) << text << std::flush;
  if (!o.json.empty()) {
    if (json_stdout) {
      std::cout << j.dump(2) << std::endl;
    } else {
      std::ofstream f(o.json);
      f << j.dump(2) << "\n";
      if (!f) std::cerr << "sipws-load: cannot write " << o.json << "\n";
    }
  }

  std::uint64_t errors = total.error_total();
  double rate = total.operations + errors
                    ? static_cast<double>(errors) / static_cast<double>(total.operations + errors)
                    : 0.0;
  bool active = o.mode == Mode::Register || o.mode == Mode::Call || o.mode == Mode::Connect;
  if (sh.fatal.load() != 0) return 1;
  if (active && total.operations == 0) return 1;
  if (o.mode == Mode::Connect && total.registered < o.connections) return 1;
  return rate < 0.01 ? 0 : 1;
}
