#pragma once
// Shared by the tests of tests/unit/ws/: websocketpp clients (WS/WSS) that record what happens
// to their connection, and a fixture running one ws::Listener on 127.0.0.1 with everything on
// one io_context driven by the test thread. The listener's deadlines run on a ManualTimerService:
// time moves only when a test calls advance(); sockets are real. A test shows that nothing was
// sent by settling the connection (settle()), never by waiting.

#include "ws/listener.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_client.hpp>

#include "../transport/socket_probe.hpp"
#include "common/counters.hpp"
#include "common/timer.hpp"
#include "transport/asio_timer.hpp"
#include "transport/flow.hpp"
#include "transport/tls.hpp"

namespace sipws::ws::test {

namespace fs = std::filesystem;
namespace wsp = websocketpp;
using namespace std::chrono_literals;
using Opcode = wsp::frame::opcode::value;

/// A websocketpp client (WS or WSS) that records what happens to its one connection.
template <class Config>
class Client {
 public:
  using Endpoint = wsp::client<Config>;
  static constexpr bool kTls = std::is_same_v<Config, wsp::config::asio_tls_client>;

  Client(boost::asio::io_context& io, const std::string& uri,
         std::vector<std::string> subprotocols = {"sip"}, bool answer_pings = true,
         std::vector<std::pair<std::string, std::string>> headers = {}) {
    c_.clear_access_channels(wsp::log::alevel::all);
    c_.clear_error_channels(wsp::log::elevel::all);
    c_.init_asio(&io);
    if constexpr (kTls) {
      c_.set_tls_init_handler([](wsp::connection_hdl) {
        auto ctx =
            std::make_shared<boost::asio::ssl::context>(boost::asio::ssl::context::tls_client);
        ctx->set_verify_mode(boost::asio::ssl::verify_none);
        return ctx;
      });
    }
    c_.set_open_handler([this](wsp::connection_hdl) { opened = true; });
    c_.set_fail_handler([this](wsp::connection_hdl) { failed = true; });
    c_.set_close_handler([this](wsp::connection_hdl) {
      closed = true;
      remote_close_code = con->get_remote_close_code();
    });
    c_.set_message_handler([this](wsp::connection_hdl, typename Endpoint::message_ptr m) {
      received.emplace_back(m->get_opcode(), m->get_payload());
    });
    c_.set_ping_handler([this, answer_pings](wsp::connection_hdl, std::string) {
      ++pings;
      return answer_pings;
    });
    wsp::lib::error_code ec;
    con = c_.get_connection(uri, ec);
    EXPECT_FALSE(ec) << ec.message();
    for (const auto& p : subprotocols) con->add_subprotocol(p);
    for (const auto& [name, value] : headers) con->replace_header(name, value);
    c_.connect(con);
  }

  void send(const std::string& s, Opcode op) {
    wsp::lib::error_code ec;
    c_.send(con, s, op, ec);
    EXPECT_FALSE(ec) << ec.message();
  }
  void close(wsp::close::status::value code = wsp::close::status::normal) {
    wsp::lib::error_code ec;
    c_.close(con, code, "bye", ec);
  }
  sipws::Endpoint local() {
    boost::system::error_code ec;
    auto ep = con->get_raw_socket().local_endpoint(ec);
    return sipws::Endpoint{ep.address(), ep.port()};
  }

  typename Endpoint::connection_ptr con;
  bool opened = false;
  bool failed = false;
  bool closed = false;
  int pings = 0;
  int remote_close_code = -1;
  std::vector<std::pair<Opcode, std::string>> received;

 private:
  Endpoint c_;
};

using WsClient = Client<wsp::config::asio_client>;
using WssClient = Client<wsp::config::asio_tls_client>;

inline std::string make_temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "sipws-ws-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) return {};
  return tmpl;
}

inline std::uint64_t counter(const char* name) { return counters().get(name).value(); }

/// One client frame (RFC 6455 s.5.2), masked as a client's must be unless `masked` is false.
inline std::string ws_frame(unsigned opcode, const std::string& payload, bool fin = true,
                            bool masked = true) {
  std::string f;
  f.push_back(static_cast<char>((fin ? 0x80 : 0x00) | (opcode & 0x0f)));
  const char mask_bit = masked ? static_cast<char>(0x80) : 0;
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(mask_bit | static_cast<char>(payload.size())));
  } else if (payload.size() <= 0xffff) {
    f.push_back(static_cast<char>(mask_bit | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xff));
  } else {
    f.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((payload.size() >> (8 * i)) & 0xff));
  }
  const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) f.append(reinterpret_cast<const char*>(key), 4);
  for (std::size_t i = 0; i < payload.size(); ++i) {
    f.push_back(masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i]);
  }
  return f;
}

/// An opening handshake offering `protocol` (none if empty) plus `extra` header lines.
inline std::string upgrade_request(const std::string& extra = "",
                                   const std::string& protocol = "sip") {
  std::string r =
      "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
  if (!protocol.empty()) r += "Sec-WebSocket-Protocol: " + protocol + "\r\n";
  return r + extra + "\r\n";
}

/// The frames the server sent after its HTTP response in `in`: (opcode, payload); stops at an
/// incomplete frame.
inline std::vector<std::pair<int, std::string>> server_frames(const std::string& in) {
  std::vector<std::pair<int, std::string>> out;
  auto pos = in.find("\r\n\r\n");
  if (pos == std::string::npos) return out;
  pos += 4;
  while (pos + 2 <= in.size()) {
    const auto b0 = static_cast<unsigned char>(in[pos]);
    const auto b1 = static_cast<unsigned char>(in[pos + 1]);
    std::size_t len = b1 & 0x7f;
    std::size_t hdr = 2;
    if (len == 126) {
      if (pos + 4 > in.size()) break;
      len =
          (static_cast<unsigned char>(in[pos + 2]) << 8) | static_cast<unsigned char>(in[pos + 3]);
      hdr = 4;
    } else if (len == 127) {
      if (pos + 10 > in.size()) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<unsigned char>(in[pos + 2 + i]);
      hdr = 10;
    }
    if (pos + hdr + len > in.size()) break;
    out.emplace_back(b0 & 0x0f, in.substr(pos + hdr, len));
    pos += hdr + len;
  }
  return out;
}

/// The status code of the first close frame in `frames`, or -1.
inline int close_code_of(const std::vector<std::pair<int, std::string>>& frames) {
  for (const auto& [op, payload] : frames) {
    if (op == 0x8 && payload.size() >= 2) {
      return (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
    }
  }
  return -1;
}

/// A raw TCP peer of the listener: connects (optionally from a given local address), writes
/// bytes, and collects everything the server sends until EOF. Thread: the fixture's io_context.
struct RawPeer {
  explicit RawPeer(boost::asio::io_context& io) : sock(io) {}
  void start_reading() {
    sock.async_read_some(boost::asio::buffer(buf),
                         [this](const boost::system::error_code& ec, std::size_t n) {
                           in.append(buf.data(), n);
                           if (ec) {
                             eof = true;
                             return;
                           }
                           start_reading();
                         });
  }
  void write(const std::string& bytes) {
    auto keep = std::make_shared<std::string>(bytes);
    boost::asio::async_write(sock, boost::asio::buffer(*keep),
                             [keep](const boost::system::error_code&, std::size_t) {});
  }
  bool upgraded() const {
    return in.rfind("HTTP/1.1 101", 0) == 0 && in.find("\r\n\r\n") != std::string::npos;
  }
  boost::asio::ip::tcp::socket sock;
  std::array<char, 4096> buf{};
  std::string in;
  bool connected = false;
  bool eof = false;
};

class WsListenerTest : public ::testing::Test {
 protected:
  ~WsListenerTest() override {
    if (!tmp_.empty()) fs::remove_all(tmp_);
  }

  /// Starts the listener on 127.0.0.1, port 0, on the manual clock, or with `real_clock` on an
  /// AsioTimerService of the io_context (the daemon's clock).
  void start(ListenerConfig cfg = {}, bool real_clock = false) {
    cfg.listen = sipws::Endpoint{boost::asio::ip::make_address("127.0.0.1"), 0};
    if (real_clock) real_timers_ = std::make_unique<transport::AsioTimerService>(io_);
    listener_ = std::make_unique<Listener>(
        io_, real_clock ? *real_timers_ : static_cast<TimerService&>(timers_), flows_,
        [this](std::shared_ptr<const std::string> b, const Source& s) {
          delivered_.emplace_back(*b, s);
        },
        cfg);
    listener_->start();
    ASSERT_NE(listener_->local_endpoint().port, 0);
  }

  std::string uri(const char* scheme = "ws") const {
    return std::string(scheme) +
           "://127.0.0.1:" + std::to_string(listener_->local_endpoint().port) + "/";
  }

  /// Runs the io_context (socket I/O) until `pred` holds; returns pred(). The real-time limit
  /// only ends a test whose awaited event never comes (a failure), it is never waited out.
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5s) {
    const auto hang_guard = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= hang_guard) return false;
      io_.run_one_for(20ms);
    }
    return true;
  }

  /// Moves the listener's manual clock by `d` (deadlines and keep-alive sweeps due fire inside,
  /// in time order), then runs the handlers that became ready.
  void advance(Millis d) {
    timers_.advance(d);
    io_.poll();
  }

  /// Runs the io_context until no byte of the TCP connection from `a` to `b` (both ends are
  /// sockets of this process) is unread or unacknowledged at either end, and no handler is
  /// ready: each side has then processed all the other sent, and what the test sees is all
  /// there is (how a test shows that no close frame or ping was sent). False if either socket
  /// is gone or the connection does not settle.
  bool settle(const sipws::Endpoint& a, const sipws::Endpoint& b) {
    const int fa = sipws::test::tcp_socket_fd(a, b);
    const int fb = sipws::test::tcp_socket_fd(b, a);
    if (fa < 0 || fb < 0) return false;
    auto quiet = [&] {
      return sipws::test::tcp_bytes_in_flight(fa) == 0 && sipws::test::tcp_bytes_in_flight(fb) == 0;
    };
    for (int round = 0; round < 100; ++round) {
      if (!run_until([&] {
            return quiet() || sipws::test::tcp_bytes_in_flight(fa) < 0 ||
                   sipws::test::tcp_bytes_in_flight(fb) < 0;
          })) {
        return false;
      }
      if (!quiet()) return false;  // a socket was closed
      if (io_.poll() == 0 && quiet()) return true;
    }
    return false;
  }

  /// settle() for the connection of websocketpp client `c` to the listener.
  template <class C>
  bool settle(C& c) {
    return settle(c.local(), listener_->local_endpoint());
  }

  /// settle() for the connection of raw peer `p` to the listener.
  bool settle(RawPeer& p) {
    boost::system::error_code ec;
    const auto ep = p.sock.local_endpoint(ec);
    if (ec) return false;
    return settle(sipws::Endpoint{ep.address(), ep.port()}, listener_->local_endpoint());
  }

  /// Sends `request` on a raw TCP connection and returns everything until EOF.
  std::string raw_http(const std::string& request) {
    boost::asio::ip::tcp::socket sock(io_);
    std::string response;
    bool done = false;
    const auto ep = listener_->local_endpoint();
    sock.async_connect({ep.address, ep.port}, [&](const boost::system::error_code& ec) {
      if (ec) {
        done = true;
        return;
      }
      boost::asio::async_write(
          sock, boost::asio::buffer(request),
          [&](const boost::system::error_code& ec2, std::size_t) {
            if (ec2) {
              done = true;
              return;
            }
            boost::asio::async_read(
                sock, boost::asio::dynamic_buffer(response),
                [&](const boost::system::error_code&, std::size_t) { done = true; });
          });
    });
    EXPECT_TRUE(run_until([&] { return done; }));
    return response;
  }

  /// Like raw_http over TLS (no certificate check).
  std::string raw_https(const std::string& request) {
    boost::asio::ssl::context ctx(boost::asio::ssl::context::tls_client);
    ctx.set_verify_mode(boost::asio::ssl::verify_none);
    boost::asio::ssl::stream<boost::asio::ip::tcp::socket> tls(io_, ctx);
    std::string response;
    bool done = false;
    const auto ep = listener_->local_endpoint();
    auto fail_or = [&](const boost::system::error_code& ec) {
      if (ec) done = true;
      return !ec;
    };
    tls.next_layer().async_connect({ep.address, ep.port}, [&](const boost::system::error_code& ec) {
      if (!fail_or(ec)) return;
      tls.async_handshake(
          boost::asio::ssl::stream_base::client, [&](const boost::system::error_code& ec2) {
            if (!fail_or(ec2)) return;
            boost::asio::async_write(
                tls, boost::asio::buffer(request),
                [&](const boost::system::error_code& ec3, std::size_t) {
                  if (!fail_or(ec3)) return;
                  boost::asio::async_read(
                      tls, boost::asio::dynamic_buffer(response),
                      [&](const boost::system::error_code&, std::size_t) { done = true; });
                });
          });
    });
    EXPECT_TRUE(run_until([&] { return done; }));
    return response;
  }

  /// A connected RawPeer (reading), bound to `from` (e.g. "127.0.0.2") if given.
  std::unique_ptr<RawPeer> raw_peer(const std::string& from = "") {
    auto p = std::make_unique<RawPeer>(io_);
    const auto ep = listener_->local_endpoint();
    if (!from.empty()) {
      p->sock.open(boost::asio::ip::tcp::v4());
      p->sock.bind({boost::asio::ip::make_address(from), 0});
    }
    bool failed = false;
    p->sock.async_connect({ep.address, ep.port}, [&](const boost::system::error_code& ec) {
      if (ec)
        failed = true;
      else
        p->connected = true;
    });
    EXPECT_TRUE(run_until([&] { return p->connected || failed; }));
    EXPECT_TRUE(p->connected);
    p->start_reading();
    return p;
  }

  std::string tls_dir() {
    if (tmp_.empty()) tmp_ = make_temp_dir();
    return tmp_ + "/certs";
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{
      io_.get_executor()};
  ManualTimerService timers_;  ///< the listener's clock (declared before it: outlives it)
  std::unique_ptr<transport::AsioTimerService> real_timers_;  ///< start(cfg, true)
  transport::FlowTable flows_;
  std::vector<std::pair<std::string, Source>> delivered_;
  std::unique_ptr<Listener> listener_;
  std::string tmp_;
};

}  // namespace sipws::ws::test
