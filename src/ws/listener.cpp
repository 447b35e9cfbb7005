// ws::Listener (RFC 7118). sipws owns the sockets and the TLS (transport::TlsEngine); websocketpp
// runs only the WebSocket protocol (HTTP upgrade, framing, close handshake) on its iostream
// transport, which has no I/O and no timers: bytes go in through connection::read_all, come out
// through the write handlers, and the timers websocketpp's asio transport had (close handshake,
// pong, shutdown) are the Connection's deadlines below, on the injected TimerService (the
// daemon's AsioTimerService of the io thread; a ManualTimerService in tests). The only
// translation unit that sees websocketpp types besides UpgradeProbe and the ws tests.
// Thread: everything runs on the io thread that runs the io_context (and the TimerService).

#include "ws/listener.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <optional>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>
#include <websocketpp/server.hpp>
#include <websocketpp/utf8_validator.hpp>

#include "common/counters.hpp"
#include "common/log.hpp"
#include "common/token_bucket.hpp"
#include "sip/text.hpp"
#include "transport/descriptor_reserve.hpp"
#include "transport/socket_options.hpp"
#include "transport/tls_engine.hpp"
#include "ws/handshake_checks.hpp"
#include "ws/origin_policy.hpp"
#include "ws/static_files.hpp"

namespace sipws::ws {

namespace wsp = websocketpp;
using Tcp = boost::asio::ip::tcp;

namespace {

/// After websocketpp ended a connection (close handshake done, HTTP response written): how long
/// sipws waits for the peer to close its side (TCP EOF after our FIN, TLS close_notify) before it
/// closes the socket anyway. The flow has left the FlowTable already.
constexpr Millis kShutdownTimeout{1000};
/// Largest plain HTTP request body read (the login form); larger requests get 413.
constexpr std::size_t kMaxHttpBody = std::size_t{64} * 1024;
/// Bytes of a connection's own read buffer (see wait_readable): a REGISTER or an in-dialog
/// request in one read, at 1 kB per connection (an idle WSS flow is about 23 kB in all).
constexpr std::size_t kWaitBytes = 1024;
/// Bytes read from a socket per read_some, into the listener's scratch buffer.
constexpr std::size_t kReadScratch = std::size_t{64} * 1024;
/// Plaintext per TlsEngine::read: one TLS record at most (RFC 8446 s.5.1).
constexpr std::size_t kPlainScratch = std::size_t{16} * 1024;
/// Socket reads per readiness event before other connections get their turn.
constexpr int kReadRounds = 4;
/// Delay before accepting again after the process ran out of descriptors or memory.
constexpr Millis kAcceptRetry{100};
/// The whole answer to an upgrade that arrives while the process is out of descriptors.
constexpr std::string_view kOutOfDescriptors =
    "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\n"
    "Connection: close\r\n\r\n";

using Server = wsp::server<detail::ServerConfig>;
using ConPtr = Server::connection_ptr;
using MessagePtr = Server::message_ptr;

class Connection;

/// Shared by the listener and its connections; `listener` is nulled when the listener is
/// destroyed, so that late completions and replies touch nothing that is gone.
struct Link {
  ListenerImpl* listener = nullptr;
};

bool would_block(const boost::system::error_code& ec) {
  return ec == boost::asio::error::would_block || ec == boost::asio::error::try_again;
}

wsp::lib::error_code stream_error() {
  return wsp::transport::iostream::error::make_error_code(
      wsp::transport::iostream::error::bad_stream);
}

}  // namespace

/// The listener: acceptor, connections, keep-alive sweep, and the scratch buffers every
/// connection of this io thread reads and writes through. Thread: core io thread.
class ListenerImpl {
 public:
  ListenerImpl(boost::asio::io_context& io, TimerService& timers, transport::FlowTable& flows,
               DeliverFn deliver, ListenerConfig cfg);
  ~ListenerImpl();
  ListenerImpl(const ListenerImpl&) = delete;
  ListenerImpl& operator=(const ListenerImpl&) = delete;

  void start();
  Endpoint local_endpoint() const { return local_; }
  Protocol protocol() const { return cfg_.tls ? Protocol::Wss : Protocol::Ws; }
  void stop();

  // The rest is shared with the listener's Connections (ListenerImpl is private to this file).

  void accept_next();
  void on_accept(const boost::system::error_code& ec, Tcp::socket sock);
  void schedule_sweep();
  void sweep();

  boost::asio::io_context& io_;
  TimerService& timers_;
  transport::FlowTable& flows_;
  DeliverFn deliver_;
  ListenerConfig cfg_;
  OriginPolicy origins_;
  Server server_;
  Tcp::acceptor acceptor_;
  TimerService::TimerId sweep_ = 0;         ///< keep-alive sweep (ping_interval)
  TimerService::TimerId accept_retry_ = 0;  ///< accept again after kAcceptRetry
  transport::DescriptorReserve reserve_;    ///< refuses connections when out of descriptors
  /// Every connection from accept until its socket is closed and its flow left the table.
  std::unordered_map<Connection*, std::shared_ptr<Connection>> conns_;
  std::shared_ptr<Link> link_;
  Endpoint local_;
  bool stopped_ = false;
  // Scratch buffers of this io thread: a connection holds no buffer of its own while idle.
  // Each is filled and emptied within one call that runs no callback in between.
  std::vector<char> rx_;                        ///< socket reads
  std::vector<char> plain_rx_;                  ///< TLS plaintext read
  std::string tls_rx_out_;                      ///< TLS output made while reading (handshake)
  std::string tx_plain_;                        ///< WS frames of one write, to encrypt
  std::string tx_cipher_;                       ///< TLS records of one write
  std::vector<boost::asio::const_buffer> iov_;  ///< WS frames of one write (plain WS)
};

namespace {

/// One accepted TCP connection: TLS (WSS), websocketpp's protocol state, and - once upgraded -
/// a transport::Flow in the FlowTable. Writes go straight to the socket (non-blocking); only
/// what the kernel does not take is queued. Kept alive by the listener's map, the FlowTable and
/// its in-flight operations. Thread: core io thread.
class Connection final : public transport::Flow, public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Link> link, TimerService& timers, Tcp::socket sock, Protocol protocol,
             Endpoint peer, Endpoint local, ConPtr con, std::unique_ptr<transport::TlsEngine> tls,
             unsigned max_message_rate)
      : link_(std::move(link)),
        sock_(std::move(sock)),
        timers_(timers),
        protocol_(protocol),
        peer_(std::move(peer)),
        local_(std::move(local)),
        con_(std::move(con)),
        tls_(std::move(tls)),
        opened_(timers.now()),
        last_rx_(opened_),
        rate_(max_message_rate, max_message_rate, last_rx_) {
    deadlines_.fill(TimePoint::max());
  }

  FlowId id() const override { return id_; }
  Protocol protocol() const override { return protocol_; }
  Endpoint peer() const override { return peer_; }
  Endpoint local() const override { return local_; }
  Activity activity() const override { return {opened_, last_rx_}; }

  /// One WS message per call: text if `bytes` is valid UTF-8, binary otherwise (RFC 7118 s.4.2).
  bool send(std::shared_ptr<const std::string> bytes) override {
    if (!bytes || closing_ || dead_ || con_->get_state() != wsp::session::state::open) {
      return false;
    }
    auto self = shared_from_this();
    if (auto* l = listener();
        l != nullptr && l->cfg_.max_send_queue > 0 &&
        backlog_.size() + inflight_.size() + bytes->size() > l->cfg_.max_send_queue) {
      // The peer stopped reading: drop it rather than hold ever more for it (RFC 7118 s.5.2:
      // the transaction layer sees a transport error and answers for the request).
      SIPWS_COUNTER("ws_send_queue_overflows").inc();
      log::ws().info(
          "{} flow {} (peer {}): {} bytes wait for the peer to read, {} more would pass "
          "max_send_queue ({}): dropping the flow",
          via_token(protocol_), id_, peer_.to_string(), backlog_.size() + inflight_.size(),
          bytes->size(), l->cfg_.max_send_queue);
      drop(wsp::error::make_error_code(wsp::error::general));
      return false;
    }
    // RFC 7118 s.5.3: text frames for UTF-8 (an ASCII message needs no decoding to know).
    const bool utf8 = sip::text::is_ascii(*bytes) || wsp::utf8_validator::validate(*bytes);
    const auto op = utf8 ? wsp::frame::opcode::text : wsp::frame::opcode::binary;
    const auto ec = con_->send(bytes->data(), bytes->size(), op);
    if (ec) {
      SIPWS_COUNTER("ws_send_errors").inc();
      log::ws().debug("ws flow {} send failed: {}", id_, ec.message());
      return false;
    }
    return true;
  }

  void close() override { close_with(wsp::close::status::normal, ""); }

  /// Counts the connection against the limits, starts the handshake deadline (TLS and HTTP
  /// included) and reads.
  void start(ListenerImpl& l) {
    install_handlers();
    detail::admit_connection(*con_, l.cfg_.limiter.get(), peer_);
    con_->set_secure(tls_ != nullptr);
    set_deadline(kHandshake, timers_.now() + l.cfg_.handshake_timeout);
    con_->start();  // iostream: waits for bytes at once
    wait_readable();
  }

  /// Starts the WS closing handshake with `code` (RFC 6455 s.7.1.2); no-op once closing. The
  /// peer has close_handshake_timeout to answer before the TCP connection is dropped.
  void close_with(wsp::close::status::value code, const std::string& reason) {
    if (closing_ || dead_) return;
    auto self = shared_from_this();
    closing_ = true;
    clear_deadline(kFirstMessage);
    wsp::lib::error_code ec;
    con_->close(code, reason, ec);
    if (ec) {
      drop(ec);
      return;
    }
    watch_closing();
  }

  /// Drops the TCP connection without a closing handshake or TLS close_notify (dead peer,
  /// timeouts, TLS failure, listener destroyed). websocketpp's close/fail handler still runs.
  void drop(const wsp::lib::error_code& why) {
    if (dead_) return;
    auto self = shared_from_this();
    closing_ = true;
    abort_ = true;
    if (!ended_) con_->terminate(why);
    kill();
  }

  /// True while the flow is in the FlowTable (from the 101 until forgotten).
  bool in_table() const { return in_table_; }
  /// For the listener's destructor, which removes the flow itself.
  void leave_table() { in_table_ = false; }

  /// Keep-alive (ListenerConfig::ping_interval): pings an open flow idle for `interval`
  /// (RFC 6455 s.5.5.2); with no traffic within `pong_timeout` after it, it is dropped.
  void ping_if_idle(Millis interval, Millis pong_timeout, TimePoint now) {
    if (!in_table_ || closing_ || dead_ || awaiting_pong_ || now - last_rx_ < interval) return;
    SIPWS_COUNTER("ws_keepalive_pings").inc();
    wsp::lib::error_code ec;
    ping_sent_ = now;
    awaiting_pong_ = true;
    con_->ping("", ec);
    if (ec) {
      awaiting_pong_ = false;
      return;
    }
    if (pong_timeout.count() > 0) set_deadline(kPong, now + pong_timeout);
  }

  /// Stops everything and closes the socket. Idempotent.
  void kill() {
    if (dead_) return;
    auto self = shared_from_this();
    dead_ = true;
    deadlines_.fill(TimePoint::max());
    disarm();
    boost::system::error_code ec;
    sock_.close(ec);  // aborts the read wait and a flush in flight (inflight_ stays until then)
    std::string().swap(backlog_);
    con_->admission = transport::ConnectionLimiter::Admission{};  // closed: no longer counted
    // websocketpp's pending read handler holds the connection (a cycle until it completes):
    // complete it with an error, or an abandoned connection is never freed.
    con_->fatal_error();
    release();
  }

 private:
  /// The timers of websocketpp's asio transport and sipws's own, as deadlines of one timer.
  enum Deadline : std::size_t {
    kHandshake,       ///< ListenerConfig::handshake_timeout, from accept to the 101
    kFirstMessage,    ///< ListenerConfig::first_message_timeout, from the 101
    kPong,            ///< ListenerConfig::pong_timeout, from a keep-alive ping
    kCloseHandshake,  ///< ListenerConfig::close_handshake_timeout, from our close frame
    kShutdown,        ///< kShutdownTimeout, from the end of the WS/HTTP exchange
    kDeadlines
  };

  ListenerImpl* listener() const { return link_->listener; }

  void install_handlers() {
    // Raw pointer: websocketpp calls these only from inside this object's calls into con_
    // (the iostream transport has no asynchronous operation of its own), which hold `self`.
    Connection* const c = this;
    con_->set_validate_handler([c](const wsp::connection_hdl&) { return c->on_validate(); });
    con_->set_http_handler([c](const wsp::connection_hdl&) { c->on_http(); });
    con_->set_open_handler([c](const wsp::connection_hdl&) { c->on_open(); });
    con_->set_close_handler([c](const wsp::connection_hdl&) { c->on_ws_close(); });
    con_->set_fail_handler([c](const wsp::connection_hdl&) { c->on_ws_fail(); });
    con_->set_message_handler(
        [c](const wsp::connection_hdl&, const MessagePtr& msg) { c->on_message(msg); });
    con_->set_ping_handler([c](const wsp::connection_hdl&, const std::string&) {
      c->on_traffic();
      return true;  // answer with a pong
    });
    con_->set_pong_handler(
        [c](const wsp::connection_hdl&, const std::string&) { c->on_traffic(); });
    con_->set_write_handler([c](const wsp::connection_hdl&, const char* data, std::size_t size) {
      const wsp::transport::buffer b(data, size);
      return c->on_ws_write(&b, 1);
    });
    con_->set_vector_write_handler(
        [c](const wsp::connection_hdl&, const std::vector<wsp::transport::buffer>& bufs) {
          return c->on_ws_write(bufs.data(), bufs.size());
        });
    con_->set_shutdown_handler(
        [c](const wsp::connection_hdl&) { return c->on_transport_shutdown(); });
  }

  // ---- deadlines ----

  void set_deadline(Deadline d, TimePoint at) {
    if (dead_) return;  // a dead connection never holds a timer (kill() disarmed it)
    deadlines_[d] = at;
    if (at < timer_at_) arm(at);
  }

  /// Clears `d`; the timer is cancelled when no deadline is left (an idle flow waits on none).
  void clear_deadline(Deadline d) {
    if (deadlines_[d] == TimePoint::max()) return;
    deadlines_[d] = TimePoint::max();
    if (timer_at_ != TimePoint::max() &&
        std::all_of(deadlines_.begin(), deadlines_.end(),
                    [](TimePoint t) { return t == TimePoint::max(); })) {
      disarm();
    }
  }

  /// (Re)schedules the connection's one timer for `at`.
  void arm(TimePoint at) {
    timers_.cancel(timer_);
    timer_at_ = at;
    const auto delay = std::chrono::ceil<Millis>(at - timers_.now());
    timer_ = timers_.schedule(std::max(delay, Millis(0)), [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->on_timer();
    });
  }

  void disarm() {
    timers_.cancel(timer_);
    timer_ = 0;
    timer_at_ = TimePoint::max();
  }

  void on_timer() {
    timer_ = 0;
    timer_at_ = TimePoint::max();
    if (dead_) return;
    const TimePoint now = timers_.now();
    for (std::size_t d = 0; d < kDeadlines && !dead_; ++d) {
      if (deadlines_[d] > now) continue;
      deadlines_[d] = TimePoint::max();
      expire(static_cast<Deadline>(d));
    }
    if (dead_) return;
    const TimePoint next = *std::min_element(deadlines_.begin(), deadlines_.end());
    if (next != TimePoint::max() && next < timer_at_) arm(next);
  }

  void expire(Deadline d) {
    switch (d) {
      case kHandshake:
        if (in_table_ || ended_) return;
        SIPWS_COUNTER("ws_handshake_timeouts").inc();
        log::ws().info("ws connection from {}: no complete upgrade within ws_handshake_timeout",
                       peer_.to_string());
        drop(wsp::error::make_error_code(wsp::error::open_handshake_timeout));
        return;
      case kFirstMessage:
        if (got_message_ || closing_) return;
        SIPWS_COUNTER("ws_first_message_timeouts").inc();
        log::ws().info("{} flow {} sent no SIP message in time (peer {}): closing with 1008",
                       via_token(protocol_), id_, peer_.to_string());
        close_with(wsp::close::status::policy_violation, "no SIP message");
        return;
      case kPong:
        if (!awaiting_pong_ || last_rx_ >= ping_sent_) {  // traffic after the ping: alive
          awaiting_pong_ = false;
          return;
        }
        SIPWS_COUNTER("ws_keepalive_timeouts").inc();
        SIPWS_COUNTER("ws_flows_dead").inc();
        log::ws().info("{} flow {} keep-alive timeout (peer {})", via_token(protocol_), id_,
                       peer_.to_string());
        drop(wsp::error::make_error_code(wsp::error::general));
        return;
      case kCloseHandshake:  // the peer did not answer our close frame (websocketpp's timer)
        if (!ended_)
          con_->terminate(wsp::error::make_error_code(wsp::error::close_handshake_timeout));
        return;
      case kShutdown:
        kill();
        return;
      case kDeadlines:
        return;
    }
  }

  /// websocketpp sent a close frame (ours, or its own for a protocol error) and waits for the
  /// peer's: bound the wait.
  void watch_closing() {
    if (ended_ || dead_ || deadlines_[kCloseHandshake] != TimePoint::max()) return;
    if (con_->get_state() != wsp::session::state::closing) return;
    auto* l = listener();
    if (l == nullptr) return;
    set_deadline(kCloseHandshake, timers_.now() + l->cfg_.close_handshake_timeout);
  }

  // ---- reading ----

  /// Waits for bytes with a read of up to kWaitBytes into the connection's own small buffer:
  /// Asio tries it at once and else queues it as it is (an async_wait would re-register the
  /// socket with epoll, one epoll_ctl per message). A message that fits (a REGISTER, most
  /// in-dialog requests) costs that one read; the rest of a larger one is read into the
  /// listener's scratch buffer by on_readable.
  void wait_readable() {
    if (dead_ || read_waiting_) return;
    read_waiting_ = true;
    sock_.async_read_some(
        boost::asio::buffer(wait_buf_),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
          self->read_waiting_ = false;
          self->on_readable(ec, n);
        });
  }

  /// Feeds on the `first` bytes that wait_readable got, then reads what the kernel still has
  /// into the listener's scratch buffer. A short read means the socket is drained.
  void on_readable(const boost::system::error_code& ec, std::size_t first) {
    if (dead_ || ec == boost::asio::error::operation_aborted) return;
    if (ec) {  // EOF, reset
      on_peer_gone();
      return;
    }
    bool drained = false;
    if (first > 0) {
      auto* l = listener();
      if (l == nullptr) return;
      on_bytes(*l, wait_buf_.data(), first);
      if (dead_) return;
      drained = first < wait_buf_.size();
      first = 0;
    }
    for (int round = 0; round < kReadRounds && !drained; ++round) {
      auto* l = listener();
      if (l == nullptr) return;
      std::vector<char>& buf = l->rx_;
      boost::system::error_code rec;
      std::size_t n = sock_.read_some(boost::asio::buffer(buf), rec);
      if (would_block(rec)) {
        n = 0;
        drained = true;
      }
      if (n > 0) on_bytes(*l, buf.data(), n);
      if (dead_) return;
      if (rec && !drained) {  // EOF, reset
        on_peer_gone();
        return;
      }
      drained = drained || n < buf.size();
    }
    if (dead_) return;
    if (drained) {
      wait_readable();
    } else {  // more may be waiting without a new event: read again after the others' turn
      boost::asio::post(sock_.get_executor(),
                        [self = shared_from_this()] { self->on_readable({}, 0); });
    }
  }

  void on_bytes(ListenerImpl& l, const char* data, std::size_t size) {
    if (ended_) return;  // shutting down: input is discarded until EOF
    if (!tls_) {
      con_->read_all(data, size);
      watch_closing();
      return;
    }
    std::string_view in(data, size);
    for (;;) {
      std::size_t got = 0;
      const auto status =
          tls_->read(in, l.plain_rx_.data(), l.plain_rx_.size(), got, l.tls_rx_out_);
      if (!l.tls_rx_out_.empty()) {  // handshake messages, alerts: before anything else
        const bool ok = write_raw(boost::asio::buffer(l.tls_rx_out_));
        l.tls_rx_out_.clear();
        if (!ok) {
          drop(stream_error());
          return;
        }
      }
      switch (status) {
        case transport::TlsEngine::Status::Data:
          con_->read_all(l.plain_rx_.data(), got);
          watch_closing();
          if (dead_ || ended_) return;
          continue;
        case transport::TlsEngine::Status::NeedInput:
          return;
        case transport::TlsEngine::Status::Closed:  // close_notify: the peer sends no more
          on_peer_gone();
          return;
        case transport::TlsEngine::Status::Failed:
          if (!tls_->handshake_done()) SIPWS_COUNTER("ws_tls_handshake_failures").inc();
          log::ws().debug("wss connection from {} failed: {}", peer_.to_string(), tls_->error());
          drop(stream_error());
          return;
      }
    }
  }

  /// EOF, reset or close_notify from the peer.
  void on_peer_gone() {
    if (dead_) return;
    auto self = shared_from_this();
    if (ended_) {  // the WS/HTTP exchange was over: the peer closed its side, as it should
      kill();
      return;
    }
    peer_gone_ = true;
    con_->eof();  // websocketpp fails (handshake) or closes (1006) the connection if it reads
    if (!ended_) {
      con_->terminate(wsp::transport::error::make_error_code(wsp::transport::error::eof));
    }
    kill();
  }

  // ---- writing ----

  /// websocketpp's write handlers (HTTP response, frames): straight to the socket, through TLS
  /// for WSS. An error makes websocketpp end the connection.
  wsp::lib::error_code on_ws_write(const wsp::transport::buffer* bufs, std::size_t count) {
    auto* l = listener();
    if (dead_ || l == nullptr) return stream_error();
    if (!tls_) {
      l->iov_.clear();
      for (std::size_t i = 0; i < count; ++i) {
        if (bufs[i].len > 0) l->iov_.emplace_back(bufs[i].buf, bufs[i].len);
      }
      return write_raw(l->iov_) ? wsp::lib::error_code() : stream_error();
    }
    if (count == 0) return {};
    const char* data = bufs[0].buf;
    std::size_t size = bufs[0].len;
    if (count > 1) {  // one TLS record for a frame's header and payload
      l->tx_plain_.clear();
      for (std::size_t i = 0; i < count; ++i) l->tx_plain_.append(bufs[i].buf, bufs[i].len);
      data = l->tx_plain_.data();
      size = l->tx_plain_.size();
    }
    l->tx_cipher_.clear();
    const bool encrypted = tls_->write(data, size, l->tx_cipher_);
    const bool ok = encrypted && write_raw(boost::asio::buffer(l->tx_cipher_));
    l->tx_cipher_.clear();
    if (!encrypted)
      log::ws().debug("wss flow {} (peer {}): {}", id_, peer_.to_string(), tls_->error());
    return ok ? wsp::lib::error_code() : stream_error();
  }

  /// Writes `bufs` with one non-blocking attempt and queues what the kernel did not take (in
  /// order after anything queued before). False on a socket error.
  template <class ConstBuffers>
  bool write_raw(const ConstBuffers& bufs) {
    if (dead_) return false;
    const std::size_t total = boost::asio::buffer_size(bufs);
    if (total == 0) return true;
    std::size_t done = 0;
    if (!writing_) {  // nothing queued: try the kernel first
      boost::system::error_code ec;
      done = sock_.write_some(bufs, ec);
      if (would_block(ec)) {
        done = 0;
      } else if (ec) {
        log::ws().debug("ws connection from {}: write failed: {}", peer_.to_string(), ec.message());
        return false;
      }
    }
    if (done == total) return true;
    std::size_t skip = done;
    for (auto it = boost::asio::buffer_sequence_begin(bufs);
         it != boost::asio::buffer_sequence_end(bufs); ++it) {
      boost::asio::const_buffer b(*it);
      if (skip >= b.size()) {
        skip -= b.size();
        continue;
      }
      backlog_.append(static_cast<const char*>(b.data()) + skip, b.size() - skip);
      skip = 0;
    }
    if (!writing_) flush_backlog();
    return true;
  }

  void flush_backlog() {
    writing_ = true;
    inflight_.swap(backlog_);
    boost::asio::async_write(sock_, boost::asio::buffer(inflight_),
                             [self = shared_from_this()](const boost::system::error_code& ec,
                                                         std::size_t) { self->on_flushed(ec); });
  }

  void on_flushed(const boost::system::error_code& ec) {
    std::string().swap(inflight_);  // an idle connection holds no buffer
    if (dead_) {
      writing_ = false;
      return;
    }
    if (ec) {
      writing_ = false;
      on_peer_gone();
      return;
    }
    if (!backlog_.empty()) {
      flush_backlog();
      return;
    }
    writing_ = false;
    if (fin_after_flush_) half_close();
  }

  // ---- the end ----

  /// websocketpp ended the connection (closing handshake done, HTTP response written, error):
  /// close_notify (WSS), FIN once the queue is written, then wait up to kShutdownTimeout for
  /// the peer's EOF so that our last bytes are not lost to a reset. Runs just before
  /// websocketpp's close/fail handler.
  wsp::lib::error_code on_transport_shutdown() {
    ended_ = true;
    clear_deadline(kHandshake);
    clear_deadline(kFirstMessage);
    clear_deadline(kPong);
    clear_deadline(kCloseHandshake);
    auto* l = listener();
    if (dead_ || abort_ || peer_gone_ || l == nullptr) {
      kill();
      return {};
    }
    if (tls_) {
      l->tx_cipher_.clear();
      tls_->shutdown(l->tx_cipher_);
      const bool ok = write_raw(boost::asio::buffer(l->tx_cipher_));
      l->tx_cipher_.clear();
      if (!ok) {
        kill();
        return {};
      }
    }
    set_deadline(kShutdown, timers_.now() + kShutdownTimeout);
    if (writing_) {
      fin_after_flush_ = true;
    } else {
      half_close();
    }
    return {};
  }

  void half_close() {
    fin_after_flush_ = false;
    boost::system::error_code ec;
    sock_.shutdown(Tcp::socket::shutdown_send, ec);
  }

  /// Leaves the listener's map once the socket is closed and the flow left the table.
  void release() {
    if (!dead_ || in_table_) return;
    if (auto* l = listener()) l->conns_.erase(this);
  }

  // ---- websocketpp handlers ----

  // RFC 7118 s.4.1: the client must offer "sip"; the 101 selects it.
  bool on_validate() {
    auto* l = listener();
    if (l == nullptr) return false;
    return detail::validate_upgrade(*con_, detail::UpgradeGate{l->cfg_, l->origins_, l->stopped_},
                                    peer_, &identity_);
  }

  void on_open() {
    auto* l = listener();
    if (l == nullptr) return;
    const TimePoint now = timers_.now();
    clear_deadline(kHandshake);
    id_ = l->flows_.next_id();
    last_rx_ = now;
    in_table_ = true;
    l->flows_.add(shared_from_this());
    if (l->cfg_.first_message_timeout.count() > 0) {
      set_deadline(kFirstMessage, now + l->cfg_.first_message_timeout);
    }
    if (!identity_.empty()) {  // RFC 7118 s.7: the identity the handshake auth hook proved
      l->flows_.bind_identity(id_, std::move(identity_));
      std::string().swap(identity_);
    }
    SIPWS_COUNTER("ws_connections_opened").inc();
    log::ws().info("{} flow {} open from {}", via_token(protocol_), id_, peer_.to_string());
  }

  void on_ws_close() {
    switch (con_->get_local_close_code()) {
      case wsp::close::status::message_too_big:
        SIPWS_COUNTER("ws_oversized_messages").inc();
        break;
      case wsp::close::status::invalid_payload:
        SIPWS_COUNTER("ws_invalid_utf8").inc();
        break;
      case wsp::close::status::protocol_error:
        SIPWS_COUNTER("ws_protocol_errors").inc();
        break;
      default:
        break;
    }
    const auto remote = con_->get_remote_close_code();
    // No close frame from the peer and sipws did not start closing: the peer vanished.
    if (in_table_ && !closing_ && remote == wsp::close::status::abnormal_close) {
      SIPWS_COUNTER("ws_flows_dead").inc();
    }
    forget_later(static_cast<int>(remote));
  }

  void on_ws_fail() {
    std::string().swap(identity_);
    log::ws().debug("ws connection from {} failed: {}", peer_.to_string(),
                    con_->get_ec().message());
    forget_later(-1);
  }

  /// Removes the flow from the table on a later turn of the io_context: close and fail handlers
  /// may run inside Flow::send or Flow::close, whose callers do not expect the table (and its
  /// observers: the registrar) to change under them.
  void forget_later(int remote_code) {
    auto* l = listener();
    if (!in_table_ || l == nullptr) return;
    boost::asio::post(l->io_, [self = shared_from_this(), remote_code] {
      auto* l2 = self->listener();
      if (!self->in_table_ || l2 == nullptr) return;
      self->in_table_ = false;
      log::ws().info("{} flow {} closed (peer {}, remote code {})", via_token(self->protocol_),
                     self->id_, self->peer_.to_string(), remote_code);
      l2->flows_.remove(self->id_);
      self->release();
    });
  }

  // RFC 7118 s.5.1: each WS message, text or binary, carries exactly one SIP message.
  void on_message(const MessagePtr& msg) {
    auto* l = listener();
    if (!in_table_ || !msg || l == nullptr) return;
    const TimePoint now = timers_.now();  // one clock read per message
    on_traffic(now);
    if (!on_message_received(now)) return;  // over the rate: closing with 1008
    detail::hand_off_message(std::move(msg->get_raw_payload()),
                             Source{protocol_, peer_, local_, id_}, l->deliver_);
  }

  /// Accounts one received WS message; false if it exceeds the flow's message rate (then the
  /// flow is closing with 1008 and the message must be dropped).
  bool on_message_received(TimePoint now) {
    if (!got_message_) {
      got_message_ = true;
      clear_deadline(kFirstMessage);
    }
    if (closing_) return false;
    if (!rate_.take(now)) {
      SIPWS_COUNTER("ws_rate_limited").inc();
      log::ws().info("{} flow {} over ws_max_message_rate (peer {}): closing with 1008",
                     via_token(protocol_), id_, peer_.to_string());
      close_with(wsp::close::status::policy_violation, "message rate exceeded");
      return false;
    }
    return true;
  }

  /// Keep-alive bookkeeping: any frame from the peer proves it alive.
  void on_traffic() { on_traffic(timers_.now()); }
  void on_traffic(TimePoint now) {
    last_rx_ = now;
    awaiting_pong_ = false;
  }

  void on_http();
  bool dispatch_http(ListenerImpl& l);
  static void apply_http(Server::connection_type& c, const HttpResponse& r);

  std::shared_ptr<Link> link_;
  Tcp::socket sock_;
  TimerService& timers_;
  TimerService::TimerId timer_ = 0;  ///< the one timer, scheduled only while a deadline is set
  std::array<TimePoint, kDeadlines> deadlines_;
  TimePoint timer_at_ = TimePoint::max();  ///< when timer_ fires (max: not waiting)
  Protocol protocol_;
  Endpoint peer_;
  Endpoint local_;
  FlowId id_ = kNoFlow;
  ConPtr con_;
  std::unique_ptr<transport::TlsEngine> tls_;  ///< WSS only
  std::string backlog_;                        ///< bytes the kernel did not take yet
  std::string inflight_;                       ///< bytes of the async_write in flight
  std::string identity_;  ///< proved by handshake_auth, bound to the flow at the 101
  TimePoint opened_;
  TimePoint last_rx_;
  TimePoint ping_sent_{};
  TokenBucket rate_;
  bool in_table_ = false;      ///< the flow is in the FlowTable
  bool closing_ = false;       ///< sipws started closing (so its end is not a dead peer)
  bool abort_ = false;         ///< drop without shutdown
  bool ended_ = false;         ///< websocketpp ended the connection (shutdown handler ran)
  bool peer_gone_ = false;     ///< EOF, reset or close_notify from the peer
  bool dead_ = false;          ///< socket closed
  bool read_waiting_ = false;  ///< wait_readable's read is in flight
  /// wait_readable's buffer: the one I/O buffer an idle connection holds.
  std::array<char, kWaitBytes> wait_buf_{};
  bool writing_ = false;          ///< an async_write is in flight
  bool fin_after_flush_ = false;  ///< half-close once the queue is written
  bool got_message_ = false;
  bool awaiting_pong_ = false;
};

/// Offers a plain HTTP request to cfg_.http_handler; true if it took it. A reply given during
/// the call is written at once; a later one through websocketpp's deferred response. The reply
/// function owns the connection meanwhile.
bool Connection::dispatch_http(ListenerImpl& l) {
  auto& c = *con_;
  HttpRequest req;
  req.peer = peer_;
  req.method = c.get_request().get_method();
  req.resource = c.get_resource();
  req.host = c.get_request_header("Host");
  req.content_type = c.get_request_header("Content-Type");
  req.cookie = c.get_request_header("Cookie");
  req.origin = c.get_request_header("Origin");
  req.authorization = c.get_request_header("Authorization");
  req.body = c.get_request_body();
  req.secure = tls_ != nullptr;
  struct State {
    bool in_call = true;
    bool replied = false;
    std::optional<HttpResponse> early;
  };
  auto state = std::make_shared<State>();
  auto reply = [self = shared_from_this(), state](HttpResponse r) {
    if (state->replied) return;
    state->replied = true;
    if (state->in_call) {
      state->early = std::move(r);
      return;
    }
    // Listener gone or connection dropped meanwhile: the connection dies with this function.
    if (self->listener() == nullptr || self->dead_ || self->ended_) return;
    apply_http(*self->con_, r);
    wsp::lib::error_code ec;
    self->con_->send_http_response(ec);
    if (ec) log::ws().debug("deferred http response failed: {}", ec.message());
  };
  const bool taken = l.cfg_.http_handler(req, reply);
  state->in_call = false;
  if (!taken) return false;
  if (state->early) {
    apply_http(c, *state->early);
  } else {
    c.defer_http_response();
  }
  return true;
}

void Connection::apply_http(Server::connection_type& c, const HttpResponse& r) {
  const int status = r.status >= 100 && r.status <= 599 ? r.status : 500;
  c.set_status(static_cast<wsp::http::status_code::value>(status));
  for (const auto& [name, value] : r.headers) c.append_header(name, value);
  c.set_body(r.body);
}

void Connection::on_http() {
  auto* l = listener();
  if (l == nullptr) return;
  auto& c = *con_;
  // websocketpp closes the connection after a plain HTTP response: say so (RFC 9112 s.9.6), or
  // an HTTP/1.1 client keeps it for its next request and races the close ("fetch failed").
  c.replace_header("Connection", "close");
  if (detail::refuse_if_over_limit(c, peer_)) return;
  if (detail::refuse_if_bad_version(c, peer_)) return;
  if (l->cfg_.http_handler && dispatch_http(*l)) return;
  if (l->cfg_.www_root.empty()) {
    c.set_status(wsp::http::status_code::upgrade_required);
    return;
  }
  const std::string& method = c.get_request().get_method();
  if (method != "GET") {
    c.set_status(wsp::http::status_code::method_not_allowed);
    c.append_header("Allow", "GET");
    return;
  }
  const FileResponse r = serve_static_file(l->cfg_.www_root, c.get_resource());
  if (r.status != 200) SIPWS_COUNTER("ws_http_errors").inc();
  c.set_status(static_cast<wsp::http::status_code::value>(r.status));
  c.replace_header("Content-Type", r.content_type);
  c.set_body(r.body);
  log::ws().debug("http GET {} from {} -> {}", c.get_resource(), peer_.to_string(), r.status);
}

}  // namespace

ListenerImpl::ListenerImpl(boost::asio::io_context& io, TimerService& timers,
                           transport::FlowTable& flows, DeliverFn deliver, ListenerConfig cfg)
    : io_(io),
      timers_(timers),
      flows_(flows),
      deliver_(std::move(deliver)),
      cfg_(std::move(cfg)),
      origins_(cfg_.allowed_origins, cfg_.allow_no_origin),
      acceptor_(io),
      link_(std::make_shared<Link>()),
      rx_(kReadScratch),
      plain_rx_(cfg_.tls ? kPlainScratch : 0) {
  link_->listener = this;
  server_.clear_access_channels(wsp::log::alevel::all);
  server_.clear_error_channels(wsp::log::elevel::all);
  server_.set_max_message_size(cfg_.max_message_size);
  server_.set_max_http_body_size(kMaxHttpBody);
}

ListenerImpl::~ListenerImpl() {
  link_->listener = nullptr;  // late completions, replies and handlers become no-ops
  timers_.cancel(sweep_);
  timers_.cancel(accept_retry_);
  boost::system::error_code ec;
  acceptor_.close(ec);
  auto conns = std::move(conns_);
  conns_.clear();
  for (auto& [raw, c] : conns) {
    const bool listed = c->in_table();
    const FlowId id = c->id();
    c->drop(wsp::error::make_error_code(wsp::error::general));
    if (listed) {
      c->leave_table();
      flows_.remove(id);
    }
  }
}

void ListenerImpl::start() {
  const Tcp::endpoint ep(cfg_.listen.address, cfg_.listen.port);
  const std::string where = "ws listen on " + cfg_.listen.to_string();
  boost::system::error_code ec;
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(Tcp::acceptor::reuse_address(true), ec);
  // Before bind(): shards share the port (ListenerConfig::reuse_port).
  if (!ec && cfg_.reuse_port) acceptor_.set_option(transport::ReusePort(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (!ec) local_ = to_endpoint(acceptor_.local_endpoint(ec));
  if (ec) {
    boost::system::error_code cec;
    acceptor_.close(cec);
    throw std::system_error(ec, where);
  }
  stopped_ = false;
  log::ws().info("{} listener on {}", via_token(protocol()), local_.to_string());
  schedule_sweep();
  accept_next();
}

void ListenerImpl::stop() {
  stopped_ = true;
  timers_.cancel(sweep_);
  timers_.cancel(accept_retry_);
  sweep_ = accept_retry_ = 0;
  boost::system::error_code ec;
  acceptor_.close(ec);
  std::vector<std::shared_ptr<Connection>> open;
  for (const auto& [raw, c] : conns_) {
    if (c->in_table()) open.push_back(c);
  }
  for (const auto& c : open) c->close_with(wsp::close::status::going_away, "shutdown");
}

void ListenerImpl::accept_next() {
  if (!acceptor_.is_open()) return;
  acceptor_.async_accept([link = link_](const boost::system::error_code& ec, Tcp::socket sock) {
    if (link->listener != nullptr) link->listener->on_accept(ec, std::move(sock));
  });
}

void ListenerImpl::on_accept(const boost::system::error_code& ec, Tcp::socket sock) {
  if (ec == boost::asio::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    log::ws().debug("{} accept on {} failed: {}", via_token(protocol()), local_.to_string(),
                    ec.message());
    if (transport::DescriptorReserve::is_exhaustion(ec.value())) {
      // Out of descriptors: the pending clients get a 503 (WS) or a closed connection (WSS, no
      // TLS handshake without a descriptor to spare) now, not a hang until they give up.
      transport::DescriptorReserve::note_exhausted(std::string(via_token(protocol())) +
                                                   " listener on " + local_.to_string());
      const std::size_t refused = reserve_.refuse_pending(
          acceptor_.native_handle(), cfg_.tls ? std::string_view{} : kOutOfDescriptors);
      SIPWS_COUNTER("ws_refused_no_descriptors").inc(refused);
      if (refused > 0) {
        accept_next();
        return;
      }
    }
    // Out of memory, or the reserve was lost: let closing connections free some first.
    timers_.cancel(accept_retry_);
    accept_retry_ = timers_.schedule(kAcceptRetry, [this] {
      accept_retry_ = 0;
      accept_next();
    });  // cancelled by stop() and the destructor
    return;
  }
  transport::DescriptorReserve::note_recovered();
  accept_next();
  boost::system::error_code pec;
  boost::system::error_code lec;
  boost::system::error_code oec;
  const auto remote = sock.remote_endpoint(pec);
  const auto local = sock.local_endpoint(lec);
  // One WebSocket frame is one SIP message: no Nagle delay for the second of two (100 Trying
  // then 180/200) until the browser's delayed ACK.
  sock.set_option(Tcp::no_delay(true), oec);
  if (!oec) sock.non_blocking(true, oec);
  ConPtr con = pec || lec || oec ? nullptr : server_.get_connection();
  std::unique_ptr<transport::TlsEngine> tls;
  if (con && cfg_.tls) tls = transport::TlsEngine::make_server(cfg_.tls->native_handle());
  if (!con || (cfg_.tls && !tls)) {
    SIPWS_COUNTER("ws_open_errors").inc();
    log::ws().debug("{} connection on {} dropped at accept: {}", via_token(protocol()),
                    local_.to_string(),
                    (pec   ? pec
                     : lec ? lec
                     : oec ? oec
                           : boost::system::error_code())
                        .message());
    return;
  }
  auto c = std::make_shared<Connection>(link_, timers_, std::move(sock), protocol(),
                                        to_endpoint(remote), to_endpoint(local), std::move(con),
                                        std::move(tls), cfg_.max_message_rate);
  conns_.emplace(c.get(), c);
  c->start(*this);
}

void ListenerImpl::schedule_sweep() {
  if (cfg_.ping_interval.count() <= 0 || stopped_) return;
  timers_.cancel(sweep_);
  sweep_ = timers_.schedule(cfg_.ping_interval, [this] {
    sweep_ = 0;
    sweep();
  });  // cancelled by stop() and the destructor
}

/// Pings every flow idle for ping_interval (RFC 6455 s.5.5.2); Connection drops those that do
/// not answer within pong_timeout.
void ListenerImpl::sweep() {
  const TimePoint now = timers_.now();
  std::vector<std::shared_ptr<Connection>> all;
  all.reserve(conns_.size());
  for (const auto& [raw, c] : conns_) all.push_back(c);
  for (const auto& c : all) c->ping_if_idle(cfg_.ping_interval, cfg_.pong_timeout, now);
  schedule_sweep();
}

Listener::Listener(boost::asio::io_context& io, TimerService& timers, transport::FlowTable& flows,
                   DeliverFn deliver, ListenerConfig cfg)
    : impl_(std::make_unique<ListenerImpl>(io, timers, flows, std::move(deliver), std::move(cfg))) {
}

Listener::~Listener() = default;

void Listener::start() { impl_->start(); }
Endpoint Listener::local_endpoint() const { return impl_->local_endpoint(); }
Protocol Listener::protocol() const { return impl_->protocol(); }
void Listener::stop() { impl_->stop(); }

}  // namespace sipws::ws
