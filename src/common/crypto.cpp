#include "common/crypto.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "common/text.hpp"

namespace sipws::crypto {
namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

/// The algorithm, fetched from the default provider once per process (EVP_MD_fetch; the
/// objects are immutable and shared by every thread).
const EVP_MD* fetched(Hash hash) {
  static EVP_MD* const md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return hash == Hash::Md5 ? md5 : sha256;
}

/// This thread's scratch context.
EVP_MD_CTX* scratch() {
  thread_local MdCtx ctx(EVP_MD_CTX_new());
  return ctx.get();
}

bool update_all(EVP_MD_CTX* c, std::initializer_list<std::string_view> parts) {
  for (std::string_view p : parts) {
    if (EVP_DigestUpdate(c, p.data(), p.size()) != 1) return false;
  }
  return true;
}

/// A SHA-256 context that absorbed the 64-byte `block` XOR `pad`.
EVP_MD_CTX* keyed_state(const std::array<unsigned char, 64>& block, unsigned char pad) {
  std::array<unsigned char, 64> padded = block;
  for (auto& b : padded) b ^= pad;
  MdCtx c(EVP_MD_CTX_new());
  const EVP_MD* md = fetched(Hash::Sha256);
  if (!c || md == nullptr || EVP_DigestInit_ex2(c.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(c.get(), padded.data(), padded.size()) != 1) {
    throw std::runtime_error("HMAC-SHA256: SHA-256 unavailable in OpenSSL");
  }
  return c.release();
}

}  // namespace

std::string digest_hex(Hash hash, std::initializer_list<std::string_view> parts) {
  const EVP_MD* md = fetched(hash);
  EVP_MD_CTX* c = scratch();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (md == nullptr || c == nullptr || EVP_DigestInit_ex2(c, md, nullptr) != 1 ||
      !update_all(c, parts) || EVP_DigestFinal_ex(c, out, &len) != 1) {
    throw std::runtime_error(std::string("OpenSSL cannot compute ") +
                             (hash == Hash::Md5 ? "MD5" : "SHA-256"));
  }
  return text::hex_encode(out, len);
}

HmacSha256::HmacSha256(std::string_view key) {
  std::array<unsigned char, 64> block{};
  if (key.size() > block.size()) {  // RFC 2104 s.3: a key longer than the block is hashed
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(key.data(), key.size(), d, &n, fetched(Hash::Sha256), nullptr) != 1) {
      throw std::runtime_error("HMAC-SHA256: SHA-256 unavailable in OpenSSL");
    }
    std::copy(d, d + n, block.begin());
  } else {
    std::copy(key.begin(), key.end(), block.begin());
  }
  inner_ = keyed_state(block, 0x36);
  try {
    outer_ = keyed_state(block, 0x5c);
  } catch (...) {
    EVP_MD_CTX_free(inner_);
    throw;
  }
}

HmacSha256::~HmacSha256() {
  EVP_MD_CTX_free(inner_);
  EVP_MD_CTX_free(outer_);
}

std::optional<HmacSha256::Mac> HmacSha256::mac(
    std::initializer_list<std::string_view> parts) const {
  EVP_MD_CTX* c = scratch();
  unsigned char inner[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  Mac out{};
  if (c == nullptr || EVP_MD_CTX_copy_ex(c, inner_) != 1 || !update_all(c, parts) ||
      EVP_DigestFinal_ex(c, inner, &n) != 1 || EVP_MD_CTX_copy_ex(c, outer_) != 1 ||
      EVP_DigestUpdate(c, inner, n) != 1 || EVP_DigestFinal_ex(c, out.data(), &n) != 1 ||
      n != kSize) {
    return std::nullopt;
  }
  return out;
}

namespace {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

/// This thread's cipher context (reset by each init).
EVP_CIPHER_CTX* cipher_scratch() {
  thread_local CipherCtx ctx(EVP_CIPHER_CTX_new());
  return ctx.get();
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

Siv::Siv(std::string_view key) {
  if (key.size() != kKeySize) throw std::invalid_argument("AES-SIV: the key must be 32 bytes");
  static EVP_CIPHER* const siv = EVP_CIPHER_fetch(nullptr, "AES-128-SIV", nullptr);
  if (siv == nullptr) throw std::runtime_error("OpenSSL has no AES-128-SIV");
  CipherCtx seal(EVP_CIPHER_CTX_new());
  CipherCtx open(EVP_CIPHER_CTX_new());
  if (!seal || !open || EVP_EncryptInit_ex2(seal.get(), siv, bytes(key), nullptr, nullptr) != 1 ||
      EVP_DecryptInit_ex2(open.get(), siv, bytes(key), nullptr, nullptr) != 1) {
    throw std::runtime_error("OpenSSL cannot key AES-128-SIV");
  }
  seal_ = seal.release();
  open_ = open.release();
}

Siv::~Siv() {
  EVP_CIPHER_CTX_free(seal_);
  EVP_CIPHER_CTX_free(open_);
}

std::optional<std::string> Siv::seal(std::string_view aad, std::string_view plaintext) const {
  EVP_CIPHER_CTX* c = cipher_scratch();
  if (c == nullptr || plaintext.size() > 65536) return std::nullopt;
  std::string out(kTagSize + plaintext.size(), '\0');
  auto* ct = reinterpret_cast<unsigned char*>(out.data()) + kTagSize;
  int n = 0;
  int fin = 0;
  // SIV takes the plaintext in one update (RFC 5297 s.2.6: the IV is a MAC of all of it).
  if (EVP_CIPHER_CTX_copy(c, seal_) != 1 ||
      EVP_EncryptUpdate(c, nullptr, &n, bytes(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(c, ct, &n, bytes(plaintext), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(c, ct + n, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, kTagSize, out.data()) != 1) {
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> Siv::open(std::string_view aad, std::string_view sealed) const {
  EVP_CIPHER_CTX* c = cipher_scratch();
  if (c == nullptr || sealed.size() < kTagSize || sealed.size() > 65536 + kTagSize) {
    return std::nullopt;
  }
  std::string tag(sealed.substr(0, kTagSize));
  const std::string_view ct = sealed.substr(kTagSize);
  std::string out(ct.size(), '\0');
  auto* pt = reinterpret_cast<unsigned char*>(out.data());
  int n = 0;
  int fin = 0;
  if (EVP_CIPHER_CTX_copy(c, open_) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, kTagSize, tag.data()) != 1 ||
      EVP_DecryptUpdate(c, nullptr, &n, bytes(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(c, pt, &n, bytes(ct), static_cast<int>(ct.size())) != 1 ||
      EVP_DecryptFinal_ex(c, pt + n, &fin) != 1) {
    return std::nullopt;
  }
  return out;
}

}  // namespace sipws::crypto
