#include "auth/digest.hpp"

#include <openssl/crypto.h>

#include <cstdio>
#include <exception>

#include "common/crypto.hpp"

namespace sipws::auth {
namespace {

std::string join(std::initializer_list<std::string_view> parts) {
  std::string s;
  bool first = true;
  for (auto p : parts) {
    if (!first) s += ':';
    s += p;
    first = false;
  }
  return s;
}

}  // namespace

std::string_view algorithm_name(DigestAlgorithm a) {
  return a == DigestAlgorithm::Sha256 ? "SHA-256" : "MD5";
}

std::optional<DigestAlgorithm> parse_algorithm(std::string_view s) {
  if (s.empty() || iequal(s, "MD5")) return DigestAlgorithm::Md5;
  if (iequal(s, "SHA-256")) return DigestAlgorithm::Sha256;
  return std::nullopt;
}

namespace {
/// OpenSSL failing here means it is out of memory or misconfigured: an internal error, not
/// input. An empty digest never matches a client's response.
std::string hex_or_empty(crypto::Hash hash, std::string_view data) {
  try {
    return crypto::digest_hex(hash, {data});
  } catch (const std::exception&) {
    return {};
  }
}
}  // namespace

std::string md5_hex(std::string_view data) { return hex_or_empty(crypto::Hash::Md5, data); }
std::string sha256_hex(std::string_view data) { return hex_or_empty(crypto::Hash::Sha256, data); }

std::string digest_hex(DigestAlgorithm a, std::string_view data) {
  return a == DigestAlgorithm::Sha256 ? sha256_hex(data) : md5_hex(data);
}

std::string ha1(DigestAlgorithm a, std::string_view user, std::string_view realm,
                std::string_view password) {
  return digest_hex(a, join({user, realm, password}));
}

std::string digest_response(DigestAlgorithm a, std::string_view ha1_hex, std::string_view method,
                            std::string_view uri, std::string_view nonce, std::string_view qop,
                            std::string_view nc, std::string_view cnonce) {
  const std::string ha2 = digest_hex(a, join({method, uri}));
  if (qop.empty()) return digest_hex(a, join({ha1_hex, nonce, ha2}));
  return digest_hex(a, join({ha1_hex, nonce, nc, cnonce, qop, ha2}));
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

store::Subscriber make_subscriber(std::string_view user, std::string_view domain,
                                  std::string_view password) {
  store::Subscriber s;
  s.user = std::string(user);
  s.domain = std::string(domain);
  s.ha1_md5 = ha1(DigestAlgorithm::Md5, user, domain, password);
  s.ha1_sha256 = ha1(DigestAlgorithm::Sha256, user, domain, password);
  return s;
}

Expected<std::pair<std::string, std::string>, std::string> split_aor(std::string_view aor) {
  using Err = Unexpected<std::string>;
  const std::string shown = "'" + std::string(aor) + "'";
  if (aor.empty()) return Err{"empty address: want user@domain"};
  for (char c : aor) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return Err{shown + " contains whitespace or control characters: want user@domain"};
    }
  }
  if (aor.rfind("sip:", 0) == 0 || aor.rfind("sips:", 0) == 0) {
    return Err{shown + ": give user@domain without the sip: scheme"};
  }
  const auto at = aor.find('@');
  if (at == std::string_view::npos) return Err{shown + " has no '@': want user@domain"};
  if (aor.find('@', at + 1) != std::string_view::npos) {
    return Err{shown + " has more than one '@': want user@domain"};
  }
  if (at == 0) return Err{shown + " has an empty user part: want user@domain"};
  if (at + 1 == aor.size()) return Err{shown + " has an empty domain: want user@domain"};
  return std::make_pair(std::string(aor.substr(0, at)), to_lower(aor.substr(at + 1)));
}

std::string_view auth_param(const sip::AuthParams& a, std::string_view name) {
  const sip::Param* p = a.param(name);
  return p ? p->value : std::string_view();
}

std::optional<std::string> answer_challenge(std::string_view challenge, const DigestSecret& secret,
                                            std::string_view method, std::string_view uri,
                                            std::uint32_t nc, std::string_view cnonce) {
  const auto chal = sip::parse_auth(challenge);
  if (!chal || !iequal(chal->scheme, "Digest")) return std::nullopt;
  const std::string_view realm = auth_param(*chal, "realm");
  const std::string_view nonce = auth_param(*chal, "nonce");
  if (nonce.empty()) return std::nullopt;
  const auto alg = parse_algorithm(auth_param(*chal, "algorithm"));
  if (!alg) return std::nullopt;
  std::string qop;
  if (const std::string_view offered = auth_param(*chal, "qop"); !offered.empty()) {
    for (auto t : sip::split_list(offered)) {
      if (iequal(t, "auth")) qop = "auth";
    }
    if (qop.empty()) return std::nullopt;  // auth-int only
  }
  std::string h1;
  if (!secret.password.empty()) {
    h1 = ha1(*alg, secret.user, realm, secret.password);
  } else if (*alg == DigestAlgorithm::Md5 && !secret.ha1_md5.empty()) {
    h1 = to_lower(secret.ha1_md5);
  } else {
    return std::nullopt;
  }
  char ncs[9];
  std::snprintf(ncs, sizeof ncs, "%08x", nc);
  const std::string response = digest_response(*alg, h1, method, uri, nonce, qop,
                                               qop.empty() ? "" : ncs, qop.empty() ? "" : cnonce);
  std::string v = "Digest username=\"";
  v.append(secret.user).append("\", realm=\"").append(realm);
  v.append("\", nonce=\"").append(nonce).append("\", uri=\"").append(uri);
  v.append("\", response=\"").append(response).append("\", algorithm=");
  v.append(algorithm_name(*alg));
  if (!qop.empty()) {
    v.append(", qop=auth, nc=").append(ncs).append(", cnonce=\"").append(cnonce).append("\"");
  }
  if (const std::string_view opaque = auth_param(*chal, "opaque"); !opaque.empty()) {
    v.append(", opaque=\"").append(opaque).append("\"");
  }
  return v;
}

}  // namespace sipws::auth
