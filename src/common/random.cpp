#include "common/random.hpp"

#include <random>

namespace sipws {

std::string random_token(std::size_t n) {
  static constexpr char kAlphabet[] =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<int> dist(0, sizeof(kAlphabet) - 2);
  std::string s(n, '0');
  for (auto& c : s) c = kAlphabet[dist(rng)];
  return s;
}

}  // namespace sipws
