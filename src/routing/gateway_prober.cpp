// OPTIONS probing of gateways (see gateway_prober.hpp).
#include "routing/gateway_prober.hpp"

#include <vector>

#include "common/log.hpp"

namespace sipws::routing {

bool probe_reply_means_up(int status) {
  return status >= 200 && status <= 699 && status != 408 && status != 503;
}

struct GatewayProber::State : std::enable_shared_from_this<GatewayProber::State> {
  struct Slot {
    std::size_t gateway = 0;  // index into table.gateways()
    Millis interval{0};
    TimerService::TimerId timer = 0;
    std::uint64_t pending = 0;   // sequence number of the outstanding probe, 0 = none
    std::uint32_t failures = 0;  // consecutive
  };

  State(TimerService& t, GatewayTable& tb, SendOptions s, Config c)
      : timers(t),
        table(tb),
        send(std::move(s)),
        failures_before_down(c.failures_before_down == 0 ? 1 : c.failures_before_down),
        up_counter((c.counters ? *c.counters : counters()).get("gateway_up")),
        down_counter((c.counters ? *c.counters : counters()).get("gateway_down")) {}

  void arm(std::size_t i, Millis delay) {
    std::weak_ptr<State> weak = weak_from_this();
    slots[i].timer = timers.schedule(delay, [weak, i] {
      if (auto self = weak.lock()) self->tick(i);
    });
  }

  void tick(std::size_t i) {
    if (!running || i >= slots.size()) return;
    Slot& slot = slots[i];
    arm(i, slot.interval);          // fixed rate, whatever the probe does
    if (slot.pending != 0) return;  // never two outstanding for one gateway
    const std::uint64_t seq = ++next_seq;
    slot.pending = seq;
    // The timer's lambda holds a shared_ptr while we run: safe even if `send` destroys the
    // prober.
    std::weak_ptr<State> weak = weak_from_this();
    send(table.gateways()[slot.gateway], [weak, i, seq](int status) {
      if (auto s = weak.lock()) s->on_result(i, seq, status);
    });
  }

  void on_result(std::size_t i, std::uint64_t seq, int status) {
    if (!running || i >= slots.size() || slots[i].pending != seq) return;  // stale or repeated
    Slot& slot = slots[i];
    slot.pending = 0;
    const Gateway& gw = table.gateways()[slot.gateway];
    if (probe_reply_means_up(status)) {
      slot.failures = 0;
      if (!table.is_up(gw.name)) {
        table.set_up(gw.name, true);
        up_counter.inc();
        log::routing().info("gateway {} ({}) is up: OPTIONS answered {}", gw.name, gw.uri, status);
      }
      return;
    }
    if (slot.failures < failures_before_down) ++slot.failures;
    if (slot.failures >= failures_before_down && table.is_up(gw.name)) {
      table.set_up(gw.name, false);
      down_counter.inc();
      if (status == 0) {
        log::routing().warn("gateway {} ({}) is down: no answer to OPTIONS", gw.name, gw.uri);
      } else {
        log::routing().warn("gateway {} ({}) is down: OPTIONS answered {}", gw.name, gw.uri,
                            status);
      }
    }
  }

  void start() {
    if (running) return;
    running = true;
    slots.clear();
    const auto& gws = table.gateways();
    for (std::size_t g = 0; g < gws.size(); ++g) {
      if (!gws[g].enabled || gws[g].probe_interval_s == 0) continue;
      Slot slot;
      slot.gateway = g;
      slot.interval = Millis(std::int64_t{gws[g].probe_interval_s} * 1000);
      slots.push_back(slot);
    }
    for (std::size_t i = 0; i < slots.size(); ++i) arm(i, Millis(0));
  }

  void stop() {
    if (!running) return;
    running = false;
    for (auto& slot : slots) timers.cancel(slot.timer);
    slots.clear();
  }

  TimerService& timers;
  GatewayTable& table;
  SendOptions send;
  const std::uint32_t failures_before_down;
  Counter& up_counter;
  Counter& down_counter;
  bool running = false;
  std::uint64_t next_seq = 0;
  std::vector<Slot> slots;
};

GatewayProber::GatewayProber(TimerService& timers, GatewayTable& table, SendOptions send,
                             Config cfg)
    : state_(std::make_shared<State>(timers, table, std::move(send), cfg)) {}

GatewayProber::~GatewayProber() { state_->stop(); }

void GatewayProber::start() { state_->start(); }
void GatewayProber::stop() { state_->stop(); }
bool GatewayProber::running() const { return state_->running; }

}  // namespace sipws::routing
