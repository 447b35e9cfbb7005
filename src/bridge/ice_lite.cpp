// ICE-lite responder (RFC 8445 s.7.3; STUN short-term credentials RFC 5389 s.10.1.2).
#include "bridge/ice_lite.hpp"

#include <openssl/rand.h>

#include <array>
#include <random>
#include <string_view>
#include <utility>

#include "bridge/stun.hpp"

namespace sipws::bridge {
namespace {

/// `n` ice-chars (ALPHA / DIGIT / "+" / "/", RFC 8839 s.5.4) from OpenSSL's CSPRNG; 64
/// symbols, so 6 bits of each random byte give an unbiased choice.
std::string random_ice_chars(std::size_t n) {
  static constexpr char kIceChars[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static_assert(sizeof(kIceChars) - 1 == 64);
  std::vector<unsigned char> raw(n);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) {
    std::random_device rd;  // only if OpenSSL's DRBG cannot be seeded at all
    for (auto& b : raw) b = static_cast<unsigned char>(rd());
  }
  std::string s(n, 'A');
  for (std::size_t i = 0; i < n; ++i) s[i] = kIceChars[raw[i] & 0x3F];
  return s;
}

// Comprehension-required attributes we understand in a Binding request (RFC 5389 s.18.2,
// RFC 8445 s.16.1); any other one below 0x8000 earns a 420.
constexpr std::array<std::uint16_t, 10> kKnownRequired = {
    stun::attr::kMappedAddress, stun::attr::kUsername,          stun::attr::kMessageIntegrity,
    stun::attr::kErrorCode,     stun::attr::kUnknownAttributes, stun::attr::kRealm,
    stun::attr::kNonce,         stun::attr::kXorMappedAddress,  stun::attr::kPriority,
    stun::attr::kUseCandidate};

std::vector<std::uint8_t> error_response(const stun::Message& req, int code,
                                         std::string_view reason, const std::string* pwd,
                                         std::span<const std::uint16_t> unknown = {}) {
  stun::Builder b(stun::Class::Error, req.method(), req.transaction_id());
  b.add_error_code(code, reason);
  if (!unknown.empty()) b.add_unknown_attributes(unknown);
  if (pwd != nullptr) b.add_message_integrity(*pwd);
  b.add_fingerprint();
  return std::move(b).take();
}

}  // namespace

IceLiteAgent IceLiteAgent::make() {
  return IceLiteAgent(random_ice_chars(8), random_ice_chars(24));
}

IceLiteAgent::IceLiteAgent(std::string ufrag, std::string pwd)
    : ufrag_(std::move(ufrag)), pwd_(std::move(pwd)) {}

void IceLiteAgent::set_remote(std::string ufrag, std::string pwd) {
  remote_ufrag_ = std::move(ufrag);
  remote_pwd_ = std::move(pwd);
}

std::optional<Endpoint> IceLiteAgent::selected() const {
  return latest_nominated_ ? latest_nominated_ : latest_valid_;
}

IceLiteAgent::Result IceLiteAgent::on_stun(std::span<const std::uint8_t> packet,
                                           const Endpoint& from) {
  Result r;
  auto parsed = stun::parse(packet);
  if (!parsed || parsed->klass() != stun::Class::Request || !stun::check_fingerprint(*parsed)) {
    ++stats_.dropped;
    return r;
  }
  const stun::Message& req = *parsed;
  if (req.method() != stun::kBinding) {
    ++stats_.bad_request;
    r.response = error_response(req, 400, "Bad Request", nullptr);
    return r;
  }

  // Short-term credential check (RFC 5389 s.10.1.2, USERNAME form from RFC 8445 s.7.2.2).
  const auto username = req.username();
  if (!username || !req.has(stun::attr::kMessageIntegrity)) {
    ++stats_.bad_request;
    r.response = error_response(req, 400, "Bad Request", nullptr);
    return r;
  }
  const std::string_view user = *username;
  const bool user_ok = user.size() > ufrag_.size() && user.substr(0, ufrag_.size()) == ufrag_ &&
                       user[ufrag_.size()] == ':' &&
                       (remote_ufrag_.empty() || user.substr(ufrag_.size() + 1) == remote_ufrag_);
  if (!user_ok || !stun::check_message_integrity(req, pwd_)) {
    ++stats_.unauthorized;
    r.response = error_response(req, 401, "Unauthorized", nullptr);
    return r;
  }

  if (const auto unknown = req.unknown_required(kKnownRequired); !unknown.empty()) {
    ++stats_.other_error;
    r.response = error_response(req, 420, "Unknown Attribute", &pwd_, unknown);
    return r;
  }
  if (req.has(stun::attr::kIceControlled)) {
    ++stats_.other_error;
    r.response = error_response(req, 487, "Role Conflict", &pwd_);
    return r;
  }

  stun::Builder b(stun::Class::Success, stun::kBinding, req.transaction_id());
  b.add_xor_address(stun::attr::kXorMappedAddress, from);
  b.add_message_integrity(pwd_);
  b.add_fingerprint();
  r.response = std::move(b).take();
  r.valid = true;
  r.nominated = req.has(stun::attr::kUseCandidate);
  ++stats_.valid;
  latest_valid_ = from;
  if (r.nominated) {
    ++stats_.nominated;
    latest_nominated_ = from;
  }
  return r;
}

}  // namespace sipws::bridge
