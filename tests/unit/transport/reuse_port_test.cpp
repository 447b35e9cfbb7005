// Two TransportLayers (two shards, one io_context each) sharing one UDP and one TCP port with
// TransportLimits::reuse_port (SO_REUSEPORT), on real sockets on 127.0.0.1. The test thread
// drives both io_contexts in turn.

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "test_util.hpp"
#include "transport/transport_layer.hpp"

namespace sipws::transport {
namespace {

using boost::asio::ip::tcp;
using boost::asio::ip::udp;

const IpAddress kLoopback = boost::asio::ip::make_address("127.0.0.1");

/// One shard: an io_context, its layer and what the layer delivered.
struct Shard {
  Shard(unsigned index, bool reuse_port) {
    TransportLimits limits;
    limits.reuse_port = reuse_port;
    layer = std::make_unique<TransportLayer>(io, limits, index);
    layer->set_handler(&handler);
  }
  boost::asio::io_context io;
  test::RecordingHandler handler;
  std::unique_ptr<TransportLayer> layer;
};

std::uint16_t port_of(const TransportLayer& layer, Protocol p) {
  const ListenPoint* lp = layer.listen_point(p);
  return lp == nullptr ? 0 : lp->local.port;
}

/// Runs the io_contexts of `a` and `b` in turn until `done()` holds or `limit` passes.
bool run_both_until(Shard& a, Shard& b, const std::function<bool()>& done,
                    std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    for (Shard* s : {&a, &b}) {
      s->io.restart();
      s->io.run_for(std::chrono::milliseconds(2));
    }
  }
  return true;
}

TEST(ReusePort, TwoShardsBindTheSameUdpAndTcpPort) {
  Shard a(0, true);
  Shard b(1, true);
  a.layer->listen_udp(Endpoint{kLoopback, 0});
  a.layer->listen_tcp(Endpoint{kLoopback, 0});
  const std::uint16_t udp_port = port_of(*a.layer, Protocol::Udp);
  const std::uint16_t tcp_port = port_of(*a.layer, Protocol::Tcp);
  ASSERT_NE(udp_port, 0);
  ASSERT_NE(tcp_port, 0);
  ASSERT_NO_THROW(b.layer->listen_udp(Endpoint{kLoopback, udp_port}));
  ASSERT_NO_THROW(b.layer->listen_tcp(Endpoint{kLoopback, tcp_port}));
  EXPECT_EQ(port_of(*b.layer, Protocol::Udp), udp_port);
  EXPECT_EQ(port_of(*b.layer, Protocol::Tcp), tcp_port);
}

TEST(ReusePort, WithoutItTheSecondBindThrows) {
  Shard a(0, false);
  Shard b(1, false);
  a.layer->listen_udp(Endpoint{kLoopback, 0});
  a.layer->listen_tcp(Endpoint{kLoopback, 0});
  const Endpoint udp_at{kLoopback, port_of(*a.layer, Protocol::Udp)};
  const Endpoint tcp_at{kLoopback, port_of(*a.layer, Protocol::Tcp)};
  EXPECT_THROW(b.layer->listen_udp(udp_at), std::system_error);
  EXPECT_THROW(b.layer->listen_tcp(tcp_at), std::system_error);
  EXPECT_TRUE(b.layer->listen_points().empty());
}

TEST(ReusePort, EveryLayerSharingThePortMustSetIt) {
  Shard a(0, true);
  Shard b(1, false);
  a.layer->listen_udp(Endpoint{kLoopback, 0});
  a.layer->listen_tcp(Endpoint{kLoopback, 0});
  EXPECT_THROW(b.layer->listen_udp(Endpoint{kLoopback, port_of(*a.layer, Protocol::Udp)}),
               std::system_error);
  EXPECT_THROW(b.layer->listen_tcp(Endpoint{kLoopback, port_of(*a.layer, Protocol::Tcp)}),
               std::system_error);
}

TEST(ReusePort, EachDatagramToTheSharedPortReachesExactlyOneShard) {
  Shard a(0, true);
  Shard b(1, true);
  a.layer->listen_udp(Endpoint{kLoopback, 0});
  const std::uint16_t port = port_of(*a.layer, Protocol::Udp);
  b.layer->listen_udp(Endpoint{kLoopback, port});
  // Several sources: the kernel picks a shard per source address and port.
  constexpr int kSources = 8;
  boost::asio::io_context client_io;
  std::vector<std::unique_ptr<udp::socket>> sources;
  for (int i = 0; i < kSources; ++i) {
    sources.push_back(std::make_unique<udp::socket>(client_io, udp::endpoint(kLoopback, 0)));
    sources.back()->send_to(boost::asio::buffer(test::options_request("rp-" + std::to_string(i))),
                            udp::endpoint(kLoopback, port));
  }
  auto total = [&] { return a.handler.got.size() + b.handler.got.size(); };
  ASSERT_TRUE(run_both_until(a, b, [&] { return total() == kSources; }));
  std::vector<std::string> call_ids;
  for (const Shard* s : {&a, &b}) {
    for (const auto& e : s->handler.got) {
      EXPECT_EQ(e.src.protocol, Protocol::Udp);
      EXPECT_EQ(e.src.local, (Endpoint{kLoopback, port}));
      EXPECT_EQ(e.src.flow, kNoFlow);
      call_ids.emplace_back(e.msg.call_id());
    }
  }
  std::sort(call_ids.begin(), call_ids.end());
  EXPECT_EQ(std::unique(call_ids.begin(), call_ids.end()), call_ids.end());  // each once
  EXPECT_EQ(call_ids.size(), static_cast<std::size_t>(kSources));
}

TEST(ReusePort, AConnectionToTheSharedTcpPortIsAFlowOfTheShardThatAcceptedIt) {
  Shard a(3, true);
  Shard b(4, true);
  a.layer->listen_tcp(Endpoint{kLoopback, 0});
  const std::uint16_t port = port_of(*a.layer, Protocol::Tcp);
  b.layer->listen_tcp(Endpoint{kLoopback, port});
  boost::asio::io_context client_io;
  tcp::socket client(client_io);
  client.connect(tcp::endpoint(kLoopback, port));
  boost::asio::write(client, boost::asio::buffer(test::options_request("rp-tcp")));
  auto total = [&] { return a.handler.got.size() + b.handler.got.size(); };
  ASSERT_TRUE(run_both_until(a, b, [&] { return total() == 1; }));
  Shard& owner = a.handler.got.empty() ? b : a;
  Shard& other = a.handler.got.empty() ? a : b;
  const Source& src = owner.handler.got[0].src;
  EXPECT_EQ(src.protocol, Protocol::Tcp);
  EXPECT_EQ(src.local.port, port);
  ASSERT_NE(src.flow, kNoFlow);
  EXPECT_EQ(flow_shard(src.flow), owner.layer->flows().shard());
  EXPECT_NE(owner.layer->flows().find(src.flow), nullptr);
  EXPECT_EQ(owner.layer->flows().size(), 1u);
  EXPECT_EQ(other.layer->flows().size(), 0u);
}

TEST(ReusePort, ALayerRefusesAShardIndexThatDoesNotFitAFlowId) {
  boost::asio::io_context io;
  EXPECT_THROW(TransportLayer(io, TransportLimits{}, kMaxShards), std::invalid_argument);
  TransportLayer last(io, {}, kMaxShards - 1);
  EXPECT_EQ(last.flows().shard(), kMaxShards - 1);
}

}  // namespace
}  // namespace sipws::transport
