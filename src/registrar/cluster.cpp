#include "registrar/cluster.hpp"

#include <openssl/crypto.h>

#include <charconv>
#include <memory>
#include <stdexcept>
#include <utility>

#include "common/log.hpp"
#include "proxy/routing.hpp"
#include "sip/headers.hpp"
#include "sip/message.hpp"
#include "sip/text.hpp"
#include "sip/uri.hpp"

namespace sipws::registrar {

using proxy::Action;

std::string cluster_key(std::string_view secret, std::string_view purpose) {
  const auto mac = crypto::HmacSha256(secret).mac({"sipws cluster ", purpose});
  if (!mac) throw std::runtime_error("OpenSSL could not derive the cluster keys");
  return std::string(reinterpret_cast<const char*>(mac->data()), mac->size());
}

ClusterMembership::ClusterMembership(ClusterConfig cfg, store::AsyncStore& store,
                                     TimerService& timers)
    : cfg_(std::move(cfg)),
      vouching_(cluster_key(cfg_.secret, "vouch")),
      store_(store),
      timers_(timers),
      errors_(SIPWS_COUNTER("cluster_heartbeat_errors")) {}

ClusterMembership::~ClusterMembership() { timers_.cancel(timer_); }

void ClusterMembership::start() {
  beat();
  log::registrar().info("cluster: node {} at {}", cfg_.node, cfg_.address);
}

void ClusterMembership::beat() {
  timer_ = timers_.schedule(kBeatInterval, [this] { beat(); });
  if (in_flight_) return;  // the store is slow: never queue heartbeats behind each other
  in_flight_ = true;
  auto rows = std::make_shared<std::vector<store::NodeRecord>>();
  store_.run(
      "cluster heartbeat",
      [rows, node = cfg_.node, address = cfg_.address](store::Store& s) {
        s.heartbeat(node, address);
        *rows = s.list_nodes();
      },
      [this, rows](std::error_code ec) {
        in_flight_ = false;
        if (ec) {
          errors_.inc();  // logged by the store; the other nodes will see this one stop
          return;
        }
        update(*rows);
      });
}

void ClusterMembership::update(const std::vector<store::NodeRecord>& rows) {
  const TimePoint now = timers_.now();
  std::lock_guard lock(mu_);
  for (const auto& r : rows) {
    if (r.node == cfg_.node) continue;
    auto [it, fresh] = nodes_.try_emplace(r.node);
    Node& n = it->second;
    if (fresh || n.beat != r.beat) {
      if (!fresh && !alive_locked(n, now)) {
        log::registrar().info("cluster: node {} at {} is back", r.node, r.address);
      } else if (fresh) {
        log::registrar().info("cluster: node {} at {}", r.node, r.address);
      }
      n.beat = r.beat;
      n.changed_at = now;
    }
    if (n.address != r.address) {
      n.address = r.address;
      n.endpoint = cluster_endpoint(r.address);
    }
  }
}

bool ClusterMembership::alive_locked(const Node& n, TimePoint now) {
  return now - n.changed_at < kDeadAfter;
}

bool ClusterMembership::alive(std::string_view node) const {
  if (node == cfg_.node) return true;
  const TimePoint now = timers_.now();
  std::lock_guard lock(mu_);
  const auto it = nodes_.find(node);
  return it != nodes_.end() && alive_locked(it->second, now);
}

std::string ClusterMembership::address_of(std::string_view node) const {
  if (node == cfg_.node) return cfg_.address;
  std::lock_guard lock(mu_);
  const auto it = nodes_.find(node);
  return it == nodes_.end() ? std::string() : it->second.address;
}

std::string ClusterMembership::vouching_mac(std::string_view node, std::string_view t,
                                            const sip::Message& req) const {
  const sip::Header* cseq = req.find(sip::HeaderId::CSeq);
  const auto mac = vouching_.mac({node, "\n", t, "\n", req.call_id(), "\n",
                                  cseq != nullptr ? std::string_view(cseq->value) : "", "\n",
                                  req.request_uri().raw});
  return mac ? text::hex_encode(mac->data(), mac->size()) : std::string();
}

void ClusterMembership::vouch(sip::Message& req) const {
  const std::string t = std::to_string(timers_.unix_time());
  req.remove_all(kClusterHeader);
  req.append(std::string(kClusterHeader),
             cfg_.node + ";t=" + t + ";sig=" + vouching_mac(cfg_.node, t, req));
}

std::optional<std::string> ClusterMembership::vouched_by(sip::Message& req) const {
  const sip::Header* h = req.find(kClusterHeader);
  if (h == nullptr) return std::nullopt;
  const std::string value(h->value);
  req.remove_all(kClusterHeader);
  // NODE;t=UNIX;sig=HEX, exactly as vouch() writes it.
  const auto t_at = value.find(";t=");
  const auto sig_at = value.find(";sig=");
  if (t_at == std::string::npos || sig_at == std::string::npos || sig_at < t_at) {
    return std::nullopt;
  }
  const std::string node = value.substr(0, t_at);
  const std::string t = value.substr(t_at + 3, sig_at - t_at - 3);
  const std::string sig = value.substr(sig_at + 5);
  std::int64_t when = 0;
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), when);
  if (ec != std::errc() || end != t.data() + t.size()) return std::nullopt;
  const std::int64_t skew = when - timers_.unix_time();
  if (skew > kMaxSkew || skew < -kMaxSkew || node.empty() || node == cfg_.node) {
    return std::nullopt;
  }
  const std::string want = vouching_mac(node, t, req);
  if (want.empty() || want.size() != sig.size() ||
      CRYPTO_memcmp(want.data(), sig.data(), sig.size()) != 0) {
    return std::nullopt;
  }
  return node;
}

std::size_t ClusterMembership::alive_count() const {
  const TimePoint now = timers_.now();
  std::lock_guard lock(mu_);
  std::size_t n = 1;
  for (const auto& [id, node] : nodes_) n += alive_locked(node, now) ? 1 : 0;
  return n;
}

std::optional<Endpoint> cluster_endpoint(std::string_view address) {
  const auto uri = sip::parse_uri(address);
  if (!uri || !uri->is_sip()) return std::nullopt;
  auto ip = parse_ip(uri->host);
  if (!ip) return std::nullopt;
  return Endpoint{unmapped(*ip), uri->port != 0 ? uri->port : std::uint16_t{5060}};
}

std::string cluster_route(std::string_view address, const Binding& b) {
  std::string_view rest = address;
  if (rest.substr(0, 4) == "sip:") rest.remove_prefix(4);
  std::string v = "<sip:";
  if (b.direct && b.source.flow != kNoFlow) {
    v += proxy::flow_token_user(b.source.flow);
    v += '@';
  }
  v += rest;
  v += ";lr>";
  return v;
}

ClusterLookupProcessor::ClusterLookupProcessor(const proxy::Domains& domains,
                                               const ClusterMembership& cluster,
                                               const LocationService& location,
                                               store::AsyncStore& store)
    : domains_(domains),
      cluster_(cluster),
      location_(location),
      store_(store),
      remote_(SIPWS_COUNTER("cluster_lookup_remote")),
      dead_(SIPWS_COUNTER("cluster_lookup_dead_node")) {}

Action ClusterLookupProcessor::process(proxy::RequestContext& ctx) {
  const sip::Message& req = ctx.request();
  // The requests location-lookup looks up (see there), GRUUs aside (they name one instance,
  // found by the node that issued them).
  if (req.method() == sip::Method::Register || req.method() == sip::Method::Ack ||
      req.method() == sip::Method::Cancel) {
    return Action::Continue;
  }
  if (req.count(sip::HeaderId::Route) > 0) return Action::Continue;
  const sip::Uri& ruri = req.request_uri();
  if (!ruri.is_sip() || ruri.user.empty() || ruri.param("gr") != nullptr) {
    return Action::Continue;
  }
  const auto local = domains_.local_aor(ruri);
  if (!local || local->back() == '@') return Action::Continue;

  struct State {
    bool paused = false;
    std::optional<Action> result;
  };
  auto state = std::make_shared<State>();
  auto resume = ctx.pause_handle();
  // `ctx` stays valid while the chain is paused (the core keeps paused contexts alive).
  auto answer = [this, &ctx,
                 aor = *local](const store::Result<std::vector<store::BindingRecord>>& r) {
    if (!r) {
      // The other nodes' bindings are unknown: the local ones may still be rung.
      if (location_.has_bindings(aor)) return Action::Continue;
      ctx.respond_store_unavailable();
      return Action::Respond;
    }
    const std::int64_t unix_now = location_.timers().unix_time();
    std::size_t added = 0, dead = 0;
    for (const auto& b : *r) {
      if (b.node.empty() || b.node == cluster_.node() || b.expires_at <= unix_now) continue;
      if (!cluster_.alive(b.node)) {
        ++dead;
        continue;
      }
      proxy::Target t;
      t.uri = b.contact;
      t.before_send = [cluster = &cluster_](sip::Message& m, const ListenPoint&) {
        cluster->vouch(m);
      };
      if (!b.route.empty()) t.route.push_back(b.route);
      for (auto p : sip::split_list(b.path)) t.route.emplace_back(p);
      t.q = b.q;
      ctx.targets().push_back(std::move(t));
      ++added;
    }
    remote_.inc(added);
    if (added == 0 && dead > 0 && !location_.has_bindings(aor)) {
      dead_.inc();
      log::registrar().debug("cluster: {}: its bindings are on nodes that stopped", aor);
      ctx.respond(480, "Temporarily Unavailable");
      return Action::Respond;
    }
    return Action::Continue;
  };
  store_.find_bindings(
      *local, [state, resume, answer](const store::Result<std::vector<store::BindingRecord>>& r) {
        const Action a = answer(r);
        if (!state->paused) {
          state->result = a;
          return;
        }
        if (resume) resume(a);
      });
  if (state->result) return *state->result;
  state->paused = true;
  return Action::Pause;
}

}  // namespace sipws::registrar
