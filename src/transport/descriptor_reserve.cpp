#include "transport/descriptor_reserve.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "common/log.hpp"

namespace sipws::transport {
namespace {

std::atomic<bool> g_exhausted{false};

// True when a connection waits on the listening socket (it may be blocking: never accept blind).
bool pending(int listen_fd) {
  pollfd p{listen_fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

}  // namespace

DescriptorReserve::DescriptorReserve() { acquire(); }

DescriptorReserve::~DescriptorReserve() {
  if (fd_ >= 0) ::close(fd_);
}

void DescriptorReserve::acquire() {
  if (fd_ < 0) fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

std::size_t DescriptorReserve::refuse_pending(int listen_fd, std::string_view refusal,
                                              std::size_t max) {
  std::size_t refused = 0;
  while (refused < max && pending(listen_fd)) {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    const int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c >= 0) {
      // A fresh socket's send buffer takes a short answer whole; a short write is as good as
      // none (the peer sees the connection close either way).
      if (!refusal.empty()) (void)!::send(c, refusal.data(), refusal.size(), MSG_NOSIGNAL);
      ::close(c);
      ++refused;
    }
    acquire();
    if (c < 0 && errno != EINTR && errno != ECONNABORTED) break;  // EAGAIN, or still EMFILE
  }
  acquire();
  return refused;
}

bool DescriptorReserve::is_exhaustion(int errno_value) {
  return errno_value == EMFILE || errno_value == ENFILE;
}

void DescriptorReserve::note_exhausted(std::string_view where) {
  if (g_exhausted.exchange(true, std::memory_order_relaxed)) return;
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  log::transport().warn(
      "out of file descriptors (RLIMIT_NOFILE {}) on {}: new connections are refused at once "
      "until some close; raise the limit (ulimit -n, systemd LimitNOFILE=) if this is load, "
      "not an attack",
      static_cast<unsigned long long>(lim.rlim_cur), where);
}

void DescriptorReserve::note_recovered() {
  if (!g_exhausted.load(std::memory_order_relaxed)) return;
  if (g_exhausted.exchange(false, std::memory_order_relaxed)) {
    log::transport().info("file descriptors available again: new connections are accepted");
  }
}

}  // namespace sipws::transport
