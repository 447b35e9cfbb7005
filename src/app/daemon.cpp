#include "app/daemon.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <filesystem>

#include "app/demo_users.hpp"
#include "auth/digest_auth.hpp"
#include "auth/flow_identity.hpp"
#include "auth/handshake_auth.hpp"
#include "bridge/anchor.hpp"
#include "common/counters.hpp"
#include "common/random.hpp"
#include "proxy/proxy_core.hpp"
#include "proxy/routing.hpp"
#include "registrar/location.hpp"
#include "registrar/lookup.hpp"
#include "registrar/registrar.hpp"
#include "routing/dns.hpp"
#include "routing/sip_locator.hpp"
#include "sip/parser.hpp"
#include "sip/txn/transaction_layer.hpp"
#include "store/store.hpp"
#include "transport/asio_timer.hpp"
#include "transport/connection_limiter.hpp"
#include "transport/tls.hpp"
#include "transport/transport_layer.hpp"
#include "ws/client.hpp"
#include "ws/listener.hpp"

namespace sipws::app {
namespace {

namespace asio = boost::asio;

/// proxy::NetworkView over the transport layer.
class TransportView final : public proxy::NetworkView {
 public:
  explicit TransportView(transport::TransportLayer& t) : t_(t) {}
  const std::vector<ListenPoint>& listen_points() const override { return t_.listen_points(); }
  bool flow_alive(FlowId id) const override { return t_.flows().find(id) != nullptr; }
  std::optional<Endpoint> flow_peer(FlowId id) const override {
    auto f = t_.flows().find(id);
    if (!f) return std::nullopt;
    return f->peer();
  }
  std::optional<Protocol> flow_protocol(FlowId id) const override {
    auto f = t_.flows().find(id);
    if (!f) return std::nullopt;
    return f->protocol();
  }

 private:
  transport::TransportLayer& t_;
};

/// Logs every message sent when --trace is on, then hands it to the transport.
class TracingSender final : public sip::txn::Sender {
 public:
  TracingSender(sip::txn::Sender& next, bool trace) : next_(next), trace_(trace) {}
  bool send(const Destination& dest, std::shared_ptr<const std::string> bytes) override {
    if (trace_) {
      spdlog::info("SEND {} {} flow={} {} bytes\n{}", via_token(dest.protocol),
                   dest.endpoint.to_string(), dest.flow, bytes->size(), *bytes);
    }
    return next_.send(dest, std::move(bytes));
  }

 private:
  sip::txn::Sender& next_;
  bool trace_;
};

/// Feeds the transaction layer with what the transports parsed.
class Dispatcher final : public transport::MessageHandler {
 public:
  Dispatcher(sip::txn::TransactionLayer& txns, bool trace) : txns_(txns), trace_(trace) {}
  void on_message(const sip::Message& msg, const Source& src) override {
    if (trace_) {
      spdlog::info("RECV {} {} flow={} {} bytes\n{}", via_token(src.protocol), src.peer.to_string(),
                   src.flow, msg.raw().size(), msg.raw());
    }
    txns_.receive(msg, src);
  }

 private:
  sip::txn::TransactionLayer& txns_;
  bool trace_;
};

/// Where the demo page lives when `www_root` is not set: www/demo-jssip of the source tree
/// (found from the binary's location, build/sipws) or of the working directory.
std::string find_www_root(const std::string& configured) {
  if (!configured.empty()) return configured;
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (const fs::path& base : {exe.parent_path().parent_path(), fs::current_path(ec)}) {
    fs::path p = base / "www" / "demo-jssip";
    if (fs::is_directory(p, ec)) return p.string();
  }
  return {};
}

/// Where the generated cookie key lives: beside an SQLite store, else ./var/ws_auth.key.
std::string ws_auth_key_path(const std::string& store) {
  namespace fs = std::filesystem;
  const std::string prefix = "sqlite:";
  if (store.rfind(prefix, 0) == 0) {
    std::string path = store.substr(prefix.size());
    if (path.rfind("//", 0) == 0) path.erase(0, 2);
    if (!path.empty() && path != ":memory:") {
      return (fs::path(path).parent_path() / "ws_auth.key").string();
    }
  }
  return "./var/ws_auth.key";
}

auth::HandshakeAuthMode handshake_mode(WsAuthMode m) {
  switch (m) {
    case WsAuthMode::Cookie:
      return auth::HandshakeAuthMode::Cookie;
    case WsAuthMode::Digest:
      return auth::HandshakeAuthMode::Digest;
    case WsAuthMode::Any:
      return auth::HandshakeAuthMode::Any;
    case WsAuthMode::Off:
      break;
  }
  return auth::HandshakeAuthMode::Off;
}

/// ws::Listener hooks over the HandshakeAuthenticator (the ws folder knows nothing of auth).
void attach_handshake_auth(ws::ListenerConfig& wc, auth::HandshakeAuthenticator& hs) {
  wc.handshake_auth = [&hs](const ws::HandshakeRequest& r) {
    auth::UpgradeVerdict v =
        hs.check_upgrade({r.peer.address.to_string(), r.resource, r.cookie, r.authorization});
    ws::HandshakeVerdict out;
    out.status = v.status;
    out.headers = std::move(v.headers);
    out.identity = std::move(v.identity);
    return out;
  };
  wc.http_handler = [&hs](const ws::HttpRequest& r, std::function<void(ws::HttpResponse)> reply) {
    auth::LoginRequest lr;
    lr.peer_address = r.peer.address.to_string();
    lr.method = r.method;
    lr.target = r.resource;
    lr.host = r.host;
    lr.origin = r.origin;
    lr.content_type = r.content_type;
    lr.body = r.body;
    lr.secure = r.secure;
    return hs.handle_http(lr, [reply = std::move(reply)](auth::LoginResponse x) {
      reply(ws::HttpResponse{x.status, std::move(x.headers), std::move(x.body)});
    });
  };
}

/// The media bridge (config keys media_*): its address is media_address, else the first UDP
/// listener's, else 127.0.0.1. Media-timeout BYEs leave through the transaction layer with a
/// Via of the listen point of their transport. @throws std::exception if the address or the
/// DTLS certificate is unusable.
std::unique_ptr<bridge::MediaAnchor> make_media_anchor(const Config& cfg, asio::io_context& io,
                                                       transport::TransportLayer& transport,
                                                       sip::txn::TransactionLayer& txns) {
  bridge::BridgeConfig bc;
  std::string addr = cfg.media_address;
  if (addr.empty()) {
    for (const auto& lp : transport.listen_points()) {
      if (lp.protocol == Protocol::Udp && !lp.local.address.is_unspecified()) {
        addr = lp.local.address.to_string();
        break;
      }
    }
  }
  if (addr.empty()) addr = "127.0.0.1";
  bc.address = asio::ip::make_address(addr);
  bc.port_min = cfg.media_port_min;
  bc.port_max = cfg.media_port_max;
  bc.media_timeout = Millis(std::uint64_t{cfg.media_timeout_s} * 1000);
  auto originate = [&transport, &txns](const std::string& text, const Destination& dest) {
    const ListenPoint* out = nullptr;
    for (const auto& lp : transport.listen_points()) {
      if (lp.protocol == dest.protocol) {
        out = &lp;
        break;
      }
    }
    const auto eol = text.find("\r\n");
    if (out == nullptr || eol == std::string::npos) return;
    // The parser wants a top Via: it goes right after the request line.
    std::string with_via = text.substr(0, eol + 2) +
                           "Via: " + proxy::make_via(*out, "z9hG4bK-swbye" + random_token(12)) +
                           "\r\n" + text.substr(eol + 2);
    auto msg = sip::parse(std::make_shared<const std::string>(std::move(with_via)));
    if (!msg) {
      spdlog::warn("media: cannot build the BYE: {}", msg.error().reason);
      return;
    }
    txns.send_request(*msg, dest);
  };
  return std::make_unique<bridge::MediaAnchor>(io, bc,
                                               cfg.media_anchor == MediaAnchor::Always
                                                   ? bridge::AnchorMode::Always
                                                   : bridge::AnchorMode::Auto,
                                               originate);
}

/// The admin HTTP endpoint on admin_listen: GET /metrics (Prometheus text: every counter, and
/// the anchored calls as a gauge) and GET /health. Plain HTTP only: every upgrade gets 404.
/// `anchor` may be null (media_anchor=never). @throws std::system_error if it cannot bind.
std::unique_ptr<ws::Listener> start_admin_endpoint(const Config& cfg, asio::io_context& io,
                                                   transport::FlowTable& flows,
                                                   const bridge::MediaAnchor* anchor) {
  ws::ListenerConfig ac;
  ac.listen = Endpoint{asio::ip::make_address(cfg.admin_host), cfg.admin_port};
  ac.handshake_auth = [](const ws::HandshakeRequest&) {
    ws::HandshakeVerdict v;
    v.status = 404;
    return v;
  };
  ac.http_handler = [anchor](const ws::HttpRequest& r,
                             std::function<void(ws::HttpResponse)> reply) {
    ws::HttpResponse rsp;
    rsp.headers.emplace_back("Content-Type", "text/plain; version=0.0.4");
    if (r.method != "GET") {
      rsp.status = 405;
    } else if (r.resource == "/health") {
      rsp.body = "ok\n";
    } else if (r.resource == "/metrics") {
      for (const auto& [name, value] : counters().snapshot()) {
        rsp.body +=
            "# TYPE sipws_" + name + " counter\nsipws_" + name + ' ' + std::to_string(value) + '\n';
      }
      rsp.body += "# TYPE sipws_media_sessions_active gauge\nsipws_media_sessions_active " +
                  std::to_string(anchor ? anchor->active_sessions() : 0) + '\n';
    } else {
      rsp.status = 404;
    }
    reply(std::move(rsp));
    return true;
  };
  auto admin = std::make_unique<ws::Listener>(
      io, flows, [](std::shared_ptr<const std::string>, const Source&) {}, ac);
  admin->start();
  return admin;
}

}  // namespace

int run_daemon(const Config& cfg) {
  spdlog::info("sipws starting: {}", describe(cfg));
  asio::io_context io;
  transport::AsioTimerService timers(io);

  std::unique_ptr<store::Store> db;
  try {
    db = store::Store::open(cfg.store);
  } catch (const store::StoreError& e) {
    std::fprintf(stderr, "sipws: config key 'store': %s\n", e.what());
    return 2;
  }
  store::AsyncStore astore(std::move(db),
                           [&io](std::function<void()> fn) { asio::post(io, std::move(fn)); });

  // Connection limits: one limiter for every WS/WSS listener (ws_max_connections is a total),
  // one for the SIP TCP/TLS listeners; the exempt networks lift the per-IP caps of both.
  std::vector<transport::IpNetwork> limit_exempt;
  for (const auto& n : cfg.ws_connection_limit_exempt) {
    if (auto net = transport::IpNetwork::parse(n)) limit_exempt.push_back(*net);
  }
  transport::TransportLimits tlimits;
  tlimits.max_message_size = cfg.max_message_size;
  if (cfg.tcp_max_connections != 0 || cfg.tcp_max_connections_per_ip != 0) {
    transport::ConnectionLimits tcp_limits;
    tcp_limits.max_total = cfg.tcp_max_connections;
    tcp_limits.max_per_ip = cfg.tcp_max_connections_per_ip;
    tcp_limits.exempt = limit_exempt;
    tlimits.limiter = std::make_shared<transport::ConnectionLimiter>(tcp_limits);
  }
  transport::TransportLayer transport(io, tlimits);
  TracingSender sender(transport, cfg.trace);

  proxy::Domains domains;
  domains.add_domain(cfg.domain);
  TransportView view(transport);
  // DNS: c-ares on this io_context (RFC 3263 NAPTR/SRV/A/AAAA, hosts file, TTL cache). It
  // replaces Asio's getaddrinfo resolver: one cache, no helper thread, and the hosts file is
  // still honoured (ares_getaddrinfo reads it first).
  std::unique_ptr<routing::DnsClient> dns;
  try {
    routing::DnsConfig dcfg;
    dcfg.servers = cfg.dns_servers;
    dcfg.min_ttl = std::chrono::seconds(cfg.dns_cache_min_ttl_s);
    dcfg.max_ttl = std::chrono::seconds(cfg.dns_cache_max_ttl_s);
    dcfg.negative_ttl = std::chrono::seconds(cfg.dns_negative_ttl_s);
    dns = std::make_unique<routing::DnsClient>(io, std::move(dcfg));
  } catch (const routing::DnsError& e) {
    std::fprintf(stderr, "sipws: config key 'dns_servers': %s\n", e.what());
    return 2;
  }
  // Located servers are reached over the transports sipws listens on among UDP, TCP and TLS,
  // and over WS/WSS, which the WebSocket client (ws::Connector below) dials: NAPTR SIP+D2W /
  // SIPS+D2W and SRV _sip._ws / _sips._ws are used (RFC 7118 s.7).
  routing::LocatorConfig lcfg;
  lcfg.transports.clear();
  for (Protocol p : {Protocol::Udp, Protocol::Tcp, Protocol::Tls}) {
    for (const auto& l : cfg.listen) {
      if (l.protocol == p) {
        lcfg.transports.push_back(p);
        break;
      }
    }
  }
  lcfg.transports.push_back(Protocol::Ws);
  lcfg.transports.push_back(Protocol::Wss);
  routing::SipLocator resolver(*dns, lcfg);
  proxy::ProxyCore core(timers, domains, view, resolver, proxy::ProxyConfig{cfg.user_agent});
  sip::txn::TransactionLayer txns(
      timers, sender, core,
      sip::txn::TimerConfig{Millis(cfg.timer_t1_ms), Millis(cfg.timer_t2_ms),
                            Millis(cfg.timer_t4_ms)});
  core.attach(txns, sender);
  Dispatcher dispatcher(txns, cfg.trace);
  transport.set_handler(&dispatcher);

  // Location service, restored from the store before any traffic.
  registrar::LocationService location(timers, &astore);
  location.load(astore.sync());
  transport.flows().on_close([&location](FlowId id, Protocol) { location.on_flow_closed(id); });

  // RFC 7118 s.7 handshake auth: the cookie key, the authenticator the WS listeners ask, and
  // flow-identity first in the chain (a flow speaks only as the identity it proved).
  std::unique_ptr<auth::HandshakeAuthenticator> handshake_auth;
  if (cfg.ws_auth != WsAuthMode::Off) {
    std::string secret = cfg.ws_auth_secret;
    if (secret.empty()) {
      const std::string path = ws_auth_key_path(cfg.store);
      try {
        secret = auth::load_or_create_secret(path);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "sipws: config key 'ws_auth_secret': no key given and %s\n", e.what());
        return 2;
      }
      spdlog::info("ws_auth: session cookie key {}", path);
    }
    auth::HandshakeAuthConfig hcfg;
    hcfg.mode = handshake_mode(cfg.ws_auth);
    hcfg.realm = cfg.domain;
    hcfg.session_lifetime_s = cfg.ws_session_lifetime_s;
    hcfg.nonce_lifetime_s = cfg.nonce_lifetime_s;
    handshake_auth =
        std::make_unique<auth::HandshakeAuthenticator>(hcfg, std::move(secret), astore, timers);
    core.add_request_processor(std::make_unique<auth::FlowIdentityProcessor>(
        [&transport](FlowId id) { return transport.flows().identity(id); }));
  }
  if (cfg.auth == AuthMode::Digest) {
    core.add_request_processor(std::make_unique<auth::DigestAuthProcessor>(
        domains, astore, timers, auth::DigestAuthConfig{cfg.nonce_lifetime_s, false}));
  }
  registrar::RegistrarConfig rcfg;
  rcfg.min_expires = cfg.registrar_min_expires;
  rcfg.max_expires = cfg.registrar_max_expires;
  rcfg.default_expires = cfg.registrar_default_expires;
  core.add_request_processor(
      std::make_unique<registrar::RegistrarProcessor>(domains, location, rcfg));
  core.add_request_processor(std::make_unique<registrar::LocationLookupProcessor>(
      domains, location, [&astore](const std::string& aor, std::function<void(bool)> done) {
        // Known subscriber => 480 rather than 404 when it has no binding; asked on the store's
        // worker thread, answered on the io thread.
        auto at = aor.find('@');
        if (at == std::string::npos) return done(false);
        astore.find_subscriber(
            aor.substr(0, at), aor.substr(at + 1),
            [done = std::move(done)](std::optional<store::Subscriber> s) { done(s.has_value()); });
      }));

  // Listeners.
  std::shared_ptr<asio::ssl::context> tls;
  auto need_tls = [&]() {
    if (tls) return;
    std::string cert = cfg.tls_cert, key = cfg.tls_key;
    if (cert.empty()) {
      auto dev = transport::ensure_dev_certificate(cfg.dev_cert_dir);
      cert = dev.cert_path;
      key = dev.key_path;
      spdlog::info("using development certificate {}", cert);
    }
    tls = transport::make_server_tls_context(cert, key);
  };
  std::vector<std::unique_ptr<ws::Listener>> ws_listeners;
  transport::ConnectionLimits ws_limits;
  ws_limits.max_total = cfg.ws_max_connections;
  ws_limits.max_per_ip = cfg.ws_max_connections_per_ip;
  ws_limits.exempt = limit_exempt;
  auto ws_limiter = std::make_shared<transport::ConnectionLimiter>(ws_limits);
  const std::string www = find_www_root(cfg.www_root);
  try {
    for (const auto& spec : cfg.listen) {
      Endpoint ep{asio::ip::make_address(spec.host), spec.port};
      switch (spec.protocol) {
        case Protocol::Udp:
          transport.listen_udp(ep);
          break;
        case Protocol::Tcp:
          transport.listen_tcp(ep);
          break;
        case Protocol::Tls:
          need_tls();
          transport.listen_tls(ep, tls);
          break;
        case Protocol::Ws:
        case Protocol::Wss: {
          ws::ListenerConfig wc;
          wc.listen = ep;
          if (spec.protocol == Protocol::Wss) {
            need_tls();
            wc.tls = tls;
          }
          wc.www_root = www;
          wc.max_message_size = cfg.max_message_size;
          wc.ping_interval = Millis(std::uint64_t{cfg.ws_ping_interval_s} * 1000);
          wc.pong_timeout = Millis(std::uint64_t{cfg.ws_pong_timeout_s} * 1000);
          wc.allowed_origins = cfg.ws_allowed_origins;
          wc.allow_no_origin = cfg.ws_allow_no_origin;
          wc.limiter = ws_limiter;
          wc.handshake_timeout = Millis(cfg.ws_handshake_timeout_ms);
          wc.first_message_timeout = Millis(cfg.ws_first_message_timeout_ms);
          wc.max_message_rate = cfg.ws_max_message_rate;
          if (handshake_auth) attach_handshake_auth(wc, *handshake_auth);
          auto l = std::make_unique<ws::Listener>(
              io, transport.flows(),
              [&transport](std::shared_ptr<const std::string> bytes, const Source& src) {
                transport.deliver(std::move(bytes), src);
              },
              wc);
          l->start();
          ListenPoint lp;
          lp.protocol = spec.protocol;
          lp.local = l->local_endpoint();
          lp.advertised = lp.local.address.is_unspecified()
                              ? (lp.local.address.is_v6() ? "[::1]" : "127.0.0.1")
                              : lp.local.host_string();
          transport.add_listen_point(lp);
          ws_listeners.push_back(std::move(l));
          break;
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sipws: config key 'listen': %s\n", e.what());
    return 2;
  }
  // The WebSocket client (RFC 7118 client role): the transport selector hands it WS/WSS
  // destinations without a flow; configured peers (ws_peers) are kept connected.
  ws::ConnectorConfig ccfg;
  try {
    ccfg.tls = ws::make_wss_client_context(cfg.ws_client_verify, cfg.ws_client_ca_file);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sipws: config key 'ws_client_ca_file': %s\n", e.what());
    return 2;
  }
  if (!cfg.ws_client_verify) {
    spdlog::warn("ws_client_verify=false: WSS server certificates are not checked");
  }
  ccfg.resource = cfg.ws_client_resource;
  ccfg.max_message_size = cfg.max_message_size;
  ccfg.ping_interval = Millis(std::uint64_t{cfg.ws_ping_interval_s} * 1000);
  ccfg.pong_timeout = Millis(std::uint64_t{cfg.ws_pong_timeout_s} * 1000);
  ccfg.user_agent = cfg.user_agent;
  ccfg.resolve = [&resolver](const std::string& host,
                             std::function<void(std::optional<IpAddress>)> done) {
    resolver.resolve(host, std::move(done));
  };
  // Requests queued on a connection that could not be opened fail now (503 / DNS failover)
  // rather than at Timer B/F.
  ccfg.on_connect_failed = [&txns](Protocol p, const Endpoint& ep) {
    txns.transport_failed(p, ep);
  };
  ws::Connector connector(
      io, transport.flows(),
      [&transport](std::shared_ptr<const std::string> bytes, const Source& src) {
        transport.deliver(std::move(bytes), src);
      },
      ccfg);
  for (const auto& url : cfg.ws_peers) {
    if (auto u = ws::parse_ws_url(url)) connector.add_peer(*u);
  }
  transport.set_websocket_dialer(&connector);

  for (const auto& lp : transport.listen_points()) {
    domains.add_alias(lp.advertised);
    domains.add_alias(lp.local.address.to_string());
    domains.add_port(lp.local.port);
  }
  domains.add_alias("localhost");

  // Media bridge: anchors calls between WebRTC and plain RTP ends (media_anchor).
  std::unique_ptr<bridge::MediaAnchor> anchor;
  if (cfg.media_anchor != MediaAnchor::Never) {
    try {
      anchor = make_media_anchor(cfg, io, transport, txns);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sipws: config key 'media_address': %s\n", e.what());
      return 2;
    }
    core.set_forward_hook(anchor.get());
  }

  // Admin HTTP endpoint (admin_listen).
  transport::FlowTable admin_flows;
  std::unique_ptr<ws::Listener> admin;
  try {
    admin = start_admin_endpoint(cfg, io, admin_flows, anchor.get());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sipws: config key 'admin_listen': %s\n", e.what());
    return 2;
  }

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: shutting down", sig);
    if (anchor) anchor->close_all();
    connector.stop();
    for (auto& l : ws_listeners) l->stop();
    if (admin) admin->stop();
    transport.shutdown();
    io.stop();
  });

  std::string points;
  for (const auto& lp : transport.listen_points()) {
    if (!points.empty()) points += ' ';
    points += std::string(lower_name(lp.protocol)) + ":" + lp.local.to_string();
  }
  std::fprintf(stderr, "sipws ready: %s domain=%s www=%s\n", points.c_str(), cfg.domain.c_str(),
               www.empty() ? "(none)" : www.c_str());
  std::fflush(stderr);
  if (cfg.demo_users) {
    // Embedded default: demo users on an empty store, printed next to the ready line. The
    // io thread does not run yet, so the store can still be used synchronously.
    try {
      auto line =
          ensure_demo_users(astore.sync(), cfg.domain, demo_page_url(transport.listen_points()));
      if (!line.empty()) std::fprintf(stderr, "%s\n", line.c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sipws: cannot create the demo users: %s\n", e.what());
    }
    std::fflush(stderr);
  }
  connector.start();
  io.run();
  transport.set_websocket_dialer(nullptr);
  core.set_forward_hook(nullptr);
  anchor.reset();
  astore.flush();
  std::string counts;
  for (const auto& [name, value] : counters().snapshot()) {
    counts += ' ' + name + '=' + std::to_string(value);
  }
  spdlog::info("counters:{}", counts);
  spdlog::info("sipws stopped");
  return 0;
}

}  // namespace sipws::app
