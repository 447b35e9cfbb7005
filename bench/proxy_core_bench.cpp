// Google Benchmark: one proxied INVITE through the real transaction layer and ProxyCore (the
// request chain, a branch, Record-Route, Via, one serialization) and its 200 OK back upstream,
// with no policy processor and an IP-literal target (no DNS). The sender keeps the bytes; time
// is a ManualTimerService advanced every 16 calls so that transactions end (Timer L / K).
#include <benchmark/benchmark.h>

#include <boost/asio/ip/address.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/timer.hpp"
#include "proxy/proxy_core.hpp"
#include "sip/parser.hpp"
#include "sip/txn/transaction_layer.hpp"

namespace {

using namespace sipws;

class Net final : public proxy::NetworkView {
 public:
  Net() {
    auto lo = boost::asio::ip::make_address("127.0.0.1");
    lps_.push_back({Protocol::Udp, {lo, 5060}, "127.0.0.1"});
  }
  const std::vector<ListenPoint>& listen_points() const override { return lps_; }
  bool flow_alive(FlowId) const override { return false; }
  std::optional<Endpoint> flow_peer(FlowId) const override { return std::nullopt; }
  std::optional<Protocol> flow_protocol(FlowId) const override { return std::nullopt; }

 private:
  std::vector<ListenPoint> lps_;
};

class NoDns final : public proxy::Resolver {
 public:
  void resolve(const std::string&, std::function<void(std::optional<IpAddress>)> done) override {
    done(std::nullopt);
  }
};

class KeepLast final : public sip::txn::Sender {
 public:
  bool send(const Destination&, std::shared_ptr<const std::string> bytes) override {
    last = std::move(bytes);
    return true;
  }
  std::shared_ptr<const std::string> last;
};

std::string invite(std::size_t i) {
  const std::string n = std::to_string(i);
  return "INVITE sip:bob@127.0.0.2:5070 SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKb" +
         n +
         ";rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:alice@localhost>;tag=a" +
         n +
         "\r\n"
         "To: <sip:bob@127.0.0.2:5070>\r\n"
         "Call-ID: c" +
         n +
         "@bench\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:alice@127.0.0.1:5062>\r\n"
         "Content-Length: 0\r\n\r\n";
}

void BM_ProxiedInvite(benchmark::State& state) {
  ManualTimerService timers;
  proxy::Domains domains;
  domains.add_domain("localhost");
  Net net;
  NoDns dns;
  KeepLast wire;
  proxy::ProxyConfig cfg;
  cfg.route_secret = "bench-route-secret-0123456789abcdef";
  proxy::ProxyCore core(timers, domains, net, dns, cfg);
  sip::txn::TransactionLayer txns(timers, wire, core);
  core.attach(txns, wire);
  const Source src{Protocol::Udp,
                   {boost::asio::ip::make_address("127.0.0.1"), 5062},
                   {boost::asio::ip::make_address("127.0.0.1"), 5060},
                   kNoFlow};
  const Source down{Protocol::Udp,
                    {boost::asio::ip::make_address("127.0.0.2"), 5070},
                    {boost::asio::ip::make_address("127.0.0.1"), 5060},
                    kNoFlow};
  constexpr std::size_t kBatch = 16;
  std::vector<std::shared_ptr<const std::string>> requests;
  for (std::size_t i = 0; i < kBatch; ++i) {
    requests.push_back(std::make_shared<const std::string>(invite(i)));
  }
  std::size_t i = 0;
  for (auto _ : state) {
    auto req = sip::parse(requests[i % kBatch]);
    txns.receive(*req, src);
    // The 200 OK of the UAS: the forwarded request's Vias, From, To (tagged), Call-ID, CSeq.
    auto fwd = sip::parse(wire.last);
    sip::Message ok = sip::make_response(*fwd, 200);
    ok.set_to_tag("b1");
    auto rsp = sip::parse(ok.serialize_shared());
    txns.receive(*rsp, down);
    benchmark::DoNotOptimize(wire.last);
    if (++i % kBatch == 0) timers.advance(Millis(64000));  // a new Call-ID set next round
  }
}
BENCHMARK(BM_ProxiedInvite);
// Fixed counts for callgrind (the difference of two runs, divided by 4,000, is the user-space
// instructions of one proxied INVITE and its 200 without start-up):
// valgrind --tool=callgrind sipws_bench --benchmark_filter='ProxiedInvite/iterations:2000$'
BENCHMARK(BM_ProxiedInvite)->Iterations(2000);
BENCHMARK(BM_ProxiedInvite)->Iterations(6000);

}  // namespace
