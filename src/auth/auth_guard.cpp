#include "auth/auth_guard.hpp"

#include <algorithm>
#include <type_traits>
#include <utility>

namespace sipws::auth {

AuthGuard::AuthGuard(TimerService& timers, AuthGuardConfig cfg)
    : timers_(timers),
      cfg_(cfg),
      bans_ip_(SIPWS_COUNTER("auth_bans_ip")),
      bans_user_(SIPWS_COUNTER("auth_bans_user")) {
  cfg_.max_tracked = std::max<std::size_t>(cfg_.max_tracked, 1);
}

void AuthGuard::erase(SlotList& list, SlotList::iterator pos) {
  // Find first, then erase by iterator: the slot's key pointer points into the node.
  if (pos->ip != nullptr) {
    ips_.erase(ips_.find(*pos->ip));
  } else {
    users_.erase(users_.find(*pos->user));
  }
  list.erase(pos);
}

void AuthGuard::expire(TimePoint now) {
  while (!banned_.empty() && banned_.front().entry->banned_until <= now) {
    erase(banned_, banned_.begin());
  }
  while (!counting_.empty() && now - counting_.front().entry->window_start >= cfg_.window) {
    erase(counting_, counting_.begin());
  }
}

void AuthGuard::make_room() {
  while (ips_.size() + users_.size() >= cfg_.max_tracked) {
    if (!counting_.empty()) {
      erase(counting_, counting_.begin());
    } else if (!banned_.empty()) {
      erase(banned_, banned_.begin());
    } else {
      break;
    }
  }
}

template <class Map, class Key>
AuthGuard::Entry& AuthGuard::insert(Map& map, Key&& key, TimePoint now) {
  make_room();
  auto [it, inserted] = map.try_emplace(std::forward<Key>(key));
  Entry& e = it->second;
  e.window_start = now;
  Slot slot;
  if constexpr (std::is_same_v<Map, IpMap>) {
    slot.ip = &it->first;
  } else {
    slot.user = &it->first;
  }
  slot.entry = &e;
  e.slot = counting_.insert(counting_.end(), slot);
  return e;
}

bool AuthGuard::count_failure(Entry& e, std::uint32_t max, TimePoint now) {
  if (e.banned) return false;
  if (now - e.window_start >= cfg_.window) {  // expire() normally dropped it already
    e.failures = 0;
    e.window_start = now;
    counting_.splice(counting_.end(), counting_, e.slot);
  }
  if (++e.failures < max) return false;
  e.banned = true;
  e.failures = 0;
  e.banned_until = now + cfg_.ban_time;
  banned_.splice(banned_.end(), counting_, e.slot);  // same ban_time: stays in end order
  return true;
}

void AuthGuard::publish() {
  tracked_.store(ips_.size() + users_.size(), std::memory_order_release);
  banned_now_.store(banned_.size(), std::memory_order_release);
}

bool AuthGuard::ip_banned(const IpAddress& ip) {
  if (banned_now_.load(std::memory_order_acquire) == 0) return false;  // no ban: no lock
  std::lock_guard lock(mu_);
  expire(timers_.now());
  publish();
  auto it = ips_.find(unmapped(ip));
  return it != ips_.end() && it->second.banned;
}

bool AuthGuard::user_banned(std::string_view aor) {
  if (banned_now_.load(std::memory_order_acquire) == 0) return false;
  std::lock_guard lock(mu_);
  expire(timers_.now());
  publish();
  auto it = users_.find(aor);
  return it != users_.end() && it->second.banned;
}

AuthGuard::Ban AuthGuard::record_failure(const IpAddress& ip_in, std::string_view aor) {
  std::lock_guard lock(mu_);
  const TimePoint now = timers_.now();
  expire(now);
  bool ip_ban = false;
  bool user_ban = false;
  if (cfg_.max_failures > 0) {
    const IpAddress ip = unmapped(ip_in);
    auto it = ips_.find(ip);
    Entry& e = it != ips_.end() ? it->second : insert(ips_, ip, now);
    ip_ban = count_failure(e, cfg_.max_failures, now);
  }
  if (cfg_.max_user_failures > 0 && !aor.empty() && aor.size() <= kMaxAorLength) {
    auto it = users_.find(aor);
    Entry& e = it != users_.end() ? it->second : insert(users_, std::string(aor), now);
    user_ban = count_failure(e, cfg_.max_user_failures, now);
  }
  publish();
  if (ip_ban) bans_ip_.inc();
  if (user_ban) bans_user_.inc();
  if (ip_ban && user_ban) return Ban::IpAndUser;
  if (ip_ban) return Ban::Ip;
  return user_ban ? Ban::User : Ban::None;
}

void AuthGuard::record_success(const IpAddress& ip, std::string_view /*aor*/) {
  if (tracked_.load(std::memory_order_acquire) == 0) return;
  std::lock_guard lock(mu_);
  expire(timers_.now());
  auto it = ips_.find(unmapped(ip));
  if (it != ips_.end() && !it->second.banned) erase(counting_, it->second.slot);
  publish();
}

bool AuthGuard::lift(const IpAddress& ip) {
  std::lock_guard lock(mu_);
  expire(timers_.now());
  auto it = ips_.find(unmapped(ip));
  const bool banned = it != ips_.end() && it->second.banned;
  if (banned) erase(banned_, it->second.slot);
  publish();
  return banned;
}

bool AuthGuard::lift_user(std::string_view aor) {
  std::lock_guard lock(mu_);
  expire(timers_.now());
  auto it = users_.find(aor);
  const bool banned = it != users_.end() && it->second.banned;
  if (banned) erase(banned_, it->second.slot);
  publish();
  return banned;
}

std::vector<AuthGuard::BanInfo> AuthGuard::bans() {
  std::lock_guard lock(mu_);
  expire(timers_.now());
  publish();
  std::vector<BanInfo> out;
  out.reserve(banned_.size());
  for (const Slot& s : banned_) {
    BanInfo b;
    b.kind = s.ip != nullptr ? Ban::Ip : Ban::User;
    b.what = s.ip != nullptr ? s.ip->to_string() : *s.user;
    b.until = s.entry->banned_until;
    out.push_back(std::move(b));
  }
  return out;
}

std::size_t AuthGuard::tracked() {
  std::lock_guard lock(mu_);
  expire(timers_.now());
  publish();
  return ips_.size() + users_.size();
}

std::size_t AuthGuard::active_bans() {
  std::lock_guard lock(mu_);
  expire(timers_.now());
  publish();
  return banned_.size();
}

}  // namespace sipws::auth
