#pragma once
// UDP on a wildcard address (0.0.0.0, ::) with the local address per datagram (issue 14,
// "addresses that work on real networks"): IP_PKTINFO / IPV6_PKTINFO (RFC 3542 s.6) tell which
// of the host's addresses a datagram was sent to, and choose the one a datagram is sent from,
// so that what sipws writes (Via, Record-Route) and where its answers come from are an address
// the peer can reach, not 0.0.0.0. Linux socket calls on the listener's descriptor.

#include <sys/socket.h>

#include <cstddef>
#include <optional>

#include "common/net.hpp"

namespace sipws::transport::pktinfo {

/// Asks the kernel for each datagram's destination address on UDP socket `fd` (IP_PKTINFO on an
/// IPv4 socket, IPV6_RECVPKTINFO on an IPv6 one: dual-stack sockets report IPv4 destinations as
/// IPv4-mapped addresses). Returns false (errno set) if the socket refuses.
bool enable(int fd, bool v6);

/// One datagram read.
struct Datagram {
  std::size_t size = 0;  ///< bytes read into the buffer (larger datagrams are truncated)
  bool truncated = false;
  Endpoint from;  ///< the sender, as Asio gives it (IPv4-mapped on dual stack)
  IpAddress to;   ///< the local address it was sent to (unmapped); unspecified
                  ///< when the kernel did not say
};

/// recvmsg() of one datagram into `buf` (non-blocking). Returns nullopt with errno set on error
/// (EAGAIN / EWOULDBLOCK when nothing is queued).
std::optional<Datagram> receive(int fd, char* buf, std::size_t len);

/// sendmsg() of `len` bytes to `to` with source address `from` (one of this host's addresses;
/// IPv4 on an IPv6 socket as IPv4-mapped). Returns the bytes sent or -1 with errno set.
long send_from(int fd, const char* buf, std::size_t len, const Endpoint& to, const IpAddress& from);

/// The address of this host that the kernel's routing table picks as the source of packets to
/// `peer` (a UDP socket connect()ed to it, then getsockname(); nothing is sent). nullopt when
/// there is no route.
std::optional<IpAddress> route_source(const IpAddress& peer);

}  // namespace sipws::transport::pktinfo
