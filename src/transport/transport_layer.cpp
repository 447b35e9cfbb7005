#include "transport/transport_layer.hpp"

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "common/counters.hpp"
#include "common/log.hpp"
#include "sip/parser.hpp"
#include "transport/descriptor_reserve.hpp"
#include "transport/socket_options.hpp"
#include "transport/stream_flow.hpp"
#include "transport/tls.hpp"
#include "transport/udp_pktinfo.hpp"

namespace sipws::transport {
namespace {

using detail::FlowHost;
using detail::HostLink;
using detail::TcpFlow;
using detail::TlsFlow;
using Udp = boost::asio::ip::udp;
using detail::Tcp;
namespace ssl = boost::asio::ssl;

/// Start-up errors are std::system_error (the header's contract), naming the address.
void throw_if(const boost::system::error_code& ec, const std::string& what) {
  if (ec) throw std::system_error(std::error_code(ec), what);
}

/// One bound UDP socket and its receive loop. Thread: core io thread.
struct UdpListener : std::enable_shared_from_this<UdpListener> {
  UdpListener(boost::asio::io_context& io, const Endpoint& ep, std::size_t max_size,
              bool reuse_port, std::shared_ptr<HostLink> link)
      : socket(io), max_size(max_size), buf(max_size + 1), link(std::move(link)) {
    const Udp::endpoint at(ep.address, ep.port);
    boost::system::error_code ec;
    socket.open(at.protocol(), ec);
    throw_if(ec, "udp socket " + ep.to_string());
    if (reuse_port) {
      socket.set_option(ReusePort(true), ec);
      throw_if(ec, "SO_REUSEPORT udp:" + ep.to_string());
    }
    socket.bind(at, ec);
    throw_if(ec, "bind udp:" + ep.to_string());
    local = to_endpoint(socket.local_endpoint(ec));
    throw_if(ec, "udp local endpoint " + ep.to_string());
    socket.non_blocking(true, ec);  // send(): immediate errors are reported, never blocks
    throw_if(ec, "udp non-blocking " + ep.to_string());
    if (wildcard() && !pktinfo::enable(socket.native_handle(), local.address.is_v6())) {
      throw std::system_error(errno, std::generic_category(), "IP_PKTINFO udp:" + ep.to_string());
    }
  }

  /// Bound to 0.0.0.0 or ::: the local address of each datagram comes from IP_PKTINFO, and
  /// what is sent names its source address.
  bool wildcard() const { return local.address.is_unspecified(); }

  void receive() {
    if (wildcard()) {
      receive_with_pktinfo();
      return;
    }
    auto self = shared_from_this();
    socket.async_receive_from(
        boost::asio::buffer(buf), sender,
        [self](const boost::system::error_code& ec, std::size_t n) { self->on_receive(ec, n); });
  }

  void on_receive(const boost::system::error_code& ec, std::size_t n) {
    if (ec == boost::asio::error::operation_aborted || !socket.is_open()) return;
    if (ec) {
      SIPWS_COUNTER("transport_udp_receive_errors").inc();
    } else {
      take(n);
    }
    // Under load more datagrams are already queued: read them without a trip through epoll
    // (the socket is non-blocking), a bounded batch so that other sockets get their turn.
    for (int i = 0; i < kBatch && socket.is_open() && link->host != nullptr; ++i) {
      boost::system::error_code rec;
      const std::size_t m = socket.receive_from(boost::asio::buffer(buf), sender, 0, rec);
      if (rec == boost::asio::error::would_block || rec == boost::asio::error::try_again) break;
      if (rec) {
        SIPWS_COUNTER("transport_udp_receive_errors").inc();
        break;
      }
      take(m);
    }
    if (socket.is_open() && link->host != nullptr) receive();
  }

  /// One datagram of `n` bytes in buf, from `sender`.
  void take(std::size_t n) { take(n, to_endpoint(sender), local); }

  /// One datagram of `n` bytes in buf, from `from`, sent to `to`.
  void take(std::size_t n, const Endpoint& from, const Endpoint& to) {
    if (n > max_size) {
      SIPWS_COUNTER("transport_oversize_drops").inc();  // truncated: nothing to answer
    } else if (link->host != nullptr) {
      link->host->deliver(std::make_shared<const std::string>(buf.data(), n),
                          Source{Protocol::Udp, from, to, kNoFlow});
    }
  }

  /// The wildcard listener's receive loop: readiness from Asio, then recvmsg() with the
  /// destination address of each datagram (at most kBatch + 1 per readiness event).
  void receive_with_pktinfo() {
    auto self = shared_from_this();
    socket.async_wait(Udp::socket::wait_read, [self](const boost::system::error_code& ec) {
      if (ec == boost::asio::error::operation_aborted || !self->socket.is_open()) return;
      for (int i = 0; i <= kBatch && self->link->host != nullptr; ++i) {
        const auto d =
            pktinfo::receive(self->socket.native_handle(), self->buf.data(), self->buf.size());
        if (!d) {
          if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            SIPWS_COUNTER("transport_udp_receive_errors").inc();
          }
          break;
        }
        Endpoint to = self->local;
        if (!d->to.is_unspecified()) to.address = d->to;
        self->take(d->truncated ? self->max_size + 1 : d->size, d->from, to);
      }
      if (self->socket.is_open() && self->link->host != nullptr) self->receive_with_pktinfo();
    });
  }

  /// Datagrams read per readiness event after the first.
  static constexpr int kBatch = 32;

  Udp::socket socket;
  std::size_t max_size;
  std::vector<char> buf;
  Udp::endpoint sender;
  Endpoint local;
  std::shared_ptr<HostLink> link;
};

/// One TCP or TLS listening socket and its accept loop. Thread: core io thread.
struct StreamAcceptor : std::enable_shared_from_this<StreamAcceptor> {
  StreamAcceptor(boost::asio::io_context& io, const Endpoint& ep, Protocol protocol,
                 std::shared_ptr<ssl::context> ctx, const TransportLimits& limits,
                 std::shared_ptr<HostLink> link)
      : acceptor(io),
        protocol(protocol),
        ctx(std::move(ctx)),
        limits(limits),
        link(std::move(link)) {
    const std::string name = std::string(lower_name(protocol)) + ":" + ep.to_string();
    const Tcp::endpoint at(ep.address, ep.port);
    boost::system::error_code ec;
    acceptor.open(at.protocol(), ec);
    throw_if(ec, "socket " + name);
    acceptor.set_option(Tcp::acceptor::reuse_address(true), ec);
    throw_if(ec, "SO_REUSEADDR " + name);
    if (limits.reuse_port) {
      acceptor.set_option(ReusePort(true), ec);
      throw_if(ec, "SO_REUSEPORT " + name);
    }
    acceptor.bind(at, ec);
    throw_if(ec, "bind " + name);
    acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
    throw_if(ec, "listen " + name);
    local = to_endpoint(acceptor.local_endpoint(ec));
    throw_if(ec, "local endpoint " + name);
  }

  void accept() {
    auto self = shared_from_this();
    acceptor.async_accept([self](const boost::system::error_code& ec, Tcp::socket s) {
      self->on_accept(ec, std::move(s));
    });
  }

  void on_accept(const boost::system::error_code& ec, Tcp::socket s) {
    if (ec == boost::asio::error::operation_aborted || !acceptor.is_open()) return;
    FlowHost* host = link->host;
    if (host == nullptr) return;
    if (ec) {
      SIPWS_COUNTER("transport_accept_errors").inc();
      if (!refuse_when_out_of_descriptors(ec)) {
        // Out of memory, or the reserve was lost: let closing connections free some first
        // (accepting again at once would spin on the still readable socket).
        retry.expires_after(kAcceptRetry);
        retry.async_wait([self = shared_from_this()](const boost::system::error_code& wec) {
          if (!wec && self->acceptor.is_open()) self->accept();
        });
        return;
      }
    } else {
      DescriptorReserve::note_recovered();
      boost::system::error_code rec;
      const auto remote = s.remote_endpoint(rec);
      std::optional<ConnectionLimiter::Admission> admission;
      if (!rec && limits.limiter) {
        admission = limits.limiter->admit(remote.address());
        if (!admission->admitted()) {
          const bool total = admission->verdict() == ConnectionLimiter::Verdict::TotalExceeded;
          counters()
              .get(total ? "transport_limit_total_rejected" : "transport_limit_per_ip_rejected")
              .inc();
          log::transport().info(
              "{} connection from {} refused: {}", via_token(protocol),
              to_endpoint(remote).to_string(),
              total ? "tcp_max_connections reached" : "tcp_max_connections_per_ip reached");
          s.close(rec);
          rec = boost::asio::error::connection_refused;
        }
      }
      Endpoint flow_local = local;
      if (!rec && local.address.is_unspecified()) {
        // A wildcard listener: the flow's own address is the one the peer connected to.
        boost::system::error_code lec;
        const auto le = s.local_endpoint(lec);
        if (!lec) flow_local = to_endpoint(le);
      }
      if (!rec) {
        FlowTable& table = host->flow_table();
        const FlowId id = table.next_id();
        if (admission) {
          // Counted until the flow is removed from the table.
          if (!observing_) {
            observing_ = true;
            table.on_close(
                [admissions = admissions_](FlowId fid, Protocol) { admissions->erase(fid); });
          }
          admissions_->emplace(id, std::move(*admission));
        }
        if (protocol == Protocol::Tls) {
          auto f = std::make_shared<TlsFlow>(link, id, protocol, to_endpoint(remote), flow_local,
                                             limits.max_message_size, limits.max_send_queue,
                                             limits.handshake_timeout, ctx, std::move(s), *ctx);
          table.add(f);
          f->start_accepted();
        } else {
          auto f = std::make_shared<TcpFlow>(link, id, protocol, to_endpoint(remote), flow_local,
                                             limits.max_message_size, limits.max_send_queue,
                                             limits.handshake_timeout, nullptr, std::move(s));
          table.add(f);
          f->start_accepted();
        }
      }
    }
    if (acceptor.is_open()) accept();
  }

  /// After an accept error: when it is EMFILE/ENFILE, refuses the pending connections (closed
  /// at once: a SIP stream has no answer to give before a request) and returns true when any
  /// was, so that accepting may go on at once.
  bool refuse_when_out_of_descriptors(const boost::system::error_code& ec) {
    if (!DescriptorReserve::is_exhaustion(ec.value())) return false;
    DescriptorReserve::note_exhausted(std::string(lower_name(protocol)) + " listener on " +
                                      local.to_string());
    const std::size_t refused = reserve.refuse_pending(acceptor.native_handle(), {});
    SIPWS_COUNTER("transport_refused_no_descriptors").inc(refused);
    return refused > 0;
  }

  static constexpr std::chrono::milliseconds kAcceptRetry{100};

  Tcp::acceptor acceptor;
  boost::asio::steady_timer retry{acceptor.get_executor()};  ///< accept again after kAcceptRetry
  DescriptorReserve reserve;  ///< refuses connections when out of descriptors
  Protocol protocol;
  std::shared_ptr<ssl::context> ctx;
  TransportLimits limits;
  /// The admissions of open accepted flows (released when the flow leaves the table).
  std::shared_ptr<std::unordered_map<FlowId, ConnectionLimiter::Admission>> admissions_ =
      std::make_shared<std::unordered_map<FlowId, ConnectionLimiter::Admission>>();
  bool observing_ = false;
  Endpoint local;
  std::shared_ptr<HostLink> link;
};

}  // namespace

class TransportLayerImpl final : public FlowHost {
 public:
  TransportLayerImpl(boost::asio::io_context& io, TransportLimits limits, unsigned shard)
      : io_(io), limits_(std::move(limits)), flows_(shard), link_(std::make_shared<HostLink>()) {
    link_->host = this;
  }

  ~TransportLayerImpl() override {
    link_->host = nullptr;  // no observer or handler runs from here on
    close_all();
  }

  void deliver(std::shared_ptr<const std::string> bytes, const Source& src) override {
    if (!bytes || bytes->empty()) return;
    if (sip::is_keepalive(*bytes)) {
      if (src.flow != kNoFlow && bytes->find("\r\n\r\n") != std::string::npos) {
        if (auto f = flows_.find(src.flow)) {
          SIPWS_COUNTER("transport_keepalive_pings").inc();
          static const auto kPong = std::make_shared<const std::string>("\r\n");
          f->send(kPong);
        }
      }
      return;  // UDP keep-alives and pongs are dropped
    }
    if (bytes->size() > limits_.max_message_size) {
      SIPWS_COUNTER("transport_oversize_drops").inc();
      const sip::ParseError err{sip::ParseErrc::TooLarge, 513, "Message Too Large"};
      if (auto resp = sip::error_response(*bytes, err)) {
        reply(src, std::make_shared<const std::string>(std::move(*resp)));
      }
      return;
    }
    sip::ParseOptions opts;
    opts.stream = src.protocol == Protocol::Tcp || src.protocol == Protocol::Tls;
    opts.max_size = limits_.max_message_size;
    auto parsed = sip::parse(bytes, opts);
    if (!parsed) {
      SIPWS_COUNTER("sip_parse_errors").inc();
      if (auto resp = sip::error_response(*bytes, parsed.error())) {
        reply(src, std::make_shared<const std::string>(std::move(*resp)));
      }
      return;
    }
    if (handler_ != nullptr) handler_->on_message(*parsed, src);
  }

  void flow_closed(FlowId id) override { flows_.remove(id); }
  void connect_failed(Protocol protocol, const Endpoint& peer) override {
    if (on_connect_failed_) on_connect_failed_(protocol, peer);
  }
  FlowTable& flow_table() override { return flows_; }

  bool send(const Destination& dest, std::shared_ptr<const std::string> bytes) {
    if (!bytes || shut_down_) return false;
    if (dest.flow != kNoFlow) {
      if (auto f = flows_.find(dest.flow)) return f->send(std::move(bytes));
      if (is_websocket(dest.protocol)) {
        SIPWS_COUNTER("transport_flow_gone").inc();
        return false;  // a browser cannot be dialled
      }
    }
    if (dest.endpoint.port == 0 || dest.endpoint.address.is_unspecified()) return false;
    switch (dest.protocol) {
      case Protocol::Udp:
        return send_udp(dest.endpoint, std::move(bytes),
                        dest.local.port != 0 ? &dest.local : nullptr);
      case Protocol::Tcp:
      case Protocol::Tls:
        if (auto f = flows_.find_by_peer(dest.protocol, dest.endpoint)) {
          return f->send(std::move(bytes));
        }
        return connect_and_send(dest, std::move(bytes));
      case Protocol::Ws:
      case Protocol::Wss:
        if (ws_dialer_ != nullptr) return ws_dialer_->send(dest, std::move(bytes));
        if (auto f = flows_.find_by_peer(dest.protocol, dest.endpoint)) {
          return f->send(std::move(bytes));
        }
        SIPWS_COUNTER("transport_flow_gone").inc();
        return false;
    }
    return false;
  }

  void listen_udp(const Endpoint& ep, const Advertise& adv) {
    auto l =
        std::make_shared<UdpListener>(io_, ep, limits_.max_message_size, limits_.reuse_port, link_);
    udp_.push_back(l);
    add_listen_point(Protocol::Udp, l->local, adv);
    l->receive();
  }

  void listen_stream(const Endpoint& ep, Protocol p, std::shared_ptr<ssl::context> ctx,
                     const Advertise& adv) {
    auto a = std::make_shared<StreamAcceptor>(io_, ep, p, std::move(ctx), limits_, link_);
    acceptors_.push_back(a);
    add_listen_point(p, a->local, adv);
    a->accept();
  }

  void add_listen_point(Protocol p, const Endpoint& local, const Advertise& adv) {
    listen_points_.push_back(
        ListenPoint{p, local, adv.host.empty() ? local.host_string() : adv.host, adv.port});
  }

  void shutdown() {
    shut_down_ = true;
    close_all();
  }

  boost::asio::io_context& io_;
  TransportLimits limits_;
  MessageHandler* handler_ = nullptr;
  FlowTable flows_;
  std::vector<ListenPoint> listen_points_;
  std::shared_ptr<ssl::context> client_tls_;
  Dialer* ws_dialer_ = nullptr;
  std::function<void(Protocol, const Endpoint&)> on_connect_failed_;
  /// source_address_for's cache: peer -> (source address, valid until).
  std::unordered_map<IpAddress, std::pair<IpAddress, std::chrono::steady_clock::time_point>,
                     IpAddressHash>
      route_sources_;

 private:
  void close_all() {
    boost::system::error_code ec;
    for (auto& a : acceptors_) {
      a->acceptor.close(ec);
      a->retry.cancel();
    }
    for (auto& u : udp_) u->socket.close(ec);
    for (auto& f : flows_.all()) f->close();
  }

  /// Answers on the source a message came from: its flow, or the UDP socket it arrived on.
  void reply(const Source& src, std::shared_ptr<const std::string> bytes) {
    if (src.flow != kNoFlow) {
      if (auto f = flows_.find(src.flow)) f->send(std::move(bytes));
      return;
    }
    if (src.protocol == Protocol::Udp) send_udp(src.peer, std::move(bytes), &src.local);
  }

  /// Sends from the UDP listener bound to `from` if given (a wildcard listener on its port sends
  /// from `from`'s address: IP_PKTINFO), else the first of the peer's family (replies come from
  /// the port and address the peer knows).
  bool send_udp(const Endpoint& to, std::shared_ptr<const std::string> bytes,
                const Endpoint* from) {
    UdpListener* sock = nullptr;
    if (from != nullptr && from->port != 0) {
      for (auto& u : udp_) {
        if (!u->socket.is_open() || u->local.port != from->port) continue;
        if (u->local.address == from->address) {
          sock = u.get();
          break;
        }
        if (u->wildcard() && (u->local.address.is_v6() || from->address.is_v4())) sock = u.get();
      }
    }
    if (sock == nullptr) {
      for (auto& u : udp_) {
        if (u->local.address.is_v4() == to.address.is_v4() && u->socket.is_open()) {
          sock = u.get();
          break;
        }
      }
    }
    if (sock == nullptr) {
      SIPWS_COUNTER("transport_no_route").inc();
      return false;
    }
    if (sock->wildcard() && from != nullptr && !from->address.is_unspecified()) {
      return send_udp_from(*sock, to, std::move(bytes), from->address);
    }
    const Udp::endpoint target(to.address, to.port);
    boost::system::error_code ec;
    sock->socket.send_to(boost::asio::buffer(*bytes), target, 0, ec);
    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
      // Socket buffer full: queue it; the buffer lives in the handler.
      const auto& buffer = *bytes;
      sock->socket.async_send_to(
          boost::asio::buffer(buffer), target,
          [keep = std::move(bytes)](const boost::system::error_code& e, std::size_t) {
            if (e) SIPWS_COUNTER("transport_udp_send_errors").inc();
          });
      return true;
    }
    if (ec) {
      SIPWS_COUNTER("transport_udp_send_errors").inc();
      return false;
    }
    return true;
  }

  /// Sends on wildcard listener `sock` with source address `src`; a full socket buffer waits
  /// for the socket to be writable once.
  static bool send_udp_from(UdpListener& sock, const Endpoint& to,
                            std::shared_ptr<const std::string> bytes, const IpAddress& src) {
    const long n =
        pktinfo::send_from(sock.socket.native_handle(), bytes->data(), bytes->size(), to, src);
    if (n >= 0) return true;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      SIPWS_COUNTER("transport_udp_send_errors").inc();
      return false;
    }
    sock.socket.async_wait(Udp::socket::wait_write, [s = sock.shared_from_this(), to, src,
                                                     keep = std::move(bytes)](
                                                        const boost::system::error_code& ec) {
      if (ec || !s->socket.is_open() ||
          pktinfo::send_from(s->socket.native_handle(), keep->data(), keep->size(), to, src) < 0) {
        SIPWS_COUNTER("transport_udp_send_errors").inc();
      }
    });
    return true;
  }

  /// Opens a TCP/TLS connection to `dest`, registers it as a flow and queues `bytes`.
  bool connect_and_send(const Destination& dest, std::shared_ptr<const std::string> bytes) {
    const FlowId id = flows_.next_id();
    if (dest.protocol == Protocol::Tcp) {
      auto f = std::make_shared<TcpFlow>(link_, id, Protocol::Tcp, dest.endpoint, Endpoint{},
                                         limits_.max_message_size, limits_.max_send_queue,
                                         limits_.handshake_timeout, nullptr, io_);
      f->send(std::move(bytes));
      flows_.add(f);
      f->start_connect(dest.host);
      return true;
    }
    if (!client_tls_) {
      try {
        client_tls_ = make_client_tls_context(true, "");  // verify against the system store
      } catch (const std::exception&) {
        SIPWS_COUNTER("transport_tls_context_errors").inc();
        return false;
      }
    }
    auto f = std::make_shared<TlsFlow>(link_, id, Protocol::Tls, dest.endpoint, Endpoint{},
                                       limits_.max_message_size, limits_.max_send_queue,
                                       limits_.handshake_timeout, client_tls_, io_, *client_tls_);
    f->send(std::move(bytes));
    flows_.add(f);
    f->start_connect(dest.host);
    return true;
  }

  std::shared_ptr<HostLink> link_;
  std::vector<std::shared_ptr<UdpListener>> udp_;
  std::vector<std::shared_ptr<StreamAcceptor>> acceptors_;
  bool shut_down_ = false;
};

TransportLayer::TransportLayer(boost::asio::io_context& io, TransportLimits limits, unsigned shard)
    : impl_(std::make_unique<TransportLayerImpl>(io, std::move(limits), shard)) {}

TransportLayer::~TransportLayer() = default;

void TransportLayer::set_handler(MessageHandler* handler) { impl_->handler_ = handler; }

void TransportLayer::listen_udp(const Endpoint& ep, const Advertise& adv) {
  impl_->listen_udp(ep, adv);
}

void TransportLayer::listen_tcp(const Endpoint& ep, const Advertise& adv) {
  impl_->listen_stream(ep, Protocol::Tcp, nullptr, adv);
}

void TransportLayer::listen_tls(const Endpoint& ep, std::shared_ptr<ssl::context> ctx,
                                const Advertise& adv) {
  if (!ctx) throw std::invalid_argument("listen_tls: no TLS context");
  impl_->listen_stream(ep, Protocol::Tls, std::move(ctx), adv);
}

void TransportLayer::set_tls_client_context(std::shared_ptr<ssl::context> ctx) {
  impl_->client_tls_ = std::move(ctx);
}

void TransportLayer::set_websocket_dialer(Dialer* dialer) { impl_->ws_dialer_ = dialer; }

std::optional<IpAddress> TransportLayer::source_address_for(const IpAddress& peer) {
  constexpr std::size_t kMaxPeers = 4096;
  constexpr auto kTtl = std::chrono::seconds(60);
  const auto now = std::chrono::steady_clock::now();
  auto& cache = impl_->route_sources_;
  if (auto it = cache.find(peer); it != cache.end() && it->second.second > now) {
    return it->second.first;
  }
  auto src = pktinfo::route_source(peer);
  if (!src) return std::nullopt;
  if (cache.size() >= kMaxPeers) cache.clear();
  cache[peer] = {*src, now + kTtl};
  return src;
}

void TransportLayer::on_connect_failed(std::function<void(Protocol, const Endpoint&)> fn) {
  impl_->on_connect_failed_ = std::move(fn);
}

void TransportLayer::add_listen_point(ListenPoint lp) {
  impl_->listen_points_.push_back(std::move(lp));
}

const std::vector<ListenPoint>& TransportLayer::listen_points() const {
  return impl_->listen_points_;
}

const ListenPoint* TransportLayer::listen_point(Protocol p) const {
  for (const auto& lp : impl_->listen_points_) {
    if (lp.protocol == p) return &lp;
  }
  return nullptr;
}

bool TransportLayer::send(const Destination& dest, std::shared_ptr<const std::string> bytes) {
  return impl_->send(dest, std::move(bytes));
}

void TransportLayer::deliver(std::shared_ptr<const std::string> bytes, const Source& src) {
  impl_->deliver(std::move(bytes), src);
}

FlowTable& TransportLayer::flows() { return impl_->flows_; }
boost::asio::io_context& TransportLayer::io() { return impl_->io_; }
const TransportLimits& TransportLayer::limits() const { return impl_->limits_; }
void TransportLayer::shutdown() { impl_->shutdown(); }

}  // namespace sipws::transport
