// Two ws::Listeners (two shards: one io_context and one FlowTable each) sharing one port with
// ListenerConfig::reuse_port (SO_REUSEPORT), on 127.0.0.1. The test thread drives every
// io_context in turn; the websocketpp client of ws_test_util.hpp runs on its own.

#include <gtest/gtest.h>

#include <memory>
#include <system_error>

#include "ws/listener.hpp"
#include "ws_test_util.hpp"

namespace sipws::ws {
namespace {

namespace wsp = websocketpp;
using namespace std::chrono_literals;
using test::WsClient;

const IpAddress kLoopback = boost::asio::ip::make_address("127.0.0.1");

/// One shard: an io_context, its flow table and a WS listener.
struct Shard {
  explicit Shard(unsigned index) : flows(index) {}

  void listen(std::uint16_t port, bool reuse_port) {
    ListenerConfig cfg;
    cfg.listen = sipws::Endpoint{kLoopback, port};
    cfg.reuse_port = reuse_port;
    listener = std::make_unique<Listener>(
        io, timers, flows,
        [this](std::shared_ptr<const std::string> b, const Source& s) {
          delivered.emplace_back(*b, s);
        },
        cfg);
    listener->start();
  }

  boost::asio::io_context io;
  ManualTimerService timers;  ///< no test here moves time
  transport::FlowTable flows;
  std::vector<std::pair<std::string, Source>> delivered;
  std::unique_ptr<Listener> listener;
};

class WsReusePortTest : public ::testing::Test {
 protected:
  /// Runs the client's and both shards' io_contexts in turn until `done()` or 5 s; returns done().
  bool run_until(const std::function<bool()>& done) {
    const auto end = std::chrono::steady_clock::now() + 5s;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= end) return false;
      for (boost::asio::io_context* io : {&client_io_, &a_.io, &b_.io}) {
        io->restart();
        io->run_for(2ms);
      }
    }
    return true;
  }

  boost::asio::io_context client_io_;
  Shard a_{0};
  Shard b_{1};
};

TEST_F(WsReusePortTest, TwoListenersShareThePortAndOneOfThemTakesEachConnection) {
  a_.listen(0, true);
  const std::uint16_t port = a_.listener->local_endpoint().port;
  ASSERT_NE(port, 0);
  ASSERT_NO_THROW(b_.listen(port, true));
  EXPECT_EQ(b_.listener->local_endpoint().port, port);

  WsClient client(client_io_, "ws://127.0.0.1:" + std::to_string(port) + "/");
  ASSERT_TRUE(run_until(
      [&] { return client.failed || (client.opened && a_.flows.size() + b_.flows.size() == 1); }));
  ASSERT_TRUE(client.opened);
  Shard& owner = a_.flows.size() == 1 ? a_ : b_;
  Shard& other = a_.flows.size() == 1 ? b_ : a_;
  EXPECT_EQ(other.flows.size(), 0u);
  const auto flow = owner.flows.all().front();
  EXPECT_EQ(flow_shard(flow->id()), owner.flows.shard());
  EXPECT_EQ(flow->local().port, port);

  // The flow's messages are delivered by the owning shard, stamped with its FlowId.
  client.send("OPTIONS sip:x SIP/2.0\r\n\r\n", wsp::frame::opcode::text);
  ASSERT_TRUE(run_until([&] { return owner.delivered.size() == 1; }));
  EXPECT_EQ(owner.delivered[0].second.flow, flow->id());
  EXPECT_TRUE(other.delivered.empty());
}

TEST_F(WsReusePortTest, WithoutReusePortTheSecondListenerCannotStart) {
  a_.listen(0, false);
  const std::uint16_t port = a_.listener->local_endpoint().port;
  EXPECT_THROW(b_.listen(port, false), std::system_error);
}

TEST_F(WsReusePortTest, EveryListenerSharingThePortMustAskForIt) {
  a_.listen(0, true);
  const std::uint16_t port = a_.listener->local_endpoint().port;
  EXPECT_THROW(b_.listen(port, false), std::system_error);
}

}  // namespace
}  // namespace sipws::ws
