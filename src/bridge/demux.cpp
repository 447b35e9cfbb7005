#include "bridge/demux.hpp"

namespace sipws::bridge {

std::string_view to_string(PacketKind k) {
  switch (k) {
    case PacketKind::Stun:
      return "stun";
    case PacketKind::Dtls:
      return "dtls";
    case PacketKind::Rtp:
      return "rtp";
    case PacketKind::Rtcp:
      return "rtcp";
    case PacketKind::Unknown:
      break;
  }
  return "unknown";
}

PacketKind classify(std::span<const std::uint8_t> packet) {
  if (packet.empty()) return PacketKind::Unknown;
  const std::uint8_t b0 = packet[0];
  if (b0 <= 3) return packet.size() >= 20 ? PacketKind::Stun : PacketKind::Unknown;
  if (b0 >= 20 && b0 <= 63) return packet.size() >= 13 ? PacketKind::Dtls : PacketKind::Unknown;
  if (b0 >= 128 && b0 <= 191) {
    if (packet.size() < 8) return PacketKind::Unknown;
    const std::uint8_t b1 = packet[1];
    if (b1 >= 192 && b1 <= 223) return PacketKind::Rtcp;
    return packet.size() >= 12 ? PacketKind::Rtp : PacketKind::Unknown;
  }
  return PacketKind::Unknown;
}

}  // namespace sipws::bridge
