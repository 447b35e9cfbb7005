#include "common/random.hpp"

namespace sipws {

namespace {

constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

void append_from(std::mt19937_64& rng, std::string& out, std::size_t n) {
  std::uniform_int_distribution<int> dist(0, sizeof(kAlphabet) - 2);
  for (std::size_t i = 0; i < n; ++i) out += kAlphabet[dist(rng)];
}

class PerThreadTokens final : public TokenSource {
 public:
  void append(std::string& out, std::size_t n) override {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    append_from(rng, out, n);
  }
};

}  // namespace

void SeededTokens::append(std::string& out, std::size_t n) { append_from(rng_, out, n); }

TokenSource& per_thread_tokens() {
  static PerThreadTokens tokens;
  return tokens;
}

std::string random_token(std::size_t n) { return per_thread_tokens().token(n); }

}  // namespace sipws
