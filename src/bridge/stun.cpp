// STUN message parsing and building (RFC 5389 s.6, s.7.3, s.15; RFC 8445 s.16.1).
#include "bridge/stun.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <zlib.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <random>

#include "bridge/errors.hpp"

namespace sipws::bridge::stun {
namespace {

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
std::uint64_t be64(const std::uint8_t* p) { return (std::uint64_t{be32(p)} << 32) | be32(p + 4); }
void put16(std::vector<std::uint8_t>& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v));
}
void put32(std::vector<std::uint8_t>& b, std::uint32_t v) {
  put16(b, static_cast<std::uint16_t>(v >> 16));
  put16(b, static_cast<std::uint16_t>(v));
}
std::size_t padded(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

Unexpected<std::error_code> fail(BridgeErrc e) { return Unexpected(make_error_code(e)); }

/// HMAC-SHA1 of `data` under `key` (an empty key is valid for HMAC).
std::array<std::uint8_t, kMessageIntegritySize> hmac_sha1(std::span<const std::uint8_t> key,
                                                          std::span<const std::uint8_t> data) {
  static const std::uint8_t kEmpty = 0;
  std::array<std::uint8_t, kMessageIntegritySize> out{};
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.empty() ? &kEmpty : key.data(), static_cast<int>(key.size()),
       data.empty() ? &kEmpty : data.data(), data.size(), out.data(), &len);
  return out;
}

}  // namespace

TransactionId random_transaction_id() {
  TransactionId id{};
  if (RAND_bytes(id.data(), static_cast<int>(id.size())) != 1) {
    // OpenSSL's DRBG only fails when it cannot be seeded at all; a transaction id needs to be
    // unique, not secret (RFC 5389 s.6), so fall back to std::random_device rather than abort.
    std::random_device rd;
    for (auto& b : id) b = static_cast<std::uint8_t>(rd());
  }
  return id;
}

std::uint16_t message_type(Class c, std::uint16_t method) {
  const auto cls = static_cast<std::uint16_t>(c);
  return static_cast<std::uint16_t>(((method & 0x0F80) << 2) | ((method & 0x0070) << 1) |
                                    (method & 0x000F) | ((cls & 0x2) << 7) | ((cls & 0x1) << 4));
}

std::uint32_t crc32(std::span<const std::uint8_t> data) {
  // zlib's CRC-32 is the ISO-HDLC one (reflected 0x04C11DB7, pre- and post-inverted).
  return static_cast<std::uint32_t>(::crc32_z(0L, data.data(), data.size()));
}

// ---------------------------------------------------------------------------------------------
// Message

const Attribute* Message::find(std::uint16_t type) const {
  for (const auto& a : attributes_) {
    if (a.type == type) return &a;
  }
  return nullptr;
}

std::span<const std::uint8_t> Message::value(const Attribute& a) const {
  return std::span(bytes_).subspan(a.offset + 4, a.length);
}

std::optional<std::string_view> Message::text(std::uint16_t type) const {
  const Attribute* a = find(type);
  if (a == nullptr) return std::nullopt;
  const auto v = value(*a);
  return std::string_view(reinterpret_cast<const char*>(v.data()), v.size());
}

std::optional<std::uint32_t> Message::priority() const {
  const Attribute* a = find(attr::kPriority);
  if (a == nullptr || a->length != 4) return std::nullopt;
  return be32(value(*a).data());
}

std::optional<std::uint64_t> Message::ice_controlling() const {
  const Attribute* a = find(attr::kIceControlling);
  if (a == nullptr || a->length != 8) return std::nullopt;
  return be64(value(*a).data());
}

std::optional<std::uint64_t> Message::ice_controlled() const {
  const Attribute* a = find(attr::kIceControlled);
  if (a == nullptr || a->length != 8) return std::nullopt;
  return be64(value(*a).data());
}

std::optional<Endpoint> Message::xor_mapped_address() const {
  const Attribute* a = find(attr::kXorMappedAddress);
  if (a == nullptr || a->length < 4) return std::nullopt;
  const auto v = value(*a);
  const std::uint8_t family = v[1];
  Endpoint ep;
  ep.port = static_cast<std::uint16_t>(be16(v.data() + 2) ^ (kMagicCookie >> 16));
  if (family == 0x01 && a->length == 8) {
    ep.address = boost::asio::ip::address_v4(be32(v.data() + 4) ^ kMagicCookie);
    return ep;
  }
  if (family == 0x02 && a->length == 20) {
    boost::asio::ip::address_v6::bytes_type raw{};
    std::uint8_t mask[16];
    mask[0] = static_cast<std::uint8_t>(kMagicCookie >> 24);
    mask[1] = static_cast<std::uint8_t>(kMagicCookie >> 16);
    mask[2] = static_cast<std::uint8_t>(kMagicCookie >> 8);
    mask[3] = static_cast<std::uint8_t>(kMagicCookie);
    std::memcpy(mask + 4, txid_.data(), txid_.size());
    for (std::size_t i = 0; i < 16; ++i) raw[i] = v[4 + i] ^ mask[i];
    ep.address = boost::asio::ip::address_v6(raw);
    return ep;
  }
  return std::nullopt;
}

std::optional<ErrorCode> Message::error_code() const {
  const Attribute* a = find(attr::kErrorCode);
  if (a == nullptr || a->length < 4) return std::nullopt;
  const auto v = value(*a);
  const int cls = v[2] & 0x07;
  const int number = v[3];
  if (cls < 3 || cls > 6 || number > 99) return std::nullopt;
  ErrorCode ec;
  ec.code = cls * 100 + number;
  ec.reason.assign(reinterpret_cast<const char*>(v.data()) + 4, v.size() - 4);
  return ec;
}

std::vector<std::uint16_t> Message::unknown_required(std::span<const std::uint16_t> known) const {
  std::vector<std::uint16_t> out;
  for (const auto& a : attributes_) {
    if (a.type >= 0x8000) continue;
    if (std::find(known.begin(), known.end(), a.type) != known.end()) continue;
    if (std::find(out.begin(), out.end(), a.type) != out.end()) continue;
    out.push_back(a.type);
  }
  return out;
}

Expected<Message, std::error_code> parse(std::span<const std::uint8_t> d) {
  if (d.size() < kHeaderSize) return fail(BridgeErrc::StunTooShort);
  if ((d[0] & 0xC0) != 0 || be32(d.data() + 4) != kMagicCookie) {
    return fail(BridgeErrc::StunNotStun);
  }
  const std::size_t length = be16(d.data() + 2);
  if (length % 4 != 0 || kHeaderSize + length != d.size()) return fail(BridgeErrc::StunBadLength);

  Message m;
  const std::uint16_t type = be16(d.data());
  m.klass_ = static_cast<Class>(((type >> 7) & 0x2) | ((type >> 4) & 0x1));
  m.method_ =
      static_cast<std::uint16_t>(((type >> 2) & 0x0F80) | ((type >> 1) & 0x0070) | (type & 0x000F));
  std::memcpy(m.txid_.data(), d.data() + 8, m.txid_.size());
  m.bytes_.assign(d.begin(), d.end());

  bool seen_integrity = false;
  bool seen_fingerprint = false;
  std::size_t pos = kHeaderSize;
  while (pos < d.size()) {
    if (d.size() - pos < 4) return fail(BridgeErrc::StunBadAttribute);
    const std::uint16_t at = be16(d.data() + pos);
    const std::uint16_t alen = be16(d.data() + pos + 2);
    if (padded(alen) > d.size() - pos - 4) return fail(BridgeErrc::StunBadAttribute);
    if (seen_fingerprint) return fail(BridgeErrc::StunBadAttribute);  // s.15.5: must be last
    if (at == attr::kMessageIntegrity && !seen_integrity && alen != kMessageIntegritySize) {
      return fail(BridgeErrc::StunBadAttribute);
    }
    if (at == attr::kFingerprint) {
      if (alen != 4) return fail(BridgeErrc::StunBadAttribute);
      seen_fingerprint = true;
      m.attributes_.push_back(Attribute{at, alen, pos});
    } else if (!seen_integrity) {  // s.15.4: ignore what follows MESSAGE-INTEGRITY
      m.attributes_.push_back(Attribute{at, alen, pos});
      if (at == attr::kMessageIntegrity) seen_integrity = true;
    }
    pos += 4 + padded(alen);
  }
  return m;
}

bool check_message_integrity(const Message& m, std::span<const std::uint8_t> key) {
  const Attribute* mi = m.find(attr::kMessageIntegrity);
  if (mi == nullptr || mi->length != kMessageIntegritySize) return false;
  const auto bytes = m.bytes();
  std::vector<std::uint8_t> covered(bytes.begin(),
                                    bytes.begin() + static_cast<std::ptrdiff_t>(mi->offset));
  // The length field counts up to the end of MESSAGE-INTEGRITY, as if it were last (s.15.4).
  const std::size_t len = mi->offset + 4 + kMessageIntegritySize - kHeaderSize;
  covered[2] = static_cast<std::uint8_t>(len >> 8);
  covered[3] = static_cast<std::uint8_t>(len);
  const auto mac = hmac_sha1(key, covered);
  return CRYPTO_memcmp(mac.data(), m.value(*mi).data(), mac.size()) == 0;
}

bool check_fingerprint(const Message& m) {
  const Attribute* fp = m.find(attr::kFingerprint);
  if (fp == nullptr || fp->length != 4) return false;
  // Parse guarantees FINGERPRINT is last, so the length field already covers it.
  const std::uint32_t want = crc32(m.bytes().first(fp->offset)) ^ kFingerprintXor;
  return be32(m.value(*fp).data()) == want;
}

std::array<std::uint8_t, 16> long_term_key(std::string_view username, std::string_view realm,
                                           std::string_view password) {
  std::string s;
  s.reserve(username.size() + realm.size() + password.size() + 2);
  s.append(username).append(":").append(realm).append(":").append(password);
  std::array<std::uint8_t, 16> out{};
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), out.data(), &len, EVP_md5(), nullptr);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Builder

Builder::Builder(Class c, std::uint16_t method, const TransactionId& txid) {
  buf_.reserve(128);
  put16(buf_, message_type(c, method));
  put16(buf_, 0);
  put32(buf_, kMagicCookie);
  buf_.insert(buf_.end(), txid.begin(), txid.end());
}

void Builder::set_length(std::size_t body) {
  buf_[2] = static_cast<std::uint8_t>(body >> 8);
  buf_[3] = static_cast<std::uint8_t>(body);
}

void Builder::header(std::uint16_t type, std::size_t len) {
  assert(len <= 0xFFFF);
  put16(buf_, type);
  put16(buf_, static_cast<std::uint16_t>(len));
}

Builder& Builder::add(std::uint16_t type, std::span<const std::uint8_t> value, std::uint8_t pad) {
  assert(!has_integrity_ && !has_fingerprint_);
  header(type, value.size());
  buf_.insert(buf_.end(), value.begin(), value.end());
  buf_.insert(buf_.end(), padded(value.size()) - value.size(), pad);
  set_length(buf_.size() - kHeaderSize);
  return *this;
}

Builder& Builder::add_text(std::uint16_t type, std::string_view text, std::uint8_t pad) {
  return add(type, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), pad);
}

Builder& Builder::add_u32(std::uint16_t type, std::uint32_t v) {
  const std::uint8_t b[4] = {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
                             static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
  return add(type, b);
}

Builder& Builder::add_u64(std::uint16_t type, std::uint64_t v) {
  std::uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
  return add(type, b);
}

Builder& Builder::add_flag(std::uint16_t type) { return add(type, {}); }

Builder& Builder::add_xor_address(std::uint16_t type, const Endpoint& ep) {
  std::vector<std::uint8_t> v;
  v.reserve(20);
  IpAddress addr = ep.address;
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    addr = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, addr.to_v6());
  }
  v.push_back(0);
  v.push_back(addr.is_v4() ? 0x01 : 0x02);
  put16(v, static_cast<std::uint16_t>(ep.port ^ (kMagicCookie >> 16)));
  if (addr.is_v4()) {
    put32(v, addr.to_v4().to_uint() ^ kMagicCookie);
  } else {
    const auto raw = addr.to_v6().to_bytes();
    std::uint8_t mask[16];
    for (int i = 0; i < 4; ++i) mask[i] = static_cast<std::uint8_t>(kMagicCookie >> (24 - 8 * i));
    std::memcpy(mask + 4, buf_.data() + 8, 12);  // the transaction id
    for (std::size_t i = 0; i < 16; ++i) v.push_back(raw[i] ^ mask[i]);
  }
  return add(type, v);
}

Builder& Builder::add_error_code(int code, std::string_view reason) {
  assert(code >= 300 && code <= 699);
  std::vector<std::uint8_t> v{0, 0, static_cast<std::uint8_t>(code / 100),
                              static_cast<std::uint8_t>(code % 100)};
  v.insert(v.end(), reason.begin(), reason.end());
  return add(attr::kErrorCode, v);
}

Builder& Builder::add_unknown_attributes(std::span<const std::uint16_t> types) {
  std::vector<std::uint8_t> v;
  for (auto t : types) put16(v, t);
  return add(attr::kUnknownAttributes, v);
}

Builder& Builder::add_message_integrity(std::span<const std::uint8_t> key) {
  assert(!has_integrity_ && !has_fingerprint_);
  // The length covers the MESSAGE-INTEGRITY attribute itself (s.15.4).
  set_length(buf_.size() + 4 + kMessageIntegritySize - kHeaderSize);
  const auto mac = hmac_sha1(key, buf_);
  header(attr::kMessageIntegrity, mac.size());
  buf_.insert(buf_.end(), mac.begin(), mac.end());
  has_integrity_ = true;
  return *this;
}

Builder& Builder::add_fingerprint() {
  assert(!has_fingerprint_);
  set_length(buf_.size() + 8 - kHeaderSize);
  const std::uint32_t fp = crc32(buf_) ^ kFingerprintXor;
  header(attr::kFingerprint, 4);
  put32(buf_, fp);
  has_fingerprint_ = true;
  return *this;
}

}  // namespace sipws::bridge::stun
