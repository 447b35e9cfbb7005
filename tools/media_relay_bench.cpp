// sipws_media_bench: packets per second through a media relay over loopback UDP, one direction
// at a time, with the relay on one core and the load generator on another.
//
// The generator plays both ends of a call, the way tests/unit/bridge/media_session_test.cpp does:
// a "browser" made of our own STUN Builder, DtlsTransport and SrtpSession (controlling ICE agent,
// DTLS client or server as the relay's a=setup says) and a "phone" that is a plain UDP socket.
// It sends `--count` 172-byte G.711 RTP packets (12-byte header + 160 bytes, one 20 ms frame) at
// full speed with at most `--window` packets in flight, counts what reaches the far end (checking
// every payload; SRTP the browser receives is authenticated and decrypted after the timed part),
// and reads the relay's CPU time (sipws: the bridge thread's clock; rtpengine: the sum of its
// threads' /proc/<pid>/task/<tid>/schedstat run times).
//
// Relays:
//   --relay sipws      a MediaSession (WebRTC leg A + plain leg B, or two plain legs with
//                      --plain) on its own io_context thread, pinned to --relay-cpu.
//   --relay rtpengine  Debian's rtpengine-daemon, started here in userspace mode (--table=-1,
//                      --num-threads=1, pinned to --relay-cpu) and stopped by PID; the call is set
//                      up over its ng control protocol (bencoded offer/answer over UDP).
//
// Not a test: no assertion on time. Exit code 0 when every run relayed at least one packet.

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bridge/demux.hpp"
#include "bridge/dtls.hpp"
#include "bridge/media_session.hpp"
#include "bridge/srtp.hpp"
#include "bridge/stun.hpp"

namespace {

namespace asio = boost::asio;
namespace bridge = sipws::bridge;
namespace stun = sipws::bridge::stun;
using Clock = std::chrono::steady_clock;
using bridge::SrtpProfile;
using bridge::SrtpSession;

constexpr std::size_t kRtpSize = 12 + 160;  // G.711, 20 ms
constexpr std::size_t kStride = 512;        // per-packet slot in the big buffers (>= 172 + 148)
constexpr std::uint8_t kFill = 0xd5;        // PCMA silence
constexpr std::size_t kBatch = 32;          // sendmmsg / recvmmsg batch

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "sipws_media_bench: %s\n", why.c_str());
  std::exit(1);
}

void pin_to_cpu(pid_t tid, int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(tid, sizeof set, &set) != 0) {
    std::fprintf(stderr, "warning: sched_setaffinity(cpu %d): %s\n", cpu, std::strerror(errno));
  }
}

std::uint64_t thread_cpu_ns(clockid_t clk) {
  timespec ts{};
  clock_gettime(clk, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// ------------------------------------------------------------------------------- UDP sockets

/// A non-blocking UDP socket bound to 127.0.0.1:0 with a 4 MB receive buffer (the generator's
/// sockets only: the relay's keep their defaults).
class UdpSocket {
 public:
  UdpSocket() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) die("socket: " + std::string(std::strerror(errno)));
    int sz = 4 << 20;
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) != 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    }
    sockaddr_in a = loopback(0);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind");
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~UdpSocket() { ::close(fd_); }
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  static sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    return a;
  }
  int fd() const { return fd_; }
  std::uint16_t port() const { return port_; }
  sipws::Endpoint endpoint() const { return {asio::ip::make_address("127.0.0.1"), port_}; }

  void send_to(std::span<const std::uint8_t> b, std::uint16_t port) const {
    sockaddr_in a = loopback(port);
    ::sendto(fd_, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  /// One datagram or nullopt (would block). `from_port` gets the source port.
  std::optional<std::size_t> recv(std::span<std::uint8_t> buf, std::uint16_t& from_port) const {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&a), &len);
    if (n < 0) return std::nullopt;
    from_port = ntohs(a.sin_port);
    return static_cast<std::size_t>(n);
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

/// Waits until one of `fds` is readable or `ms` elapsed.
void wait_readable(std::initializer_list<int> fds, int ms) {
  std::array<pollfd, 4> p{};
  std::size_t n = 0;
  for (int fd : fds) p[n++] = pollfd{fd, POLLIN, 0};
  ::poll(p.data(), n, ms);
}

// ---------------------------------------------------------------------------- RTP packets

void write_rtp(std::uint8_t* p, std::uint32_t ssrc, std::uint32_t index) {
  const std::uint16_t seq = static_cast<std::uint16_t>(index);
  const std::uint32_t ts = index * 160;
  p[0] = 0x80;
  p[1] = 0x00;  // PCMU
  p[2] = static_cast<std::uint8_t>(seq >> 8);
  p[3] = static_cast<std::uint8_t>(seq);
  p[4] = static_cast<std::uint8_t>(ts >> 24);
  p[5] = static_cast<std::uint8_t>(ts >> 16);
  p[6] = static_cast<std::uint8_t>(ts >> 8);
  p[7] = static_cast<std::uint8_t>(ts);
  p[8] = static_cast<std::uint8_t>(ssrc >> 24);
  p[9] = static_cast<std::uint8_t>(ssrc >> 16);
  p[10] = static_cast<std::uint8_t>(ssrc >> 8);
  p[11] = static_cast<std::uint8_t>(ssrc);
  // The packet's index in the first 4 payload bytes, then silence.
  p[12] = static_cast<std::uint8_t>(index >> 24);
  p[13] = static_cast<std::uint8_t>(index >> 16);
  p[14] = static_cast<std::uint8_t>(index >> 8);
  p[15] = static_cast<std::uint8_t>(index);
  std::memset(p + 16, kFill, kRtpSize - 16);
}

/// True when `p` is exactly the packet write_rtp(ssrc, index) made, index returned.
bool check_rtp(const std::uint8_t* p, std::size_t n, std::uint32_t ssrc, std::uint32_t& index) {
  if (n != kRtpSize || p[0] != 0x80) return false;
  const std::uint32_t got_ssrc = (std::uint32_t{p[8]} << 24) | (std::uint32_t{p[9]} << 16) |
                                 (std::uint32_t{p[10]} << 8) | p[11];
  if (got_ssrc != ssrc) return false;
  index = (std::uint32_t{p[12]} << 24) | (std::uint32_t{p[13]} << 16) |
          (std::uint32_t{p[14]} << 8) | p[15];
  for (std::size_t i = 16; i < kRtpSize; ++i) {
    if (p[i] != kFill) return false;
  }
  return true;
}

// ------------------------------------------------------------------------------ bencode (ng)

std::string bstr(const std::string& s) { return std::to_string(s.size()) + ":" + s; }

/// A bencoded dictionary from (key, already-encoded value) pairs; keys sorted as bencode wants.
std::string bdict(std::vector<std::pair<std::string, std::string>> kv) {
  std::sort(kv.begin(), kv.end());
  std::string out = "d";
  for (auto& [k, v] : kv) out += bstr(k) + v;
  return out + "e";
}

std::string blist(const std::vector<std::string>& items) {
  std::string out = "l";
  for (auto& i : items) out += bstr(i);
  return out + "e";
}

/// Skips one bencoded value at `pos`; false on malformed input.
bool bskip(const std::string& s, std::size_t& pos) {
  if (pos >= s.size()) return false;
  const char c = s[pos];
  if (c == 'i') {
    auto e = s.find('e', pos);
    if (e == std::string::npos) return false;
    pos = e + 1;
    return true;
  }
  if (c == 'l' || c == 'd') {
    ++pos;
    while (pos < s.size() && s[pos] != 'e') {
      if (!bskip(s, pos)) return false;
    }
    if (pos >= s.size()) return false;
    ++pos;
    return true;
  }
  auto colon = s.find(':', pos);
  if (colon == std::string::npos) return false;
  std::size_t len = std::stoul(s.substr(pos, colon - pos));
  pos = colon + 1 + len;
  return pos <= s.size();
}

/// The string values of a top-level bencoded dictionary (other values skipped).
std::map<std::string, std::string> bdecode_strings(const std::string& s) {
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  if (s.empty() || s[0] != 'd') return out;
  ++pos;
  while (pos < s.size() && s[pos] != 'e') {
    auto colon = s.find(':', pos);
    if (colon == std::string::npos) break;
    std::size_t klen = std::stoul(s.substr(pos, colon - pos));
    std::string key = s.substr(colon + 1, klen);
    pos = colon + 1 + klen;
    if (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      auto c2 = s.find(':', pos);
      std::size_t vlen = std::stoul(s.substr(pos, c2 - pos));
      out[key] = s.substr(c2 + 1, vlen);
      pos = c2 + 1 + vlen;
    } else if (!bskip(s, pos)) {
      break;
    }
  }
  return out;
}

// ------------------------------------------------------------------------------ SDP helpers

/// What the generator needs from the relay's SDP toward one end.
struct RemoteMedia {
  std::uint16_t port = 0;
  std::string ice_ufrag, ice_pwd, fingerprint_alg, fingerprint, setup;
};

RemoteMedia scan_sdp(const std::string& sdp) {
  RemoteMedia r;
  std::istringstream in(sdp);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto value = [&](const char* prefix) -> std::optional<std::string> {
      const std::size_t n = std::strlen(prefix);
      if (line.compare(0, n, prefix) == 0) return line.substr(n);
      return std::nullopt;
    };
    if (auto v = value("m=audio ")) {
      r.port = static_cast<std::uint16_t>(std::stoul(*v));
    } else if (auto u = value("a=ice-ufrag:")) {
      r.ice_ufrag = *u;
    } else if (auto p = value("a=ice-pwd:")) {
      r.ice_pwd = *p;
    } else if (auto f = value("a=fingerprint:")) {
      auto sp = f->find(' ');
      r.fingerprint_alg = f->substr(0, sp);
      r.fingerprint = sp == std::string::npos ? "" : f->substr(sp + 1);
    } else if (auto s = value("a=setup:")) {
      r.setup = *s;
    }
  }
  return r;
}

std::string plain_sdp(std::uint16_t port) {
  return "v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         "m=audio " +
         std::to_string(port) +
         " RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n";
}

// ----------------------------------------------------------------------------- the browser

constexpr const char* kBrowserUfrag = "brow";
constexpr const char* kBrowserPwd = "browserpasswordbrowser01";

std::string browser_sdp(std::uint16_t port, const std::string& fingerprint) {
  const std::string p = std::to_string(port);
  return "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
         "m=audio " +
         p +
         " UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 127.0.0.1\r\na=mid:0\r\n"
         "a=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=ice-ufrag:" +
         kBrowserUfrag + "\r\na=ice-pwd:" + kBrowserPwd + "\r\na=fingerprint:sha-256 " +
         fingerprint +
         "\r\na=setup:actpass\r\na=rtcp-mux\r\na=candidate:1 1 UDP 2130706431 127.0.0.1 " + p +
         " typ host\r\na=sendrecv\r\n";
}

/// The relay's WebRTC end as its SDP describes it.
struct RelayWebRtc {
  std::uint16_t port = 0;
  std::string ice_ufrag, ice_pwd, fingerprint;
  bool relay_is_dtls_server = true;  ///< its a=setup was passive
};

/// ICE (controlling, nominating), DTLS and SRTP of the browser end; single-threaded.
class Browser {
 public:
  Browser() : identity_(bridge::DtlsIdentity::generate("browser")) {}
  UdpSocket& socket() { return sock_; }
  const bridge::DtlsIdentity& identity() const { return *identity_; }
  SrtpSession& out() { return *out_; }
  SrtpSession& in() { return *in_; }
  SrtpProfile profile() const { return profile_; }

  /// ICE check, then the DTLS handshake; SRTP sessions from the exported keys. Dies after 10 s.
  void connect(const RelayWebRtc& relay, std::vector<SrtpProfile> offered) {
    relay_ = relay;
    bridge::DtlsOptions opts;
    opts.srtp_profiles = std::move(offered);
    const auto role =
        relay.relay_is_dtls_server ? bridge::DtlsRole::Client : bridge::DtlsRole::Server;
    dtls_ = std::make_unique<bridge::DtlsTransport>(
        identity_, role, "sha-256", relay.fingerprint,
        [this](std::span<const std::uint8_t> b) { sock_.send_to(b, relay_.port); }, opts);
    if (role == bridge::DtlsRole::Server) dtls_->start();
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    auto next_check = Clock::now();
    std::array<std::uint8_t, 2048> buf{};
    while (!ice_ok_ || dtls_->state() != bridge::DtlsTransport::State::Connected) {
      const auto now = Clock::now();
      if (now > deadline) die("ICE/DTLS with the relay did not complete in 10 s");
      if (dtls_->state() == bridge::DtlsTransport::State::Failed) {
        die("DTLS failed: " + dtls_->error());
      }
      if (!ice_ok_ && now >= next_check) {
        send_check();
        next_check = now + std::chrono::milliseconds(50);
      }
      wait_readable({sock_.fd()}, 10);
      std::uint16_t from = 0;
      while (auto n = sock_.recv(buf, from)) {
        std::span<const std::uint8_t> pkt(buf.data(), *n);
        switch (bridge::classify(pkt)) {
          case bridge::PacketKind::Stun:
            on_stun(pkt, from);
            break;
          case bridge::PacketKind::Dtls:
            dtls_->on_packet(pkt);
            break;
          default:
            break;
        }
      }
      if (ice_ok_ && role == bridge::DtlsRole::Client) dtls_->start();  // no-op after the first
      if (auto t = dtls_->next_timeout(); t && t->count() == 0) dtls_->on_timeout();
    }
    const bridge::SrtpKeys* keys = dtls_->keys();
    profile_ = keys->profile;
    auto out =
        SrtpSession::make(keys->profile, keys->local_master, SrtpSession::Direction::Outbound);
    auto in =
        SrtpSession::make(keys->profile, keys->remote_master, SrtpSession::Direction::Inbound);
    if (!out || !in) die("SrtpSession::make failed");
    out_.emplace(std::move(*out));
    in_.emplace(std::move(*in));
  }

  /// A nominating connectivity check (RFC 8445 s.7.2.2), as a browser's controlling agent sends.
  void send_check() {
    stun::Builder b(stun::Class::Request, stun::kBinding, stun::random_transaction_id());
    b.add_text(stun::attr::kUsername, relay_.ice_ufrag + ":" + kBrowserUfrag);
    b.add_u32(stun::attr::kPriority, 1845501695u);
    b.add_u64(stun::attr::kIceControlling, 0x1234567890abcdefull);
    b.add_flag(stun::attr::kUseCandidate);
    b.add_message_integrity(relay_.ice_pwd);
    b.add_fingerprint();
    sock_.send_to(b.bytes(), relay_.port);
  }

  /// Answers the relay's own checks (a full ICE agent such as rtpengine sends them) and takes a
  /// success response to ours as ICE done.
  void on_stun(std::span<const std::uint8_t> pkt, std::uint16_t from) {
    auto m = stun::parse(pkt);
    if (!m) return;
    if (m->klass() == stun::Class::Success) {
      ice_ok_ = true;
      return;
    }
    if (m->klass() != stun::Class::Request || m->method() != stun::kBinding) return;
    if (!stun::check_message_integrity(*m, kBrowserPwd)) return;
    stun::Builder b(stun::Class::Success, stun::kBinding, m->transaction_id());
    b.add_xor_address(stun::attr::kXorMappedAddress,
                      sipws::Endpoint{asio::ip::make_address("127.0.0.1"), from});
    b.add_message_integrity(kBrowserPwd);
    b.add_fingerprint();
    sock_.send_to(b.bytes(), from);
  }

 private:
  UdpSocket sock_;
  std::shared_ptr<const bridge::DtlsIdentity> identity_;
  RelayWebRtc relay_;
  std::unique_ptr<bridge::DtlsTransport> dtls_;
  bool ice_ok_ = false;
  std::optional<SrtpSession> out_, in_;
  SrtpProfile profile_ = SrtpProfile::AeadAes128Gcm;
};

// ---------------------------------------------------------------------------- relays

/// A relay under test, once its call is set up: where each end sends, and its CPU clock.
class Relay {
 public:
  virtual ~Relay() = default;
  virtual std::string name() const = 0;
  /// Relay CPU time so far, nanoseconds.
  virtual std::uint64_t cpu_ns() = 0;
};

/// sipws: one MediaSession on an io_context run by one thread pinned to `cpu`.
class SipwsRelay : public Relay {
 public:
  SipwsRelay(bool plain_a, int cpu) : pool_(43000, 43999) {
    cfg_.address = asio::ip::make_address("127.0.0.1");
    cfg_.port_min = 43000;
    cfg_.port_max = 43999;
    cfg_.media_timeout = sipws::Millis(0);
    session_ = bridge::MediaSession::make(
        io_, cfg_, pool_, bridge::DtlsIdentity::generate(),
        plain_a ? bridge::MediaFlavor::Plain : bridge::MediaFlavor::WebRtc,
        bridge::MediaFlavor::Plain, {});
    if (!session_) die("MediaSession::make failed (ports 43000-43999 taken?)");
    cpu_ = cpu;
  }
  ~SipwsRelay() override {
    if (thread_.joinable()) {
      io_.stop();
      thread_.join();
    }
    session_->close();
  }
  std::string name() const override { return "sipws"; }

  bridge::Leg& leg(bridge::Side s) { return session_->leg(s); }

  /// Starts the io thread; call after the legs know their remotes (no locking: the thread's
  /// creation orders those writes before its reads).
  void start() {
    thread_ = std::thread([this] {
      pin_to_cpu(0, cpu_);
      auto guard = asio::make_work_guard(io_);
      io_.run();
    });
    if (pthread_getcpuclockid(thread_.native_handle(), &clock_) != 0) die("pthread_getcpuclockid");
  }
  std::uint64_t cpu_ns() override { return thread_cpu_ns(clock_); }

 private:
  asio::io_context io_;
  bridge::BridgeConfig cfg_;
  bridge::PortPool pool_;
  std::shared_ptr<bridge::MediaSession> session_;
  std::thread thread_;
  clockid_t clock_{};
  int cpu_ = -1;
};

/// rtpengine-daemon started in userspace mode; the ng protocol over UDP.
class RtpengineRelay : public Relay {
 public:
  RtpengineRelay(const std::string& binary, std::uint16_t ng_port, int cpu,
                 const std::string& log_path, int log_level)
      : ng_port_(ng_port) {
    std::vector<std::string> args = {binary,
                                     "--config-file=none",
                                     "--foreground",
                                     "--log-stderr",
                                     "--table=-1",
                                     "--interface=127.0.0.1",
                                     "--listen-ng=127.0.0.1:" + std::to_string(ng_port),
                                     "--port-min=44000",
                                     "--port-max=44999",
                                     "--num-threads=1",
                                     "--log-level=" + std::to_string(log_level),
                                     "--timeout=60",
                                     "--delete-delay=0"};
    pid_ = ::fork();
    if (pid_ < 0) die("fork");
    if (pid_ == 0) {
      pin_to_cpu(0, cpu);  // inherited by every thread rtpengine starts
      int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> argv;
      argv.reserve(args.size() + 1);
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      std::_Exit(127);
    }
    std::fprintf(stderr, "rtpengine started, pid %d, log %s\n", static_cast<int>(pid_),
                 log_path.c_str());
    // Wait for the control socket to answer a ping.
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (true) {
      if (Clock::now() > deadline) die("rtpengine did not answer ping in 10 s; see its log");
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        die("rtpengine exited at start; see its log");
      }
      auto r = ng({{"command", bstr("ping")}}, 200);
      if (r.count("result") && r["result"] == "pong") break;
    }
  }
  ~RtpengineRelay() override { stop(); }

  /// SIGTERM to the PID we started, SIGKILL after 3 s.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 30; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string name() const override { return "rtpengine"; }
  bool verbose = false;

  /// One ng request (cookie + bencoded dict); the string values of the reply.
  std::map<std::string, std::string> ng(std::vector<std::pair<std::string, std::string>> kv,
                                        int timeout_ms = 3000) {
    const std::string cookie = "c" + std::to_string(++cookie_);
    const std::string msg = cookie + " " + bdict(std::move(kv));
    ctl_.send_to(std::span(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size()),
                 ng_port_);
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    std::vector<std::uint8_t> buf(65536);
    while (Clock::now() < deadline) {
      wait_readable({ctl_.fd()}, 20);
      std::uint16_t from = 0;
      while (auto n = ctl_.recv(buf, from)) {
        std::string reply(reinterpret_cast<const char*>(buf.data()), *n);
        if (reply.compare(0, cookie.size() + 1, cookie + " ") != 0) continue;
        return bdecode_strings(reply.substr(cookie.size() + 1));
      }
    }
    return {};
  }

  /// offer + answer; returns {SDP toward the answerer (offer out), SDP toward the offerer}.
  std::pair<std::string, std::string> call(
      const std::string& offer_sdp, std::vector<std::pair<std::string, std::string>> offer_flags,
      const std::string& answer_sdp,
      std::vector<std::pair<std::string, std::string>> answer_flags) {
    const std::string call_id =
        "bench-" + std::to_string(::getpid()) + "-" + std::to_string(++calls_);
    offer_flags.insert(offer_flags.end(), {{"command", bstr("offer")},
                                           {"call-id", bstr(call_id)},
                                           {"from-tag", bstr("caller")},
                                           {"sdp", bstr(offer_sdp)}});
    auto o = ng(std::move(offer_flags));
    if (o["result"] != "ok") die("rtpengine offer: " + o["result"] + " " + o["error-reason"]);
    answer_flags.insert(answer_flags.end(), {{"command", bstr("answer")},
                                             {"call-id", bstr(call_id)},
                                             {"from-tag", bstr("caller")},
                                             {"to-tag", bstr("callee")},
                                             {"sdp", bstr(answer_sdp)}});
    auto a = ng(std::move(answer_flags));
    if (a["result"] != "ok") die("rtpengine answer: " + a["result"] + " " + a["error-reason"]);
    if (verbose) {
      std::fprintf(stderr, "--- offer out (to the callee):\n%s--- answer out (to the caller):\n%s",
                   o["sdp"].c_str(), a["sdp"].c_str());
    }
    return {o["sdp"], a["sdp"]};
  }

  /// Sum of the run time of all of rtpengine's threads (schedstat, ns).
  std::uint64_t cpu_ns() override {
    std::uint64_t sum = 0;
    const std::string dir = "/proc/" + std::to_string(pid_) + "/task";
    if (DIR* d = ::opendir(dir.c_str())) {
      while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream f(dir + "/" + e->d_name + "/schedstat");
        std::uint64_t ns = 0;
        if (f >> ns) sum += ns;
      }
      ::closedir(d);
    }
    return sum;
  }

 private:
  UdpSocket ctl_;
  std::uint16_t ng_port_;
  pid_t pid_ = -1;
  int cookie_ = 0;
  int calls_ = 0;
};

// ----------------------------------------------------------------------------- the traffic

/// One direction of one call: `tx` sends to `tx_port`, `rx` receives.
struct Path {
  UdpSocket* tx = nullptr;
  std::uint16_t tx_port = 0;
  UdpSocket* rx = nullptr;
  SrtpSession* protect = nullptr;    ///< set: the sender speaks SRTP (browser -> relay)
  SrtpSession* unprotect = nullptr;  ///< set: the receiver gets SRTP (relay -> browser)
  Browser* browser = nullptr;        ///< STUN from the relay is answered on its socket
};

struct RunResult {
  std::uint64_t sent = 0, received = 0, bad = 0;
  double seconds = 0;
  std::uint64_t relay_cpu_ns = 0, gen_cpu_ns = 0;
  bool timed_out = false;
};

/// Answers STUN arriving at the browser's socket while it is not the receiver of the run.
void serve_browser(Browser* b) {
  if (!b) return;
  std::array<std::uint8_t, 2048> buf{};
  std::uint16_t from = 0;
  while (auto n = b->socket().recv(buf, from)) {
    std::span<const std::uint8_t> pkt(buf.data(), *n);
    if (bridge::classify(pkt) == bridge::PacketKind::Stun) b->on_stun(pkt, from);
  }
}

/// Sends `count` packets of SSRC `ssrc` with indexes first..first+count-1 over `path`, at most
/// `window` in flight; packets not back after a 50 ms stall are written off as lost. `rate` > 0
/// paces the sender to that many packets per second (busy-waiting on the load core; at most 4
/// packets at once, and a sender that fell behind by more than 64 packets skips ahead instead of
/// bursting); 0 sends as fast as the window allows.
RunResult run(Path& path, Relay& relay, std::uint32_t ssrc, std::uint32_t first,
              std::uint32_t count, std::uint32_t window, std::uint32_t rate, double max_seconds) {
  RunResult r;
  // Untimed preparation: SRTP the browser sends is protected ahead.
  std::vector<std::uint8_t> txbuf(static_cast<std::size_t>(count) * kStride);
  std::vector<std::uint16_t> txlen(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint8_t* p = txbuf.data() + static_cast<std::size_t>(i) * kStride;
    write_rtp(p, ssrc, first + i);
    std::size_t len = kRtpSize;
    if (path.protect && path.protect->protect_rtp(std::span(p, kStride), len))
      die("protect failed");
    txlen[i] = static_cast<std::uint16_t>(len);
  }
  std::vector<std::uint8_t> rxstore;  // SRTP received, checked after the timed part
  std::vector<std::uint16_t> rxlen;
  if (path.unprotect) {
    rxstore.resize(static_cast<std::size_t>(count) * kStride);
    rxlen.resize(count);
  }
  std::vector<std::array<std::uint8_t, 2048>> rxbufs(kBatch);
  std::array<mmsghdr, kBatch> rxmsgs{}, txmsgs{};
  std::array<iovec, kBatch> rxiov{}, txiov{};
  std::array<sockaddr_in, kBatch> rxfrom{};
  auto arm_rx = [&] {
    for (std::size_t i = 0; i < kBatch; ++i) {
      rxiov[i] = {rxbufs[i].data(), rxbufs[i].size()};
      rxmsgs[i].msg_hdr = {};
      rxmsgs[i].msg_hdr.msg_name = &rxfrom[i];
      rxmsgs[i].msg_hdr.msg_namelen = sizeof rxfrom[i];
      rxmsgs[i].msg_hdr.msg_iov = &rxiov[i];
      rxmsgs[i].msg_hdr.msg_iovlen = 1;
    }
  };
  arm_rx();
  sockaddr_in dst = UdpSocket::loopback(path.tx_port);

  std::uint64_t written_off = 0;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(max_seconds);
  auto last_rx = start, last_progress = start;
  auto pace_origin = start;
  std::uint64_t pace_sent = 0;
  const std::uint64_t relay0 = relay.cpu_ns();
  const std::uint64_t gen0 = thread_cpu_ns(CLOCK_THREAD_CPUTIME_ID);
  while (true) {
    const auto now = Clock::now();
    if (now > deadline) {
      r.timed_out = true;
      break;
    }
    const std::int64_t inflight =
        static_cast<std::int64_t>(r.sent) - static_cast<std::int64_t>(r.received + written_off);
    if (r.sent == count && inflight <= 0) break;
    std::size_t allowed = kBatch;
    if (rate > 0) {
      auto due = static_cast<std::uint64_t>(
                     std::chrono::duration<double>(now - pace_origin).count() * rate) +
                 1;
      if (due > pace_sent + 64) {  // fell behind (descheduled): skip ahead, no burst
        pace_origin = now;
        pace_sent = 0;
        due = 1;
      }
      allowed = due > pace_sent ? std::min<std::size_t>(4, due - pace_sent) : 0;
    }
    if (allowed > 0 && r.sent < count && inflight < static_cast<std::int64_t>(window)) {
      const std::size_t k = std::min<std::size_t>(
          {allowed, static_cast<std::size_t>(window - inflight), count - r.sent});
      for (std::size_t i = 0; i < k; ++i) {
        const std::size_t idx = r.sent + i;
        txiov[i] = {txbuf.data() + idx * kStride, txlen[idx]};
        txmsgs[i].msg_hdr = {};
        txmsgs[i].msg_hdr.msg_name = &dst;
        txmsgs[i].msg_hdr.msg_namelen = sizeof dst;
        txmsgs[i].msg_hdr.msg_iov = &txiov[i];
        txmsgs[i].msg_hdr.msg_iovlen = 1;
      }
      int s = ::sendmmsg(path.tx->fd(), txmsgs.data(), static_cast<unsigned>(k), 0);
      if (s > 0) {
        r.sent += static_cast<std::uint64_t>(s);
        pace_sent += static_cast<std::uint64_t>(s);
      }
    }
    int n = ::recvmmsg(path.rx->fd(), rxmsgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n > 0) {
      for (int i = 0; i < n; ++i) {
        const std::uint8_t* p = rxbufs[i].data();
        const std::size_t len = rxmsgs[i].msg_len;
        if (path.unprotect) {
          if (bridge::classify(std::span(p, len)) == bridge::PacketKind::Stun) {
            path.browser->on_stun(std::span(p, len), ntohs(rxfrom[i].sin_port));
            continue;
          }
          if (r.received < count) {
            std::memcpy(rxstore.data() + r.received * kStride, p, std::min(len, kStride));
            rxlen[r.received] = static_cast<std::uint16_t>(std::min(len, kStride));
          }
        } else {
          std::uint32_t index = 0;
          if (!check_rtp(p, len, ssrc, index) || index < first || index >= first + count) {
            ++r.bad;
          }
        }
        ++r.received;
      }
      last_rx = last_progress = Clock::now();
      arm_rx();
    } else {
      serve_browser(path.unprotect ? nullptr : path.browser);
      if (rate == 0 && (inflight >= static_cast<std::int64_t>(window) || r.sent == count)) {
        wait_readable({path.rx->fd()}, 5);
      }
      if (Clock::now() - last_progress > std::chrono::milliseconds(50) && inflight > 0) {
        written_off += static_cast<std::uint64_t>(inflight);
        last_progress = Clock::now();
      }
    }
  }
  r.relay_cpu_ns = relay.cpu_ns() - relay0;
  r.gen_cpu_ns = thread_cpu_ns(CLOCK_THREAD_CPUTIME_ID) - gen0;
  r.seconds = std::chrono::duration<double>(last_rx - start).count();
  // SRTP the browser received: authenticate, decrypt, check (not timed).
  if (path.unprotect) {
    for (std::uint64_t i = 0; i < std::min<std::uint64_t>(r.received, count); ++i) {
      std::uint8_t* p = rxstore.data() + i * kStride;
      std::size_t len = rxlen[i];
      std::uint32_t index = 0;
      if (path.unprotect->unprotect_rtp(std::span(p, kStride), len) ||
          !check_rtp(p, len, ssrc, index)) {
        ++r.bad;
      }
    }
  }
  return r;
}

struct Options {
  std::string relay = "sipws";
  std::string direction = "both";
  std::string profile = "both";
  bool plain = false;
  std::uint32_t count = 200000;
  std::uint32_t window = 32;
  std::vector<std::uint32_t> rates = {0};
  double max_seconds = 20;
  int repeat = 1;
  int relay_cpu = 0;
  int load_cpu = 1;
  std::string rtpengine = "/usr/bin/rtpengine";
  std::uint16_t ng_port = 22222;
  std::string rtpengine_log = "/tmp/sipws_media_bench_rtpengine.log";
  bool verbose = false;
  int rtpengine_log_level = 4;
};

void report(const Options& o, const std::string& relay, const std::string& dir,
            const std::string& profile, std::uint32_t rate, const RunResult& r) {
  const double pps = r.seconds > 0 ? static_cast<double>(r.received) / r.seconds : 0;
  const double cpu_per =
      r.received ? static_cast<double>(r.relay_cpu_ns) / static_cast<double>(r.received) : 0;
  const double util = r.seconds > 0 ? static_cast<double>(r.relay_cpu_ns) / 1e9 / r.seconds : 0;
  const double gen_per =
      r.received ? static_cast<double>(r.gen_cpu_ns) / static_cast<double>(r.received) : 0;
  const std::uint64_t lost = r.sent - std::min(r.sent, r.received);
  std::printf(
      "%-9s %-12s %-16s sent %7llu recv %7llu lost %6llu bad %llu  %9.0f pkt/s  relay cpu "
      "%6.2f us/pkt (%3.0f%% of a core)  gen %5.2f us/pkt  %s  load %s%s\n",
      relay.c_str(), dir.c_str(), profile.c_str(), static_cast<unsigned long long>(r.sent),
      static_cast<unsigned long long>(r.received), static_cast<unsigned long long>(lost),
      static_cast<unsigned long long>(r.bad), pps, cpu_per / 1000.0, util * 100, gen_per / 1000.0,
      (rate ? "paced " + std::to_string(rate) + "/s" : "window " + std::to_string(o.window))
          .c_str(),
      load_average().c_str(), r.timed_out ? "  (time limit)" : "");
  std::fflush(stdout);
}

std::string profile_name(SrtpProfile p) {
  return p == SrtpProfile::AeadAes128Gcm ? "AEAD_AES_128_GCM" : "AES_CM_128_SHA1_80";
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Packets per second through a media relay (sipws MediaSession or rtpengine)"};
  app.add_option("--relay", o.relay, "sipws or rtpengine")
      ->check(CLI::IsMember({"sipws", "rtpengine"}));
  app.add_option("--direction", o.direction,
                 "srtp-to-rtp, rtp-to-srtp or both (with --plain: a-to-b, b-to-a or both)")
      ->check(CLI::IsMember({"srtp-to-rtp", "rtp-to-srtp", "a-to-b", "b-to-a", "both"}));
  app.add_option("--profile", o.profile,
                 "SRTP profile the browser offers: gcm (GCM then CM, as browsers), cm (CM only) "
                 "or both")
      ->check(CLI::IsMember({"gcm", "cm", "both"}));
  app.add_flag("--plain", o.plain, "plain RTP on both legs (no ICE, DTLS, SRTP)");
  app.add_option("--count", o.count, "packets per run")->check(CLI::Range(1u, 5'000'000u));
  app.add_option("--window", o.window, "packets in flight at most")->check(CLI::Range(1u, 4096u));
  app.add_option("--rate", o.rates,
                 "paced send rates in packets/s, comma-separated (0: as fast as the window "
                 "allows); one call per profile and rate")
      ->delimiter(',');
  app.add_option("--max-seconds", o.max_seconds, "time limit per run");
  app.add_option("--repeat", o.repeat, "runs per direction and profile")->check(CLI::Range(1, 100));
  app.add_option("--relay-cpu", o.relay_cpu, "core for the relay (-1: no pinning)");
  app.add_option("--load-cpu", o.load_cpu, "core for the load generator (-1: no pinning)");
  app.add_option("--rtpengine", o.rtpengine, "rtpengine binary");
  app.add_option("--ng-port", o.ng_port, "rtpengine ng control port on 127.0.0.1");
  app.add_option("--rtpengine-log", o.rtpengine_log, "where rtpengine's stderr goes");
  app.add_option("--rtpengine-log-level", o.rtpengine_log_level,
                 "rtpengine's --log-level (4: warnings; 7: debug, far slower)");
  app.add_flag("-v,--verbose", o.verbose, "print the SDPs rtpengine wrote");
  CLI11_PARSE(app, argc, argv);

  std::signal(SIGPIPE, SIG_IGN);
  pin_to_cpu(0, o.load_cpu);

  std::vector<SrtpProfile> profiles_cm = {SrtpProfile::Aes128CmSha1_80};
  std::vector<SrtpProfile> profiles_gcm = {SrtpProfile::AeadAes128Gcm,
                                           SrtpProfile::Aes128CmSha1_80};
  std::vector<std::pair<std::string, std::vector<SrtpProfile>>> offers;
  if (o.plain) {
    offers.push_back({"plain", {}});
  } else {
    if (o.profile != "cm") offers.push_back({"gcm", profiles_gcm});
    if (o.profile != "gcm") offers.push_back({"cm", profiles_cm});
  }
  const bool fwd = o.direction == "both" || o.direction == "srtp-to-rtp" || o.direction == "a-to-b";
  const bool rev = o.direction == "both" || o.direction == "rtp-to-srtp" || o.direction == "b-to-a";

  std::unique_ptr<RtpengineRelay> rtpengine;
  if (o.relay == "rtpengine") {
    rtpengine = std::make_unique<RtpengineRelay>(o.rtpengine, o.ng_port, o.relay_cpu,
                                                 o.rtpengine_log, o.rtpengine_log_level);
    rtpengine->verbose = o.verbose;
  }
  std::printf(
      "# sipws_media_bench: relay %s, %u packets of %zu bytes per run, window %u, relay "
      "cpu %d, load cpu %d, load %s\n",
      o.relay.c_str(), o.count, kRtpSize, o.window, o.relay_cpu, o.load_cpu,
      load_average().c_str());
  bool ok = true;
  std::uint32_t ssrc = 0x5a5a0000;
  for (const auto& [offer_name, offered] : offers)
    for (const std::uint32_t rate : o.rates) {
      // One call per profile: the browser (or the plain caller A) and the phone (B).
      Browser browser;
      UdpSocket caller;  // --plain: the caller end A
      UdpSocket phone;
      std::unique_ptr<SipwsRelay> sipws;
      Relay* relay = nullptr;
      std::uint16_t a_port = 0, b_port = 0;  // where A and B send
      RelayWebRtc web;
      if (o.relay == "sipws") {
        sipws = std::make_unique<SipwsRelay>(o.plain, o.relay_cpu);
        bridge::MediaDescription phone_md;
        phone_md.flavor = bridge::MediaFlavor::Plain;
        phone_md.address = "127.0.0.1";
        phone_md.port = phone.port();
        bridge::MediaDescription a_md = phone_md;
        if (o.plain) {
          a_md.port = caller.port();
        } else {
          a_md.flavor = bridge::MediaFlavor::WebRtc;
          a_md.port = browser.socket().port();
          a_md.rtcp_mux = true;
          a_md.ice_ufrag = kBrowserUfrag;
          a_md.ice_pwd = kBrowserPwd;
          a_md.fingerprint_alg = "sha-256";
          a_md.fingerprint = browser.identity().fingerprint_sha256();
          a_md.setup = "actpass";
        }
        sipws->leg(bridge::Side::A).set_remote(a_md, /*we_offered=*/false);
        sipws->leg(bridge::Side::B).set_remote(phone_md, /*we_offered=*/true);
        a_port = sipws->leg(bridge::Side::A).port();
        b_port = sipws->leg(bridge::Side::B).port();
        if (!o.plain) {
          const auto w = sipws->leg(bridge::Side::A).webrtc_side(false);
          web = {a_port, w.ice_ufrag, w.ice_pwd, w.fingerprint, w.setup == "passive"};
        }
        sipws->start();
        relay = sipws.get();
      } else {
        relay = rtpengine.get();
        if (o.plain) {
          auto [to_phone, to_caller] =
              rtpengine->call(plain_sdp(caller.port()), {}, plain_sdp(phone.port()), {});
          b_port = scan_sdp(to_phone).port;
          a_port = scan_sdp(to_caller).port;
        } else {
          // The same conversion as sipws: the browser's WebRTC offer goes to the phone as RTP/AVP
          // without ICE; the phone's plain answer comes back as DTLS-SRTP with ICE, rtpengine
          // preferring the passive DTLS role (the browser is the DTLS client, as with sipws).
          auto [to_phone, to_browser] = rtpengine->call(
              browser_sdp(browser.socket().port(), browser.identity().fingerprint_sha256()),
              {{"transport-protocol", bstr("RTP/AVP")},
               {"ICE", bstr("remove")},
               {"rtcp-mux", blist({"demux"})}},
              plain_sdp(phone.port()),
              {{"transport-protocol", bstr("UDP/TLS/RTP/SAVPF")},
               {"ICE", bstr("force")},
               {"DTLS", bstr("passive")}});
          const RemoteMedia rp = scan_sdp(to_phone);
          const RemoteMedia rb = scan_sdp(to_browser);
          b_port = rp.port;
          a_port = rb.port;
          if (rb.fingerprint_alg != "sha-256") {
            die("rtpengine answered without a sha-256 fingerprint:\n" + to_browser);
          }
          web = {a_port, rb.ice_ufrag, rb.ice_pwd, rb.fingerprint, rb.setup != "active"};
        }
        if (a_port == 0 || b_port == 0) die("no media port in rtpengine's SDP");
      }
      std::string profile_label = "RTP (no SRTP)";
      if (!o.plain) {
        browser.connect(web, offered);
        profile_label = profile_name(browser.profile());
      }

      Path a_to_b{o.plain ? &caller : &browser.socket(), a_port,  &phone,
                  o.plain ? nullptr : &browser.out(),    nullptr, o.plain ? nullptr : &browser};
      Path b_to_a{&phone,
                  b_port,
                  o.plain ? &caller : &browser.socket(),
                  nullptr,
                  o.plain ? nullptr : &browser.in(),
                  o.plain ? nullptr : &browser};
      const std::string fwd_name = o.plain ? "RTP->RTP a>b" : "SRTP->RTP";
      const std::string rev_name = o.plain ? "RTP->RTP b>a" : "RTP->SRTP";
      // Warm-up: latching, SRTP stream contexts, caches; then the timed runs. Each run continues
      // the same SSRC's sequence (libsrtp refuses to protect an index twice).
      std::uint32_t next_a = 0, next_b = 0;
      const std::uint32_t ssrc_a = ++ssrc, ssrc_b = ++ssrc;
      for (int rep = -1; rep < o.repeat; ++rep) {
        const bool timed = rep >= 0;
        const std::uint32_t n = timed ? o.count : 500;
        const std::uint32_t pace = timed ? rate : 5000;  // warm-up: 0.1 s at 5,000 packets/s
        if (fwd) {
          auto r = run(a_to_b, *relay, ssrc_a, next_a, n, o.window, pace, o.max_seconds);
          next_a += n;
          if (timed) report(o, relay->name(), fwd_name, profile_label, rate, r);
          if (r.received == 0) {
            ok = false;
            std::fprintf(stderr, "nothing arrived %s\n", fwd_name.c_str());
          }
        }
        if (rev) {
          auto r = run(b_to_a, *relay, ssrc_b, next_b, n, o.window, pace, o.max_seconds);
          next_b += n;
          if (timed) report(o, relay->name(), rev_name, profile_label, rate, r);
          if (r.received == 0) {
            ok = false;
            std::fprintf(stderr, "nothing arrived %s\n", rev_name.c_str());
          }
        }
      }
    }
  if (rtpengine) rtpengine->stop();
  return ok ? 0 : 1;
}
