#pragma once
// A transparent hash for std::string keys: unordered containers declared with it (and
// std::equal_to<>) find a key from a std::string_view without building a temporary string.
// C++17 so that src/ws/ may use it.

#include <cstddef>
#include <functional>
#include <string_view>

namespace sipws {

/// std::hash of the characters, for std::string and std::string_view alike. Thread: any.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

}  // namespace sipws
