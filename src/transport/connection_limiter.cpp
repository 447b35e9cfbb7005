#include "transport/connection_limiter.hpp"

#include <map>
#include <mutex>

namespace sipws::transport {

struct ConnectionLimiter::Admission::State {
  std::mutex mu;  // the shards accept on their own threads
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
  std::lock_guard lock(state_->mu);
  --state_->total;
  auto it = state_->per_ip.find(ip_);
  if (it != state_->per_ip.end() && --it->second == 0) state_->per_ip.erase(it);
}

ConnectionLimiter::ConnectionLimiter(ConnectionLimits limits)
    : limits_(std::move(limits)), state_(std::make_shared<Admission::State>()) {}

ConnectionLimiter::~ConnectionLimiter() = default;

ConnectionLimiter::Admission ConnectionLimiter::admit(const IpAddress& ip_in) {
  const IpAddress ip = unmapped(ip_in);
  Admission a;
  std::lock_guard lock(state_->mu);
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

std::size_t ConnectionLimiter::total() const {
  std::lock_guard lock(state_->mu);
  return state_->total;
}

std::size_t ConnectionLimiter::from(const IpAddress& ip) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->per_ip.find(unmapped(ip));
  return it == state_->per_ip.end() ? 0 : it->second;
}

}  // namespace sipws::transport
