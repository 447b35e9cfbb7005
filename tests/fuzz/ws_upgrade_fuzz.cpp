// libFuzzer target for the WebSocket opening handshake: arbitrary bytes as what a peer sends on
// a fresh connection, through websocketpp's HTTP parser (iostream transport) into the SAME
// validate code as ws::Listener (connection limits, `sip` subprotocol, Origin policy, handshake
// auth hook; see src/ws/handshake_checks.hpp), then - if the upgrade succeeded - websocketpp's
// frame parser and the listener's message hand-off. The first byte picks the configuration.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "ws/listener.hpp"

namespace {

/// An invariant of our own code broke: name it and let the fuzzer report the input.
void check_at(bool ok, const char* what, int line) {
  if (ok) return;
  std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, line, what);
  std::abort();
}
#define check(cond) check_at((cond), #cond, __LINE__)

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

constexpr std::size_t kMaxMessage = 4096;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sipws;
  const std::uint8_t flags = size > 0 ? data[0] : 0;
  const char* bytes = reinterpret_cast<const char*>(data) + (size > 0 ? 1 : 0);
  const std::size_t n = size > 0 ? size - 1 : 0;
  const Endpoint peer{boost::asio::ip::make_address("192.0.2.1"), 5555};

  ws::ListenerConfig cfg;
  cfg.max_message_size = kMaxMessage;
  if (flags & 1) cfg.allowed_origins = {"https://*.example.com", "https://a.test:8443", "null"};
  cfg.allow_no_origin = (flags & 2) != 0;
  transport::ConnectionLimiter::Admission held;
  if (flags & 4) {  // this peer already holds its one allowed connection: 429
    transport::ConnectionLimits l;
    l.max_per_ip = 1;
    cfg.limiter = std::make_shared<transport::ConnectionLimiter>(l);
    held = cfg.limiter->admit(peer.address);
  }
  if (flags & 8) {
    cfg.handshake_auth = [](const ws::HandshakeRequest& r) {
      ws::HandshakeVerdict v;
      if (r.cookie != "s=1") {
        v.status = (r.authorization.size() % 2) ? 403 : 401;
        v.headers.emplace_back("WWW-Authenticate",
                               "Digest realm=\"x\", nonce=\"" + r.resource.substr(0, 16) + "\"");
      }
      return v;
    };
  }
  std::size_t delivered = 0;
  ws::UpgradeProbe probe(
      cfg,
      [&delivered](std::shared_ptr<const std::string> msg, const Source& src) {
        check(msg && !msg->empty() && msg->size() <= kMaxMessage);
        check(src.protocol == Protocol::Ws && src.flow != kNoFlow);
        ++delivered;
      },
      peer);
  // Two reads when the input is long enough: the split point exercises partial requests.
  const std::size_t split = n > 8 ? (flags >> 4) * n / 16 : n;
  probe.feed(bytes, split);
  probe.feed(bytes + split, n - split);
  const std::string out = probe.output();
  check(out.empty() || starts_with(out, "HTTP/1.1 "));
  if (probe.open()) {
    check(starts_with(out, "HTTP/1.1 101 "));
    check(out.find("Sec-WebSocket-Protocol: sip\r\n") != std::string::npos);
    check(!(flags & 4));  // an over-limit peer never gets upgraded
  }
  if (delivered > 0) check(starts_with(out, "HTTP/1.1 101 "));
  probe.eof();
  return 0;
}
