#pragma once
// A minimal std::expected stand-in (C++20 has none; g++ 12 ships it only for C++23).

#include <cassert>
#include <utility>
#include <variant>

namespace sipws {

/// Wraps an error value so that Expected<T, E> can be built from it unambiguously.
template <class E>
struct Unexpected {
  explicit Unexpected(E e) : error(std::move(e)) {}  // clang 14 has no paren-aggregate CTAD
  E error;
};
template <class E>
Unexpected(E) -> Unexpected<E>;

/// Holds either a value of T or an error of E. Accessing the wrong alternative is a bug of ours
/// (asserted), never a reaction to input.
template <class T, class E>
class Expected {
 public:
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}            // NOLINT: implicit
  Expected(Unexpected<E> e) : v_(std::in_place_index<1>, std::move(e.error)) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const E& error() const {
    assert(!has_value());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, E> v_;
};

}  // namespace sipws
