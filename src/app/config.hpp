#pragma once
// sipws configuration: one JSON file (comments allowed) plus `--set key=value` overrides.
// Every key is documented in docs/configuration.md.

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "auth/relay_policy.hpp"
#include "common/net.hpp"
#include "registrar/trunk.hpp"
#include "registrar/upstream.hpp"
#include "routing/dial_plan.hpp"
#include "store/store.hpp"

namespace sipws::app {

/// A configuration error; what() names the key and the fix. The daemon exits with code 2.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One `proto:host:port [advertise HOST[:PORT]]` entry of `listen`.
struct ListenSpec {
  Protocol protocol = Protocol::Udp;
  std::string host;  ///< IP literal, IPv6 without brackets
  std::uint16_t port = 0;
  Advertise advertise{};  ///< what Via / Record-Route say instead of host:port (NAT, DNS name)
  std::string to_string() const;
};

enum class AuthMode { Digest, Off };
/// `ws_auth`: WebSocket handshake authentication (RFC 7118 s.7).
enum class WsAuthMode { Off, Cookie, Digest, Any };
enum class MediaAnchor { Auto, Always, Never };
/// `store_sync`: when a store write is acknowledged (docs/configuration.md).
enum class StoreSync {
  Ack,   ///< a REGISTER's 200 OK waits for its bindings' commit (group commit)
  Batch  ///< write-behind: a crash loses what was answered but not yet written
};

/// Most shards `threads` may ask for (FlowIds name their shard in 8 bits; see flow.hpp).
inline constexpr unsigned kMaxThreads = 64;

/// Every key's default lives here, in the member initialisers, and nowhere else: the JSON
/// defaults that a file or `--set` overrides are `to_json(Config{})` (config.cpp).
struct Config {
  std::vector<ListenSpec> listen = {{Protocol::Udp, "127.0.0.1", 5060},
                                    {Protocol::Tcp, "127.0.0.1", 5060},
                                    {Protocol::Ws, "127.0.0.1", 8080},
                                    {Protocol::Wss, "0.0.0.0", 8443}};
  std::string domain = "localhost";
  std::string store = "sqlite:./var/sipws.db";
  StoreSync store_sync = StoreSync::Ack;
  /// `store_layout`: "sipws" (its own tables) or "kamailio" (subscribers read from an existing
  /// Kamailio `subscriber` table).
  std::string store_layout = "sipws";
  /// `store_pool`: connections that serve reads beside the one that writes (PostgreSQL and
  /// MySQL; SQLite always uses one). 0 = reads share the writer's connection.
  std::uint32_t store_pool = 4;
  /// `cluster` (docs/cluster.md): this node's id, the SIP URI where the other nodes send its
  /// requests (one of its UDP/TCP listen points), the secret every node shares. Off when
  /// `cluster_node` is empty (the key is {}).
  std::string cluster_node;
  std::string cluster_address;
  std::string cluster_secret;
  std::uint32_t shutdown_grace_s = 5;  ///< SIGTERM: at most this long for open transactions
  AuthMode auth = AuthMode::Digest;
  std::string admin_host = "127.0.0.1";
  std::uint16_t admin_port = 8081;
  /// admin_token: the bearer token of the admin API (/api/v1/); empty: the API is off (403).
  std::string admin_token;
  /// cdr_file: call records are also appended here, one JSON object per line ("" = the store
  /// only); relative to the config's folder (resolve_path).
  std::string cdr_file;
  /// trace_messages: how many SIP messages (in and out, every shard together) the trace ring
  /// keeps for GET /api/v1/trace; 0 = no trace.
  std::uint32_t trace_messages = 20000;
  /// trace_pcap: every traced message is also written to this pcap file ("" = none; relative to
  /// the config's folder, resolve_path), rotated to trace_pcap + ".1" at trace_pcap_max_mb MiB
  /// (0 = never).
  std::string trace_pcap;
  std::uint32_t trace_pcap_max_mb = 100;
  bool log_json = false;  ///< log_format: json (one JSON object per line) or text
  std::string log_level = "info";
  /// log_levels: a module's own level over log_level (module name of log::kModuleNames ->
  /// trace|debug|info|warn|error|off), e.g. {"proxy": "debug", "messages": "info"}.
  std::map<std::string, std::string> log_levels;
  bool trace = false;
  std::string tls_cert;  ///< PEM; empty => dev certificate in dev_cert_dir
  std::string tls_key;
  std::string dev_cert_dir = "./var/certs";
  std::string www_root;        ///< empty => auto (www/demo-jssip of the build tree or the install)
  std::string admin_www_root;  ///< the web admin at /admin/; empty => auto (www/admin likewise)
  /// state_dir: the folder for the store, generated certificates and other state; relative
  /// paths of the configuration resolve against it (resolve_path). Empty: the configuration
  /// file's folder, or the working directory without a file.
  std::string state_dir;
  std::uint32_t ws_ping_interval_s = 30;  ///< 0 = no pings
  std::uint32_t ws_pong_timeout_s = 10;
  std::uint32_t max_message_size = 65535;  ///< bytes
  std::uint32_t max_send_queue = 262144;   ///< bytes per TCP/TLS/WS/WSS flow; 0 = no bound
  /// Shards: io threads, each with its own listeners (SO_REUSEPORT), transactions and proxy
  /// core (docs/architecture.md "Threads"). 0 (the default) = the number of cores:
  /// load_config() resolves it, so a loaded Config always has 1..kMaxThreads.
  std::uint32_t threads = 0;
  std::vector<std::string> ws_allowed_origins;  ///< exact or https://*.example.com; empty = any
  bool ws_allow_no_origin = true;
  std::uint32_t ws_max_connections = 10000;       ///< 0 = no cap
  std::uint32_t ws_max_connections_per_ip = 100;  ///< 0 = no cap
  std::uint32_t tcp_max_connections = 10000;      ///< accepted SIP TCP+TLS connections; 0 = no cap
  std::uint32_t tcp_max_connections_per_ip = 0;   ///< 0 = no cap (trunks often share one IP)
  std::vector<std::string> ws_connection_limit_exempt;  ///< IPs / CIDRs (validated)
  std::uint32_t ws_handshake_timeout_ms = 10000;
  std::uint32_t ws_first_message_timeout_ms = 30000;  ///< 0 = none
  std::uint32_t ws_max_message_rate = 100;            ///< messages/s per flow; 0 = unlimited
  WsAuthMode ws_auth = WsAuthMode::Off;
  std::string ws_auth_secret;  ///< cookie key; empty => ws_auth.key beside the store
  std::uint32_t ws_session_lifetime_s = 43200;
  std::uint32_t registrar_min_expires = 60;
  std::uint32_t registrar_max_expires = 3600;
  std::uint32_t registrar_default_expires = 3600;
  std::uint32_t nonce_lifetime_s = 300;
  std::uint32_t timer_t1_ms = 500;
  std::uint32_t timer_t2_ms = 4000;
  std::uint32_t timer_t4_ms = 5000;
  MediaAnchor media_anchor = MediaAnchor::Auto;
  std::string media_address;
  /// IP written into anchored SDP (c=, o=, ICE candidates) instead of the media address: the
  /// public address of a host behind NAT whose media ports are forwarded; empty = the address.
  std::string media_advertise;
  std::uint16_t media_port_min = 30000;
  std::uint16_t media_port_max = 30999;
  std::uint32_t media_timeout_s = 60;  ///< no RTP from either end this long => BYE; 0: off
  /// OPTIONS to each binding behind NAT this often (NatKeepalive), seconds; 0: off.
  std::uint32_t nat_keepalive_interval_s = 30;
  /// nat_keepalive_method: crlf (true: a CRLFCRLF datagram / stream ping, no answer expected)
  /// or options (false, the default: an OPTIONS transaction, unanswered ones counted).
  bool nat_keepalive_crlf = false;
  std::vector<std::string> dns_servers;      ///< host:port (IP literal); empty = /etc/resolv.conf
  std::uint32_t dns_cache_min_ttl_s = 5;     ///< record TTLs are raised to at least this
  std::uint32_t dns_cache_max_ttl_s = 3600;  ///< and cut to at most this
  std::uint32_t dns_negative_ttl_s = 30;     ///< NXDOMAIN / no data cached this long
  std::string user_agent = "sipws/0.1";
  /// WebSocket servers sipws keeps a client connection to (RFC 7118 client role), as
  /// `ws://host:port/path` / `wss://...` URLs, validated by ws::parse_ws_url.
  std::vector<std::string> ws_peers;
  std::string ws_client_ca_file;         ///< extra PEM CA bundle for WSS servers (system store too)
  bool ws_client_verify = true;          ///< false: WSS server certificates unchecked (labs only)
  std::string ws_client_resource = "/";  ///< request target of WS connections opened on demand
  // Relay policy and routing services (reloaded on SIGHUP).
  std::vector<std::string> domains;  ///< extra local domains
  /// Domains whose registrar is upstream (`domains` objects with `upstream`; not reloaded).
  std::vector<registrar::UpstreamDomain> upstream_domains;
  /// Trunks: registrations sipws keeps at providers (`registrations`; not reloaded).
  std::vector<registrar::TrunkConfig> registrations;
  auth::ForeignCallers foreign_callers = auth::ForeignCallers::Challenge;
  std::vector<auth::TrustedPeer> trusted_peers;
  std::vector<routing::Gateway> gateways;
  std::vector<routing::Route> routes;
  std::vector<routing::CallClass> call_classes;
  routing::VoicemailTemplates voicemail;
  std::uint32_t gateway_timeout_s = 3;
  std::uint32_t forward_ring_timeout_s = 20;
  // Brute force and flood control (reloaded on SIGHUP).
  std::uint32_t auth_max_failures = 10;       ///< per source IP in auth_failure_window; 0 = off
  std::uint32_t auth_max_user_failures = 30;  ///< per user in auth_failure_window; 0 = off
  std::uint32_t auth_failure_window_s = 60;
  std::uint32_t auth_ban_time_s = 600;
  bool auth_ban_drop = false;              ///< auth_ban_action: drop (true) or reject (403)
  std::uint32_t flood_max_requests = 500;  ///< per source IP in flood_window; 0 = off
  std::uint32_t flood_window_s = 2;
  std::uint32_t flood_block_time_s = 30;
  bool flood_drop = false;                ///< flood_action: drop (true) or reject (503)
  std::vector<std::string> flood_exempt;  ///< IPs / CIDRs (validated)
  /// The JSON of the keys above whose values are structures (for to_json).
  nlohmann::json routing_json = {
      {"trusted_peers", nlohmann::json::array()}, {"gateways", nlohmann::json::array()},
      {"routes", nlohmann::json::array()},        {"call_classes", nlohmann::json::array()},
      {"voicemail", nlohmann::json::object()},    {"registrations", nlohmann::json::array()}};
  /// Not a key: true on the embedded default (no configuration file, `store` not overridden),
  /// where `sipws run` creates demo users on an empty store (app/demo_users.hpp).
  bool demo_users = false;
  /// Not a key: the absolute folder relative paths resolve against (resolve_path): `state_dir`
  /// (itself relative to the configuration file's folder), else the configuration file's folder;
  /// empty with neither (the working directory, as the embedded default's ./var/). Set by
  /// load_config.
  std::string base_dir;
};

/// Loads `file` (if given) over the embedded defaults, then applies each `key=value` of `sets`
/// in order. @throws ConfigError naming the key (unknown key, bad value, unreadable file, JSON
/// syntax error with its position).
Config load_config(const std::optional<std::string>& file, const std::vector<std::string>& sets);

/// A path-like value of `c` (a file or folder key: tls_cert, dev_cert_dir, www_root...) as the
/// daemon opens it: "" and absolute paths as they are, a relative path below `c.base_dir`
/// (lexically normalised). Never touches the file system.
std::string resolve_path(const Config& c, const std::string& path);

/// `c.store` as the daemon and the CLI open it: an `sqlite:PATH` (or `sqlite://PATH`) with a
/// relative PATH resolved by resolve_path; `:memory:` and other URIs as they are.
std::string resolve_store(const Config& c);
/// How the daemon and the CLI open the store: `store_layout`, schema migrated at start-up.
store::OpenOptions store_options(const Config& c);

/// The configuration as JSON (same keys as the file format).
nlohmann::json to_json(const Config& c);

/// One line for the start-up log.
std::string describe(const Config& c);

}  // namespace sipws::app
