// ws::Connector on websocketpp's asio client configs (RFC 7118 client role). Besides
// listener.cpp, the only translation unit that sees websocketpp types. Thread: everything runs
// on the io thread that runs the io_context (and the injected TimerService). Every deadline
// (TCP connect, TLS handshake, open, pong, close), the keep-alive sweep and the reconnection
// back-off are TimerService timers, so tests drive them on a manual clock; websocketpp's own
// asio timers are off or out of the way (see ClientConfig).

#include "ws/client.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <charconv>
#include <deque>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>
#include <websocketpp/client.hpp>
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/asio_client.hpp>
#include <websocketpp/utf8_validator.hpp>

#include "common/counters.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "sip/text.hpp"
#include "transport/tls.hpp"

namespace sipws::ws {

namespace wsp = websocketpp;

namespace {

/// The subprotocol RFC 7118 s.4.1 registers for SIP over WebSocket.
constexpr const char* kSipSubprotocol = "sip";

/// websocketpp's real-time timers that it arms whatever the config says (DNS resolution of the
/// URI's address literal, TCP connect, socket shutdown), in ms: far beyond sipws's own
/// deadlines, which end the connection first; only a backstop, and finite because
/// websocketpp keeps a connection's memory until its timer expires even once the operation
/// was aborted.
constexpr long kLibraryBackstopMs = 10L * 60 * 1000;

/// websocketpp's client configs for one io thread (no strand per connection, no mutex per
/// message) with its timers off: the open, close and pong timeouts and the TLS handshake
/// (post-init) timeout are disabled by 0; the ones always armed get kLibraryBackstopMs. The
/// deadlines run on the TimerService instead (Conn's timer).
template <class Base>
struct ClientConfig : Base {
  typedef wsp::concurrency::none concurrency_type;
  static const bool enable_multithreading = false;
  static const long timeout_open_handshake = 0;   // open_timeout
  static const long timeout_close_handshake = 0;  // kClientCloseTimeout
  static const long timeout_pong = 0;             // pong_timeout
  struct transport_config : Base::transport_config {
    typedef wsp::concurrency::none concurrency_type;
    static const bool enable_multithreading = false;
    static const long timeout_socket_post_init = 0;  // kClientTlsHandshakeTimeout
    static const long timeout_dns_resolve = kLibraryBackstopMs;
    static const long timeout_connect = kLibraryBackstopMs;          // kClientConnectTimeout
    static const long timeout_socket_shutdown = kLibraryBackstopMs;  // kClientCloseTimeout
    static const long timeout_proxy = kLibraryBackstopMs;            // no proxy is set
  };
  typedef wsp::transport::asio::endpoint<transport_config> transport_type;
};
using WsClientConfig = ClientConfig<wsp::config::asio_client>;
using WssClientConfig = ClientConfig<wsp::config::asio_tls_client>;

using sip::text::iequal;

/// What one connection dials.
struct Target {
  Protocol protocol = Protocol::Ws;
  Endpoint endpoint;
  std::string host;  ///< name for SNI / certificate check; "" => the IP is checked
  std::string resource = "/";
};

class ClientFlow;

/// What a connection reports to the connector. Thread: core io thread.
class ConnHooks {
 public:
  virtual ~ConnHooks() = default;
  virtual void on_open(ClientFlow& f) = 0;
  /// Never opened (refused, TLS failure, HTTP error, no `sip` in the 101, timeout).
  virtual void on_fail(ClientFlow& f, const std::string& why) = 0;
  /// Was open, now closed.
  virtual void on_close(ClientFlow& f, int remote_code) = 0;
  virtual void deliver(std::shared_ptr<const std::string> bytes, const Source& src) = 0;
};

/// One outbound connection, type-erased over the websocketpp config (WS or WSS). A Flow in
/// the FlowTable once open. Thread: core io thread.
class ClientFlow : public transport::Flow {
 public:
  enum class State { Connecting, Open, Done };

  ClientFlow(FlowId id, Target target, int peer)
      : id_(id), target_(std::move(target)), peer_(peer) {}

  FlowId id() const override { return id_; }
  Protocol protocol() const override { return target_.protocol; }
  Endpoint peer() const override { return target_.endpoint; }
  Endpoint local() const override { return local_; }

  const Target& target() const { return target_; }
  State state() const { return state_; }
  /// Index of the configured peer this connection serves, or -1.
  int peer_index() const { return peer_; }
  void set_peer_index(int p) { peer_ = p; }

  /// Starts connecting. False if websocketpp refused the URI (nothing is pending then).
  virtual bool start(const ConnectorConfig& cfg) = 0;
  /// Drops the connection without a closing handshake; no hook runs afterwards.
  virtual void abandon() = 0;
  /// Starts the WS closing handshake with `code` (open) or abandons (connecting).
  virtual void close_with(int code, const std::string& reason) = 0;
  /// Keep-alive: pings if idle for `interval` (listener's rule; 0: never); with no traffic
  /// within `pong_timeout` (0: no limit) after the ping, the connection is dropped. Also
  /// starts the close deadline of a connection websocketpp began closing by itself.
  virtual void sweep(Millis interval, Millis pong_timeout, TimePoint now) = 0;

  /// Drops what was queued while connecting; returns how many messages.
  std::size_t drop_pending() {
    const std::size_t n = pending_.size();
    pending_.clear();
    return n;
  }

 protected:
  FlowId id_;
  Target target_;
  int peer_;
  Endpoint local_;
  State state_ = State::Connecting;
  std::deque<std::shared_ptr<const std::string>> pending_;
};

template <class Config>
class Conn final : public ClientFlow, public std::enable_shared_from_this<Conn<Config>> {
 public:
  using Client = wsp::client<Config>;
  using ConPtr = typename Client::connection_ptr;
  static constexpr bool kTls = std::is_same_v<Config, WssClientConfig>;

  Conn(std::shared_ptr<Client> ep, std::weak_ptr<ConnHooks*> hooks, TimerService& timers, FlowId id,
       Target target, int peer, std::size_t max_queued)
      : ClientFlow(id, std::move(target), peer),
        ep_(std::move(ep)),
        hooks_(std::move(hooks)),
        timers_(timers),
        max_queued_(max_queued),
        opened_(timers.now()),
        last_rx_(opened_) {}

  Activity activity() const override { return {opened_, last_rx_}; }

  bool start(const ConnectorConfig& cfg) override {
    // The URI names the address already chosen (the locator's, or the peer's resolution):
    // websocketpp resolves nothing but this literal, and the Host header carries it too. SNI
    // and the certificate check use the host name (tcp_pre_init below).
    const std::string host = target_.endpoint.host_string();
    const std::string uri = std::string(kTls ? "wss://" : "ws://") + host + ":" +
                            std::to_string(target_.endpoint.port) + target_.resource;
    wsp::lib::error_code ec;
    con_ = ep_->get_connection(uri, ec);
    if (ec || !con_) {
      log::ws().warn("ws client: cannot connect to {}: {}", uri, ec.message());
      return false;
    }
    con_->add_subprotocol(kSipSubprotocol, ec);
    if (!cfg.user_agent.empty()) con_->replace_header("User-Agent", cfg.user_agent);
    con_->set_max_message_size(cfg.max_message_size);
    // Handlers hold the endpoint (websocketpp's pending operations point into it) and a weak
    // reference to this flow (the connector owns it).
    std::weak_ptr<Conn> weak = this->weak_from_this();
    auto ep = ep_;
    con_->set_tcp_pre_init_handler([weak, ep](const wsp::connection_hdl&) {
      auto self = weak.lock();
      if (!self) return;
      self->on_tcp_connected();
      // TCP_NODELAY: one frame is one SIP message; Nagle would hold the second of two.
      boost::system::error_code nec;
      self->con_->get_raw_socket().set_option(boost::asio::ip::tcp::no_delay(true), nec);
      if constexpr (kTls) self->prepare_tls();
    });
    // After TCP connect and TLS, websocketpp sends the upgrade: the open deadline starts.
    con_->set_tcp_post_init_handler(
        [weak, ep, open_timeout = cfg.open_timeout](const wsp::connection_hdl&) {
          if (auto self = weak.lock()) self->start_open_deadline(open_timeout);
        });
    con_->set_open_handler([weak, ep](const wsp::connection_hdl&) {
      if (auto self = weak.lock()) self->on_open();
    });
    con_->set_fail_handler([weak, ep](const wsp::connection_hdl&) {
      if (auto self = weak.lock()) self->on_fail();
    });
    con_->set_close_handler([weak, ep](const wsp::connection_hdl&) {
      if (auto self = weak.lock()) self->on_close();
    });
    con_->set_message_handler(
        [weak, ep](const wsp::connection_hdl&, const typename Client::message_ptr& m) {
          if (auto self = weak.lock()) self->on_message(m);
        });
    con_->set_ping_handler([weak, ep](const wsp::connection_hdl&, const std::string&) {
      if (auto self = weak.lock()) self->on_traffic();
      return true;  // answer with a pong
    });
    con_->set_pong_handler([weak, ep](const wsp::connection_hdl&, const std::string&) {
      if (auto self = weak.lock()) self->on_traffic();
    });
    // Deadlines (see start_timer): TCP connect, then the TLS handshake, then the upgrade.
    start_timer(kClientConnectTimeout, &Conn::on_connect_timeout);
    ep_->connect(con_);
    return true;
  }

  /// One WS message per call: text if `bytes` is valid UTF-8, binary otherwise (RFC 7118
  /// s.4.2). Queued while connecting.
  bool send(std::shared_ptr<const std::string> bytes) override {
    if (!bytes) return false;
    if (state_ == State::Connecting) {
      if (pending_.size() >= max_queued_) {
        SIPWS_COUNTER("ws_client_queue_full").inc();
        return false;
      }
      pending_.push_back(std::move(bytes));
      return true;
    }
    if (state_ != State::Open || closing_ || con_->get_state() != wsp::session::state::open) {
      return false;
    }
    return write(*bytes);
  }

  void close() override { close_with(wsp::close::status::normal, ""); }

  void close_with(int code, const std::string& reason) override {
    if (state_ == State::Connecting) {
      fail("closed while connecting");
      abandon();
      return;
    }
    if (state_ != State::Open || closing_) return;
    closing_ = true;
    wsp::lib::error_code ec;
    con_->close(static_cast<wsp::close::status::value>(code), reason, ec);
    if (ec) {
      terminate_socket();
      return;
    }
    start_close_deadline();
  }

  void abandon() override {
    state_ = State::Done;
    stop_timer();
    pending_.clear();
    if (con_) terminate_socket();
  }

  void sweep(Millis interval, Millis pong_timeout, TimePoint now) override {
    if (state_ == State::Open && !closing_ && con_->get_state() != wsp::session::state::open) {
      // websocketpp answered the server's close frame, or closed for a protocol error, and
      // waits for the TCP close: no handler says so, the sweep notices it.
      closing_ = true;
      start_close_deadline();
      return;
    }
    if (state_ != State::Open || closing_ || awaiting_pong_ || interval.count() <= 0 ||
        now - last_rx_ < interval) {
      return;
    }
    SIPWS_COUNTER("ws_client_keepalive_pings").inc();
    wsp::lib::error_code ec;
    ping_sent_ = now;
    awaiting_pong_ = true;
    con_->ping("", ec);
    if (ec) {
      awaiting_pong_ = false;
      return;
    }
    if (pong_timeout.count() > 0) start_timer(pong_timeout, &Conn::on_pong_timeout);
  }

 private:
  ConnHooks* hooks() const {
    auto h = hooks_.lock();
    return h ? *h : nullptr;
  }

  // ---- the flow's one timer, one deadline at a time: TCP connect, TLS handshake and open
  // while connecting, the pong deadline after a keep-alive ping, the close deadline once
  // closing; none once websocketpp's close or fail handler ran, so a finished flow holds none.

  /// `hold`: the timer keeps this flow alive (the close deadline: the connector may forget a
  /// flow before websocketpp's close handler, which cancels the timer, runs).
  void start_timer(Millis delay, void (Conn::*fn)(), bool hold = false) {
    timers_.cancel(timer_);
    std::shared_ptr<Conn> strong = hold ? this->shared_from_this() : nullptr;
    timer_ = timers_.schedule(delay, [weak = this->weak_from_this(), strong, fn] {
      if (auto self = weak.lock()) {
        self->timer_ = 0;
        ((*self).*fn)();
      }
    });
  }

  void stop_timer() {
    timers_.cancel(timer_);
    timer_ = 0;
  }

  /// TCP connected (websocketpp's pre-init): WSS starts its TLS handshake (deadline), WS its
  /// upgrade (start_open_deadline follows at once).
  void on_tcp_connected() {
    if (state_ != State::Connecting) return;
    if constexpr (kTls) {
      start_timer(kClientTlsHandshakeTimeout, &Conn::on_tls_timeout);
    } else {
      stop_timer();
    }
  }

  void start_open_deadline(Millis open_timeout) {
    if (state_ != State::Connecting) return;
    if (open_timeout.count() > 0) {
      start_timer(open_timeout, &Conn::on_open_timeout);
    } else {
      stop_timer();
    }
  }

  /// No TCP connection within kClientConnectTimeout of the dial: a failed attempt.
  void on_connect_timeout() {
    if (state_ != State::Connecting) return;
    fail("no TCP connection within " + std::to_string(kClientConnectTimeout.count()) + " ms");
    abandon();
  }

  /// TLS handshake not over within kClientTlsHandshakeTimeout of the TCP connection.
  void on_tls_timeout() {
    if (state_ != State::Connecting) return;
    fail("TLS handshake not complete within " + std::to_string(kClientTlsHandshakeTimeout.count()) +
         " ms");
    abandon();
  }

  /// Bounds the rest of the closing (see kClientCloseTimeout); holds this flow until then.
  void start_close_deadline() { start_timer(kClientCloseTimeout, &Conn::on_close_timeout, true); }

  /// The closing did not end within kClientCloseTimeout: the socket is dropped (websocketpp's
  /// close or fail handler then runs).
  void on_close_timeout() {
    SIPWS_COUNTER("ws_client_close_timeouts").inc();
    log::ws().info("{} client flow {}: closing not over within {} ms (peer {}), socket dropped",
                   via_token(protocol()), id_, kClientCloseTimeout.count(), peer().to_string());
    terminate_socket();
  }

  /// No 101 within open_timeout of the TCP (and TLS) connection: a failed attempt.
  void on_open_timeout() {
    if (state_ != State::Connecting) return;
    fail("no answer to the upgrade within the open timeout");
    abandon();
  }

  /// Between websocketpp's SNI (set from the URI, here an address) and the TLS handshake:
  /// SNI is the host name (none for an address, RFC 6066 s.3), and with verification on the
  /// certificate must match the name, or the address when there is none (RFC 6125).
  void prepare_tls() {
    if constexpr (kTls) {
      auto& stream = con_->get_socket();
      const bool named = !target_.host.empty() && !is_ip(target_.host);
      // The macro casts its argument to void*; nullptr clears the name the URI set.
      char* sni = named ? const_cast<char*>(target_.host.c_str()) : nullptr;
      SSL_set_tlsext_host_name(stream.native_handle(), sni);
      SSL_CTX* ctx = SSL_get_SSL_CTX(stream.native_handle());
      if (ctx != nullptr && (SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) != 0) {
        boost::system::error_code ec;
        stream.set_verify_mode(boost::asio::ssl::verify_peer, ec);
        stream.set_verify_callback(boost::asio::ssl::host_name_verification(
                                       named ? target_.host : target_.endpoint.address.to_string()),
                                   ec);
      }
    }
  }

  void on_open() {
    if (state_ != State::Connecting) return;
    // RFC 7118 s.4.1: the 101 must select "sip", else the client closes the connection.
    const std::string& chosen = con_->get_response_header("Sec-WebSocket-Protocol");
    if (!iequal(chosen, kSipSubprotocol)) {
      SIPWS_COUNTER("ws_client_subprotocol_refused").inc();
      fail(chosen.empty() ? "no Sec-WebSocket-Protocol: sip in the 101"
                          : "server chose subprotocol '" + chosen + "', not sip");
      state_ = State::Done;
      closing_ = true;
      wsp::lib::error_code ec;
      con_->close(wsp::close::status::protocol_error, "sip subprotocol required", ec);
      if (ec) {
        terminate_socket();
      } else {
        start_close_deadline();
      }
      return;
    }
    boost::system::error_code ec;
    const auto local = con_->get_raw_socket().local_endpoint(ec);
    if (!ec) local_ = to_endpoint(local);
    state_ = State::Open;
    stop_timer();  // the open deadline
    last_rx_ = timers_.now();
    if (auto* h = hooks()) h->on_open(*this);
    auto queued = std::move(pending_);
    pending_.clear();
    for (auto& b : queued) {
      if (state_ != State::Open || !write(*b)) break;
    }
  }

  void on_fail() {
    stop_timer();  // websocketpp is done with the connection: no deadline is left
    if (state_ != State::Connecting) return;
    const auto ec = con_->get_ec();
    std::string why = ec ? ec.message() : std::string("failed");
    if (const auto tec = con_->get_transport_ec(); tec) why += ": " + tec.message();
    if constexpr (kTls) {
      const long v = SSL_get_verify_result(con_->get_socket().native_handle());
      if (v != X509_V_OK)
        why += std::string(" (certificate: ") + X509_verify_cert_error_string(v) + ")";
    }
    if (const int status = static_cast<int>(con_->get_response_code()); status != 0) {
      why += " (HTTP " + std::to_string(status) + ")";
    }
    fail(why);
    state_ = State::Done;
  }

  void on_close() {
    stop_timer();  // websocketpp is done with the connection: no deadline is left
    if (state_ == State::Connecting) {  // closed before the open handler: a failure
      on_fail();
      return;
    }
    if (state_ != State::Open) return;
    state_ = State::Done;
    if (auto* h = hooks()) h->on_close(*this, static_cast<int>(con_->get_remote_close_code()));
  }

  void fail(const std::string& why) {
    if (state_ != State::Connecting) return;
    state_ = State::Done;
    stop_timer();
    if (auto* h = hooks()) h->on_fail(*this, why);
    pending_.clear();
  }

  void on_message(const typename Client::message_ptr& msg) {
    if (state_ != State::Open || !msg) return;
    on_traffic();
    if (msg->get_payload().empty()) {
      SIPWS_COUNTER("ws_empty_messages").inc();
      return;
    }
    auto bytes = std::make_shared<const std::string>(std::move(msg->get_raw_payload()));
    if (auto* h = hooks()) h->deliver(std::move(bytes), Source{protocol(), peer(), local_, id_});
  }

  void on_traffic() {
    last_rx_ = timers_.now();
    awaiting_pong_ = false;
  }

  /// pong_timeout after a keep-alive ping.
  void on_pong_timeout() {
    if (state_ != State::Open || closing_) return;
    if (!awaiting_pong_ || last_rx_ >= ping_sent_) {  // something arrived after the ping: alive
      awaiting_pong_ = false;
      return;
    }
    SIPWS_COUNTER("ws_client_keepalive_timeouts").inc();
    log::ws().info("{} client flow {} keep-alive timeout (peer {})", via_token(protocol()), id_,
                   peer().to_string());
    terminate_socket();
  }

  bool write(const std::string& bytes) {
    const bool utf8 = sip::text::is_ascii(bytes) || wsp::utf8_validator::validate(bytes);
    const auto op = utf8 ? wsp::frame::opcode::text : wsp::frame::opcode::binary;
    const auto ec = con_->send(bytes.data(), bytes.size(), op);
    if (ec) {
      SIPWS_COUNTER("ws_client_send_errors").inc();
      log::ws().debug("ws client flow {} send failed: {}", id_, ec.message());
      return false;
    }
    return true;
  }

  /// Drops the TCP connection at once (no closing handshake; websocketpp then reports close
  /// or fail, which run the hooks if the state says so).
  void terminate_socket() {
    closing_ = true;
    con_->terminate(wsp::error::make_error_code(wsp::error::general));
    boost::system::error_code ec;
    con_->get_raw_socket().close(ec);
  }

  std::shared_ptr<Client> ep_;
  std::weak_ptr<ConnHooks*> hooks_;
  TimerService& timers_;
  TimerService::TimerId timer_ = 0;  ///< the current deadline (see start_timer)
  std::size_t max_queued_;
  ConPtr con_;
  bool closing_ = false;
  TimePoint opened_;
  TimePoint last_rx_;
  TimePoint ping_sent_{};
  bool awaiting_pong_ = false;
};

/// A websocketpp client endpoint with sipws's settings (no logging, io_context shared).
template <class Config>
std::shared_ptr<wsp::client<Config>> make_endpoint(boost::asio::io_context& io,
                                                   const ConnectorConfig& cfg) {
  auto ep = std::make_shared<wsp::client<Config>>();
  ep->clear_access_channels(wsp::log::alevel::all);
  ep->clear_error_channels(wsp::log::elevel::all);
  ep->init_asio(&io);  // start-up: may throw
  ep->set_max_message_size(cfg.max_message_size);
  if constexpr (std::is_same_v<Config, WssClientConfig>) {
    auto tls = cfg.tls;
    ep->set_tls_init_handler([tls](const wsp::connection_hdl&) { return tls; });
  }
  return ep;
}

}  // namespace

// ------------------------------------------------------------------ URLs, back-off, TLS

bool WsUrl::host_is_ip() const { return is_ip(host); }

std::string WsUrl::to_string() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(secure ? "wss://" : "ws://") + h + ":" + std::to_string(port) + resource;
}

std::optional<WsUrl> parse_ws_url(std::string_view text) {
  WsUrl u;
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  const std::string_view scheme = text.substr(0, sep);
  if (iequal(scheme, "ws")) {
    u.secure = false;
  } else if (iequal(scheme, "wss")) {
    u.secure = true;
  } else {
    return std::nullopt;
  }
  std::string_view rest = text.substr(sep + 3);
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) u.resource = std::string(rest.substr(slash));
  if (u.resource.find_first_of(" \t\r\n#") != std::string::npos) return std::nullopt;
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view port_text;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    u.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port_text = after.substr(1);
    }
    if (!is_ip(u.host)) return std::nullopt;
  } else {
    const auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    if (u.host.find_first_of(":[] \t") != std::string::npos) return std::nullopt;
  }
  if (u.host.empty()) return std::nullopt;
  if (!port_text.empty()) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), v);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || v == 0 || v > 65535) {
      return std::nullopt;
    }
    u.port = static_cast<std::uint16_t>(v);
  } else if (authority.back() == ':') {
    return std::nullopt;
  } else {
    u.port = u.secure ? 443 : 80;
  }
  return u;
}

Millis reconnect_delay(unsigned attempt, Millis min, Millis max, double jitter01) {
  if (min.count() <= 0) min = Millis(1);
  if (max < min) max = min;
  Millis d = min;
  for (unsigned i = 0; i < attempt && d < max; ++i) d *= 2;
  d = std::min(d, max);
  const double j = std::clamp(jitter01, 0.0, 1.0);
  const auto jittered =
      Millis(static_cast<Millis::rep>(static_cast<double>(d.count()) * (0.75 + 0.5 * j)));
  return std::clamp(jittered, Millis(1), max);
}

std::shared_ptr<boost::asio::ssl::context> make_wss_client_context(bool verify,
                                                                   const std::string& ca_file) {
  auto ctx = transport::make_client_tls_context(verify, "");  // system trust store
  if (verify && !ca_file.empty()) {
    boost::system::error_code ec;
    ctx->load_verify_file(ca_file, ec);
    if (ec) throw std::runtime_error("cannot load CA file (" + ec.message() + "): " + ca_file);
  }
  return ctx;
}

// ------------------------------------------------------------------ the connector

class ConnectorImpl final : public ConnHooks {
 public:
  ConnectorImpl(boost::asio::io_context& io, TimerService& timers, transport::FlowTable& flows,
                DeliverFn deliver, ConnectorConfig cfg)
      : io_(io),
        timers_(timers),
        flows_(flows),
        deliver_(std::move(deliver)),
        cfg_(std::move(cfg)),
        ws_(make_endpoint<WsClientConfig>(io, cfg_)),
        rng_(std::random_device{}()),
        self_(std::make_shared<ConnHooks*>(this)) {
    if (cfg_.tls) wss_ = make_endpoint<WssClientConfig>(io, cfg_);
  }

  ~ConnectorImpl() override {
    self_.reset();  // late websocketpp callbacks become no-ops
    timers_.cancel(sweep_);
    for (auto& p : peers_) timers_.cancel(p->timer);
    auto conns = std::move(conns_);
    conns_.clear();
    for (auto& c : conns) {
      const bool open = c->state() == ClientFlow::State::Open;
      c->abandon();
      if (open) flows_.remove(c->id());
    }
  }

  bool send(const Destination& dest, std::shared_ptr<const std::string> bytes) {
    if (stopped_ || !bytes || !is_websocket(dest.protocol)) return false;
    if (auto c = find(dest)) return c->send(std::move(bytes));
    // An inbound flow from that very address (a peer that connected to us from it).
    if (auto f = flows_.find_by_peer(dest.protocol, dest.endpoint))
      return f->send(std::move(bytes));
    Target t;
    t.protocol = dest.protocol;
    t.endpoint = dest.endpoint;
    t.host = dest.host;
    t.resource = cfg_.resource;
    int peer = -1;
    for (std::size_t i = 0; i < peers_.size(); ++i) {
      const Peer& p = *peers_[i];
      if (p.url.protocol() == dest.protocol && p.endpoint && *p.endpoint == dest.endpoint) {
        peer = static_cast<int>(i);
        t.resource = p.url.resource;
        if (t.host.empty() && !p.url.host_is_ip()) t.host = p.url.host;
        break;
      }
    }
    if (peer >= 0 && peers_[static_cast<std::size_t>(peer)]->conn) {
      peer = -1;  // that peer's own connection goes elsewhere (another name): dial on demand
    }
    if (peer >= 0) {
      cancel_reconnect(*peers_[static_cast<std::size_t>(peer)]);  // a request waits: no back-off
    }
    auto c = dial(std::move(t), peer);
    if (!c) return false;
    return c->send(std::move(bytes));
  }

  void add_peer(WsUrl url) {
    auto p = std::make_unique<Peer>();
    p->url = std::move(url);
    if (p->url.host_is_ip())
      p->endpoint = Endpoint{boost::asio::ip::make_address(p->url.host), p->url.port};
    peers_.push_back(std::move(p));
    if (started_ && !stopped_) connect_peer(peers_.size() - 1);
  }

  void start() {
    if (started_) return;
    started_ = true;
    for (std::size_t i = 0; i < peers_.size(); ++i) connect_peer(i);
    schedule_sweep();
  }

  void stop() {
    stopped_ = true;
    timers_.cancel(sweep_);
    sweep_ = 0;
    for (auto& p : peers_) cancel_reconnect(*p);
    const auto conns = conns_;
    for (const auto& c : conns) c->close_with(wsp::close::status::going_away, "shutdown");
  }

  std::size_t open_count() const {
    std::size_t n = 0;
    for (const auto& c : conns_) n += c->state() == ClientFlow::State::Open ? 1 : 0;
    return n;
  }

  FlowId peer_flow(std::size_t index) const {
    if (index >= peers_.size()) return kNoFlow;
    const auto& c = peers_[index]->conn;
    return c && c->state() == ClientFlow::State::Open ? c->id() : kNoFlow;
  }

  // ConnHooks
  void on_open(ClientFlow& f) override {
    SIPWS_COUNTER("ws_client_connections_opened").inc();
    auto keep = shared(f);
    if (!keep) return;
    flows_.add(keep);
    std::string what;
    if (f.peer_index() >= 0) {
      Peer& p = *peers_[static_cast<std::size_t>(f.peer_index())];
      p.attempts = 0;
      what = " (peer " + p.url.to_string() + ")";
    }
    log::ws().info("{} client flow {} open to {}{}{}", via_token(f.protocol()), f.id(),
                   f.peer().to_string(), f.target().resource, what);
  }

  void on_fail(ClientFlow& f, const std::string& why) override {
    SIPWS_COUNTER("ws_client_connect_failures").inc();
    auto keep = forget(f);
    const std::size_t dropped = f.drop_pending();
    log::ws().warn("{} client connection to {}{} failed: {}{}", via_token(f.protocol()),
                   f.peer().to_string(), f.target().resource, why,
                   dropped ? " (" + std::to_string(dropped) + " queued messages dropped)" : "");
    // Report later: the caller may be inside send() of a transaction layer.
    // A WSS connection also carried `transport=ws` requests to its address (see find()).
    if (cfg_.on_connect_failed) {
      boost::asio::post(io_, [cb = cfg_.on_connect_failed, p = f.protocol(), ep = f.peer()] {
        cb(p, ep);
        if (p == Protocol::Wss) cb(Protocol::Ws, ep);
      });
    }
    if (f.peer_index() >= 0) schedule_reconnect(static_cast<std::size_t>(f.peer_index()));
  }

  void on_close(ClientFlow& f, int remote_code) override {
    auto keep = forget(f);
    log::ws().info("{} client flow {} closed (peer {}, remote code {})", via_token(f.protocol()),
                   f.id(), f.peer().to_string(), remote_code);
    flows_.remove(f.id());
    if (f.peer_index() >= 0) schedule_reconnect(static_cast<std::size_t>(f.peer_index()));
  }

  void deliver(std::shared_ptr<const std::string> bytes, const Source& src) override {
    deliver_(std::move(bytes), src);
  }

 private:
  /// A configured peer (ws_peers) and its connection / back-off state.
  struct Peer {
    WsUrl url;
    std::optional<Endpoint> endpoint;  ///< resolved address (IP literal: at once)
    std::shared_ptr<ClientFlow> conn;  ///< connecting or open; null while backing off
    unsigned attempts = 0;             ///< failures since the last open
    bool resolving = false;
    TimerService::TimerId timer = 0;  ///< reconnection back-off
  };

  void cancel_reconnect(Peer& p) {
    timers_.cancel(p.timer);
    p.timer = 0;
  }

  std::shared_ptr<ClientFlow> shared(ClientFlow& f) const {
    for (const auto& c : conns_) {
      if (c.get() == &f) return c;
    }
    return nullptr;
  }

  /// Removes `f` from the connector's lists; returns it to keep it alive in the caller.
  std::shared_ptr<ClientFlow> forget(ClientFlow& f) {
    std::shared_ptr<ClientFlow> keep;
    for (auto it = conns_.begin(); it != conns_.end(); ++it) {
      if (it->get() == &f) {
        keep = *it;
        conns_.erase(it);
        break;
      }
    }
    if (f.peer_index() >= 0) {
      auto& p = *peers_[static_cast<std::size_t>(f.peer_index())];
      if (p.conn.get() == &f) p.conn.reset();
    }
    return keep;
  }

  /// An open or connecting connection to `dest`; for WSS with a host name, to that name. A WS
  /// destination may use a WSS connection to the same endpoint: RFC 7118 s.5.2 has one URI
  /// parameter, `transport=ws`, for both (servers such as Kamailio Record-Route their WSS
  /// socket as `sip:...;transport=ws`), and a plain WS connection to a TLS port cannot work.
  std::shared_ptr<ClientFlow> find(const Destination& dest) const {
    std::shared_ptr<ClientFlow> secure;
    for (const auto& c : conns_) {
      const Target& t = c->target();
      if (c->state() == ClientFlow::State::Done || t.endpoint != dest.endpoint) continue;
      if (dest.protocol == Protocol::Ws && t.protocol == Protocol::Wss) {
        if (!secure) secure = c;
        continue;
      }
      if (t.protocol != dest.protocol) continue;
      if (dest.protocol == Protocol::Wss && !dest.host.empty() && !is_ip(dest.host) &&
          !iequal(t.host, dest.host)) {
        continue;  // verified for another name
      }
      return c;
    }
    return secure;
  }

  std::shared_ptr<ClientFlow> dial(Target t, int peer) {
    SIPWS_COUNTER("ws_client_connects").inc();
    std::shared_ptr<ClientFlow> c;
    const FlowId id = flows_.next_id();
    if (t.protocol == Protocol::Wss) {
      if (!wss_) {
        SIPWS_COUNTER("ws_client_connect_failures").inc();
        log::ws().warn("wss client: no TLS client context, cannot dial {}", t.endpoint.to_string());
        return nullptr;
      }
      c = std::make_shared<Conn<WssClientConfig>>(wss_, self_, timers_, id, std::move(t), peer,
                                                  cfg_.max_queued);
    } else {
      c = std::make_shared<Conn<WsClientConfig>>(ws_, self_, timers_, id, std::move(t), peer,
                                                 cfg_.max_queued);
    }
    conns_.push_back(c);
    if (peer >= 0) peers_[static_cast<std::size_t>(peer)]->conn = c;
    log::ws().debug("{} client flow {}: connecting to {}{}", via_token(c->protocol()), c->id(),
                    c->peer().to_string(), c->target().resource);
    if (!c->start(cfg_)) {
      forget(*c);
      SIPWS_COUNTER("ws_client_connect_failures").inc();
      if (peer >= 0) schedule_reconnect(static_cast<std::size_t>(peer));
      return nullptr;
    }
    return c;
  }

  void connect_peer(std::size_t i) {
    if (stopped_) return;
    Peer& p = *peers_[i];
    if (p.conn || p.resolving) return;
    if (!p.url.host_is_ip()) {
      if (!cfg_.resolve) {
        log::ws().warn("ws client: cannot resolve {} (no resolver)", p.url.host);
        schedule_reconnect(i);
        return;
      }
      p.resolving = true;
      std::weak_ptr<ConnHooks*> weak = self_;
      cfg_.resolve(p.url.host, [this, weak, i](std::optional<IpAddress> addr) {
        if (weak.expired()) return;
        Peer& q = *peers_[i];
        q.resolving = false;
        if (stopped_ || q.conn) return;
        if (!addr) {
          SIPWS_COUNTER("ws_client_connect_failures").inc();
          log::ws().warn("ws client: cannot resolve {} for {}", q.url.host, q.url.to_string());
          schedule_reconnect(i);
          return;
        }
        q.endpoint = Endpoint{*addr, q.url.port};
        dial_peer(i);
      });
      return;
    }
    dial_peer(i);
  }

  void dial_peer(std::size_t i) {
    Peer& p = *peers_[i];
    Target t;
    t.protocol = p.url.protocol();
    t.endpoint = *p.endpoint;
    t.host = p.url.host_is_ip() ? std::string() : p.url.host;
    t.resource = p.url.resource;
    // A connection opened on demand to that address serves the peer from now on.
    Destination d;
    d.protocol = t.protocol;
    d.endpoint = t.endpoint;
    d.host = t.host;
    if (auto c = find(d); c && c->peer_index() < 0) {
      c->set_peer_index(static_cast<int>(i));
      p.conn = c;
      return;
    }
    dial(std::move(t), static_cast<int>(i));
  }

  void schedule_reconnect(std::size_t i) {
    if (stopped_) return;
    Peer& p = *peers_[i];
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const Millis delay =
        reconnect_delay(p.attempts, cfg_.reconnect_min, cfg_.reconnect_max, u(rng_));
    ++p.attempts;
    log::ws().info("ws client: reconnecting to {} in {} ms", p.url.to_string(), delay.count());
    timers_.cancel(p.timer);
    p.timer = timers_.schedule(delay, [this, i] {  // cancelled by stop() and the destructor
      peers_[i]->timer = 0;
      connect_peer(i);
    });
  }

  /// Every ping_interval (kClientCloseTimeout when pings are off: the sweep also notices
  /// connections websocketpp began closing, see ClientFlow::sweep).
  void schedule_sweep() {
    if (stopped_) return;
    const Millis every = cfg_.ping_interval.count() > 0 ? cfg_.ping_interval : kClientCloseTimeout;
    sweep_ = timers_.schedule(every, [this] {  // cancelled by stop(), destructor
      sweep_ = 0;
      const TimePoint now = timers_.now();
      const auto conns = conns_;
      for (const auto& c : conns) c->sweep(cfg_.ping_interval, cfg_.pong_timeout, now);
      schedule_sweep();
    });
  }

  boost::asio::io_context& io_;
  TimerService& timers_;
  transport::FlowTable& flows_;
  DeliverFn deliver_;
  ConnectorConfig cfg_;
  std::shared_ptr<wsp::client<WsClientConfig>> ws_;
  std::shared_ptr<wsp::client<WssClientConfig>> wss_;
  std::vector<std::shared_ptr<ClientFlow>> conns_;  ///< connecting and open
  std::vector<std::unique_ptr<Peer>> peers_;
  TimerService::TimerId sweep_ = 0;
  std::mt19937 rng_;
  bool started_ = false;
  bool stopped_ = false;
  std::shared_ptr<ConnHooks*> self_;  ///< connections hold a weak_ptr: no-op after destruction
};

Connector::Connector(boost::asio::io_context& io, TimerService& timers, transport::FlowTable& flows,
                     DeliverFn deliver, ConnectorConfig cfg)
    : impl_(
          std::make_unique<ConnectorImpl>(io, timers, flows, std::move(deliver), std::move(cfg))) {}

Connector::~Connector() = default;

bool Connector::send(const Destination& dest, std::shared_ptr<const std::string> bytes) {
  return impl_->send(dest, std::move(bytes));
}
void Connector::add_peer(WsUrl url) { impl_->add_peer(std::move(url)); }
void Connector::start() { impl_->start(); }
void Connector::stop() { impl_->stop(); }
std::size_t Connector::open_count() const { return impl_->open_count(); }
FlowId Connector::peer_flow(std::size_t index) const { return impl_->peer_flow(index); }

}  // namespace sipws::ws
