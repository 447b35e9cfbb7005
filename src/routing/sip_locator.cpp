#include "routing/sip_locator.hpp"

#include <algorithm>
#include <memory>
#include <random>

#include "common/net.hpp"
#include "common/text.hpp"
#include "proxy/routing.hpp"

namespace sipws::routing {
namespace {

using text::iequal;

/// The address of `host` if it is an IP literal ("192.0.2.1", "[2001:db8::1]").
std::optional<IpAddress> ip_literal(std::string_view host) {
  return parse_ip(proxy::unbracket(host));
}

bool has(const std::vector<Protocol>& v, Protocol p) {
  return std::find(v.begin(), v.end(), p) != v.end();
}

/// A transport, a host name and a port: what is left to resolve to addresses.
struct Hop {
  Protocol protocol = Protocol::Udp;
  std::string host;
  std::uint16_t port = 0;
};

}  // namespace

std::optional<Protocol> protocol_of_service(std::string_view service) {
  if (iequal(service, "SIP+D2U")) return Protocol::Udp;
  if (iequal(service, "SIP+D2T")) return Protocol::Tcp;
  if (iequal(service, "SIPS+D2T")) return Protocol::Tls;
  if (iequal(service, "SIP+D2W")) return Protocol::Ws;
  if (iequal(service, "SIPS+D2W")) return Protocol::Wss;
  return std::nullopt;
}

std::string srv_name(Protocol protocol, std::string_view domain) {
  std::string n;
  switch (protocol) {
    case Protocol::Udp:
      n = "_sip._udp.";
      break;
    case Protocol::Tcp:
      n = "_sip._tcp.";
      break;
    case Protocol::Tls:
      n = "_sips._tcp.";
      break;
    case Protocol::Ws:
      n = "_sip._ws.";
      break;
    case Protocol::Wss:
      n = "_sips._ws.";
      break;
  }
  n += domain;
  return n;
}

std::vector<NaptrChoice> usable_naptr(std::vector<NaptrRecord> records, bool secure,
                                      const std::vector<Protocol>& supported) {
  std::stable_sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return a.order != b.order ? a.order < b.order : a.preference < b.preference;
  });
  std::vector<NaptrChoice> out;
  for (const auto& r : records) {
    if (!iequal(r.flags, "s") || !r.regexp.empty()) continue;
    if (r.replacement.empty() || r.replacement == ".") continue;
    auto p = protocol_of_service(r.service);
    if (!p || !has(supported, *p)) continue;
    if (secure && !is_secure(*p)) continue;  // s.4.1: a SIPS URI discards non-SIPS services
    out.push_back({*p, r.replacement});
  }
  return out;
}

std::vector<SrvRecord> order_srv(std::vector<SrvRecord> records, const RandomInt& random) {
  std::erase_if(records, [](const SrvRecord& r) { return r.target.empty() || r.target == "."; });
  std::stable_sort(records.begin(), records.end(),
                   [](const auto& a, const auto& b) { return a.priority < b.priority; });
  std::vector<SrvRecord> out;
  out.reserve(records.size());
  for (auto first = records.begin(); first != records.end();) {
    auto last = std::find_if(first, records.end(),
                             [p = first->priority](const auto& r) { return r.priority != p; });
    std::vector<SrvRecord> group(first, last);
    std::stable_partition(group.begin(), group.end(),
                          [](const SrvRecord& r) { return r.weight == 0; });
    while (!group.empty()) {
      std::uint32_t sum = 0;
      for (const auto& r : group) sum += r.weight;
      const std::uint32_t pick = sum == 0 ? 0 : std::min(random(sum), sum);
      std::uint32_t running = 0;
      auto chosen = group.begin();
      for (auto it = group.begin(); it != group.end(); ++it) {
        running += it->weight;
        if (running >= pick) {
          chosen = it;
          break;
        }
      }
      out.push_back(std::move(*chosen));
      group.erase(chosen);
    }
    first = last;
  }
  return out;
}

/// One locate() call: NAPTR -> SRV (in parallel) -> A/AAAA (in parallel) -> done.
struct SipLocator::Job : std::enable_shared_from_this<SipLocator::Job> {
  Job(DnsLookup& d, const LocatorConfig& c, std::string dom, bool sec,
      std::function<void(std::vector<Destination>)> cb)
      : dns(d), cfg(c), domain(std::move(dom)), secure(sec), done(std::move(cb)) {}

  DnsLookup& dns;
  const LocatorConfig& cfg;
  std::string domain;
  bool secure;
  std::function<void(std::vector<Destination>)> done;

  std::vector<NaptrChoice> services;
  std::vector<DnsAnswer<SrvRecord>> srv_answers;
  Hop fallback;
  std::vector<Hop> hops;
  std::vector<std::string> names;  ///< distinct host names of `hops`
  std::vector<DnsAnswer<IpAddress>> addr_answers;
  std::size_t waiting = 0;

  /// The transport to use when DNS names none (s.4.1): UDP for sip (TCP if sipws has no UDP),
  /// TLS for sips.
  Protocol default_protocol() const {
    if (secure) return Protocol::Tls;
    if (has(cfg.transports, Protocol::Udp) || !has(cfg.transports, Protocol::Tcp)) {
      return Protocol::Udp;
    }
    return Protocol::Tcp;
  }

  void start_naptr() {
    dns.naptr(domain,
              [self = shared_from_this()](const DnsAnswer<NaptrRecord>& a) { self->on_naptr(a); });
  }

  void on_naptr(const DnsAnswer<NaptrRecord>& a) {
    std::vector<NaptrChoice> chosen;
    if (a.status == DnsStatus::Ok) chosen = usable_naptr(a.records, secure, cfg.transports);
    if (!chosen.empty()) {
      const Protocol p = chosen.front().protocol;
      start_srv(std::move(chosen), Hop{p, domain, proxy::default_port(p)});
      return;
    }
    // No usable NAPTR: one SRV query per transport sipws can use (s.4.1).
    for (Protocol p : cfg.transports) {
      if (secure && !is_secure(p)) continue;
      chosen.push_back({p, srv_name(p, domain)});
    }
    const Protocol p = default_protocol();
    start_srv(std::move(chosen), Hop{p, domain, proxy::default_port(p)});
  }

  void start_srv(std::vector<NaptrChoice> choices, Hop fb) {
    services = std::move(choices);
    fallback = std::move(fb);
    if (services.empty()) {
      start_addresses({fallback});
      return;
    }
    srv_answers.assign(services.size(), {});
    waiting = services.size();
    for (std::size_t i = 0; i < services.size(); ++i) {
      dns.srv(services[i].srv, [self = shared_from_this(), i](const DnsAnswer<SrvRecord>& a) {
        self->srv_answers[i] = a;
        if (--self->waiting == 0) self->on_srvs();
      });
    }
  }

  void on_srvs() {
    std::vector<Hop> found;
    for (std::size_t i = 0; i < services.size(); ++i) {
      if (srv_answers[i].status != DnsStatus::Ok) continue;
      for (auto& r : order_srv(srv_answers[i].records, cfg.random)) {
        found.push_back(Hop{services[i].protocol, std::move(r.target), r.port});
      }
    }
    // s.4.2: no SRV record => A/AAAA of the domain itself.
    if (found.empty()) found.push_back(fallback);
    start_addresses(std::move(found));
  }

  void start_addresses(std::vector<Hop> h) {
    hops = std::move(h);
    for (const auto& hop : hops) {
      if (ip_literal(hop.host)) continue;
      if (std::find(names.begin(), names.end(), hop.host) == names.end()) names.push_back(hop.host);
    }
    if (names.empty()) {
      auto self = shared_from_this();
      dns.post([self]() { self->finish(); });
      return;
    }
    addr_answers.assign(names.size(), {});
    waiting = names.size();
    for (std::size_t i = 0; i < names.size(); ++i) {
      dns.addresses(names[i], [self = shared_from_this(), i](const DnsAnswer<IpAddress>& a) {
        self->addr_answers[i] = a;
        if (--self->waiting == 0) self->finish();
      });
    }
  }

  void finish() {
    std::vector<Destination> out;
    auto add = [&](const Hop& hop, const IpAddress& a) {
      if (out.size() >= cfg.max_destinations) return;
      Destination d;
      d.protocol = hop.protocol;
      d.endpoint = Endpoint{a, hop.port};
      if (!ip_literal(domain)) d.host = domain;
      for (const auto& o : out) {
        if (o.protocol == d.protocol && o.endpoint == d.endpoint) return;  // listed already
      }
      out.push_back(std::move(d));
    };
    for (const auto& hop : hops) {
      if (auto lit = ip_literal(hop.host)) {
        add(hop, *lit);
        continue;
      }
      const auto i =
          static_cast<std::size_t>(std::find(names.begin(), names.end(), hop.host) - names.begin());
      if (i >= addr_answers.size() || addr_answers[i].status != DnsStatus::Ok) continue;
      for (const auto& a : addr_answers[i].records) add(hop, a);
    }
    auto cb = std::move(done);
    cb(std::move(out));
  }
};

SipLocator::SipLocator(DnsLookup& dns, LocatorConfig cfg) : dns_(dns), cfg_(std::move(cfg)) {
  if (!cfg_.random) {
    auto gen = std::make_shared<std::mt19937>(std::random_device{}());
    cfg_.random = [gen](std::uint32_t max) {
      return std::uniform_int_distribution<std::uint32_t>(0, max)(*gen);
    };
  }
  if (cfg_.max_destinations == 0) cfg_.max_destinations = 1;
}

void SipLocator::resolve(const std::string& host,
                         std::function<void(std::optional<IpAddress>)> done) {
  if (auto lit = ip_literal(host)) {
    dns_.post([a = *lit, done = std::move(done)]() { done(a); });
    return;
  }
  if (host.empty()) {
    dns_.post([done = std::move(done)]() { done(std::nullopt); });
    return;
  }
  dns_.addresses(host, [done = std::move(done)](const DnsAnswer<IpAddress>& a) {
    if (a.status != DnsStatus::Ok || a.records.empty()) return done(std::nullopt);
    done(a.records.front());
  });
}

void SipLocator::locate(const sip::Uri& target, bool secure,
                        std::function<void(std::vector<Destination>)> done) {
  auto fail = [this, &done]() { dns_.post([done = std::move(done)]() { done({}); }); };
  if (!target.is_sip()) return fail();
  secure = secure || target.scheme == sip::Scheme::Sips;
  std::string_view host = target.host;
  if (const auto* m = target.param("maddr"); m && m->has_value && !m->value.empty()) {
    host = m->value;
  }
  host = proxy::unbracket(host);
  if (host.empty()) return fail();

  std::optional<Protocol> explicit_proto;
  if (auto t = target.transport(); !t.empty()) {
    explicit_proto = protocol_from_string(t);
    if (!explicit_proto) return fail();  // a transport sipws does not know (sctp...)
    if (secure) {
      if (*explicit_proto == Protocol::Tcp) explicit_proto = Protocol::Tls;
      if (*explicit_proto == Protocol::Ws) explicit_proto = Protocol::Wss;
      if (*explicit_proto == Protocol::Udp) return fail();  // no TLS over UDP
    }
  }
  const Protocol plain = explicit_proto.value_or(secure ? Protocol::Tls : Protocol::Udp);

  auto job = std::make_shared<Job>(dns_, cfg_, std::string(host), secure, std::move(done));
  if (ip_literal(host)) {
    // s.4.1 / 4.2: a numeric host needs no DNS.
    const std::uint16_t port = target.port != 0 ? target.port : proxy::default_port(plain);
    job->start_addresses({Hop{plain, job->domain, port}});
    return;
  }
  if (target.port != 0) {
    job->start_addresses({Hop{plain, job->domain, target.port}});
    return;
  }
  if (explicit_proto) {
    job->start_srv({NaptrChoice{*explicit_proto, srv_name(*explicit_proto, job->domain)}},
                   Hop{*explicit_proto, job->domain, proxy::default_port(*explicit_proto)});
    return;
  }
  job->start_naptr();
}

}  // namespace sipws::routing
