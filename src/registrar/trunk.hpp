#pragma once
// Trunks: sipws registers to a SIP provider as a user agent client (RFC 3261 s.10.2), so that
// the provider sends the calls for its numbers (DIDs) to sipws. Each registration is kept
// alive: 401/407 answered with the trunk's credentials, 423 Interval Too Brief followed, a
// refresh before expiry, a retry with back-off after a failure; its state is in the log and in
// /metrics. Requests from the provider to the trunk's contact are routed by the number dialled
// (the To user) to the local users and aliases (TrunkInboundProcessor).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/counters.hpp"
#include "common/expected.hpp"
#include "common/net.hpp"
#include "common/timer.hpp"
#include "proxy/domains.hpp"
#include "proxy/request_context.hpp"
#include "proxy/uac.hpp"

namespace sipws::registrar {

/// One outbound registration (an object of the `registrations` config list).
struct TrunkConfig {
  std::string name;       ///< for logs; default the AOR
  std::string aor;        ///< "sip:user@provider.example" (To and From of the REGISTER)
  std::string registrar;  ///< Request-URI of the REGISTER; default "sip:" + the AOR's domain
  /// Where the REGISTER is sent: a sip: URI with an IP address, udp/tcp/tls (as `upstream`,
  /// upstream_destination()); default `registrar`, which must then be one. Requests from that
  /// address (over UDP: address and port) are the provider's.
  std::string outbound_proxy;
  std::string auth_user;         ///< digest username; default the AOR's user
  std::string password;          ///< digest password, or empty with `ha1`
  std::string ha1;               ///< MD5 HA1 (32 hex digits) of auth_user, realm, password
  std::uint32_t expires = 3600;  ///< seconds asked for
  std::string contact_user;      ///< user part of the Contact; default the AOR's user
};

/// Keeps the `registrations` registered. Thread: the io thread of `timers` and `uac` (shard 0).
/// Counters: trunk_register_ok (a 2xx), trunk_register_failed (a final failure or no answer),
/// trunk_register_challenged (401/407 answered). Logs each registration's state changes:
/// registered (with the expiry the registrar granted), failed (status, next attempt).
class TrunkRegistrar {
 public:
  /// Back-off after a failed attempt: 5 s, doubling up to this many seconds.
  static constexpr std::uint32_t kMaxRetryS = 300;

  /// `timers` and `uac` must outlive the registrar. Nothing is sent before start().
  TrunkRegistrar(std::vector<TrunkConfig> trunks, TimerService& timers, proxy::Uac& uac,
                 Counters& reg = counters());
  ~TrunkRegistrar();
  TrunkRegistrar(const TrunkRegistrar&) = delete;
  TrunkRegistrar& operator=(const TrunkRegistrar&) = delete;

  /// Sends every REGISTER.
  void start();
  /// Cancels the timers (shutdown); an answer still in flight is ignored.
  void stop();

  /// How one registration stands.
  struct State {
    std::string name;
    bool registered = false;
    int last_status = 0;          ///< of the last final response; 0 = none yet / no answer
    std::uint32_t granted_s = 0;  ///< expiry the registrar granted (while registered)
    unsigned failures = 0;        ///< consecutive failed attempts
  };
  std::vector<State> states() const;
  /// Registrations that are registered now (the `sipws_trunks_registered` gauge).
  std::size_t registered() const;

 private:
  struct Trunk;
  void send_register(Trunk& t, const std::string& credentials_header = {},
                     const std::string& credentials = {});
  void on_final(std::size_t index, std::uint64_t generation, const sip::Message* rsp);
  void fail(Trunk& t, int status, std::string_view why);
  void schedule(Trunk& t, std::uint32_t after_s);

  std::vector<Trunk> trunks_;
  TimerService& timers_;
  proxy::Uac& uac_;
  Counter& ok_;
  Counter& failed_;
  Counter& challenged_;
  bool stopped_ = false;
};

/// Request processor "trunk-inbound", before the relay policy: a request from a trunk's
/// provider (its outbound_proxy address) to the trunk's contact (`sip:contact_user@` an address
/// of sipws) is for the number dialled, the To URI's user: its Request-URI becomes
/// `sip:<that user>@<domain>` and it is admitted like a trusted peer without relay (local
/// users and aliases only; anything else gets the relay policy's 403). Counter:
/// trunk_requests_in. Thread: core io thread.
class TrunkInboundProcessor final : public proxy::RequestProcessor {
 public:
  /// `domains` must outlive the processor.
  TrunkInboundProcessor(const std::vector<TrunkConfig>& trunks, const proxy::Domains& domains,
                        Counters& reg = counters());
  std::string_view name() const override { return "trunk-inbound"; }
  proxy::Action process(proxy::RequestContext& ctx) override;

 private:
  struct Inbound {
    std::string name;
    std::string contact_user;
    Destination provider;
  };
  std::vector<Inbound> inbound_;
  const proxy::Domains& domains_;
  Counter& in_;
};

/// The trunk with its defaults filled in (name, registrar, outbound_proxy, auth_user,
/// contact_user), or an error naming the field ("aor", "outbound_proxy"...) and the fix.
Expected<TrunkConfig, std::string> complete_trunk(TrunkConfig t);

}  // namespace sipws::registrar
