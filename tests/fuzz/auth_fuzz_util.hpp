#pragma once
// Shared by the auth_* fuzz targets: the invariant check, and a real SQLite store (in a fresh
// temporary folder, removed at exit) behind an AsyncStore whose answers wait on a queue that
// settle() runs, as the core io thread would.

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>

#include "auth/digest.hpp"
#include "store/store.hpp"

namespace sipws::fuzz {

/// An invariant of our own code broke: name it and let the fuzzer report the input.
inline void check_at(bool ok, const char* what, const char* file, int line) {
  if (ok) return;
  std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
  std::abort();
}
#define check(cond) ::sipws::fuzz::check_at((cond), #cond, __FILE__, __LINE__)

/// Subscribers of realm example.com, with these passwords.
struct User {
  const char* name;
  const char* password;
};
inline constexpr User kUsers[] = {
    {"alice", "secret"},
    {"bob", "b0b"},
    // A name in Latin-1, not UTF-8 ("jos\xe9"): `sipws user add` takes any bytes but
    // whitespace and controls, so a store may hold one.
    {"jos\xe9", "pw"},
};
inline constexpr const char* kRealm = "example.com";

class StoreFixture {
 public:
  StoreFixture()
      : dir_(make_dir()),
        store_(store::Store::open("sqlite:" + dir_ + "/sipws.db"),
               [this](std::function<void()> fn) {
                 std::lock_guard lock(mu_);
                 queue_.push_back(std::move(fn));
               }) {
    for (const User& u : kUsers) {
      store_.sync().put_subscriber(auth::make_subscriber(u.name, kRealm, u.password));
    }
  }
  ~StoreFixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  store::AsyncStore& store() { return store_; }

  /// Lets the store answer everything asked so far and runs the answers.
  void settle() {
    store_.flush();
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard lock(mu_);
        if (queue_.empty()) return;
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

 private:
  static std::string make_dir() {
    std::string t = (std::filesystem::temp_directory_path() / "sipws-fuzz-XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr) std::abort();
    return t;
  }

  std::string dir_;
  std::mutex mu_;
  std::deque<std::function<void()>> queue_;
  store::AsyncStore store_;
};

}  // namespace sipws::fuzz
