#include "auth/credential_cache.hpp"

#include <iterator>
#include <utility>

namespace sipws::auth {

CredentialCache::CredentialCache(store::AsyncStore& store, TimerService& timers, Config cfg)
    : store_(store),
      timers_(timers),
      cfg_(cfg),
      generation_(store.generation()),
      self_(std::make_shared<CredentialCache*>(this)) {}

CredentialCache::~CredentialCache() { self_.reset(); }

void CredentialCache::check_generation() {
  const std::uint64_t g = store_.generation();
  if (g == generation_) return;
  generation_ = g;
  // Fetches in flight may have read the old row: their answer goes to their waiters but is
  // not kept (see start_fetch).
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = it->second.fetching ? std::next(it) : entries_.erase(it);
  }
}

CredentialCache::Result CredentialCache::lookup(const std::string& user,
                                                const std::string& domain) {
  check_generation();
  const TimePoint now = timers_.now();
  const std::string key = user + "@" + domain;
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    Entry& e = it->second;
    if (e.fetching) return {State::Fetching, nullptr};
    if (now < e.expires) {
      if (e.error) return {State::Error, nullptr};
      if (e.subscriber) return {State::Found, &*e.subscriber};
      return {State::NotFound, nullptr};
    }
  }
  return start_fetch(user, domain, key, now);
}

bool CredentialCache::get(const std::string& user, const std::string& domain, Done done,
                          bool* busy) {
  if (busy != nullptr) *busy = false;
  const Result r = lookup(user, domain);
  switch (r.state) {
    case State::Found:
    case State::NotFound:
    case State::Error:
      done(r);
      return true;
    case State::Busy:
      if (busy != nullptr) *busy = true;
      return false;
    case State::Fetching:
      break;
  }
  entries_.at(user + "@" + domain).waiters.push_back(std::move(done));
  return false;
}

CredentialCache::Result CredentialCache::start_fetch(const std::string& user,
                                                     const std::string& domain,
                                                     const std::string& key, TimePoint now) {
  if (in_flight_ >= cfg_.max_in_flight) return {State::Busy, nullptr};
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= cfg_.max_entries) prune(now);
    it = entries_.try_emplace(key).first;
  }
  Entry& e = it->second;
  e.fetching = true;
  e.error = false;
  e.subscriber.reset();
  e.generation = generation_;
  ++fetches_;
  ++in_flight_;
  std::weak_ptr<CredentialCache*> weak = self_;
  store_.find_subscriber(
      user, domain,
      [weak, key, user, domain](const store::Result<std::optional<store::Subscriber>>& sub) {
        auto self = weak.lock();
        if (!self) return;
        CredentialCache& c = **self;
        --c.in_flight_;
        auto found = c.entries_.find(key);
        if (found == c.entries_.end()) return;  // pruned meanwhile
        Entry& entry = found->second;
        auto waiters = std::move(entry.waiters);
        entry.waiters.clear();
        entry.fetching = false;
        // A failed fetch is no answer: it is remembered as an error (error_ttl), never as an
        // unknown user, and not handed to other caches.
        entry.error = !sub.has_value();
        entry.subscriber = entry.error ? std::nullopt : *sub;
        // An answer read before a change of the store is given to its waiters, never kept.
        const bool current = entry.generation == c.store_.generation();
        const Millis ttl = entry.error        ? c.cfg_.error_ttl
                           : entry.subscriber ? c.cfg_.ttl
                                              : c.cfg_.negative_ttl;
        entry.expires = c.timers_.now() + (current ? ttl : Millis(0));
        // A copy: a waiter may call back into the cache and change the table.
        const std::optional<store::Subscriber> answer = entry.subscriber;
        const bool error = entry.error;
        const std::uint64_t generation = entry.generation;
        const Result result{error    ? State::Error
                            : answer ? State::Found
                                     : State::NotFound,
                            answer ? &*answer : nullptr};
        for (auto& w : waiters) w(result);
        if (!error && current && c.on_fetched_) c.on_fetched_(user, domain, answer, generation);
      });
  return {State::Fetching, nullptr};
}

void CredentialCache::prime(const std::string& user, const std::string& domain,
                            std::optional<store::Subscriber> subscriber, std::uint64_t generation) {
  check_generation();
  if (generation != store_.generation()) return;
  const TimePoint now = timers_.now();
  const std::string key = user + "@" + domain;
  auto it = entries_.find(key);
  if (it != entries_.end() && (it->second.fetching || now < it->second.expires)) return;
  if (it == entries_.end()) {
    if (entries_.size() >= cfg_.max_entries) prune(now);
    it = entries_.try_emplace(key).first;
  }
  Entry& e = it->second;
  e.fetching = false;
  e.error = false;
  e.subscriber = std::move(subscriber);
  e.generation = generation;
  e.expires = now + (e.subscriber ? cfg_.ttl : cfg_.negative_ttl);
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
