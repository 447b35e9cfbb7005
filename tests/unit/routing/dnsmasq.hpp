#pragma once
// A real DNS server for the routing tests: dnsmasq (Debian dnsmasq-base) on 127.0.0.1 and a free
// high port, authoritative for the records it is given (--local: NXDOMAIN for anything else),
// started and stopped by PID.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace sipws::routing::test {

inline constexpr const char* kDnsmasq = "/usr/sbin/dnsmasq";

inline bool have_dnsmasq() { return ::access(kDnsmasq, X_OK) == 0; }

/// A port free for UDP and TCP on 127.0.0.1 (asked from the kernel, then released).
inline std::uint16_t free_port() {
  for (int attempt = 0; attempt < 20; ++attempt) {
    int u = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(u, reinterpret_cast<sockaddr*>(&a), &len);
    int t = ::socket(AF_INET, SOCK_STREAM, 0);
    const bool tcp_ok = ::bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    const std::uint16_t port = ntohs(a.sin_port);
    ::close(t);
    ::close(u);
    if (tcp_ok && port != 0) return port;
  }
  return 0;
}

/// True if something accepts TCP on 127.0.0.1:`port`. A connection to itself does not count:
/// when nothing listens on a port of the ephemeral range, the kernel may pick that very port as
/// the source and the connect "succeeds" (TCP simultaneous open).
inline bool tcp_listening(std::uint16_t port) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (ok) {
    sockaddr_in local{};
    socklen_t len = sizeof local;
    ok = ::getsockname(s, reinterpret_cast<sockaddr*>(&local), &len) == 0 &&
         local.sin_port != a.sin_port;
  }
  ::close(s);
  return ok;
}

/// dnsmasq with `records` (e.g. "--srv-host=...") plus --local=/<domain>/ and --local-ttl.
class Dnsmasq {
 public:
  /// Starts it on a free port; if dnsmasq exits at once (another process took the port between
  /// free_port() and its bind), again on another port, at most 5 times.
  Dnsmasq(const std::string& domain, const std::vector<std::string>& records, int ttl = 60) {
    for (int attempt = 0; attempt < 5 && !start(domain, records, ttl); ++attempt) {
    }
  }
  ~Dnsmasq() { stop(); }
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  bool running() const { return pid_ > 0 && tcp_listening(port_); }
  std::uint16_t port() const { return port_; }
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }

  /// SIGTERM by PID and reap.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  /// One start on a fresh port; false (and no process left) if dnsmasq exited or never
  /// accepted TCP within 2 s.
  bool start(const std::string& domain, const std::vector<std::string>& records, int ttl) {
    port_ = free_port();
    std::vector<std::string> args = {kDnsmasq,
                                     "--no-daemon",
                                     "--port=" + std::to_string(port_),
                                     "--listen-address=127.0.0.1",
                                     "--bind-interfaces",
                                     "--no-resolv",
                                     "--no-hosts",
                                     "--no-poll",
                                     "--conf-file=/dev/null",
                                     "--pid-file=",
                                     "--user=",
                                     "--local=/" + domain + "/",
                                     "--local-ttl=" + std::to_string(ttl),
                                     "--log-facility=/dev/null"};
    args.insert(args.end(), records.begin(), records.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawn(&pid_, kDnsmasq, nullptr, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
      return false;
    }
    // Ready once it accepts TCP on its port (it binds UDP and TCP together).
    for (int i = 0; i < 200; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: the port was taken
        pid_ = -1;
        return false;
      }
      if (tcp_listening(port_)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
    return false;
  }

  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace sipws::routing::test
