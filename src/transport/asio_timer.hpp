#pragma once
// TimerService on Boost.Asio steady timers.

#include <boost/asio/io_context.hpp>
#include <memory>

#include "common/timer.hpp"

namespace sipws::transport {

/// Timers on an io_context. Thread: the io thread (schedule/cancel/callbacks).
class AsioTimerService final : public TimerService {
 public:
  explicit AsioTimerService(boost::asio::io_context& io);
  ~AsioTimerService() override;
  TimePoint now() const override;
  std::int64_t unix_time() const override;
  TimerId schedule(Millis delay, std::function<void()> fn) override;
  void cancel(TimerId id) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sipws::transport
