#include "transport/asio_timer.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <queue>
#include <unordered_map>
#include <vector>

namespace sipws::transport {

// One Asio timer for the whole service, armed at the earliest deadline of a min-heap. Every
// transaction starts timers, and an Asio timer each would cost an allocation, a place in Asio's
// own queue and often a timerfd_settime system call; here a new timer that is not the earliest
// costs a heap push and a map insert, and one due at once (Timer J/K/I on reliable transports)
// is a post. Cancelled timers leave their heap entry behind; it is skipped when it comes up.
struct AsioTimerService::Impl {
  struct Due {
    TimePoint at;
    TimerId id;
    bool operator>(const Due& o) const { return at != o.at ? at > o.at : id > o.id; }
  };
  explicit Impl(boost::asio::io_context& io) : io(io), timer(io) {}

  /// (Re)arms the Asio timer for the earliest live deadline, if it is earlier than the armed one.
  void arm() {
    while (!heap.empty() && !fns.contains(heap.top().id)) heap.pop();  // cancelled ones
    if (heap.empty()) return;
    const TimePoint next = heap.top().at;
    if (armed && armed_at <= next) return;
    armed = true;
    armed_at = next;
    timer.expires_at(next);
    std::weak_ptr<Impl*> weak = self;
    timer.async_wait([weak](const boost::system::error_code& ec) {
      if (ec) return;  // re-armed or destroyed
      auto alive = weak.lock();
      if (alive && *alive != nullptr) (*alive)->fire();
    });
  }

  /// Runs every timer that is due, in deadline order (ties: scheduling order).
  void fire() {
    armed = false;
    const TimePoint now = SteadyClock::now();
    std::weak_ptr<Impl*> weak = self;
    while (!heap.empty() && heap.top().at <= now) {
      const TimerId id = heap.top().id;
      heap.pop();
      run(id);
      if (weak.expired() || *weak.lock() == nullptr) return;  // a callback destroyed us
    }
    arm();
  }

  /// Runs timer `id` if it is still scheduled.
  void run(TimerId id) {
    auto it = fns.find(id);
    if (it == fns.end()) return;  // cancelled
    auto fn = std::move(it->second);
    fns.erase(it);
    if (fn) fn();
  }

  boost::asio::io_context& io;
  boost::asio::steady_timer timer;
  bool armed = false;
  TimePoint armed_at{};
  TimerId last_id = 0;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> heap;
  std::unordered_map<TimerId, std::function<void()>> fns;
  /// Completion handlers still queued after the service died check this before touching it.
  std::shared_ptr<Impl*> self = std::make_shared<Impl*>(this);
};

AsioTimerService::AsioTimerService(boost::asio::io_context& io)
    : impl_(std::make_unique<Impl>(io)) {}

AsioTimerService::~AsioTimerService() {
  *impl_->self = nullptr;
  impl_->timer.cancel();
}

TimePoint AsioTimerService::now() const { return SteadyClock::now(); }

std::int64_t AsioTimerService::unix_time() const {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TimerService::TimerId AsioTimerService::schedule(Millis delay, std::function<void()> fn) {
  Impl& impl = *impl_;
  const TimerId id = ++impl.last_id;
  impl.fns.emplace(id, std::move(fn));
  if (delay.count() <= 0) {
    // Due now: after the current handler, like an expired Asio timer, without the heap.
    std::weak_ptr<Impl*> weak = impl.self;
    boost::asio::post(impl.io, [weak, id] {
      auto alive = weak.lock();
      if (alive && *alive != nullptr) (*alive)->run(id);
    });
    return id;
  }
  impl.heap.push(Impl::Due{SteadyClock::now() + delay, id});
  impl.arm();
  return id;
}

void AsioTimerService::cancel(TimerId id) { impl_->fns.erase(id); }

}  // namespace sipws::transport
