#pragma once
// One anchored call's media: two legs (the caller's side A and the callee's side B), each a
// WebRTC leg (ICE-lite + DTLS-SRTP, rtcp-mux, one UDP port) or a plain leg (RTP/AVP on an even
// port, RTCP on port+1, symmetric RTP), and the relay between them. Everything runs on one
// Asio io_context: no thread per call, no blocking.

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bridge/demux.hpp"
#include "bridge/dtls.hpp"
#include "bridge/dtmf.hpp"
#include "bridge/ice_lite.hpp"
#include "bridge/sdp_rewrite.hpp"
#include "bridge/srtp.hpp"
#include "common/net.hpp"
#include "common/timer.hpp"

namespace sipws::bridge {

/// Which end of the call a leg faces: A = the caller (sent the initial INVITE), B = the callee.
enum class Side : std::uint8_t { A = 0, B = 1 };
inline Side other(Side s) { return s == Side::A ? Side::B : Side::A; }

/// Media bridge settings (config keys media_address, media_ports, media_timeout).
struct BridgeConfig {
  IpAddress address;  ///< bound for media and written into anchored SDP
  /// written into anchored SDP instead of `address` when set (media_advertise: the public
  /// address in front of a NAT that forwards the media ports); unspecified = `address`
  IpAddress advertise;
  /// With a wildcard `address` (media on every interface: `media_address` 0.0.0.0, or a
  /// wildcard UDP listener and no media_address) and no `advertise`: the local address toward
  /// a peer (the routing table's source: TransportLayer::source_address_for), which each
  /// leg's SDP names when the SIP message did not arrive on / leave from a known local
  /// address. Unset or nullopt: 127.0.0.1.
  std::function<std::optional<IpAddress>(const IpAddress& peer)> local_toward;
  std::uint16_t port_min = 30000;  ///< first port of the range (even)
  std::uint16_t port_max = 30999;  ///< last port of the range
  Millis media_timeout{60000};     ///< no packet from either end this long => timeout; 0: off
};

/// Hands out even UDP ports of the configured range, two at a time (RTP and RTCP = RTP + 1).
/// Thread: core io thread.
class PortPool {
 public:
  PortPool(std::uint16_t min, std::uint16_t max);
  /// An even port whose pair is free, or nullopt when the range is exhausted.
  std::optional<std::uint16_t> take();
  /// Returns a port (and its pair) taken before.
  void give(std::uint16_t port);
  std::size_t free_count() const { return free_.size(); }

 private:
  std::vector<std::uint16_t> free_;
};

/// Packet counters of one leg, in the direction seen from sipws.
struct LegStats {
  std::uint64_t rx_packets = 0;  ///< RTP+RTCP packets received from the endpoint
  std::uint64_t tx_packets = 0;  ///< RTP+RTCP packets sent to the endpoint
  std::uint64_t rx_bytes = 0;
  std::uint64_t tx_bytes = 0;
  std::uint64_t dropped = 0;  ///< SRTP auth/replay failures, packets before keys, unknown
  std::uint64_t stun = 0;     ///< STUN requests answered (WebRTC legs)
};

class MediaSession;

/// One side of a session. Thread: core io thread.
class Leg {
 public:
  /// `advertise`: the address written into SDP for this leg (BridgeConfig::advertise, else
  /// `address`).
  Leg(boost::asio::io_context& io, MediaSession& owner, Side side, MediaFlavor flavor,
      const IpAddress& address, std::uint16_t port, const IpAddress& advertise = {});
  ~Leg();
  Leg(const Leg&) = delete;
  Leg& operator=(const Leg&) = delete;

  MediaFlavor flavor() const { return flavor_; }
  std::uint16_t port() const { return port_; }
  const LegStats& stats() const { return stats_; }
  /// The DTLS state of a WebRTC leg (New for plain legs).
  DtlsTransport::State dtls_state() const;

  /// Our SDP parameters for this leg (address, port, ICE credentials, fingerprint, setup...).
  /// `offer`: for an offer we make (a=setup:actpass, RFC 5763 s.5), else for our answer.
  WebRtcSide webrtc_side(bool offer) const;
  PlainSide plain_side() const;
  /// Names `address` in this leg's SDP from now on (a wildcard bridge: the local address its
  /// end reaches, BridgeConfig::local_toward).
  void set_sdp_address(const IpAddress& address) { sdp_address_ = address.to_string(); }

  /// Takes the endpoint's SDP (offer or answer) for this leg: ICE credentials, fingerprint and
  /// setup of a WebRTC endpoint (RFC 5763 s.5), or the address of a plain one: media goes
  /// there until the first packet from the end latches the leg to its real source (symmetric
  /// RTP, RFC 4961). Once latched, only that host or the SDP's may move the latch; a new SDP
  /// address re-arms it; c=0.0.0.0 or port 0 (hold) changes nothing.
  /// `we_offered`: our SDP to it was the offer (our setup was actpass).
  void set_remote(const MediaDescription& md, bool we_offered);

  /// Sends an RTP or RTCP packet relayed from the other leg (plain bytes).
  void send_media(std::vector<std::uint8_t>& packet, bool rtcp);

  /// Stops receiving and closes the DTLS association and sockets.
  void close();

 private:
  friend class MediaSession;
  void start_receive(int which);
  void on_datagram(int which, std::size_t n, const boost::asio::ip::udp::endpoint& from);
  void on_webrtc_packet(std::size_t n, const Endpoint& from);
  void dtls_send(std::span<const std::uint8_t> bytes);
  void arm_dtls_timer();
  void on_dtls_progress();
  void maybe_start_dtls();
  void start_dtls_when_ready();

  MediaSession& owner_;
  Side side_;
  MediaFlavor flavor_;
  std::uint16_t port_;
  IpAddress address_;
  std::string sdp_address_;  ///< what SDP names this leg's address (advertise or address_)
  boost::asio::ip::udp::socket sockets_[2];  ///< RTP (and rtcp-mux), RTCP (plain legs)
  boost::asio::ip::udp::endpoint from_[2];
  std::array<std::uint8_t, 2048> rx_[2];
  std::vector<std::uint8_t> work_;  ///< reused per packet: no allocation on the relay path
  LegStats stats_;
  // WebRTC state
  IceLiteAgent ice_;
  std::string our_setup_ = "actpass";
  std::optional<DtlsRole> role_;
  std::string remote_fp_alg_, remote_fp_;
  std::unique_ptr<DtlsTransport> dtls_;
  bool dtls_started_ = false;
  std::optional<SrtpSession> srtp_in_, srtp_out_;
  boost::asio::steady_timer dtls_timer_;
  std::optional<Endpoint> ice_peer_;
  // plain state: where to send, learned from SDP then latched to the real source
  std::optional<Endpoint> remote_[2];
  bool latched_[2] = {false, false};
  std::optional<Endpoint> sdp_rtp_;  ///< the RTP address of the end's latest SDP
  bool closed_ = false;
};

/// The media of one anchored call: two legs and the relay between them. Create with make().
/// Thread: core io thread.
class MediaSession : public std::enable_shared_from_this<MediaSession> {
 public:
  /// Called once when no packet arrived from either end for media_timeout.
  using TimeoutFn = std::function<void()>;
  /// A key pressed at the end of leg `from` (RFC 4733 events turned into a KeyPress).
  using KeyPressFn = std::function<void(Side from, const KeyPress& key)>;

  /// Binds both legs' sockets on ports from `pool`. Returns nullptr when ports run out or a
  /// bind fails (the caller answers 503).
  static std::shared_ptr<MediaSession> make(boost::asio::io_context& io, const BridgeConfig& cfg,
                                            PortPool& pool,
                                            std::shared_ptr<const DtlsIdentity> identity,
                                            MediaFlavor a, MediaFlavor b, TimeoutFn on_timeout);
  ~MediaSession();

  Leg& leg(Side s) { return *legs_[static_cast<int>(s)]; }
  const Leg& leg(Side s) const { return *legs_[static_cast<int>(s)]; }
  const DtlsIdentity& identity() const { return *identity_; }
  /// From now on, RTP packets from the end of leg `from` with a payload type of `pts`
  /// (telephone-event, RFC 4733) are not relayed to the other end: each key press they carry
  /// is handed to `on_key` once (KeyPressDetector), for a peer that wants SIP INFO instead.
  /// Empty `pts` relays them again. Counter media_dtmf_key_presses.
  void convert_dtmf(Side from, std::vector<int> pts, KeyPressFn on_key);
  /// Stops the relay and frees the ports. Idempotent.
  void close();
  bool closed() const { return closed_; }

 private:
  friend class Leg;
  MediaSession(boost::asio::io_context& io, const BridgeConfig& cfg, PortPool& pool,
               std::shared_ptr<const DtlsIdentity> identity, TimeoutFn on_timeout);
  void relay(Side from, std::vector<std::uint8_t>& packet, bool rtcp);
  void arm_timeout();

  BridgeConfig cfg_;
  PortPool& pool_;
  std::shared_ptr<const DtlsIdentity> identity_;
  std::unique_ptr<Leg> legs_[2];
  std::uint16_t ports_[2] = {0, 0};
  boost::asio::steady_timer timeout_timer_;
  std::chrono::steady_clock::time_point last_rx_;
  TimeoutFn on_timeout_;
  /// Per side: the telephone-event payload types converted (convert_dtmf), empty = relayed.
  struct DtmfConversion {
    std::vector<int> pts;
    KeyPressDetector detector;
    KeyPressFn on_key;
  };
  DtmfConversion dtmf_[2];
  bool closed_ = false;
};

}  // namespace sipws::bridge
