#include "app/daemon.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <filesystem>

#include "app/demo_users.hpp"
#include "auth/auth_guard.hpp"
#include "auth/digest_auth.hpp"
#include "auth/flood_guard.hpp"
#include "auth/flow_identity.hpp"
#include "auth/handshake_auth.hpp"
#include "auth/relay_policy.hpp"
#include "auth/session_cookie.hpp"
#include "bridge/anchor.hpp"
#include "common/counters.hpp"
#include "common/random.hpp"
#include "proxy/proxy_core.hpp"
#include "proxy/routing.hpp"
#include "registrar/location.hpp"
#include "registrar/lookup.hpp"
#include "registrar/registrar.hpp"
#include "routing/alias.hpp"
#include "routing/call_class.hpp"
#include "routing/call_forward.hpp"
#include "routing/dns.hpp"
#include "routing/forward_on_failure.hpp"
#include "routing/gateway_prober.hpp"
#include "routing/gateway_route.hpp"
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

/// The source guards in front of the transaction layer: brute-force bans (auth_*) for every
/// transport, flood control (flood_*) for UDP/TCP/TLS (a WebSocket flow has its own message
/// rate limit). Replaced as a whole on SIGHUP when their keys change.
struct SourceGuards {
  std::unique_ptr<auth::AuthGuard> bans;
  bool ban_drop = false;
  std::unique_ptr<auth::FloodGuard> flood;
  bool flood_drop = false;
  std::uint32_t flood_block_s = 30;
};

std::unique_ptr<SourceGuards> make_guards(const Config& cfg, TimerService& timers,
                                          const auth::TrustedPeers& peers) {
  auto g = std::make_unique<SourceGuards>();
  auth::AuthGuardConfig ac;
  ac.max_failures = cfg.auth_max_failures;
  ac.max_user_failures = cfg.auth_max_user_failures;
  ac.window = Millis(std::uint64_t{cfg.auth_failure_window_s} * 1000);
  ac.ban_time = Millis(std::uint64_t{cfg.auth_ban_time_s} * 1000);
  g->bans = std::make_unique<auth::AuthGuard>(timers, ac);
  g->ban_drop = cfg.auth_ban_drop;
  auth::FloodGuardConfig fc;
  fc.max_requests = cfg.flood_max_requests;
  fc.window = Millis(std::uint64_t{cfg.flood_window_s} * 1000);
  fc.block_time = Millis(std::uint64_t{cfg.flood_block_time_s} * 1000);
  for (const auto& n : cfg.flood_exempt) {
    if (auto net = IpNetwork::parse(n)) fc.exempt.push_back(*net);
  }
  for (const auto& p : peers.peers()) fc.exempt.push_back(p.source);  // trunks, gateways
  g->flood = std::make_unique<auth::FloodGuard>(timers, fc);
  g->flood_drop = cfg.flood_drop;
  g->flood_block_s = cfg.flood_block_time_s;
  return g;
}

/// Feeds the transaction layer with what the transports parsed, after the source guards: a
/// banned or flooding source gets a stateless 403 / 503 (or nothing, with the drop actions)
/// and never reaches a transaction.
class Dispatcher final : public transport::MessageHandler {
 public:
  Dispatcher(sip::txn::TransactionLayer& txns, sip::txn::Sender& sender,
             const std::unique_ptr<SourceGuards>& guards, bool trace)
      : txns_(txns), sender_(sender), guards_(guards), trace_(trace) {}
  void on_message(const sip::Message& msg, const Source& src) override {
    if (trace_) {
      spdlog::info("RECV {} {} flow={} {} bytes\n{}", via_token(src.protocol), src.peer.to_string(),
                   src.flow, msg.raw().size(), msg.raw());
    }
    if (msg.is_request() && guards_ && !admit(msg, src)) return;
    txns_.receive(msg, src);
  }

 private:
  bool admit(const sip::Message& msg, const Source& src) {
    SourceGuards& g = *guards_;
    if (!is_websocket(src.protocol)) {
      const auto fc = g.flood->check(src.peer.address);
      if (fc.started_block) {
        spdlog::warn("flood: {} sent too many requests; {} for {} s", src.peer.address.to_string(),
                     g.flood_drop ? "dropping them" : "answering 503", g.flood_block_s);
      }
      if (fc.verdict == auth::FloodVerdict::Block) {
        if (!g.flood_drop) {
          refuse(msg, src, 503, "Service Unavailable",
                 {"Retry-After", std::to_string(g.flood_block_s)});
        }
        return false;
      }
    }
    if (g.bans->ip_banned(src.peer.address)) {
      Counter& banned = SIPWS_COUNTER("auth_banned_requests");
      banned.inc();
      if (!g.ban_drop) refuse(msg, src, 403, "Forbidden", {});
      return false;
    }
    return true;
  }

  /// A stateless response (RFC 3261 s.8.2.6) to where the request came from; none to ACK.
  void refuse(const sip::Message& req, const Source& src, int status, std::string_view reason,
              std::pair<std::string, std::string> header) {
    if (req.method() == sip::Method::Ack) return;
    sip::Message rsp = sip::make_response(req, status, reason);
    if (!header.first.empty()) rsp.append(header.first, header.second);
    sender_.send(Destination{src.protocol, src.peer, src.flow, {}}, rsp.serialize_shared());
  }

  sip::txn::TransactionLayer& txns_;
  sip::txn::Sender& sender_;
  const std::unique_ptr<SourceGuards>& guards_;
  bool trace_;
};

/// The transaction user of the daemon: the proxy core, plus the client transactions sipws
/// starts on its own (gateway OPTIONS probes), whose answers go to a callback instead.
class DaemonTu final : public sip::txn::TransactionUser {
 public:
  explicit DaemonTu(proxy::ProxyCore& core) : core_(core) {}
  /// Routes the final answer of client transaction `id` to `done` (status; 0 = no answer).
  void expect(sip::txn::ClientTxnId id, std::function<void(int)> done) {
    own_[id] = std::move(done);
  }
  void on_request(sip::txn::ServerTxnId id, const sip::Message& r, const Source& s) override {
    core_.on_request(id, r, s);
  }
  void on_ack(const sip::Message& a, const Source& s) override { core_.on_ack(a, s); }
  void on_cancel(sip::txn::ServerTxnId id, const sip::Message& c) override {
    core_.on_cancel(id, c);
  }
  void on_response(sip::txn::ClientTxnId id, const sip::Message& r) override {
    auto it = own_.find(id);
    if (it == own_.end()) return core_.on_response(id, r);
    if (r.status() < 200) return;
    auto done = std::move(it->second);
    own_.erase(it);
    done(r.status());
  }
  void on_client_failure(sip::txn::ClientTxnId id, bool transport_error) override {
    auto it = own_.find(id);
    if (it == own_.end()) return core_.on_client_failure(id, transport_error);
    auto done = std::move(it->second);
    own_.erase(it);
    done(0);
  }
  void on_stray_response(const sip::Message& r, const Source& s) override {
    core_.on_stray_response(r, s);
  }
  void on_server_terminated(sip::txn::ServerTxnId id) override { core_.on_server_terminated(id); }

 private:
  proxy::ProxyCore& core_;
  std::unordered_map<sip::txn::ClientTxnId, std::function<void(int)>> own_;
};

/// Sends a request sipws originates (`text` without a Via; one is added for the listen point
/// of `dest`'s transport) through the transaction layer. Returns its client transaction, or
/// 0 when it cannot be built or sipws has no listener for that transport.
sip::txn::ClientTxnId originate(transport::TransportLayer& transport,
                                sip::txn::TransactionLayer& txns, const std::string& text,
                                const Destination& dest) {
  const ListenPoint* out = nullptr;
  for (const auto& lp : transport.listen_points()) {
    if (lp.protocol == dest.protocol) {
      out = &lp;
      break;
    }
  }
  const auto eol = text.find("\r\n");
  if (out == nullptr || eol == std::string::npos) return 0;
  // The parser wants a top Via: it goes right after the request line.
  std::string with_via = text.substr(0, eol + 2) +
                         "Via: " + proxy::make_via(*out, "z9hG4bK-swo" + random_token(12)) +
                         "\r\n" + text.substr(eol + 2);
  auto msg = sip::parse(std::make_shared<const std::string>(std::move(with_via)));
  if (!msg) {
    spdlog::warn("cannot build a request of our own: {}", msg.error().reason);
    return 0;
  }
  return txns.send_request(*msg, dest);
}

/// The relay policy snapshot of `cfg`.
std::shared_ptr<auth::RelayPolicyConfig> make_relay_policy(const Config& cfg) {
  auto p = std::make_shared<auth::RelayPolicyConfig>();
  p->foreign_callers = cfg.foreign_callers;
  p->trusted_peers = auth::TrustedPeers(cfg.trusted_peers);
  p->open = cfg.auth == AuthMode::Off;
  return p;
}

/// The dial plan snapshot of `cfg` (validated by load_config already).
std::shared_ptr<routing::DialPlan> make_dial_plan(const Config& cfg) {
  auto p = std::make_shared<routing::DialPlan>();
  p->classes = routing::CallClasses(cfg.call_classes);
  p->gateways = routing::GatewayTable(cfg.gateways, cfg.routes);
  p->voicemail = cfg.voicemail;
  p->gateway_timeout = Millis(std::uint64_t{cfg.gateway_timeout_s} * 1000);
  p->ring_timeout = Millis(std::uint64_t{cfg.forward_ring_timeout_s} * 1000);
  return p;
}

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

/// Where a generated key (`name`: ws_auth.key, route.key) lives: beside an SQLite store, else
/// in ./var/.
std::string key_path(const std::string& store, const std::string& name) {
  namespace fs = std::filesystem;
  const std::string prefix = "sqlite:";
  if (store.rfind(prefix, 0) == 0) {
    std::string path = store.substr(prefix.size());
    if (path.rfind("//", 0) == 0) path.erase(0, 2);
    if (!path.empty() && path != ":memory:") {
      return (fs::path(path).parent_path() / name).string();
    }
  }
  return "./var/" + name;
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
  auto send = [&transport, &txns](const std::string& text, const Destination& dest) {
    originate(transport, txns, text, dest);
  };
  return std::make_unique<bridge::MediaAnchor>(io, bc,
                                               cfg.media_anchor == MediaAnchor::Always
                                                   ? bridge::AnchorMode::Always
                                                   : bridge::AnchorMode::Auto,
                                               send);
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

int run_daemon(const Config& cfg, std::function<Config()> reload) {
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
  for (const auto& d : cfg.domains) domains.add_domain(d);
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
  // Record-Route signatures: a key kept beside the store, so dialogs survive a restart.
  proxy::ProxyConfig pcfg;
  pcfg.user_agent = cfg.user_agent;
  pcfg.strict_dialogs = cfg.auth == AuthMode::Digest;
  try {
    pcfg.route_secret = auth::load_or_create_secret(key_path(cfg.store, "route.key"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sipws: config key 'store': cannot keep the route key beside it: %s\n",
                 e.what());
    return 2;
  }
  if (cfg.auth == AuthMode::Off) {
    spdlog::warn("auth=off: sipws relays for anyone (open relay); use it in a lab only");
  }
  proxy::ProxyCore core(timers, domains, view, resolver, pcfg);
  DaemonTu tu(core);
  sip::txn::TransactionLayer txns(
      timers, sender, tu,
      sip::txn::TimerConfig{Millis(cfg.timer_t1_ms), Millis(cfg.timer_t2_ms),
                            Millis(cfg.timer_t4_ms)});
  core.attach(txns, sender);
  Reloadable<auth::RelayPolicyConfig> relay_policy(make_relay_policy(cfg));
  Reloadable<routing::DialPlan> dial_plan(make_dial_plan(cfg));
  std::unique_ptr<SourceGuards> guards =
      make_guards(cfg, timers, relay_policy.get()->trusted_peers);
  Dispatcher dispatcher(txns, sender, guards, cfg.trace);
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
      const std::string path = key_path(cfg.store, "ws_auth.key");
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
  core.add_request_processor(std::make_unique<auth::RelayPolicyProcessor>(domains, relay_policy));
  auth::DigestAuthProcessor* digest = nullptr;
  if (cfg.auth == AuthMode::Digest) {
    auto d = std::make_unique<auth::DigestAuthProcessor>(
        domains, astore, timers, auth::DigestAuthConfig{cfg.nonce_lifetime_s, false});
    digest = d.get();
    digest->set_guard(guards->bans.get());
    core.add_request_processor(std::move(d));
  }
  registrar::RegistrarConfig rcfg;
  rcfg.min_expires = cfg.registrar_min_expires;
  rcfg.max_expires = cfg.registrar_max_expires;
  rcfg.default_expires = cfg.registrar_default_expires;
  core.add_request_processor(
      std::make_unique<registrar::RegistrarProcessor>(domains, location, rcfg));
  // Routing services: aliases, forwarding, call classes, PSTN gateways (LCR); a forward on
  // busy / no answer runs them again from "alias" for the new target.
  auto has_bindings = [&location](const std::string& aor) { return !location.lookup(aor).empty(); };
  routing::Mt19937Random lcr_random;
  core.add_request_processor(
      std::make_unique<routing::AliasProcessor>(domains, astore, has_bindings));
  core.add_request_processor(
      std::make_unique<routing::CallForwardProcessor>(domains, astore, dial_plan));
  core.add_request_processor(std::make_unique<routing::CallClassProcessor>(astore, dial_plan));
  core.add_request_processor(std::make_unique<routing::GatewayRouteProcessor>(
      domains, dial_plan, has_bindings, lcr_random));
  core.add_failure_processor(std::make_unique<routing::ForwardOnFailure>());
  core.set_rerun_from("alias");
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

  // Gateway OPTIONS probing (gateways[].probe_interval), remade with the dial plan on reload.
  auto send_probe = [&](const routing::Gateway& gw, std::function<void(int)> done) {
    auto uri = sip::parse_uri(gw.uri);
    if (!uri) return done(0);
    const std::string text =
        "OPTIONS " + gw.uri + " SIP/2.0\r\nMax-Forwards: 70\r\nFrom: <sip:sipws@" + cfg.domain +
        ">;tag=" + random_token(10) + "\r\nTo: <" + gw.uri + ">\r\nCall-ID: " + random_token(20) +
        "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    resolver.locate(*uri, false,
                    [&transport, &txns, &tu, text,
                     done = std::move(done)](std::vector<Destination> ds) mutable {
                      const auto id = ds.empty() ? 0 : originate(transport, txns, text, ds.front());
                      if (id == 0) return done(0);
                      tu.expect(id, std::move(done));
                    });
  };
  auto prober =
      std::make_unique<routing::GatewayProber>(timers, dial_plan.get()->gateways, send_probe);
  prober->start();

  // SIGHUP: the routing and security keys are read again; a bad file keeps the old
  // configuration. Calls in progress keep the snapshot they started with.
  Config current = cfg;
  asio::signal_set hup(io, SIGHUP);
  std::function<void()> wait_hup = [&]() {
    hup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      wait_hup();
      if (!reload) {
        spdlog::warn("SIGHUP: no configuration file to reload");
        return;
      }
      Config next;
      try {
        next = reload();
      } catch (const std::exception& e) {
        spdlog::error("SIGHUP: configuration not reloaded, keeping the old one: {}", e.what());
        return;
      }
      const nlohmann::json before = to_json(current), after = to_json(next);
      static const char* kReloadable[] = {"trusted_peers",
                                          "gateways",
                                          "routes",
                                          "call_classes",
                                          "voicemail",
                                          "foreign_callers",
                                          "gateway_timeout",
                                          "forward_ring_timeout",
                                          "auth_max_failures",
                                          "auth_max_user_failures",
                                          "auth_failure_window",
                                          "auth_ban_time",
                                          "auth_ban_action",
                                          "flood_max_requests",
                                          "flood_window",
                                          "flood_block_time",
                                          "flood_action",
                                          "flood_exempt"};
      for (const auto& [key, value] : after.items()) {
        const bool reloadable =
            std::find_if(std::begin(kReloadable), std::end(kReloadable),
                         [&](const char* k) { return key == k; }) != std::end(kReloadable);
        if (!reloadable && before.at(key) != value) {
          spdlog::warn("SIGHUP: key '{}' changed; it takes effect after a restart", key);
        }
      }
      relay_policy.set(make_relay_policy(next));
      prober->stop();
      dial_plan.set(make_dial_plan(next));
      prober =
          std::make_unique<routing::GatewayProber>(timers, dial_plan.get()->gateways, send_probe);
      prober->start();
      bool guards_changed = false;
      for (const char* k : kReloadable) {
        if (std::string_view(k).starts_with("auth_") || std::string_view(k).starts_with("flood_") ||
            std::string_view(k) == "trusted_peers") {
          guards_changed = guards_changed || before.at(k) != after.at(k);
        }
      }
      if (guards_changed) {
        guards = make_guards(next, timers, relay_policy.get()->trusted_peers);
        if (digest != nullptr) digest->set_guard(guards->bans.get());
        spdlog::info("SIGHUP: ban and flood settings replaced (current bans lifted)");
      }
      current = std::move(next);
      spdlog::info("SIGHUP: configuration reloaded");
    });
  };
  wait_hup();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: shutting down", sig);
    prober->stop();
    hup.cancel();
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
  // From here the store is the worker's alone: it looks for changes by the CLI (or another
  // node) every second, which empties the credential cache.
  astore.poll_every(std::chrono::seconds(1));
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
