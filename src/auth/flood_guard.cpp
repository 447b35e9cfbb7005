#include "auth/flood_guard.hpp"

#include <algorithm>
#include <utility>

namespace sipws::auth {

FloodGuard::FloodGuard(TimerService& timers, FloodGuardConfig cfg)
    : timers_(timers),
      cfg_(std::move(cfg)),
      blocked_requests_(SIPWS_COUNTER("flood_blocked_requests")),
      blocks_(SIPWS_COUNTER("flood_blocks")) {
  cfg_.max_tracked = std::max<std::size_t>(cfg_.max_tracked, 1);
}

void FloodGuard::erase(SlotList& list, SlotList::iterator pos) {
  entries_.erase(entries_.find(*pos->ip));  // find first: the key pointer points into the node
  list.erase(pos);
}

void FloodGuard::expire(TimePoint now) {
  while (!blocked_.empty() && blocked_.front().entry->blocked_until <= now) {
    erase(blocked_, blocked_.begin());
  }
  while (!counting_.empty() && now - counting_.front().entry->window_start >= cfg_.window) {
    erase(counting_, counting_.begin());
  }
}

void FloodGuard::make_room() {
  while (entries_.size() >= cfg_.max_tracked) {
    if (!counting_.empty()) {
      erase(counting_, counting_.begin());
    } else if (!blocked_.empty()) {
      erase(blocked_, blocked_.begin());
    } else {
      break;
    }
  }
}

bool FloodGuard::exempt(const IpAddress& ip) const {
  for (const auto& n : cfg_.exempt) {
    if (n.contains(ip)) return true;
  }
  return false;
}

FloodCheck FloodGuard::check(const IpAddress& ip_in) {
  if (cfg_.max_requests == 0) return {};
  const IpAddress ip = unmapped(ip_in);
  if (exempt(ip)) return {};
  const TimePoint now = timers_.now();
  expire(now);
  auto it = entries_.find(ip);
  if (it == entries_.end()) {
    make_room();
    it = entries_.try_emplace(ip).first;
    Entry& e = it->second;
    e.window_start = now;
    e.slot = counting_.insert(counting_.end(), Slot{&it->first, &e});
  }
  Entry& e = it->second;
  if (e.blocked) {
    blocked_requests_.inc();
    return {FloodVerdict::Block, false};
  }
  if (now - e.window_start >= cfg_.window) {  // expire() normally dropped it already
    e.requests = 0;
    e.window_start = now;
    counting_.splice(counting_.end(), counting_, e.slot);
  }
  if (++e.requests <= cfg_.max_requests) return {};
  e.blocked = true;
  e.blocked_until = now + cfg_.block_time;
  blocked_.splice(blocked_.end(), counting_, e.slot);  // same block_time: stays in end order
  blocks_.inc();
  blocked_requests_.inc();
  return {FloodVerdict::Block, true};
}

bool FloodGuard::blocked(const IpAddress& ip) {
  expire(timers_.now());
  auto it = entries_.find(unmapped(ip));
  return it != entries_.end() && it->second.blocked;
}

bool FloodGuard::unblock(const IpAddress& ip) {
  expire(timers_.now());
  auto it = entries_.find(unmapped(ip));
  if (it == entries_.end() || !it->second.blocked) return false;
  erase(blocked_, it->second.slot);
  return true;
}

std::size_t FloodGuard::active_blocks() {
  expire(timers_.now());
  return blocked_.size();
}

}  // namespace sipws::auth
