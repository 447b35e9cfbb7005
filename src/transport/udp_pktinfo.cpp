#include "transport/udp_pktinfo.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/udp.hpp>
#include <cerrno>
#include <cstring>

namespace sipws::transport::pktinfo {
namespace {

using UdpEndpoint = boost::asio::ip::udp::endpoint;

/// `ep` as Asio lays it out for a socket of family v6 (IPv4 addresses mapped when v6): its
/// data() and size() are the sockaddr and its length.
UdpEndpoint for_socket(const Endpoint& ep, bool v6) {
  if (v6 && ep.address.is_v4()) {
    return UdpEndpoint(
        boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, ep.address.to_v4()), ep.port);
  }
  return UdpEndpoint(ep.address, ep.port);
}

/// As Asio reports a sender (IPv4 peers of a dual-stack socket stay IPv4-mapped).
Endpoint from_sockaddr(const sockaddr_storage& ss, socklen_t len) {
  UdpEndpoint ep;
  std::memcpy(ep.data(), &ss, std::min<std::size_t>(len, ep.capacity()));
  ep.resize(std::min<std::size_t>(len, ep.capacity()));
  return to_endpoint(ep);
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
  d.from = from_sockaddr(from, msg.msg_namelen);
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
  sockaddr_storage own{};
  socklen_t own_len = sizeof own;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&own), &own_len) != 0) return -1;
  const bool v6 = own.ss_family == AF_INET6;
  UdpEndpoint dst = for_socket(to, v6);
  iovec iov{const_cast<char*>(buf), len};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))]{};
  msghdr msg{};
  msg.msg_name = dst.data();
  msg.msg_namelen = static_cast<socklen_t>(dst.size());
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  cmsghdr* c = reinterpret_cast<cmsghdr*>(control);
  if (v6) {
    in6_pktinfo pi{};
    const UdpEndpoint src = for_socket(Endpoint{from, 0}, true);
    pi.ipi6_addr = reinterpret_cast<const sockaddr_in6*>(src.data())->sin6_addr;
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
  const UdpEndpoint dst = for_socket(Endpoint{peer, 9}, v6);
  std::optional<IpAddress> out;
  sockaddr_storage own{};
  socklen_t own_len = sizeof own;
  if (::connect(fd, dst.data(), static_cast<socklen_t>(dst.size())) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&own), &own_len) == 0) {
    out = unmapped(from_sockaddr(own, own_len).address);
  }
  ::close(fd);
  return out;
}

}  // namespace sipws::transport::pktinfo
