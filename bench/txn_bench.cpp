// Google Benchmark: the transaction layer's per-message path on a manual clock with an in-memory
// sender: a REGISTER server transaction over WS (receive, respond 200, end) and a non-INVITE
// client transaction over WS (send, receive its 200, end). Parsing is done before the loop.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "common/timer.hpp"
#include "sip/parser.hpp"
#include "sip/txn/transaction_layer.hpp"

namespace {

using namespace sipws;
using namespace sipws::sip;
using namespace sipws::sip::txn;

constexpr int kRing = 256;  ///< distinct branches in flight at most (all end within a round)

std::string request_text(const std::string& branch) {
  return "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/WS h.invalid;branch=" + branch +
         "\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: "
         "<sip:alice@example.com>\r\nCall-ID: c1@h.invalid\r\nCSeq: 1 REGISTER\r\nContact: "
         "<sip:alice@h.invalid;transport=ws>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n";
}

std::string response_text(const std::string& branch) {
  return "SIP/2.0 200 OK\r\nVia: SIP/2.0/WS h.invalid;branch=" + branch +
         "\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:alice@example.com>;tag=b1\r\n"
         "Call-ID: c1@h.invalid\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
}

struct NullSender final : Sender {
  bool send(const Destination&, std::shared_ptr<const std::string> bytes) override {
    benchmark::DoNotOptimize(bytes);
    return true;
  }
};

struct LastIdTu final : TransactionUser {
  void on_request(ServerTxnId id, const Message&, const Source&) override { server = id; }
  void on_ack(const Message&, const Source&) override {}
  void on_cancel(ServerTxnId, const Message&) override {}
  void on_response(ClientTxnId, const Message&) override { ++responses; }
  void on_client_failure(ClientTxnId, bool) override {}
  void on_stray_response(const Message&, const Source&) override {}
  ServerTxnId server = 0;
  std::size_t responses = 0;
};

struct Ring {
  Ring() {
    for (int i = 0; i < kRing; ++i) {
      const std::string branch = "z9hG4bK-bench-" + std::to_string(i);
      requests.push_back(*parse(request_text(branch)));
      responses.push_back(*parse(response_text(branch)));
    }
  }
  std::vector<Message> requests;
  std::vector<Message> responses;
};

Source ws_source() {
  Source s;
  s.protocol = Protocol::Ws;
  s.peer = Endpoint{boost::asio::ip::make_address("192.0.2.10"), 50000};
  s.flow = 7;
  return s;
}

void server_txn_bench(benchmark::State& state) {
  const Ring ring;
  ManualTimerService timers;
  NullSender sender;
  LastIdTu tu;
  TransactionLayer layer(timers, sender, tu);
  const Source src = ws_source();
  int i = 0;
  for (auto _ : state) {
    layer.receive(ring.requests[i], src);
    layer.respond(tu.server, ring.responses[i]);
    if (++i == kRing) {
      i = 0;
      timers.advance(Millis(0));  // Timer J = 0 on WS: the transactions end
    }
  }
}

void client_txn_bench(benchmark::State& state) {
  const Ring ring;
  ManualTimerService timers;
  NullSender sender;
  LastIdTu tu;
  TransactionLayer layer(timers, sender, tu);
  const Source src = ws_source();
  Destination dest;
  dest.protocol = Protocol::Ws;
  dest.endpoint = src.peer;
  dest.flow = src.flow;
  int i = 0;
  for (auto _ : state) {
    layer.send_request(ring.requests[i], dest);
    layer.receive(ring.responses[i], src);
    if (++i == kRing) {
      i = 0;
      timers.advance(Millis(0));  // Timer K = 0 on WS: the transactions end
    }
  }
  if (tu.responses != static_cast<std::size_t>(state.iterations()))
    state.SkipWithError("responses not matched");
}

BENCHMARK(server_txn_bench);
BENCHMARK(client_txn_bench);

}  // namespace
