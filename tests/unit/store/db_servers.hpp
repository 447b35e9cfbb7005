#pragma once
// Real database servers for the store tests: PostgreSQL and MariaDB from Debian's packages,
// started by the test process itself in a temporary folder on a free 127.0.0.1 port, stopped by
// PID. Nothing here uses a system server or its default port (5432 / 3306).
//
// A test asks for the process-wide server of a kind with SIPWS_DB_SERVER_OR_SKIP (skipped with
// the reason when the server cannot start, failed instead when SIPWS_REQUIRE_DB=1), then gets a
// fresh database from it:
//
//   TEST(PgStore, Works) {
//     SIPWS_DB_SERVER_OR_SKIP(server, DbKind::Postgres);
//     const std::string uri = server->create_database();  // postgresql://sipws:PW@127.0.0.1:P/N
//     ...
//   }
//
// The first use starts the server (PostgreSQL: initdb + postgres, as user `postgres` or `nobody`
// through setpriv when the test runs as root; MariaDB: mariadb-install-db + mariadbd) and makes the
// `sipws` user (random password; PostgreSQL: LOGIN CREATEDB, MariaDB: ALL on *.*). At exit the
// server is stopped and its folder removed; if the test process dies without exiting (crash,
// SIGKILL), the server gets SIGKILL from the kernel (parent-death signal) and only the folder is
// left in the temp dir.
//
// Child processes are run with fork + execve (argument vectors, never a shell) and a minimal
// environment (PATH, LC_ALL=C, TZ=UTC, HOME=the server's folder): PG*, MYSQL_* and the caller's
// option files cannot change what the clients do. Server output goes to a log file in the
// server's folder; a start failure's message ends with its last lines.
//
// Environment: SIPWS_REQUIRE_DB=1 (fail instead of skip), SIPWS_PG_BINDIR (PostgreSQL's programs
// elsewhere than the newest /usr/lib/postgresql/N/bin), SIPWS_DB_KEEP=1 (keep the folder at exit,
// to read the logs). ctest runs every test in a process of its own (gtest_discover_tests), so
// each database test there pays one server start (see startup_time()).

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace sipws::store::test {

/// The database servers the store supports besides SQLite.
enum class DbKind { Postgres, MariaDb };

/// "postgresql" / "mariadb": the kind's name in messages, test names and URI schemes' docs.
inline const char* db_kind_name(DbKind kind) {
  return kind == DbKind::Postgres ? "postgresql" : "mariadb";
}

/// Whether the tests must have real servers: the environment variable SIPWS_REQUIRE_DB is "1"
/// (CI sets it). Then a server that cannot start fails the test instead of skipping it.
inline bool db_required() {
  const char* v = std::getenv("SIPWS_REQUIRE_DB");
  return v != nullptr && std::string_view(v) == "1";
}

/// What a command-line client run gave: its exit code (128 + signal number when a signal ended
/// it, -1 when it could not be run or timed out: then `err` says why), its stdout and stderr.
struct ClientResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  /// Exit code 0.
  bool ok() const { return exit_code == 0; }
};

namespace db_detail {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// Poll interval of the bounded waits below (readiness, process exit).
inline constexpr milliseconds kPollInterval{20};
/// How long a server may take to accept connections after its start, and to exit after stop().
inline constexpr milliseconds kServerTimeout{30'000};
/// How long one client run (psql, mariadb, pg_isready) may take.
inline constexpr milliseconds kClientTimeout{30'000};
/// How long initdb / mariadb-install-db may take (2-core CI machines under load).
inline constexpr milliseconds kInitTimeout{120'000};
/// At most this much of a client's stdout or stderr is kept.
inline constexpr std::size_t kMaxOutput = 16u << 20;

/// "what: strerror(errno)".
inline std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

/// Closes a file descriptor at scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

/// A NULL-terminated char* array over owned strings, built before fork (the child only reads).
class CStrings {
 public:
  explicit CStrings(std::vector<std::string> v) : strings_(std::move(v)) {
    for (auto& s : strings_) ptrs_.push_back(s.data());
    ptrs_.push_back(nullptr);
  }
  CStrings(const CStrings&) = delete;
  CStrings& operator=(const CStrings&) = delete;
  char* const* get() const { return ptrs_.data(); }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> ptrs_;
};

/// Forks and execs `argv[0]` (an absolute path) with exactly `env`, its stdin/stdout/stderr on
/// `in_fd`/`out_fd`/`err_fd` and every other descriptor closed. With `die_with_parent` and when
/// called from the main thread, the child gets SIGKILL when this process dies (PR_SET_PDEATHSIG;
/// from another thread it would fire when that thread ends, so it is not set there). Returns the
/// child's PID, or -1 with `*why` set.
inline pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                   int in_fd, int out_fd, int err_fd, bool die_with_parent, std::string* why) {
  const CStrings args(argv);
  const CStrings envp(env);
  const pid_t parent = ::getpid();
  const bool pdeath = die_with_parent && ::gettid() == parent;
  const pid_t pid = ::fork();
  if (pid < 0) {
    *why = errno_text("fork");
    return -1;
  }
  if (pid == 0) {
    // Child of a possibly multi-threaded process: async-signal-safe calls only.
    if (pdeath && (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent)) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) {
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      ::sigaction(sig, &dfl, nullptr);
    }
    if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) _exit(127);
    if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0) {
      for (int fd = 3; fd < 65536; ++fd) ::close(fd);
    }
    ::execve(args.get()[0], args.get(), envp.get());
    static constexpr char kMsg[] = "db_servers.hpp: execve failed\n";
    if (::write(2, kMsg, sizeof kMsg - 1) < 0) {
    }
    _exit(127);
  }
  return pid;
}

/// The exit code of wait status `status`: WEXITSTATUS, or 128 + the signal number.
inline int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

/// Waits until child `pid` exited, at most `timeout` (polled every kPollInterval); returns its
/// wait status, or nullopt if it still runs. A child reaped elsewhere (ECHILD) counts as exited
/// with status 0.
inline std::optional<int> wait_exit(pid_t pid, milliseconds timeout,
                                    milliseconds interval = kPollInterval) {
  const auto deadline = Clock::now() + timeout;
  const long max_polls = timeout / interval + 2;
  for (long i = 0; i < max_polls; ++i) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno == ECHILD) return 0;
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(interval);
  }
  return std::nullopt;
}

/// SIGKILL to child `pid`, then reaps it (bounded: 10 s).
inline void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  wait_exit(pid, milliseconds(10'000), milliseconds(5));
}

/// Runs `argv` (absolute program path first) with environment `env` and stdin /dev/null, at most
/// `timeout` (then SIGKILL); captures its stdout and stderr (each up to kMaxOutput).
inline ClientResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                        milliseconds timeout = kClientTimeout) {
  ClientResult r;
  std::array<int, 2> out{-1, -1};
  std::array<int, 2> err{-1, -1};
  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (devnull.get() < 0 || ::pipe2(out.data(), O_CLOEXEC) != 0) {
    r.err = errno_text("pipe");
    return r;
  }
  Fd out_r(out[0]), out_w(out[1]);
  if (::pipe2(err.data(), O_CLOEXEC) != 0) {
    r.err = errno_text("pipe");
    return r;
  }
  Fd err_r(err[0]), err_w(err[1]);
  std::string why;
  const pid_t pid = spawn(argv, env, devnull.get(), out_w.get(), err_w.get(), true, &why);
  out_w.reset();
  err_w.reset();
  if (pid < 0) {
    r.err = why;
    return r;
  }
  const auto deadline = Clock::now() + timeout;
  std::array<pollfd, 2> fds{pollfd{out_r.get(), POLLIN, 0}, pollfd{err_r.get(), POLLIN, 0}};
  std::array<std::string*, 2> sinks{&r.out, &r.err};
  bool timed_out = false;
  // Bounded by the deadline; each round reads at least one chunk or hits it.
  for (long round = 0; round < 1'000'000 && (fds[0].fd >= 0 || fds[1].fd >= 0); ++round) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    const int n = ::poll(fds.data(), fds.size(), static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[8192];
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        if (sinks[i]->size() < kMaxOutput) sinks[i]->append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        fds[i].fd = -1;  // EOF (or error): poll ignores negative descriptors
      }
    }
  }
  std::optional<int> status;
  if (!timed_out) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    status = wait_exit(pid, std::max(left, milliseconds(1'000)), milliseconds(2));
  }
  if (!status) {
    kill_and_reap(pid);
    r.exit_code = -1;
    r.err += "\n[db_servers] " + argv[0] + " killed: not done within " +
             std::to_string(timeout.count()) + " ms";
    return r;
  }
  r.exit_code = exit_code(*status);
  return r;
}

/// Runs `argv` like run(), its stdout and stderr appended to file `log` instead of captured.
inline ClientResult run_logged(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env, const std::string& log,
                               milliseconds timeout) {
  ClientResult r;
  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  Fd logfd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (devnull.get() < 0 || logfd.get() < 0) {
    r.err = errno_text("open " + log);
    return r;
  }
  const pid_t pid = spawn(argv, env, devnull.get(), logfd.get(), logfd.get(), true, &r.err);
  if (pid < 0) return r;
  const auto status = wait_exit(pid, timeout);
  if (!status) {
    kill_and_reap(pid);
    r.err = argv[0] + " killed: not done within " + std::to_string(timeout.count()) + " ms";
    return r;
  }
  r.exit_code = exit_code(*status);
  return r;
}

/// The last `n` lines of file `path` from byte `offset` on (at most its last 64 KiB), or a note
/// that it cannot be read.
inline std::string tail_lines(const std::filesystem::path& path, std::size_t n,
                              std::uintmax_t offset = 0) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "(cannot read " + path.string() + ")";
  in.seekg(0, std::ios::end);
  const std::uintmax_t size = static_cast<std::uintmax_t>(in.tellg());
  const std::uintmax_t from = std::max<std::uintmax_t>(offset, size > 65536 ? size - 65536 : 0);
  if (from >= size) return "";
  in.seekg(static_cast<std::streamoff>(from));
  std::string text(static_cast<std::size_t>(size - from), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  while (!text.empty() && text.back() == '\n') text.pop_back();
  if (n == 0) return "";
  std::size_t start = text.size();
  for (std::size_t lines = 0; lines < n; ++lines) {
    const std::size_t nl = start == 0 ? std::string::npos : text.rfind('\n', start - 1);
    if (nl == std::string::npos) return text;
    start = nl;
  }
  return text.substr(start + 1);
}

/// `n` random characters from [0-9a-z] (std::random_device): passwords, nothing to quote in SQL or
/// URIs.
inline std::string random_alnum(std::size_t n) {
  static constexpr std::string_view kChars = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::random_device rd;
  std::uniform_int_distribution<std::size_t> pick(0, kChars.size() - 1);
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += kChars[pick(rd)];
  return s;
}

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick for port 0), never 3306
/// or 5432; 0 with `*why` set on failure.
inline int free_port(std::string* why) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (s.get() < 0 || ::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      *why = errno_text("free port on 127.0.0.1");
      return 0;
    }
    const int port = ntohs(a.sin_port);
    if (port != 3306 && port != 5432) return port;
  }
  *why = "no free port on 127.0.0.1 in 10 attempts";
  return 0;
}

/// Whether something accepts TCP connections on 127.0.0.1:`port` right now.
inline bool tcp_accepts(int port) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  return s.get() >= 0 && ::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
}

/// Whether `path` is an executable regular file.
inline bool executable(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

/// The first of `names` found executable in `dirs`, then in $PATH, then in the sbin folders
/// (not in a non-root user's PATH on Debian); "" when none is.
inline std::string find_program(const std::vector<std::string>& names,
                                const std::vector<std::string>& dirs = {}) {
  std::vector<std::string> search = dirs;
  if (const char* path = std::getenv("PATH")) {
    std::string_view p(path);
    for (std::size_t i = 0; i <= p.size() && search.size() < 256;) {
      const std::size_t colon = std::min(p.find(':', i), p.size());
      if (colon > i) search.emplace_back(p.substr(i, colon - i));
      i = colon + 1;
    }
  }
  for (const char* d : {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin"}) {
    search.emplace_back(d);
  }
  for (const auto& name : names) {
    for (const auto& dir : search) {
      const auto candidate = std::filesystem::path(dir) / name;
      if (executable(candidate)) return candidate.string();
    }
  }
  return "";
}

/// PostgreSQL's program folder: $SIPWS_PG_BINDIR, else the newest /usr/lib/postgresql/N/bin with
/// initdb (Debian), else the folder of an initdb in $PATH; "" when there is none.
inline std::string postgres_bindir() {
  if (const char* env = std::getenv("SIPWS_PG_BINDIR"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  int best_version = -1;
  std::string best;
  std::filesystem::directory_iterator it("/usr/lib/postgresql", ec);
  for (int i = 0; !ec && it != std::filesystem::directory_iterator() && i < 100; ++i) {
    const std::string name = it->path().filename().string();
    const int version = std::atoi(name.c_str());
    if (version > best_version && executable(it->path() / "bin" / "initdb")) {
      best_version = version;
      best = (it->path() / "bin").string();
    }
    it.increment(ec);
  }
  if (!best.empty()) return best;
  const std::string initdb = find_program({"initdb"});
  return initdb.empty() ? "" : std::filesystem::path(initdb).parent_path().string();
}

/// Why user `uid`/`gid` cannot reach `dir` (some parent folder without search permission for
/// it), or "" when it can.
inline std::string untraversable_parent(const std::filesystem::path& dir, uid_t uid, gid_t gid) {
  std::filesystem::path p = dir;
  for (int depth = 0; depth < 64 && p.has_relative_path(); ++depth) {
    p = p.parent_path();
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return errno_text("stat " + p.string());
    const bool ok = (st.st_mode & S_IXOTH) != 0 || (st.st_uid == uid && (st.st_mode & S_IXUSR)) ||
                    (st.st_gid == gid && (st.st_mode & S_IXGRP));
    if (!ok) return p.string() + " is not searchable by uid " + std::to_string(uid);
  }
  return "";
}

}  // namespace db_detail

/// A real server of `kind`, started for this test process in a temp folder on a free loopback
/// port. The `sipws` user has a random password; the superuser (PostgreSQL `postgres`, MariaDB
/// `root` or, when not run as root, the login name) connects over the unix socket in the folder
/// without one. Thread: one thread at a time (shared() itself is thread-safe).
class DbServer {
 public:
  /// The process-wide server of `kind`, started on first use (initialisation of a data folder,
  /// server start, `sipws` user: about 1-3 s). nullptr when it cannot be started: then `*why`
  /// (if given) gets the reason, e.g. "initdb not found" or the server's last log lines; the
  /// start is not tried again in this process. A server a previous test left stopped is started
  /// again. Stopped and its folder removed at exit. Call it from the test's main thread (see
  /// spawn(): the parent-death signal).
  static DbServer* shared(DbKind kind, std::string* why = nullptr) {
    static std::mutex mutex;
    static std::array<std::unique_ptr<DbServer>, 2> servers;
    static std::array<std::string, 2> errors;
    static std::array<bool, 2> tried{false, false};
    const std::lock_guard<std::mutex> lock(mutex);
    const auto i = static_cast<std::size_t>(kind);
    if (!tried[i]) {
      tried[i] = true;
      std::unique_ptr<DbServer> s(new DbServer(kind));
      if (s->init(&errors[i])) {
        servers[i] = std::move(s);
      } else {
        errors[i] = std::string(db_kind_name(kind)) + " server: " + errors[i];
      }
    }
    DbServer* s = servers[i].get();
    if (s != nullptr && !s->running()) {
      std::string err;
      if (!s->launch(&err)) {
        if (why != nullptr) *why = std::string(db_kind_name(kind)) + " server restart: " + err;
        return nullptr;
      }
    }
    if (s == nullptr && why != nullptr) *why = errors[i];
    return s;
  }

  DbServer(const DbServer&) = delete;
  DbServer& operator=(const DbServer&) = delete;

  /// Stops the server (see stop()) and removes its folder (kept with SIPWS_DB_KEEP set); in the
  /// process that started it only (a forked child leaves both alone).
  ~DbServer() {
    if (owner_ != ::getpid()) return;
    stop_quietly();
    if (!dir_.empty() && std::getenv("SIPWS_DB_KEEP") == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  /// A new empty database with a unique name ("sipws_test_N"), owned by (PostgreSQL) or usable
  /// by (MariaDB: ALL on *.*) the `sipws` user; returns uri() of it. On failure the current test
  /// fails (ADD_FAILURE) and "" is returned.
  std::string create_database() {
    const std::string name = "sipws_test_" + std::to_string(++databases_);
    const std::string sql = kind_ == DbKind::Postgres
                                ? "CREATE DATABASE \"" + name + "\" OWNER " + kUser
                                : "CREATE DATABASE `" + name + "`";
    const ClientResult r = superuser("", sql);
    if (!r.ok()) {
      ADD_FAILURE() << db_kind_name(kind_) << ": " << sql << " failed (exit " << r.exit_code
                    << "): " << r.err;
      return "";
    }
    return uri(name);
  }

  /// The URI of database `db` for the `sipws` user as sipws takes it:
  /// "postgresql://sipws:PW@127.0.0.1:PORT/DB" or "mysql://sipws:PW@127.0.0.1:PORT/DB".
  std::string uri(const std::string& db) const {
    return std::string(kind_ == DbKind::Postgres ? "postgresql" : "mysql") + "://" + kUser + ":" +
           password_ + "@127.0.0.1:" + std::to_string(port_) + "/" + db;
  }

  /// Runs `sql` (one or more statements) in database `db` ("" = PostgreSQL's `postgres`, no
  /// default database for MariaDB) as the superuser through the command-line client (psql /
  /// mariadb) over the unix socket; returns its stdout: the rows, one a line ending in '\n',
  /// columns separated by a tab, no header (PostgreSQL shows NULL as "", MariaDB as "NULL"). A
  /// failure (SQL error, server down, 30 s timeout) fails the current test (ADD_FAILURE) and
  /// returns "".
  std::string exec(const std::string& db, const std::string& sql) {
    const ClientResult r = superuser(db, sql);
    if (!r.ok()) {
      ADD_FAILURE() << db_kind_name(kind_) << " exec in '" << db << "' failed (exit " << r.exit_code
                    << "): " << r.err << "\nSQL: " << sql;
      return "";
    }
    return r.out;
  }

  /// Runs `sql` through the command-line client over TCP with the user, password, host, port and
  /// database of `uri` (as create_database() makes them: scheme://USER:PW@HOST:PORT/DB), as a
  /// remote client would: what a wrong password or a stopped server gives. Output as exec(); never
  /// fails the test (exit_code -1 and `err` for a URI it cannot parse).
  ClientResult query_uri(const std::string& uri, const std::string& sql) const {
    ClientResult bad;
    const std::size_t scheme_end = uri.find("://");
    const std::size_t colon = uri.find(':', scheme_end + 3);
    const std::size_t at = uri.rfind('@');
    const std::size_t slash = uri.find('/', at == std::string::npos ? 0 : at);
    const std::size_t port_colon = uri.rfind(':', slash);
    if (scheme_end == std::string::npos || colon == std::string::npos || at == std::string::npos ||
        colon > at || slash == std::string::npos || port_colon == std::string::npos ||
        port_colon < at) {
      bad.err = "cannot parse URI " + uri;
      return bad;
    }
    const std::string user = uri.substr(scheme_end + 3, colon - scheme_end - 3);
    const std::string password = uri.substr(colon + 1, at - colon - 1);
    const std::string host = uri.substr(at + 1, port_colon - at - 1);
    const std::string port = uri.substr(port_colon + 1, slash - port_colon - 1);
    const std::string db = uri.substr(slash + 1);
    std::vector<std::string> env = child_env();
    if (kind_ == DbKind::Postgres) {
      env.push_back("PGPASSWORD=" + password);
      env.push_back("PGCONNECT_TIMEOUT=5");
      return db_detail::run(
          {psql_, "-X", "-w", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
           "-h",  host, "-p", port, "-U", user, "-d", db,   "-c", sql},
          env);
    }
    return db_detail::run(
        {mariadb_, "--no-defaults", "--protocol=TCP", "-h", host, "-P", port, "-u", user,
         "--password=" + password, "--connect-timeout=5", "-N", "-B", "-D", db, "-e", sql},
        env);
  }

  /// Stops the server: PostgreSQL gets SIGINT ("fast" shutdown: open sessions are ended; its
  /// SIGTERM is "smart" and would wait for every client to disconnect), MariaDB SIGTERM; waits
  /// (bounded 30 s, then SIGKILL) until the process exited, so the database is down (connections
  /// refused). Data kept. Nothing when it is not running.
  void stop() {
    if (!stop_quietly()) {
      ADD_FAILURE() << db_kind_name(kind_) << " did not exit within 30 s of its stop signal: "
                    << "killed (SIGKILL)\n"
                    << db_detail::tail_lines(log_, 20);
    }
  }

  /// Starts it again on the same port and data folder; returns true once it accepts
  /// connections. On failure (port taken meanwhile, 30 s without readiness) the current test
  /// fails (ADD_FAILURE, with the server log's last lines) and false is returned. True at once
  /// when it runs.
  bool start() {
    if (running()) return true;
    std::string why;
    if (launch(&why)) return true;
    ADD_FAILURE() << db_kind_name(kind_) << " restart: " << why;
    return false;
  }

  /// Whether the server process runs (reaps it if it exited on its own).
  bool running() const {
    if (pid_ <= 0) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) pid_ = -1;
    return pid_ > 0;
  }
  /// The TCP port on 127.0.0.1 (the same across stop() / start()).
  int port() const { return port_; }
  /// The server's PID (PostgreSQL: the postmaster), -1 while stopped.
  pid_t pid() const { return running() ? pid_ : -1; }
  /// Which server this is.
  DbKind kind() const { return kind_; }
  /// The password of the `sipws` user (random, [0-9a-z]{24}).
  const std::string& password() const { return password_; }
  /// The server's temp folder (data, sockets, logs).
  const std::filesystem::path& dir() const { return dir_; }
  /// The server's log file (its stdout and stderr, appended across restarts).
  const std::filesystem::path& log_file() const { return log_; }
  /// Wall time of the first start: data folder initialisation, server start until it accepted
  /// connections, `sipws` user creation.
  std::chrono::milliseconds startup_time() const { return startup_time_; }

 private:
  static constexpr const char* kUser = "sipws";

  explicit DbServer(DbKind kind) : kind_(kind) {}

  /// PATH, LC_ALL=C, TZ=UTC and HOME=the folder: the environment of every child.
  std::vector<std::string> child_env() const {
    return {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C",
            "TZ=UTC", "HOME=" + (dir_.empty() ? std::string("/") : dir_.string())};
  }

  /// Runs `sql` in `db` as the superuser over the unix socket.
  ClientResult superuser(const std::string& db, const std::string& sql) const {
    if (kind_ == DbKind::Postgres) {
      return db_detail::run({psql_, "-X",
                             "-w",  "-q",
                             "-A",  "-t",
                             "-F",  "\t",
                             "-v",  "ON_ERROR_STOP=1",
                             "-h",  socket_dir_.string(),
                             "-p",  std::to_string(port_),
                             "-U",  "postgres",
                             "-d",  db.empty() ? "postgres" : db,
                             "-c",  sql},
                            child_env());
    }
    std::vector<std::string> argv{
        mariadb_, "--no-defaults", "--protocol=SOCKET",   "-S", socket_.string(),
        "-u",     superuser_,      "--connect-timeout=5", "-N", "-B"};
    if (!db.empty()) argv.insert(argv.end(), {"-D", db});
    argv.insert(argv.end(), {"-e", sql});
    return db_detail::run(argv, child_env());
  }

  /// `argv` run as the unprivileged server user when this process is root (setpriv), else as is.
  std::vector<std::string> as_server_user(std::vector<std::string> argv) const {
    if (!drop_privileges_) return argv;
    std::vector<std::string> out{setpriv_,
                                 "--reuid=" + std::to_string(run_uid_),
                                 "--regid=" + std::to_string(run_gid_),
                                 "--clear-groups",
                                 "--pdeathsig=SIGKILL",  // the uid change cleared prctl's
                                 "--"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
  }

  /// Finds the programs, makes the folder, initialises the data, starts the server on a free port
  /// (a second port if the first was taken meanwhile) and creates the `sipws` user.
  bool init(std::string* why) {
    const auto t0 = db_detail::Clock::now();
    owner_ = ::getpid();
    if (!find_programs(why) || !make_folder(why)) return false;
    const ClientResult init = initialise();
    if (!init.ok()) {
      *why = (kind_ == DbKind::Postgres ? "initdb" : "mariadb-install-db") +
             std::string(" failed (exit ") + std::to_string(init.exit_code) + ") " + init.err +
             "; last lines of " + init_log_.string() + ":\n" + db_detail::tail_lines(init_log_, 20);
      return false;
    }
    bool started = false;
    for (int attempt = 0; attempt < 2 && !started; ++attempt) {
      port_ = db_detail::free_port(why);
      if (port_ == 0) return false;
      std::error_code ec;
      const std::uintmax_t before =
          std::filesystem::exists(log_, ec) ? std::filesystem::file_size(log_, ec) : 0;
      started = launch(why);
      if (!started && db_detail::tail_lines(log_, 200, before).find("Address already in use") ==
                          std::string::npos) {
        return false;
      }
    }
    if (!started) return false;
    const std::string create =
        kind_ == DbKind::Postgres
            ? "CREATE ROLE " + std::string(kUser) + " LOGIN CREATEDB PASSWORD '" + password_ + "'"
            : "CREATE USER '" + std::string(kUser) + "'@'127.0.0.1' IDENTIFIED BY '" + password_ +
                  "'; CREATE USER '" + kUser + "'@'localhost' IDENTIFIED BY '" + password_ +
                  "'; GRANT ALL ON *.* TO '" + kUser + "'@'127.0.0.1'; GRANT ALL ON *.* TO '" +
                  kUser + "'@'localhost'";
    const ClientResult r = superuser("", create);
    if (!r.ok()) {
      *why = "creating the sipws user failed (exit " + std::to_string(r.exit_code) + "): " + r.err;
      return false;
    }
    startup_time_ =
        std::chrono::duration_cast<std::chrono::milliseconds>(db_detail::Clock::now() - t0);
    return true;
  }

  bool find_programs(std::string* why) {
    if (kind_ == DbKind::Postgres) {
      const std::string bindir = db_detail::postgres_bindir();
      if (bindir.empty()) {
        *why = "initdb not found (Debian package postgresql; or set SIPWS_PG_BINDIR)";
        return false;
      }
      initdb_ = bindir + "/initdb";
      server_ = bindir + "/postgres";
      psql_ = db_detail::find_program({"psql"}, {bindir});
      pg_isready_ = db_detail::find_program({"pg_isready"}, {bindir});
      for (const auto& [path, name] : {std::pair{initdb_, "initdb"},
                                       {server_, "postgres"},
                                       {psql_, "psql"},
                                       {pg_isready_, "pg_isready"}}) {
        if (!db_detail::executable(path)) {
          *why = std::string(name) + " not found (in " + bindir + " or PATH)";
          return false;
        }
      }
    } else {
      server_ = db_detail::find_program({"mariadbd", "mysqld"});
      initdb_ = db_detail::find_program({"mariadb-install-db", "mysql_install_db"});
      mariadb_ = db_detail::find_program({"mariadb", "mysql"});
      if (server_.empty()) *why = "mariadbd not found (Debian package mariadb-server)";
      if (initdb_.empty()) *why = "mariadb-install-db not found (Debian package mariadb-server)";
      if (mariadb_.empty()) *why = "mariadb client not found (Debian package mariadb-client)";
      if (server_.empty() || initdb_.empty() || mariadb_.empty()) return false;
      superuser_ = "root";
      if (::geteuid() != 0) {
        const passwd* pw = ::getpwuid(::geteuid());
        if (pw == nullptr) {
          *why = "no login name for uid " + std::to_string(::geteuid());
          return false;
        }
        superuser_ = pw->pw_name;
      }
    }
    return true;
  }

  /// The temp folder (mode 0711: the server user may traverse it) and its parts.
  bool make_folder(std::string* why) {
    std::error_code ec;
    const auto tmp = std::filesystem::temp_directory_path(ec);
    if (ec) {
      *why = "no temp dir: " + ec.message();
      return false;
    }
    std::string templ =
        (tmp / (std::string("sipws-db-") + db_kind_name(kind_) + "-XXXXXX")).string();
    if (::mkdtemp(templ.data()) == nullptr) {
      *why = db_detail::errno_text("mkdtemp " + templ);
      return false;
    }
    dir_ = templ;
    data_ = dir_ / "data";
    log_ = dir_ / (std::string(kind_ == DbKind::Postgres ? "postgres" : "mariadbd") + ".log");
    init_log_ = dir_ / (kind_ == DbKind::Postgres ? "initdb.log" : "install-db.log");
    socket_dir_ = dir_ / "run";
    socket_ = kind_ == DbKind::Postgres ? socket_dir_ : socket_dir_ / "mariadbd.sock";
    password_ = db_detail::random_alnum(24);
    // sun_path holds 107 characters; PostgreSQL's name is ".s.PGSQL.NNNNN".
    if ((socket_dir_ / ".s.PGSQL.65535.lock").string().size() > 100) {
      *why = "temp dir path too long for a unix socket: " + dir_.string() + " (set TMPDIR)";
      return false;
    }
    if (::chmod(dir_.c_str(), 0711) != 0 || ::mkdir(data_.c_str(), 0700) != 0 ||
        ::mkdir(socket_dir_.c_str(), 0755) != 0) {
      *why = db_detail::errno_text("preparing " + dir_.string());
      return false;
    }
    if (kind_ == DbKind::Postgres && ::geteuid() == 0) {
      // PostgreSQL refuses to run as root: run it as `postgres` (else `nobody`).
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) pw = ::getpwnam("nobody");
      setpriv_ = db_detail::find_program({"setpriv"});
      if (pw == nullptr || setpriv_.empty()) {
        *why = pw == nullptr ? "running as root and no user postgres or nobody to run postgres"
                             : "running as root and setpriv (util-linux) not found";
        return false;
      }
      drop_privileges_ = true;
      run_uid_ = pw->pw_uid;
      run_gid_ = pw->pw_gid;
      if (::chown(data_.c_str(), run_uid_, run_gid_) != 0 ||
          ::chown(socket_dir_.c_str(), run_uid_, run_gid_) != 0) {
        *why = db_detail::errno_text("chown to uid " + std::to_string(run_uid_));
        return false;
      }
      if (std::string e = db_detail::untraversable_parent(dir_, run_uid_, run_gid_); !e.empty()) {
        *why = e + " (postgres runs as uid " + std::to_string(run_uid_) + "; set TMPDIR)";
        return false;
      }
    }
    return true;
  }

  /// initdb / mariadb-install-db into data_, its output in init_log_.
  ClientResult initialise() const {
    if (kind_ == DbKind::Postgres) {
      return db_detail::run_logged(
          as_server_user({initdb_, "-D", data_.string(), "--auth-local=trust",
                          "--auth-host=scram-sha-256", "-U", "postgres", "-E", "UTF8", "--locale=C",
                          "--no-sync", "--no-instructions"}),
          child_env(), init_log_.string(), db_detail::kInitTimeout);
    }
    std::vector<std::string> argv{initdb_,
                                  "--no-defaults",
                                  "--datadir=" + data_.string(),
                                  "--auth-root-authentication-method=socket",
                                  "--auth-root-socket-user=" + superuser_,
                                  "--skip-test-db"};
    if (::geteuid() == 0) argv.push_back("--user=root");
    // Passed on to mariadbd --bootstrap: the same InnoDB sizes as the server.
    argv.insert(argv.end(), {"--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M",
                             "--innodb-use-native-aio=0", "--skip-log-bin"});
    return db_detail::run_logged(argv, child_env(), init_log_.string(), db_detail::kInitTimeout);
  }

  std::vector<std::string> server_argv() const {
    if (kind_ == DbKind::Postgres) {
      return as_server_user({server_, "-D", data_.string(), "-p", std::to_string(port_), "-k",
                             socket_dir_.string(), "-c", "listen_addresses=127.0.0.1", "-c",
                             "fsync=off", "-c", "full_page_writes=off", "-c",
                             "synchronous_commit=off", "-c", "shared_buffers=16MB"});
    }
    std::vector<std::string> argv{server_,
                                  "--no-defaults",
                                  "--datadir=" + data_.string(),
                                  "--port=" + std::to_string(port_),
                                  "--bind-address=127.0.0.1",
                                  "--socket=" + socket_.string(),
                                  "--pid-file=" + (dir_ / "mariadbd.pid").string(),
                                  "--tmpdir=" + dir_.string(),
                                  "--skip-log-bin",
                                  "--skip-name-resolve",
                                  "--innodb-buffer-pool-size=32M",
                                  "--innodb-log-file-size=8M",
                                  "--innodb-flush-log-at-trx-commit=0",
                                  "--innodb-use-native-aio=0"};
    if (::geteuid() == 0) argv.push_back("--user=root");
    return argv;
  }

  /// Whether the server answers its superuser over the unix socket.
  bool ready() const {
    if (kind_ == DbKind::Postgres) {
      return db_detail::run({pg_isready_, "-q", "-h", socket_dir_.string(), "-p",
                             std::to_string(port_), "-U", "postgres", "-d", "postgres", "-t", "2"},
                            child_env(), std::chrono::milliseconds(5'000))
          .ok();
    }
    return db_detail::run({mariadb_, "--no-defaults", "--protocol=SOCKET", "-S", socket_.string(),
                           "-u", superuser_, "--connect-timeout=2", "-N", "-B", "-e", "SELECT 1"},
                          child_env(), std::chrono::milliseconds(5'000))
        .ok();
  }

  /// Starts the server on port_ (output appended to log_) and waits (bounded 30 s) until ready().
  bool launch(std::string* why) {
    const std::string name = db_kind_name(kind_);
    db_detail::Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    db_detail::Fd logfd(::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (devnull.get() < 0 || logfd.get() < 0) {
      *why = db_detail::errno_text("open " + log_.string());
      return false;
    }
    std::error_code ec;
    const std::uintmax_t log_start =
        std::filesystem::exists(log_, ec) ? std::filesystem::file_size(log_, ec) : 0;
    const pid_t pid = db_detail::spawn(server_argv(), child_env(), devnull.get(), logfd.get(),
                                       logfd.get(), true, why);
    if (pid < 0) return false;
    pid_ = pid;
    const auto log_tail = [&] {
      return "; last lines of " + log_.string() + ":\n" +
             db_detail::tail_lines(log_, 20, log_start);
    };
    const auto deadline = db_detail::Clock::now() + db_detail::kServerTimeout;
    const long max_polls = db_detail::kServerTimeout / db_detail::kPollInterval + 2;
    for (long i = 0; i < max_polls; ++i) {
      if (!running()) {
        *why = name + " (pid " + std::to_string(pid) + ") exited before accepting connections" +
               log_tail();
        return false;
      }
      if (ready()) return true;
      if (db_detail::Clock::now() >= deadline) break;
      std::this_thread::sleep_for(db_detail::kPollInterval);
    }
    stop_quietly();
    *why = name + " not accepting connections within 30 s on port " + std::to_string(port_) +
           log_tail();
    return false;
  }

  /// stop() without test failures: false when the server had to be killed.
  bool stop_quietly() {
    if (!running()) return true;
    ::kill(pid_, kind_ == DbKind::Postgres ? SIGINT : SIGTERM);
    const bool exited =
        db_detail::wait_exit(pid_, db_detail::kServerTimeout, std::chrono::milliseconds(5))
            .has_value();
    if (!exited) db_detail::kill_and_reap(pid_);
    pid_ = -1;
    return exited;
  }

  DbKind kind_;
  pid_t owner_ = -1;
  mutable pid_t pid_ = -1;
  int port_ = 0;
  int databases_ = 0;
  std::string password_;
  std::filesystem::path dir_, data_, log_, init_log_, socket_dir_, socket_;
  std::string initdb_, server_, psql_, pg_isready_, mariadb_, setpriv_, superuser_;
  bool drop_privileges_ = false;
  uid_t run_uid_ = 0;
  gid_t run_gid_ = 0;
  std::chrono::milliseconds startup_time_{0};
};

}  // namespace sipws::store::test

/// Declares `::sipws::store::test::DbServer* var` = DbServer::shared(kind). When that server
/// cannot be started, the test is skipped with the reason (GTEST_SKIP), or fails with it (FAIL)
/// when SIPWS_REQUIRE_DB=1; either way the enclosing function returns. Use it in a TEST body or
/// a fixture's SetUp() (functions returning void).
#define SIPWS_DB_SERVER_OR_SKIP(var, kind)                                                 \
  /* NOLINTNEXTLINE(bugprone-macro-parentheses): `var` is the name declared */             \
  ::sipws::store::test::DbServer* var = nullptr;                                           \
  do {                                                                                     \
    std::string sipws_db_why_;                                                             \
    (var) = ::sipws::store::test::DbServer::shared((kind), &sipws_db_why_);                \
    if ((var) == nullptr) {                                                                \
      if (::sipws::store::test::db_required()) {                                           \
        FAIL() << sipws_db_why_ << " (SIPWS_REQUIRE_DB=1: a database server is required)"; \
      }                                                                                    \
      GTEST_SKIP() << sipws_db_why_ << " (set SIPWS_REQUIRE_DB=1 to fail instead)";        \
    }                                                                                      \
  } while (false)
