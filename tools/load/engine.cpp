#include "engine.hpp"

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/text.hpp"

namespace sipws::load {
namespace {

constexpr std::uint64_t kKindShift = 62;
constexpr std::uint64_t kServerKind = 1ULL << kKindShift;
constexpr std::uint64_t kListenerKind = 2ULL << kKindShift;
constexpr std::uint64_t kUdpKind = 3ULL << kKindShift;
constexpr std::uint64_t kIdMask = (1ULL << kKindShift) - 1;
constexpr std::size_t kMaxOpening = 256;  ///< connection attempts in flight per thread
constexpr std::int64_t kMs = 1000000;
constexpr std::int64_t kReconnectNs = 200 * kMs;

std::string ip_port(const sockaddr_in& a) {
  char ip[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
}

/// Splits Record-Route values into entries (commas outside <> and quotes), in order.
void route_entries(const SipScan& s, std::vector<std::string_view>& out) {
  out.clear();
  for (std::size_t i = 0; i < s.record_route_count; ++i) {
    std::string_view v = s.record_route[i];
    bool in_angle = false, in_quote = false;
    std::size_t start = 0;
    for (std::size_t k = 0; k <= v.size(); ++k) {
      char c = k < v.size() ? v[k] : ',';
      if (c == '"') in_quote = !in_quote;
      if (!in_quote && c == '<') in_angle = true;
      if (!in_quote && c == '>') in_angle = false;
      if (c == ',' && !in_angle && !in_quote) {
        const std::string_view e = text::trim(v.substr(start, k - start));
        if (!e.empty()) out.push_back(e);
        start = k + 1;
      }
    }
  }
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
}

}  // namespace

std::int64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

Worker::Worker(Shared& sh, unsigned index) : sh_(sh), opt_(sh.opt), index_(index) {
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  msg_.reserve(4096);
  reg_uri_ = "sip:" + opt_.domain;
  if (!client_mode()) return;
  for (std::uint64_t i = index; i < opt_.connections; i += opt_.threads) {
    Flow f;
    f.index = i;
    f.user = opt_.user_prefix + std::to_string(opt_.user_base + i);
    std::string pw = opt_.password_set ? opt_.password : f.user;
    char cn[17];
    std::snprintf(cn, sizeof cn, "%08x%08x", static_cast<unsigned>(i * 2654435761u),
                  static_cast<unsigned>(mono_ns()));
    f.digest = std::make_unique<DigestClient>(f.user, pw, cn);
    f.aor = "sip:" + f.user + "@" + opt_.domain;
    f.tag_salt = std::to_string(i) + "x" + std::to_string(mono_ns() % 100000);
    flows_.push_back(std::move(f));
  }
}

Worker::~Worker() {
  for (auto& f : flows_) f.conn.reset();
  servers_.clear();
  for (auto& l : listeners_) ::close(l.fd);
  if (ep_ >= 0) ::close(ep_);
}

bool Worker::client_mode() const { return opt_.mode != Mode::Respond; }

bool Worker::in_window(std::int64_t t) const {
  return t >= sh_.window_start.load(std::memory_order_relaxed) &&
         t < sh_.window_end.load(std::memory_order_relaxed);
}

void Worker::note_error(ErrorKind k, std::int64_t now) {
  if (stopping_) return;
  if (in_window(now)) stats_.error(k);
}

void Worker::note_first_error(const std::string& e) {
  if (first_error_.empty() && !e.empty()) first_error_ = e;
}

void Worker::schedule(std::int64_t at, std::uint32_t flow, std::uint32_t gen, TimerKind k) {
  timers_.push(Timer{at, flow, gen, k});
}

// ---- loop ------------------------------------------------------------------------------------

void Worker::run() {
  if (!client_mode()) {
    open_listeners();
  } else {
    if (opt_.target.proto == Proto::Udp && !flows_.empty()) {
      std::string err;
      const in_addr* src =
          opt_.sources.empty() ? nullptr : &opt_.sources[index_ % opt_.sources.size()];
      if (!udp_.open(opt_.target, src, err)) {
        note_first_error(err);
        sh_.fatal.store(1);
        return;
      }
      udp_shared_ = true;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLET;
      ev.data.u64 = kUdpKind;
      epoll_ctl(ep_, EPOLL_CTL_ADD, udp_.fd(), &ev);
    }
    for (std::uint32_t i = 0; i < flows_.size(); ++i) pending_opens_.push_back(i);
    pump_opens();
  }
  rate_t0_ = mono_ns();
  std::vector<epoll_event> events(512);
  while (!sh_.stop.load(std::memory_order_relaxed)) {
    std::int64_t now = mono_ns();
    int wait_ms = 50;
    if (!timers_.empty()) {
      std::int64_t d = (timers_.top().at - now + kMs - 1) / kMs;
      wait_ms = static_cast<int>(std::clamp<std::int64_t>(d, 0, 50));
    }
    if (opt_.rate > 0 && client_mode()) wait_ms = std::min(wait_ms, 1);
    if (udp_shared_) udp_.flush();
    int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), wait_ms);
    for (int i = 0; i < n; ++i) {
      std::uint64_t id = events[static_cast<std::size_t>(i)].data.u64;
      std::uint32_t ev = events[static_cast<std::size_t>(i)].events;
      std::uint64_t kind = id & ~kIdMask;
      std::uint64_t idx = id & kIdMask;
      if (kind == 0) {
        if (idx < flows_.size() && flows_[idx].conn) flows_[idx].conn->on_event(ev);
      } else if (kind == kUdpKind) {
        udp_receive();
      } else if (kind == kServerKind) {
        if (idx < servers_.size() && servers_[idx]) servers_[idx]->on_event(ev);
      } else if (idx < listeners_.size()) {
        const Listener& l = listeners_[idx];
        if (l.proto == Proto::Udp) {
          udp_serve(l.fd);
        } else {
          accept_all(l.fd, l.proto);
        }
      }
    }
    for (std::uint32_t s : graveyard_) {
      servers_[s].reset();
      servers_free_.push_back(s);
    }
    graveyard_.clear();
    now = mono_ns();
    run_timers(now);
    if (client_mode()) {
      pump_opens();
      if (opt_.rate > 0) rate_tick(now);
    }
  }
  stopping_ = true;
  for (auto& f : flows_) {
    if (f.conn) f.conn->close(ErrorKind::Closed);
  }
  for (auto& s : servers_) {
    if (s) s->close(ErrorKind::Closed);
  }
}

void Worker::run_timers(std::int64_t now) {
  while (!timers_.empty() && timers_.top().at <= now) {
    Timer t = timers_.top();
    timers_.pop();
    on_timer(t, now);
  }
}

void Worker::on_timer(const Timer& t, std::int64_t now) {
  if (t.kind == TimerKind::Delayed) {
    Delayed& d = delayed_[t.gen];
    Flow& f = flows_[d.flow];
    if (f.conn && f.conn->open() && f.conn_gen == d.conn_gen) {
      f.conn->send(d.text);
      if (in_window(now)) ++stats_.operations;
    }
    d.text.clear();
    delayed_free_.push_back(t.gen);
    return;
  }
  Flow& f = flows_[t.flow];
  switch (t.kind) {
    case TimerKind::OpTimeout:
      f.timer_armed = false;
      if (f.phase == Phase::Idle) break;
      if (f.deadline <= now) {
        end_op(f, false, ErrorKind::Timeout, now);
      } else {
        f.timer_armed = true;  // a later operation: wait for its own deadline
        schedule(f.deadline, t.flow, 0, TimerKind::OpTimeout);
      }
      break;
    case TimerKind::ConnectTimeout:
      if (t.gen == f.conn_gen && f.conn && !f.conn->open() &&
          f.conn->state() != Conn::State::Closed) {
        f.conn->close(ErrorKind::Timeout);
      }
      break;
    case TimerKind::Hold:
      if (t.gen == f.op_gen && f.phase == Phase::Holding) send_bye(f);
      break;
    case TimerKind::Reregister:
      if (t.gen == f.reg_gen && f.conn && f.conn->open() && f.phase == Phase::Idle) {
        start_register(f, false);
      } else if (t.gen == f.reg_gen && f.conn && f.conn->open()) {
        schedule(now + 1000 * kMs, t.flow, f.reg_gen, TimerKind::Reregister);
      }
      break;
    case TimerKind::Reconnect:
      if (t.gen == f.conn_gen && !sh_.stop.load(std::memory_order_relaxed)) {
        pending_opens_.push_back(t.flow);
      }
      break;
    case TimerKind::Delayed:
      break;
  }
}

void Worker::pump_opens() {
  while (next_pending_ < pending_opens_.size() && opening_ < kMaxOpening) {
    open_flow(pending_opens_[next_pending_++]);
  }
  if (next_pending_ == pending_opens_.size()) {
    pending_opens_.clear();
    next_pending_ = 0;
  }
}

void Worker::open_flow(std::uint32_t fi) {
  Flow& f = flows_[fi];
  f.conn = std::make_unique<Conn>(*this, ep_, fi);
  ++f.conn_gen;
  f.phase = Phase::Idle;
  ++opening_;
  const in_addr* src = nullptr;
  if (!opt_.sources.empty()) src = &opt_.sources[f.index % opt_.sources.size()];
  schedule(mono_ns() + static_cast<std::int64_t>(opt_.timeout_ms) * kMs, fi, f.conn_gen,
           TimerKind::ConnectTimeout);
  if (udp_shared_) {
    f.conn->start_shared_udp(udp_);
    return;
  }
  std::string hp = opt_.target.host + ":" + std::to_string(opt_.target.port);
  f.conn->start_client(opt_.target, src, sh_.tls, hp);
}

void Worker::rate_tick(std::int64_t now) {
  double per_thread = opt_.rate / opt_.threads;
  auto due = static_cast<std::uint64_t>(static_cast<double>(now - rate_t0_) * 1e-9 * per_thread);
  while (rate_issued_ < due) {
    if (idle_.empty()) {
      rate_issued_ = due;  // no idle connection: these starts are skipped, not queued
      break;
    }
    std::uint32_t fi = idle_.back();
    idle_.pop_back();
    Flow& f = flows_[fi];
    f.in_idle = false;
    if (!f.conn || !f.conn->open() || f.phase != Phase::Idle) continue;
    ++rate_issued_;
    if (!next_op(f)) break;
  }
}

// ---- connections -----------------------------------------------------------------------------

void Worker::on_open(Conn& c) {
  std::uint64_t id = c.id();
  if (id & kServerKind) return;
  Flow& f = flows_[id];
  if (opening_ > 0) --opening_;
  if (opt_.mode == Mode::Connect && !stopping_) ++stats_.connected;
  // Pre-build the fixed text of this flow (RFC 7118 s.5: a WS client uses a .invalid host in
  // Via and Contact, as JsSIP does).
  std::string host, transport_param;
  const char* via_proto = "WS";
  switch (c.proto()) {
    case Proto::Ws:
    case Proto::Wss: {
      char h[24];
      std::snprintf(h, sizeof h, "l%06x%04x.invalid", static_cast<unsigned>(f.index & 0xffffff),
                    static_cast<unsigned>(mono_ns() & 0xffff));
      host = h;
      transport_param = "ws";
      via_proto = c.proto() == Proto::Wss ? "WSS" : "WS";
      break;
    }
    case Proto::Udp:
      host = ip_port(c.local());
      transport_param = "udp";
      via_proto = "UDP";
      break;
    case Proto::Tcp:
      host = ip_port(c.local());
      transport_param = "tcp";
      via_proto = "TCP";
      break;
  }
  std::string tag = "t" + f.tag_salt;
  f.via_a = std::string("Via: SIP/2.0/") + via_proto + " " + host + ";branch=z9hG4bK" + f.tag_salt +
            "." + std::to_string(f.conn_gen) + ".";
  f.via_b = c.proto() == Proto::Udp ? ";rport\r\n" : "\r\n";
  f.contact = "Contact: <sip:" + f.user + "@" + host + ";transport=" + transport_param + ">\r\n";
  f.reg_call_id = "r" + f.tag_salt + "." + std::to_string(f.conn_gen) + "@sipws-load";
  f.reg_head = "REGISTER sip:" + opt_.domain + " SIP/2.0\r\n";
  f.reg_mid = "Max-Forwards: 70\r\nFrom: <" + f.aor + ">;tag=" + tag + "\r\nTo: <" + f.aor +
              ">\r\nCall-ID: " + f.reg_call_id + "\r\nCSeq: ";
  f.reg_tail = " REGISTER\r\n" + f.contact + "Expires: " + std::to_string(opt_.expires) +
               "\r\nUser-Agent: sipws-load\r\n";
  f.sdp = "v=0\r\no=- " + std::to_string(f.index + 1) +
          " 1 IN IP4 127.0.0.1\r\ns=sipws-load\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio " +
          std::to_string(20000 + 2 * (f.index % 20000)) +
          " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";
  f.reg_cseq = 0;
  f.registered = false;
  switch (opt_.mode) {
    case Mode::Register:
    case Mode::Call:
      if (opt_.rate > 0) {
        if (!f.in_idle) {
          f.in_idle = true;
          idle_.push_back(static_cast<std::uint32_t>(id));
        }
      } else {
        next_op(f);
      }
      break;
    case Mode::Answer:
    case Mode::Connect:
      start_register(f, false);
      break;
    case Mode::Respond:
      break;
  }
}

void Worker::on_closed(Conn& c, ErrorKind why, bool was_open) {
  std::uint64_t id = c.id();
  std::int64_t now = mono_ns();
  if (id & kServerKind) {
    graveyard_.push_back(static_cast<std::uint32_t>(id & kIdMask));
    return;
  }
  Flow& f = flows_[id];
  if (!was_open && opening_ > 0) --opening_;
  if (stopping_) return;
  note_first_error(c.last_error());
  ErrorKind kind = why == ErrorKind::Parse ? why
                   : was_open              ? ErrorKind::Closed
                                           : ErrorKind::Connect;
  if (f.phase != Phase::Idle) {
    // The running operation dies with its connection: one error, of the connection's kind.
    end_op(f, false, kind, now);
  } else {
    note_error(kind, now);
    // A failed connection is an error of the run: it counts towards --count like an operation.
    if (opt_.mode == Mode::Register || opt_.mode == Mode::Call) sh_.finished.fetch_add(1);
  }
  ++f.reg_gen;
  if (opt_.mode == Mode::Connect) {
    if (was_open) ++stats_.dropped;
    if (!f.setup_counted) {
      f.setup_counted = true;
      sh_.setup_done.fetch_add(1);
    }
    return;  // connect mode does not reopen: a dropped flow is what it measures
  }
  if (opt_.mode == Mode::Answer && !f.setup_counted) {
    f.setup_counted = true;
    sh_.setup_done.fetch_add(1);
  }
  ++f.conn_gen;
  schedule(now + kReconnectNs, static_cast<std::uint32_t>(id), f.conn_gen, TimerKind::Reconnect);
}

// ---- operations ------------------------------------------------------------------------------

void Worker::arm_timeout(Flow& f, std::int64_t now) {
  f.deadline = now + static_cast<std::int64_t>(opt_.timeout_ms) * kMs;
  if (f.timer_armed) return;
  f.timer_armed = true;
  schedule(f.deadline, static_cast<std::uint32_t>(&f - flows_.data()), 0, TimerKind::OpTimeout);
}

bool Worker::next_op(Flow& f) {
  if (sh_.stop.load(std::memory_order_relaxed) || !f.conn || !f.conn->open()) return false;
  if (opt_.count > 0 && sh_.started.fetch_add(1) >= opt_.count) return false;
  if (opt_.mode == Mode::Register) {
    start_register(f, true);
  } else {
    start_call(f);
  }
  return true;
}

void Worker::append_via(Flow& f, std::uint64_t branch) {
  msg_.append(f.via_a);
  append_hex(msg_, branch);
  msg_.append(f.via_b);
}

void Worker::start_register(Flow& f, bool as_op) {
  f.reg_op = as_op;
  f.phase = Phase::Registering;
  f.auth_tries = 0;
  f.op_start = mono_ns();
  ++f.op_gen;
  arm_timeout(f, f.op_start);
  send_register(f);
}

void Worker::send_register(Flow& f) {
  msg_.clear();
  msg_.append(f.reg_head);
  append_via(f, ++f.branch_seq);
  msg_.append(f.reg_mid);
  append_dec(msg_, ++f.reg_cseq);
  msg_.append(f.reg_tail);
  if (f.digest->has_challenge()) f.digest->append_credentials(msg_, "REGISTER", reg_uri_);
  msg_.append("Content-Length: 0\r\n\r\n");
  if (in_window(mono_ns()) && (f.reg_op || opt_.mode == Mode::Connect)) ++stats_.transactions;
  f.conn->send(msg_);
}

void Worker::start_call(Flow& f) {
  ++f.call_seq;
  f.phase = Phase::Inviting;
  f.auth_tries = 0;
  f.op_start = mono_ns();
  ++f.op_gen;
  f.call_id.assign("c").append(f.tag_salt).append(".");
  append_hex(f.call_id, f.call_seq);
  f.call_id.append("@sipws-load");
  f.from_tag.assign("f").append(f.tag_salt).append(".");
  append_hex(f.from_tag, f.call_seq);
  f.ruri = opt_.to;
  if (opt_.to.find("{n}") != std::string::npos) {
    std::uint64_t n =
        opt_.to_range ? (f.call_seq * opt_.connections + f.index) % opt_.to_range : f.index;
    replace_all(f.ruri, "{n}", std::to_string(n + opt_.user_base));
  }
  f.invite_cseq = 1;
  arm_timeout(f, f.op_start);
  send_invite(f);
}

void Worker::send_invite(Flow& f) {
  msg_.clear();
  msg_.append("INVITE ").append(f.ruri).append(" SIP/2.0\r\n");
  f.invite_branch = ++f.branch_seq;
  append_via(f, f.invite_branch);
  msg_.append("Max-Forwards: 70\r\nFrom: <").append(f.aor).append(">;tag=").append(f.from_tag);
  msg_.append("\r\nTo: <").append(f.ruri).append(">\r\nCall-ID: ").append(f.call_id);
  msg_.append("\r\nCSeq: ");
  append_dec(msg_, f.invite_cseq);
  msg_.append(" INVITE\r\n").append(f.contact);
  if (f.digest->has_challenge() && f.auth_tries > 0) {
    f.digest->append_credentials(msg_, "INVITE", f.ruri);
  }
  msg_.append("User-Agent: sipws-load\r\nContent-Type: application/sdp\r\nContent-Length: ");
  append_dec(msg_, f.sdp.size());
  msg_.append("\r\n\r\n").append(f.sdp);
  if (in_window(mono_ns())) ++stats_.transactions;
  f.conn->send(msg_);
}

void Worker::send_ack(Flow& f, bool for_2xx) {
  msg_.clear();
  // RFC 3261 s.17.1.1.3: the ACK of a non-2xx reuses the INVITE's branch and Request-URI;
  // s.13.2.2.4: the ACK of a 2xx is a new in-dialog request along the route set.
  const std::string& target = for_2xx && !f.remote_target.empty() ? f.remote_target : f.ruri;
  msg_.append("ACK ").append(target).append(" SIP/2.0\r\n");
  append_via(f, for_2xx ? ++f.branch_seq : f.invite_branch);
  if (for_2xx) msg_.append(f.routes);
  msg_.append("Max-Forwards: 70\r\nFrom: <").append(f.aor).append(">;tag=").append(f.from_tag);
  msg_.append("\r\nTo: ").append(f.to_value).append("\r\nCall-ID: ").append(f.call_id);
  msg_.append("\r\nCSeq: ");
  append_dec(msg_, f.invite_cseq);
  msg_.append(" ACK\r\nContent-Length: 0\r\n\r\n");
  f.conn->send(msg_);
}

void Worker::send_bye(Flow& f) {
  f.phase = Phase::Byeing;
  f.bye_start = mono_ns();
  arm_timeout(f, f.bye_start);  // the BYE gets its own --timeout
  msg_.clear();
  const std::string& target = f.remote_target.empty() ? f.ruri : f.remote_target;
  msg_.append("BYE ").append(target).append(" SIP/2.0\r\n");
  append_via(f, ++f.branch_seq);
  msg_.append(f.routes);
  msg_.append("Max-Forwards: 70\r\nFrom: <").append(f.aor).append(">;tag=").append(f.from_tag);
  msg_.append("\r\nTo: ").append(f.to_value).append("\r\nCall-ID: ").append(f.call_id);
  msg_.append("\r\nCSeq: ");
  append_dec(msg_, f.invite_cseq + 1);
  msg_.append(" BYE\r\nUser-Agent: sipws-load\r\nContent-Length: 0\r\n\r\n");
  if (in_window(f.bye_start)) ++stats_.transactions;
  f.conn->send(msg_);
}

void Worker::end_op(Flow& f, bool ok, ErrorKind why, std::int64_t now) {
  bool was_reg = f.phase == Phase::Registering;
  f.phase = Phase::Idle;
  ++f.op_gen;
  if (!was_reg || f.reg_op) {
    if (in_window(now) && !stopping_) {
      if (ok) {
        ++stats_.operations;
        std::int64_t lat = opt_.mode == Mode::Call ? f.setup_ns : now - f.op_start;
        stats_.latency.record(static_cast<std::uint64_t>(lat / 1000));
      } else {
        stats_.error(why);
      }
    }
    sh_.finished.fetch_add(1, std::memory_order_relaxed);
  } else {
    if (opt_.mode == Mode::Connect && in_window(now) && !stopping_) {
      // connect mode: each registration (and re-registration) is an operation
      if (ok) {
        ++stats_.operations;
        stats_.latency.record(static_cast<std::uint64_t>((now - f.op_start) / 1000));
      } else {
        stats_.error(why);
      }
    } else if (!ok) {
      note_error(why, now);
    }
    registration_done(f, ok);
  }
  if (!stopping_ && (opt_.mode == Mode::Register || opt_.mode == Mode::Call)) after_op(f);
}

void Worker::after_op(Flow& f) {
  if (!f.conn || !f.conn->open()) return;
  if (opt_.rate > 0) {
    if (!f.in_idle) {
      f.in_idle = true;
      idle_.push_back(static_cast<std::uint32_t>(&f - flows_.data()));
    }
    return;
  }
  next_op(f);
}

void Worker::registration_done(Flow& f, bool ok) {
  std::uint32_t fi = static_cast<std::uint32_t>(&f - flows_.data());
  if (ok && !f.registered) {
    f.registered = true;
    ++stats_.registered;
    sh_.registered.fetch_add(1);
  }
  if (!f.setup_counted) {
    f.setup_counted = true;
    sh_.setup_done.fetch_add(1);
  }
  ++f.reg_gen;
  // Refresh at half the expiry (re-REGISTER before the binding lapses); retry a failure in 1 s.
  std::int64_t at =
      mono_ns() + (ok ? static_cast<std::int64_t>(opt_.expires) * 500 * kMs : 1000 * kMs);
  schedule(at, fi, f.reg_gen, TimerKind::Reregister);
}

bool Worker::take_challenge(Flow& f, const SipScan& s) {
  if (f.auth_tries >= 2) return false;
  for (std::size_t i = 0; i < s.challenge_count; ++i) {
    if (auto ch = parse_challenge(s.challenge[i])) {
      f.digest->on_challenge(*ch, s.status == 407);
      ++f.auth_tries;
      return true;
    }
  }
  return false;
}

static ErrorKind status_kind(int status) {
  if (status >= 600) return ErrorKind::Status6xx;
  if (status >= 500) return ErrorKind::Status5xx;
  return ErrorKind::Status4xx;
}

void Worker::on_register_response(Flow& f, const SipScan& s) {
  if (f.phase != Phase::Registering || s.cseq != f.reg_cseq || s.call_id != f.reg_call_id) return;
  if (s.status < 200) return;
  std::int64_t now = mono_ns();
  if (s.status < 300) {
    end_op(f, true, ErrorKind::Parse, now);
    return;
  }
  if ((s.status == 401 || s.status == 407) && take_challenge(f, s)) {
    send_register(f);
    return;
  }
  end_op(f, false, status_kind(s.status), now);
}

void Worker::on_invite_response(Flow& f, const SipScan& s) {
  if (s.call_id != f.call_id) return;
  std::int64_t now = mono_ns();
  if (s.cseq_method == "BYE") {
    if (f.phase != Phase::Byeing || s.status < 200) return;
    if (s.status < 300) {
      if (in_window(now)) {
        stats_.bye_latency.record(static_cast<std::uint64_t>((now - f.bye_start) / 1000));
      }
      end_op(f, true, ErrorKind::Parse, now);
    } else {
      end_op(f, false, status_kind(s.status), now);
    }
    return;
  }
  if (s.cseq_method != "INVITE" || s.cseq != f.invite_cseq || s.status < 200) return;
  f.to_value.assign(s.to);
  if (s.status < 300) {
    if (f.phase != Phase::Inviting) {
      send_ack(f, true);  // a retransmitted 2xx (UDP): ACK again
      return;
    }
    f.remote_target.assign(uri_of(s.contact));
    f.routes.clear();
    static thread_local std::vector<std::string_view> rr;
    route_entries(s, rr);
    for (auto it = rr.rbegin(); it != rr.rend(); ++it) {  // RFC 3261 s.12.1.2: reversed
      f.routes.append("Route: ").append(*it).append("\r\n");
    }
    f.setup_ns = now - f.op_start;  // the operation's latency: INVITE -> 2xx
    send_ack(f, true);
    f.phase = Phase::Holding;
    f.bye_start = now;
    f.deadline = now + static_cast<std::int64_t>(opt_.hold_ms + opt_.timeout_ms) * kMs;
    if (opt_.hold_ms > 0) {
      schedule(now + static_cast<std::int64_t>(opt_.hold_ms) * kMs,
               static_cast<std::uint32_t>(&f - flows_.data()), f.op_gen, TimerKind::Hold);
    } else {
      send_bye(f);
    }
    return;
  }
  if (f.phase != Phase::Inviting) return;
  send_ack(f, false);
  if ((s.status == 401 || s.status == 407) && take_challenge(f, s)) {
    ++f.invite_cseq;
    send_invite(f);
    return;
  }
  end_op(f, false, status_kind(s.status), now);
}

void Worker::on_response(Flow& f, const SipScan& s) {
  if (s.cseq_method == "REGISTER") {
    on_register_response(f, s);
  } else if (opt_.mode == Mode::Call) {
    on_invite_response(f, s);
  }
}

void Worker::respond_to(const SipScan& s, std::string_view contact, std::string& out) {
  out.clear();
  char tag[17];
  auto [p, ec] = std::to_chars(tag, tag + sizeof tag, fnv1a(s.call_id), 16);
  std::string_view to_tag(tag, static_cast<std::size_t>(p - tag));
  bool invite = s.method == "INVITE";
  append_response(
      out, s, 200, "OK", to_tag, invite, invite ? contact : std::string_view{},
      invite ? std::string_view("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                                "t=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
             : std::string_view{});
}

void Worker::on_request(Conn& c, Flow* f, const SipScan& s) {
  if (s.method == "ACK") return;
  std::int64_t now = mono_ns();
  bool win = in_window(now);
  if (win) ++stats_.requests_answered;
  if (win && (opt_.mode == Mode::Answer || opt_.mode == Mode::Respond)) ++stats_.transactions;
  if (opt_.mode == Mode::Respond) {
    if (win) ++stats_.operations;
    respond_to(s, server_contact_[c.id() & kIdMask], msg_);
    c.send(msg_);
    return;
  }
  if (opt_.mode == Mode::Answer && f && s.method == "INVITE") {
    char tag[17];
    auto [p, ec] = std::to_chars(tag, tag + sizeof tag, fnv1a(s.call_id) ^ fnv1a(f->tag_salt), 16);
    std::string_view to_tag(tag, static_cast<std::size_t>(p - tag));
    if (opt_.answer_delay_ms > 0) {
      msg_.clear();
      append_response(msg_, s, 180, "Ringing", to_tag, true, f->contact, {});
      c.send(msg_);
      std::uint32_t slot;
      if (delayed_free_.empty()) {
        slot = static_cast<std::uint32_t>(delayed_.size());
        delayed_.emplace_back();
      } else {
        slot = delayed_free_.back();
        delayed_free_.pop_back();
      }
      Delayed& d = delayed_[slot];
      d.flow = static_cast<std::uint32_t>(f - flows_.data());
      d.conn_gen = f->conn_gen;
      d.text.clear();
      append_response(d.text, s, 200, "OK", to_tag, true, f->contact, f->sdp);
      schedule(now + static_cast<std::int64_t>(opt_.answer_delay_ms) * kMs, d.flow, slot,
               TimerKind::Delayed);
      return;
    }
    msg_.clear();
    append_response(msg_, s, 200, "OK", to_tag, true, f->contact, f->sdp);
    c.send(msg_);
    if (win) ++stats_.operations;
    return;
  }
  // BYE, OPTIONS, NOTIFY, CANCEL...: 200 (a call's BYE from the far end, keep-alive probes).
  msg_.clear();
  char tag[17];
  auto [p, ec] = std::to_chars(tag, tag + sizeof tag, fnv1a(s.call_id), 16);
  append_response(msg_, s, 200, "OK", std::string_view(tag, static_cast<std::size_t>(p - tag)),
                  false, {}, {});
  c.send(msg_);
}

void Worker::on_message(Conn& c, std::string_view msg) {
  SipScan s;
  if (!scan_sip(msg, s)) {
    note_error(ErrorKind::Parse, mono_ns());
    return;
  }
  if (c.id() & kServerKind) {
    if (!s.is_response) on_request(c, nullptr, s);
    return;
  }
  Flow& f = flows_[c.id()];
  if (s.is_response) {
    on_response(f, s);
  } else {
    on_request(c, &f, s);
  }
}

Worker::Flow* Worker::flow_of_branch(std::string_view via) {
  std::size_t p = via.find("branch=z9hG4bK");
  if (p == std::string_view::npos) return nullptr;
  std::uint64_t i = 0;
  const char* b = via.data() + p + 14;
  const char* e = via.data() + via.size();
  auto [q, ec] = std::from_chars(b, e, i);
  if (ec != std::errc() || q == e || *q != 'x' || i % opt_.threads != index_) return nullptr;
  std::uint64_t local = i / opt_.threads;
  if (local >= flows_.size() || flows_[local].index != i) return nullptr;
  return &flows_[local];
}

Worker::Flow* Worker::flow_of_user(std::string_view request_uri) {
  std::size_t colon = request_uri.find(':');
  std::size_t at = request_uri.find('@');
  if (colon == std::string_view::npos || at == std::string_view::npos || at < colon) {
    return nullptr;
  }
  std::string_view user = request_uri.substr(colon + 1, at - colon - 1);
  if (!user.starts_with(opt_.user_prefix)) return nullptr;
  user.remove_prefix(opt_.user_prefix.size());
  std::uint64_t n = 0;
  auto [q, ec] = std::from_chars(user.data(), user.data() + user.size(), n);
  if (ec != std::errc() || q != user.data() + user.size() || n < opt_.user_base) return nullptr;
  std::uint64_t i = n - opt_.user_base;
  if (i % opt_.threads != index_) return nullptr;
  std::uint64_t local = i / opt_.threads;
  if (local >= flows_.size() || flows_[local].index != i) return nullptr;
  return &flows_[local];
}

void Worker::udp_receive() {
  constexpr unsigned kBatch = 64;
  constexpr std::size_t kDatagram = 8192;
  static thread_local std::vector<char> in(kBatch * kDatagram);
  mmsghdr rx[kBatch];
  iovec iov[kBatch];
  for (;;) {
    for (unsigned i = 0; i < kBatch; ++i) {
      iov[i] = {in.data() + i * kDatagram, kDatagram};
      rx[i] = {};
      rx[i].msg_hdr.msg_iov = &iov[i];
      rx[i].msg_hdr.msg_iovlen = 1;
    }
    int n = ::recvmmsg(udp_.fd(), rx, kBatch, MSG_DONTWAIT, nullptr);
    if (n < 0 && errno == ECONNREFUSED) continue;  // ICMP of an earlier datagram
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) {
      std::string_view dg(in.data() + static_cast<std::size_t>(i) * kDatagram, rx[i].msg_len);
      SipScan s;
      if (!scan_sip(dg, s)) {
        note_error(ErrorKind::Parse, mono_ns());
        continue;
      }
      if (s.is_response) {
        Flow* f = flow_of_branch(s.via[0]);
        if (f && f->conn && f->conn->open()) on_response(*f, s);
      } else if (!flows_.empty() && flows_.front().conn) {
        Flow* f = flow_of_user(s.request_uri);
        Conn& c = f && f->conn ? *f->conn : *flows_.front().conn;  // one socket for all
        on_request(c, f, s);
      }
    }
    if (static_cast<unsigned>(n) < kBatch) return;
  }
}

// ---- respond mode ----------------------------------------------------------------------------

void Worker::open_listeners() {
  for (const Url& u : opt_.listen) {
    int type = u.proto == Proto::Udp ? SOCK_DGRAM : SOCK_STREAM;
    int fd = ::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (u.proto == Proto::Udp) {
      int big = 4 * 1024 * 1024;
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&u.addr), sizeof u.addr) != 0 ||
        (type == SOCK_STREAM && ::listen(fd, 4096) != 0)) {
      note_first_error("listen on " + u.host + ":" + std::to_string(u.port) + ": " +
                       std::strerror(errno));
      ::close(fd);
      sh_.fatal.store(1);
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = kListenerKind | listeners_.size();
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    std::string contact = "Contact: <sip:respond@" + u.host + ":" + std::to_string(u.port) +
                          ";transport=" + proto_name(u.proto) + ">\r\n";
    listeners_.push_back(Listener{fd, u.proto, contact});
  }
}

void Worker::accept_all(int lfd, Proto p) {
  for (;;) {
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    std::uint32_t slot;
    if (servers_free_.empty()) {
      slot = static_cast<std::uint32_t>(servers_.size());
      servers_.emplace_back();
      server_contact_.emplace_back();
    } else {
      slot = servers_free_.back();
      servers_free_.pop_back();
    }
    for (const auto& l : listeners_) {
      if (l.fd == lfd) server_contact_[slot] = l.contact;
    }
    servers_[slot] = std::make_unique<Conn>(*this, ep_, kServerKind | slot);
    servers_[slot]->adopt_server(fd, p);
  }
}

void Worker::udp_serve(int fd) {
  // Batched: up to kBatch datagrams per recvmmsg, their responses in one sendmmsg.
  constexpr unsigned kBatch = 64;
  constexpr std::size_t kDatagram = 4096;
  static thread_local std::vector<char> in(kBatch * kDatagram);
  static thread_local std::vector<std::string> out(kBatch);
  mmsghdr rx[kBatch], tx[kBatch];
  iovec riov[kBatch], tiov[kBatch];
  sockaddr_in from[kBatch];
  std::string_view contact;
  for (const auto& l : listeners_) {
    if (l.fd == fd) contact = l.contact;
  }
  for (;;) {
    for (unsigned i = 0; i < kBatch; ++i) {
      riov[i] = {in.data() + i * kDatagram, kDatagram};
      rx[i] = {};
      rx[i].msg_hdr.msg_name = &from[i];
      rx[i].msg_hdr.msg_namelen = sizeof from[i];
      rx[i].msg_hdr.msg_iov = &riov[i];
      rx[i].msg_hdr.msg_iovlen = 1;
    }
    int n = ::recvmmsg(fd, rx, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    std::int64_t now = mono_ns();
    bool win = in_window(now);
    unsigned nt = 0;
    for (int i = 0; i < n; ++i) {
      SipScan s;
      std::string_view dg(in.data() + static_cast<std::size_t>(i) * kDatagram, rx[i].msg_len);
      if (!scan_sip(dg, s)) {
        note_error(ErrorKind::Parse, now);
        continue;
      }
      if (s.is_response || s.method == "ACK") continue;
      if (win) {
        ++stats_.operations;
        ++stats_.transactions;
        ++stats_.requests_answered;
      }
      respond_to(s, contact, out[nt]);
      tiov[nt] = {out[nt].data(), out[nt].size()};
      tx[nt] = {};
      tx[nt].msg_hdr.msg_name = &from[i];
      tx[nt].msg_hdr.msg_namelen = rx[i].msg_hdr.msg_namelen;
      tx[nt].msg_hdr.msg_iov = &tiov[nt];
      tx[nt].msg_hdr.msg_iovlen = 1;
      ++nt;
    }
    for (unsigned sent = 0; sent < nt;) {
      int r = ::sendmmsg(fd, tx + sent, nt - sent, 0);
      if (r <= 0) break;
      sent += static_cast<unsigned>(r);
    }
    if (static_cast<unsigned>(n) < kBatch) return;  // drained
  }
}

}  // namespace sipws::load
