// libFuzzer target for one WebSocket message on its way to the SIP stack, through the code the
// daemon runs: an upgraded connection (ws::UpgradeProbe: websocketpp's frame parser and
// reassembly, the listener's size limit and hand-off) delivering into
// transport::TransportLayer::deliver (keep-alive, 513, sip::parse, the stateless 400), whose
// replies go back over a WS flow. The first byte picks text/binary and the fragmentation; the
// rest is the message payload.
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "transport/transport_layer.hpp"
#include "ws/listener.hpp"

namespace {

using namespace sipws;

/// An invariant of our own code broke: name it and let the fuzzer report the input.
void check_at(bool ok, const char* what, int line) {
  if (ok) return;
  std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, line, what);
  std::abort();
}
#define check(cond) check_at((cond), #cond, __LINE__)

constexpr std::size_t kMaxMessage = 8192;

/// The WS flow the replies of TransportLayer go to (the FlowId the probe stamps).
class CaptureFlow final : public transport::Flow {
 public:
  explicit CaptureFlow(FlowId id) : id_(id) {}
  FlowId id() const override { return id_; }
  Protocol protocol() const override { return Protocol::Ws; }
  Endpoint peer() const override { return {}; }
  Endpoint local() const override { return {}; }
  bool send(std::shared_ptr<const std::string> bytes) override {
    sent.push_back(*bytes);
    return true;
  }
  void close() override {}
  std::vector<std::string> sent;

 private:
  FlowId id_;
};

class Capture final : public transport::MessageHandler {
 public:
  void on_message(const sip::Message& msg, const Source& src) override {
    check(src.protocol == Protocol::Ws);
    check(!msg.raw().empty());
    ++messages;
  }
  std::size_t messages = 0;
};

struct Stack {
  Stack() : transport(io, transport::TransportLimits{kMaxMessage}) {
    transport.set_handler(&handler);
    flow = std::make_shared<CaptureFlow>(ws::UpgradeProbe::kFlowId);
    transport.flows().add(flow);
  }
  boost::asio::io_context io;
  transport::TransportLayer transport;
  Capture handler;
  std::shared_ptr<CaptureFlow> flow;
};

/// One masked client frame (RFC 6455 s.5.2).
std::string frame(unsigned opcode, std::string_view payload, bool fin) {
  std::string f;
  f.push_back(static_cast<char>((fin ? 0x80 : 0) | opcode));
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xff));
  }
  const char key[4] = {0x0f, 0x1e, 0x2d, 0x3c};
  f.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) f.push_back(payload[i] ^ key[i % 4]);
  return f;
}

const std::string kUpgrade =
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: sip\r\n\r\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || size > 65535) return 0;
  static Stack stack;
  stack.flow->sent.clear();
  stack.handler.messages = 0;
  const std::uint8_t flags = data[0];
  const std::string_view payload(reinterpret_cast<const char*>(data) + 1, size - 1);
  const unsigned opcode = (flags & 1) ? 0x2 : 0x1;  // binary : text
  const std::size_t pieces = 1 + ((flags >> 1) & 3);

  ws::ListenerConfig cfg;
  cfg.max_message_size = kMaxMessage;
  std::vector<std::string> delivered;
  ws::UpgradeProbe probe(
      cfg,
      [&delivered](std::shared_ptr<const std::string> bytes, const Source& src) {
        delivered.push_back(*bytes);
        stack.transport.deliver(std::move(bytes), src);
      },
      Endpoint{boost::asio::ip::make_address("192.0.2.1"), 5555});
  probe.feed(kUpgrade.data(), kUpgrade.size());
  check(probe.open());

  std::string wire;
  const std::size_t step = payload.size() / pieces + 1;
  for (std::size_t i = 0, off = 0; i < pieces; ++i, off += step) {
    const std::string_view part = off < payload.size() ? payload.substr(off, step) : "";
    wire += frame(i == 0 ? opcode : 0x0, part, i + 1 == pieces);
  }
  probe.feed(wire.data(), wire.size());

  // One WS message is one SIP message, byte for byte, or nothing.
  check(delivered.size() <= 1);
  if (!delivered.empty()) check(delivered[0] == payload);
  if (payload.size() > kMaxMessage) check(delivered.empty() && probe.local_close_code() == 1009);
  if (opcode == 0x2 && !payload.empty() && payload.size() <= kMaxMessage) {
    check(delivered.size() == 1);  // binary frames need no UTF-8
  }
  // At most one reply (a keep-alive pong, a 400 / 513), and a well-formed one.
  check(stack.flow->sent.size() <= 1);
  for (const auto& r : stack.flow->sent) {
    if (r == "\r\n") continue;
    // A stateless 400/513 copies Via/From/To/Call-ID/CSeq as received (RFC 3261 s.8.2.6), so
    // it need not parse when those are the defect; it must be a response head.
    check(r.rfind("SIP/2.0 4", 0) == 0 || r.rfind("SIP/2.0 5", 0) == 0);
    check(r.size() >= 4 && r.compare(r.size() - 4, 4, "\r\n\r\n") == 0);
  }
  check(stack.handler.messages + stack.flow->sent.size() <= 1 ||
        (stack.flow->sent.size() == 1 && stack.flow->sent[0] == "\r\n"));
  probe.eof();
  return 0;
}
