// RFC 7118 s.7 end to end on a real ws::Listener (127.0.0.1, raw sockets): HTTP Digest on the
// upgrade (401, 401 stale while the store fetch runs, 101) and POST /login with the deferred
// HTTP response followed by an upgrade with the cookie; the identity ends up on the flow.

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>

#include "auth/handshake_auth.hpp"
#include "handshake_test_util.hpp"
#include "transport/flow.hpp"
#include "ws/listener.hpp"

namespace sipws::auth {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

const std::string kKey = "0123456789abcdef0123456789abcdef";

/// One raw HTTP exchange: the response head (status line + headers), the body up to EOF for
/// non-101 answers, and the socket (kept open after a 101).
struct Exchange {
  std::unique_ptr<asio::ip::tcp::socket> sock;
  std::string head;
  std::string body;
  bool done = false;
  std::string error;  ///< what ended the exchange early

  int status() const { return head.size() > 12 ? std::stoi(head.substr(9, 3)) : 0; }
  /// Every value of header `name` (case-sensitive name match is enough for websocketpp).
  std::vector<std::string> headers(const std::string& name) const {
    std::vector<std::string> out;
    std::size_t pos = 0;
    const std::string key = "\r\n" + name + ": ";
    while ((pos = head.find(key, pos)) != std::string::npos) {
      pos += key.size();
      out.push_back(head.substr(pos, head.find("\r\n", pos) - pos));
    }
    return out;
  }
};

class HandshakeUpgradeTest : public ::testing::Test {
 protected:
  HandshakeUpgradeTest()
      : store_(store::Store::open(dir_.uri()),
               [this](std::function<void()> fn) { asio::post(io_, std::move(fn)); }) {
    store_.sync().put_subscriber(make_subscriber("alice", "example.com", "secret"));
  }
  ~HandshakeUpgradeTest() override {
    listener_.reset();
    store_.flush();
  }

  void start(HandshakeAuthMode mode) {
    HandshakeAuthConfig hc;
    hc.mode = mode;
    hc.realm = "example.com";
    auth_ = std::make_unique<HandshakeAuthenticator>(hc, kKey, store_, timers_);
    ws::ListenerConfig cfg;
    cfg.listen = Endpoint{asio::ip::make_address("127.0.0.1"), 0};
    // The daemon's adapters (src/app/daemon.cpp attach_handshake_auth), inlined.
    cfg.handshake_auth = [this](const ws::HandshakeRequest& r) {
      UpgradeVerdict v =
          auth_->check_upgrade({r.peer.address.to_string(), r.resource, r.cookie, r.authorization});
      return ws::HandshakeVerdict{v.status, v.headers, v.identity};
    };
    cfg.http_handler = [this](const ws::HttpRequest& r,
                              std::function<void(ws::HttpResponse)> reply) {
      LoginRequest lr{r.peer.address.to_string(),
                      r.method,
                      r.resource,
                      r.host,
                      r.origin,
                      r.content_type,
                      r.body,
                      r.secure};
      return auth_->handle_http(lr, [reply = std::move(reply)](LoginResponse x) {
        reply(ws::HttpResponse{x.status, x.headers, x.body});
      });
    };
    listener_ = std::make_unique<ws::Listener>(
        io_, timers_, flows_, [](std::shared_ptr<const std::string>, const Source&) {}, cfg);
    listener_->start();
  }

  bool run_until(const std::function<bool()>& pred) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      io_.run_one_for(20ms);
    }
    return true;
  }

  Exchange send(const std::string& request) {
    Exchange x;
    x.sock = std::make_unique<asio::ip::tcp::socket>(io_);
    const auto ep = listener_->local_endpoint();
    auto buf = std::make_shared<std::string>();
    x.sock->async_connect({ep.address, ep.port}, [&](const boost::system::error_code& ec) {
      if (ec) {
        x.error = "connect: " + ec.message();
        x.done = true;
        return;
      }
      asio::async_write(
          *x.sock, asio::buffer(request), [&](const boost::system::error_code& e2, std::size_t) {
            if (e2) {
              x.error = "write: " + e2.message();
              x.done = true;
              return;
            }
            asio::async_read_until(*x.sock, asio::dynamic_buffer(*buf), "\r\n\r\n",
                                   [&, buf](const boost::system::error_code& e3, std::size_t n) {
                                     if (e3) {
                                       x.error = "read: " + e3.message();
                                       x.done = true;
                                       return;
                                     }
                                     x.head = buf->substr(0, n);
                                     x.body = buf->substr(n);
                                     if (x.status() == 101) {
                                       x.done = true;
                                       return;
                                     }
                                     asio::async_read(*x.sock, asio::dynamic_buffer(x.body),
                                                      [&](const boost::system::error_code&,
                                                          std::size_t) { x.done = true; });
                                   });
          });
    });
    EXPECT_TRUE(run_until([&] { return x.done; }));
    return x;
  }

  Exchange upgrade(const std::string& extra_headers) {
    return send(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: sip\r\n" +
        extra_headers + "\r\n");
  }

  test::TempDir dir_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_{io_.get_executor()};
  ManualTimerService timers_;
  store::AsyncStore store_;
  transport::FlowTable flows_;
  std::unique_ptr<HandshakeAuthenticator> auth_;
  std::unique_ptr<ws::Listener> listener_;
};

TEST_F(HandshakeUpgradeTest, DigestOnTheUpgradeBindsTheIdentityToTheFlow) {
  start(HandshakeAuthMode::Digest);
  Exchange first = upgrade("");
  ASSERT_EQ(first.status(), 401) << first.error << first.head;
  // websocketpp keeps one field per header name: both challenges in one comma-joined field
  // (RFC 7235 s.4.1 allows that), SHA-256 first.
  const auto fields = first.headers("WWW-Authenticate");
  ASSERT_EQ(fields.size(), 1u) << first.error << first.head;
  const auto www = test::split_challenges(fields[0]);
  ASSERT_EQ(www.size(), 2u) << first.error << first.head;
  auto c = test::parse_challenge(www[1]);  // MD5
  ASSERT_TRUE(c);
  EXPECT_EQ(c->algorithm, "MD5");
  EXPECT_EQ(flows_.size(), 0u);

  // Credentials not cached: 401 stale=true with a fresh nonce while the store answers.
  Exchange second =
      upgrade("Authorization: " + test::authorization(*c, "alice", "secret", "/") + "\r\n");
  ASSERT_EQ(second.status(), 401) << second.head;
  auto stale =
      test::parse_challenge(test::split_challenges(second.headers("WWW-Authenticate").at(0)).at(0));
  ASSERT_TRUE(stale);
  EXPECT_TRUE(stale->stale);
  EXPECT_EQ(stale->algorithm, "SHA-256");
  EXPECT_NE(stale->nonce, c->nonce);
  store_.flush();  // the fetch has run; its answer is queued on io_ and runs below

  Exchange third =
      upgrade("Authorization: " + test::authorization(*stale, "alice", "secret", "/") + "\r\n");
  ASSERT_EQ(third.status(), 101) << third.head;
  EXPECT_EQ(third.headers("Sec-WebSocket-Protocol").at(0), "sip");
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1; }));
  EXPECT_EQ(flows_.identity(flows_.all().at(0)->id()), "alice@example.com");
}

TEST_F(HandshakeUpgradeTest, LoginCookieOpensTheUpgrade) {
  start(HandshakeAuthMode::Cookie);
  Exchange refused = upgrade("Cookie: sipws_session=forged\r\n");
  EXPECT_EQ(refused.status(), 403) << refused.head;

  const std::string body = R"({"user":"alice","password":"secret"})";
  Exchange login = send(
      "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  ASSERT_EQ(login.status(), 200) << login.error << login.head << login.body;
  const auto set_cookie = login.headers("Set-Cookie");
  ASSERT_EQ(set_cookie.size(), 1u);
  // A ws:// (plain HTTP) listener: no Secure attribute, or the browser could not send it back.
  EXPECT_EQ(set_cookie[0].find("Secure"), std::string::npos) << set_cookie[0];
  EXPECT_NE(login.body.find("\"aor\":\"alice@example.com\""), std::string::npos) << login.body;
  const std::string cookie = set_cookie[0].substr(0, set_cookie[0].find(';'));

  const std::string bad = R"({"user":"alice","password":"nope"})";
  Exchange wrong = send(
      "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(bad.size()) + "\r\nConnection: close\r\n\r\n" + bad);
  EXPECT_EQ(wrong.status(), 401) << wrong.head;

  Exchange ok = upgrade("Cookie: " + cookie + "\r\n");
  ASSERT_EQ(ok.status(), 101) << ok.error << ok.head;
  ASSERT_TRUE(run_until([&] { return flows_.size() == 1; }));
  EXPECT_EQ(flows_.identity(flows_.all().at(0)->id()), "alice@example.com");
}

TEST_F(HandshakeUpgradeTest, OtherPathsStillGetTheDefaultAnswer) {
  start(HandshakeAuthMode::Cookie);
  // No www_root: a plain GET that the hook does not take is refused with 426 as before.
  Exchange x = send("GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(x.status(), 426) << x.head;
}

}  // namespace
}  // namespace sipws::auth
