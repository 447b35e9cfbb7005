#pragma once
// Message digests and HMAC-SHA256 on OpenSSL, set up once instead of per call: in OpenSSL 3,
// HMAC() and a digest by EVP_md5()/EVP_sha256() look the algorithm up in the provider store and
// key the MAC on every call (about 2 us for one HMAC-SHA256), which the digest auth, nonce,
// cookie and Record-Route checks paid per request.

#include <array>
#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

struct evp_md_ctx_st;
struct evp_md_st;
struct evp_cipher_ctx_st;

namespace sipws::crypto {

/// The digest algorithms sipws uses.
enum class Hash { Md5, Sha256 };

/// Digest of the concatenation of `parts` as lower-case hex (32 hex digits for MD5, 64 for
/// SHA-256). The algorithm is fetched once per process and a context reused per thread.
/// @throws std::runtime_error if OpenSSL cannot compute it (no such algorithm in the provider:
/// MD5 under a FIPS-only configuration). Thread: any.
std::string digest_hex(Hash hash, std::initializer_list<std::string_view> parts);

/// HMAC-SHA256 (RFC 2104) under one key. The key's inner and outer SHA-256 states are absorbed
/// once, so a MAC costs two SHA-256 finals over the data (a quarter of HMAC() in OpenSSL 3).
/// Immutable after construction. Thread: any (a scratch context per thread).
class HmacSha256 {
 public:
  static constexpr std::size_t kSize = 32;  ///< bytes of a MAC
  using Mac = std::array<unsigned char, kSize>;

  /// Any key length (a key longer than the 64-byte block is hashed first, RFC 2104 s.3).
  /// @throws std::runtime_error if OpenSSL has no SHA-256.
  explicit HmacSha256(std::string_view key);
  ~HmacSha256();
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

  /// The MAC of the concatenation of `parts`; nullopt if OpenSSL failed (callers then refuse:
  /// a check fails, never passes).
  std::optional<Mac> mac(std::initializer_list<std::string_view> parts) const;

 private:
  evp_md_ctx_st* inner_ = nullptr;
  evp_md_ctx_st* outer_ = nullptr;
};

/// Deterministic authenticated encryption: AES-SIV (RFC 5297) from OpenSSL ("AES-128-SIV").
/// The same plaintext and associated data always seal to the same bytes (the synthetic IV is
/// a MAC of both), so it names a value reversibly without a table: topology hiding's masked
/// Call-IDs and Contact tokens. Sealed = 16-byte tag || ciphertext (as long as the plaintext).
/// The key is scheduled once: each call copies a keyed context (a third of a fresh init).
/// Immutable after construction. Thread: any (a scratch context per thread).
class Siv {
 public:
  static constexpr std::size_t kKeySize = 32;  ///< bytes: two AES-128 keys (MAC and CTR)
  static constexpr std::size_t kTagSize = 16;  ///< bytes added to the plaintext

  /// @throws std::invalid_argument if `key` is not kKeySize bytes; std::runtime_error if
  /// OpenSSL has no AES-128-SIV or cannot key it.
  explicit Siv(std::string_view key);
  ~Siv();
  Siv(const Siv&) = delete;
  Siv& operator=(const Siv&) = delete;

  /// `plaintext` sealed with `aad` as associated data (a purpose label: a value sealed for one
  /// purpose does not open for another); nullopt if OpenSSL failed.
  std::optional<std::string> seal(std::string_view aad, std::string_view plaintext) const;
  /// The plaintext of `sealed`, nullopt if it was not sealed under this key and `aad`
  /// (altered, truncated, foreign).
  std::optional<std::string> open(std::string_view aad, std::string_view sealed) const;

 private:
  evp_cipher_ctx_st* seal_ = nullptr;  ///< keyed for encryption, copied per call
  evp_cipher_ctx_st* open_ = nullptr;  ///< keyed for decryption, copied per call
};

}  // namespace sipws::crypto
