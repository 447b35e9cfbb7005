#include "common/net.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <boost/container_hash/hash.hpp>
#include <charconv>
#include <cstring>

#include "common/text.hpp"

namespace sipws {

std::string_view via_token(Protocol p) {
  switch (p) {
    case Protocol::Udp:
      return "UDP";
    case Protocol::Tcp:
      return "TCP";
    case Protocol::Tls:
      return "TLS";
    case Protocol::Ws:
      return "WS";
    case Protocol::Wss:
      return "WSS";
  }
  return "UDP";
}

std::string_view lower_name(Protocol p) {
  switch (p) {
    case Protocol::Udp:
      return "udp";
    case Protocol::Tcp:
      return "tcp";
    case Protocol::Tls:
      return "tls";
    case Protocol::Ws:
      return "ws";
    case Protocol::Wss:
      return "wss";
  }
  return "udp";
}

std::optional<Protocol> protocol_from_string(std::string_view s) {
  auto eq = [&](std::string_view t) { return text::iequal(s, t); };
  if (eq("udp")) return Protocol::Udp;
  if (eq("tcp")) return Protocol::Tcp;
  if (eq("tls")) return Protocol::Tls;
  if (eq("ws")) return Protocol::Ws;
  if (eq("wss")) return Protocol::Wss;
  return std::nullopt;
}

std::optional<IpAddress> parse_ip(std::string_view text) {
  boost::system::error_code ec;
  const IpAddress a = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return a;
}

IpAddress unmapped(const IpAddress& ip) {
  if (ip.is_v6() && ip.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, ip.to_v6());
  }
  return ip;
}

bool is_private(const IpAddress& ip) {
  const IpAddress a = unmapped(ip);
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    return b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168) ||
           (b[0] == 100 && (b[1] & 0xc0) == 64) || (b[0] == 169 && b[1] == 254);
  }
  const auto b = a.to_v6().to_bytes();
  return (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80);
}

std::vector<IpAddress> host_addresses() {
  std::vector<IpAddress> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || (i->ifa_flags & IFF_UP) == 0) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      const auto* s4 = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      boost::asio::ip::address_v4::bytes_type b{};
      std::memcpy(b.data(), &s4->sin_addr, b.size());
      out.emplace_back(boost::asio::ip::address_v4(b));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      const auto* s6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      boost::asio::ip::address_v6::bytes_type b{};
      std::memcpy(b.data(), &s6->sin6_addr, b.size());
      const boost::asio::ip::address_v6 a(b);
      if (!a.is_link_local()) out.emplace_back(a);  // a link-local one needs its interface
    }
  }
  ::freeifaddrs(list);
  return out;
}

std::size_t IpAddressHash::operator()(const IpAddress& ip) const noexcept {
  std::size_t h = 0;
  if (ip.is_v4()) {
    boost::hash_combine(h, ip.to_v4().to_uint());
  } else {
    boost::hash_combine(h, std::size_t{6});
    for (auto b : ip.to_v6().to_bytes()) boost::hash_combine(h, b);
  }
  return h;
}

IpNetwork::IpNetwork(const IpAddress& ip_in, unsigned prefix) {
  const IpAddress ip = unmapped(ip_in);
  v4_ = ip.is_v4();
  if (v4_) {
    net4_ = boost::asio::ip::make_network_v4(ip.to_v4(), static_cast<unsigned short>(prefix));
  } else {
    net6_ = boost::asio::ip::make_network_v6(ip.to_v6(), static_cast<unsigned short>(prefix));
  }
}

std::optional<IpNetwork> IpNetwork::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto parsed = parse_ip(text.substr(0, slash));
  if (!parsed) return std::nullopt;
  const IpAddress& written = *parsed;
  const bool mapped = written.is_v6() && written.to_v6().is_v4_mapped();
  const unsigned width = written.is_v4() ? 32 : 128;
  unsigned prefix = width;
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    auto [end, perr] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || perr != std::errc() || end != p.data() + p.size() || prefix > width) {
      return std::nullopt;
    }
  }
  if (mapped) {
    if (prefix < 96) return std::nullopt;  // wider than the mapped range: not an IPv4 network
    prefix -= 96;
  }
  return IpNetwork(written, prefix);
}

bool IpNetwork::contains(const IpAddress& ip_in) const {
  const IpAddress ip = unmapped(ip_in);
  if (ip.is_v4() != v4_) return false;
  // The network of `ip` at our prefix length is ours iff `ip` is inside it.
  if (v4_) {
    return boost::asio::ip::make_network_v4(ip.to_v4(), net4_.prefix_length()).network() ==
           net4_.network();
  }
  // Bytes only: a link-local peer's scope id (fe80::1%eth0) does not take it out of fe80::/10.
  return boost::asio::ip::make_network_v6(ip.to_v6(), net6_.prefix_length()).network().to_bytes() ==
         net6_.network().to_bytes();
}

IpAddress IpNetwork::address() const {
  return v4_ ? IpAddress(net4_.address()) : IpAddress(net6_.address());
}

unsigned IpNetwork::prefix() const { return v4_ ? net4_.prefix_length() : net6_.prefix_length(); }

std::string IpNetwork::to_string() const { return v4_ ? net4_.to_string() : net6_.to_string(); }

std::string Endpoint::host_string() const {
  std::string ip = address.to_string();
  if (!address.is_v6()) return ip;
  std::string s;
  s.reserve(ip.size() + 2);
  s += '[';
  s += ip;
  s += ']';
  return s;
}

std::string Endpoint::to_string() const { return host_string() + ":" + std::to_string(port); }

}  // namespace sipws

std::size_t std::hash<sipws::Endpoint>::operator()(const sipws::Endpoint& e) const noexcept {
  std::size_t h = sipws::IpAddressHash{}(e.address);
  boost::hash_combine(h, e.port);
  return h;
}
