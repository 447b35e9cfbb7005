// Least-cost routing: configuration validation, route choice (number, From), priority and
// weighted order, failover list, disabled / down gateways, strip / prefix / user=phone.

#include "routing/gateways.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "routing/call_classes.hpp"
#include "sip/uri.hpp"

namespace sipws::routing {
namespace {

/// Returns scripted values as they are (0 once exhausted) and records each call's max.
class ScriptedRandom final : public Random {
 public:
  explicit ScriptedRandom(std::deque<std::uint32_t> values = {}) : values_(std::move(values)) {}
  std::uint32_t uniform(std::uint32_t max) override {
    maxes.push_back(max);
    if (values_.empty()) return 0;
    const auto v = values_.front();
    values_.pop_front();
    return v;
  }
  std::vector<std::uint32_t> maxes;

 private:
  std::deque<std::uint32_t> values_;
};

Gateway gw(std::string name, std::string uri, std::uint32_t priority = 1,
           std::uint32_t weight = 1) {
  Gateway g;
  g.name = std::move(name);
  g.uri = std::move(uri);
  g.priority = priority;
  g.weight = weight;
  return g;
}

Route route(std::string re, std::vector<std::string> gateways, std::string from = {}) {
  Route r;
  r.match_text = std::move(re);
  r.match = std::regex(r.match_text);
  r.gateways = std::move(gateways);
  if (!from.empty()) {
    r.from = std::regex(from);
    r.from_text = std::move(from);
  }
  return r;
}

std::string what_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

std::vector<std::string> names(const Selection& s) {
  std::vector<std::string> out;
  for (const auto& a : s.attempts) out.push_back(a.gateway->name);
  return out;
}

using Names = std::vector<std::string>;

// ---------------------------------------------------------------- validation

TEST(GatewayTableConfig, RejectsBadEntriesWithAMessageNamingThem) {
  const auto ok = gw("GW1", "sip:10.0.0.1");
  EXPECT_EQ(what_of([&] {
              GatewayTable({ok}, {route(".*", {"GW1", "GW3"})});
            }),
            "routes[0].gateways: unknown gateway \"GW3\"");
  EXPECT_EQ(what_of([&] {
              GatewayTable({ok}, {route(".*", {"GW1"}), route(".*", {})});
            }),
            "routes[1].gateways: empty");
  EXPECT_EQ(what_of([&] {
              GatewayTable({ok, gw("GW1", "sip:10.0.0.2")}, {});
            }),
            "gateways[1].name: duplicate gateway \"GW1\"");
  EXPECT_EQ(what_of([&] { GatewayTable({gw("", "sip:10.0.0.2")}, {}); }),
            "gateways[0].name: empty");
  EXPECT_EQ(what_of([&] {
              GatewayTable({ok, gw("GW2", "sip:10.0.0.2", 1, 0)}, {});
            }),
            "gateways[1].weight: must be 1..65535, not 0");
  EXPECT_EQ(what_of([&] { GatewayTable({gw("GW2", "sip:10.0.0.2", 1, 65536)}, {}); }),
            "gateways[0].weight: must be 1..65535, not 65536");

  const std::map<std::string, std::string> bad_uris = {
      {"sip:", "gateways[0].uri: not a valid URI"},
      {"sip:host name", "gateways[0].uri: not a valid URI"},
      {"sip:10.0.0.1:99999", "gateways[0].uri: not a valid URI"},
      {"10.0.0.1", "gateways[0].uri: not a valid URI"},
      {"sips:gw.example.com", "gateways[0].uri: not a sip: URI"},
      {"tel:+15551234567", "gateways[0].uri: not a sip: URI"},
      {"http://gw.example.com", "gateways[0].uri: not a sip: URI"},
      {"sip:trunk@gw.example.com", "gateways[0].uri: has a user part"},
      {"sip:gw.example.com?Subject=x", "gateways[0].uri: has headers"},
      {"sip:gw.example.com;transport=ws", "gateways[0].uri: transport must be udp, tcp or tls"},
  };
  for (const auto& entry : bad_uris) {
    const std::string& uri = entry.first;
    const std::string err = what_of([&] { GatewayTable({gw("GW", uri)}, {}); });
    EXPECT_EQ(err.rfind(entry.second, 0), 0u) << uri << " -> " << err;
  }

  auto bad_prefix = ok;
  bad_prefix.prefix = "9@";
  EXPECT_EQ(what_of([&] { GatewayTable({bad_prefix}, {}); }).rfind("gateways[0].prefix:", 0), 0u);

  auto r = route(".*", {"GW1"});
  r.failover_on = {503, 200};
  EXPECT_EQ(what_of([&] { GatewayTable({ok}, {r}); }),
            "routes[0].failover_on: 200 is not a final error status (400..699)");
}

TEST(GatewayTableConfig, AcceptsTheDocumentedUriForms) {
  EXPECT_NO_THROW(GatewayTable(
      {gw("a", "sip:gw.example.com"), gw("b", "sip:10.0.0.1:5080;transport=TCP"),
       gw("c", "sip:[2001:db8::1]:5061;transport=tls"), gw("d", "sip:gw2.example.com;user=phone")},
      {route(".*", {"a", "b", "c", "d"})}));
  EXPECT_NO_THROW(GatewayTable({}, {}));
}

// ---------------------------------------------------------------- route choice

TEST(GatewayTableSelect, FirstMatchingRouteInConfigOrderDecides) {
  GatewayTable t({gw("INT", "sip:int.example.com"), gw("NA", "sip:na.example.com"),
                  gw("ANY", "sip:any.example.com")},
                 {route("^011[0-9]+$", {"INT"}), route("^1?[2-9][0-9]{9}$", {"NA"}),
                  route("^[0-9]+$", {"ANY"})});
  ScriptedRandom rnd;
  auto s = t.select("01144201234567", "sip:alice@example.com", rnd);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->route, &t.routes()[0]);
  EXPECT_EQ(names(*s), Names{"INT"});
  s = t.select("12125551234", "", rnd);
  ASSERT_TRUE(s);
  EXPECT_EQ(names(*s), Names{"NA"});
  s = t.select("5551234", "", rnd);
  ASSERT_TRUE(s);
  EXPECT_EQ(names(*s), Names{"ANY"});
  EXPECT_FALSE(t.select("alice", "", rnd));         // no route: nullopt
  EXPECT_FALSE(t.select("15551234567x", "", rnd));  // regex_match, not search
}

TEST(GatewayTableSelect, FromRegexIsSearchedInTheFromUri) {
  GatewayTable t(
      {gw("PREMIUM", "sip:premium.example.com"), gw("CHEAP", "sip:cheap.example.com")},
      {route("^[0-9]+$", {"PREMIUM"}, "@vip\\.example\\.com$"), route("^[0-9]+$", {"CHEAP"})});
  ScriptedRandom rnd;
  auto s = t.select("5551234", "sip:boss@vip.example.com", rnd);
  ASSERT_TRUE(s);
  EXPECT_EQ(names(*s), Names{"PREMIUM"});
  s = t.select("5551234", "sip:intern@example.com", rnd);
  ASSERT_TRUE(s);
  EXPECT_EQ(names(*s), Names{"CHEAP"});
  // An over-long From never matches a `from` condition.
  const std::string long_from = "sip:" + std::string(kMaxFromLength, 'a') + "@vip.example.com";
  s = t.select("5551234", long_from, rnd);
  ASSERT_TRUE(s);
  EXPECT_EQ(names(*s), Names{"CHEAP"});
}

TEST(GatewayTableSelect, OverLongNumberMatchesNoRoute) {
  GatewayTable t({gw("GW", "sip:gw.example.com")}, {route(".*", {"GW"})});
  ScriptedRandom rnd;
  EXPECT_TRUE(t.select(std::string(kMaxNumberLength, '1'), "", rnd));
  EXPECT_FALSE(t.select(std::string(kMaxNumberLength + 1, '1'), "", rnd));
}

// ---------------------------------------------------------------- order and failover

TEST(GatewayTableSelect, FailoverOrderIsPriorityAscendingEachGatewayOnce) {
  GatewayTable t({gw("C", "sip:c.example.com", 3), gw("A", "sip:a.example.com", 1),
                  gw("B", "sip:b.example.com", 2)},
                 {route(".*", {"C", "B", "A", "C", "B"})});
  ScriptedRandom rnd;
  const auto s = t.select("5551234", "", rnd);
  ASSERT_TRUE(s);
  EXPECT_EQ(names(*s), (Names{"A", "B", "C"}));
  EXPECT_TRUE(rnd.maxes.empty());  // one gateway per priority: no random draw
  EXPECT_EQ(s->attempts[0].gateway, t.find("A"));
}

TEST(GatewayTableSelect, WeightedPickWithinAPriorityFollowsTheRunningSum) {
  // Priority 1: X (weight 1), Y (weight 3); priority 2: Z.
  GatewayTable t({gw("X", "sip:x.example.com", 1, 1), gw("Y", "sip:y.example.com", 1, 3),
                  gw("Z", "sip:z.example.com", 2, 5)},
                 {route(".*", {"Z", "X", "Y"})});
  struct Case {
    std::uint32_t draw;
    Names order;
  };
  for (const Case& c : {Case{0, {"X", "Y", "Z"}}, Case{1, {"Y", "X", "Z"}},
                        Case{3, {"Y", "X", "Z"}}, Case{1000, {"Y", "X", "Z"}}}) {
    ScriptedRandom rnd({c.draw});
    const auto s = t.select("1", "", rnd);
    ASSERT_TRUE(s);
    EXPECT_EQ(names(*s), c.order) << "draw " << c.draw;
    EXPECT_EQ(rnd.maxes, std::vector<std::uint32_t>{3});  // uniform in [0, 1+3-1]; last is free
  }
}

TEST(GatewayTableSelect, WeightedRandomDistributionOver10000Draws) {
  GatewayTable t({gw("A", "sip:a.example.com", 1, 1), gw("B", "sip:b.example.com", 1, 2),
                  gw("C", "sip:c.example.com", 1, 7), gw("BACKUP", "sip:backup.example.com", 9)},
                 {route(".*", {"A", "B", "C", "BACKUP"})});
  Mt19937Random rnd(20240611);
  std::map<std::string, int> first;
  std::map<std::string, int> second_after_c;
  int c_first = 0;
  constexpr int kDraws = 10'000;
  for (int i = 0; i < kDraws; ++i) {
    const auto s = t.select("5551234", "", rnd);
    ASSERT_TRUE(s);
    const auto n = names(*s);
    ASSERT_EQ(n.size(), 4u);
    EXPECT_EQ(n[3], "BACKUP");  // the lower priority always comes last
    ++first[n[0]];
    if (n[0] == "C") {
      ++c_first;
      ++second_after_c[n[1]];
    }
  }
  // Expected 1000 / 2000 / 7000; binomial sigma <= 46, bound ~4.5 sigma.
  EXPECT_NEAR(first["A"], 1000, 200);
  EXPECT_NEAR(first["B"], 2000, 200);
  EXPECT_NEAR(first["C"], 7000, 200);
  // Without replacement: after C, A and B share 1:2.
  EXPECT_NEAR(static_cast<double>(second_after_c["B"]) / c_first, 2.0 / 3.0, 0.03);
  // Deterministic: the same seed gives the same first pick sequence.
  Mt19937Random r1(7);
  Mt19937Random r2(7);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(names(*t.select("1", "", r1)), names(*t.select("1", "", r2)));
  }
}

TEST(GatewayTableSelect, EqualWeightsAreUniform) {
  GatewayTable t(
      {gw("A", "sip:a.example.com"), gw("B", "sip:b.example.com"), gw("C", "sip:c.example.com")},
      {route(".*", {"A", "B", "C"})});
  Mt19937Random rnd(1);
  std::map<std::string, int> first;
  for (int i = 0; i < 10'000; ++i) ++first[t.select("1", "", rnd)->attempts[0].gateway->name];
  for (const char* n : {"A", "B", "C"}) EXPECT_NEAR(first[n], 3333, 200) << n;
}

TEST(GatewayTableSelect, ABrokenRandomCannotOverrunTheGroup) {
  class Huge final : public Random {
   public:
    std::uint32_t uniform(std::uint32_t) override { return 0xffffffffu; }
  } huge;
  GatewayTable t({gw("A", "sip:a.example.com"), gw("B", "sip:b.example.com")},
                 {route(".*", {"A", "B"})});
  const auto s = t.select("1", "", huge);
  ASSERT_TRUE(s);
  EXPECT_EQ(names(*s), (Names{"B", "A"}));  // clamped to the last of the running sum
}

TEST(Mt19937Random, StaysInRangeAndCoversIt) {
  Mt19937Random rnd(3);
  EXPECT_EQ(rnd.uniform(0), 0u);
  std::vector<int> seen(5, 0);
  for (int i = 0; i < 1000; ++i) {
    const auto v = rnd.uniform(4);
    ASSERT_LE(v, 4u);
    ++seen[v];
  }
  for (int n : seen) EXPECT_GT(n, 150);
  (void)rnd.uniform(0xffffffffu);  // full range: no division by zero
}

// ---------------------------------------------------------------- enabled / up / down

TEST(GatewayTableSelect, DisabledGatewaysAreNeverSelected) {
  auto off = gw("OFF", "sip:off.example.com", 1);
  off.enabled = false;
  GatewayTable t({off, gw("ON", "sip:on.example.com", 2)}, {route(".*", {"OFF", "ON"})});
  ScriptedRandom rnd;
  EXPECT_EQ(names(*t.select("1", "", rnd)), Names{"ON"});

  GatewayTable all_off({off}, {route(".*", {"OFF"})});
  const auto s = all_off.select("1", "", rnd);
  ASSERT_TRUE(s);  // the route matched: the caller answers 503, no other route is tried
  EXPECT_TRUE(s->attempts.empty());
}

TEST(GatewayTableSelect, DownGatewaysAreSkippedUntilEveryOneIsDown) {
  GatewayTable t({gw("A", "sip:a.example.com", 1), gw("B", "sip:b.example.com", 2),
                  gw("C", "sip:c.example.com", 3)},
                 {route(".*", {"A", "B", "C"})});
  ScriptedRandom rnd;
  EXPECT_TRUE(t.is_up("A"));
  t.set_up("A", false);
  EXPECT_FALSE(t.is_up("A"));
  EXPECT_EQ(names(*t.select("1", "", rnd)), (Names{"B", "C"}));
  t.set_up("C", false);
  EXPECT_EQ(names(*t.select("1", "", rnd)), Names{"B"});
  t.set_up("B", false);
  // All down: try them all in the usual order rather than fail for sure.
  EXPECT_EQ(names(*t.select("1", "", rnd)), (Names{"A", "B", "C"}));
  t.set_up("C", true);
  EXPECT_EQ(names(*t.select("1", "", rnd)), Names{"C"});
  // Unknown names: set_up is a no-op, is_up says "not down".
  t.set_up("NOPE", false);
  EXPECT_TRUE(t.is_up("NOPE"));
  EXPECT_EQ(t.find("NOPE"), nullptr);
}

TEST(GatewayTableSelect, AllDownConsidersOnlyEnabledGateways) {
  auto off = gw("OFF", "sip:off.example.com", 1);
  off.enabled = false;
  GatewayTable t({off, gw("A", "sip:a.example.com", 2)}, {route(".*", {"OFF", "A"})});
  t.set_up("A", false);
  ScriptedRandom rnd;
  EXPECT_EQ(names(*t.select("1", "", rnd)), Names{"A"});
}

TEST(Route, FailsOverOnlyOnConfiguredStatuses) {
  Route r;
  EXPECT_TRUE(r.fails_over(408));
  EXPECT_TRUE(r.fails_over(503));
  EXPECT_FALSE(r.fails_over(404));
  EXPECT_FALSE(r.fails_over(486));
  r.failover_on = {500, 502, 503, 504};
  EXPECT_TRUE(r.fails_over(502));
  EXPECT_FALSE(r.fails_over(408));
}

// ---------------------------------------------------------------- Request-URI

TEST(GatewayRequestUri, StripPrefixParamsAndUserPhone) {
  auto g = gw("GW", "sip:gw.example.com:5080;transport=tcp");
  EXPECT_EQ(gateway_request_uri(g, "5551234"),
            "sip:5551234@gw.example.com:5080;transport=tcp;user=phone");
  g.strip = 3;
  g.prefix = "+1212";
  EXPECT_EQ(gateway_request_uri(g, "0115551234"),
            "sip:+12125551234@gw.example.com:5080;transport=tcp;user=phone");
  g.prefix = "";
  EXPECT_EQ(gateway_request_uri(g, "0114420"),
            "sip:4420@gw.example.com:5080;transport=tcp;user=phone");
  // Stripping the whole number leaves nothing to dial, even with a prefix.
  g.prefix = "9";
  EXPECT_EQ(gateway_request_uri(g, "011"), std::nullopt);
  EXPECT_EQ(gateway_request_uri(g, "01"), std::nullopt);
  EXPECT_EQ(gateway_request_uri(gw("GW", "sip:gw.example.com"), ""), std::nullopt);
}

TEST(GatewayRequestUri, EscapesWhatAUserPartMayNotHoldAndKnowsNonNumbers) {
  const auto g = gw("GW", "sip:10.0.0.1");
  // '#' must be escaped in a SIP user part (RFC 3261 s.25.1); still a telephone number.
  EXPECT_EQ(gateway_request_uri(g, "*67#5551234"), "sip:*67%235551234@10.0.0.1;user=phone");
  EXPECT_EQ(gateway_request_uri(g, "123%23"), "sip:123%23@10.0.0.1;user=phone");  // kept
  EXPECT_EQ(gateway_request_uri(g, "alice"), "sip:alice@10.0.0.1");               // not a number
  EXPECT_EQ(gateway_request_uri(g, "a b;c?d@e"), "sip:a%20b%3Bc%3Fd%40e@10.0.0.1");
  EXPECT_EQ(gateway_request_uri(g, "100%"), "sip:100%25@10.0.0.1");
  EXPECT_EQ(gateway_request_uri(g, "+"), "sip:+@10.0.0.1");  // no digit: not a number
  // Every result is a URI our own parser accepts, with the user part where we put it.
  for (const char* n : {"*67#5551234", "a b;c?d@e", "100%", "+15551234567", "\x01\xff"}) {
    const auto ruri = gateway_request_uri(g, n);
    ASSERT_TRUE(ruri) << n;
    const auto u = sip::parse_uri(*ruri);
    ASSERT_TRUE(u) << *ruri;
    EXPECT_EQ(u->host, "10.0.0.1") << *ruri;
  }
}

TEST(GatewayRequestUri, DoesNotAddASecondUserParam) {
  EXPECT_EQ(gateway_request_uri(gw("GW", "sip:gw.example.com;user=phone"), "5551234"),
            "sip:5551234@gw.example.com;user=phone");
  EXPECT_EQ(gateway_request_uri(gw("GW", "sip:[2001:db8::1]:5061;transport=tls"), "+44207"),
            "sip:+44207@[2001:db8::1]:5061;transport=tls;user=phone");
}

TEST(GatewayTableSelect, AttemptsCarryPerGatewayRequestUrisAndSkipStrippedAway) {
  auto a = gw("A", "sip:a.example.com;transport=udp", 1);
  a.strip = 1;
  a.prefix = "00";
  auto b = gw("B", "sip:b.example.com", 2);
  b.strip = 20;  // longer than any number this route takes: B is never attempted
  auto c = gw("C", "sip:c.example.com", 3);
  GatewayTable t({a, b, c}, {route("^\\+[0-9]+$", {"A", "B", "C"})});
  ScriptedRandom rnd;
  const auto s = t.select("+442071234567", "", rnd);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->attempts.size(), 2u);
  EXPECT_EQ(s->attempts[0].gateway->name, "A");
  EXPECT_EQ(s->attempts[0].request_uri,
            "sip:00442071234567@a.example.com;transport=udp;user=phone");
  EXPECT_EQ(s->attempts[1].gateway->name, "C");
  EXPECT_EQ(s->attempts[1].request_uri, "sip:+442071234567@c.example.com;user=phone");
}

}  // namespace
}  // namespace sipws::routing
