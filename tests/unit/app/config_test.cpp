#include "app/config.hpp"

#include <gtest/gtest.h>

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

TEST(Config, EmbeddedDefaultsMatchTheDesignContract) {
  Config c = load_config(std::nullopt, {});
  ASSERT_EQ(c.listen.size(), 4u);
  EXPECT_EQ(c.listen[0].to_string(), "udp:127.0.0.1:5060");
  EXPECT_EQ(c.listen[1].to_string(), "tcp:127.0.0.1:5060");
  EXPECT_EQ(c.listen[2].to_string(), "ws:127.0.0.1:8080");
  EXPECT_EQ(c.listen[3].to_string(), "wss:0.0.0.0:8443");
  EXPECT_EQ(c.domain, "localhost");
  EXPECT_EQ(c.store, "sqlite:./var/sipws.db");
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

TEST(Config, RoundTripsThroughJson) {
  Config c = load_config(std::nullopt, {"domain=example.net", "media_ports=40000-40100"});
  auto path = write_temp("rt.json", to_json(c).dump());
  Config d = load_config(path, {});
  EXPECT_EQ(to_json(c), to_json(d));
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
        BadCase{{"no_such_key=1"}, "no_such_key"}, BadCase{{"auth=maybe"}, "auth"},
        BadCase{{"registrar_min_expires=4000"}, "registrar_default_expires"},
        BadCase{{"max_message_size=10"}, "max_message_size"},
        BadCase{{"max_message_size=ten"}, "max_message_size"},
        BadCase{{"tls_cert=/tmp/c.pem"}, "tls_key"}, BadCase{{"store=redis://x"}, "store"},
        BadCase{{"domain=a b"}, "domain"}, BadCase{{"log_level=loud"}, "log_level"},
        BadCase{{"media_ports=5000"}, "media_ports"},
        BadCase{{"media_anchor=sometimes"}, "media_anchor"}, BadCase{{"trace=perhaps"}, "trace"},
        BadCase{{"admin_listen=8081"}, "admin_listen"},
        BadCase{{"dns_servers=127.0.0.1"}, "dns_servers"},
        BadCase{{"dns_servers=ns.example.com:53"}, "dns_servers"},
        BadCase{{"dns_cache_min_ttl=60", "dns_cache_max_ttl=30"}, "dns_cache_max_ttl"},
        BadCase{{"dns_negative_ttl=-1"}, "dns_negative_ttl"},
        BadCase{{"ws_peers=http://pbx.example.com/"}, "ws_peers"},
        BadCase{{"ws_peers=ws://127.0.0.1:8080/,wss://:443/"}, "ws_peers"},
        BadCase{{"ws_client_verify=sometimes"}, "ws_client_verify"},
        BadCase{{"ws_client_resource=ws"}, "ws_client_resource"}));

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
  Config c = load_config(std::nullopt, {"dns_cache_min_ttl=1", "dns_cache_max_ttl=600",
                                        "dns_negative_ttl=5"});
  EXPECT_EQ(c.dns_cache_min_ttl_s, 1u);
  EXPECT_EQ(c.dns_cache_max_ttl_s, 600u);
  EXPECT_EQ(c.dns_negative_ttl_s, 5u);
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
