#include "auth/nonce.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <iterator>
#include <stdexcept>

#include "common/text.hpp"

namespace sipws::auth {
namespace {

constexpr std::size_t kTsSize = 8;
constexpr std::size_t kMacSize = 16;
constexpr std::size_t kRawSize = kTsSize + kMacSize;  // 24 bytes => 32 base64url characters

/// Decodes exactly kRawSize bytes from 32 characters; false on any other input.
bool decode_raw(std::string_view s, unsigned char* out) {
  std::string bytes;
  if (s.size() != kRawSize / 3 * 4 || !text::base64url_decode(s, bytes)) return false;
  std::copy(bytes.begin(), bytes.end(), out);  // 32 characters, all 6 bits used: 24 bytes
  return true;
}

}  // namespace

NonceManager::NonceManager(std::uint32_t lifetime_s) : lifetime_s_(lifetime_s) {
  if (RAND_bytes(secret_.data(), static_cast<int>(secret_.size())) != 1) {
    throw std::runtime_error("auth: RAND_bytes failed while creating the nonce secret");
  }
  hmac_ = std::make_shared<const crypto::HmacSha256>(
      std::string_view(reinterpret_cast<const char*>(secret_.data()), secret_.size()));
}

NonceManager::NonceManager(const Secret& secret, std::uint32_t lifetime_s)
    : secret_(secret),
      hmac_(std::make_shared<const crypto::HmacSha256>(
          std::string_view(reinterpret_cast<const char*>(secret_.data()), secret_.size()))),
      lifetime_s_(lifetime_s) {}

std::optional<std::array<unsigned char, kMacSize>> NonceManager::mac(const unsigned char* ts,
                                                                     std::string_view realm) const {
  const auto full =
      hmac_->mac({std::string_view(reinterpret_cast<const char*>(ts), kTsSize), realm});
  if (!full) return std::nullopt;  // internal OpenSSL failure: callers fail closed
  std::array<unsigned char, kMacSize> out{};
  std::copy_n(full->begin(), kMacSize, out.begin());
  return out;
}

std::string NonceManager::issue(std::string_view realm, std::int64_t now_unix) const {
  unsigned char raw[kRawSize];
  // 4 bytes of Unix time (seconds, good until 2106) and 4 random bytes, so that two challenges
  // in the same second get different nonces (nonce-count tracking is per nonce).
  const auto t = static_cast<std::uint32_t>(now_unix);
  for (std::size_t i = 0; i < 4; ++i) raw[i] = static_cast<unsigned char>(t >> (8 * (3 - i)));
  if (RAND_bytes(raw + 4, 4) != 1) {
    const auto salt = static_cast<std::uint32_t>(++fallback_counter_);
    for (std::size_t i = 0; i < 4; ++i) raw[4 + i] = static_cast<unsigned char>(salt >> (8 * i));
  }
  const auto m = mac(raw, realm);
  // An HMAC failure (OpenSSL internal) yields a nonce that never checks Valid.
  for (std::size_t i = 0; i < kMacSize; ++i) raw[kTsSize + i] = m ? (*m)[i] : 0;
  return text::base64url_encode(std::string_view(reinterpret_cast<const char*>(raw), kRawSize));
}

NonceStatus NonceManager::check(std::string_view nonce, std::string_view realm,
                                std::int64_t now_unix) const {
  unsigned char raw[kRawSize];
  if (!decode_raw(nonce, raw)) return NonceStatus::Invalid;
  const auto m = mac(raw, realm);
  if (!m || CRYPTO_memcmp(m->data(), raw + kTsSize, kMacSize) != 0) return NonceStatus::Invalid;
  std::uint64_t t = 0;
  for (std::size_t i = 0; i < 4; ++i) t = (t << 8) | raw[i];
  const auto issued = static_cast<std::int64_t>(t);
  if (issued > now_unix + kMaxClockSkewS) return NonceStatus::Invalid;
  if (now_unix - issued > static_cast<std::int64_t>(lifetime_s_)) return NonceStatus::Stale;
  return NonceStatus::Valid;
}

bool NonceCounts::accept(const std::string& nonce, std::uint32_t nc, std::int64_t now_unix) {
  if (uses_.size() >= prune_at_) {
    for (auto it = uses_.begin(); it != uses_.end();) {
      it = it->second.forget_at < now_unix ? uses_.erase(it) : std::next(it);
    }
    prune_at_ = std::max<std::size_t>(1024, uses_.size() * 2);
  }
  auto [it, inserted] = uses_.try_emplace(nonce);
  if (!inserted && nc <= it->second.nc) return false;
  it->second.nc = nc;
  it->second.forget_at = now_unix + lifetime_s_ + NonceManager::kMaxClockSkewS;
  return true;
}

std::optional<std::uint32_t> parse_nonce_count(std::string_view s) {
  if (s.size() != 8) return std::nullopt;
  std::uint32_t v = 0;
  for (char c : s) {
    const int d = text::hex_value(c);
    if (d < 0) return std::nullopt;
    v = (v << 4) | static_cast<std::uint32_t>(d);
  }
  return v;
}

}  // namespace sipws::auth
