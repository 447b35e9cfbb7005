#pragma once
// STUN messages (RFC 5389): parse, inspect, build; MESSAGE-INTEGRITY (HMAC-SHA1, s.15.4) and
// FINGERPRINT (CRC-32 xor 0x5354554e, s.15.5); the ICE attributes of RFC 8445 s.16.1.
// I/O-free; never throws on input; every function is a pure function of its arguments.
// Thread: any (no shared state besides OpenSSL's, which is thread-safe).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/expected.hpp"
#include "common/net.hpp"

namespace sipws::bridge::stun {

inline constexpr std::uint32_t kMagicCookie = 0x2112A442;     ///< RFC 5389 s.6
inline constexpr std::uint32_t kFingerprintXor = 0x5354554E;  ///< RFC 5389 s.15.5
inline constexpr std::size_t kHeaderSize = 20;
inline constexpr std::size_t kMessageIntegritySize = 20;  ///< HMAC-SHA1 output, bytes

/// Message class (RFC 5389 s.6: the C1 C0 bits of the message type).
enum class Class : std::uint8_t { Request = 0, Indication = 1, Success = 2, Error = 3 };

/// The Binding method (RFC 5389 s.18.1); the only one ICE uses.
inline constexpr std::uint16_t kBinding = 0x001;

/// Attribute types (RFC 5389 s.18.2, RFC 8445 s.16.1). 0x0000-0x7FFF are comprehension-required.
namespace attr {
inline constexpr std::uint16_t kMappedAddress = 0x0001;
inline constexpr std::uint16_t kUsername = 0x0006;
inline constexpr std::uint16_t kMessageIntegrity = 0x0008;
inline constexpr std::uint16_t kErrorCode = 0x0009;
inline constexpr std::uint16_t kUnknownAttributes = 0x000A;
inline constexpr std::uint16_t kRealm = 0x0014;
inline constexpr std::uint16_t kNonce = 0x0015;
inline constexpr std::uint16_t kXorMappedAddress = 0x0020;
inline constexpr std::uint16_t kPriority = 0x0024;
inline constexpr std::uint16_t kUseCandidate = 0x0025;
inline constexpr std::uint16_t kSoftware = 0x8022;
inline constexpr std::uint16_t kAlternateServer = 0x8023;
inline constexpr std::uint16_t kFingerprint = 0x8028;
inline constexpr std::uint16_t kIceControlled = 0x8029;
inline constexpr std::uint16_t kIceControlling = 0x802A;
}  // namespace attr

using TransactionId = std::array<std::uint8_t, 12>;

/// A fresh 96-bit transaction id from a cryptographic RNG (RFC 5389 s.6).
TransactionId random_transaction_id();

/// The 16-bit message type for a class and a method (RFC 5389 s.6, figure 3).
std::uint16_t message_type(Class c, std::uint16_t method);

/// One attribute as found in a parsed message: where it is, not a copy.
struct Attribute {
  std::uint16_t type = 0;
  std::uint16_t length = 0;  ///< value length in bytes, before padding
  std::size_t offset = 0;    ///< offset of the attribute's 4-byte header in Message::bytes()
};

/// ERROR-CODE contents (RFC 5389 s.15.6): code 300..699 and a UTF-8 reason phrase.
struct ErrorCode {
  int code = 0;
  std::string reason;
};

/// A parsed STUN message. Owns a copy of its bytes; attributes refer into them by offset.
class Message {
 public:
  Class klass() const { return klass_; }
  std::uint16_t method() const { return method_; }
  const TransactionId& transaction_id() const { return txid_; }
  /// The whole message as received (header included).
  std::span<const std::uint8_t> bytes() const { return bytes_; }
  /// Attributes in wire order. Attributes after MESSAGE-INTEGRITY other than FINGERPRINT are
  /// not listed: RFC 5389 s.15.4 says to ignore them.
  const std::vector<Attribute>& attributes() const { return attributes_; }

  /// The first attribute of `type`, or nullptr.
  const Attribute* find(std::uint16_t type) const;
  bool has(std::uint16_t type) const { return find(type) != nullptr; }
  /// The value bytes of `a` (unpadded).
  std::span<const std::uint8_t> value(const Attribute& a) const;
  /// A text attribute (USERNAME, SOFTWARE, REALM, NONCE) as raw bytes; nullopt if absent.
  std::optional<std::string_view> text(std::uint16_t type) const;
  std::optional<std::string_view> username() const { return text(attr::kUsername); }
  /// PRIORITY (RFC 8445 s.16.1); nullopt if absent or not 4 bytes.
  std::optional<std::uint32_t> priority() const;
  /// ICE-CONTROLLING / ICE-CONTROLLED tie-breakers (RFC 8445 s.16.1); nullopt if absent or
  /// not 8 bytes.
  std::optional<std::uint64_t> ice_controlling() const;
  std::optional<std::uint64_t> ice_controlled() const;
  /// XOR-MAPPED-ADDRESS decoded (RFC 5389 s.15.2), IPv4 or IPv6; nullopt if absent or malformed.
  std::optional<Endpoint> xor_mapped_address() const;
  /// ERROR-CODE decoded; nullopt if absent or malformed (code outside 300..699).
  std::optional<ErrorCode> error_code() const;
  /// Comprehension-required attribute types (< 0x8000) not in `known`, in order, no repeats
  /// (RFC 5389 s.7.3.1: a request carrying any is answered 420 with UNKNOWN-ATTRIBUTES).
  std::vector<std::uint16_t> unknown_required(std::span<const std::uint16_t> known) const;

 private:
  friend Expected<Message, std::error_code> parse(std::span<const std::uint8_t> datagram);

  Class klass_ = Class::Request;
  std::uint16_t method_ = 0;
  TransactionId txid_{};
  std::vector<std::uint8_t> bytes_;
  std::vector<Attribute> attributes_;
};

/// Parses one datagram as one STUN message (RFC 5389 s.6, s.7.3, s.15): top two bits zero, the
/// magic cookie, a length that is a multiple of 4 and equals the datagram's size minus 20, and
/// well-formed TLV attributes (padding of any value). MESSAGE-INTEGRITY must be 20 bytes and
/// FINGERPRINT 4 bytes and last. Does not check MESSAGE-INTEGRITY or FINGERPRINT values.
/// @returns the message, or BridgeErrc::Stun* naming the defect.
Expected<Message, std::error_code> parse(std::span<const std::uint8_t> datagram);

/// Checks MESSAGE-INTEGRITY (RFC 5389 s.15.4): HMAC-SHA1 keyed with `key` over the message up to
/// the attribute, with the header's length field set as if MESSAGE-INTEGRITY were last.
/// Short-term credentials (ICE): key = the password bytes. @returns false if absent or wrong.
bool check_message_integrity(const Message& m, std::span<const std::uint8_t> key);
inline bool check_message_integrity(const Message& m, std::string_view key) {
  return check_message_integrity(
      m, std::span(reinterpret_cast<const std::uint8_t*>(key.data()), key.size()));
}

/// Checks FINGERPRINT (RFC 5389 s.15.5): CRC-32 of the message up to the attribute, xor
/// 0x5354554e. @returns false if absent or wrong.
bool check_fingerprint(const Message& m);

/// Long-term credential key MD5(username ":" realm ":" password) (RFC 5389 s.15.4); the inputs
/// must already be SASLprep'ed. 16 bytes.
std::array<std::uint8_t, 16> long_term_key(std::string_view username, std::string_view realm,
                                           std::string_view password);

/// CRC-32 (ISO-HDLC, as in FINGERPRINT) of `data`, not xor'ed with kFingerprintXor.
std::uint32_t crc32(std::span<const std::uint8_t> data);

/// Builds a STUN message in one buffer: attributes in call order, each padded to 4 bytes, the
/// header's length kept current. MESSAGE-INTEGRITY then FINGERPRINT must be added last (that
/// order); adding other attributes after them is a bug of the caller (asserted).
class Builder {
 public:
  Builder(Class c, std::uint16_t method, const TransactionId& txid);

  /// Any attribute; `pad` is the padding byte value (RFC 5389 s.15 allows any; 0 by default).
  Builder& add(std::uint16_t type, std::span<const std::uint8_t> value, std::uint8_t pad = 0);
  Builder& add_text(std::uint16_t type, std::string_view text, std::uint8_t pad = 0);
  Builder& add_u32(std::uint16_t type, std::uint32_t v);
  Builder& add_u64(std::uint16_t type, std::uint64_t v);
  /// A zero-length attribute such as USE-CANDIDATE.
  Builder& add_flag(std::uint16_t type);
  /// XOR-MAPPED-ADDRESS (or another XOR address type) for `ep` (RFC 5389 s.15.2). An IPv4-mapped
  /// IPv6 address (::ffff:a.b.c.d, as a dual-stack socket reports IPv4 peers) is written as IPv4.
  Builder& add_xor_address(std::uint16_t type, const Endpoint& ep);
  /// ERROR-CODE (RFC 5389 s.15.6); `code` 300..699.
  Builder& add_error_code(int code, std::string_view reason);
  /// UNKNOWN-ATTRIBUTES (RFC 5389 s.15.9).
  Builder& add_unknown_attributes(std::span<const std::uint16_t> types);
  /// MESSAGE-INTEGRITY over everything so far (RFC 5389 s.15.4).
  Builder& add_message_integrity(std::span<const std::uint8_t> key);
  Builder& add_message_integrity(std::string_view key) {
    return add_message_integrity(
        std::span(reinterpret_cast<const std::uint8_t*>(key.data()), key.size()));
  }
  /// FINGERPRINT over everything so far (RFC 5389 s.15.5); must be the last call.
  Builder& add_fingerprint();

  std::span<const std::uint8_t> bytes() const { return buf_; }
  std::vector<std::uint8_t> take() && { return std::move(buf_); }

 private:
  void set_length(std::size_t body);
  void header(std::uint16_t type, std::size_t len);

  std::vector<std::uint8_t> buf_;
  bool has_integrity_ = false;
  bool has_fingerprint_ = false;
};

}  // namespace sipws::bridge::stun
