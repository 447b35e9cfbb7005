#pragma once
// Helpers for the handshake-auth tests: a temp SQLite store, a queue standing in for the io
// thread, and an HTTP Digest client (RFC 7616) computed with our digest functions.

#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "auth/digest.hpp"
#include "common/random.hpp"
#include "sip/headers.hpp"

namespace sipws::auth::test {

class TempDir {
 public:
  TempDir() : path_(std::filesystem::temp_directory_path() / ("sipws-hs-" + random_token(12))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string path() const { return path_.string(); }
  std::string uri() const { return "sqlite:" + (path_ / "sipws.db").string(); }

 private:
  std::filesystem::path path_;
};

/// Stands in for the core io_context: AsyncStore posts results here; the test drains it.
struct TestQueue {
  std::mutex mu;
  std::deque<std::function<void()>> q;
  void push(std::function<void()> fn) {
    std::lock_guard lock(mu);
    q.push_back(std::move(fn));
  }
  /// Runs everything queued so far (and what that queues); returns how many ran.
  int drain() {
    int n = 0;
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard lock(mu);
        if (q.empty()) return n;
        fn = std::move(q.front());
        q.pop_front();
      }
      fn();
      ++n;
    }
  }
};

/// One WWW-Authenticate challenge as a client reads it.
struct Challenge {
  std::string realm, nonce, qop, algorithm;
  bool stale = false;
};

inline std::optional<Challenge> parse_challenge(std::string_view value) {
  auto a = sip::parse_auth(value);
  if (!a || a->scheme != "Digest") return std::nullopt;
  auto get = [&](std::string_view n) {
    const sip::Param* p = a->param(n);
    return p ? std::string(p->value) : std::string();
  };
  return Challenge{get("realm"), get("nonce"), get("qop"), get("algorithm"),
                   get("stale") == "true"};
}

/// Splits one WWW-Authenticate field holding several Digest challenges ("Digest a=1, Digest
/// b=2"); our parameter values never contain ", Digest ".
inline std::vector<std::string> split_challenges(std::string_view field) {
  std::vector<std::string> out;
  for (;;) {
    const auto next = field.find(", Digest ");
    out.emplace_back(field.substr(0, next));
    if (next == std::string_view::npos) return out;
    field.remove_prefix(next + 2);
  }
}

/// The Authorization value a client sends for `GET uri` (qop=auth).
inline std::string authorization(const Challenge& c, const std::string& user,
                                 const std::string& password, const std::string& uri,
                                 const std::string& nc = "00000001",
                                 const std::string& cnonce = "f00dcafe") {
  const DigestAlgorithm alg = *parse_algorithm(c.algorithm);
  const std::string h1 = ha1(alg, user, c.realm, password);
  return "Digest username=\"" + user + "\", realm=\"" + c.realm + "\", nonce=\"" + c.nonce +
         "\", uri=\"" + uri + "\", algorithm=" + c.algorithm + ", qop=auth, nc=" + nc +
         ", cnonce=\"" + cnonce + "\", response=\"" +
         digest_response(alg, h1, "GET", uri, c.nonce, "auth", nc, cnonce) + "\"";
}

}  // namespace sipws::auth::test
