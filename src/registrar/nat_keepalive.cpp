#include "registrar/nat_keepalive.hpp"

#include <unordered_set>
#include <vector>

#include "common/log.hpp"
#include "sip/uri.hpp"

namespace sipws::registrar {

NatKeepalive::NatKeepalive(TimerService& timers, LocationService& location, Millis interval,
                           unsigned max_failures, Send send, Counters& reg)
    : timers_(timers),
      location_(location),
      interval_(interval),
      max_failures_(max_failures == 0 ? 1 : max_failures),
      send_(std::move(send)),
      sent_(reg.get("nat_keepalive_sent")),
      unanswered_(reg.get("nat_keepalive_unanswered")),
      turned_unreachable_(reg.get("nat_bindings_unreachable")) {}

NatKeepalive::~NatKeepalive() { stop(); }

void NatKeepalive::start() {
  if (timer_ == 0) schedule();
}

void NatKeepalive::stop() {
  timers_.cancel(timer_);
  timer_ = 0;
  *alive_ = false;
  alive_ = std::make_shared<bool>(true);
}

void NatKeepalive::schedule() {
  timer_ = timers_.schedule(interval_, [this] {
    timer_ = 0;
    round();
    schedule();
  });
}

bool NatKeepalive::behind_nat(const Binding& b) {
  if (!b.direct || b.flow_dead || is_websocket(b.source.protocol)) return false;
  if (b.source.protocol != Protocol::Udp && b.source.flow == kNoFlow) return false;
  const auto uri = b.uri();
  return uri && !contact_names_source(*uri, b.source);
}

std::size_t NatKeepalive::outstanding() const {
  std::size_t n = 0;
  for (const auto& [id, s] : state_) n += s.waiting ? 1 : 0;
  return n;
}

void NatKeepalive::round() {
  std::vector<Ping> pings;
  location_.visit_all([&pings](const Binding& b) {
    if (!behind_nat(b)) return;
    Ping p;
    p.aor = b.aor;
    p.binding = b.id;
    p.contact = b.contact;
    p.dest = Destination{b.source.protocol, b.source.peer, b.source.flow, {}, b.source.local};
    pings.push_back(std::move(p));
  });
  // Bindings gone since the last round take their state with them.
  std::unordered_set<std::uint64_t> seen;
  for (const auto& p : pings) seen.insert(p.binding);
  std::erase_if(state_, [&seen](const auto& e) { return !seen.contains(e.first); });
  for (const auto& p : pings) {
    State& s = state_[p.binding];
    if (s.waiting) continue;
    s.waiting = true;
    sent_.inc();
    std::weak_ptr<bool> alive = alive_;
    send_(p, [this, alive, p](int status) {
      if (auto a = alive.lock(); a && *a) finish(p, status);
    });
  }
}

void NatKeepalive::finish(const Ping& ping, int status) {
  auto it = state_.find(ping.binding);
  if (it == state_.end()) return;
  State& s = it->second;
  s.waiting = false;
  if (status > 0) {
    s.failures = 0;
    if (s.unreachable) {
      s.unreachable = false;
      location_.set_unreachable(ping.aor, ping.binding, false);
      log::registrar().info("NAT keep-alive: {} ({}) answers again", ping.contact, ping.aor);
    }
    return;
  }
  unanswered_.inc();
  if (++s.failures < max_failures_ || s.unreachable) return;
  s.unreachable = true;
  if (location_.set_unreachable(ping.aor, ping.binding, true)) {
    turned_unreachable_.inc();
    log::registrar().info("NAT keep-alive: {} ({}) did not answer {} times: unreachable",
                          ping.contact, ping.aor, s.failures);
  }
}

}  // namespace sipws::registrar
