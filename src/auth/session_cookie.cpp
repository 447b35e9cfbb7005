#include "auth/session_cookie.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <system_error>

namespace sipws::auth {
namespace {

constexpr std::size_t kMacSize = 32;  // HMAC-SHA256
constexpr std::size_t kKeyFileSize = 32;

}  // namespace

std::string_view to_string(CookieError e) {
  switch (e) {
    case CookieError::Malformed:
      return "malformed";
    case CookieError::BadMac:
      return "bad signature";
    case CookieError::Expired:
      return "expired";
  }
  return "?";
}

SessionCookies::SessionCookies(std::string_view secret, std::uint32_t lifetime_s)
    : hmac_(std::make_shared<const crypto::HmacSha256>(secret)), lifetime_s_(lifetime_s) {}

std::string SessionCookies::mac(std::string_view payload) const {
  static_assert(crypto::HmacSha256::kSize == kMacSize);
  const auto out = hmac_->mac({payload});
  if (!out) return {};  // internal OpenSSL failure: nothing verifies
  return std::string(reinterpret_cast<const char*>(out->data()), out->size());
}

std::string SessionCookies::issue(std::string_view aor, std::int64_t now_unix) const {
  std::string payload(aor);
  payload += '|';
  payload += std::to_string(now_unix + lifetime_s_);
  std::string m = mac(payload);
  if (m.empty()) m.assign(kMacSize, '\0');
  return base64url_encode(payload + "|" + m);
}

Expected<std::string, CookieError> SessionCookies::verify(std::string_view value,
                                                          std::int64_t now_unix) const {
  using Err = Unexpected<CookieError>;
  std::string raw;
  if (value.size() > 1024 || !base64url_decode(value, raw)) return Err{CookieError::Malformed};
  // aor "|" expiry "|" mac(32 raw bytes, may contain '|')
  if (raw.size() < kMacSize + 4 || raw[raw.size() - kMacSize - 1] != '|') {
    return Err{CookieError::Malformed};
  }
  const std::string_view payload = std::string_view(raw).substr(0, raw.size() - kMacSize - 1);
  const std::string_view got = std::string_view(raw).substr(raw.size() - kMacSize);
  const std::string want = mac(payload);
  if (want.size() != kMacSize || CRYPTO_memcmp(want.data(), got.data(), kMacSize) != 0) {
    return Err{CookieError::BadMac};
  }
  const auto bar = payload.rfind('|');
  if (bar == std::string_view::npos || bar == 0) return Err{CookieError::Malformed};
  const std::string_view exp_text = payload.substr(bar + 1);
  std::int64_t expiry = 0;
  auto [p, ec] = std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), expiry);
  if (ec != std::errc() || p != exp_text.data() + exp_text.size()) {
    return Err{CookieError::Malformed};
  }
  if (expiry <= now_unix) return Err{CookieError::Expired};
  return std::string(payload.substr(0, bar));
}

std::string SessionCookies::set_cookie_header(std::string_view value, bool secure) const {
  std::string h(kSessionCookieName);
  h += '=';
  h += value;
  h += "; HttpOnly";
  if (secure) h += "; Secure";
  h += "; SameSite=Strict; Path=/; Max-Age=" + std::to_string(lifetime_s_);
  return h;
}

std::string SessionCookies::clear_cookie_header(bool secure) {
  std::string h(kSessionCookieName);
  h += "=; HttpOnly";
  if (secure) h += "; Secure";
  h += "; SameSite=Strict; Path=/; Max-Age=0";
  return h;
}

std::vector<std::string> cookie_values(std::string_view header, std::string_view name) {
  std::vector<std::string> out;
  while (!header.empty()) {
    const auto semi = header.find(';');
    const std::string_view pair = text::trim(header.substr(0, semi));
    const auto eq = pair.find('=');
    if (eq != std::string_view::npos && text::trim(pair.substr(0, eq)) == name) {
      std::string_view v = text::trim(pair.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      out.emplace_back(v);
    }
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return out;
}

std::string load_or_create_secret(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    std::ifstream in(path, std::ios::binary);
    std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) throw std::runtime_error("cannot read " + path);
    if (key.size() != kKeyFileSize) {
      throw std::runtime_error(path + " holds " + std::to_string(key.size()) +
                               " bytes, want 32; delete it to generate a new key");
    }
    return key;
  }
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec) throw std::runtime_error("cannot create " + parent.string() + ": " + ec.message());
  }
  std::array<unsigned char, kKeyFileSize> key{};
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    throw std::runtime_error("RAND_bytes failed while creating " + path);
  }
  // O_EXCL: never overwrite a key another process just wrote; 0600 from the start.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error("cannot create " + path + ": " +
                             std::system_category().message(errno));
  }
  const ssize_t n = ::write(fd, key.data(), key.size());
  const bool ok = n == static_cast<ssize_t>(key.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    fs::remove(path, ec);
    throw std::runtime_error("cannot write " + path);
  }
  return std::string(reinterpret_cast<const char*>(key.data()), key.size());
}

}  // namespace sipws::auth
