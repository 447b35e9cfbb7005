// ws::Listener on websocketpp (RFC 7118). The only translation unit that sees websocketpp types
// besides the ws tests. Thread: everything runs on the io thread that runs the io_context.

#include "ws/listener.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <optional>
#include <system_error>
#include <utility>
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/asio.hpp>
#include <websocketpp/server.hpp>
#include <websocketpp/utf8_validator.hpp>

#include "common/counters.hpp"
#include "common/token_bucket.hpp"
#include "sip/text.hpp"
#include "transport/socket_options.hpp"
#include "ws/handshake_checks.hpp"
#include "ws/origin_policy.hpp"
#include "ws/static_files.hpp"

namespace sipws::ws {

namespace wsp = websocketpp;
using Hdl = wsp::connection_hdl;

/// Type-erased listener (one implementation per websocketpp server config: WS and WSS).
class ListenerImpl {
 public:
  virtual ~ListenerImpl() = default;
  virtual void start() = 0;
  virtual Endpoint local_endpoint() const = 0;
  virtual Protocol protocol() const = 0;
  virtual void stop() = 0;
};

namespace {

using detail::ConnectionState;

/// How long sipws waits for the peer's close frame after sending its own (ms).
constexpr long kCloseHandshakeTimeoutMs = 2000;
/// Largest plain HTTP request body read (the login form); larger requests get 413.
constexpr std::size_t kMaxHttpBody = 64 * 1024;

/// websocketpp's stock configs with a shorter socket shutdown timeout: after the WS closing
/// handshake the server waits for the peer's TLS close_notify, which some clients never send
/// while keeping the socket open; the flow stays in the FlowTable until then. The TLS
/// handshake has no timer of its own: the listener's handshake deadline (from accept to the
/// 101) covers TCP, TLS and HTTP at once. Every connection carries a ConnectionState, and its
/// request is a VersionCheckedRequest (upgrades offering another version than 13 get 426).
template <class Base>
struct SipConfig : Base {
  typedef ConnectionState connection_base;
  typedef detail::VersionCheckedRequest request_type;  // RFC 6455 version 13 only
  // One io thread owns every connection of a listener: no strand per connection and no mutex
  // per message (websocketpp's stock configs pay both for multi-threaded io_contexts).
  typedef wsp::concurrency::none concurrency_type;
  static const bool enable_multithreading = false;
  struct transport_config : Base::transport_config {
    typedef wsp::concurrency::none concurrency_type;
    static const bool enable_multithreading = false;
    static const long timeout_socket_shutdown = 1000;  // ms
    static const long timeout_socket_post_init = 0;    // TLS handshake: see handshake_timeout
  };
  typedef wsp::transport::asio::endpoint<transport_config> transport_type;
};
using WsConfig = SipConfig<wsp::config::asio>;
using WssConfig = SipConfig<wsp::config::asio_tls>;

/// One WS/WSS connection seen as a transport::Flow. Kept alive by the FlowTable and by the
/// listener's connection map. Thread: core io thread.
template <class Config>
class WsFlow final : public transport::Flow, public std::enable_shared_from_this<WsFlow<Config>> {
 public:
  using ConPtr = typename wsp::server<Config>::connection_ptr;

  WsFlow(ConPtr con, FlowId id, Protocol protocol, Endpoint peer, Endpoint local,
         unsigned max_message_rate)
      : con_(std::move(con)),
        id_(id),
        protocol_(protocol),
        peer_(std::move(peer)),
        local_(std::move(local)),
        last_rx_(SteadyClock::now()),
        rate_(max_message_rate, max_message_rate, last_rx_),
        first_message_timer_(con_->get_raw_socket().get_executor()) {}

  FlowId id() const override { return id_; }
  Protocol protocol() const override { return protocol_; }
  Endpoint peer() const override { return peer_; }
  Endpoint local() const override { return local_; }

  /// One WS message per call: text if `bytes` is valid UTF-8, binary otherwise (RFC 7118 s.4.2).
  bool send(std::shared_ptr<const std::string> bytes) override {
    if (!bytes || closing_ || con_->get_state() != wsp::session::state::open) return false;
    // RFC 7118 s.5.3: text frames for UTF-8 (an ASCII message needs no decoding to know).
    const bool utf8 = sip::text::is_ascii(*bytes) || wsp::utf8_validator::validate(*bytes);
    const auto op = utf8 ? wsp::frame::opcode::text : wsp::frame::opcode::binary;
    const auto ec = con_->send(bytes->data(), bytes->size(), op);
    if (ec) {
      SIPWS_COUNTER("ws_send_errors").inc();
      spdlog::debug("ws flow {} send failed: {}", id_, ec.message());
      return false;
    }
    return true;
  }

  void close() override { close_with(wsp::close::status::normal, ""); }

  /// Starts the WS closing handshake with `code`; no-op once closing.
  void close_with(wsp::close::status::value code, const std::string& reason) {
    if (closing_) return;
    closing_ = true;
    first_message_timer_.cancel();
    wsp::lib::error_code ec;
    con_->close(code, reason, ec);
    if (ec) terminate();
  }

  /// Drops the TCP connection without a closing handshake or a TLS close_notify exchange (the
  /// peer is dead: waiting for it would keep the flow for websocketpp's 5 s shutdown timeout).
  void terminate() {
    closing_ = true;
    first_message_timer_.cancel();
    con_->terminate(wsp::error::make_error_code(wsp::error::general));
    boost::system::error_code ec;
    con_->get_raw_socket().close(ec);
  }

  /// True once sipws started closing the flow (so its end is not a dead peer).
  bool closing() const { return closing_; }

  /// Closes with 1008 unless a message arrives within `timeout` (0: no deadline).
  void arm_first_message_deadline(Millis timeout) {
    if (timeout.count() <= 0) return;
    first_message_timer_.expires_after(timeout);
    std::weak_ptr<WsFlow> weak = this->weak_from_this();
    first_message_timer_.async_wait([weak](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self || self->got_message_ || self->closing_) return;
      SIPWS_COUNTER("ws_first_message_timeouts").inc();
      spdlog::info("{} flow {} sent no SIP message in time (peer {}): closing with 1008",
                   via_token(self->protocol_), self->id_, self->peer_.to_string());
      self->close_with(wsp::close::status::policy_violation, "no SIP message");
    });
  }

  /// Accounts one received WS message; false if it exceeds the flow's message rate (then the
  /// flow is closing with 1008 and the message must be dropped).
  bool on_message_received() {
    const TimePoint now = SteadyClock::now();
    if (!got_message_) {
      got_message_ = true;
      first_message_timer_.cancel();
    }
    if (closing_) return false;
    if (!rate_.take(now)) {
      SIPWS_COUNTER("ws_rate_limited").inc();
      spdlog::info("{} flow {} over ws_max_message_rate (peer {}): closing with 1008",
                   via_token(protocol_), id_, peer_.to_string());
      close_with(wsp::close::status::policy_violation, "message rate exceeded");
      return false;
    }
    return true;
  }

  /// Keep-alive bookkeeping (see ListenerConfig::ping_interval).
  void on_traffic() {
    last_rx_ = SteadyClock::now();
    awaiting_pong_ = false;
  }
  bool idle_for(Millis d, TimePoint now) const { return !awaiting_pong_ && now - last_rx_ >= d; }
  void send_ping() {
    wsp::lib::error_code ec;
    ping_sent_ = SteadyClock::now();
    awaiting_pong_ = true;
    con_->ping("", ec);
    if (ec) awaiting_pong_ = false;
  }
  /// True if something arrived after the last ping (the pong timeout is then void).
  bool traffic_since_ping() const { return last_rx_ >= ping_sent_; }
  void clear_ping() { awaiting_pong_ = false; }

 private:
  ConPtr con_;
  FlowId id_;
  Protocol protocol_;
  Endpoint peer_;
  Endpoint local_;
  bool closing_ = false;
  TimePoint last_rx_;
  TimePoint ping_sent_{};
  bool awaiting_pong_ = false;
  bool got_message_ = false;
  TokenBucket rate_;
  boost::asio::steady_timer first_message_timer_;
};

template <class Config>
class ServerImpl final : public ListenerImpl {
 public:
  using Server = wsp::server<Config>;
  using Flow = WsFlow<Config>;
  static constexpr bool kTls = std::is_same_v<Config, WssConfig>;

  ServerImpl(boost::asio::io_context& io, transport::FlowTable& flows, DeliverFn deliver,
             ListenerConfig cfg)
      : io_(io),
        flows_(flows),
        deliver_(std::move(deliver)),
        cfg_(std::move(cfg)),
        origins_(cfg_.allowed_origins, cfg_.allow_no_origin),
        sweep_(io),
        self_(std::make_shared<ServerImpl*>(this)) {
    server_->clear_access_channels(wsp::log::alevel::all);
    server_->clear_error_channels(wsp::log::elevel::all);
    server_->init_asio(&io_);  // start-up: may throw
    server_->set_reuse_addr(true);
    if (cfg_.reuse_port) {
      // Between websocketpp's open() and bind(): shards share the port (ListenerConfig).
      server_->set_tcp_pre_bind_handler([](const auto& acceptor) -> wsp::lib::error_code {
        boost::system::error_code ec;
        acceptor->set_option(transport::ReusePort(true), ec);
        return ec;
      });
    }
    server_->set_max_message_size(cfg_.max_message_size);
    server_->set_open_handshake_timeout(0);  // the handshake deadline (on_accept) covers it
    // After sipws sends a close frame (1002/1007/1008/1009, shutdown) a peer that never answers
    // holds the flow until this (websocketpp's default: 5 s). websocketpp stops reading after a
    // protocol error, so those flows always end by this timer.
    server_->set_close_handshake_timeout(kCloseHandshakeTimeoutMs);
    server_->set_max_http_body_size(kMaxHttpBody);
    std::weak_ptr<ServerImpl*> weak = self_;
    auto guard = [weak](auto member) {
      return [weak, member](auto&&... args) {
        auto self = weak.lock();
        if (!self) return decltype(((*self)->*member)(args...))();
        return ((*self)->*member)(std::forward<decltype(args)>(args)...);
      };
    };
    server_->set_tcp_pre_init_handler(guard(&ServerImpl::on_accept));
    server_->set_validate_handler(guard(&ServerImpl::on_validate));
    server_->set_open_handler(guard(&ServerImpl::on_open));
    server_->set_close_handler(guard(&ServerImpl::on_close));
    server_->set_fail_handler(guard(&ServerImpl::on_fail));
    server_->set_message_handler(guard(&ServerImpl::on_message));
    server_->set_ping_handler(guard(&ServerImpl::on_ping));
    server_->set_pong_handler(guard(&ServerImpl::on_pong));
    server_->set_pong_timeout_handler(guard(&ServerImpl::on_pong_timeout));
    // Always: upgrades offering another WebSocket version than 13 arrive as plain HTTP.
    server_->set_http_handler(guard(&ServerImpl::on_http));
    if constexpr (kTls) {
      auto tls = cfg_.tls;
      server_->set_tls_init_handler([tls](Hdl) { return tls; });
    }
  }

  ~ServerImpl() override {
    self_.reset();  // late websocketpp callbacks become no-ops
    sweep_.cancel();
    wsp::lib::error_code ec;
    if (server_->is_listening()) server_->stop_listening(ec);
    // The aborted accept completion is queued now; release the endpoint after it has run.
    boost::asio::post(io_, [&io = io_, keep = server_] { boost::asio::post(io, [keep] {}); });
    auto conns = std::move(conns_);
    conns_.clear();
    for (auto& [hdl, flow] : conns) {
      flow->terminate();
      flows_.remove(flow->id());
    }
  }

  void start() override {
    wsp::lib::error_code ec;
    server_->listen(boost::asio::ip::tcp::endpoint(cfg_.listen.address, cfg_.listen.port), ec);
    if (ec) {
      throw std::system_error(ec, "ws listen on " + cfg_.listen.to_string());
    }
    server_->start_accept(ec);
    if (ec) throw std::system_error(ec, "ws accept on " + cfg_.listen.to_string());
    boost::system::error_code bec;
    local_ = to_endpoint(server_->get_local_endpoint(bec));
    stopped_ = false;
    spdlog::info("{} listener on {}", via_token(protocol()), local_.to_string());
    schedule_sweep();
  }

  Endpoint local_endpoint() const override { return local_; }
  Protocol protocol() const override { return kTls ? Protocol::Wss : Protocol::Ws; }

  void stop() override {
    stopped_ = true;
    sweep_.cancel();
    wsp::lib::error_code ec;
    if (server_->is_listening()) server_->stop_listening(ec);
    // A failed close terminates at once and may erase from conns_: iterate over a copy.
    const auto conns = conns_;
    for (const auto& [hdl, flow] : conns) {
      flow->close_with(wsp::close::status::going_away, "shutdown");
    }
  }

 private:
  typename Server::connection_ptr con(Hdl hdl) {
    wsp::lib::error_code ec;
    auto c = server_->get_con_from_hdl(std::move(hdl), ec);
    return ec ? nullptr : c;
  }

  std::shared_ptr<Flow> flow(const Hdl& hdl) const {
    auto it = conns_.find(hdl);
    return it == conns_.end() ? nullptr : it->second;
  }

  /// A TCP connection was accepted: count it against the limits (refused ones are answered in
  /// HTTP once their request arrives) and start the handshake deadline.
  void on_accept(Hdl hdl) {
    auto c = con(hdl);
    if (!c) return;
    boost::system::error_code ec;
    const auto remote = c->get_raw_socket().remote_endpoint(ec);
    if (ec) return;  // already gone: websocketpp fails it on the first read
    // One WebSocket frame is one SIP message: no Nagle delay for the second of two (100 Trying
    // then 180/200) until the browser's delayed ACK.
    c->get_raw_socket().set_option(boost::asio::ip::tcp::no_delay(true), ec);
    detail::admit_connection(*c, cfg_.limiter.get(), to_endpoint(remote));
    auto timer = std::make_unique<boost::asio::steady_timer>(io_, cfg_.handshake_timeout);
    std::weak_ptr<typename Server::connection_type> weak = c;
    timer->async_wait([weak](const boost::system::error_code& tec) {
      auto c = weak.lock();
      if (tec || !c || c->get_state() != wsp::session::state::connecting) return;
      SIPWS_COUNTER("ws_handshake_timeouts").inc();
      spdlog::info("ws connection from {}: no complete upgrade within ws_handshake_timeout",
                   remote_of(*c));
      c->terminate(wsp::error::make_error_code(wsp::error::open_handshake_timeout));
      boost::system::error_code cec;
      c->get_raw_socket().close(cec);
    });
    c->handshake_deadline = std::move(timer);
  }

  // RFC 7118 s.4.1: the client must offer "sip"; the 101 selects it.
  bool on_validate(Hdl hdl) {
    auto c = con(hdl);
    if (!c) return false;
    boost::system::error_code ec;
    const auto remote = c->get_raw_socket().remote_endpoint(ec);
    const Endpoint peer = ec ? Endpoint{} : to_endpoint(remote);
    std::string identity;
    const bool ok = detail::validate_upgrade(*c, detail::UpgradeGate{cfg_, origins_, stopped_},
                                             peer, &identity);
    if (ok && !identity.empty()) pending_identities_[hdl] = identity;
    return ok;
  }

  void on_open(Hdl hdl) {
    auto c = con(hdl);
    if (!c) return;
    boost::system::error_code ec;
    const Endpoint peer = to_endpoint(c->get_raw_socket().remote_endpoint(ec));
    const Endpoint local = ec ? local_ : to_endpoint(c->get_raw_socket().local_endpoint(ec));
    if (ec) {
      SIPWS_COUNTER("ws_open_errors").inc();
      c->terminate(ec);
      return;
    }
    if (c->handshake_deadline) c->handshake_deadline->cancel();
    if (cfg_.ping_interval.count() > 0) {
      c->set_pong_timeout(static_cast<long>(cfg_.pong_timeout.count()));
    }
    auto f =
        std::make_shared<Flow>(c, flows_.next_id(), protocol(), peer, local, cfg_.max_message_rate);
    conns_.emplace(hdl, f);
    flows_.add(f);
    f->arm_first_message_deadline(cfg_.first_message_timeout);
    bind_pending_identity(hdl, f->id());
    SIPWS_COUNTER("ws_connections_opened").inc();
    spdlog::info("{} flow {} open from {}", via_token(protocol()), f->id(), peer.to_string());
  }

  void on_close(Hdl hdl) {
    auto c = con(hdl);
    if (c) {
      switch (c->get_local_close_code()) {
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
      // No close frame from the peer and sipws did not start closing: the peer vanished.
      auto f = flow(hdl);
      if (f && !f->closing() && c->get_remote_close_code() == wsp::close::status::abnormal_close) {
        SIPWS_COUNTER("ws_flows_dead").inc();
      }
    }
    forget(hdl, c ? static_cast<int>(c->get_remote_close_code()) : -1);
  }

  void on_fail(Hdl hdl) {
    pending_identities_.erase(hdl);
    auto c = con(hdl);
    if (c) spdlog::debug("ws connection from {} failed: {}", remote_of(*c), c->get_ec().message());
    forget(hdl, -1);
  }

  void forget(const Hdl& hdl, int remote_code) {
    auto it = conns_.find(hdl);
    if (it == conns_.end()) return;
    auto f = std::move(it->second);
    conns_.erase(it);
    spdlog::info("{} flow {} closed (peer {}, remote code {})", via_token(protocol()), f->id(),
                 f->peer().to_string(), remote_code);
    flows_.remove(f->id());
  }

  // RFC 7118 s.5.1: each WS message, text or binary, carries exactly one SIP message.
  void on_message(Hdl hdl, typename Server::message_ptr msg) {
    auto f = flow(hdl);
    if (!f || !msg) return;
    f->on_traffic();
    if (!f->on_message_received()) return;  // over the rate: closing with 1008
    detail::hand_off_message(std::move(msg->get_raw_payload()),
                             Source{protocol(), f->peer(), f->local(), f->id()}, deliver_);
  }

  bool on_ping(Hdl hdl, std::string) {
    if (auto f = flow(hdl)) f->on_traffic();
    return true;  // answer with a pong
  }

  void on_pong(Hdl hdl, std::string) {
    if (auto f = flow(hdl)) f->on_traffic();
  }

  void on_pong_timeout(Hdl hdl, std::string) {
    auto f = flow(hdl);
    if (!f) return;
    if (f->traffic_since_ping()) {
      f->clear_ping();
      return;
    }
    SIPWS_COUNTER("ws_keepalive_timeouts").inc();
    SIPWS_COUNTER("ws_flows_dead").inc();
    spdlog::info("{} flow {} keep-alive timeout (peer {})", via_token(protocol()), f->id(),
                 f->peer().to_string());
    f->terminate();
  }

  /// RFC 7118 s.7: the identity the handshake auth hook proved goes with the flow.
  void bind_pending_identity(const Hdl& hdl, FlowId id) {
    auto it = pending_identities_.find(hdl);
    if (it == pending_identities_.end()) return;
    flows_.bind_identity(id, std::move(it->second));
    pending_identities_.erase(it);
  }

  /// Offers a plain HTTP request to cfg_.http_handler; true if it took it. A reply given during
  /// the call is written at once; a later one through websocketpp's deferred response. The
  /// reply function owns the connection meanwhile: a deferred connection has no pending
  /// operation that would keep websocketpp's connection object alive.
  bool dispatch_http(const typename Server::connection_ptr& cp) {
    auto& c = *cp;
    HttpRequest req;
    boost::system::error_code bec;
    const auto peer = c.get_raw_socket().remote_endpoint(bec);
    if (!bec) req.peer = to_endpoint(peer);
    req.method = c.get_request().get_method();
    req.resource = c.get_resource();
    req.host = c.get_request_header("Host");
    req.content_type = c.get_request_header("Content-Type");
    req.cookie = c.get_request_header("Cookie");
    req.origin = c.get_request_header("Origin");
    req.body = c.get_request_body();
    req.secure = kTls;
    struct State {
      bool in_call = true;
      bool replied = false;
      std::optional<HttpResponse> early;
    };
    auto state = std::make_shared<State>();
    std::weak_ptr<ServerImpl*> weak = self_;
    auto reply = [weak, cp, state](HttpResponse r) {
      if (state->replied) return;
      state->replied = true;
      if (state->in_call) {
        state->early = std::move(r);
        return;
      }
      if (!weak.lock()) return;  // listener gone: the connection dies with this function
      apply_http(*cp, r);
      wsp::lib::error_code ec;
      cp->send_http_response(ec);
      if (ec) spdlog::debug("deferred http response failed: {}", ec.message());
    };
    const bool taken = cfg_.http_handler(req, reply);
    state->in_call = false;
    if (!taken) return false;
    if (state->early) {
      apply_http(c, *state->early);
    } else {
      c.defer_http_response();
    }
    return true;
  }

  template <class Con>
  static void apply_http(Con& c, const HttpResponse& r) {
    const int status = r.status >= 100 && r.status <= 599 ? r.status : 500;
    c.set_status(static_cast<wsp::http::status_code::value>(status));
    for (const auto& [name, value] : r.headers) c.append_header(name, value);
    c.set_body(r.body);
  }

  void on_http(Hdl hdl) {
    auto c = con(hdl);
    if (!c) return;
    boost::system::error_code pec;
    const auto remote = c->get_raw_socket().remote_endpoint(pec);
    const Endpoint peer = pec ? Endpoint{} : to_endpoint(remote);
    if (detail::refuse_if_over_limit(*c, peer)) return;
    if (detail::refuse_if_bad_version(*c, peer)) return;
    if (cfg_.http_handler && dispatch_http(c)) return;
    if (cfg_.www_root.empty()) {
      c->set_status(wsp::http::status_code::upgrade_required);
      return;
    }
    const std::string& method = c->get_request().get_method();
    if (method != "GET") {
      c->set_status(wsp::http::status_code::method_not_allowed);
      c->append_header("Allow", "GET");
      return;
    }
    const FileResponse r = serve_static_file(cfg_.www_root, c->get_resource());
    if (r.status != 200) SIPWS_COUNTER("ws_http_errors").inc();
    c->set_status(static_cast<wsp::http::status_code::value>(r.status));
    c->replace_header("Content-Type", r.content_type);
    c->set_body(r.body);
    spdlog::debug("http GET {} from {} -> {}", c->get_resource(), remote_of(*c), r.status);
  }

  template <class Con>
  static std::string remote_of(Con& c) {
    boost::system::error_code ec;
    auto ep = c.get_raw_socket().remote_endpoint(ec);
    return ec ? std::string("?") : to_endpoint(ep).to_string();
  }

  void schedule_sweep() {
    if (cfg_.ping_interval.count() <= 0 || stopped_) return;
    sweep_.expires_after(cfg_.ping_interval);
    std::weak_ptr<ServerImpl*> weak = self_;
    sweep_.async_wait([weak](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      (*self)->sweep();
    });
  }

  /// Pings every flow idle for ping_interval (RFC 6455 s.5.5.2); websocketpp's pong timer
  /// (pong_timeout) then calls on_pong_timeout.
  void sweep() {
    const TimePoint now = SteadyClock::now();
    const auto conns = conns_;
    for (const auto& [hdl, f] : conns) {
      if (f->idle_for(cfg_.ping_interval, now)) {
        SIPWS_COUNTER("ws_keepalive_pings").inc();
        f->send_ping();
      }
    }
    schedule_sweep();
  }

  boost::asio::io_context& io_;
  transport::FlowTable& flows_;
  DeliverFn deliver_;
  ListenerConfig cfg_;
  OriginPolicy origins_;
  /// Shared: websocketpp's accept handler holds a raw pointer to the endpoint, so the endpoint
  /// must outlive the cancelled accept that is still queued when the listener is destroyed.
  std::shared_ptr<Server> server_ = std::make_shared<Server>();
  boost::asio::steady_timer sweep_;
  std::map<Hdl, std::shared_ptr<Flow>, std::owner_less<Hdl>> conns_;
  /// Identities accepted by handshake_auth, waiting for on_open to create the flow.
  std::map<Hdl, std::string, std::owner_less<Hdl>> pending_identities_;
  Endpoint local_;
  bool stopped_ = false;
  std::shared_ptr<ServerImpl*> self_;  ///< handlers hold a weak_ptr: no-op after destruction
};

}  // namespace

Listener::Listener(boost::asio::io_context& io, transport::FlowTable& flows, DeliverFn deliver,
                   ListenerConfig cfg) {
  if (cfg.tls) {
    impl_ = std::make_unique<ServerImpl<WssConfig>>(io, flows, std::move(deliver), std::move(cfg));
  } else {
    impl_ = std::make_unique<ServerImpl<WsConfig>>(io, flows, std::move(deliver), std::move(cfg));
  }
}

Listener::~Listener() = default;

void Listener::start() { impl_->start(); }
Endpoint Listener::local_endpoint() const { return impl_->local_endpoint(); }
Protocol Listener::protocol() const { return impl_->protocol(); }
void Listener::stop() { impl_->stop(); }

}  // namespace sipws::ws
