#pragma once
// Random tokens for branches, tags, Call-IDs, temp-GRUUs and flow tokens (not for secrets: see
// auth/). I/O-free code takes a TokenSource (STYLE.md: inject randomness, see
// common/instruments.hpp): the daemon gives it per_thread_tokens(), a test a SeededTokens.

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

namespace sipws {

/// Where random token characters come from.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  /// Appends `n` characters from [0-9a-zA-Z] to `out`. Thread: as the implementation says.
  virtual void append(std::string& out, std::size_t n) = 0;
  /// `n` characters from [0-9a-zA-Z].
  std::string token(std::size_t n) {
    std::string s;
    s.reserve(n);
    append(s, n);
    return s;
  }
};

/// A std::mt19937_64 with a given seed: the same seed gives the same tokens (tests).
/// Thread: one at a time.
class SeededTokens final : public TokenSource {
 public:
  explicit SeededTokens(std::uint64_t seed) : rng_(seed) {}
  void append(std::string& out, std::size_t n) override;

 private:
  std::mt19937_64 rng_;
};

/// Draws from the calling thread's own std::mt19937_64, seeded from std::random_device on the
/// thread's first draw: usable from every thread at once without a lock. The daemon's source.
/// Thread: any.
TokenSource& per_thread_tokens();

/// `n` characters from per_thread_tokens() (for I/O code and tools; I/O-free code takes a
/// TokenSource).
std::string random_token(std::size_t n);

}  // namespace sipws
