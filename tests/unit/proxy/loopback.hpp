#pragma once
// Shared pieces of the proxy tests that need no flows and no DNS: sipws on 127.0.0.1:5060
// (UDP and TCP) and a resolver that fails the test on any name lookup.

#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/timer.hpp"
#include "proxy/proxy_core.hpp"
#include "proxy/resolver.hpp"

namespace sipws::proxy::test {

inline IpAddress ip(const char* text) { return boost::asio::ip::make_address(text); }

/// Listen points UDP and TCP 127.0.0.1:5060; no flow is ever open.
class LoopbackNetwork final : public NetworkView {
 public:
  LoopbackNetwork() {
    lps_.push_back({Protocol::Udp, {ip("127.0.0.1"), 5060}, "127.0.0.1"});
    lps_.push_back({Protocol::Tcp, {ip("127.0.0.1"), 5060}, "127.0.0.1"});
  }
  const std::vector<ListenPoint>& listen_points() const override { return lps_; }
  bool flow_alive(FlowId) const override { return false; }
  std::optional<Endpoint> flow_peer(FlowId) const override { return std::nullopt; }
  std::optional<Protocol> flow_protocol(FlowId) const override { return std::nullopt; }

 private:
  std::vector<ListenPoint> lps_;
};

/// Every next hop of these tests is an IP address: a name lookup is a test error.
class NoNamesResolver final : public Resolver {
 public:
  explicit NoNamesResolver(ManualTimerService& t) : timers_(t) {}
  void resolve(const std::string& host,
               std::function<void(std::optional<IpAddress>)> done) override {
    ADD_FAILURE() << "unexpected lookup of " << host;
    timers_.schedule(Millis(0), [done = std::move(done)]() { done(std::nullopt); });
  }

 private:
  ManualTimerService& timers_;
};

}  // namespace sipws::proxy::test
