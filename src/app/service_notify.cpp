#include "app/service_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/log.hpp"

namespace sipws::app {

// Why not libsystemd's sd_notify(): the notification protocol is one datagram of text to the
// AF_UNIX socket in $NOTIFY_SOCKET, documented as a stable interface that services may implement
// themselves (sd_notify(3); newer editions of that page include a standalone implementation).
// Linking libsystemd would add a run-time library for these few lines, and on Debian 12 its -dev
// package pulls an upgrade of systemd itself onto every build and CI machine. This sends what we
// use (READY, RELOADING, STOPPING, STATUS); no file descriptors, no watchdog.
bool notify_service_manager(std::string_view state) {
  const char* env = std::getenv("NOTIFY_SOCKET");  // NOLINT(concurrency-mt-unsafe): read-only
  if (env == nullptr || env[0] == '\0') return false;
  const std::string path = env;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if ((path[0] != '/' && path[0] != '@') || path.size() >= sizeof(addr.sun_path)) {
    log::app().debug("NOTIFY_SOCKET '{}' is not a socket path; no notification", path);
    return false;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    log::app().debug("notify socket: {}", std::strerror(errno));
    return false;
  }
  const ssize_t n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&addr), len);
  const int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(state.size())) {
    log::app().debug("notify to {} failed: {}", path, std::strerror(err));
    return false;
  }
  return true;
}

}  // namespace sipws::app
