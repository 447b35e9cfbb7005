#include "bridge/media_session.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>

#include "common/counters.hpp"
#include "common/log.hpp"
#include "common/net.hpp"

namespace sipws::bridge {

namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

udp::endpoint to_udp(const Endpoint& e) { return udp::endpoint(e.address, e.port); }

std::optional<Endpoint> parse_endpoint(const std::string& addr, std::uint16_t port) {
  auto a = parse_ip(addr);
  if (!a || port == 0) return std::nullopt;
  return Endpoint{*a, port};
}

}  // namespace

// ------------------------------------------------------------------------------- PortPool

PortPool::PortPool(std::uint16_t min, std::uint16_t max) {
  std::uint16_t first = static_cast<std::uint16_t>(min + (min % 2));
  for (std::uint32_t p = first; p + 1 <= max; p += 2) {
    free_.push_back(static_cast<std::uint16_t>(p));
  }
  // Hand out low ports first (take() pops from the back).
  std::reverse(free_.begin(), free_.end());
}

std::optional<std::uint16_t> PortPool::take() {
  if (free_.empty()) return std::nullopt;
  std::uint16_t p = free_.back();
  free_.pop_back();
  return p;
}

void PortPool::give(std::uint16_t port) {
  // Freed ports go to the front: the next call gets other ports first, so late packets of an
  // ended call do not reach a new one.
  free_.insert(free_.begin(), port);
}

// ------------------------------------------------------------------------------------ Leg

Leg::Leg(asio::io_context& io, MediaSession& owner, Side side, MediaFlavor flavor,
         const IpAddress& address, std::uint16_t port, const IpAddress& advertise)
    : owner_(owner),
      side_(side),
      flavor_(flavor),
      port_(port),
      address_(address),
      sdp_address_(advertise.is_unspecified() ? address.to_string() : advertise.to_string()),
      sockets_{udp::socket(io), udp::socket(io)},
      ice_(IceLiteAgent::make()),
      dtls_timer_(io) {
  const int n = flavor == MediaFlavor::WebRtc ? 1 : 2;
  for (int i = 0; i < n; ++i) {
    udp::endpoint ep(address, static_cast<std::uint16_t>(port + i));
    sockets_[i].open(ep.protocol());
    sockets_[i].bind(ep);  // throws on failure; MediaSession::make turns that into nullptr
  }
  work_.reserve(2048);
}

Leg::~Leg() = default;

DtlsTransport::State Leg::dtls_state() const {
  return dtls_ ? dtls_->state() : DtlsTransport::State::New;
}

WebRtcSide Leg::webrtc_side(bool offer) const {
  WebRtcSide w;
  w.address = sdp_address_;
  w.port = port_;
  w.ice_ufrag = ice_.ufrag();
  w.ice_pwd = ice_.pwd();
  w.fingerprint = owner_.identity().fingerprint_sha256();
  w.setup = offer ? "actpass" : our_setup_;
  w.ssrc = 0;
  w.cname = "sipws";
  return w;
}

PlainSide Leg::plain_side() const {
  PlainSide p;
  p.address = sdp_address_;
  p.port = port_;
  return p;
}

void Leg::set_remote(const MediaDescription& md, bool we_offered) {
  if (flavor_ == MediaFlavor::Plain) {
    auto rtp = parse_endpoint(md.address, md.port);
    const std::uint16_t rtcp_port =
        md.rtcp_mux ? md.port : md.rtcp_port.value_or(static_cast<std::uint16_t>(md.port + 1));
    auto rtcp = parse_endpoint(md.address, rtcp_port);
    if (!rtp || rtp->address.is_unspecified()) return;  // hold (c=0.0.0.0) or port 0: keep all
    if (sdp_rtp_ != rtp) {
      // A new media address (first SDP, or the end moved its media, e.g. a transfer): send
      // there, and latch again from it.
      sdp_rtp_ = rtp;
      remote_[0] = rtp;
      remote_[1] = rtcp;
      latched_[0] = latched_[1] = false;
    }
    return;
  }
  ice_.set_remote(md.ice_ufrag, md.ice_pwd);
  // A fresh fingerprint means a new DTLS association (RFC 5763 s.5); the same one keeps it.
  const bool new_fp = md.fingerprint != remote_fp_;
  remote_fp_alg_ = md.fingerprint_alg.empty() ? "sha-256" : md.fingerprint_alg;
  remote_fp_ = md.fingerprint;
  DtlsRole role;
  if (we_offered) {
    // We said actpass: the answerer picked (RFC 5763 s.5: active => it is the client).
    role = md.setup == "passive" ? DtlsRole::Client : DtlsRole::Server;
  } else {
    // The endpoint offered; our answer's setup was chosen from its offer.
    role = md.setup == "passive" ? DtlsRole::Client : DtlsRole::Server;
    our_setup_ = role == DtlsRole::Client ? "active" : "passive";
  }
  if (dtls_ && !new_fp && role_ == role) return;
  role_ = role;
  srtp_in_.reset();
  srtp_out_.reset();
  dtls_.reset();
  dtls_started_ = false;
  maybe_start_dtls();
}

void Leg::maybe_start_dtls() {
  if (dtls_ || !role_ || remote_fp_.empty() || closed_) return;
  dtls_ = std::make_unique<DtlsTransport>(
      owner_.identity_, *role_, remote_fp_alg_, remote_fp_,
      [this](std::span<const std::uint8_t> bytes) { dtls_send(bytes); });
  start_dtls_when_ready();
}

void Leg::start_dtls_when_ready() {
  // A client sends its ClientHello once ICE has told us where the browser is.
  if (!dtls_ || dtls_started_ || (*role_ == DtlsRole::Client && !ice_peer_)) return;
  dtls_started_ = true;
  dtls_->start();
  arm_dtls_timer();
}

void Leg::dtls_send(std::span<const std::uint8_t> bytes) {
  if (!ice_peer_ || closed_) return;
  boost::system::error_code ec;
  sockets_[0].send_to(asio::buffer(bytes.data(), bytes.size()), to_udp(*ice_peer_), 0, ec);
}

void Leg::arm_dtls_timer() {
  if (!dtls_ || closed_) return;
  auto t = dtls_->next_timeout();
  if (!t) return;
  dtls_timer_.expires_after(*t);
  dtls_timer_.async_wait([this, self = owner_.weak_from_this()](boost::system::error_code ec) {
    if (ec || self.expired() || closed_ || !dtls_) return;
    dtls_->on_timeout();
    on_dtls_progress();
  });
}

void Leg::on_dtls_progress() {
  if (!dtls_) return;
  if (dtls_->state() == DtlsTransport::State::Connected && !srtp_in_) {
    const SrtpKeys* keys = dtls_->keys();
    auto in =
        SrtpSession::make(keys->profile, keys->remote_master, SrtpSession::Direction::Inbound);
    auto out =
        SrtpSession::make(keys->profile, keys->local_master, SrtpSession::Direction::Outbound);
    if (in && out) {
      srtp_in_.emplace(std::move(*in));
      srtp_out_.emplace(std::move(*out));
      log::bridge().debug("media: DTLS-SRTP up on port {} ({})", port_,
                          keys->profile == SrtpProfile::AeadAes128Gcm ? "AEAD_AES_128_GCM"
                                                                      : "AES_CM_128_HMAC_SHA1_80");
    } else {
      log::bridge().warn("media: SRTP session setup failed on port {}", port_);
    }
  } else if (dtls_->state() == DtlsTransport::State::Failed) {
    log::bridge().warn("media: DTLS failed on port {}: {}", port_, dtls_->error());
    SIPWS_COUNTER("media_dtls_failures").inc();
    return;
  }
  arm_dtls_timer();
}

void Leg::start_receive(int which) {
  if (closed_) return;
  sockets_[which].async_receive_from(
      asio::buffer(rx_[which]), from_[which],
      [this, which, self = owner_.weak_from_this()](boost::system::error_code ec, std::size_t n) {
        auto s = self.lock();
        if (!s || closed_) return;
        if (ec == asio::error::operation_aborted) return;
        if (!ec) on_datagram(which, n, from_[which]);
        start_receive(which);
      });
}

void Leg::on_datagram(int which, std::size_t n, const udp::endpoint& from) {
  const Endpoint src = to_endpoint(from);
  if (flavor_ == MediaFlavor::WebRtc) {
    on_webrtc_packet(n, src);
    return;
  }
  // Plain leg: symmetric RTP (RFC 4961): send back to where the phone really sends from.
  if (!latched_[which]) {
    remote_[which] = src;
    latched_[which] = true;
  } else if (remote_[which] != src) {
    // Once latched, only the latched address (a NAT rebinding changes the port) or the SDP's
    // address may take the latch over: packets from anywhere else are dropped, so a third party
    // cannot divert the phone's media by sending to our port.
    const bool same_host =
        src.address == remote_[which]->address || (sdp_rtp_ && src.address == sdp_rtp_->address);
    if (!same_host) {
      ++stats_.dropped;
      return;
    }
    remote_[which] = src;
  }
  ++stats_.rx_packets;
  stats_.rx_bytes += n;
  owner_.last_rx_ = std::chrono::steady_clock::now();
  work_.assign(rx_[which].begin(), rx_[which].begin() + static_cast<std::ptrdiff_t>(n));
  owner_.relay(side_, work_, which == 1);
}

void Leg::on_webrtc_packet(std::size_t n, const Endpoint& from) {
  std::span<const std::uint8_t> pkt(rx_[0].data(), n);
  const PacketKind kind = classify(pkt);
  switch (kind) {
    case PacketKind::Stun: {
      auto r = ice_.on_stun(pkt, from);
      if (!r.response.empty()) {
        boost::system::error_code ec;
        sockets_[0].send_to(asio::buffer(r.response), to_udp(from), 0, ec);
      }
      if (r.valid) {
        ++stats_.stun;
        auto sel = ice_.selected();
        const bool first = !ice_peer_;
        if (sel) ice_peer_ = sel;
        if (first && ice_peer_) start_dtls_when_ready();
      }
      return;
    }
    case PacketKind::Dtls:
      if (!dtls_) return;
      // DTLS only from the address ICE validated (RFC 8445 s.7.3: consent first).
      if (!ice_peer_) return;
      dtls_->on_packet(pkt);
      on_dtls_progress();
      return;
    case PacketKind::Rtp:
    case PacketKind::Rtcp: {
      const bool rtcp = kind == PacketKind::Rtcp;
      if (!srtp_in_ || !ice_peer_ || from != *ice_peer_) {
        ++stats_.dropped;
        return;
      }
      work_.assign(pkt.begin(), pkt.end());
      auto ec = rtcp ? srtp_in_->unprotect_rtcp(work_) : srtp_in_->unprotect_rtp(work_);
      if (ec) {
        ++stats_.dropped;
        return;
      }
      ++stats_.rx_packets;
      stats_.rx_bytes += n;
      owner_.last_rx_ = std::chrono::steady_clock::now();
      owner_.relay(side_, work_, rtcp);
      return;
    }
    default:
      ++stats_.dropped;
      return;
  }
}

void Leg::send_media(std::vector<std::uint8_t>& packet, bool rtcp) {
  if (closed_) return;
  boost::system::error_code ec;
  if (flavor_ == MediaFlavor::WebRtc) {
    if (!srtp_out_ || !ice_peer_) return;
    auto err = rtcp ? srtp_out_->protect_rtcp(packet) : srtp_out_->protect_rtp(packet);
    if (err) {
      ++stats_.dropped;
      return;
    }
    sockets_[0].send_to(asio::buffer(packet), to_udp(*ice_peer_), 0, ec);
  } else {
    const int which = rtcp ? 1 : 0;
    if (!remote_[which]) return;
    sockets_[which].send_to(asio::buffer(packet), to_udp(*remote_[which]), 0, ec);
  }
  if (!ec) {
    ++stats_.tx_packets;
    stats_.tx_bytes += packet.size();
  }
}

void Leg::close() {
  if (closed_) return;
  if (dtls_ && dtls_->state() == DtlsTransport::State::Connected) dtls_->close();
  closed_ = true;
  boost::system::error_code ec;
  dtls_timer_.cancel();
  for (auto& s : sockets_) {
    if (s.is_open()) s.close(ec);
  }
}

// --------------------------------------------------------------------------- MediaSession

MediaSession::MediaSession(asio::io_context& io, const BridgeConfig& cfg, PortPool& pool,
                           std::shared_ptr<const DtlsIdentity> identity, TimeoutFn on_timeout)
    : cfg_(cfg),
      pool_(pool),
      identity_(std::move(identity)),
      timeout_timer_(io),
      last_rx_(std::chrono::steady_clock::now()),
      on_timeout_(std::move(on_timeout)) {}

std::shared_ptr<MediaSession> MediaSession::make(asio::io_context& io, const BridgeConfig& cfg,
                                                 PortPool& pool,
                                                 std::shared_ptr<const DtlsIdentity> identity,
                                                 MediaFlavor a, MediaFlavor b,
                                                 TimeoutFn on_timeout) {
  std::shared_ptr<MediaSession> s(
      new MediaSession(io, cfg, pool, std::move(identity), std::move(on_timeout)));
  const MediaFlavor flavors[2] = {a, b};
  for (int i = 0; i < 2; ++i) {
    // A port whose pair is taken by another program is skipped: try a few.
    for (int attempt = 0; attempt < 8 && !s->legs_[i]; ++attempt) {
      auto port = pool.take();
      if (!port) break;
      try {
        s->legs_[i] = std::make_unique<Leg>(io, *s, static_cast<Side>(i), flavors[i], cfg.address,
                                            *port, cfg.advertise);
        s->ports_[i] = *port;
      } catch (const boost::system::system_error& e) {
        log::bridge().debug("media: port {} unusable: {}", *port, e.what());
        pool.give(*port);
      }
    }
    if (!s->legs_[i]) {
      SIPWS_COUNTER("media_port_exhausted").inc();
      s->close();
      return nullptr;
    }
  }
  for (auto& leg : s->legs_) {
    leg->start_receive(0);
    if (leg->flavor() != MediaFlavor::WebRtc) leg->start_receive(1);
  }
  s->arm_timeout();
  return s;
}

MediaSession::~MediaSession() { close(); }

void MediaSession::relay(Side from, std::vector<std::uint8_t>& packet, bool rtcp) {
  auto& conv = dtmf_[static_cast<int>(from)];
  if (!rtcp && !conv.pts.empty()) {
    if (auto ev = parse_telephone_event(packet, conv.pts)) {
      if (auto key = conv.detector.on_event(*ev); key && conv.on_key) {
        SIPWS_COUNTER("media_dtmf_key_presses").inc();
        conv.on_key(from, *key);
      }
      return;
    }
  }
  legs_[static_cast<int>(other(from))]->send_media(packet, rtcp);
}

void MediaSession::convert_dtmf(Side from, std::vector<int> pts, KeyPressFn on_key) {
  auto& conv = dtmf_[static_cast<int>(from)];
  conv.pts = std::move(pts);
  conv.on_key = std::move(on_key);
}

void MediaSession::arm_timeout() {
  if (cfg_.media_timeout.count() <= 0 || closed_) return;
  auto deadline = last_rx_ + cfg_.media_timeout;
  timeout_timer_.expires_at(deadline);
  timeout_timer_.async_wait([w = weak_from_this()](boost::system::error_code ec) {
    auto s = w.lock();
    if (ec || !s || s->closed_) return;
    if (std::chrono::steady_clock::now() - s->last_rx_ >= s->cfg_.media_timeout) {
      SIPWS_COUNTER("media_timeouts").inc();
      if (s->on_timeout_) s->on_timeout_();
      return;
    }
    s->arm_timeout();
  });
}

void MediaSession::close() {
  if (closed_) return;
  closed_ = true;
  timeout_timer_.cancel();
  for (int i = 0; i < 2; ++i) {
    if (legs_[i]) legs_[i]->close();
    if (ports_[i] != 0) pool_.give(ports_[i]);
    ports_[i] = 0;
  }
}

}  // namespace sipws::bridge
