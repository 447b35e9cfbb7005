#pragma once
// sipws-load's generator threads. A Worker owns a share of the connections (connection i goes to
// thread i % threads), one epoll loop, a timer heap and its Stats; the mode logic (register,
// call, answer, connect, respond) runs on it. Threads share only the atomics of Shared.
// Thread: Worker::run on its own thread; Shared's atomics from any.

#include <netinet/in.h>
#include <openssl/ssl.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "conn.hpp"
#include "sip_text.hpp"
#include "stats.hpp"

namespace sipws::load {

enum class Mode { Register, Call, Answer, Connect, Respond };

struct Options {
  Mode mode = Mode::Register;
  std::string mode_name;
  std::string target_text;
  Url target;
  std::string domain;
  std::string user_prefix = "load";
  std::uint64_t user_base = 1000;
  std::string password;  ///< empty: the user name
  bool password_set = false;
  std::uint64_t connections = 50;
  unsigned threads = 1;
  double duration_s = 10;
  double warmup_s = 1;
  std::uint64_t count = 0;
  double rate = 0;
  std::uint64_t timeout_ms = 5000;
  std::uint64_t expires = 600;
  std::string to;  ///< call: Request-URI template ({n})
  std::uint64_t to_range = 0;
  std::uint64_t hold_ms = 0;
  std::uint64_t answer_delay_ms = 0;
  double hold_for_s = -1;  ///< connect; < 0: --duration
  std::vector<in_addr> sources;
  std::vector<int> pids;
  std::string json;
  std::vector<Url> listen;
  bool verify = false;
  bool quiet = false;
};

/// Monotonic nanoseconds (CLOCK_MONOTONIC).
std::int64_t mono_ns();

/// State shared by the generator threads and the main thread.
struct Shared {
  explicit Shared(const Options& o) : opt(o) {}
  const Options& opt;
  SSL_CTX* tls = nullptr;
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> window_start{0};  ///< measured window, mono ns
  std::atomic<std::int64_t> window_end{std::numeric_limits<std::int64_t>::max()};
  std::atomic<std::uint64_t> started{0};     ///< operations started (--count gate)
  std::atomic<std::uint64_t> finished{0};    ///< operations ended, success or error
  std::atomic<std::uint64_t> setup_done{0};  ///< connect/answer: flows registered or failed
  std::atomic<std::uint64_t> registered{0};  ///< connect/answer: flows registered once
  std::atomic<int> fatal{0};                 ///< a worker could not start (listen failed)
};

class Worker final : public ConnHandler {
 public:
  Worker(Shared& sh, unsigned index);
  ~Worker() override;
  /// Runs the loop until Shared::stop; then closes every connection.
  void run();
  const Stats& stats() const { return stats_; }
  /// The first connection error text seen (diagnostics for the user).
  const std::string& first_error() const { return first_error_; }

  void on_open(Conn& c) override;
  void on_message(Conn& c, std::string_view msg) override;
  void on_closed(Conn& c, ErrorKind why, bool was_open) override;

 private:
  enum class Phase : std::uint8_t { Idle, Registering, Inviting, Holding, Byeing };
  enum class TimerKind : std::uint8_t {
    OpTimeout,
    ConnectTimeout,
    Hold,
    Reregister,
    Reconnect,
    Delayed
  };
  struct Timer {
    std::int64_t at;
    std::uint32_t flow;
    std::uint32_t gen;
    TimerKind kind;
    bool operator>(const Timer& o) const { return at > o.at; }
  };
  struct Flow {
    std::unique_ptr<Conn> conn;
    std::uint64_t index = 0;  ///< global connection index i
    std::string user;
    std::unique_ptr<DigestClient> digest;
    std::uint32_t conn_gen = 0, op_gen = 0, reg_gen = 0;
    Phase phase = Phase::Idle;
    bool reg_op = false;      ///< the running REGISTER is the operation (register mode)
    bool registered = false;  ///< connect/answer: registered at least once
    bool setup_counted = false;
    bool in_idle = false;
    int auth_tries = 0;
    std::int64_t op_start = 0, bye_start = 0, setup_ns = 0;
    std::int64_t deadline = 0;  ///< the running operation's timeout (mono ns)
    bool timer_armed = false;   ///< an OpTimeout entry is queued (at most one per flow)
    std::uint64_t branch_seq = 0;
    std::uint32_t reg_cseq = 0;
    std::uint64_t call_seq = 0;
    // pre-built text (on_open)
    std::string via_a;     ///< "Via: SIP/2.0/WS host;branch=z9hG4bK<flow>."
    std::string via_b;     ///< ";rport\r\n" or "\r\n"
    std::string contact;   ///< "Contact: <...>\r\n"
    std::string reg_head;  ///< "REGISTER sip:D SIP/2.0\r\n"
    std::string reg_mid;   ///< Max-Forwards .. "CSeq: "
    std::string reg_tail;  ///< " REGISTER\r\nContact..Expires..User-Agent\r\n"
    std::string reg_call_id;
    std::string aor;  ///< "sip:user@domain"
    std::string sdp;
    std::string tag_salt;
    // the running call
    std::string call_id, from_tag, ruri, to_value, remote_target, routes;
    std::uint32_t invite_cseq = 0;
    std::uint64_t invite_branch = 0;
  };
  struct Delayed {
    std::uint32_t flow = 0, conn_gen = 0;
    std::string text;
  };

  bool client_mode() const;
  bool in_window(std::int64_t t) const;
  void open_flow(std::uint32_t f);
  void pump_opens();
  void schedule(std::int64_t at, std::uint32_t flow, std::uint32_t gen, TimerKind k);
  void run_timers(std::int64_t now);
  void on_timer(const Timer& t, std::int64_t now);
  void rate_tick(std::int64_t now);
  /// Sets the running operation's deadline; keeps at most one heap entry per flow, so the
  /// steady state pushes nothing per operation.
  void arm_timeout(Flow& f, std::int64_t now);

  // operations
  bool next_op(Flow& f);  ///< starts the next operation if allowed (count, stop)
  void start_register(Flow& f, bool as_op);
  void send_register(Flow& f);
  void start_call(Flow& f);
  void send_invite(Flow& f);
  void send_ack(Flow& f, bool for_2xx);
  void send_bye(Flow& f);
  void end_op(Flow& f, bool ok, ErrorKind why, std::int64_t now);
  void after_op(Flow& f);
  void registration_done(Flow& f, bool ok);
  void on_response(Flow& f, const SipScan& s);
  void on_register_response(Flow& f, const SipScan& s);
  void on_invite_response(Flow& f, const SipScan& s);
  void on_request(Conn& c, Flow* f, const SipScan& s);
  /// Drains the shared UDP socket (recvmmsg) and routes each message to its flow.
  void udp_receive();
  /// The flow whose Via branch this is (our branches carry the global connection index).
  Flow* flow_of_branch(std::string_view via);
  /// The flow whose user (P<N>) a Request-URI names (answer mode over the shared UDP socket).
  Flow* flow_of_user(std::string_view request_uri);
  bool take_challenge(Flow& f, const SipScan& s);
  void append_via(Flow& f, std::uint64_t branch);

  // respond mode
  void open_listeners();
  void accept_all(int lfd, Proto p);
  void udp_serve(int fd);
  void respond_to(const SipScan& s, std::string_view contact, std::string& out);

  void note_error(ErrorKind k, std::int64_t now);
  void note_first_error(const std::string& e);

  Shared& sh_;
  const Options& opt_;
  unsigned index_;
  int ep_ = -1;
  Stats stats_;
  std::vector<Flow> flows_;
  std::vector<std::uint32_t> pending_opens_;
  std::size_t next_pending_ = 0;
  std::size_t opening_ = 0;
  std::vector<std::uint32_t> idle_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::vector<Delayed> delayed_;
  std::vector<std::uint32_t> delayed_free_;
  std::string msg_;  ///< reused message buffer
  UdpBatch udp_;     ///< UDP client flows' shared socket
  bool udp_shared_ = false;
  std::string reg_uri_;  ///< "sip:DOMAIN" (REGISTER Request-URI, digest uri)
  std::string first_error_;
  bool stopping_ = false;
  std::int64_t rate_t0_ = 0;
  std::uint64_t rate_issued_ = 0;
  // respond mode
  struct Listener {
    int fd;
    Proto proto;
    std::string contact;
  };
  std::vector<Listener> listeners_;
  std::vector<std::unique_ptr<Conn>> servers_;
  std::vector<std::string> server_contact_;
  std::vector<std::uint32_t> servers_free_;
  std::vector<std::uint32_t> graveyard_;
};

}  // namespace sipws::load
