#pragma once
// Random tokens for branches, tags, Call-IDs and flow tokens (not for secrets: see auth/).

#include <cstddef>
#include <string>

namespace sipws {

/// `n` characters from [0-9a-zA-Z], from a per-thread PRNG seeded from std::random_device.
std::string random_token(std::size_t n);

}  // namespace sipws
