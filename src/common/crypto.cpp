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

}  // namespace sipws::crypto
