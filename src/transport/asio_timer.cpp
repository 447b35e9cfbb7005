#include "transport/asio_timer.hpp"

#include <boost/asio/steady_timer.hpp>
#include <unordered_map>

namespace sipws::transport {

struct AsioTimerService::Impl {
  struct Entry {
    std::unique_ptr<boost::asio::steady_timer> timer;
    std::function<void()> fn;
  };
  explicit Impl(boost::asio::io_context& io) : io(io) {}
  boost::asio::io_context& io;
  TimerId last_id = 0;
  std::unordered_map<TimerId, Entry> timers;
  /// Completion handlers still queued after the service died check this before touching it.
  std::shared_ptr<Impl*> self = std::make_shared<Impl*>(this);
};

AsioTimerService::AsioTimerService(boost::asio::io_context& io)
    : impl_(std::make_unique<Impl>(io)) {}

AsioTimerService::~AsioTimerService() {
  *impl_->self = nullptr;
  for (auto& [id, e] : impl_->timers) e.timer->cancel();
}

TimePoint AsioTimerService::now() const { return SteadyClock::now(); }

std::int64_t AsioTimerService::unix_time() const {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TimerService::TimerId AsioTimerService::schedule(Millis delay, std::function<void()> fn) {
  const TimerId id = ++impl_->last_id;
  auto timer = std::make_unique<boost::asio::steady_timer>(impl_->io);
  timer->expires_after(delay);
  std::weak_ptr<Impl*> weak = impl_->self;
  timer->async_wait([weak, id](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled
    auto alive = weak.lock();
    if (!alive || *alive == nullptr) return;
    Impl& impl = **alive;
    auto it = impl.timers.find(id);
    if (it == impl.timers.end()) return;  // cancelled after it was queued
    auto fn = std::move(it->second.fn);
    impl.timers.erase(it);
    if (fn) fn();
  });
  impl_->timers.emplace(id, Impl::Entry{std::move(timer), std::move(fn)});
  return id;
}

void AsioTimerService::cancel(TimerId id) {
  auto it = impl_->timers.find(id);
  if (it == impl_->timers.end()) return;
  it->second.timer->cancel();
  impl_->timers.erase(it);
}

}  // namespace sipws::transport
