#include "auth/relay_policy.hpp"

#include "common/log.hpp"
#include "sip/headers.hpp"
#include "sip/message.hpp"

namespace sipws::auth {

using proxy::Action;
using sip::HeaderId;
using sip::Method;

RelayPolicyProcessor::RelayPolicyProcessor(const proxy::Domains& domains,
                                           const Reloadable<RelayPolicyConfig>& config)
    : domains_(domains),
      config_(config),
      denied_(SIPWS_COUNTER("relay_denied")),
      register_foreign_(SIPWS_COUNTER("relay_register_foreign")),
      trusted_(SIPWS_COUNTER("relay_trusted")) {}

bool RelayPolicyProcessor::target_is_local(const sip::Message& req) const {
  if (const sip::Header* r = req.find(HeaderId::Route)) {
    auto na = sip::parse_name_addr(r->value);
    return na && na->uri.is_sip() && domains_.is_self(na->uri.host, na->uri.port);
  }
  const sip::Uri& ruri = req.request_uri();
  if (ruri.scheme == sip::Scheme::Tel) return true;
  return ruri.is_sip() && domains_.is_self(ruri.host, ruri.port);
}

Action RelayPolicyProcessor::process(proxy::RequestContext& ctx) {
  const sip::Message& req = ctx.request();
  const Method m = req.method();
  if (m == Method::Ack || m == Method::Cancel) return Action::Continue;
  const std::shared_ptr<RelayPolicyConfig> cfg = config_.get();

  if (m == Method::Register) {
    const sip::Uri& ruri = req.request_uri();
    const sip::Uri& to = req.to().uri;
    // Our registrar's: the Request-URI names sipws (a local domain, or an address of ours with
    // one of our ports) and the AOR is in a local domain (RFC 3261 s.10.3 step 1).
    const bool ours = ruri.is_sip() && domains_.is_self(ruri.host, ruri.port) && to.is_sip() &&
                      domains_.is_local_domain(to.host);
    if (!ours || req.count(HeaderId::Route) > 0) {
      register_foreign_.inc();
      ctx.respond(403, "Domain Not Served");
      return Action::Respond;
    }
  }

  if (cluster_peer_) {
    if (auto node = cluster_peer_(ctx.request())) {
      trusted_.inc();
      ctx.set_trusted_peer("cluster node " + *node, true);
      return Action::Continue;
    }
  }
  const bool local_target = target_is_local(req);
  if (const TrustedPeer* peer = cfg->trusted_peers.match(ctx.source(), req)) {
    trusted_.inc();
    ctx.set_trusted_peer(peer->name.empty() ? peer->source.to_string() : peer->name, peer->relay);
    if (!local_target && !peer->relay && !cfg->open) {
      denied_.inc();
      ctx.respond(403, "Relaying denied");
      return Action::Respond;
    }
    return Action::Continue;
  }
  if (cfg->open) {
    ctx.set_open_relay();
    return Action::Continue;
  }
  if (m == Method::Register) return Action::Continue;

  const sip::Uri& from = req.from().uri;
  if (from.is_sip() && domains_.is_local_domain(from.host)) return Action::Continue;
  if (!ctx.identity().empty()) return Action::Continue;
  if (!local_target) {
    denied_.inc();
    log::auth().debug("relay-policy: {} from {} ({}) to {}: relaying denied", req.method_name(),
                      from.raw, ctx.source().peer.to_string(), req.request_uri().raw);
    ctx.respond(403, "Relaying denied");
    return Action::Respond;
  }
  if (cfg->foreign_callers == ForeignCallers::Allow) return Action::Continue;
  const sip::Uri& ruri = req.request_uri();
  ctx.require_auth(ruri.is_sip() ? domains_.local_domain_of(ruri.host)
                                 : domains_.local_domain_of(domains_.primary()));
  return Action::Continue;
}

}  // namespace sipws::auth
