#include "app/daemon.hpp"

#include <openssl/rand.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "app/admin_api.hpp"
#include "app/call_records.hpp"
#include "app/demo_users.hpp"
#include "app/logging.hpp"
#include "app/service_notify.hpp"
#include "app/web_roots.hpp"
#include "auth/auth_guard.hpp"
#include "auth/digest_auth.hpp"
#include "auth/flood_guard.hpp"
#include "auth/flow_identity.hpp"
#include "auth/handshake_auth.hpp"
#include "auth/nonce.hpp"
#include "auth/relay_policy.hpp"
#include "auth/session_cookie.hpp"
#include "bridge/anchor.hpp"
#include "common/counters.hpp"
#include "common/crypto.hpp"
#include "common/log.hpp"
#include "common/memory.hpp"
#include "common/random.hpp"
#include "proxy/call_tracker.hpp"
#include "proxy/drain.hpp"
#include "proxy/proxy_core.hpp"
#include "proxy/routing.hpp"
#include "proxy/topology_hiding.hpp"
#include "proxy/uac.hpp"
#include "registrar/cluster.hpp"
#include "registrar/location.hpp"
#include "registrar/lookup.hpp"
#include "registrar/nat_keepalive.hpp"
#include "registrar/registrar.hpp"
#include "registrar/trunk.hpp"
#include "registrar/upstream.hpp"
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
#include "sip/uri.hpp"
#include "store/store.hpp"
#include "transport/asio_timer.hpp"
#include "transport/connection_limiter.hpp"
#include "transport/flow_directory.hpp"
#include "transport/tls.hpp"
#include "transport/trace_ring.hpp"
#include "transport/transport_layer.hpp"
#include "ws/client.hpp"
#include "ws/listener.hpp"

namespace sipws::app {
namespace {

namespace asio = boost::asio;

/// proxy::NetworkView over one shard's transport layer: its own flows from its FlowTable, the
/// other shards' flows from the FlowDirectory (null with one shard).
class TransportView final : public proxy::NetworkView {
 public:
  TransportView(transport::TransportLayer& t, const transport::FlowDirectory* directory)
      : t_(t), directory_(directory) {}
  const std::vector<ListenPoint>& listen_points() const override { return t_.listen_points(); }
  bool flow_alive(FlowId id) const override {
    return t_.flows().find(id) != nullptr || remote(id).has_value();
  }
  std::optional<Endpoint> flow_peer(FlowId id) const override {
    if (auto f = t_.flows().find(id)) return f->peer();
    if (auto e = remote(id)) return e->peer;
    return std::nullopt;
  }
  std::optional<Protocol> flow_protocol(FlowId id) const override {
    if (auto f = t_.flows().find(id)) return f->protocol();
    if (auto e = remote(id)) return e->protocol;
    return std::nullopt;
  }
  std::optional<IpAddress> source_address_for(const IpAddress& peer) const override {
    return t_.source_address_for(peer);
  }
  /// The identity proven on flow `id` (RFC 7118 s.7 handshake auth), "" if none.
  std::string identity(FlowId id) const {
    if (flow_shard(id) == t_.flows().shard()) return t_.flows().identity(id);
    auto e = remote(id);
    return e ? e->identity : std::string();
  }

 private:
  std::optional<transport::FlowDirectory::Entry> remote(FlowId id) const {
    if (directory_ == nullptr || flow_shard(id) == t_.flows().shard()) {
      return std::nullopt;
    }
    return directory_->find(id);
  }
  transport::TransportLayer& t_;
  const transport::FlowDirectory* directory_;
};

/// How one shard reaches the others (docs/architecture.md "Threads"): every call posts to the
/// other shard's io_context, nothing is shared per message.
struct ShardLinks {
  unsigned self = 0;
  unsigned count = 1;
  /// Runs `msg` from `src` through shard `k`'s transaction layer, on its thread.
  std::function<void(unsigned k, const sip::Message& msg, const Source& src)> receive_on;
  /// Sends `bytes` to `dest` from shard `k`'s transport layer, on its thread; a send that
  /// fails there fails this shard's client transactions to that destination.
  std::function<void(unsigned k, const Destination& dest, std::shared_ptr<const std::string> bytes)>
      send_on;
};

/// Records message `bytes` sent to `dest` in `ring` (the SIP trace, trace_pcap), with the local
/// address it leaves from: `dest.local`, or for a connection the flow's own (`transport` is the
/// shard's that owns the flow). Runs on that shard's thread.
void trace_sent(transport::TraceRing& ring, transport::TransportLayer& transport,
                const Destination& dest, std::string_view bytes) {
  if (!ring.active()) return;
  Endpoint local = dest.local;
  if (local.port == 0 && dest.flow != kNoFlow) {
    if (auto flow = transport.flows().find(dest.flow)) local = flow->local();
  }
  ring.record(true, dest.protocol, local, dest.endpoint, bytes);
}

/// The sender of one shard: logs every message sent when --trace is on, then hands it to the
/// transport of the shard that owns its flow (the FlowId names it); WebSocket destinations
/// without a flow go to shard 0, which dials and keeps the WebSocket client connections.
class ShardSender final : public sip::txn::Sender {
 public:
  ShardSender(transport::TransportLayer& local, bool trace, transport::TraceRing& ring,
              const ShardLinks& links, const transport::FlowDirectory* directory)
      : local_(local), trace_(trace), ring_(ring), links_(links), directory_(directory) {}
  bool send(const Destination& dest, std::shared_ptr<const std::string> bytes) override {
    if (trace_) {
      log::messages().info("SEND {} {} flow={} {} bytes\n{}", via_token(dest.protocol),
                           dest.endpoint.to_string(), dest.flow, bytes->size(), *bytes);
    }
    if (links_.count > 1) {
      unsigned owner = links_.self;
      if (dest.flow != kNoFlow) {
        owner = flow_shard(dest.flow);
      } else if (is_websocket(dest.protocol)) {
        owner = 0;
      }
      if (owner != links_.self) {
        if (owner >= links_.count) return false;
        if (dest.flow != kNoFlow && (directory_ == nullptr || !directory_->find(dest.flow))) {
          return false;  // closed already: the caller fails over now (430 / 503)
        }
        handed_.inc();
        links_.send_on(owner, dest, std::move(bytes));  // traced by the owner
        return true;
      }
    }
    trace_sent(ring_, local_, dest, *bytes);
    return local_.send(dest, std::move(bytes));
  }

 private:
  transport::TransportLayer& local_;
  bool trace_;
  transport::TraceRing& ring_;
  const ShardLinks& links_;
  const transport::FlowDirectory* directory_;
  Counter& handed_ = SIPWS_COUNTER("shard_sends_handed_over");
};

/// The source guards in front of one shard's transaction layer: brute-force bans (auth_*) for
/// every transport, one guard for all the shards, and flood control (flood_*) for UDP/TCP/TLS,
/// counted per shard (a WebSocket flow has its own message rate limit). Replaced as a whole on
/// SIGHUP when their keys change.
struct SourceGuards {
  std::shared_ptr<auth::AuthGuard> bans;
  bool ban_drop = false;
  std::unique_ptr<auth::FloodGuard> flood;
  bool flood_drop = false;
  std::uint32_t flood_block_s = 30;
};

/// The brute-force guard of `cfg` (auth_* keys), shared by every shard.
std::shared_ptr<auth::AuthGuard> make_bans(const Config& cfg, TimerService& timers) {
  auth::AuthGuardConfig ac;
  ac.max_failures = cfg.auth_max_failures;
  ac.max_user_failures = cfg.auth_max_user_failures;
  ac.window = Millis(std::uint64_t{cfg.auth_failure_window_s} * 1000);
  ac.ban_time = Millis(std::uint64_t{cfg.auth_ban_time_s} * 1000);
  return std::make_shared<auth::AuthGuard>(timers, ac);
}

/// One shard's guards: the shared `bans`, and flood counts on the shard's `timers`.
std::unique_ptr<SourceGuards> make_guards(const Config& cfg, TimerService& timers,
                                          const auth::TrustedPeers& peers,
                                          std::shared_ptr<auth::AuthGuard> bans) {
  auto g = std::make_unique<SourceGuards>();
  g->bans = std::move(bans);
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
             const std::unique_ptr<SourceGuards>& guards, bool trace, transport::TraceRing& ring,
             const ShardLinks& links)
      : txns_(txns), sender_(sender), guards_(guards), trace_(trace), ring_(ring), links_(links) {}
  void on_message(const sip::Message& msg, const Source& src) override {
    if (trace_) {
      log::messages().info("RECV {} {} flow={} {} bytes\n{}", via_token(src.protocol),
                           src.peer.to_string(), src.flow, msg.raw().size(), msg.raw());
    }
    ring_.record(false, src.protocol, src.local, src.peer, msg.raw(), msg.call_id());
    if (msg.is_request() && guards_ && !admit(msg, src)) return;
    if (links_.count > 1) {
      // A response goes to the shard of its client transaction (named in our branch); an
      // in-dialog request to the shard that handled the dialog-creating one (named in our
      // Record-Route entry, so an anchored call's media session sees it).
      std::optional<unsigned> owner;
      if (msg.is_request()) {
        if (const auto* r = msg.find(sip::HeaderId::Route)) {
          if (auto na = sip::parse_name_addr(r->value)) owner = proxy::route_shard(na->uri);
        }
      } else {
        owner = proxy::branch_shard(msg.top_via().branch());
      }
      if (owner && *owner != links_.self && *owner < links_.count) {
        handed_.inc();
        links_.receive_on(*owner, msg, src);
        return;
      }
    }
    txns_.receive(msg, src);
  }

 private:
  bool admit(const sip::Message& msg, const Source& src) {
    SourceGuards& g = *guards_;
    if (!is_websocket(src.protocol)) {
      const auto fc = g.flood->check(src.peer.address);
      if (fc.started_block) {
        log::app().warn("flood: {} sent too many requests; {} for {} s",
                        src.peer.address.to_string(),
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
              const std::pair<std::string, std::string>& header) {
    if (req.method() == sip::Method::Ack) return;
    sip::Message rsp = sip::make_response(req, status, reason);
    if (!header.first.empty()) rsp.append(header.first, header.second);
    sender_.send(Destination{src.protocol, src.peer, src.flow, {}, src.local},
                 rsp.serialize_shared());
  }

  sip::txn::TransactionLayer& txns_;
  sip::txn::Sender& sender_;
  const std::unique_ptr<SourceGuards>& guards_;
  bool trace_;
  transport::TraceRing& ring_;
  const ShardLinks& links_;
  Counter& handed_ = SIPWS_COUNTER("shard_messages_handed_over");
};

/// The transaction user of the daemon: the proxy core, plus the client transactions of the
/// requests sipws originates (proxy::Uac: media-timeout BYEs, gateway OPTIONS probes), whose
/// responses and failures go to the Uac first. Thread: the shard's io thread.
class DaemonTu final : public sip::txn::TransactionUser {
 public:
  DaemonTu(proxy::ProxyCore& core, proxy::Uac& uac) : core_(core), uac_(uac) {}
  void on_request(sip::txn::ServerTxnId id, const sip::Message& r, const Source& s) override {
    core_.on_request(id, r, s);
  }
  void on_ack(const sip::Message& a, const Source& s) override { core_.on_ack(a, s); }
  void on_cancel(sip::txn::ServerTxnId id, const sip::Message& c) override {
    core_.on_cancel(id, c);
  }
  void on_response(sip::txn::ClientTxnId id, const sip::Message& r) override {
    if (!uac_.on_response(id, r)) core_.on_response(id, r);
  }
  void on_client_failure(sip::txn::ClientTxnId id, bool transport_error) override {
    if (!uac_.on_client_failure(id, transport_error)) core_.on_client_failure(id, transport_error);
  }
  void on_stray_response(const sip::Message& r, const Source& s) override {
    core_.on_stray_response(r, s);
  }
  void on_server_terminated(sip::txn::ServerTxnId id) override { core_.on_server_terminated(id); }

 private:
  proxy::ProxyCore& core_;
  proxy::Uac& uac_;
};

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

/// The topology-hiding rules of `cfg` (gateways and upstream domains with `topology_hiding`,
/// known by address), sealing under `secret` (route.key); null when none hides.
std::shared_ptr<const proxy::TopologyHiding> make_topology_hiding(const Config& cfg,
                                                                  const std::string& secret) {
  std::vector<IpAddress> peers;
  for (const auto& g : cfg.gateways) {
    if (!g.topology_hiding) continue;
    if (auto a = routing::gateway_address(g.uri)) peers.push_back(*a);  // checked at load
  }
  for (const auto& u : cfg.upstream_domains) {
    if (!u.topology_hiding) continue;
    if (auto dest = registrar::upstream_destination(u.upstream)) {
      peers.push_back(dest->endpoint.address);
    }
  }
  if (peers.empty()) return nullptr;
  return std::make_shared<const proxy::TopologyHiding>(secret, std::move(peers));
}

/// The per-peer adaptations of `cfg` (proxy::PeerRules): `strip_headers`, `max_message_size`
/// and `dtmf` of the gateways with an IP-literal `uri` and of the upstream domains.
std::shared_ptr<const proxy::PeerRules> make_peer_rules(const Config& cfg) {
  std::vector<std::pair<IpAddress, proxy::PeerRule>> rules;
  for (const auto& g : cfg.gateways) {
    if (g.strip_headers.empty() && g.max_message_size == 0 && !g.dtmf_info) continue;
    if (auto a = routing::gateway_address(g.uri)) {
      rules.emplace_back(*a, proxy::PeerRule{g.strip_headers, g.max_message_size, g.dtmf_info});
    }
  }
  for (const auto& u : cfg.upstream_domains) {
    if (u.strip_headers.empty() && u.max_message_size == 0 && !u.dtmf_info) continue;
    if (auto dest = registrar::upstream_destination(u.upstream)) {
      rules.emplace_back(dest->endpoint.address,
                         proxy::PeerRule{u.strip_headers, u.max_message_size, u.dtmf_info});
    }
  }
  if (rules.empty()) return nullptr;
  return std::make_shared<const proxy::PeerRules>(std::move(rules));
}

/// Where a generated key (`name`: ws_auth.key, route.key) lives: beside an SQLite store, else
/// in var/ of the state folder (resolve_path).
std::string key_path(const Config& cfg, const std::string& name) {
  namespace fs = std::filesystem;
  const std::string store = resolve_store(cfg);
  const std::string prefix = "sqlite:";
  if (store.rfind(prefix, 0) == 0) {
    std::string path = store.substr(prefix.size());
    if (path.rfind("//", 0) == 0) path.erase(0, 2);
    if (!path.empty() && path != ":memory:") {
      return (fs::path(path).parent_path() / name).string();
    }
  }
  return resolve_path(cfg, "./var/" + name);
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

/// The media bridge of shard `shard` (config keys media_*): its address is media_address, else
/// the first UDP listener's with an address, else a wildcard UDP listener's (each leg's SDP
/// then names the local address toward its end), else 127.0.0.1; its ports are the shard's share of
/// media_ports (the range cut in `cfg.threads` equal slices). Media-timeout BYEs are client
/// transactions of the shard's `uac`. @throws std::exception if the address or the DTLS certificate
/// is unusable.
std::unique_ptr<bridge::MediaAnchor> make_media_anchor(const Config& cfg, asio::io_context& io,
                                                       transport::TransportLayer& transport,
                                                       proxy::Uac& uac, unsigned shard) {
  bridge::BridgeConfig bc;
  std::string addr = cfg.media_address;
  if (addr.empty()) {
    // The first UDP listener with an address; else a wildcard one (media on every interface).
    std::string wildcard;
    for (const auto& lp : transport.listen_points()) {
      if (lp.protocol != Protocol::Udp) continue;
      if (!lp.local.address.is_unspecified()) {
        addr = lp.local.address.to_string();
        break;
      }
      if (wildcard.empty()) wildcard = lp.local.address.to_string();
    }
    if (addr.empty()) addr = wildcard;
  }
  if (addr.empty()) addr = "127.0.0.1";
  bc.address = asio::ip::make_address(addr);
  bc.local_toward = [&transport](const IpAddress& peer) {
    return transport.source_address_for(peer);
  };
  if (!cfg.media_advertise.empty()) bc.advertise = asio::ip::make_address(cfg.media_advertise);
  const unsigned span = (unsigned{cfg.media_port_max} - cfg.media_port_min + 1) / cfg.threads;
  bc.port_min = static_cast<std::uint16_t>(cfg.media_port_min + shard * span);
  bc.port_max = static_cast<std::uint16_t>(shard + 1 == cfg.threads ? cfg.media_port_max
                                                                    : bc.port_min + span - 1);
  bc.media_timeout = Millis(std::uint64_t{cfg.media_timeout_s} * 1000);
  auto send = [&uac](const proxy::OwnRequest& req, const Destination& dest) {
    uac.send(req, dest);
  };
  return std::make_unique<bridge::MediaAnchor>(io, bc,
                                               cfg.media_anchor == MediaAnchor::Always
                                                   ? bridge::AnchorMode::Always
                                                   : bridge::AnchorMode::Auto,
                                               send);
}

/// The admin HTTP endpoint on admin_listen: the admin API under /api/ (`api`), GET /metrics
/// (Prometheus text: every counter, trace_pcap's (`pcap`, may be null), and the anchored calls,
/// the resident memory and, in cluster mode (`cluster`, may be null), the nodes alive as
/// gauges), GET
/// /health (the process answers) and GET /ready (200, or 503 naming the cause while `store` is
/// unhealthy, AsyncStore::health(), or once `draining`), and the web admin's files under /admin/
/// (serve_admin_www, from admin_www_root). The one WebSocket it takes is the events socket
/// (`events`, /api/v1/events, subprotocol sipws-events); every other upgrade gets 404.
/// `anchors`: every shard's media bridge (empty with media_anchor=never); runs on shard 0
/// (`io` and its `timers`).
/// @throws std::system_error if it cannot bind.
std::unique_ptr<ws::Listener> start_admin_endpoint(
    const Config& cfg, asio::io_context& io, TimerService& timers, transport::FlowTable& flows,
    std::vector<const bridge::MediaAnchor*> anchors, const store::AsyncStore& store,
    const std::atomic<bool>& draining, std::function<std::size_t()> trunks_registered,
    AdminApi* api, AdminEvents* events, const transport::PcapWriter* pcap,
    const registrar::ClusterMembership* cluster) {
  ws::ListenerConfig ac;
  ac.listen = Endpoint{asio::ip::make_address(cfg.admin_host), cfg.admin_port};
  ac.subprotocol = "sipws-events";
  ac.handshake_auth = [events](const ws::HandshakeRequest& req) {
    if (events != nullptr) return events->check_upgrade(req);
    ws::HandshakeVerdict v;
    v.status = 404;
    return v;
  };
  std::string admin_www = find_web_root(cfg, cfg.admin_www_root, "admin", self_exe());
  log::app().info("web admin: {}", admin_www.empty() ? "(none)" : admin_www);
  ac.http_handler = [anchors = std::move(anchors), &store, &draining, pcap, cluster,
                     www = std::move(admin_www), trunks_registered = std::move(trunks_registered),
                     api](const ws::HttpRequest& r,
                          const std::function<void(ws::HttpResponse)>& reply) {
    if (api != nullptr && api->handle(r, reply)) return true;
    if (auto page = serve_admin_www(www, r)) {
      reply(std::move(*page));
      return true;
    }
    ws::HttpResponse rsp;
    rsp.headers.emplace_back("Content-Type", "text/plain; version=0.0.4");
    if (r.method != "GET") {
      rsp.status = 405;
    } else if (r.resource == "/health") {
      rsp.body = "ok\n";
    } else if (r.resource == "/ready") {
      // Ready to serve what needs the store: its last read, write or check succeeded; and not
      // shutting down.
      const auto health = store.health();
      if (draining.load(std::memory_order_relaxed)) {
        rsp.status = 503;
        rsp.body = "not ready: shutting down\n";
      } else if (health.ok) {
        rsp.body = "ready\n";
      } else {
        rsp.status = 503;
        rsp.body = "not ready: store: " + health.error + "\n";
      }
    } else if (r.resource == "/metrics") {
      for (const auto& [name, value] : counters().snapshot()) {
        rsp.body.append("# TYPE sipws_").append(name).append(" counter\nsipws_").append(name);
        rsp.body.append(" ").append(std::to_string(value)).append("\n");
      }
      std::size_t active = 0;
      for (const auto* a : anchors) active += a->active_sessions();
      rsp.body += "# TYPE sipws_media_sessions_active gauge\nsipws_media_sessions_active " +
                  std::to_string(active) + '\n';
      rsp.body += "# TYPE sipws_process_resident_bytes gauge\nsipws_process_resident_bytes " +
                  std::to_string(resident_bytes()) + '\n';
      rsp.body += "# TYPE sipws_trunks_registered gauge\nsipws_trunks_registered " +
                  std::to_string(trunks_registered()) + '\n';
      if (cluster != nullptr) {
        rsp.body += "# TYPE sipws_cluster_nodes_alive gauge\nsipws_cluster_nodes_alive " +
                    std::to_string(cluster->alive_count()) + '\n';
      }
      if (pcap != nullptr) {
        for (const auto& [name, value] :
             {std::pair{"written", pcap->written()}, std::pair{"dropped", pcap->dropped()},
              std::pair{"write_errors", pcap->write_errors()}}) {
          rsp.body.append("# TYPE sipws_trace_pcap_").append(name).append(" counter\n");
          rsp.body.append("sipws_trace_pcap_").append(name).append(" ");
          rsp.body.append(std::to_string(value)).append("\n");
        }
      }
    } else {
      rsp.status = 404;
    }
    reply(std::move(rsp));
    return true;
  };
  auto admin = std::make_unique<ws::Listener>(
      io, timers, flows,
      [events](const std::shared_ptr<const std::string>& bytes, const Source& src) {
        if (events != nullptr) events->on_message(*bytes, src);
      },
      ac);
  admin->start();
  return admin;
}

/// A start-up failure: the config key to name and what is wrong (run_daemon prints both and
/// returns 2).
struct StartError {
  std::string key;
  std::string what;
};

/// One shard (docs/architecture.md "Threads"): an io_context on its own thread with its own copy
/// of everything that handles a message. Members are declared in dependency order (and so are
/// destroyed in the reverse).
struct Shard {
  Shard(unsigned i, asio::io_context& io_in, const Config& cfg, transport::TransportLimits limits,
        const transport::FlowDirectory* directory, transport::PcapWriter* pcap)
      : index(i),
        io(io_in),
        timers(io),
        post([this](std::function<void()> fn) { asio::post(io, std::move(fn)); }),
        trace_ring(cfg.trace_messages / std::max(1u, cfg.threads), pcap),
        transport(io, std::move(limits), i),
        sender(transport, cfg.trace, trace_ring, links, directory),
        view(transport, directory) {
    links.self = i;
    links.count = cfg.threads;
  }
  /// The flow-close observers outlive the core (the transport is destroyed last, and may
  /// close flows as it goes): the upstream processor is forgotten first.
  ~Shard() { upstream = nullptr; }
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;
  unsigned index;
  asio::io_context& io;
  transport::AsioTimerService timers;
  store::AsyncStore::Post post;     ///< to this shard's thread (store answers come back here)
  transport::TraceRing trace_ring;  ///< its share of trace_messages
  ShardLinks links;
  transport::TransportLayer transport;
  ShardSender sender;
  TransportView view;
  std::unique_ptr<routing::DnsClient> dns;
  std::unique_ptr<routing::SipLocator> resolver;
  std::unique_ptr<Reloadable<auth::RelayPolicyConfig>> relay_policy;
  std::unique_ptr<Reloadable<routing::DialPlan>> dial_plan;
  std::unique_ptr<proxy::ProxyCore> core;
  std::unique_ptr<proxy::Uac> uac;            ///< requests sipws originates on this shard
  std::unique_ptr<proxy::CallTracker> calls;  ///< live calls, call records
  std::unique_ptr<DaemonTu> tu;
  std::unique_ptr<sip::txn::TransactionLayer> txns;
  std::unique_ptr<SourceGuards> guards;
  std::unique_ptr<Dispatcher> dispatcher;
  std::unique_ptr<auth::HandshakeAuthenticator> handshake_auth;
  auth::DigestAuthProcessor* digest = nullptr;
  registrar::UpstreamRegistrarProcessor* upstream = nullptr;  ///< with upstream domains only
  routing::Mt19937Random lcr_random;
  std::vector<std::unique_ptr<ws::Listener>> ws_listeners;
  std::unique_ptr<ws::Connector> connector;  ///< shard 0 only
  std::unique_ptr<bridge::MediaAnchor> anchor;
};

/// What every shard shares: built once before the shards, immutable or thread-safe after.
struct Shared {
  const Config& cfg;
  store::AsyncStore& astore;
  proxy::Domains& domains;
  registrar::LocationService& location;
  transport::FlowDirectory* directory;  ///< null with one shard
  std::string route_secret;
  std::string ws_auth_secret;  ///< "" when ws_auth is off
  auth::NonceManager::Secret nonce_secret{};
  std::shared_ptr<auth::AuthGuard> bans;  ///< auth_* bans, counted over every shard
  std::shared_ptr<transport::ConnectionLimiter> ws_limiter;
  std::string www;
  std::function<std::shared_ptr<asio::ssl::context>()> tls;  ///< the server TLS context
  std::vector<std::unique_ptr<Shard>>& shards;
  /// Set on SIGTERM: new requests get 503 (proxy::DrainProcessor), /ready says so.
  std::atomic<bool> draining{false};
  /// Bindings registered upstream (SBC mode); null without upstream domains.
  std::unique_ptr<registrar::UpstreamBindings> upstream;
  CdrSink* cdrs = nullptr;  ///< where every shard's call tracker puts its call records
  /// Cluster mode: the nodes sharing the store (thread-safe queries); null otherwise.
  const registrar::ClusterMembership* cluster = nullptr;
};

/// Refuses a port that another socket (another sipws, another program) holds already: with
/// SO_REUSEPORT the kernel would otherwise let a second daemon of the same user share it.
/// @throws std::system_error (address in use) for such a port; port 0 always passes.
void ensure_port_free(Protocol p, const Endpoint& ep) {
  if (ep.port == 0) return;
  asio::io_context io;
  if (p == Protocol::Udp) {
    asio::ip::udp::socket s(io);
    s.open(ep.address.is_v6() ? asio::ip::udp::v6() : asio::ip::udp::v4());
    s.bind(asio::ip::udp::endpoint(ep.address, ep.port));
  } else {
    asio::ip::tcp::acceptor a(io);
    a.open(ep.address.is_v6() ? asio::ip::tcp::v6() : asio::ip::tcp::v4());
    a.set_option(asio::socket_base::reuse_address(true));  // TIME_WAIT of a previous run is fine
    a.bind(asio::ip::tcp::endpoint(ep.address, ep.port));
  }
}

/// Builds shard `sh`'s DNS client, transaction layer, proxy core and its processors.
/// @throws StartError.
void build_core(Shard& sh, Shared& shared) {
  const Config& cfg = shared.cfg;
  // DNS: c-ares on this io_context (RFC 3263 NAPTR/SRV/A/AAAA, hosts file, TTL cache). It
  // replaces Asio's getaddrinfo resolver: one cache per shard, no helper thread, and the hosts
  // file is still honoured (ares_getaddrinfo reads it first).
  try {
    routing::DnsConfig dcfg;
    dcfg.servers = cfg.dns_servers;
    dcfg.min_ttl = std::chrono::seconds(cfg.dns_cache_min_ttl_s);
    dcfg.max_ttl = std::chrono::seconds(cfg.dns_cache_max_ttl_s);
    dcfg.negative_ttl = std::chrono::seconds(cfg.dns_negative_ttl_s);
    sh.dns = std::make_unique<routing::DnsClient>(sh.io, std::move(dcfg));
  } catch (const routing::DnsError& e) {
    throw StartError{"dns_servers", e.what()};
  }
  // Located servers are reached over the transports sipws listens on among UDP, TCP and TLS,
  // and over WS/WSS, which the WebSocket client (ws::Connector, shard 0) dials: NAPTR SIP+D2W /
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
  sh.resolver = std::make_unique<routing::SipLocator>(*sh.dns, lcfg);

  proxy::ProxyConfig pcfg;
  pcfg.user_agent = cfg.user_agent;
  pcfg.strict_dialogs = cfg.auth == AuthMode::Digest;
  pcfg.route_secret = shared.route_secret;
  pcfg.shard = sh.index;
  pcfg.shards = cfg.threads;
  sh.relay_policy = std::make_unique<Reloadable<auth::RelayPolicyConfig>>(
      sh.index == 0 ? make_relay_policy(cfg) : shared.shards[0]->relay_policy->get());
  sh.dial_plan = std::make_unique<Reloadable<routing::DialPlan>>(
      sh.index == 0 ? make_dial_plan(cfg) : shared.shards[0]->dial_plan->get());
  // The process-wide counters (/metrics: proxy_*, store_unavailable_responses...) and the
  // per-thread token generators (branches, To tags) of this shard's io thread.
  sh.core = std::make_unique<proxy::ProxyCore>(sh.timers, shared.domains, sh.view, *sh.resolver,
                                               pcfg, Instruments{counters(), per_thread_tokens()});
  sh.uac = std::make_unique<proxy::Uac>(sh.view, sh.index);
  sh.tu = std::make_unique<DaemonTu>(*sh.core, *sh.uac);
  sh.txns = std::make_unique<sip::txn::TransactionLayer>(
      sh.timers, sh.sender, *sh.tu,
      sip::txn::TimerConfig{Millis(cfg.timer_t1_ms), Millis(cfg.timer_t2_ms),
                            Millis(cfg.timer_t4_ms)});
  sh.core->attach(*sh.txns, sh.sender);
  sh.uac->attach(*sh.txns);
  // Live calls and call records; the bridge (built later) is asked through `sh` at run time.
  proxy::CallTrackerHooks hooks;
  hooks.record = [cdrs = shared.cdrs](CallRecord r) { cdrs->add(std::move(r)); };
  hooks.media =
      [&sh](const std::string& call_id) -> std::optional<std::pair<LegCounts, LegCounts>> {
    auto session = sh.anchor ? sh.anchor->session(call_id) : nullptr;
    if (!session) return std::nullopt;
    const auto& a = session->leg(bridge::Side::A).stats();
    const auto& b = session->leg(bridge::Side::B).stats();
    return std::pair{LegCounts{a.rx_packets, a.rx_bytes}, LegCounts{b.rx_packets, b.rx_bytes}};
  };
  hooks.hang_up_media = [&sh](const std::string& call_id, const std::string& reason,
                              std::string_view why) {
    return sh.anchor && sh.anchor->hang_up(call_id, reason, why);
  };
  hooks.cancel = [&sh](sip::txn::ServerTxnId id) { return sh.core->cancel(id); };
  hooks.originate = [&sh](const proxy::OwnRequest& r, const Destination& dest) {
    sh.uac->send(r, dest);
  };
  sh.calls = std::make_unique<proxy::CallTracker>(sh.timers, sh.index, std::move(hooks));
  sh.core->set_call_observer(sh.calls.get());
  sh.guards = make_guards(cfg, sh.timers, sh.relay_policy->get()->trusted_peers, shared.bans);
  sh.dispatcher = std::make_unique<Dispatcher>(*sh.txns, sh.sender, sh.guards, cfg.trace,
                                               sh.trace_ring, sh.links);
  sh.transport.set_handler(sh.dispatcher.get());
  sh.transport.flows().on_close(
      [&location = shared.location](FlowId id, Protocol) { location.on_flow_closed(id); });

  // Graceful shutdown first: while draining, nothing new is started (watch_shutdown).
  sh.core->add_request_processor(std::make_unique<proxy::DrainProcessor>(shared.draining));

  // RFC 7118 s.7 handshake auth: the authenticator the WS listeners ask, and flow-identity
  // first in the chain (a flow speaks only as the identity it proved).
  if (cfg.ws_auth != WsAuthMode::Off) {
    auth::HandshakeAuthConfig hcfg;
    hcfg.mode = handshake_mode(cfg.ws_auth);
    hcfg.realm = cfg.domain;
    hcfg.session_lifetime_s = cfg.ws_session_lifetime_s;
    hcfg.nonce_lifetime_s = cfg.nonce_lifetime_s;
    sh.handshake_auth = std::make_unique<auth::HandshakeAuthenticator>(
        hcfg, shared.ws_auth_secret, shared.astore, sh.timers, shared.nonce_secret);
    sh.core->add_request_processor(std::make_unique<auth::FlowIdentityProcessor>(
        [&view = sh.view](FlowId id) { return view.identity(id); }));
  }
  // Upstream domains (SBC mode): their REGISTERs and calls go to the upstream, which
  // authenticates them, before the relay policy and digest auth look at them.
  if (shared.upstream) {
    auto u = std::make_unique<registrar::UpstreamRegistrarProcessor>(
        cfg.upstream_domains, shared.domains, *shared.upstream);
    sh.upstream = u.get();
    sh.core->add_request_processor(std::move(u));
    sh.transport.flows().on_close([&sh](FlowId id, Protocol) {
      if (sh.upstream != nullptr) sh.upstream->on_flow_closed(id, *sh.uac);
    });
  }
  // Calls from a trunk's provider to its contact: for the number dialled (registrations).
  if (!cfg.registrations.empty()) {
    sh.core->add_request_processor(
        std::make_unique<registrar::TrunkInboundProcessor>(cfg.registrations, shared.domains));
  }
  auto relay = std::make_unique<auth::RelayPolicyProcessor>(shared.domains, *sh.relay_policy);
  if (shared.cluster != nullptr) {
    relay->set_cluster_peer(
        [cluster = shared.cluster](sip::Message& req) { return cluster->vouched_by(req); });
  }
  sh.core->add_request_processor(std::move(relay));
  if (cfg.auth == AuthMode::Digest) {
    auto d = std::make_unique<auth::DigestAuthProcessor>(
        shared.domains, shared.astore, sh.timers,
        auth::DigestAuthConfig{cfg.nonce_lifetime_s, false}, shared.nonce_secret);
    sh.digest = d.get();
    sh.digest->set_guard(sh.guards->bans.get());
    sh.core->add_request_processor(std::move(d));
  }
  registrar::RegistrarConfig rcfg;
  rcfg.min_expires = cfg.registrar_min_expires;
  rcfg.max_expires = cfg.registrar_max_expires;
  rcfg.default_expires = cfg.registrar_default_expires;
  rcfg.ack_when_durable = cfg.store_sync == StoreSync::Ack;
  sh.core->add_request_processor(
      std::make_unique<registrar::RegistrarProcessor>(shared.domains, shared.location, rcfg));
  // Routing services: aliases, forwarding, call classes, PSTN gateways (LCR); a forward on
  // busy / no answer runs them again from "alias" for the new target.
  auto has_bindings = [&location = shared.location](const std::string& aor) {
    return location.has_bindings(aor);
  };
  sh.core->add_request_processor(
      std::make_unique<routing::AliasProcessor>(shared.domains, shared.astore, has_bindings));
  sh.core->add_request_processor(std::make_unique<routing::CallForwardProcessor>(
      shared.domains, shared.astore, *sh.dial_plan));
  sh.core->add_request_processor(
      std::make_unique<routing::CallClassProcessor>(shared.astore, *sh.dial_plan));
  sh.core->add_request_processor(std::make_unique<routing::GatewayRouteProcessor>(
      shared.domains, *sh.dial_plan, has_bindings, sh.lcr_random));
  sh.core->add_failure_processor(std::make_unique<routing::ForwardOnFailure>());
  sh.core->set_rerun_from("alias");
  // Cluster mode: the AOR's bindings on the other nodes first (one store read).
  if (shared.cluster != nullptr) {
    sh.core->add_request_processor(std::make_unique<registrar::ClusterLookupProcessor>(
        shared.domains, *shared.cluster, shared.location, shared.astore));
  }
  // Known subscriber => 480 rather than 404 when it has no binding: asked on the store's worker
  // thread, answered on this shard's thread.
  sh.core->add_request_processor(std::make_unique<registrar::LocationLookupProcessor>(
      shared.domains, shared.location, registrar::is_subscriber_in(shared.astore)));
}

/// Binds shard `sh`'s listeners: shard 0 on the configured endpoints (recording in `bound`
/// what port 0 became), the other shards on the same endpoints as shard 0 (SO_REUSEPORT).
/// @throws StartError naming 'listen'.
void bind_listeners(Shard& sh, Shared& shared, std::vector<Endpoint>& bound) {
  const Config& cfg = shared.cfg;
  const bool reuse = cfg.threads > 1;
  try {
    for (std::size_t i = 0; i < cfg.listen.size(); ++i) {
      const auto& spec = cfg.listen[i];
      Endpoint ep =
          sh.index == 0 ? Endpoint{asio::ip::make_address(spec.host), spec.port} : bound.at(i);
      if (reuse && sh.index == 0) ensure_port_free(spec.protocol, ep);
      switch (spec.protocol) {
        case Protocol::Udp:
          sh.transport.listen_udp(ep, spec.advertise);
          break;
        case Protocol::Tcp:
          sh.transport.listen_tcp(ep, spec.advertise);
          break;
        case Protocol::Tls:
          sh.transport.listen_tls(ep, shared.tls(), spec.advertise);
          break;
        case Protocol::Ws:
        case Protocol::Wss: {
          ws::ListenerConfig wc;
          wc.listen = ep;
          wc.reuse_port = reuse;
          if (spec.protocol == Protocol::Wss) wc.tls = shared.tls();
          wc.www_root = shared.www;
          wc.max_message_size = cfg.max_message_size;
          wc.max_send_queue = cfg.max_send_queue;
          wc.ping_interval = Millis(std::uint64_t{cfg.ws_ping_interval_s} * 1000);
          wc.pong_timeout = Millis(std::uint64_t{cfg.ws_pong_timeout_s} * 1000);
          wc.allowed_origins = cfg.ws_allowed_origins;
          wc.allow_no_origin = cfg.ws_allow_no_origin;
          wc.limiter = shared.ws_limiter;
          wc.handshake_timeout = Millis(cfg.ws_handshake_timeout_ms);
          wc.first_message_timeout = Millis(cfg.ws_first_message_timeout_ms);
          wc.max_message_rate = cfg.ws_max_message_rate;
          if (sh.handshake_auth) attach_handshake_auth(wc, *sh.handshake_auth);
          auto l = std::make_unique<ws::Listener>(
              sh.io, sh.timers, sh.transport.flows(),
              [&t = sh.transport](std::shared_ptr<const std::string> bytes, const Source& src) {
                t.deliver(std::move(bytes), src);
              },
              wc);
          l->start();
          ListenPoint lp;
          lp.protocol = spec.protocol;
          lp.local = l->local_endpoint();
          lp.advertised = !spec.advertise.host.empty() ? spec.advertise.host
                          : lp.local.address.is_unspecified()
                              ? (lp.local.address.is_v6() ? "[::1]" : "127.0.0.1")
                              : lp.local.host_string();
          lp.advertised_port = spec.advertise.port;
          sh.transport.add_listen_point(lp);
          sh.ws_listeners.push_back(std::move(l));
          break;
        }
      }
      if (sh.index == 0) bound.push_back(sh.transport.listen_points().back().local);
    }
  } catch (const std::exception& e) {
    throw StartError{"listen", e.what()};
  }
}

/// Everything the daemon runs, in construction order: members are destroyed in the reverse
/// order, so what runs on an io_context goes before it, and the store outlives its users.
/// Built by the builder functions below, one per subsystem, in the order run_daemon calls them.
struct Daemon {
  Daemon(const Config& c, std::function<Config()> r)
      : cfg(c), reload(std::move(r)), n(std::max(1u, c.threads)), current(c) {}
  const Config& cfg;
  std::function<Config()> reload;
  unsigned n;
  std::vector<std::unique_ptr<asio::io_context>> ios;  ///< one per shard; shard 0's runs here
  std::unique_ptr<transport::AsioTimerService> location_timers;  ///< on shard 0
  std::unique_ptr<store::AsyncStore> astore;
  std::unique_ptr<CdrSink> cdrs;  ///< call records, written through astore
  /// trace_pcap's writer (null without); the shards' trace rings write to it.
  std::unique_ptr<transport::PcapWriter> pcap;
  /// The server certificate of `tls` (reloaded on SIGHUP); before the shards, whose listeners
  /// hold the context that calls it.
  std::unique_ptr<transport::ServerCertificate> tls_cert;
  transport::TransportLimits tlimits;
  transport::ConnectionLimits ws_limits;
  proxy::Domains domains;
  std::unique_ptr<registrar::LocationService> location;
  /// Cluster mode only; on shard 0's timers, after `location` and `astore` (destroyed first).
  std::unique_ptr<registrar::ClusterMembership> cluster;
  transport::FlowDirectory directory;
  std::vector<std::unique_ptr<Shard>> shards;
  std::shared_ptr<asio::ssl::context> tls;  ///< made on first use (a TLS or WSS listener)
  std::unique_ptr<Shared> shared;
  std::vector<const bridge::MediaAnchor*> anchors;
  transport::FlowTable admin_flows;
  std::unique_ptr<AdminApi> admin_api;        ///< before `admin`, which calls it
  std::unique_ptr<AdminEvents> admin_events;  ///< likewise
  std::unique_ptr<ws::Listener> admin;
  std::function<void(const routing::Gateway&, std::function<void(int)>)> send_probe;
  std::unique_ptr<routing::GatewayProber> prober;
  std::unique_ptr<registrar::NatKeepalive> nat;       ///< nat_keepalive_interval > 0
  std::unique_ptr<registrar::TrunkRegistrar> trunks;  ///< `registrations`, on shard 0
  Config current;  ///< the configuration in force (replaced on SIGHUP)
  std::unique_ptr<asio::signal_set> hup;
  std::unique_ptr<asio::signal_set> stop_signals;
  std::function<void()> wait_hup;
  /// A second SIGTERM/SIGINT while draining: stop now, without waiting for shutdown_grace.
  std::atomic<bool> stop_now{false};

  Shard& s0() { return *shards[0]; }
};

/// Store subsystem: opens `store`, starts the AsyncStore worker (answers posted to shard 0
/// until each shard answers for itself) and restores the location service from it, before any
/// traffic; expired bindings are swept on shard 0. Also makes the io_contexts (they outlive
/// everything that runs on them). @throws StartError naming 'store'.
void open_store(Daemon& d) {
  for (unsigned i = 0; i < d.n; ++i) d.ios.push_back(std::make_unique<asio::io_context>(1));
  asio::io_context& io0 = *d.ios[0];
  d.location_timers = std::make_unique<transport::AsioTimerService>(io0);
  const std::string uri = resolve_store(d.cfg);
  const store::OpenOptions options = store_options(d.cfg);
  // Store answers go to the shard that asked (AsyncStore::answer_on_this_thread); this post is
  // for shard 0 and start-up. A database server gets store_pool read connections beside the
  // writer's (SQLite serialises its writers anyway, and reads there cost microseconds).
  store::ReadPool pool;
  if (uri.rfind("sqlite:", 0) != 0) {
    pool.size = d.cfg.store_pool;
    pool.open = [uri, options] {
      store::OpenOptions reader = options;
      reader.migrate = false;  // the writer's connection did it
      return store::Store::open(uri, reader);
    };
  }
  try {
    d.astore = std::make_unique<store::AsyncStore>(
        store::Store::open(uri, options),
        [&io0](std::function<void()> fn) { asio::post(io0, std::move(fn)); },
        store::AsyncStore::kCheckInterval, pool);
  } catch (const store::StoreError& e) {
    throw StartError{"store", e.what()};
  }
  d.location = std::make_unique<registrar::LocationService>(*d.location_timers, d.astore.get());
  if (!d.cfg.cluster_node.empty()) {
    d.location->set_cluster(d.cfg.cluster_node,
                            [address = d.cfg.cluster_address](const registrar::Binding& b) {
                              return registrar::cluster_route(address, b);
                            });
    d.cluster = std::make_unique<registrar::ClusterMembership>(
        registrar::ClusterConfig{d.cfg.cluster_node, d.cfg.cluster_address, d.cfg.cluster_secret},
        *d.astore, *d.location_timers);
  }
  d.cdrs = std::make_unique<CdrSink>(*d.astore, resolve_path(d.cfg, d.cfg.cdr_file));
  const std::size_t restored = d.location->load(d.astore->sync());
  log::app().info("store: {} bindings restored", restored);
  if (d.cluster) d.cluster->start();
}

/// trace_pcap: opens the pcap file the trace rings write to (an older one moves to .1).
/// @throws StartError naming 'trace_pcap' when the file cannot be created.
void open_trace_pcap(Daemon& d) {
  if (d.cfg.trace_pcap.empty()) return;
  transport::PcapWriter::Options o;
  o.path = resolve_path(d.cfg, d.cfg.trace_pcap);
  o.max_bytes = std::uint64_t{d.cfg.trace_pcap_max_mb} << 20;
  try {
    d.pcap = std::make_unique<transport::PcapWriter>(std::move(o));
  } catch (const std::exception& e) {
    throw StartError{"trace_pcap", std::string(e.what()) +
                                       "; set it to a file in a folder sipws may write, or \"\""};
  }
  log::app().info("trace: messages also written to {}", resolve_path(d.cfg, d.cfg.trace_pcap));
}

/// Configuration shared by the shards: connection limits (one limiter for every WS/WSS
/// listener of every shard, ws_max_connections being a total; one for the SIP TCP/TLS
/// listeners; the exempt networks lift the per-IP caps), the local domains, and the keys: the
/// Record-Route signature key kept beside the store (dialogs survive a restart), the session
/// cookie key of ws_auth, the digest nonce secret (any shard checks a nonce another issued).
/// @throws StartError naming 'store', 'ws_auth_secret', or none (no random bytes).
void make_shared_config(Daemon& d) {
  const Config& cfg = d.cfg;
  std::vector<transport::IpNetwork> limit_exempt;
  for (const auto& net : cfg.ws_connection_limit_exempt) {
    if (auto parsed = transport::IpNetwork::parse(net)) limit_exempt.push_back(*parsed);
  }
  d.tlimits.max_message_size = cfg.max_message_size;
  d.tlimits.max_send_queue = cfg.max_send_queue;
  d.tlimits.reuse_port = d.n > 1;
  if (cfg.tcp_max_connections != 0 || cfg.tcp_max_connections_per_ip != 0) {
    transport::ConnectionLimits tcp_limits;
    tcp_limits.max_total = cfg.tcp_max_connections;
    tcp_limits.max_per_ip = cfg.tcp_max_connections_per_ip;
    tcp_limits.exempt = limit_exempt;
    d.tlimits.limiter = std::make_shared<transport::ConnectionLimiter>(tcp_limits);
  }
  d.ws_limits.max_total = cfg.ws_max_connections;
  d.ws_limits.max_per_ip = cfg.ws_max_connections_per_ip;
  d.ws_limits.exempt = limit_exempt;

  d.domains.add_domain(cfg.domain);
  for (const auto& dom : cfg.domains) d.domains.add_domain(dom);
  if (cfg.auth == AuthMode::Off) {
    log::app().warn("auth=off: sipws relays for anyone (open relay); use it in a lab only");
  }

  d.shared.reset(new Shared{
      cfg,
      *d.astore,
      d.domains,
      *d.location,
      d.n > 1 ? &d.directory : nullptr,
      {},
      {},
      {},
      make_bans(cfg, *d.location_timers),
      std::make_shared<transport::ConnectionLimiter>(d.ws_limits),
      find_web_root(cfg, cfg.www_root, "demo-jssip", self_exe()),
      [&d]() {
        if (!d.tls) {
          std::string cert = resolve_path(d.cfg, d.cfg.tls_cert);
          std::string key = resolve_path(d.cfg, d.cfg.tls_key);
          if (cert.empty()) {
            auto dev = transport::ensure_dev_certificate(resolve_path(d.cfg, d.cfg.dev_cert_dir));
            cert = dev.cert_path;
            key = dev.key_path;
            log::app().info("using development certificate {}", cert);
          }
          d.tls = transport::make_server_tls_context(cert, key);
          d.tls_cert = std::make_unique<transport::ServerCertificate>(cert, key);
          d.tls_cert->attach(*d.tls);
        }
        return d.tls;
      },
      d.shards,
      {false},
      nullptr,
      d.cdrs.get()});
  Shared& shared = *d.shared;
  shared.cluster = d.cluster.get();
  if (d.cluster) {
    // Every node derives the same keys: a Record-Route signature, a digest nonce or a session
    // cookie one node made verifies on any other.
    shared.route_secret = registrar::cluster_key(cfg.cluster_secret, "route");
    proxy::set_flow_token_key(registrar::cluster_key(cfg.cluster_secret, "flow"));
  } else {
    try {
      shared.route_secret = auth::load_or_create_secret(key_path(cfg, "route.key"));
    } catch (const std::exception& e) {
      throw StartError{"store", std::string("cannot keep the route key beside it: ") + e.what()};
    }
  }
  if (!cfg.upstream_domains.empty()) {
    shared.upstream =
        std::make_unique<registrar::UpstreamBindings>(shared.route_secret, *d.location_timers);
  }
  if (cfg.ws_auth != WsAuthMode::Off) {
    shared.ws_auth_secret = cfg.ws_auth_secret;
    if (shared.ws_auth_secret.empty() && d.cluster) {
      shared.ws_auth_secret = registrar::cluster_key(cfg.cluster_secret, "ws_auth");
    } else if (shared.ws_auth_secret.empty()) {
      const std::string path = key_path(cfg, "ws_auth.key");
      try {
        shared.ws_auth_secret = auth::load_or_create_secret(path);
      } catch (const std::exception& e) {
        throw StartError{"ws_auth_secret", std::string("no key given and ") + e.what()};
      }
      log::app().info("ws_auth: session cookie key {}", path);
    }
  }
  if (d.cluster) {
    const std::string key = registrar::cluster_key(cfg.cluster_secret, "nonce");
    std::copy_n(key.begin(), std::min(key.size(), shared.nonce_secret.size()),
                shared.nonce_secret.begin());
  } else if (RAND_bytes(shared.nonce_secret.data(), static_cast<int>(shared.nonce_secret.size())) !=
             1) {
    throw StartError{"", "no random bytes from OpenSSL for the nonce key"};
  }
}

/// What a transport calls when a connection it opened could not be established: the requests
/// queued on it fail now (503 / DNS failover) rather than at Timer B/F, on whichever shard
/// sent them (each shard's transaction layer, posted: never from within a send).
std::function<void(Protocol, const Endpoint&)> connect_failure_reporter(
    std::vector<std::unique_ptr<Shard>>& shards) {
  return [&shards](Protocol p, const Endpoint& ep) {
    for (auto& sh : shards) {
      asio::post(sh->io, [t = sh->txns.get(), p, ep] { t->transport_failed(p, ep); });
    }
  };
}

/// Transports, proxy cores and their chains: one Shard per thread, each with its transport
/// layer, transaction layer, proxy core (build_core: the request chain and the failure chain)
/// and Uac; the shards hand messages to each other (links); then the listeners (shard 0
/// first: the others bind what it bound, SO_REUSEPORT). With several shards, what one shard's
/// WebSocket upgrade checks fetched is shared with the others. @throws StartError.
void build_shards(Daemon& d) {
  Shared& shared = *d.shared;
  const auto report_connect_failure = connect_failure_reporter(d.shards);
  auto& shards = d.shards;
  for (unsigned i = 0; i < d.n; ++i) {
    shards.push_back(
        std::make_unique<Shard>(i, *d.ios[i], d.cfg, d.tlimits, shared.directory, d.pcap.get()));
    if (shared.directory) shards.back()->transport.flows().set_directory(shared.directory);
  }
  for (auto& sh : shards) {
    sh->links.receive_on = [&shards](unsigned k, const sip::Message& msg, const Source& src) {
      Shard& to = *shards[k];
      asio::post(to.io, [&to, msg, src] { to.txns->receive(msg, src); });
    };
    sh->links.send_on = [&shards, from = sh.get()](unsigned k, const Destination& dest,
                                                   std::shared_ptr<const std::string> bytes) {
      Shard& to = *shards[k];
      asio::post(to.io, [&to, from, dest, bytes = std::move(bytes)]() mutable {
        trace_sent(to.trace_ring, to.transport, dest, *bytes);
        if (to.transport.send(dest, std::move(bytes))) return;
        asio::post(from->io,
                   [from, dest] { from->txns->transport_failed(dest.protocol, dest.endpoint); });
      });
    };
    sh->transport.on_connect_failed(report_connect_failure);
    build_core(*sh, shared);
  }
  std::vector<Endpoint> bound;
  for (auto& sh : shards) bind_listeners(*sh, shared, bound);
  // A WebSocket client's retry after a "stale" Digest challenge (the HA1 was being fetched)
  // is a new connection, which the kernel may give to another shard: every shard's upgrade
  // checks learn what one of them fetched.
  if (d.n > 1 && d.cfg.ws_auth != WsAuthMode::Off) {
    for (auto& sh : shards) {
      sh->handshake_auth->credentials().on_fetched(
          [&shards, self = sh.get()](const std::string& user, const std::string& domain,
                                     const std::optional<store::Subscriber>& sub,
                                     std::uint64_t generation) {
            for (auto& other : shards) {
              if (other.get() == self) continue;
              asio::post(other->io, [to = other.get(), user, domain, sub, generation] {
                to->handshake_auth->credentials().prime(user, domain, sub, generation);
              });
            }
          });
    }
  }
  // The listen points name sipws: Request-URIs and Route entries with them are local.
  for (const auto& lp : d.s0().transport.listen_points()) {
    d.domains.add_alias(lp.advertised);
    d.domains.add_alias(lp.local.address.to_string());
    d.domains.add_port(lp.local.port);
    d.domains.add_port(lp.sent_by_port());
  }
  d.domains.add_alias("localhost");
  // A wildcard listener answers on every address of the host and writes the one each peer
  // reaches (IP_PKTINFO, the route): each is sipws's own in a Request-URI or Route.
  bool any_v4 = false;
  bool any_v6 = false;
  for (const auto& lp : d.s0().transport.listen_points()) {
    if (!lp.local.address.is_unspecified()) continue;
    (lp.local.address.is_v6() ? any_v6 : any_v4) = true;
  }
  if (any_v4 || any_v6) {
    std::string names;
    for (const auto& a : host_addresses()) {
      // A [::] listener is dual-stack: it answers on the IPv4 addresses too.
      if (a.is_v4() ? !(any_v4 || any_v6) : !any_v6) continue;
      d.domains.add_alias(a.to_string());
      names += (names.empty() ? "" : " ") + a.to_string();
    }
    log::app().info("wildcard listener: this host's addresses are local: {}", names);
  }
}

/// The WebSocket client (RFC 7118 client role), on shard 0: the transport selector hands it
/// WS/WSS destinations without a flow (other shards send them through shard 0); configured
/// peers (ws_peers) are kept connected once serve() starts it. @throws StartError naming
/// 'ws_client_ca_file'.
void build_ws_client(Daemon& d) {
  const Config& cfg = d.cfg;
  Shard& s0 = d.s0();
  ws::ConnectorConfig ccfg;
  try {
    ccfg.tls =
        ws::make_wss_client_context(cfg.ws_client_verify, resolve_path(cfg, cfg.ws_client_ca_file));
  } catch (const std::exception& e) {
    throw StartError{"ws_client_ca_file", e.what()};
  }
  if (!cfg.ws_client_verify) {
    log::app().warn("ws_client_verify=false: WSS server certificates are not checked");
  }
  ccfg.resource = cfg.ws_client_resource;
  ccfg.max_message_size = cfg.max_message_size;
  ccfg.ping_interval = Millis(std::uint64_t{cfg.ws_ping_interval_s} * 1000);
  ccfg.pong_timeout = Millis(std::uint64_t{cfg.ws_pong_timeout_s} * 1000);
  ccfg.user_agent = cfg.user_agent;
  ccfg.resolve = [&s0](const std::string& host,
                       std::function<void(std::optional<IpAddress>)> done) {
    s0.resolver->resolve(host, std::move(done));
  };
  ccfg.on_connect_failed = connect_failure_reporter(d.shards);
  s0.connector = std::make_unique<ws::Connector>(
      s0.io, s0.timers, s0.transport.flows(),
      [&t = s0.transport](std::shared_ptr<const std::string> bytes, const Source& src) {
        t.deliver(std::move(bytes), src);
      },
      ccfg);
  for (const auto& url : cfg.ws_peers) {
    if (auto u = ws::parse_ws_url(url)) s0.connector->add_peer(*u);
  }
  s0.transport.set_websocket_dialer(s0.connector.get());
}

/// Media bridge: anchors calls between WebRTC and plain RTP ends (media_anchor); each shard's
/// MediaAnchor is its core's forward hook, anchors the calls it routes on its share of
/// media_ports, and sends its media-timeout BYEs through the shard's Uac. Nothing with
/// media_anchor=never. @throws StartError naming 'media_address'.
void build_media_bridge(Daemon& d) {
  if (d.cfg.media_anchor == MediaAnchor::Never) return;
  try {
    for (auto& sh : d.shards) {
      sh->anchor = make_media_anchor(d.cfg, sh->io, sh->transport, *sh->uac, sh->index);
      sh->anchor->set_on_media_timeout(
          [calls = sh->calls.get()](const std::string& call_id, const std::string& caller_tag) {
            calls->ended(call_id, caller_tag, "media_timeout");
          });
      sh->core->set_forward_hook(sh->anchor.get());
      d.anchors.push_back(sh->anchor.get());
    }
  } catch (const std::exception& e) {
    throw StartError{"media_address", e.what()};
  }
}

/// Topology hiding (`topology_hiding` on gateways and upstream domains) and the per-peer
/// adaptations (`strip_headers`, `max_message_size`, `dtmf`): every shard's core (and media bridge)
/// gets the same rules (replaced on SIGHUP).
void build_topology_hiding(Daemon& d) {
  auto th = make_topology_hiding(d.cfg, d.shared->route_secret);
  auto rules = make_peer_rules(d.cfg);
  for (auto& sh : d.shards) {
    sh->core->set_peer_rules(rules);
    sh->core->set_topology_hiding(th);
    sh->calls->set_topology_hiding(th);
    if (sh->anchor) {
      sh->anchor->set_topology_hiding(th);
      sh->anchor->set_peer_rules(rules);
    }
  }
}

/// Asks every shard for its share (`mine(shard)`, on that shard's thread) and hands the whole
/// list to `done` on shard 0's thread once the last shard answered (admin API).
template <typename T>
void gather_shards(Daemon& d, std::function<std::vector<T>(Shard&)> mine,
                   std::function<void(std::vector<T>)> done) {
  struct Gather {
    std::mutex mu;
    std::vector<T> items;
    std::size_t left = 0;
    std::function<std::vector<T>(Shard&)> mine;
    std::function<void(std::vector<T>)> done;
  };
  auto g = std::make_shared<Gather>();
  g->left = d.shards.size();
  g->mine = std::move(mine);
  g->done = std::move(done);
  for (auto& sh : d.shards) {
    asio::post(sh->io, [g, sh = sh.get(), io0 = d.ios[0].get()] {
      std::vector<T> part = g->mine(*sh);
      bool last = false;
      {
        std::lock_guard lock(g->mu);
        g->items.insert(g->items.end(), std::make_move_iterator(part.begin()),
                        std::make_move_iterator(part.end()));
        last = --g->left == 0;
      }
      if (last) asio::post(*io0, [g] { g->done(std::move(g->items)); });
    });
  }
}

/// The open flows of every shard (admin API); `done` on shard 0's thread.
void gather_flows(Daemon& d, std::function<void(std::vector<FlowInfo>)> done) {
  gather_shards<FlowInfo>(
      d,
      [](Shard& sh) {
        std::vector<FlowInfo> mine;
        auto& table = sh.transport.flows();
        for (const auto& f : table.all()) {
          const auto act = f->activity();
          mine.push_back(FlowInfo{f->id(), f->protocol(), f->peer(), f->local(),
                                  table.identity(f->id()), act.opened, act.last_received});
        }
        return mine;
      },
      std::move(done));
}

/// Ends live call `id` ("<shard>-<n>") on its shard (admin API); `done(found)` on shard 0's
/// thread.
void end_call(Daemon& d, const std::string& id, std::function<void(bool)> done) {
  unsigned shard = 0;
  const auto dash = id.find('-');
  auto [p, ec] = std::from_chars(id.data(), id.data() + std::min(dash, id.size()), shard);
  if (dash == std::string::npos || ec != std::errc() || p != id.data() + dash ||
      shard >= d.shards.size()) {
    done(false);
    return;
  }
  asio::post(d.shards[shard]->io, [sh = d.shards[shard].get(), id, io0 = d.ios[0].get(),
                                   done = std::move(done)]() mutable {
    const bool found = sh->calls->end(id);
    asio::post(*io0, [found, done = std::move(done)] { done(found); });
  });
}

/// The traced messages of `call_id` in every shard's ring, in the order they were traced.
std::vector<transport::TraceEntry> trace_of(Daemon& d, const std::string& call_id) {
  std::vector<transport::TraceEntry> all;
  for (auto& sh : d.shards) {
    auto part = sh->trace_ring.find(call_id);
    all.insert(all.end(), std::make_move_iterator(part.begin()),
               std::make_move_iterator(part.end()));
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  return all;
}

/// Closes flow `id` on the shard that owns it (admin API); `done(found)` on shard 0's thread.
void close_flow(Daemon& d, FlowId id, std::function<void(bool)> done) {
  const unsigned owner = flow_shard(id);
  if (owner >= d.shards.size()) {
    done(false);
    return;
  }
  asio::post(d.shards[owner]->io, [sh = d.shards[owner].get(), id, io0 = d.ios[0].get(),
                                   done = std::move(done)]() mutable {
    auto flow = sh->transport.flows().find(id);
    if (flow) flow->close();
    asio::post(*io0, [found = flow != nullptr, done = std::move(done)] { done(found); });
  });
}

ReloadOutcome reload_config(Daemon& d, std::string_view origin);

/// How often the call records collected from the shards are written (one transaction each).
constexpr Millis kCdrFlushEvery{500};

/// Every kCdrFlushEvery on shard 0's thread: CdrSink::flush(). Runs until shard 0 stops (serve()
/// flushes the rest).
void flush_cdrs_periodically(Daemon& d) {
  d.s0().timers.schedule(kCdrFlushEvery, [&d] {
    d.cdrs->flush();
    flush_cdrs_periodically(d);
  });
}

/// Admin HTTP endpoint (admin_listen: /metrics, /health, /ready), on shard 0. @throws StartError
/// naming 'admin_listen'.
void build_admin(Daemon& d) {
  d.admin_api = std::make_unique<AdminApi>(AdminApiDeps{
      *d.astore, *d.location, d.s0().timers, d.cfg.admin_token,
      [&d]() -> std::shared_ptr<const routing::DialPlan> { return d.s0().dial_plan->get(); },
      [&d](std::function<void(std::vector<FlowInfo>)> done) { gather_flows(d, std::move(done)); },
      [&d](FlowId id, std::function<void(bool)> done) { close_flow(d, id, std::move(done)); },
      [&d]() -> std::shared_ptr<auth::AuthGuard> {
        return d.s0().guards ? d.s0().guards->bans : nullptr;
      },
      [&d]() { return reload_config(d, "admin API"); },
      [&d]() { return d.current.routing_json.value("trusted_peers", nlohmann::json::array()); },
      [&d](std::function<void(std::vector<CallRecord>)> done) {
        gather_shards<CallRecord>(
            d, [](Shard& sh) { return sh.calls->calls(); }, std::move(done));
      },
      [&d](const std::string& id, std::function<void(bool)> done) {
        end_call(d, id, std::move(done));
      },
      [&d](const std::string& call_id) { return trace_of(d, call_id); }});
  flush_cdrs_periodically(d);
  d.admin_events = std::make_unique<AdminEvents>(
      d.admin_flows, d.s0().timers, d.cfg.admin_token,
      AdminEvents::Sources{[] {
                             return counters().get("registrar_bindings_added").value() +
                                    counters().get("registrar_bindings_removed").value() +
                                    counters().get("registrar_bindings_expired").value();
                           },
                           [&d] {
                             std::uint64_t v = 0;
                             for (auto& sh : d.shards) v += sh->calls->version();
                             return v;
                           },
                           [&d] { return d.cdrs->version(); }});
  try {
    d.admin = start_admin_endpoint(
        d.cfg, *d.ios[0], d.s0().timers, d.admin_flows, d.anchors, *d.astore, d.shared->draining,
        [&d]() -> std::size_t { return d.trunks ? d.trunks->registered() : 0; }, d.admin_api.get(),
        d.admin_events.get(), d.pcap.get(), d.cluster.get());
  } catch (const std::exception& e) {
    throw StartError{"admin_listen", e.what()};
  }
}

/// An OPTIONS that sipws sends on its own (a gateway probe, a NAT keep-alive) to `uri`, from
/// `from` (a name-addr, given a fresh tag), with a fresh Call-ID.
proxy::OwnRequest options_to(const std::string& uri, const std::string& from) {
  proxy::OwnRequest req;
  req.method = "OPTIONS";
  req.uri = uri;
  req.from = from + ";tag=" + random_token(10);
  req.to = "<" + uri + ">";
  req.call_id = random_token(20);
  return req;
}

/// Gateway OPTIONS probing (gateways[].probe_interval) on shard 0: each probe is an OPTIONS of
/// shard 0's Uac (a client transaction: retransmitted, Timer F) to the first destination the
/// gateway's URI locates to; its final status (0 = none) marks the gateway up or down (atomics
/// every shard reads). The prober is remade with the dial plan on SIGHUP.
void start_gateway_prober(Daemon& d) {
  Shard& s0 = d.s0();
  const std::string from = "<sip:sipws@" + d.cfg.domain + ">";
  d.send_probe = [&s0, from](const routing::Gateway& gw, std::function<void(int)> done) {
    auto uri = sip::parse_uri(gw.uri);
    if (!uri) return done(0);
    proxy::OwnRequest req = options_to(gw.uri, from);
    s0.resolver->locate(
        *uri, false,
        [&s0, req = std::move(req), done = std::move(done)](std::vector<Destination> ds) mutable {
          if (ds.empty()) return done(0);
          auto& uac = *s0.uac;
          std::function<void(int)> cb = done;
          if (uac.send(req, ds.front(), std::move(cb)) == 0) done(0);
        });
  };
  d.prober = std::make_unique<routing::GatewayProber>(s0.timers, s0.dial_plan->get()->gateways,
                                                      d.send_probe);
  d.prober->start();
}

/// NAT keep-alive (nat_keepalive_interval) on shard 0: an OPTIONS of shard 0's Uac to each
/// binding behind NAT, through its pinhole (its UDP source, or its TCP/TLS flow on whichever
/// shard owns it); three unanswered in a row mark the binding unreachable. With
/// nat_keepalive_method=crlf, a CRLFCRLF instead (RFC 5626 s.3.5.1's ping; nothing answers it
/// on UDP, so only a send that fails, a closed TCP/TLS flow, counts as unanswered).
void start_nat_keepalive(Daemon& d) {
  if (d.cfg.nat_keepalive_interval_s == 0) return;
  Shard& s0 = d.s0();
  const std::string from = "<sip:sipws@" + d.cfg.domain + ">";
  registrar::NatKeepalive::Send send;
  if (d.cfg.nat_keepalive_crlf) {
    static const auto kPing = std::make_shared<const std::string>("\r\n\r\n");
    send = [&s0](const registrar::NatKeepalive::Ping& ping, const std::function<void(int)>& done) {
      done(s0.sender.send(ping.dest, kPing) ? registrar::kNatKeepaliveSent : 0);
    };
  } else {
    send = [&s0, from](const registrar::NatKeepalive::Ping& ping,
                       const std::function<void(int)>& done) {
      if (s0.uac->send(options_to(ping.contact, from), ping.dest, done) == 0)
        done(0);  // unsendable: no callback of its own
    };
  }
  d.nat = std::make_unique<registrar::NatKeepalive>(
      s0.timers, *d.location, Millis(std::uint64_t{d.cfg.nat_keepalive_interval_s} * 1000),
      registrar::kNatKeepaliveFailures, std::move(send));
  d.nat->start();
}

/// Trunks (`registrations`) on shard 0: its Uac registers each one and keeps it registered.
void start_trunks(Daemon& d) {
  if (d.cfg.registrations.empty()) return;
  d.trunks =
      std::make_unique<registrar::TrunkRegistrar>(d.cfg.registrations, d.s0().timers, *d.s0().uac);
  d.trunks->start();
}

/// Reads the configuration again and applies its routing and security keys (docs/architecture.md
/// "Reload"); a bad file keeps the old configuration. Calls in progress keep the snapshot they
/// started with; each shard gets the new snapshots on its own thread; the gateway prober is
/// remade; the source guards only when their keys changed. Log lines start with `origin`
/// ("SIGHUP", "admin API"). Runs on shard 0 (SIGHUP, and the admin API's POST /api/v1/reload).
ReloadOutcome reload_config(Daemon& d, std::string_view origin) {
  ReloadOutcome out;
  // The TLS certificate files are read again first (a renewal), with or without a config file:
  // new handshakes present the new pair, established connections keep theirs.
  if (d.tls_cert) {
    try {
      d.tls_cert->reload();
      log::app().info("{}: TLS certificate reloaded: {}", origin, d.tls_cert->subject());
    } catch (const std::exception& e) {
      log::app().error("{}: TLS certificate not reloaded, the one in use stays: {}", origin,
                       e.what());
    }
  }
  if (!d.reload) {
    out.error = "no configuration file to reload (sipws runs without --config)";
    log::app().warn("{}: {}", origin, out.error);
    return out;
  }
  Config next;
  try {
    next = d.reload();
  } catch (const std::exception& e) {
    out.error = e.what();
    log::app().error("{}: configuration not reloaded, keeping the old one: {}", origin, e.what());
    return out;
  }
  const nlohmann::json before = to_json(d.current), after = to_json(next);
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
                                      "flood_exempt",
                                      "log_level",
                                      "log_levels"};
  for (const auto& item : after.items()) {
    // Not a structured binding: clang 14 (clang-tidy) cannot capture one in a lambda.
    const std::string& key = item.key();
    const auto& value = item.value();
    const bool reloadable =
        std::find_if(std::begin(kReloadable), std::end(kReloadable),
                     [&](const char* k) { return key == k; }) != std::end(kReloadable);
    if (!reloadable && before.at(key) != value) {
      log::app().warn("{}: key '{}' changed; it takes effect after a restart", origin, key);
      out.restart_needed.push_back(key);
    }
  }
  bool guards_changed = false;
  for (const char* k : kReloadable) {
    if (std::string_view(k).starts_with("auth_") || std::string_view(k).starts_with("flood_") ||
        std::string_view(k) == "trusted_peers") {
      guards_changed = guards_changed || before.at(k) != after.at(k);
    }
  }
  if (before.at("log_level") != after.at("log_level") ||
      before.at("log_levels") != after.at("log_levels")) {
    set_log_levels(next.log_level, next.log_levels);
    log::app().warn("{}: log levels set again from the configuration", origin);
  }
  auto policy = make_relay_policy(next);
  auto plan = make_dial_plan(next);
  auto hiding = make_topology_hiding(next, d.shared->route_secret);
  auto peer_rules = make_peer_rules(next);
  auto bans = guards_changed ? make_bans(next, *d.location_timers) : nullptr;
  d.prober->stop();
  for (auto& sh : d.shards) {
    asio::post(sh->io, [sh = sh.get(), policy, plan, bans, hiding, peer_rules, next] {
      sh->relay_policy->set(policy);
      sh->dial_plan->set(plan);
      sh->core->set_topology_hiding(hiding);
      sh->core->set_peer_rules(peer_rules);
      sh->calls->set_topology_hiding(hiding);
      if (sh->anchor) {
        sh->anchor->set_topology_hiding(hiding);
        sh->anchor->set_peer_rules(peer_rules);
      }
      if (bans) {
        sh->guards = make_guards(next, sh->timers, policy->trusted_peers, bans);
        if (sh->digest != nullptr) sh->digest->set_guard(sh->guards->bans.get());
      }
    });
  }
  d.prober = std::make_unique<routing::GatewayProber>(d.s0().timers, plan->gateways, d.send_probe);
  d.prober->start();
  if (guards_changed) {
    log::app().info("{}: ban and flood settings replaced (current bans lifted)", origin);
  }
  d.current = std::move(next);
  log::app().info("{}: configuration reloaded", origin);
  out.ok = true;
  return out;
}

/// SIGHUP reloads the configuration (reload_config). Runs on shard 0.
void watch_reload(Daemon& d) {
  d.hup = std::make_unique<asio::signal_set>(*d.ios[0], SIGHUP);
  d.wait_hup = [&d]() {
    d.hup->async_wait([&d](const boost::system::error_code& ec, int) {
      if (ec) return;
      d.wait_hup();
      // systemd (Type=notify, ExecReload=kill -HUP) waits for READY=1 after RELOADING=1.
      notify_service_manager("RELOADING=1");
      const ReloadOutcome r = reload_config(d, "SIGHUP");
      notify_service_manager(r.ok ? "READY=1\nSTATUS=configuration reloaded"
                                  : "READY=1\nSTATUS=configuration not reloaded (see the log)");
    });
  };
  d.wait_hup();
}

/// How often a draining shard looks whether its transactions got their final responses.
constexpr Millis kDrainPoll{20};

/// How often each shard gives its free heap memory back to the system.
constexpr Millis kMemoryRelease{10000};

/// Every kMemoryRelease on shard `sh`'s thread: release_free_memory(), so that what a burst of
/// connections or transactions freed leaves the process (mimalloc keeps freed pages per thread).
/// Runs on the shard's thread until it stops.
void release_memory_periodically(Shard& sh) {
  sh.timers.schedule(kMemoryRelease, [&sh] {
    release_free_memory();
    release_memory_periodically(sh);
  });
}

/// Stops shard `sh` once no transaction on it waits for a final response, or at `deadline`
/// (shutdown_grace; what is still open then is dropped and logged): its anchored calls,
/// listeners and transports, then its io_context (serve() returns once every shard stopped).
/// Shard 0 also stops the admin endpoint and the WebSocket client. Runs on the shard's thread.
void stop_when_drained(Daemon& d, Shard& sh, TimePoint deadline) {
  const std::size_t pending = sh.txns->pending_count();
  if (pending > 0 && sh.timers.now() < deadline && !d.stop_now.load(std::memory_order_relaxed)) {
    sh.timers.schedule(kDrainPoll, [&d, &sh, deadline] { stop_when_drained(d, sh, deadline); });
    return;
  }
  if (pending > 0) {
    log::app().warn(
        "shutdown: {} transactions of shard {} still open, dropped ({})", pending, sh.index,
        d.stop_now.load(std::memory_order_relaxed) ? "second signal" : "shutdown_grace over");
  }
  if (sh.index == 0) {
    if (d.admin) d.admin->stop();
    sh.connector->stop();
  }
  sh.calls->close_all("shutdown");  // before the bridge: the records take its counters
  if (sh.anchor) sh.anchor->close_all();
  for (auto& l : sh.ws_listeners) l->stop();
  sh.transport.shutdown();
  sh.io.stop();
}

/// SIGINT / SIGTERM: a graceful shutdown. From the signal on, requests outside a dialog get
/// 503 (proxy::DrainProcessor) and GET /ready 503; the prober and the reload watch stop; each
/// shard sends a BYE to both ends of its answered calls (CallTracker::hang_up_all, recorded with
/// hangup "shutdown") and goes on with its open transactions for at most shutdown_grace, then stops
/// (stop_when_drained); a second signal cuts the wait short. serve() then flushes the store.
/// Runs on shard 0.
void watch_shutdown(Daemon& d) {
  d.stop_signals = std::make_unique<asio::signal_set>(*d.ios[0], SIGINT, SIGTERM);
  d.stop_signals->async_wait([&d](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log::app().info(
        "signal {}: shutting down: new requests get 503, open transactions have up to "
        "{} s (shutdown_grace)",
        sig, d.cfg.shutdown_grace_s);
    d.shared->draining.store(true, std::memory_order_relaxed);
    notify_service_manager("STOPPING=1\nSTATUS=draining");
    d.prober->stop();
    if (d.nat) d.nat->stop();
    if (d.trunks) d.trunks->stop();
    d.hup->cancel();
    for (auto& sh : d.shards) {
      asio::post(sh->io, [&d, sh = sh.get()] {
        // Answered calls get a BYE at both ends, so that no phone keeps a call nobody relays;
        // those BYEs are transactions the drain waits for like any other.
        sh->calls->hang_up_all("SIP;text=\"sipws is shutting down\"", "shutdown");
        stop_when_drained(d, *sh, sh->timers.now() + std::chrono::seconds(d.cfg.shutdown_grace_s));
      });
    }
    // A second signal (an impatient operator, systemd's final SIGTERM) ends the drain.
    d.stop_signals->async_wait([&d](const boost::system::error_code& ec2, int sig2) {
      if (ec2) return;
      log::app().info("signal {} again: stopping without waiting for open transactions", sig2);
      d.stop_now.store(true, std::memory_order_relaxed);
    });
  });
}

/// Prints the ready line (and the demo users of the embedded default), switches to
/// asynchronous logging (not with --trace), starts the WebSocket client and the store's change
/// polling, runs every shard until shutdown, then flushes the store and logs the counters.
void serve(Daemon& d) {
  const Config& cfg = d.cfg;
  Shard& s0 = d.s0();
  std::string points;
  for (const auto& lp : s0.transport.listen_points()) {
    if (!points.empty()) points += ' ';
    points += std::string(lower_name(lp.protocol)) + ":" + lp.local.to_string();
    if (lp.advertised != lp.local.host_string() || lp.sent_by_port() != lp.local.port) {
      points += "(advertised " + lp.advertised + ":" + std::to_string(lp.sent_by_port()) + ")";
    }
  }
  std::fprintf(stderr, "sipws ready: %s domain=%s www=%s threads=%u\n", points.c_str(),
               cfg.domain.c_str(), d.shared->www.empty() ? "(none)" : d.shared->www.c_str(), d.n);
  std::fflush(stderr);
  notify_service_manager("READY=1\nSTATUS=serving: " + points);
  if (cfg.demo_users) {
    // Embedded default: demo users on an empty store, printed next to the ready line. The
    // io threads do not run yet, so the store can still be used synchronously.
    try {
      auto line = ensure_demo_users(d.astore->sync(), cfg.domain,
                                    demo_page_url(s0.transport.listen_points()));
      if (!line.empty()) std::fprintf(stderr, "%s\n", line.c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sipws: cannot create the demo users: %s\n", e.what());
    }
    std::fflush(stderr);
  }
  // No thread but the idle store worker runs yet: the one moment to swap the logger. With
  // --trace the log stays synchronous: a message's trace line is on stderr before the message
  // leaves (what a trace is read for, and what tests that read it rely on).
  if (!cfg.trace) go_async_logging();
  s0.connector->start();
  // From here the store is the worker's alone: it looks for changes by the CLI (or another
  // node) every second, which empties the credential caches.
  d.astore->poll_every(std::chrono::seconds(1));
  for (auto& sh : d.shards) release_memory_periodically(*sh);
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < d.n; ++i) {
    threads.emplace_back([sh = d.shards[i].get()] {
      store::AsyncStore::answer_on_this_thread(&sh->post);
      sh->io.run();
    });
  }
  store::AsyncStore::answer_on_this_thread(&s0.post);
  s0.io.run();
  for (auto& t : threads) t.join();
  store::AsyncStore::answer_on_this_thread(nullptr);
  s0.transport.set_websocket_dialer(nullptr);
  for (auto& sh : d.shards) {
    sh->core->set_forward_hook(nullptr);
    sh->anchor.reset();
  }
  d.cdrs->flush();  // the records of the calls that shutdown closed
  d.astore->flush();
  if (d.pcap) d.pcap->close();  // what the rings queued last
  std::string counts;
  for (const auto& [name, value] : counters().snapshot()) {
    counts += ' ' + name + '=' + std::to_string(value);
  }
  log::app().info("counters:{}", counts);
}

}  // namespace

int run_daemon(const Config& cfg, std::function<Config()> reload) {
  log::app().info("sipws starting: {}", describe(cfg));
  Daemon d(cfg, std::move(reload));
  try {
    open_store(d);
    open_trace_pcap(d);
    make_shared_config(d);
    build_shards(d);
    build_ws_client(d);
    build_media_bridge(d);
    build_topology_hiding(d);
    build_admin(d);
  } catch (const StartError& e) {
    if (e.key.empty()) {
      std::fprintf(stderr, "sipws: %s\n", e.what.c_str());
    } else {
      std::fprintf(stderr, "sipws: config key '%s': %s\n", e.key.c_str(), e.what.c_str());
    }
    return 2;
  }
  start_gateway_prober(d);
  start_nat_keepalive(d);
  start_trunks(d);
  watch_reload(d);
  watch_shutdown(d);
  serve(d);
  log::app().info("sipws stopped");
  return 0;
}

}  // namespace sipws::app
