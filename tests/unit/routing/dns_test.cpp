// DnsClient and SipLocator against a real DNS server (dnsmasq on 127.0.0.1, a free high port):
// RFC 3263 NAPTR / SRV / A selection, RFC 7118 D2W, the TTL cache and negative caching.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <optional>

#include "dnsmasq.hpp"
#include "routing/dns.hpp"
#include "routing/sip_locator.hpp"
#include "sip/uri.hpp"

namespace sipws::routing {
namespace {

using namespace std::chrono_literals;
using test::Dnsmasq;

const std::vector<std::string> kZone = {
    // NAPTR: TLS (order 10, pref 10), TCP (10, 20), UDP (20); SCTP is ignored.
    "--naptr-record=naptr.sipws.test,20,10,s,SIP+D2U,,_sip._udp.naptr.sipws.test",
    "--naptr-record=naptr.sipws.test,10,20,s,SIP+D2T,,_sip._tcp.naptr.sipws.test",
    "--naptr-record=naptr.sipws.test,10,10,s,SIPS+D2T,,_sips._tcp.naptr.sipws.test",
    "--naptr-record=naptr.sipws.test,5,10,s,SIP+D2S,,_sip._sctp.naptr.sipws.test",
    "--srv-host=_sips._tcp.naptr.sipws.test,tls.naptr.sipws.test,5061,10,0",
    "--srv-host=_sip._tcp.naptr.sipws.test,tcp.naptr.sipws.test,5070,10,0",
    "--srv-host=_sip._udp.naptr.sipws.test,udp.naptr.sipws.test,5080,10,0",
    "--host-record=tls.naptr.sipws.test,127.0.0.11",
    "--host-record=tcp.naptr.sipws.test,127.0.0.12",
    "--host-record=udp.naptr.sipws.test,127.0.0.13",
    // RFC 7118 s.7: WebSocket services.
    "--naptr-record=ws.sipws.test,10,10,s,SIPS+D2W,,_sips._ws.ws.sipws.test",
    "--naptr-record=ws.sipws.test,20,10,s,SIP+D2W,,_sip._ws.ws.sipws.test",
    "--srv-host=_sips._ws.ws.sipws.test,wss.ws.sipws.test,443,10,0",
    "--srv-host=_sip._ws.ws.sipws.test,wss.ws.sipws.test,8080,10,0",
    "--host-record=wss.ws.sipws.test,127.0.0.21",
    // No NAPTR: SRV per transport; UDP has two priorities, TCP one record.
    "--srv-host=_sip._udp.srv.sipws.test,first.srv.sipws.test,5001,10,0",
    "--srv-host=_sip._udp.srv.sipws.test,second.srv.sipws.test,5002,20,0",
    "--srv-host=_sip._tcp.srv.sipws.test,first.srv.sipws.test,5010,10,0",
    "--host-record=first.srv.sipws.test,127.0.0.31",
    "--host-record=second.srv.sipws.test,127.0.0.32",
    // Neither NAPTR nor SRV: A only.
    "--host-record=plain.sipws.test,127.0.0.41",
};

/// A fake clock for the cache, moved by hand.
struct FakeClock {
  std::chrono::steady_clock::time_point t = std::chrono::steady_clock::now();
  std::function<std::chrono::steady_clock::time_point()> fn() {
    return [this] { return t; };
  }
};

class DnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_dnsmasq()) GTEST_SKIP() << "dnsmasq not installed (dnsmasq-base)";
    server_ = std::make_unique<Dnsmasq>("sipws.test", kZone, 60);
    ASSERT_TRUE(server_->running()) << "dnsmasq did not start";
    DnsConfig cfg;
    cfg.servers = {server_->server()};
    cfg.min_ttl = 1s;
    cfg.max_ttl = 3600s;
    cfg.negative_ttl = 30s;
    cfg.timeout = 300ms;
    cfg.tries = 1;
    cfg.now = clock_.fn();
    dns_ = std::make_unique<DnsClient>(io_, cfg);
    make_locator(LocatorConfig{});
  }

  void make_locator(LocatorConfig lc) {
    lc.random = [](std::uint32_t) { return 0u; };
    locator_ = std::make_unique<SipLocator>(*dns_, std::move(lc));
  }

  template <class T>
  T wait_for(std::optional<T>& slot) {
    const auto end = std::chrono::steady_clock::now() + 5s;
    while (!slot && std::chrono::steady_clock::now() < end) {
      io_.restart();
      io_.run_for(5ms);
    }
    EXPECT_TRUE(slot.has_value()) << "no answer within 5 s";
    return slot.value_or(T{});
  }

  std::vector<Destination> locate(const std::string& text, bool secure = false) {
    auto uri = sip::parse_uri(text);
    EXPECT_TRUE(uri) << text;
    if (!uri) return {};
    std::optional<std::vector<Destination>> got;
    locator_->locate(*uri, secure, [&](std::vector<Destination> d) { got = std::move(d); });
    EXPECT_FALSE(got) << "answered inside the call";
    return wait_for(got);
  }

  DnsAnswer<IpAddress> addresses(const std::string& host) {
    std::optional<DnsAnswer<IpAddress>> got;
    dns_->addresses(host, [&](const DnsAnswer<IpAddress>& a) { got = a; });
    return wait_for(got);
  }

  boost::asio::io_context io_;
  FakeClock clock_;
  std::unique_ptr<Dnsmasq> server_;
  std::unique_ptr<DnsClient> dns_;
  std::unique_ptr<SipLocator> locator_;
};

/// "tls 127.0.0.1:5061" for compact comparisons.
std::vector<std::string> show(const std::vector<Destination>& ds) {
  std::vector<std::string> out;
  for (const auto& d : ds) {
    out.push_back(std::string(lower_name(d.protocol)) + " " + d.endpoint.to_string());
  }
  return out;
}

using Strings = std::vector<std::string>;

TEST_F(DnsTest, NaptrOrderAndPreferenceThenSrvThenA) {
  const auto ds = locate("sip:alice@naptr.sipws.test");
  EXPECT_EQ(show(ds),
            (Strings{"tls 127.0.0.11:5061", "tcp 127.0.0.12:5070", "udp 127.0.0.13:5080"}));
  ASSERT_FALSE(ds.empty());
  EXPECT_EQ(ds[0].host, "naptr.sipws.test");  // the URI's domain, for TLS identity
}

TEST_F(DnsTest, SipsUsesOnlySecureServices) {
  EXPECT_EQ(show(locate("sips:alice@naptr.sipws.test")), (Strings{"tls 127.0.0.11:5061"}));
  // A sip: URI in a sips Request-URI's request is located as secure too.
  EXPECT_EQ(show(locate("sip:alice@naptr.sipws.test", true)), (Strings{"tls 127.0.0.11:5061"}));
  // Without NAPTR or SRV, sips falls back to TLS on 5061.
  EXPECT_EQ(show(locate("sips:plain.sipws.test")), (Strings{"tls 127.0.0.41:5061"}));
}

TEST_F(DnsTest, NaptrSkipsTransportsWithoutListener) {
  LocatorConfig lc;
  lc.transports = {Protocol::Udp, Protocol::Tcp};
  make_locator(lc);
  EXPECT_EQ(show(locate("sip:naptr.sipws.test")),
            (Strings{"tcp 127.0.0.12:5070", "udp 127.0.0.13:5080"}));
}

TEST_F(DnsTest, WebSocketNaptrD2wAndDefaultPorts) {
  EXPECT_EQ(show(locate("sip:ws.sipws.test")),
            (Strings{"wss 127.0.0.21:443", "ws 127.0.0.21:8080"}));
  EXPECT_EQ(show(locate("sips:ws.sipws.test")), (Strings{"wss 127.0.0.21:443"}));
  // transport=wss without SRV: A record, default port 443 (RFC 7118 s.5.2); ws: 80.
  EXPECT_EQ(show(locate("sip:plain.sipws.test;transport=wss")), (Strings{"wss 127.0.0.41:443"}));
  EXPECT_EQ(show(locate("sip:plain.sipws.test;transport=ws")), (Strings{"ws 127.0.0.41:80"}));
  // transport=ws with SRV _sip._ws.
  EXPECT_EQ(show(locate("sip:ws.sipws.test;transport=ws")), (Strings{"ws 127.0.0.21:8080"}));
}

TEST_F(DnsTest, NoNaptrSrvPerTransportInPriorityOrder) {
  EXPECT_EQ(show(locate("sip:bob@srv.sipws.test")),
            (Strings{"udp 127.0.0.31:5001", "udp 127.0.0.32:5002", "tcp 127.0.0.31:5010"}));
  // transport=tcp: only _sip._tcp.
  EXPECT_EQ(show(locate("sip:bob@srv.sipws.test;transport=tcp")), (Strings{"tcp 127.0.0.31:5010"}));
}

TEST_F(DnsTest, NoNaptrNoSrvFallsBackToAWithUdp) {
  EXPECT_EQ(show(locate("sip:plain.sipws.test")), (Strings{"udp 127.0.0.41:5060"}));
  EXPECT_EQ(show(locate("sip:plain.sipws.test;transport=tcp")), (Strings{"tcp 127.0.0.41:5060"}));
  EXPECT_EQ(show(locate("sip:plain.sipws.test;transport=tls")), (Strings{"tls 127.0.0.41:5061"}));
}

TEST_F(DnsTest, ExplicitPortAsksOnlyForAddresses) {
  const auto before = dns_->queries_sent();
  EXPECT_EQ(show(locate("sip:naptr.sipws.test:5099;transport=tcp")), Strings{});  // no A record
  EXPECT_EQ(show(locate("sip:plain.sipws.test:5099;transport=tcp")),
            (Strings{"tcp 127.0.0.41:5099"}));
  EXPECT_EQ(dns_->queries_sent() - before, 2u);  // one A/AAAA lookup each, no NAPTR/SRV
}

TEST_F(DnsTest, IpLiteralNeedsNoQuery) {
  const auto before = dns_->queries_sent();
  EXPECT_EQ(show(locate("sip:127.0.0.5")), (Strings{"udp 127.0.0.5:5060"}));
  EXPECT_EQ(show(locate("sips:127.0.0.5")), (Strings{"tls 127.0.0.5:5061"}));
  EXPECT_EQ(show(locate("sip:[::1]:5070;transport=tcp")), (Strings{"tcp [::1]:5070"}));
  EXPECT_EQ(show(locate("sip:x@plain.sipws.test;maddr=127.0.0.6")),
            (Strings{"udp 127.0.0.6:5060"}));
  EXPECT_EQ(dns_->queries_sent(), before);
  const auto ds = locate("sip:127.0.0.5");
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_TRUE(ds[0].host.empty());
}

TEST_F(DnsTest, SipsOverUdpAndUnknownTransportsFindNothing) {
  EXPECT_TRUE(locate("sips:plain.sipws.test;transport=udp").empty());
  EXPECT_TRUE(locate("sip:plain.sipws.test;transport=sctp").empty());
}

TEST_F(DnsTest, NxdomainIsEmptyAndCachedNegatively) {
  EXPECT_TRUE(locate("sip:nobody@nope.sipws.test").empty());
  const auto a = addresses("nope.sipws.test");
  EXPECT_EQ(a.status, DnsStatus::NotFound);
  const auto sent = dns_->queries_sent();
  server_->stop();
  // Within negative_ttl the same lookups are answered from the cache: no query, same result.
  EXPECT_TRUE(locate("sip:nobody@nope.sipws.test").empty());
  EXPECT_EQ(addresses("nope.sipws.test").status, DnsStatus::NotFound);
  EXPECT_EQ(dns_->queries_sent(), sent);
  // After it, a query goes out again (and fails: the server is gone).
  clock_.t += 31s;
  EXPECT_EQ(addresses("nope.sipws.test").status, DnsStatus::Failed);
  EXPECT_EQ(dns_->queries_sent(), sent + 1);
}

TEST_F(DnsTest, SecondLookupWithinTtlSendsNoQueryEvenWithoutServer) {
  const auto first = locate("sip:naptr.sipws.test");
  const auto sent = dns_->queries_sent();
  EXPECT_EQ(sent, 7u);  // 1 NAPTR + 3 SRV + 3 address lookups
  server_->stop();
  clock_.t += 59s;  // dnsmasq's records carry TTL 60 (--local-ttl)
  EXPECT_EQ(show(locate("sip:naptr.sipws.test")), show(first));
  EXPECT_EQ(dns_->queries_sent(), sent);
  EXPECT_GE(dns_->cache_hits(), 7u);
  // Past the TTL the records are asked again; the server is gone, so nothing is found.
  clock_.t += 2s;
  EXPECT_TRUE(locate("sip:naptr.sipws.test").empty());
  EXPECT_GT(dns_->queries_sent(), sent);
}

TEST_F(DnsTest, MaxTtlCapsTheRecordTtl) {
  DnsConfig cfg;
  cfg.servers = {server_->server()};
  cfg.min_ttl = 1s;
  cfg.max_ttl = 10s;
  cfg.timeout = 300ms;
  cfg.tries = 1;
  cfg.now = clock_.fn();
  DnsClient capped(io_, cfg);
  std::optional<DnsAnswer<IpAddress>> got;
  capped.addresses("plain.sipws.test", [&](const DnsAnswer<IpAddress>& a) { got = a; });
  ASSERT_EQ(wait_for(got).status, DnsStatus::Ok);
  clock_.t += 11s;
  got.reset();
  capped.addresses("plain.sipws.test", [&](const DnsAnswer<IpAddress>& a) { got = a; });
  EXPECT_EQ(wait_for(got).status, DnsStatus::Ok);
  EXPECT_EQ(capped.queries_sent(), 2u);  // expired after 10 s although the TTL is 60
}

TEST_F(DnsTest, IdenticalLookupsInFlightShareOneQuery) {
  int answered = 0;
  std::optional<int> all;
  for (int i = 0; i < 3; ++i) {
    dns_->addresses("plain.sipws.test", [&](const DnsAnswer<IpAddress>& a) {
      EXPECT_EQ(a.status, DnsStatus::Ok);
      if (++answered == 3) all = answered;
    });
  }
  EXPECT_EQ(wait_for(all), 3);
  EXPECT_EQ(dns_->queries_sent(), 1u);
}

TEST_F(DnsTest, ResolveGivesOneAddress) {
  std::optional<std::optional<IpAddress>> got;
  locator_->resolve("plain.sipws.test", [&](std::optional<IpAddress> a) { got = a; });
  auto a = wait_for(got);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "127.0.0.41");
  got.reset();
  locator_->resolve("nope.sipws.test", [&](std::optional<IpAddress> a2) { got = a2; });
  EXPECT_FALSE(wait_for(got).has_value());
}

TEST_F(DnsTest, UnreachableServerFailsWithinTheTimeout) {
  server_->stop();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(addresses("plain.sipws.test").status, DnsStatus::Failed);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

}  // namespace
}  // namespace sipws::routing
