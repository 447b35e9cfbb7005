// The real-server harness of db_servers.hpp, for each kind: the shared server starts on a free
// loopback port, create_database() gives distinct databases, the sipws user's password in the URI
// works over TCP and a wrong one is refused, stop() makes connecting fail and start() brings the
// server back with its data, and the server and its folder are gone after the test process exits
// (normally, or killed: the parent-death signal).

#include "db_servers.hpp"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

namespace sipws::store::test {
namespace {

using std::chrono::milliseconds;

class DbServerTest : public ::testing::TestWithParam<DbKind> {};

/// `uri` with its password `password` replaced by `replacement`.
std::string with_password(std::string uri, const std::string& password,
                          const std::string& replacement) {
  const std::size_t at = uri.find(":" + password + "@");
  if (at != std::string::npos) uri.replace(at + 1, password.size(), replacement);
  return uri;
}

/// The database name at the end of `uri`.
std::string db_name(const std::string& uri) { return uri.substr(uri.rfind('/') + 1); }

long elapsed_ms(std::chrono::steady_clock::time_point since) {
  return static_cast<long>(
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - since).count());
}

TEST_P(DbServerTest, StartsOnAFreeLoopbackPortAndCreatesDistinctDatabases) {
  const auto t0 = std::chrono::steady_clock::now();
  SIPWS_DB_SERVER_OR_SKIP(server, GetParam());
  const long first_call_ms = elapsed_ms(t0);
  EXPECT_EQ(server->kind(), GetParam());
  EXPECT_TRUE(server->running());
  EXPECT_GT(server->pid(), 0);
  EXPECT_GT(server->port(), 0);
  EXPECT_NE(server->port(), 3306);
  EXPECT_NE(server->port(), 5432);
  EXPECT_TRUE(db_detail::tcp_accepts(server->port()));
  EXPECT_TRUE(std::filesystem::is_directory(server->dir()));

  const std::string a = server->create_database();
  const std::string b = server->create_database();
  EXPECT_NE(a, b);
  const std::string prefix = std::string(GetParam() == DbKind::Postgres ? "postgresql" : "mysql") +
                             "://sipws:" + server->password() +
                             "@127.0.0.1:" + std::to_string(server->port()) + "/";
  EXPECT_EQ(a.rfind(prefix, 0), 0u) << a;
  EXPECT_EQ(b.rfind(prefix, 0), 0u) << b;
  EXPECT_EQ(server->password().size(), 24u);
  // Both exist, as the superuser sees the catalogue.
  const std::string list =
      GetParam() == DbKind::Postgres
          ? server->exec("", "SELECT datname FROM pg_database WHERE datname LIKE 'sipws_test_%'")
          : server->exec("", "SHOW DATABASES LIKE 'sipws\\_test\\_%'");
  EXPECT_NE(list.find(db_name(a) + "\n"), std::string::npos) << list;
  EXPECT_NE(list.find(db_name(b) + "\n"), std::string::npos) << list;

  std::cout << "[db_servers] " << db_kind_name(GetParam()) << ": first start "
            << server->startup_time().count() << " ms (this call " << first_call_ms << " ms), port "
            << server->port() << ", pid " << server->pid() << "\n";
  RecordProperty("startup_ms", static_cast<int>(server->startup_time().count()));
}

TEST_P(DbServerTest, SipwsPasswordWorksOverTcpAndAWrongOneIsRefused) {
  SIPWS_DB_SERVER_OR_SKIP(server, GetParam());
  const std::string uri = server->create_database();
  ASSERT_FALSE(uri.empty());

  // The sipws user creates a table in its database over TCP 127.0.0.1:port.
  ClientResult r = server->query_uri(uri, "CREATE TABLE t (x INT)");
  ASSERT_TRUE(r.ok()) << r.err;
  r = server->query_uri(uri, "INSERT INTO t VALUES (42)");
  ASSERT_TRUE(r.ok()) << r.err;
  r = server->query_uri(uri, "SELECT x FROM t");
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_EQ(r.out, "42\n");
  // The superuser sees the row in that database; columns come tab-separated.
  EXPECT_EQ(server->exec(db_name(uri), "SELECT x, 'a' FROM t"), "42\ta\n");

  const ClientResult wrong = server->query_uri(
      with_password(uri, server->password(), "wrong" + server->password()), "SELECT 1");
  EXPECT_FALSE(wrong.ok());
  EXPECT_NE(wrong.err.find(GetParam() == DbKind::Postgres ? "password authentication failed"
                                                          : "Access denied"),
            std::string::npos)
      << wrong.err;
  const ClientResult no_password =
      server->query_uri(with_password(uri, server->password(), ""), "SELECT 1");
  EXPECT_FALSE(no_password.ok()) << no_password.out;
}

TEST_P(DbServerTest, StopRefusesConnectionsAndStartKeepsTheData) {
  SIPWS_DB_SERVER_OR_SKIP(server, GetParam());
  const std::string uri = server->create_database();
  ASSERT_FALSE(uri.empty());
  ClientResult r = server->query_uri(uri, "CREATE TABLE kept (x INT)");
  ASSERT_TRUE(r.ok()) << r.err;
  r = server->query_uri(uri, "INSERT INTO kept VALUES (7)");
  ASSERT_TRUE(r.ok()) << r.err;

  const pid_t before = server->pid();
  const int port = server->port();
  auto t0 = std::chrono::steady_clock::now();
  server->stop();
  const long stop_ms = elapsed_ms(t0);
  EXPECT_FALSE(server->running());
  EXPECT_EQ(server->pid(), -1);
  EXPECT_EQ(::kill(before, 0), -1) << "pid " << before << " still exists";
  EXPECT_FALSE(db_detail::tcp_accepts(port));
  r = server->query_uri(uri, "SELECT x FROM kept");
  EXPECT_FALSE(r.ok()) << r.out;
  EXPECT_TRUE(r.err.find("refused") != std::string::npos ||
              r.err.find("Can't connect") != std::string::npos)
      << r.err;
  server->stop();  // stopping a stopped server does nothing

  t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(server->start());
  const long start_ms = elapsed_ms(t0);
  EXPECT_TRUE(server->running());
  EXPECT_EQ(server->port(), port);
  EXPECT_GT(server->pid(), 0);
  EXPECT_NE(server->pid(), before);
  EXPECT_TRUE(db_detail::tcp_accepts(port));
  r = server->query_uri(uri, "SELECT x FROM kept");
  ASSERT_TRUE(r.ok()) << r.err;
  EXPECT_EQ(r.out, "7\n");
  EXPECT_TRUE(server->start());  // starting a running server does nothing
  std::cout << "[db_servers] " << db_kind_name(GetParam()) << ": stop " << stop_ms
            << " ms, restart " << start_ms << " ms\n";
}

TEST_P(DbServerTest, StartFailureFailsTheTestWithTheServerLog) {
  SIPWS_DB_SERVER_OR_SKIP(server, GetParam());
  static DbServer* s;  // EXPECT_NONFATAL_FAILURE's statement sees no locals
  static bool started;
  s = server;
  server->stop();
  // Something else listens on the server's port meanwhile.
  db_detail::Fd blocker(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(server->port()));
  // SO_REUSEADDR as the servers set it: the connections stop() closed left TIME_WAIT entries.
  const int on = 1;
  ASSERT_EQ(::setsockopt(blocker.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
  ASSERT_EQ(::bind(blocker.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0)
      << std::strerror(errno);
  ASSERT_EQ(::listen(blocker.get(), 1), 0);
  // The failure names the log and quotes its last lines: the server's own bind error.
  EXPECT_NONFATAL_FAILURE(started = s->start(), "Address already in use");
  EXPECT_FALSE(started);
  EXPECT_FALSE(server->running());
  blocker.reset();
  ASSERT_TRUE(server->start());
  EXPECT_EQ(server->exec("", "SELECT 1"), "1\n");
}

TEST_P(DbServerTest, ExecFailureFailsTheTest) {
  SIPWS_DB_SERVER_OR_SKIP(server, GetParam());
  static DbServer* s;  // EXPECT_NONFATAL_FAILURE's statement sees no locals
  s = server;
  EXPECT_NONFATAL_FAILURE(EXPECT_EQ(s->exec("", "SELEC 1"), ""), "exec in '' failed");
  EXPECT_EQ(s->exec("", "SELECT 1"), "1\n");
}

INSTANTIATE_TEST_SUITE_P(DbServer, DbServerTest,
                         ::testing::Values(DbKind::Postgres, DbKind::MariaDb),
                         [](const ::testing::TestParamInfo<DbKind>& info) {
                           return std::string(db_kind_name(info.param));
                         });

TEST(DbServerHarness, KindNames) {
  EXPECT_STREQ(db_kind_name(DbKind::Postgres), "postgresql");
  EXPECT_STREQ(db_kind_name(DbKind::MariaDb), "mariadb");
}

// --- Clean-up at exit: this binary run again as a child that starts a server, then exits. ---

/// Run only in the child (SIPWS_DB_CHILD_KIND set, --gtest_also_run_disabled_tests): starts the
/// shared server, prints its folder and PID, then returns (normal exit: static destructors) or,
/// with SIPWS_DB_CHILD_MODE=kill, SIGKILLs itself (no clean-up code runs).
TEST(DbServerChild, DISABLED_StartThenExit) {
  const char* kind = std::getenv("SIPWS_DB_CHILD_KIND");
  ASSERT_NE(kind, nullptr);
  SIPWS_DB_SERVER_OR_SKIP(server,
                          std::string(kind) == "postgresql" ? DbKind::Postgres : DbKind::MariaDb);
  std::printf("SIPWS_DB_CHILD dir=%s\nSIPWS_DB_CHILD pid=%d\n", server->dir().c_str(),
              static_cast<int>(server->pid()));
  std::fflush(stdout);
  const char* mode = std::getenv("SIPWS_DB_CHILD_MODE");
  if (mode != nullptr && std::string(mode) == "kill") ::raise(SIGKILL);
}

/// The value after "SIPWS_DB_CHILD key=" in `out`, or "".
std::string child_value(const std::string& out, const std::string& key) {
  const std::string tag = "SIPWS_DB_CHILD " + key + "=";
  const std::size_t at = out.find(tag);
  if (at == std::string::npos) return "";
  const std::size_t end = out.find('\n', at);
  return out.substr(at + tag.size(), end - at - tag.size());
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet: dead all the same).
bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const std::size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

class DbServerCleanupTest : public ::testing::TestWithParam<std::tuple<DbKind, const char*>> {};

TEST_P(DbServerCleanupTest, ServerStoppedWhenTheTestProcessEnds) {
  const auto [kind, mode] = GetParam();
  // Skips (or fails) here as the child would, without starting the child.
  SIPWS_DB_SERVER_OR_SKIP(server, kind);
  std::vector<std::string> env{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                               "LC_ALL=C", std::string("SIPWS_DB_CHILD_KIND=") + db_kind_name(kind),
                               std::string("SIPWS_DB_CHILD_MODE=") + mode};
  if (const char* tmp = std::getenv("TMPDIR")) env.push_back(std::string("TMPDIR=") + tmp);
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const ClientResult r =
      db_detail::run({self, "--gtest_also_run_disabled_tests", "--gtest_filter=DbServerChild.*"},
                     env, milliseconds(120'000));
  const std::string dir = child_value(r.out, "dir");
  const pid_t pid = static_cast<pid_t>(std::atoi(child_value(r.out, "pid").c_str()));
  ASSERT_FALSE(dir.empty()) << r.out << r.err;
  ASSERT_GT(pid, 0) << r.out;
  if (std::string(mode) == "kill") {
    EXPECT_EQ(r.exit_code, 128 + SIGKILL) << r.out;
    // The kernel sends the server SIGKILL when its parent died; it dies at once (bounded wait).
    bool gone = false;
    for (int i = 0; i < 500 && !gone; ++i) {
      gone = process_gone(pid);
      if (!gone) std::this_thread::sleep_for(milliseconds(10));
    }
    EXPECT_TRUE(gone) << "server pid " << pid << " outlived its killed parent";
    // No clean-up code ran: the folder is left; remove it (a dying server's helpers may still
    // write a file, so retry a few times).
    std::error_code ec;
    for (int i = 0; i < 50 && std::filesystem::exists(dir); ++i) {
      std::filesystem::remove_all(dir, ec);
      if (std::filesystem::exists(dir)) std::this_thread::sleep_for(milliseconds(20));
    }
    EXPECT_FALSE(std::filesystem::exists(dir));
  } else {
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_TRUE(process_gone(pid)) << "server pid " << pid << " still runs after its test exited";
    EXPECT_FALSE(std::filesystem::exists(dir)) << dir << " left after its test exited";
  }
}

INSTANTIATE_TEST_SUITE_P(DbServer, DbServerCleanupTest,
                         ::testing::Combine(::testing::Values(DbKind::Postgres, DbKind::MariaDb),
                                            ::testing::Values("exit", "kill")),
                         [](const ::testing::TestParamInfo<std::tuple<DbKind, const char*>>& info) {
                           return std::string(db_kind_name(std::get<0>(info.param))) + "_" +
                                  std::get<1>(info.param);
                         });

}  // namespace
}  // namespace sipws::store::test
