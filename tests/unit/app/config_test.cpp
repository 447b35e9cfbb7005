#include "app/config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>

#include <filesystem>
#include <fstream>

namespace sipws::app {
namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  auto dir =
      std::filesystem::temp_directory_path() / ("sipws-config-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / name;
  std::ofstream(path) << text;
  return path.string();
}

std::string error_of(const std::optional<std::string>& file, const std::vector<std::string>& sets) {
  try {
    load_config(file, sets);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

/// The cells of one Markdown table row, split at `|` that are not escaped (`\|`).
std::vector<std::string> table_cells(const std::string& row) {
  std::vector<std::string> cells(1);
  for (std::size_t i = 1; i < row.size(); ++i) {
    if (row[i] == '|' && row[i - 1] != '\\') {
      cells.emplace_back();
    } else {
      cells.back() += row[i];
    }
  }
  return cells;
}

/// The `quoted` words of a cell, in order.
std::vector<std::string> backticked(const std::string& cell) {
  std::vector<std::string> out;
  for (auto open = cell.find('`'); open != std::string::npos; open = cell.find('`', open + 1)) {
    const auto close = cell.find('`', open + 1);
    if (close == std::string::npos) break;
    out.push_back(cell.substr(open + 1, close - open - 1));
    open = close;
  }
  return out;
}

/// The default a reader of docs/configuration.md sees for a value of the JSON defaults.
std::string shown(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>().empty() ? "empty" : v.get<std::string>();
  if (v.is_array() && v.empty()) return "empty";
  return v.dump();  // numbers, booleans, {}
}

// The configuration reference and the code state the same default for every key, and every
// key is documented: the defaults are written once, in Config's initialisers.
TEST(Config, ReferenceDocumentsEveryKeyWithItsDefault) {
  std::ifstream in(std::string(SIPWS_VECTORS_DIR) + "/../../docs/configuration.md");
  ASSERT_TRUE(in) << "docs/configuration.md not found";
  const nlohmann::json defaults = to_json(Config{});
  std::set<std::string> documented;
  std::string line;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line.rfind("| key | type | default |", 0) == 0) {
      in_table = true;
      continue;
    }
    if (!in_table || line.rfind("| --- ", 0) == 0) continue;
    if (line.rfind("| `", 0) != 0) break;  // the table of keys ends
    const auto cells = table_cells(line);
    ASSERT_GE(cells.size(), 3u) << line;
    const auto keys = backticked(cells[0]);
    const auto values = backticked(cells[2]);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const std::string& key = keys[i];
      documented.insert(key);
      ASSERT_TRUE(defaults.contains(key)) << key << " is documented but is not a key";
      const auto& v = defaults.at(key);
      if (v.is_array() && !v.empty()) {
        std::vector<std::string> items;
        for (const auto& e : v) items.push_back(e.get<std::string>());
        EXPECT_EQ(values, items) << key;
      } else if (values.empty()) {
        EXPECT_EQ(shown(v), "empty") << key << ": the reference says empty";
      } else {
        // One default per key in order, or one shared by all the keys of the row.
        const std::string& doc = values.size() == keys.size() ? values[i] : values.front();
        EXPECT_EQ(doc, shown(v)) << key;
      }
    }
  }
  for (const auto& [key, v] : defaults.items()) {
    EXPECT_TRUE(documented.count(key)) << key << " is missing from docs/configuration.md";
  }
  EXPECT_GE(documented.size(), 50u);
}

TEST(Config, EmbeddedDefaultsMatchTheDesignContract) {
  Config c = load_config(std::nullopt, {});
  ASSERT_EQ(c.listen.size(), 4u);
  EXPECT_EQ(c.listen[0].to_string(), "udp:127.0.0.1:5060");
  EXPECT_EQ(c.listen[1].to_string(), "tcp:127.0.0.1:5060");
  EXPECT_EQ(c.listen[2].to_string(), "ws:127.0.0.1:8080");
  EXPECT_EQ(c.listen[3].to_string(), "wss:0.0.0.0:8443");
  EXPECT_EQ(c.domain, "localhost");
  EXPECT_EQ(c.store, "sqlite:./var/sipws.db");
  EXPECT_EQ(c.store_sync, StoreSync::Ack);
  EXPECT_EQ(c.auth, AuthMode::Digest);
  EXPECT_EQ(c.admin_host, "127.0.0.1");
  EXPECT_EQ(c.admin_port, 8081);
  EXPECT_EQ(c.media_anchor, MediaAnchor::Auto);
  EXPECT_EQ(c.media_port_min, 30000);
  EXPECT_EQ(c.media_port_max, 30999);
}

TEST(Config, FileWithCommentsThenSetOverrides) {
  auto path = write_temp("a.json", R"({
    // line comment
    "domain": "example.com", /* block comment */
    "listen": ["udp:[::1]:5070", "ws:127.0.0.1:0"],
    "auth": "off",
    "trace": true
  })");
  Config c = load_config(path, {"domain=example.org", "max_message_size=4096",
                                "dns_servers=127.0.0.1:5353, [::1]:53", "trace=false"});
  EXPECT_EQ(c.domain, "example.org");
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_EQ(c.listen[0].protocol, Protocol::Udp);
  EXPECT_EQ(c.listen[0].host, "::1");
  EXPECT_EQ(c.listen[0].to_string(), "udp:[::1]:5070");
  EXPECT_EQ(c.listen[1].port, 0);
  EXPECT_EQ(c.auth, AuthMode::Off);
  EXPECT_FALSE(c.trace);
  EXPECT_EQ(c.max_message_size, 4096u);
  ASSERT_EQ(c.dns_servers.size(), 2u);
  EXPECT_EQ(c.dns_servers[1], "[::1]:53");
}

TEST(Config, ListOverrideIsCommaSeparated) {
  Config c = load_config(std::nullopt, {"listen=udp:127.0.0.1:5070,ws:127.0.0.1:8090"});
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_EQ(c.listen[1].to_string(), "ws:127.0.0.1:8090");
}

// Kamailio's `advertise`: what Via / Record-Route say for a listener behind NAT or a DNS name.
TEST(Config, ListenEntriesMayAdvertiseAHostAndPort) {
  Config c = load_config(std::nullopt, {"listen=udp:0.0.0.0:5060 advertise sip.example.net:5080,"
                                        "tcp:0.0.0.0:5060   advertise 203.0.113.7,"
                                        "wss:[::]:8443 advertise [2001:db8::1]:443,ws:[::1]:8080"});
  ASSERT_EQ(c.listen.size(), 4u);
  EXPECT_EQ(c.listen[0].host, "0.0.0.0");
  EXPECT_EQ(c.listen[0].advertise.host, "sip.example.net");
  EXPECT_EQ(c.listen[0].advertise.port, 5080);
  EXPECT_EQ(c.listen[1].advertise.host, "203.0.113.7");
  EXPECT_EQ(c.listen[1].advertise.port, 0);  // the bound port
  EXPECT_EQ(c.listen[2].advertise.host, "[2001:db8::1]");
  EXPECT_EQ(c.listen[2].advertise.port, 443);
  EXPECT_TRUE(c.listen[3].advertise.host.empty());
  EXPECT_EQ(c.listen[0].to_string(), "udp:0.0.0.0:5060 advertise sip.example.net:5080");
  EXPECT_EQ(c.listen[1].to_string(), "tcp:0.0.0.0:5060 advertise 203.0.113.7");
  EXPECT_EQ(c.listen[2].to_string(), "wss:[::]:8443 advertise [2001:db8::1]:443");
  // The JSON form (a file) reads back the same.
  auto path = write_temp("advertise.json", to_json(c).dump());
  EXPECT_EQ(to_json(load_config(path, {})).at("listen"), to_json(c).at("listen"));
}

TEST(Config, RoundTripsThroughJson) {
  Config c = load_config(std::nullopt, {"domain=example.net", "media_ports=40000-40100"});
  auto path = write_temp("rt.json", to_json(c).dump());
  Config d = load_config(path, {});
  EXPECT_EQ(to_json(c), to_json(d));
}

TEST(Config, LogLevelsNameModules) {
  const Config c = load_config(
      std::nullopt, {R"(log_levels={"messages":"info","proxy":"debug"})", "log_level=warn"});
  EXPECT_EQ(c.log_level, "warn");
  EXPECT_EQ(c.log_levels,
            (std::map<std::string, std::string>{{"messages", "info"}, {"proxy", "debug"}}));
  EXPECT_TRUE(load_config(std::nullopt, {}).log_levels.empty());
}

TEST(Config, ClusterTakesItsOwnListenPointAndIsOffByDefault) {
  EXPECT_TRUE(load_config(std::nullopt, {}).cluster_node.empty());
  const Config c = load_config(
      std::nullopt, {"listen=udp:127.0.0.1:5070,tcp:0.0.0.0:5071",
                     R"(cluster={"node":"a-1","address":"sip:127.0.0.1:5070;transport=udp",)"
                     R"("secret":"0123456789abcdef"})"});
  EXPECT_EQ(c.cluster_node, "a-1");
  EXPECT_EQ(c.cluster_address, "sip:127.0.0.1:5070;transport=udp");
  EXPECT_EQ(c.cluster_secret, "0123456789abcdef");
  // A wildcard TCP listener with the port counts.
  EXPECT_EQ(load_config(std::nullopt, {"listen=udp:127.0.0.1:5070,tcp:0.0.0.0:5071",
                                       R"(cluster={"node":"b","address":)"
                                       R"("sip:10.0.0.12:5071;transport=tcp",)"
                                       R"("secret":"0123456789abcdef"})"})
                .cluster_address,
            "sip:10.0.0.12:5071;transport=tcp");
}

TEST(Config, ThreadsZeroMeansOnePerCoreAndEachShardGetsMediaPorts) {
  Config c = load_config(std::nullopt, {"threads=0"});
  EXPECT_EQ(c.threads, std::clamp<unsigned>(std::thread::hardware_concurrency(), 1, kMaxThreads));
  c = load_config(std::nullopt, {"threads=4", "media_ports=40000-40015"});
  EXPECT_EQ(c.threads, 4u);
}

struct BadCase {
  std::vector<std::string> sets;
  std::string key;  // must appear in the message
};

class ConfigErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigErrors, NameTheKey) {
  const auto& p = GetParam();
  const std::string msg = error_of(std::nullopt, p.sets);
  ASSERT_FALSE(msg.empty()) << "accepted: " << p.sets.front();
  EXPECT_NE(msg.find("'" + p.key + "'"), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(
    All, ConfigErrors,
    ::testing::Values(
        BadCase{{"listen=sctp:127.0.0.1:5060"}, "listen"},
        BadCase{{"listen=udp:127.0.0.1:70000"}, "listen"},
        BadCase{{"listen=udp:127.0.0.1"}, "listen"},
        BadCase{{"listen=udp:example.com:5060"}, "listen"}, BadCase{{"listen="}, "listen"},
        BadCase{{"listen=udp:0.0.0.0:5060 advertise"}, "listen"},
        BadCase{{"listen=udp:0.0.0.0:5060 advertize sip.example.net"}, "listen"},
        BadCase{{"listen=udp:0.0.0.0:5060 advertise a.example b.example"}, "listen"},
        BadCase{{"listen=udp:0.0.0.0:5060 advertise bad_host!:5060"}, "listen"},
        BadCase{{"listen=udp:0.0.0.0:5060 advertise sip.example.net:0"}, "listen"},
        BadCase{{"listen=udp:0.0.0.0:5060 advertise sip.example.net:70000"}, "listen"},
        BadCase{{"listen=udp:0.0.0.0:5060 advertise sip.example.net:"}, "listen"},
        BadCase{{"listen=udp:0.0.0.0:5060 advertise [2001:db8::1"}, "listen"},
        BadCase{{"listen=udp:0.0.0.0:5060 advertise [nonsense]:5060"}, "listen"},
        BadCase{{"listen=udp:0.0.0.0:5060 advertise [::1]x"}, "listen"},
        BadCase{{"no_such_key=1"}, "no_such_key"}, BadCase{{"auth=maybe"}, "auth"},
        BadCase{{"registrar_min_expires=4000"}, "registrar_default_expires"},
        BadCase{{"max_message_size=10"}, "max_message_size"},
        BadCase{{"max_message_size=ten"}, "max_message_size"},
        BadCase{{"tls_cert=/tmp/c.pem"}, "tls_key"}, BadCase{{"store=redis://x"}, "store"},
        BadCase{{"domain=a b"}, "domain"}, BadCase{{"log_level=loud"}, "log_level"},
        BadCase{{R"(log_levels={"nosuch":"info"})"}, "log_levels.nosuch"},
        BadCase{{R"(log_levels={"proxy":"loud"})"}, "log_levels.proxy"},
        BadCase{{R"(log_levels={"proxy":2})"}, "log_levels.proxy"},
        BadCase{{R"(log_levels=["proxy"])"}, "log_levels"},
        BadCase{{"media_ports=5000"}, "media_ports"}, BadCase{{"threads=65"}, "threads"},
        BadCase{{"threads=-1"}, "threads"},
        BadCase{{"threads=4", "media_ports=40000-40010"}, "media_ports"},
        BadCase{{"media_anchor=sometimes"}, "media_anchor"}, BadCase{{"trace=perhaps"}, "trace"},
        BadCase{{"media_advertise=media.example.net"}, "media_advertise"},
        BadCase{{"store_sync=fsync"}, "store_sync"},
        BadCase{{"store_layout=opensips"}, "store_layout"},
        BadCase{{"store_pool=65"}, "store_pool"},
        BadCase{{R"(cluster={"node":"a","address":"sip:127.0.0.1:5060"})"}, "cluster.secret"},
        BadCase{{R"(cluster={"node":"a b","address":"sip:127.0.0.1:5060",)"
                 R"("secret":"0123456789abcdef"})"},
                "cluster.node"},
        BadCase{{R"(cluster={"node":"a","address":"sip:127.0.0.1:5060","secret":"short"})"},
                "cluster.secret"},
        BadCase{{R"(cluster={"node":"a","address":"sip:node-a.example:5060",)"
                 R"("secret":"0123456789abcdef"})"},
                "cluster.address"},
        BadCase{{R"(cluster={"node":"a","address":"sip:127.0.0.1:5999",)"
                 R"("secret":"0123456789abcdef"})"},
                "cluster.address"},
        BadCase{{R"(cluster={"node":"a","address":"sip:127.0.0.1:5060;transport=ws",)"
                 R"("secret":"0123456789abcdef"})"},
                "cluster.address"},
        BadCase{
            {R"(cluster={"node":"a","address":"sip:127.0.0.1:5060","secret":"0123456789abcdef",)"
             R"("peers":[]})"},
            "cluster.peers"},
        BadCase{{"max_send_queue=1000"}, "max_send_queue"},
        BadCase{{"admin_listen=8081"}, "admin_listen"},
        BadCase{{"dns_servers=127.0.0.1"}, "dns_servers"},
        BadCase{{"dns_servers=ns.example.com:53"}, "dns_servers"},
        BadCase{{"dns_cache_min_ttl=60", "dns_cache_max_ttl=30"}, "dns_cache_max_ttl"},
        BadCase{{"dns_negative_ttl=-1"}, "dns_negative_ttl"},
        BadCase{{"ws_allowed_origins=example.com"}, "ws_allowed_origins"},
        BadCase{{"ws_allowed_origins=https://a.*.example.com"}, "ws_allowed_origins"},
        BadCase{{"ws_allowed_origins=https://example.com/path"}, "ws_allowed_origins"},
        BadCase{{"ws_allow_no_origin=maybe"}, "ws_allow_no_origin"},
        BadCase{{"ws_max_connections=-1"}, "ws_max_connections"},
        BadCase{{"ws_max_connections_per_ip=lots"}, "ws_max_connections_per_ip"},
        BadCase{{"tcp_max_connections=-1"}, "tcp_max_connections"},
        BadCase{{"tcp_max_connections_per_ip=many"}, "tcp_max_connections_per_ip"},
        BadCase{{"ws_connection_limit_exempt=lb.example.com"}, "ws_connection_limit_exempt"},
        BadCase{{"ws_connection_limit_exempt=10.0.0.0/40"}, "ws_connection_limit_exempt"},
        BadCase{{"ws_handshake_timeout=0"}, "ws_handshake_timeout"},
        BadCase{{"ws_first_message_timeout=99999999"}, "ws_first_message_timeout"},
        BadCase{{"ws_max_message_rate=fast"}, "ws_max_message_rate"},
        BadCase{{"ws_auth=basic"}, "ws_auth"}, BadCase{{"ws_auth_secret=short"}, "ws_auth_secret"},
        BadCase{{"ws_session_lifetime=10"}, "ws_session_lifetime"},
        BadCase{{"ws_session_lifetime=forever"}, "ws_session_lifetime"},
        BadCase{{"ws_peers=http://pbx.example.com/"}, "ws_peers"},
        BadCase{{"ws_peers=ws://127.0.0.1:8080/,wss://:443/"}, "ws_peers"},
        BadCase{{"ws_client_verify=sometimes"}, "ws_client_verify"},
        BadCase{{"ws_client_resource=ws"}, "ws_client_resource"},
        // Relay policy and routing services (issue 13): structured keys take JSON on --set.
        BadCase{{"foreign_callers=maybe"}, "foreign_callers"}, BadCase{{"domains=a b"}, "domains"},
        BadCase{{R"(domains=[{"name":"pbx.example","upstream":"sip:pbx.example"}])"},
                "domains[0].upstream"},
        BadCase{{R"(domains=[{"name":"pbx.example","upstream":"sip:10.0.0.5;transport=ws"}])"},
                "domains[0].upstream"},
        BadCase{{R"(domains=[{"name":"pbx.example","upstream":"sip:10.0.0.5","colour":1}])"},
                "domains[0].colour"},
        BadCase{{R"(domains=[{"upstream":"sip:10.0.0.5"}])"}, "domains[0].name"},
        BadCase{{R"(domains=[{"name":"a b","upstream":"sip:10.0.0.5"}])"}, "domains[0].name"},
        BadCase{{R"(domains=[{"name":"localhost","upstream":"sip:10.0.0.5"}])"}, "domains"},
        BadCase{{R"(domains=[{"name":"p.example","upstream":"sip:10.0.0.5","path":"yes"}])"},
                "domains[0].path"},
        BadCase{{R"(domains=[7])"}, "domains[0]"},
        BadCase{
            {R"(domains=[{"name":"p.example","upstream":"sip:10.0.0.5","strip_headers":["Via"]}])"},
            "domains[0].strip_headers"},
        BadCase{{R"(gateways=[{"name":"GW1","uri":"sip:127.0.0.1","strip_headers":"User-Agent"}])"},
                "gateways[0].strip_headers"},
        BadCase{{R"(gateways=[{"name":"GW1","uri":"sip:127.0.0.1","strip_headers":["a b"]}])"},
                "gateways[0].strip_headers"},
        // Topology hiding knows a peer by address; a Path registration shows the UA's Contact.
        BadCase{{R"(domains=[{"name":"p.example","upstream":"sip:10.0.0.5","path":true,)"
                 R"("topology_hiding":true}])"},
                "domains[0].topology_hiding"},
        BadCase{{R"(domains=[{"name":"p.example","upstream":"sip:10.0.0.5","topology_hiding":1}])"},
                "domains[0].topology_hiding"},
        BadCase{{R"(gateways=[{"name":"GW1","uri":"sip:gw.example","topology_hiding":true}])"},
                "gateways[0].topology_hiding"},
        BadCase{{R"(gateways=[{"name":"GW1","uri":"sip:127.0.0.1","topology_hiding":"on"}])"},
                "gateways[0].topology_hiding"},
        BadCase{{R"(gateways=[{"name":"GW1","uri":"sip:127.0.0.1","max_message_size":100}])"},
                "gateways[0].max_message_size"},
        BadCase{{R"(gateways=[{"name":"GW1","uri":"sip:gw.example","max_message_size":1300}])"},
                "gateways[0].max_message_size"},
        BadCase{{R"(domains=[{"name":"p.example","upstream":"sip:10.0.0.5",)"
                 R"("max_message_size":70000}])"},
                "domains[0].max_message_size"},
        BadCase{{"nat_keepalive_method=ping"}, "nat_keepalive_method"},
        BadCase{{"admin_token=short"}, "admin_token"}, BadCase{{"log_format=xml"}, "log_format"},
        BadCase{{"admin_token=has a space in the middle"}, "admin_token"},
        // DTMF to a peer: two modes; INFO needs the peer's address.
        BadCase{{R"(gateways=[{"name":"GW1","uri":"sip:127.0.0.1","dtmf":"inband"}])"},
                "gateways[0].dtmf"},
        BadCase{{R"(gateways=[{"name":"GW1","uri":"sip:gw.example","dtmf":"info"}])"},
                "gateways[0].dtmf"},
        BadCase{{R"(domains=[{"name":"p.example","upstream":"sip:10.0.0.5","dtmf":true}])"},
                "domains[0].dtmf"},
        BadCase{{R"(gateways=[{"name":"GW1","uri":"sip:127.0.0.1","auth_user":"u"}])"},
                "gateways[0].password"},
        BadCase{{R"(gateways=[{"name":"GW1","uri":"sip:127.0.0.1","password":"p"}])"},
                "gateways[0].auth_user"},
        BadCase{{R"(registrations=[{"aor":"sip:provider.example","password":"x"}])"},
                "registrations[0].aor"},
        BadCase{{R"(registrations=[{"aor":"sip:1@provider.example","password":"x"}])"},
                "registrations[0].outbound_proxy"},
        BadCase{{R"(registrations=[{"aor":"sip:1@p.example","outbound_proxy":"sip:10.0.0.1"}])"},
                "registrations[0].password"},
        BadCase{{R"(registrations=[{"aor":"sip:1@p.example","outbound_proxy":"sip:10.0.0.1",)"
                 R"("password":"x","expires":-5}])"},
                "registrations[0].expires"},
        BadCase{{R"(registrations=[{"aor":"sip:1@p.example","outbound_proxy":"sip:10.0.0.1",)"
                 R"("password":"x","secret":1}])"},
                "registrations[0].secret"},
        BadCase{{"routes=not json"}, "routes"},
        BadCase{{R"(call_classes=[{"name":"ld","match":"([0-9","group":"ld"}])"},
                "call_classes[0].match"},
        BadCase{{R"(call_classes=[{"name":"ld","match":"^1"}])"}, "call_classes[0].group"},
        BadCase{{R"(call_classes=[{"name":"a","match":"^1","group":"g"},)"
                 R"({"name":"a","match":"^2","group":"g"}])"},
                "call_classes[1].name"},
        BadCase{{R"(gateways=[{"name":"GW1","uri":"sip:127.0.0.1:5070"}])",
                 R"(routes=[{"match":"^9","gateways":["GW3"]}])"},
                "routes[0].gateways"},
        BadCase{{R"(gateways=[{"name":"GW1","uri":"sip:127.0.0.1","colour":"red"}])"},
                "gateways[0].colour"},
        BadCase{{R"(gateways=[{"name":"GW1","uri":"http://gw"}])"}, "gateways[0].uri"},
        BadCase{{R"(gateways=[{"name":"GW1","uri":"sip:gw","weight":0}])"}, "gateways[0].weight"},
        BadCase{{R"(routes=[{"match":"^9","gateways":[]}])"}, "routes[0].gateways"},
        BadCase{{R"(gateways=[{"name":"GW1","uri":"sip:gw"}])",
                 R"(routes=[{"match":"^9","gateways":["GW1"],"failover_on":[200]}])"},
                "routes[0].failover_on"},
        BadCase{{R"(voicemail={"busy":"sip:vm@127.0.0.1"})"}, "voicemail.busy"},
        BadCase{{R"(voicemail={"later":"sip:{user}@vm"})"}, "voicemail.later"},
        BadCase{{R"(trusted_peers=[{"source":"10.0.0.0/40"}])"}, "trusted_peers[0].source"},
        BadCase{{R"(trusted_peers=[{"transport":"udp"}])"}, "trusted_peers[0].source"},
        BadCase{{R"(trusted_peers=[{"source":"10.0.0.1","transport":"sctp"}])"},
                "trusted_peers[0].transport"},
        BadCase{{R"(trusted_peers=[{"source":"10.0.0.1","from":"(("}])"}, "trusted_peers[0].from"},
        BadCase{{"gateway_timeout=0"}, "gateway_timeout"},
        BadCase{{"forward_ring_timeout=601"}, "forward_ring_timeout"},
        BadCase{{"auth_ban_action=ignore"}, "auth_ban_action"},
        BadCase{{"flood_action=shrug"}, "flood_action"},
        BadCase{{"flood_exempt=trunk.example.com"}, "flood_exempt"}));

// The issue's configuration contract, verbatim: it must load and mean what it says.
TEST(Config, IssueExampleOfTheRoutingServicesLoads) {
  const auto path = write_temp("routing.json", R"({
  "trusted_peers": [ { "source": "127.0.0.5", "transport": "any" } ],
  "gateways": [ { "name": "GW1", "uri": "sip:127.0.0.1:33071;transport=udp", "priority": 1 },
                { "name": "GW2", "uri": "sip:127.0.0.1:33072;transport=udp", "priority": 2 } ],
  "routes": [ { "match": "^9[0-9]{7,}$", "gateways": ["GW1", "GW2"], "failover_on": [408, 503] } ],
  "call_classes": [ { "name": "long distance", "match": "^[0-9]{10}$", "group": "ld",
                      "reason": "No permissions for long distance calls" } ],
  "voicemail": { "busy": "sip:b{user}@127.0.0.1:33073", "no_answer": "sip:u{user}@127.0.0.1:33073" }
})");
  Config c = load_config(path, {});
  ASSERT_EQ(c.trusted_peers.size(), 1u);
  EXPECT_FALSE(c.trusted_peers[0].transport.has_value());
  EXPECT_FALSE(c.trusted_peers[0].relay);
  ASSERT_EQ(c.gateways.size(), 2u);
  EXPECT_EQ(c.gateways[1].priority, 2u);
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].failover_on, (std::vector<int>{408, 503}));
  ASSERT_EQ(c.call_classes.size(), 1u);
  EXPECT_EQ(c.call_classes[0].group, "ld");
  EXPECT_EQ(c.voicemail.busy, "sip:b{user}@127.0.0.1:33073");
  EXPECT_EQ(c.foreign_callers, auth::ForeignCallers::Challenge);
  EXPECT_EQ(c.gateway_timeout_s, 3u);
  // to_json gives the same structures back (a reload compares them).
  EXPECT_EQ(to_json(c).at("routes"), to_json(load_config(path, {})).at("routes"));
  EXPECT_EQ(to_json(c).at("routes")[0].at("gateways")[1], "GW2");
}

TEST(Config, DomainsMayNameAnUpstreamRegistrar) {
  const auto path = write_temp("upstream.json", R"({
  "domains": [ "b.example", { "name": "PBX.example.com", "upstream": "sip:10.0.0.5:5060;transport=udp" },
               { "name": "pbx2.example.com", "upstream": "sip:10.0.0.6;transport=tcp", "path": true,
                 "upstream_unregister": false },
               { "name": "c.example" } ]
})");
  Config c = load_config(path, {});
  EXPECT_EQ(c.domains, (std::vector<std::string>{"b.example", "c.example"}));
  ASSERT_EQ(c.upstream_domains.size(), 2u);
  EXPECT_EQ(c.upstream_domains[0].name, "pbx.example.com");
  EXPECT_EQ(c.upstream_domains[0].upstream, "sip:10.0.0.5:5060;transport=udp");
  EXPECT_FALSE(c.upstream_domains[0].path);
  EXPECT_TRUE(c.upstream_domains[0].unregister);
  EXPECT_TRUE(c.upstream_domains[1].path);
  EXPECT_FALSE(c.upstream_domains[1].unregister);
  EXPECT_FALSE(c.upstream_domains[0].topology_hiding);
  // Round trip, and --set takes the same JSON.
  auto again = write_temp("upstream2.json", to_json(c).dump());
  EXPECT_EQ(to_json(load_config(again, {})), to_json(c));
  Config d = load_config(
      std::nullopt, {R"(domains=[{"name":"pbx.example.com","upstream":"sip:127.0.0.1:5070"}])"});
  ASSERT_EQ(d.upstream_domains.size(), 1u);
  EXPECT_EQ(load_config(std::nullopt, {"domains=a.example,b.example"}).domains.size(), 2u);
}

TEST(Config, TopologyHidingIsPerGatewayAndPerUpstream) {
  Config c = load_config(
      std::nullopt,
      {R"(domains=[{"name":"pbx.example.com","upstream":"sip:10.0.0.5","topology_hiding":true}])",
       R"(gateways=[{"name":"GW1","uri":"sip:[2001:db8::9]:5080","topology_hiding":true},)"
       R"({"name":"GW2","uri":"sip:gw2.example"}])",
       R"(routes=[{"match":"^9","gateways":["GW1","GW2"]}])"});
  ASSERT_EQ(c.upstream_domains.size(), 1u);
  EXPECT_TRUE(c.upstream_domains[0].topology_hiding);
  ASSERT_EQ(c.gateways.size(), 2u);
  EXPECT_TRUE(c.gateways[0].topology_hiding);
  EXPECT_FALSE(c.gateways[1].topology_hiding);
  EXPECT_EQ(routing::gateway_address(c.gateways[0].uri),
            boost::asio::ip::make_address("2001:db8::9"));
  EXPECT_FALSE(routing::gateway_address(c.gateways[1].uri).has_value());
  EXPECT_EQ(load_config(std::nullopt, {R"(gateways=[{"name":"GW1","uri":"sip:10.0.0.9",)"
                                       R"("max_message_size":1300}])"})
                .gateways[0]
                .max_message_size,
            1300u);
  auto again = write_temp("hiding.json", to_json(c).dump());
  EXPECT_EQ(to_json(load_config(again, {})), to_json(c));
}

TEST(Config, DtmfIsRfc4733UnlessAPeerWantsInfo) {
  Config c =
      load_config(std::nullopt,
                  {R"(domains=[{"name":"pbx.example.com","upstream":"sip:10.0.0.5","dtmf":"info"},)"
                   R"({"name":"pbx2.example.com","upstream":"sip:10.0.0.6"}])",
                   R"(gateways=[{"name":"GW1","uri":"sip:10.0.0.9","dtmf":"info"},)"
                   R"({"name":"GW2","uri":"sip:gw2.example","dtmf":"rfc4733"}])",
                   R"(routes=[{"match":"^9","gateways":["GW1","GW2"]}])"});
  ASSERT_EQ(c.upstream_domains.size(), 2u);
  EXPECT_TRUE(c.upstream_domains[0].dtmf_info);
  EXPECT_FALSE(c.upstream_domains[1].dtmf_info);
  ASSERT_EQ(c.gateways.size(), 2u);
  EXPECT_TRUE(c.gateways[0].dtmf_info);
  EXPECT_FALSE(c.gateways[1].dtmf_info);
  auto again = write_temp("dtmf.json", to_json(c).dump());
  Config c2 = load_config(again, {});
  EXPECT_TRUE(c2.upstream_domains[0].dtmf_info);
  EXPECT_TRUE(c2.gateways[0].dtmf_info);
  EXPECT_EQ(to_json(c2), to_json(c));
}

TEST(Config, RegistrationsGetTheirDefaults) {
  Config c = load_config(
      std::nullopt, {R"(registrations=[{"aor":"sip:1000@provider.example",)"
                     R"("outbound_proxy":"sip:192.0.2.10:5060;transport=tcp","password":"pw"}])"});
  ASSERT_EQ(c.registrations.size(), 1u);
  EXPECT_EQ(c.registrations[0].registrar, "sip:provider.example");
  EXPECT_EQ(c.registrations[0].auth_user, "1000");
  EXPECT_EQ(c.registrations[0].contact_user, "1000");
  EXPECT_EQ(c.registrations[0].expires, 3600u);
  auto again = write_temp("regs.json", to_json(c).dump());
  EXPECT_EQ(load_config(again, {}).registrations.size(), 1u);
}

TEST(Config, WebSocketClientKeys) {
  Config d = load_config(std::nullopt, {});
  EXPECT_TRUE(d.ws_peers.empty());
  EXPECT_TRUE(d.ws_client_ca_file.empty());
  EXPECT_TRUE(d.ws_client_verify);
  EXPECT_EQ(d.ws_client_resource, "/");
  Config c = load_config(std::nullopt, {"ws_peers=ws://127.0.0.1:8080/, wss://pbx.example.com/sip",
                                        "ws_client_ca_file=/etc/ssl/pbx.pem",
                                        "ws_client_verify=false", "ws_client_resource=/ws"});
  ASSERT_EQ(c.ws_peers.size(), 2u);
  EXPECT_EQ(c.ws_peers[1], "wss://pbx.example.com/sip");
  EXPECT_EQ(c.ws_client_ca_file, "/etc/ssl/pbx.pem");
  EXPECT_FALSE(c.ws_client_verify);
  EXPECT_EQ(c.ws_client_resource, "/ws");
}

TEST(Config, DnsCacheKeys) {
  Config d = load_config(std::nullopt, {});
  EXPECT_TRUE(d.dns_servers.empty());
  EXPECT_EQ(d.dns_cache_min_ttl_s, 5u);
  EXPECT_EQ(d.dns_cache_max_ttl_s, 3600u);
  EXPECT_EQ(d.dns_negative_ttl_s, 30u);
  Config c = load_config(std::nullopt,
                         {"dns_cache_min_ttl=1", "dns_cache_max_ttl=600", "dns_negative_ttl=5"});
  EXPECT_EQ(c.dns_cache_min_ttl_s, 1u);
  EXPECT_EQ(c.dns_cache_max_ttl_s, 600u);
  EXPECT_EQ(c.dns_negative_ttl_s, 5u);
}

TEST(Config, WebSocketSecurityDefaults) {
  Config c = load_config(std::nullopt, {});
  EXPECT_TRUE(c.ws_allowed_origins.empty());
  EXPECT_TRUE(c.ws_allow_no_origin);
  EXPECT_EQ(c.ws_max_connections, 10000u);
  EXPECT_EQ(c.ws_max_connections_per_ip, 100u);
  EXPECT_TRUE(c.ws_connection_limit_exempt.empty());
  EXPECT_EQ(c.ws_handshake_timeout_ms, 10000u);
  EXPECT_EQ(c.ws_first_message_timeout_ms, 30000u);
  EXPECT_EQ(c.ws_max_message_rate, 100u);
}

TEST(Config, WebSocketSecurityKeysFromFileAndSet) {
  auto path = write_temp("ws.json", R"({
    "ws_allowed_origins": ["https://phone.example.com:8443", "https://*.example.net"],
    "ws_allow_no_origin": false,
    "ws_connection_limit_exempt": ["10.0.0.0/8", "2001:db8::1"]
  })");
  Config c = load_config(
      path, {"ws_max_connections=50", "ws_max_connections_per_ip=0", "ws_handshake_timeout=2500",
             "ws_first_message_timeout=0", "ws_max_message_rate=20"});
  ASSERT_EQ(c.ws_allowed_origins.size(), 2u);
  EXPECT_EQ(c.ws_allowed_origins[1], "https://*.example.net");
  EXPECT_FALSE(c.ws_allow_no_origin);
  ASSERT_EQ(c.ws_connection_limit_exempt.size(), 2u);
  EXPECT_EQ(c.ws_max_connections, 50u);
  EXPECT_EQ(c.ws_max_connections_per_ip, 0u);
  EXPECT_EQ(c.ws_handshake_timeout_ms, 2500u);
  EXPECT_EQ(c.ws_first_message_timeout_ms, 0u);
  EXPECT_EQ(c.ws_max_message_rate, 20u);
  // --set lists are comma-separated.
  Config d = load_config(std::nullopt, {"ws_allowed_origins=https://a.test,https://*.b.test",
                                        "ws_connection_limit_exempt=127.0.0.1,::1"});
  EXPECT_EQ(d.ws_allowed_origins.size(), 2u);
  EXPECT_EQ(d.ws_connection_limit_exempt.size(), 2u);
  auto rt = write_temp("ws-rt.json", to_json(c).dump());
  EXPECT_EQ(to_json(load_config(rt, {})), to_json(c));
}

TEST(Config, WsAuthKeys) {
  Config d = load_config(std::nullopt, {});
  EXPECT_EQ(d.ws_auth, WsAuthMode::Off);
  EXPECT_EQ(d.ws_auth_secret, "");
  EXPECT_EQ(d.ws_session_lifetime_s, 43200u);
  const std::pair<const char*, WsAuthMode> modes[] = {{"off", WsAuthMode::Off},
                                                      {"cookie", WsAuthMode::Cookie},
                                                      {"digest", WsAuthMode::Digest},
                                                      {"any", WsAuthMode::Any}};
  for (const auto& [text, mode] : modes) {
    Config c =
        load_config(std::nullopt, {std::string("ws_auth=") + text,
                                   "ws_auth_secret=0123456789abcdef", "ws_session_lifetime=600"});
    EXPECT_EQ(c.ws_auth, mode) << text;
    EXPECT_EQ(c.ws_auth_secret, "0123456789abcdef");
    EXPECT_EQ(c.ws_session_lifetime_s, 600u);
    EXPECT_EQ(to_json(c).at("ws_auth"), text);
  }
  const std::string msg = error_of(std::nullopt, {"ws_auth_secret=abc"});
  EXPECT_NE(msg.find("at least 16"), std::string::npos) << msg;
}

TEST(Config, UnknownKeyInFile) {
  auto path = write_temp("u.json", R"({"domian": "typo.example"})");
  EXPECT_NE(error_of(path, {}).find("'domian'"), std::string::npos);
}

TEST(Config, BadJsonNamesTheFileAndPosition) {
  auto path = write_temp("bad.json", "{\n  \"domain\": \"x\",,\n}");
  const auto msg = error_of(path, {});
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
}

TEST(Config, MissingFileNamesThePath) {
  const auto msg = error_of(std::string("/nonexistent/sipws.json"), {});
  EXPECT_NE(msg.find("/nonexistent/sipws.json"), std::string::npos) << msg;
}

TEST(Config, SetWithoutEquals) {
  EXPECT_NE(error_of(std::nullopt, {"domain"}).find("key=value"), std::string::npos);
}

}  // namespace
}  // namespace sipws::app
