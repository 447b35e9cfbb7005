// LocationService on its own: update rules, expiry on a manual clock, q ordering, flows, and
// write-behind persistence into a real SQLite store restored by load().

#include <gtest/gtest.h>

#include "common/counters.hpp"
#include "registrar/location.hpp"
#include "registrar_test_util.hpp"
#include "store/store.hpp"

namespace sipws::registrar {
namespace {

using test::one;

const Source kUdp = test::source(Protocol::Udp, "192.0.2.1", 5062, kNoFlow);
const Source kTcp = test::source(Protocol::Tcp, "192.0.2.2", 40000, 4);
const Source kWs = test::source(Protocol::Ws, "192.0.2.3", 50000, 5);

TEST(LocationService, CountsIntoTheGivenRegistryAndDrawsTempGruusFromTheGivenSource) {
  ManualTimerService t;
  Counters mine;
  SeededTokens tokens(7);
  LocationService loc(t, nullptr, LocationService::kSweepInterval, Instruments{mine, tokens});
  const auto global_added = counters().get("registrar_bindings_added").value();
  auto u = one("a@x.org", "sip:a@192.0.2.1", 600, kUdp);
  u.contacts[0].instance = "<urn:uuid:a>";
  ASSERT_TRUE(loc.update(u).has_value());
  EXPECT_EQ(mine.get("registrar_bindings_added").value(), 1u);
  EXPECT_EQ(counters().get("registrar_bindings_added").value(), global_added);
  // The token: its partition in two digits, then 16 characters of the seeded source.
  const std::string token = loc.lookup("a@x.org").at(0).temp_gruu;
  ASSERT_EQ(token.size(), 18u);
  EXPECT_EQ(token.substr(2), SeededTokens(7).token(16));
  t.advance(std::chrono::seconds(601));
  EXPECT_EQ(mine.get("registrar_bindings_expired").value(), 1u);
}

TEST(LocationService, AorDomainIsCaseInsensitive) {
  ManualTimerService t;
  LocationService loc(t, nullptr);
  ASSERT_TRUE(loc.update(one("bob@Example.COM", "sip:bob@192.0.2.1", 600, kUdp)).has_value());
  EXPECT_EQ(loc.lookup("bob@example.com").size(), 1u);
  EXPECT_TRUE(loc.lookup("Bob@example.com").empty());  // the user part is case-sensitive
  EXPECT_TRUE(loc.known("bob@EXAMPLE.com"));
}

TEST(LocationService, ContactsCompareAsUris) {
  ManualTimerService t;
  LocationService loc(t, nullptr);
  ASSERT_TRUE(loc.update(one("bob@example.com", "sip:bob@HOST.example.com", 600, kUdp)));
  // Same URI, host case differs (RFC 3261 s.19.1.4): a refresh, not a second binding.
  ASSERT_TRUE(loc.update(one("bob@example.com", "sip:bob@host.example.com", 900, kUdp, "cid", 2)));
  auto b = loc.lookup("bob@example.com");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].expires_in(t.now()), 900u);
  EXPECT_TRUE(loc.remove("bob@example.com", "sip:bob@host.EXAMPLE.com"));
  EXPECT_EQ(loc.size(), 0u);
  EXPECT_FALSE(loc.remove("bob@example.com", "sip:bob@host.example.com"));
}

TEST(LocationService, QOrderThenNewestFirst) {
  ManualTimerService t;
  LocationService loc(t, nullptr);
  ASSERT_TRUE(loc.update(one("a@x.org", "sip:a@192.0.2.1", 600, kUdp, "c1", 1, 0.5f)));
  ASSERT_TRUE(loc.update(one("a@x.org", "sip:a@192.0.2.2", 600, kUdp, "c2", 1, 1.0f)));
  ASSERT_TRUE(loc.update(one("a@x.org", "sip:a@192.0.2.3", 600, kUdp, "c3", 1, 0.5f)));
  auto b = loc.lookup("a@x.org");
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].contact, "sip:a@192.0.2.2");
  EXPECT_EQ(b[1].contact, "sip:a@192.0.2.3");
  EXPECT_EQ(b[2].contact, "sip:a@192.0.2.1");
  EXPECT_EQ(loc.remove_all("a@x.org"), 3u);
  EXPECT_EQ(t.pending(), 1u);  // the expiry sweep only: no timer per binding
}

TEST(LocationService, SweepRemovesEachBindingOnTime) {
  ManualTimerService t;
  LocationService loc(t, nullptr);
  ASSERT_TRUE(loc.update(one("a@x.org", "sip:a@192.0.2.1", 60, kUdp, "c1")));
  ASSERT_TRUE(loc.update(one("a@x.org", "sip:a@192.0.2.2", 120, kUdp, "c2")));
  EXPECT_EQ(t.pending(), 1u);  // one sweep, however many bindings
  t.advance(Millis(60'000));
  auto b = loc.lookup("a@x.org");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].contact, "sip:a@192.0.2.2");
  t.advance(Millis(60'000));
  EXPECT_EQ(loc.size(), 0u);
  EXPECT_TRUE(loc.known("a@x.org"));
}

TEST(LocationService, ExpiredBindingIsNeverReturnedEvenBeforeTheSweep) {
  ManualTimerService t;
  LocationService loc(t, nullptr, Millis(3'600'000));  // no sweep during the test
  RegisterUpdate u = one("a@x.org", "sip:a@192.0.2.1", 60, kUdp, "c1");
  u.contacts[0].instance = "<urn:uuid:a>";
  ASSERT_TRUE(loc.update(u));
  ASSERT_TRUE(loc.update(one("a@x.org", "sip:a@192.0.2.2", 120, kUdp, "c2")));
  const auto before = loc.lookup("a@x.org");
  ASSERT_EQ(before.size(), 2u);
  const std::string token = before[1].temp_gruu;  // the older binding, with the instance
  ASSERT_FALSE(token.empty());
  ASSERT_TRUE(loc.find_temp_gruu(token).has_value());

  t.advance(Millis(60'000));                 // the first binding's expiry instant; no sweep has run
  EXPECT_EQ(loc.size(), 2u);                 // still held...
  const auto after = loc.lookup("a@x.org");  // ...but never returned
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].contact, "sip:a@192.0.2.2");
  std::vector<std::string> visited;
  loc.visit("a@x.org", [&](const Binding& b) { visited.push_back(b.contact); });
  EXPECT_EQ(visited, std::vector<std::string>{"sip:a@192.0.2.2"});
  EXPECT_FALSE(loc.find_instance("a@x.org", "<urn:uuid:a>").has_value());
  EXPECT_FALSE(loc.find_temp_gruu(token).has_value());
  EXPECT_FALSE(loc.remove("a@x.org", "sip:a@192.0.2.1"));  // gone as far as callers can tell

  t.advance(Millis(60'000));
  EXPECT_FALSE(loc.has_bindings("a@x.org"));
  EXPECT_TRUE(loc.lookup("a@x.org").empty());
  visited.clear();
  loc.visit("A@X.ORG", [&](const Binding& b) { visited.push_back(b.contact); });
  EXPECT_TRUE(visited.empty());
  EXPECT_TRUE(loc.known("a@x.org"));         // known stays true after expiry
  EXPECT_EQ(loc.remove_all("a@x.org"), 0u);  // nothing left that had not expired
  EXPECT_EQ(loc.size(), 0u);
}

TEST(LocationService, ExpiredButUnsweptBindingDoesNotBlockARegister) {
  ManualTimerService t;
  LocationService loc(t, nullptr, Millis(3'600'000));
  ASSERT_TRUE(loc.update(one("a@x.org", "sip:a@192.0.2.1", 60, kUdp, "cid", 5)));
  t.advance(Millis(61'000));
  // Same Call-ID and CSeq as the expired binding: a new registration, not "out of order"
  // (the expired binding is gone, as if swept at its expiry).
  auto r = loc.update(one("a@x.org", "sip:a@192.0.2.1", 60, kUdp, "cid", 5));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 1u);
  EXPECT_EQ(loc.size(), 1u);
  // Nor does it count against the limit of bindings per AOR.
  ASSERT_TRUE(loc.update(one("b@x.org", "sip:b@192.0.2.1", 60, kUdp, "b1")));
  t.advance(Millis(61'000));
  EXPECT_TRUE(loc.update(one("b@x.org", "sip:b@192.0.2.2", 60, kUdp, "b2"), 1).has_value());
  ASSERT_EQ(loc.lookup("b@x.org").size(), 1u);
  EXPECT_EQ(loc.lookup("b@x.org")[0].contact, "sip:b@192.0.2.2");
}

TEST(LocationService, LookupReturnsCopiesAndHasBindingsCountsDeadFlows) {
  ManualTimerService t;
  LocationService loc(t, nullptr);
  EXPECT_FALSE(loc.has_bindings("a@x.org"));
  RegisterUpdate u = one("a@x.org", "sip:a@192.0.2.2;transport=tcp", 600, kTcp, "c1");
  u.contacts[0].instance = "<urn:uuid:a>";
  u.contacts[0].reg_id = 1;
  ASSERT_TRUE(loc.update(u));
  auto copy = loc.lookup("a@x.org");
  ASSERT_EQ(copy.size(), 1u);
  loc.on_flow_closed(kTcp.flow);    // RFC 5626 s.5.3: kept, but its flow is dead
  EXPECT_FALSE(copy[0].flow_dead);  // a copy: the service's change does not show
  EXPECT_TRUE(loc.lookup("a@x.org")[0].flow_dead);
  EXPECT_TRUE(loc.has_bindings("a@x.org"));
  auto inst = loc.find_instance("a@x.org", "<urn:uuid:a>");
  ASSERT_TRUE(inst.has_value());
  EXPECT_TRUE(inst->flow_dead);
  EXPECT_EQ(inst->source.flow, kNoFlow);
}

TEST(LocationService, TempGruuTokensNameTheirPartition) {
  ManualTimerService t;
  LocationService loc(t, nullptr);
  std::vector<std::string> tokens;
  for (int i = 0; i < 50; ++i) {
    const std::string aor = "user" + std::to_string(i) + "@x.org";
    RegisterUpdate u = one(aor, "sip:u@192.0.2.1", 600, kUdp, "c" + std::to_string(i));
    u.contacts[0].instance = "<urn:uuid:" + std::to_string(i) + ">";
    ASSERT_TRUE(loc.update(u));
    tokens.push_back(loc.lookup(aor).at(0).temp_gruu);
  }
  for (int i = 0; i < 50; ++i) {
    auto b = loc.find_temp_gruu(tokens[i]);
    ASSERT_TRUE(b.has_value()) << tokens[i];
    EXPECT_EQ(b->aor, "user" + std::to_string(i) + "@x.org");
  }
  // Forged or foreign tokens are simply not found.
  EXPECT_FALSE(loc.find_temp_gruu("").has_value());
  EXPECT_FALSE(loc.find_temp_gruu("9").has_value());
  EXPECT_FALSE(loc.find_temp_gruu("99" + tokens[0].substr(2)).has_value());
  EXPECT_FALSE(loc.find_temp_gruu("xx" + tokens[0].substr(2)).has_value());
  std::string other = tokens[0];
  other.back() = other.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(loc.find_temp_gruu(other).has_value());
}

TEST(LocationService, FailedUpdateIsAtomic) {
  ManualTimerService t;
  LocationService loc(t, nullptr);
  ASSERT_TRUE(loc.update(one("a@x.org", "sip:a@192.0.2.1", 600, kUdp, "cid", 5)));
  // Two contacts: a new one and an out-of-order refresh of the existing one.
  RegisterUpdate u = one("a@x.org", "sip:a@192.0.2.9", 600, kUdp, "cid", 5);
  ContactUpdate c;
  c.contact = "sip:a@192.0.2.1";
  c.expires = 0;
  u.contacts.push_back(c);
  auto r = loc.update(u);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().status, 500);
  auto b = loc.lookup("a@x.org");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].contact, "sip:a@192.0.2.1");
}

TEST(LocationService, ReceivedRoundTrips) {
  Source s = test::source(Protocol::Tls, "2001:db8::1", 5061, 3);
  EXPECT_EQ(received_string(s), "tls:[2001:db8::1]:5061");
  auto p = parse_received("tls:[2001:db8::1]:5061");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->protocol, Protocol::Tls);
  EXPECT_EQ(p->peer, s.peer);
  EXPECT_EQ(p->flow, kNoFlow);
  EXPECT_TRUE(parse_received("udp:127.0.0.1:5062").has_value());
  EXPECT_FALSE(parse_received("").has_value());
  EXPECT_FALSE(parse_received("sctp:1.2.3.4:5060").has_value());
  EXPECT_FALSE(parse_received("udp:1.2.3.4").has_value());
  EXPECT_FALSE(parse_received("udp:1.2.3.4:99999").has_value());
  EXPECT_FALSE(parse_received("udp:not-an-ip:5060").has_value());
  // A UDP binding keeps the listener it registered on (a two-homed host: requests to it leave
  // from that address after a restart too); rows without it still load.
  Source u = test::source(Protocol::Udp, "192.0.2.1", 5062, kNoFlow);
  u.local = test::ep("10.0.0.1", 5080);
  EXPECT_EQ(received_string(u), "udp:192.0.2.1:5062/10.0.0.1:5080");
  auto back = parse_received(received_string(u));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->peer, u.peer);
  EXPECT_EQ(back->local, u.local);
  auto old = parse_received("udp:192.0.2.1:5062");
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->local.port, 0u);
  EXPECT_FALSE(parse_received("udp:192.0.2.1:5062/").has_value());
  EXPECT_FALSE(parse_received("udp:192.0.2.1:5062/10.0.0.1").has_value());
  EXPECT_FALSE(parse_received("udp:192.0.2.1:5062/name:5060").has_value());
  EXPECT_EQ(parse_received("udp:[2001:db8::1]:5062/[2001:db8::2]:5060")->local,
            test::ep("2001:db8::2", 5060));
}

using test::TempDir;

TEST(LocationPersistence, WritesBehindAndRestoresNonWebSocketBindings) {
  TempDir dir;
  store::AsyncStore astore(store::Store::open(dir.db_uri()),
                           [](std::function<void()> fn) { fn(); });
  ManualTimerService t;
  {
    LocationService loc(t, &astore);
    RegisterUpdate u =
        one("bob@example.com", "sip:bob@192.0.2.1:5062", 600, kUdp, "c-udp", 7, 0.7f);
    u.user_agent = "phone/1";
    u.contacts[0].instance = "<urn:uuid:b0b>";
    u.contacts[0].reg_id = 1;
    ASSERT_TRUE(loc.update(u));
    RegisterUpdate tcp =
        one("bob@example.com", "sip:bob@192.0.2.2;transport=tcp", 1200, kTcp, "c-tcp");
    tcp.path = {"<sip:edge1.example.com;lr>", "<sip:edge2.example.com;lr>"};
    tcp.direct = false;
    ASSERT_TRUE(loc.update(tcp));
    ASSERT_TRUE(
        loc.update(one("alice@example.com", "sip:a@x.invalid;transport=ws", 600, kWs, "c-ws")));
    ASSERT_TRUE(loc.update(one("carol@example.com", "sip:carol@192.0.2.4", 60, kUdp, "c-c")));
    astore.flush();
    EXPECT_EQ(astore.sync().load_bindings().size(), 3u);  // WS never persisted

    t.advance(Millis(60'000));  // carol expires: deleted from the store too
    astore.flush();
    auto rows = astore.sync().load_bindings();
    ASSERT_EQ(rows.size(), 2u);
    for (const auto& r : rows) {
      EXPECT_EQ(r.aor, "bob@example.com");
      if (r.contact == "sip:bob@192.0.2.1:5062") {
        EXPECT_EQ(r.received, "udp:192.0.2.1:5062/127.0.0.1:5060");
        EXPECT_EQ(r.instance, "<urn:uuid:b0b>");
        EXPECT_EQ(r.reg_id, 1u);
        EXPECT_EQ(r.cseq, 7u);
        EXPECT_EQ(r.call_id, "c-udp");
        EXPECT_EQ(r.user_agent, "phone/1");
        EXPECT_FLOAT_EQ(r.q, 0.7f);
        EXPECT_EQ(r.expires_at, t.unix_time() - 60 + 600);
      } else {
        EXPECT_EQ(r.contact, "sip:bob@192.0.2.2;transport=tcp");
        EXPECT_EQ(r.path, "<sip:edge1.example.com;lr>, <sip:edge2.example.com;lr>");
        EXPECT_EQ(r.received, "");  // not a direct client: its source is no next hop
      }
    }
  }  // the first "daemon" stops; the store keeps its rows

  // A restart 100 s later.
  ManualTimerService t2;
  t2.advance(Millis(160'000));
  LocationService loc2(t2, nullptr);
  EXPECT_EQ(loc2.load(astore.sync()), 2u);
  auto b = loc2.lookup("bob@example.com");
  ASSERT_EQ(b.size(), 2u);
  const bool udp_first = b[0].contact == "sip:bob@192.0.2.1:5062";
  const Binding* udp = &b[udp_first ? 0 : 1];
  const Binding* tcp = &b[udp_first ? 1 : 0];
  EXPECT_EQ(udp->source.protocol, Protocol::Udp);
  EXPECT_EQ(udp->source.peer, kUdp.peer);
  EXPECT_EQ(udp->source.local, kUdp.local);  // the listener it registered on
  EXPECT_EQ(udp->source.flow, kNoFlow);
  EXPECT_TRUE(udp->direct);
  EXPECT_TRUE(udp->outbound);
  EXPECT_FALSE(udp->flow_dead);  // a UDP flow survives a restart
  EXPECT_EQ(udp->instance, "<urn:uuid:b0b>");
  EXPECT_EQ(udp->expires_in(t2.now()), 440u);
  EXPECT_FALSE(udp->temp_gruu.empty());
  ASSERT_EQ(tcp->path.size(), 2u);
  EXPECT_EQ(tcp->path[1], "<sip:edge2.example.com;lr>");
  EXPECT_FALSE(tcp->direct);
  EXPECT_TRUE(loc2.lookup("alice@example.com").empty());
  EXPECT_TRUE(loc2.lookup("carol@example.com").empty());

  // Restored bindings expire on the new clock.
  t2.advance(Millis(440'000));
  EXPECT_EQ(loc2.lookup("bob@example.com").size(), 1u);
  t2.advance(Millis(600'000));
  EXPECT_EQ(loc2.size(), 0u);
}

TEST(LocationPersistence, LoadSkipsExpiredRows) {
  TempDir dir;
  auto db = store::Store::open(dir.db_uri());
  ManualTimerService t;
  store::BindingRecord r;
  r.aor = "bob@example.com";
  r.contact = "sip:bob@192.0.2.1";
  r.received = "udp:192.0.2.1:5060";
  r.expires_at = t.unix_time() - 1;
  db->put_binding(r);
  r.contact = "sip:bob@192.0.2.2";
  r.expires_at = t.unix_time() + 30;
  db->put_binding(r);
  r.contact = "sip:ws@x.invalid;transport=ws";
  r.received = "ws:192.0.2.3:50000";
  db->put_binding(r);
  LocationService loc(t, nullptr);
  EXPECT_EQ(loc.load(*db), 1u);
  auto b = loc.lookup("bob@example.com");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].contact, "sip:bob@192.0.2.2");
}

TEST(LocationPersistence, RenamedContactDeletesTheOldRow) {
  TempDir dir;
  store::AsyncStore astore(store::Store::open(dir.db_uri()),
                           [](std::function<void()> fn) { fn(); });
  ManualTimerService t;
  LocationService loc(t, &astore);
  RegisterUpdate u = one("bob@example.com", "sip:bob@192.0.2.1", 600, kUdp, "c1", 1);
  u.contacts[0].instance = "<urn:uuid:1>";
  ASSERT_TRUE(loc.update(u));
  // Same instance, new contact URI (a new address): the binding moves (RFC 5627 s.6).
  u.contacts[0].contact = "sip:bob@192.0.2.77";
  u.cseq = 2;
  ASSERT_TRUE(loc.update(u));
  EXPECT_EQ(loc.size(), 1u);
  astore.flush();
  auto rows = astore.sync().load_bindings();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].contact, "sip:bob@192.0.2.77");
}

TEST(LocationPersistence, SweepUnpersistsExpiredBindingsAndShrinksSize) {
  TempDir dir;
  store::AsyncStore astore(store::Store::open(dir.db_uri()),
                           [](std::function<void()> fn) { fn(); });
  ManualTimerService t;
  LocationService loc(t, &astore);
  Counter& expired = counters().get("registrar_bindings_expired");
  const std::uint64_t expired_before = expired.value();
  ASSERT_TRUE(loc.update(one("dan@example.com", "sip:dan@192.0.2.1", 60, kUdp, "d1")));
  ASSERT_TRUE(loc.update(one("eve@example.com", "sip:eve@192.0.2.1", 600, kUdp, "e1")));
  astore.flush();
  ASSERT_EQ(astore.sync().load_bindings().size(), 2u);

  t.advance(Millis(59'500));  // the sweep ran 59 times, nothing was due
  astore.flush();
  EXPECT_EQ(loc.size(), 2u);
  EXPECT_EQ(astore.sync().load_bindings().size(), 2u);

  t.advance(Millis(500));  // 60 s: dan's expiry instant, and a sweep
  EXPECT_EQ(loc.size(), 1u);
  EXPECT_EQ(expired.value(), expired_before + 1);
  astore.flush();
  auto rows = astore.sync().load_bindings();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].aor, "eve@example.com");
  EXPECT_TRUE(loc.known("dan@example.com"));
  EXPECT_EQ(t.pending(), 1u);  // the sweep re-armed itself
}

// ---------------------------------------------------------------- nat_uac_test

sip::Via via_of(const char* value) { return *sip::parse_via(value); }
sip::Uri uri_of(const char* text) { return *sip::parse_uri(text); }

TEST(NatUacTest, ContactNamesTheSourceWithDefaultPorts) {
  const Source udp = test::source(Protocol::Udp, "192.0.2.1", 5060, kNoFlow);
  EXPECT_TRUE(contact_names_source(uri_of("sip:a@192.0.2.1"), udp));
  EXPECT_TRUE(contact_names_source(uri_of("sip:a@192.0.2.1:5060"), udp));
  EXPECT_FALSE(contact_names_source(uri_of("sip:a@192.0.2.1:5070"), udp));
  EXPECT_FALSE(contact_names_source(uri_of("sip:a@192.0.2.9"), udp));
  EXPECT_FALSE(contact_names_source(uri_of("sip:a@phone.example.com"), udp));
  const Source tls = test::source(Protocol::Tls, "2001:db8::1", 5061, 3);
  EXPECT_TRUE(contact_names_source(uri_of("sip:a@[2001:db8::1];transport=tls"), tls));
  EXPECT_TRUE(contact_names_source(uri_of("sips:a@[2001:db8::1]"), tls));
}

TEST(NatUacTest, BehindNatWhenViaOrAPrivateContactDisagreesWithTheSource) {
  const Source src = test::source(Protocol::Udp, "198.51.100.7", 40001, kNoFlow);
  // The Via names a private address (the UA does not know its public one): flag 2.
  EXPECT_TRUE(behind_nat(via_of("SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1"),
                         uri_of("sip:a@10.0.0.5"), src));
  // The right address but another port (the NAT mapped it): flag 16.
  EXPECT_TRUE(behind_nat(via_of("SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1"),
                         uri_of("sip:a@198.51.100.7:5060"), src));
  // The Via learnt its public mapping (STUN), the Contact still names a private address:
  // flag 1.
  EXPECT_TRUE(behind_nat(via_of("SIP/2.0/UDP 198.51.100.7:40001;branch=z9hG4bK1"),
                         uri_of("sip:a@192.168.1.20:5060"), src));
  // Everything agrees: not behind NAT.
  EXPECT_FALSE(behind_nat(via_of("SIP/2.0/UDP 198.51.100.7:40001;branch=z9hG4bK1"),
                          uri_of("sip:a@198.51.100.7:40001"), src));
  // A Via host name is not the source address.
  EXPECT_TRUE(behind_nat(via_of("SIP/2.0/UDP ua.example.com:40001;branch=z9hG4bK1"),
                         uri_of("sip:a@198.51.100.7:40001"), src));
}

TEST(NatUacTest, ThirdPartyContactIsAnotherHostOrPortOfAUaNotBehindNat) {
  const Source src = test::source(Protocol::Udp, "192.0.2.1", 5062, kNoFlow);
  const auto via = via_of("SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK1");
  EXPECT_TRUE(is_third_party(via, uri_of("sip:bob@192.0.2.1:5070"), src));
  EXPECT_TRUE(is_third_party(via, uri_of("sip:bob@192.0.2.44:5062"), src));
  EXPECT_TRUE(is_third_party(via, uri_of("sip:bob@desk.example.com"), src));
  EXPECT_FALSE(is_third_party(via, uri_of("sip:bob@192.0.2.1:5062"), src));
  // Behind NAT: its own binding, whatever the Contact says.
  EXPECT_FALSE(is_third_party(via_of("SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK1"),
                              uri_of("sip:bob@10.0.0.5:5062"), src));
  EXPECT_FALSE(is_third_party(via, uri_of("sip:bob@10.0.0.5:5062"), src));
  // A WebSocket client's Contact is .invalid: never a third party.
  const Source ws = test::source(Protocol::Ws, "192.0.2.3", 50000, 5);
  EXPECT_FALSE(is_third_party(via_of("SIP/2.0/WS abc.invalid;branch=z9hG4bK1"),
                              uri_of("sip:x@abc.invalid;transport=ws"), ws));
}

}  // namespace
}  // namespace sipws::registrar
