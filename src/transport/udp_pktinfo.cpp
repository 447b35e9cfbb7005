#include "transport/udp_pktinfo.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sipws::transport::pktinfo {
namespace {

/// `ep` as a sockaddr for a socket of family v6 (IPv4 addresses mapped when v6).
socklen_t to_sockaddr(const Endpoint& ep, bool v6, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (v6) {
    auto& s6 = reinterpret_cast<sockaddr_in6&>(ss);
    s6.sin6_family = AF_INET6;
    s6.sin6_port = htons(ep.port);
    const auto a = ep.address.is_v6() ? ep.address.to_v6()
                                      : boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped,
                                                                         ep.address.to_v4());
    const auto bytes = a.to_bytes();
    std::memcpy(&s6.sin6_addr, bytes.data(), bytes.size());
    s6.sin6_scope_id = a.scope_id();
    return sizeof(sockaddr_in6);
  }
  auto& s4 = reinterpret_cast<sockaddr_in&>(ss);
  s4.sin_family = AF_INET;
  s4.sin_port = htons(ep.port);
  const auto bytes = ep.address.to_v4().to_bytes();
  std::memcpy(&s4.sin_addr, bytes.data(), bytes.size());
  return sizeof(sockaddr_in);
}

/// As Asio reports a sender (IPv4 peers of a dual-stack socket stay IPv4-mapped).
Endpoint from_sockaddr(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET6) {
    const auto& s6 = reinterpret_cast<const sockaddr_in6&>(ss);
    boost::asio::ip::address_v6::bytes_type b{};
    std::memcpy(b.data(), &s6.sin6_addr, b.size());
    return Endpoint{boost::asio::ip::address_v6(b, s6.sin6_scope_id), ntohs(s6.sin6_port)};
  }
  const auto& s4 = reinterpret_cast<const sockaddr_in&>(ss);
  boost::asio::ip::address_v4::bytes_type b{};
  std::memcpy(b.data(), &s4.sin_addr, b.size());
  return Endpoint{boost::asio::ip::address_v4(b), ntohs(s4.sin_port)};
}

}  // namespace

bool enable(int fd, bool v6) {
  const int on = 1;
  if (v6) return ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) == 0;
  return ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) == 0;
}

std::optional<Datagram> receive(int fd, char* buf, std::size_t len) {
  sockaddr_storage from{};
  iovec iov{buf, len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(in_pktinfo))];
  msghdr msg{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
  if (n < 0) return std::nullopt;
  Datagram d;
  d.truncated = static_cast<std::size_t>(n) > len || (msg.msg_flags & MSG_TRUNC) != 0;
  d.size = d.truncated ? len : static_cast<std::size_t>(n);
  d.from = from_sockaddr(from);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo pi{};
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      boost::asio::ip::address_v4::bytes_type b{};
      std::memcpy(b.data(), &pi.ipi_addr, b.size());
      d.to = boost::asio::ip::address_v4(b);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo pi{};
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      boost::asio::ip::address_v6::bytes_type b{};
      std::memcpy(b.data(), &pi.ipi6_addr, b.size());
      d.to = unmapped(boost::asio::ip::address_v6(b));
    }
  }
  return d;
}

long send_from(int fd, const char* buf, std::size_t len, const Endpoint& to,
               const IpAddress& from) {
  sockaddr_storage dst{};
  sockaddr_storage own{};
  socklen_t own_len = sizeof own;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&own), &own_len) != 0) return -1;
  const bool v6 = own.ss_family == AF_INET6;
  const socklen_t dst_len = to_sockaddr(to, v6, dst);
  iovec iov{const_cast<char*>(buf), len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))]{};
  msghdr msg{};
  msg.msg_name = &dst;
  msg.msg_namelen = dst_len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  cmsghdr* c = reinterpret_cast<cmsghdr*>(control);
  if (v6) {
    in6_pktinfo pi{};
    sockaddr_storage src{};
    to_sockaddr(Endpoint{from, 0}, true, src);
    pi.ipi6_addr = reinterpret_cast<const sockaddr_in6&>(src).sin6_addr;
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    msg.msg_controllen = CMSG_SPACE(sizeof pi);
  } else {
    if (!from.is_v4()) {
      errno = EAFNOSUPPORT;
      return -1;
    }
    in_pktinfo pi{};
    const auto b = from.to_v4().to_bytes();
    std::memcpy(&pi.ipi_spec_dst, b.data(), b.size());
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof pi);
    std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    msg.msg_controllen = CMSG_SPACE(sizeof pi);
  }
  return ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

std::optional<IpAddress> route_source(const IpAddress& peer) {
  const bool v6 = peer.is_v6();
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_storage dst{};
  const socklen_t dst_len = to_sockaddr(Endpoint{peer, 9}, v6, dst);
  std::optional<IpAddress> out;
  sockaddr_storage own{};
  socklen_t own_len = sizeof own;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&dst), dst_len) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&own), &own_len) == 0) {
    out = unmapped(from_sockaddr(own).address);
  }
  ::close(fd);
  return out;
}

}  // namespace sipws::transport::pktinfo
