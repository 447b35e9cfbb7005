#pragma once
// Stateless digest nonces (RFC 7616 s.3.3 "nonce" guidance; RFC 3261 s.22.4): the nonce carries
// its issue time and an HMAC over it, so any node holding the secret can check it without
// keeping state, and an old one is reported stale (the client retries with stale=true, RFC 7616
// s.3.3) instead of failing.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/crypto.hpp"

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
  /// HMAC-SHA256 keyed with secret_ once (shared by copies: it is immutable).
  std::shared_ptr<const crypto::HmacSha256> hmac_;
  std::uint32_t lifetime_s_;
  mutable std::uint32_t fallback_counter_ = 0;  ///< salt if RAND_bytes ever fails
};

/// Highest nonce-count seen per nonce (RFC 7616 s.3.4: with qop, each use of a nonce carries a
/// larger nc; a repeated or smaller one is a replay). Entries are forgotten once their nonce can
/// no longer be Valid. Thread: the caller's (not thread-safe).
class NonceCounts {
 public:
  /// `nonce_lifetime_s`: NonceManager::lifetime_s() of the nonces tracked.
  explicit NonceCounts(std::uint32_t nonce_lifetime_s) : lifetime_s_(nonce_lifetime_s) {}
  /// Records `nc` for `nonce` at `now_unix`; false if it is not greater than the last one.
  bool accept(const std::string& nonce, std::uint32_t nc, std::int64_t now_unix);
  std::size_t size() const { return uses_.size(); }

 private:
  struct Use {
    std::uint32_t nc = 0;
    std::int64_t forget_at = 0;  ///< Unix seconds
  };
  std::uint32_t lifetime_s_;
  std::unordered_map<std::string, Use> uses_;
  std::size_t prune_at_ = 1024;
};

/// nc-value = 8LHEX (RFC 7616 s.3.4); nullopt for anything else.
std::optional<std::uint32_t> parse_nonce_count(std::string_view s);

}  // namespace sipws::auth
