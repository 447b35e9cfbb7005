#include "transport/connection_limiter.hpp"

#include <charconv>
#include <map>

namespace sipws::transport {
namespace {

/// IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address (dual-stack sockets report these).
IpAddress canonical(const IpAddress& ip) {
  if (ip.is_v6() && ip.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, ip.to_v6());
  }
  return ip;
}

}  // namespace

bool IpNetwork::contains(const IpAddress& ip_in) const {
  const IpAddress ip = canonical(ip_in);
  if (ip.is_v4() != address.is_v4()) return false;
  if (ip.is_v4()) {
    const std::uint32_t a = ip.to_v4().to_uint();
    const std::uint32_t n = address.to_v4().to_uint();
    const std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
    return (a & mask) == (n & mask);
  }
  const auto a = ip.to_v6().to_bytes();
  const auto n = address.to_v6().to_bytes();
  unsigned bits = prefix;
  for (std::size_t i = 0; i < a.size() && bits > 0; ++i) {
    const unsigned take = bits >= 8 ? 8 : bits;
    const auto mask = static_cast<unsigned char>(0xffu << (8 - take));
    if ((a[i] & mask) != (n[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

std::string IpNetwork::to_string() const {
  return address.to_string() + "/" + std::to_string(prefix);
}

std::optional<IpNetwork> IpNetwork::parse(std::string_view text) {
  const auto slash = text.find('/');
  const std::string addr(text.substr(0, slash));
  boost::system::error_code ec;
  IpAddress ip = boost::asio::ip::make_address(addr, ec);
  if (ec) return std::nullopt;
  ip = canonical(ip);
  const unsigned width = ip.is_v4() ? 32 : 128;
  unsigned prefix = width;
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    auto [end, perr] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (perr != std::errc() || end != p.data() + p.size() || p.empty() || prefix > width) {
      return std::nullopt;
    }
  }
  return IpNetwork{ip, prefix};
}

struct ConnectionLimiter::Admission::State {
  std::size_t total = 0;
  std::map<IpAddress, std::size_t> per_ip;
};

ConnectionLimiter::Admission& ConnectionLimiter::Admission::operator=(Admission&& o) noexcept {
  if (this != &o) {
    release();
    state_ = std::move(o.state_);
    ip_ = o.ip_;
    counted_ = o.counted_;
    verdict_ = o.verdict_;
    o.counted_ = false;
  }
  return *this;
}

ConnectionLimiter::Admission::~Admission() { release(); }

void ConnectionLimiter::Admission::release() {
  if (!counted_ || !state_) return;
  counted_ = false;
  --state_->total;
  auto it = state_->per_ip.find(ip_);
  if (it != state_->per_ip.end() && --it->second == 0) state_->per_ip.erase(it);
}

ConnectionLimiter::ConnectionLimiter(ConnectionLimits limits)
    : limits_(std::move(limits)), state_(std::make_shared<Admission::State>()) {}

ConnectionLimiter::~ConnectionLimiter() = default;

ConnectionLimiter::Admission ConnectionLimiter::admit(const IpAddress& ip_in) {
  const IpAddress ip = canonical(ip_in);
  Admission a;
  if (limits_.max_total != 0 && state_->total >= limits_.max_total) {
    a.verdict_ = Verdict::TotalExceeded;
    return a;
  }
  bool exempt = false;
  for (const auto& n : limits_.exempt) exempt = exempt || n.contains(ip);
  auto& count = state_->per_ip[ip];
  if (!exempt && limits_.max_per_ip != 0 && count >= limits_.max_per_ip) {
    if (count == 0) state_->per_ip.erase(ip);
    a.verdict_ = Verdict::PerIpExceeded;
    return a;
  }
  ++count;
  ++state_->total;
  a.state_ = state_;
  a.ip_ = ip;
  a.counted_ = true;
  return a;
}

std::size_t ConnectionLimiter::total() const { return state_->total; }

std::size_t ConnectionLimiter::from(const IpAddress& ip) const {
  auto it = state_->per_ip.find(canonical(ip));
  return it == state_->per_ip.end() ? 0 : it->second;
}

}  // namespace sipws::transport
