// RFC 6455 s.4.2.2 / s.4.4: sipws speaks WebSocket version 13 only. Any other
// Sec-WebSocket-Version (hybi-07/08, 14, not a number) and a missing one (hixie-76/hybi-00) get
// 426 Upgrade Required with `Sec-WebSocket-Version: 13`, never a 101 from websocketpp's older
// processors, over a real socket (ws::Listener) and on exact bytes (ws::UpgradeProbe).

#include <gtest/gtest.h>

#include <string>

#include "ws/listener.hpp"
#include "ws_test_util.hpp"

namespace sipws::ws {
namespace {

using namespace test;
using namespace std::chrono_literals;

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

/// An upgrade offering `sip`, with the Sec-WebSocket-Version line given (none if empty).
std::string upgrade_with_version(const std::string& version_line) {
  return "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
         version_line + "Sec-WebSocket-Protocol: sip\r\n\r\n";
}

/// A hixie-76 (hybi-00) opening handshake: no version header, Key1/Key2 and 8 bytes of key3
/// after the headers (the draft's own example).
const std::string kHixie76 =
    "GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nSec-WebSocket-Protocol: sip\r\n"
    "Upgrade: WebSocket\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n"
    "Origin: http://example.com\r\n\r\n^n:ds[4U";

/// Checks a 426 refusal naming version 13 and nothing of a WebSocket accept.
void expect_426_naming_13(const std::string& r) {
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 426")) << r;
  EXPECT_NE(r.find("\r\nSec-WebSocket-Version: 13\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\nUpgrade: websocket\r\n"), std::string::npos) << r;
  EXPECT_EQ(r.find("Sec-WebSocket-Accept"), std::string::npos) << r;
  EXPECT_EQ(r.find("Sec-WebSocket-Location"), std::string::npos) << r;  // hixie-76's 101
  EXPECT_EQ(r.find("HTTP/1.1 101"), std::string::npos) << r;
}

class WsVersionTest : public WsListenerTest {};

TEST_F(WsVersionTest, OtherVersionsGet426WithSecWebSocketVersion13) {
  start();
  const auto bad_before = counter("ws_bad_version");
  int refused = 0;
  for (const char* line : {"Sec-WebSocket-Version: 8\r\n", "Sec-WebSocket-Version: 7\r\n",
                           "Sec-WebSocket-Version: 0\r\n", "Sec-WebSocket-Version: 14\r\n",
                           "Sec-WebSocket-Version: 12\r\n", "Sec-WebSocket-Version: thirteen\r\n",
                           "Sec-WebSocket-Version: -13\r\n"}) {
    SCOPED_TRACE(line);
    expect_426_naming_13(raw_http(upgrade_with_version(line)));
    ++refused;
  }
  EXPECT_EQ(counter("ws_bad_version") - bad_before, static_cast<std::uint64_t>(refused));
  EXPECT_EQ(flows_.size(), 0u);
  EXPECT_TRUE(delivered_.empty());
}

// A missing version is hixie-76 for websocketpp (its hybi-00 processor would answer 101): here
// it is refused like any other version, whether or not the request carries Key1/Key2/key3.
TEST_F(WsVersionTest, MissingVersionHixie76Gets426) {
  start();
  const auto bad_before = counter("ws_bad_version");
  expect_426_naming_13(raw_http(kHixie76));
  expect_426_naming_13(raw_http(upgrade_with_version("")));
  EXPECT_EQ(counter("ws_bad_version") - bad_before, 2u);
  EXPECT_EQ(flows_.size(), 0u);
}

TEST_F(WsVersionTest, Version13StillUpgrades) {
  start();
  const auto bad_before = counter("ws_bad_version");
  auto peer = raw_peer();
  peer->write(upgrade_with_version("Sec-WebSocket-Version: 13\r\n"));
  ASSERT_TRUE(run_until([&] { return peer->upgraded(); })) << peer->in;
  EXPECT_NE(peer->in.find("Sec-WebSocket-Protocol: sip\r\n"), std::string::npos) << peer->in;
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1; }));
  EXPECT_EQ(counter("ws_bad_version"), bad_before);
  // And a real websocketpp client (version 13) too.
  WsClient client(io_, uri());
  ASSERT_TRUE(run_until([&] { return client.opened || client.failed; }));
  EXPECT_TRUE(client.opened);
}

// The version check comes before the HTTP hook and the static files: with both configured, a
// version 8 upgrade neither reaches the hook nor gets index.html.
TEST_F(WsVersionTest, BadVersionNeverReachesTheHttpHookOrStaticFiles) {
  tmp_ = make_temp_dir();
  ASSERT_FALSE(tmp_.empty());
  fs::create_directories(tmp_ + "/www");
  std::ofstream(tmp_ + "/www/index.html") << "<html>static</html>";
  int hook_calls = 0;
  ListenerConfig cfg;
  cfg.www_root = tmp_ + "/www";
  cfg.http_handler = [&](const HttpRequest&, std::function<void(HttpResponse)>) {
    ++hook_calls;
    return false;
  };
  start(cfg);
  const std::string r = raw_http(upgrade_with_version("Sec-WebSocket-Version: 8\r\n"));
  expect_426_naming_13(r);
  EXPECT_EQ(r.find("<html>static</html>"), std::string::npos) << r;
  EXPECT_EQ(hook_calls, 0);
  // A plain GET still goes to the hook, then the static files.
  const std::string get =
      raw_http("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(starts_with(get, "HTTP/1.1 200")) << get;
  EXPECT_EQ(hook_calls, 1);
}

TEST_F(WsVersionTest, WssRefusesOtherVersionsToo) {
  const auto cert = transport::ensure_dev_certificate(tls_dir());
  ListenerConfig cfg;
  cfg.tls = transport::make_server_tls_context(cert.cert_path, cert.key_path);
  start(cfg);
  expect_426_naming_13(raw_https(upgrade_with_version("Sec-WebSocket-Version: 8\r\n")));
}

// Over the connection limit the limit answer (429/503) wins: it is about the connection, and
// a version check would only tell an over-limit peer to retry at once.
TEST_F(WsVersionTest, ConnectionLimitIsCheckedFirst) {
  transport::ConnectionLimits l;
  l.max_per_ip = 1;
  ListenerConfig cfg;
  cfg.limiter = std::make_shared<transport::ConnectionLimiter>(l);
  start(cfg);
  auto holder = raw_peer();
  ASSERT_TRUE(run_until([&] { return cfg.limiter->total() == 1; }));
  const std::string r = raw_http(upgrade_with_version("Sec-WebSocket-Version: 8\r\n"));
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 429")) << r;
}

struct Probe {
  Probe()
      : probe(
            ListenerConfig{}, [](std::shared_ptr<const std::string>, const Source&) {},
            sipws::Endpoint{boost::asio::ip::make_address("192.0.2.7"), 40000}) {}
  std::string feed(const std::string& bytes) {
    probe.feed(bytes.data(), bytes.size());
    return probe.output();
  }
  UpgradeProbe probe;
};

TEST(UpgradeProbeVersion, SameAnswersOnExactBytes) {
  for (const char* line : {"Sec-WebSocket-Version: 8\r\n", "Sec-WebSocket-Version: 7\r\n",
                           "Sec-WebSocket-Version: 14\r\n", ""}) {
    SCOPED_TRACE(line);
    Probe p;
    expect_426_naming_13(p.feed(upgrade_with_version(line)));
    EXPECT_FALSE(p.probe.open());
  }
  Probe hixie;
  expect_426_naming_13(hixie.feed(kHixie76));
  EXPECT_FALSE(hixie.probe.open());
  Probe ok;
  EXPECT_TRUE(
      starts_with(ok.feed(upgrade_with_version("Sec-WebSocket-Version: 13\r\n")), "HTTP/1.1 101"));
  EXPECT_TRUE(ok.probe.open());
  Probe plain;  // a plain GET is still the probe's 426 without a version header
  const std::string r = plain.feed("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 426")) << r;
  EXPECT_EQ(r.find("Sec-WebSocket-Version"), std::string::npos) << r;
}

// A request split anywhere (as TCP may deliver it) is checked once it is complete.
TEST(UpgradeProbeVersion, SplitRequestIsCheckedWhenComplete) {
  const std::string req = upgrade_with_version("Sec-WebSocket-Version: 8\r\n");
  for (std::size_t cut : {std::size_t{1}, req.size() / 2, req.size() - 1}) {
    Probe p;
    EXPECT_EQ(p.feed(req.substr(0, cut)), "");
    expect_426_naming_13(p.feed(req.substr(cut)));
  }
}

}  // namespace
}  // namespace sipws::ws
