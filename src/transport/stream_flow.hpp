#pragma once
// Internal to src/transport/: the TCP and TLS flow (RFC 3261 s.18.3 stream framing, RFC 5626
// s.3.5.1 CRLF keep-alive) shared by the listeners and the transport selector. Not a contract
// for other folders: they see transport::Flow only.

#include <openssl/ssl.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <type_traits>

#include "common/counters.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "sip/parser.hpp"
#include "transport/flow.hpp"

namespace sipws::transport::detail {

using Tcp = boost::asio::ip::tcp;
using TlsStream = boost::asio::ssl::stream<Tcp::socket>;

/// What flows and listeners need from the transport layer. Thread: core io thread.
class FlowHost {
 public:
  virtual ~FlowHost() = default;
  /// The common receive path (TransportLayer::deliver).
  virtual void deliver(std::shared_ptr<const std::string> bytes, const Source& src) = 0;
  /// The flow is closed: forget it (observers run).
  virtual void flow_closed(FlowId id) = 0;
  /// An outgoing connection to `peer` failed before it was established (connect refused or
  /// timed out, TLS handshake failed); called after flow_closed for it.
  virtual void connect_failed(Protocol protocol, const Endpoint& peer) = 0;
  virtual FlowTable& flow_table() = 0;
};

/// Shared by the layer and everything with async work in flight; `host` is nulled when the
/// layer is destroyed, so late completion handlers touch nothing that is gone.
struct HostLink {
  FlowHost* host = nullptr;
};

/// One TCP (`Stream` = tcp::socket) or TLS (`Stream` = ssl::stream<tcp::socket>) connection.
/// Kept alive by its FlowTable entry and by its in-flight operations. Writes are queued and
/// issued one at a time. Thread: core io thread.
template <class Stream>
class StreamFlow final : public Flow, public std::enable_shared_from_this<StreamFlow<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  /// `stream_args` construct the stream: (socket) or (io) for TCP, (socket, ctx) or (io, ctx)
  /// for TLS. `ctx` (TLS only) is kept alive as long as the stream.
  template <class... StreamArgs>
  StreamFlow(std::shared_ptr<HostLink> link, FlowId id, Protocol protocol, Endpoint peer,
             Endpoint local, std::size_t max_size, std::size_t max_queue,
             std::chrono::milliseconds handshake_timeout,
             std::shared_ptr<boost::asio::ssl::context> ctx, StreamArgs&&... stream_args)
      : link_(std::move(link)),
        id_(id),
        protocol_(protocol),
        peer_(std::move(peer)),
        local_(std::move(local)),
        max_size_(max_size),
        max_queue_(max_queue),
        handshake_timeout_(handshake_timeout),
        ctx_(std::move(ctx)),
        stream_(std::forward<StreamArgs>(stream_args)...),
        deadline_(stream_.get_executor()),
        opened_(SteadyClock::now()),
        last_rx_(opened_) {}

  FlowId id() const override { return id_; }
  Protocol protocol() const override { return protocol_; }
  Endpoint peer() const override { return peer_; }
  Endpoint local() const override { return local_; }
  Activity activity() const override { return {opened_, last_rx_}; }

  bool send(std::shared_ptr<const std::string> bytes) override {
    if (!bytes || state_ == State::Draining || state_ == State::Closed) return false;
    if (max_queue_ > 0 && queued_ + bytes->size() > max_queue_ && !queue_.empty()) {
      // The peer stopped reading (or cannot keep up): close rather than hold ever more for
      // it. The transaction layer sees the failed send and answers for the request.
      SIPWS_COUNTER("transport_send_queue_overflows").inc();
      log::transport().info(
          "{} flow {} (peer {}): {} bytes wait for the peer to read, {} more would "
          "pass max_send_queue ({}): closing the flow",
          protocol_ == Protocol::Tls ? "TLS" : "TCP", id_, peer_.to_string(), queued_,
          bytes->size(), max_queue_);
      close();
      return false;
    }
    queued_ += bytes->size();
    queue_.push_back(std::move(bytes));
    if (state_ == State::Open && !writing_) write_next();
    return true;
  }

  void close() override {
    if (state_ == State::Closed) return;
    const bool never_connected = outgoing_ && state_ == State::Connecting;
    state_ = State::Closed;
    queue_.clear();
    queued_ = 0;
    deadline_.cancel();
    boost::system::error_code ec;
    auto& sock = stream_.lowest_layer();
    sock.shutdown(Tcp::socket::shutdown_both, ec);
    sock.close(ec);
    if (link_->host != nullptr) link_->host->flow_closed(id_);
    if (never_connected && link_->host != nullptr) link_->host->connect_failed(protocol_, peer_);
  }

  /// An accepted connection: TLS server handshake (if TLS), then the read loop.
  void start_accepted() {
    set_no_delay();
    if constexpr (kTls) {
      arm_deadline();
      auto self = this->shared_from_this();
      stream_.async_handshake(
          boost::asio::ssl::stream_base::server,
          [self](const boost::system::error_code& ec) { self->on_handshake(ec); });
    } else {
      on_established();
    }
  }

  /// An outgoing connection to peer(): connect, TLS client handshake (SNI = `sni_host` when it
  /// is a name; the certificate is checked against it, or against the peer IP when empty, if
  /// the client context verifies peers), then flush the queue and read.
  void start_connect(const std::string& sni_host) {
    outgoing_ = true;
    if constexpr (kTls) {
      if (!sni_host.empty() && !is_ip(sni_host)) {
        SSL_set_tlsext_host_name(stream_.native_handle(), sni_host.c_str());
      }
      if (ctx_ && (SSL_CTX_get_verify_mode(ctx_->native_handle()) & SSL_VERIFY_PEER) != 0) {
        stream_.set_verify_mode(boost::asio::ssl::verify_peer);
        stream_.set_verify_callback(boost::asio::ssl::host_name_verification(
            sni_host.empty() ? peer_.address.to_string() : sni_host));
      }
    }
    arm_deadline();
    auto self = this->shared_from_this();
    stream_.lowest_layer().async_connect(
        Tcp::endpoint(peer_.address, peer_.port),
        [self](const boost::system::error_code& ec) { self->on_connect(ec); });
  }

 private:
  enum class State { Connecting, Open, Draining, Closed };

  Source source() const { return Source{protocol_, peer_, local_, id_}; }

  /// TCP_NODELAY: a SIP message is written whole, so Nagle's algorithm only delays the second
  /// of two back-to-back messages (100 Trying, then 180/200) until the peer's delayed ACK.
  void set_no_delay() {
    boost::system::error_code ec;
    stream_.lowest_layer().set_option(Tcp::no_delay(true), ec);
  }

  void on_connect(const boost::system::error_code& ec) {
    if (state_ == State::Closed) return;
    if (ec) {
      SIPWS_COUNTER("transport_connect_failures").inc();
      close();
      return;
    }
    set_no_delay();
    boost::system::error_code lec;
    auto le = stream_.lowest_layer().local_endpoint(lec);
    if (!lec) local_ = to_endpoint(le);
    if constexpr (kTls) {
      auto self = this->shared_from_this();
      stream_.async_handshake(
          boost::asio::ssl::stream_base::client,
          [self](const boost::system::error_code& hec) { self->on_handshake(hec); });
    } else {
      on_established();
    }
  }

  void on_handshake(const boost::system::error_code& ec) {
    if (state_ == State::Closed) return;
    if (ec) {
      SIPWS_COUNTER("transport_tls_handshake_failures").inc();
      close();
      return;
    }
    on_established();
  }

  /// Closes the flow if it is still connecting / handshaking when the timeout expires.
  void arm_deadline() {
    deadline_.expires_after(handshake_timeout_);
    std::weak_ptr<StreamFlow> weak = this->weak_from_this();
    deadline_.async_wait([weak](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->state_ != State::Connecting) return;
      SIPWS_COUNTER("transport_handshake_timeouts").inc();
      self->close();
    });
  }

  void on_established() {
    if (state_ != State::Connecting) return;
    deadline_.cancel();
    state_ = State::Open;
    if (!queue_.empty() && !writing_) write_next();
    read_next();
  }

  void write_next() {
    if (queue_.empty()) {
      writing_ = false;
      if (state_ == State::Draining) close();
      return;
    }
    writing_ = true;
    auto self = this->shared_from_this();
    boost::asio::async_write(
        stream_, boost::asio::buffer(*queue_.front()),
        [self](const boost::system::error_code& ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(const boost::system::error_code& ec) {
    if (state_ == State::Closed) return;
    if (ec) {
      SIPWS_COUNTER("transport_write_errors").inc();
      close();
      return;
    }
    queued_ -= queue_.front()->size();
    queue_.pop_front();
    write_next();
  }

  void read_next() {
    auto self = this->shared_from_this();
    stream_.async_read_some(
        boost::asio::buffer(readbuf_),
        [self](const boost::system::error_code& ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    if (state_ != State::Open) return;  // Draining: input is ignored; Closed: done
    if (ec) {
      close();  // EOF, reset, TLS error
      return;
    }
    last_rx_ = SteadyClock::now();
    inbuf_.append(readbuf_.data(), n);
    process_input();
    if (state_ == State::Open) read_next();
  }

  /// Cuts every complete message out of the buffer (RFC 3261 s.18.3).
  void process_input() {
    while (state_ == State::Open && !inbuf_.empty()) {
      const sip::Frame f = sip::frame_stream(inbuf_, max_size_);
      switch (f.kind) {
        case sip::Frame::NeedMore:
          if (inbuf_.size() > max_size_) {
            framing_error(sip::ParseError{sip::ParseErrc::TooLarge, 513, "Message Too Large"});
          }
          return;
        case sip::Frame::KeepAlive: {
          if (f.length == 0 || f.length > inbuf_.size()) return;
          for (std::size_t i = 0; i < f.length; ++i) {
            if (inbuf_[i] == '\n') ++crlf_count_;
          }
          inbuf_.erase(0, f.length);
          if (crlf_count_ >= 2) {  // a CRLFCRLF ping gets a CRLF pong (RFC 5626 s.3.5.1)
            crlf_count_ = 0;
            SIPWS_COUNTER("transport_keepalive_pings").inc();
            static const auto kPong = std::make_shared<const std::string>("\r\n");
            send(kPong);
          }
          break;
        }
        case sip::Frame::Complete: {
          if (f.length == 0 || f.length > inbuf_.size()) {
            framing_error(sip::ParseError{sip::ParseErrc::BadContentLength, 400,
                                          "Bad Request - Invalid Content-Length"});
            return;
          }
          if (f.length > max_size_) {  // the framer should have said so; never buffer more
            framing_error(sip::ParseError{sip::ParseErrc::TooLarge, 513, "Message Too Large"});
            return;
          }
          crlf_count_ = 0;
          auto bytes = std::make_shared<const std::string>(inbuf_, 0, f.length);
          inbuf_.erase(0, f.length);
          if (link_->host == nullptr) return;
          link_->host->deliver(std::move(bytes), source());
          break;
        }
        case sip::Frame::Error:
          framing_error(f.error);
          return;
      }
    }
  }

  /// The stream cannot be framed any more: answer with the error response if the request's
  /// essential headers are readable, then close once it is written.
  void framing_error(const sip::ParseError& err) {
    SIPWS_COUNTER("sip_parse_errors").inc();
    SIPWS_COUNTER("transport_stream_framing_errors").inc();
    if (auto resp = sip::error_response(inbuf_, err)) {
      send(std::make_shared<const std::string>(std::move(*resp)));
    }
    inbuf_.clear();
    state_ = State::Draining;
    if (!writing_) write_next();
  }

  std::shared_ptr<HostLink> link_;
  FlowId id_;
  Protocol protocol_;
  Endpoint peer_;
  Endpoint local_;
  std::size_t max_size_;
  std::size_t max_queue_;   ///< bytes; 0 = no bound (TransportLimits::max_send_queue)
  std::size_t queued_ = 0;  ///< bytes in queue_ (the one being written included)
  std::chrono::milliseconds handshake_timeout_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;  // outlives stream_ (declared before it)
  Stream stream_;
  boost::asio::steady_timer deadline_;
  TimePoint opened_;   ///< activity(): when the flow was made
  TimePoint last_rx_;  ///< activity(): the last bytes read
  State state_ = State::Connecting;
  std::deque<std::shared_ptr<const std::string>> queue_;
  bool writing_ = false;
  bool outgoing_ = false;  ///< started by start_connect (its failure is reported)
  std::string inbuf_;
  std::array<char, 16384> readbuf_{};
  unsigned crlf_count_ = 0;
};

using TcpFlow = StreamFlow<Tcp::socket>;
using TlsFlow = StreamFlow<TlsStream>;

}  // namespace sipws::transport::detail
