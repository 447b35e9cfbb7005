// ws::Listener hooks for handshake auth (RFC 7118 s.7) on 127.0.0.1 with raw sockets: the
// identity of an accepted upgrade is bound to its flow, and the HTTP hook answers at once or
// later (websocketpp's deferred HTTP response), or leaves the request to the static files.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>

#include "transport/flow.hpp"
#include "ws/listener.hpp"

namespace sipws::ws {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

const char kUpgrade[] =
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: sip\r\n\r\n";

std::string post(const std::string& target, const std::string& body) {
  return "POST " + target +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nCookie: a=b\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

class ListenerHooksTest : public ::testing::Test {
 protected:
  ~ListenerHooksTest() override {
    if (!www_.empty()) fs::remove_all(fs::path(www_).parent_path());
  }

  void start(ListenerConfig cfg) {
    cfg.listen = sipws::Endpoint{asio::ip::make_address("127.0.0.1"), 0};
    listener_ = std::make_unique<Listener>(
        io_, timers_, flows_, [](std::shared_ptr<const std::string>, const Source&) {}, cfg);
    listener_->start();
  }

  std::string make_www() {
    std::string tmpl = (fs::temp_directory_path() / "sipws-hooks-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) return {};
    www_ = tmpl + "/www";
    fs::create_directories(www_);
    std::ofstream(www_ + "/index.html") << "<html>static</html>";
    return www_;
  }

  bool run_until(const std::function<bool()>& pred) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      io_.run_one_for(20ms);
    }
    return true;
  }

  /// Sends `request`; returns the response up to EOF, or just its head for a 101.
  std::string exchange(const std::string& request) {
    asio::ip::tcp::socket& sock =
        *socks_.emplace_back(std::make_unique<asio::ip::tcp::socket>(io_));
    auto buf = std::make_shared<std::string>();
    bool done = false;
    const auto ep = listener_->local_endpoint();
    sock.async_connect({ep.address, ep.port}, [&](const boost::system::error_code& ec) {
      if (ec) {
        done = true;
        return;
      }
      asio::async_write(
          sock, asio::buffer(request), [&](const boost::system::error_code& e2, std::size_t) {
            if (e2) {
              done = true;
              return;
            }
            asio::async_read_until(sock, asio::dynamic_buffer(*buf), "\r\n\r\n",
                                   [&, buf](const boost::system::error_code& e3, std::size_t) {
                                     if (e3 || buf->rfind("HTTP/1.1 101", 0) == 0) {
                                       done = true;
                                       return;
                                     }
                                     asio::async_read(sock, asio::dynamic_buffer(*buf),
                                                      [&](const boost::system::error_code&,
                                                          std::size_t) { done = true; });
                                   });
          });
    });
    EXPECT_TRUE(run_until([&] { return done; }));
    return *buf;
  }

  asio::io_context io_;
  ManualTimerService timers_;  ///< no test here moves time
  asio::executor_work_guard<asio::io_context::executor_type> guard_{io_.get_executor()};
  transport::FlowTable flows_;
  std::unique_ptr<Listener> listener_;
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> socks_;
  std::string www_;
};

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

TEST_F(ListenerHooksTest, AcceptedIdentityIsBoundToTheNewFlow) {
  ListenerConfig cfg;
  cfg.handshake_auth = [](const HandshakeRequest&) {
    HandshakeVerdict v;
    v.identity = "alice@example.com";
    return v;
  };
  start(cfg);
  const std::string r = exchange(kUpgrade);
  ASSERT_TRUE(starts_with(r, "HTTP/1.1 101")) << r;
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1; }));
  EXPECT_EQ(flows_.identity(flows_.all().at(0)->id()), "alice@example.com");
}

TEST_F(ListenerHooksTest, HttpHookAnswersAtOnce) {
  std::vector<HttpRequest> seen;
  ListenerConfig cfg;
  cfg.http_handler = [&](const HttpRequest& req, std::function<void(HttpResponse)> reply) {
    seen.push_back(req);
    reply(HttpResponse{401, {{"Set-Cookie", "x=; Max-Age=0"}}, "{\"error\":1}"});
    reply(HttpResponse{200, {}, "second reply ignored"});
    return true;
  };
  start(cfg);
  const std::string r = exchange(post("/login?next=1", "{\"user\":\"alice\"}"));
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 401")) << r;
  EXPECT_NE(r.find("Set-Cookie: x=; Max-Age=0\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\n\r\n{\"error\":1}"), std::string::npos) << r;
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].resource, "/login?next=1");
  EXPECT_EQ(seen[0].host, "127.0.0.1");
  EXPECT_EQ(seen[0].content_type, "application/json");
  EXPECT_EQ(seen[0].cookie, "a=b");
  EXPECT_EQ(seen[0].body, "{\"user\":\"alice\"}");
  EXPECT_FALSE(seen[0].secure);
  EXPECT_EQ(flows_.size(), 0u);
}

TEST_F(ListenerHooksTest, HttpHookAnswersLaterThroughTheDeferredResponse) {
  ListenerConfig cfg;
  cfg.http_handler = [&](const HttpRequest&, std::function<void(HttpResponse)> reply) {
    // As the store would: the answer comes from a later turn of the io_context.
    asio::post(io_, [this, reply] {
      asio::post(io_, [reply] { reply(HttpResponse{200, {{"X-Late", "yes"}}, "later"}); });
    });
    return true;
  };
  start(cfg);
  const std::string r = exchange(post("/login", "{}"));
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 200")) << r;
  EXPECT_NE(r.find("X-Late: yes\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\n\r\nlater"), std::string::npos) << r;
}

TEST_F(ListenerHooksTest, RequestsTheHookLeavesGoToStaticFilesOr426) {
  ListenerConfig cfg;
  cfg.http_handler = [](const HttpRequest&, std::function<void(HttpResponse)>) { return false; };
  cfg.www_root = make_www();
  start(cfg);
  std::string r = exchange("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 200")) << r;
  EXPECT_NE(r.find("<html>static</html>"), std::string::npos) << r;
  r = exchange(post("/login", "{}"));
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 405")) << r;

  listener_.reset();
  ListenerConfig bare;
  bare.http_handler = cfg.http_handler;
  start(bare);
  r = exchange("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(starts_with(r, "HTTP/1.1 426")) << r;
}

TEST_F(ListenerHooksTest, ReplyAfterTheListenerIsGoneIsANoOp) {
  std::function<void(HttpResponse)> kept;
  ListenerConfig cfg;
  cfg.http_handler = [&](const HttpRequest&, std::function<void(HttpResponse)> reply) {
    kept = std::move(reply);
    return true;
  };
  start(cfg);
  asio::ip::tcp::socket sock(io_);
  const auto ep = listener_->local_endpoint();
  sock.connect({ep.address, ep.port});
  asio::write(sock, asio::buffer(post("/login", "{}")));
  ASSERT_TRUE(run_until([&] { return static_cast<bool>(kept); }));
  listener_.reset();
  kept(HttpResponse{200, {}, "too late"});  // must neither crash nor write
  kept = nullptr;                           // releases the connection
  std::string rest;
  bool eof = false;
  asio::async_read(sock, asio::dynamic_buffer(rest),
                   [&](const boost::system::error_code&, std::size_t) { eof = true; });
  EXPECT_TRUE(run_until([&] { return eof; }));  // the connection went away unanswered
  EXPECT_EQ(rest.find("too late"), std::string::npos) << rest;
}

}  // namespace
}  // namespace sipws::ws
