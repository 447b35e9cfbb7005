#include "auth/credential_cache.hpp"

#include <iterator>
#include <utility>

namespace sipws::auth {

CredentialCache::CredentialCache(store::AsyncStore& store, TimerService& timers, Config cfg)
    : store_(store), timers_(timers), cfg_(cfg), self_(std::make_shared<CredentialCache*>(this)) {}

CredentialCache::~CredentialCache() { self_.reset(); }

CredentialCache::Result CredentialCache::lookup(const std::string& user,
                                                const std::string& domain) {
  const TimePoint now = timers_.now();
  const std::string key = user + "@" + domain;
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    Entry& e = it->second;
    if (e.fetching) return {State::Fetching, nullptr};
    if (now < e.expires) {
      if (e.subscriber) return {State::Found, &*e.subscriber};
      return {State::NotFound, nullptr};
    }
  }
  if (in_flight_ >= cfg_.max_in_flight) return {State::Busy, nullptr};
  if (it == entries_.end()) {
    if (entries_.size() >= cfg_.max_entries) prune(now);
    it = entries_.try_emplace(key).first;
  }
  Entry& e = it->second;
  e.fetching = true;
  e.subscriber.reset();
  ++fetches_;
  ++in_flight_;
  std::weak_ptr<CredentialCache*> weak = self_;
  store_.find_subscriber(user, domain, [weak, key](std::optional<store::Subscriber> sub) {
    auto self = weak.lock();
    if (!self) return;
    CredentialCache& c = **self;
    --c.in_flight_;
    auto found = c.entries_.find(key);
    if (found == c.entries_.end()) return;  // pruned meanwhile
    Entry& entry = found->second;
    entry.fetching = false;
    entry.expires = c.timers_.now() + (sub ? c.cfg_.ttl : c.cfg_.negative_ttl);
    entry.subscriber = std::move(sub);
  });
  return {State::Fetching, nullptr};
}

void CredentialCache::prune(TimePoint now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    const bool dead = !it->second.fetching && it->second.expires <= now;
    it = dead ? entries_.erase(it) : std::next(it);
  }
  // Still full of live entries (a flood of distinct user names): drop the answered ones; the
  // worst case is one more fetch for a user who comes back.
  if (entries_.size() >= cfg_.max_entries) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = it->second.fetching ? std::next(it) : entries_.erase(it);
    }
  }
}

}  // namespace sipws::auth
