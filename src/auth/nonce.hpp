#pragma once
// Stateless digest nonces (RFC 7616 s.3.3 "nonce" guidance; RFC 3261 s.22.4): the nonce carries
// its issue time and an HMAC over it, so any node holding the secret can check it without
// keeping state, and an old one is reported stale (the client retries with stale=true, RFC 7616
// s.3.3) instead of failing.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sipws::auth {

/// Result of checking a nonce a client sent back.
enum class NonceStatus {
  Valid,    ///< ours, for this realm, within its lifetime
  Stale,    ///< ours and authentic but expired: challenge again with stale=true
  Invalid,  ///< not ours, forged, for another realm, or malformed
};

/// Issues and checks nonces: base64url(issue time as 4 big-endian bytes, 4 random bytes ||
/// first 16 bytes of HMAC-SHA256(secret, time and random bytes || realm)), 32 characters, no
/// padding. Time is injected (TimerService::unix_time(), seconds). Thread: any after construction
/// (immutable).
class NonceManager {
 public:
  static constexpr std::size_t kSecretSize = 32;
  using Secret = std::array<unsigned char, kSecretSize>;
  /// Nonces issued up to this many seconds "in the future" (clock steps) are still accepted.
  static constexpr std::int64_t kMaxClockSkewS = 5;

  /// A random secret from OpenSSL RAND_bytes. @throws std::runtime_error if the RNG fails
  /// (start-up only). `lifetime_s`: seconds a nonce stays Valid (default 300).
  explicit NonceManager(std::uint32_t lifetime_s = 300);
  /// A fixed secret (tests; a cluster sharing one secret).
  NonceManager(const Secret& secret, std::uint32_t lifetime_s);

  /// A fresh nonce for `realm`, issued at `now_unix` (seconds).
  std::string issue(std::string_view realm, std::int64_t now_unix) const;
  /// Checks a nonce received for `realm` at `now_unix`. Never throws; any input is safe.
  NonceStatus check(std::string_view nonce, std::string_view realm, std::int64_t now_unix) const;

  std::uint32_t lifetime_s() const { return lifetime_s_; }

 private:
  /// nullopt if OpenSSL fails (then nothing checks Valid).
  std::optional<std::array<unsigned char, 16>> mac(const unsigned char* ts,
                                                   std::string_view realm) const;

  Secret secret_{};
  std::uint32_t lifetime_s_;
  mutable std::uint32_t fallback_counter_ = 0;  ///< salt if RAND_bytes ever fails
};

}  // namespace sipws::auth
