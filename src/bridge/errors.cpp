#include "bridge/errors.hpp"

#include <string>

namespace sipws::bridge {
namespace {

class BridgeCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sipws.bridge"; }
  std::string message(int ev) const override {
    switch (static_cast<BridgeErrc>(ev)) {
      case BridgeErrc::StunTooShort:
        return "STUN message truncated";
      case BridgeErrc::StunNotStun:
        return "not a STUN message";
      case BridgeErrc::StunBadLength:
        return "STUN message length invalid";
      case BridgeErrc::StunBadAttribute:
        return "STUN attribute malformed";
      case BridgeErrc::SrtpInitFailed:
        return "libsrtp initialisation failed";
      case BridgeErrc::SrtpBadKey:
        return "SRTP master key/salt has the wrong length";
      case BridgeErrc::SrtpCreateFailed:
        return "SRTP session creation failed";
      case BridgeErrc::SrtpBadPacket:
        return "not a valid RTP/RTCP packet for SRTP";
      case BridgeErrc::SrtpAuthFailed:
        return "SRTP authentication failed";
      case BridgeErrc::SrtpReplay:
        return "SRTP replay check failed";
      case BridgeErrc::SrtpTooManyStreams:
        return "too many SSRCs in one SRTP session";
      case BridgeErrc::SrtpFailed:
        return "SRTP processing failed";
    }
    return "unknown bridge error";
  }
};

}  // namespace

const std::error_category& bridge_category() {
  static const BridgeCategory cat;
  return cat;
}

std::error_code make_error_code(BridgeErrc e) { return {static_cast<int>(e), bridge_category()}; }

}  // namespace sipws::bridge
