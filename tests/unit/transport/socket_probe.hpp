#pragma once
// Reads the state of one of this process's own TCP sockets, found by its addresses: the tests
// check what the kernel really has on the socket the code under test created.

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <cstring>
#include <optional>

#include "common/net.hpp"

namespace sipws::test {

/// The descriptor of the connected TCP socket of this process whose local address is `local`
/// and peer `peer`; -1 when there is none (fds 0..4095 are searched).
inline int tcp_socket_fd(const Endpoint& local, const Endpoint& peer) {
  auto addr_of = [](int fd, bool remote) -> std::optional<Endpoint> {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int rc = remote ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                          : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    if (rc != 0 || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) return std::nullopt;
    boost::asio::ip::tcp::endpoint ep;
    std::memcpy(ep.data(), &ss, len);
    return Endpoint{ep.address(), ep.port()};
  };
  for (int fd = 0; fd < 4096; ++fd) {
    if (addr_of(fd, false) == local && addr_of(fd, true) == peer) return fd;
  }
  return -1;
}

/// TCP_NODELAY of the connected socket of this process whose local address is `local` and peer
/// `peer`; nullopt when there is none.
inline std::optional<bool> tcp_no_delay(const Endpoint& local, const Endpoint& peer) {
  const int fd = tcp_socket_fd(local, peer);
  if (fd < 0) return std::nullopt;
  int on = 0;
  socklen_t len = sizeof on;
  if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) != 0) return std::nullopt;
  return on != 0;
}

/// Bytes on TCP socket `fd` that its owner has not read yet plus bytes it wrote that the peer
/// has not acknowledged yet (SIOCINQ + SIOCOUTQ); -1 on error (e.g. the socket is closed).
inline long tcp_bytes_in_flight(int fd) {
  int unread = 0;
  int unacked = 0;
  if (ioctl(fd, SIOCINQ, &unread) != 0 || ioctl(fd, SIOCOUTQ, &unacked) != 0) return -1;
  return static_cast<long>(unread) + unacked;
}

}  // namespace sipws::test
