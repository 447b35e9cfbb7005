#include "common/net.hpp"

#include <boost/container_hash/hash.hpp>

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
  auto eq = [&](std::string_view t) {
    if (s.size() != t.size()) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
      char c = s[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != t[i]) return false;
    }
    return true;
  };
  if (eq("udp")) return Protocol::Udp;
  if (eq("tcp")) return Protocol::Tcp;
  if (eq("tls")) return Protocol::Tls;
  if (eq("ws")) return Protocol::Ws;
  if (eq("wss")) return Protocol::Wss;
  return std::nullopt;
}

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
  std::size_t h = 0;
  if (e.address.is_v4()) {
    boost::hash_combine(h, e.address.to_v4().to_uint());
  } else {
    for (auto b : e.address.to_v6().to_bytes()) boost::hash_combine(h, b);
  }
  boost::hash_combine(h, e.port);
  return h;
}
