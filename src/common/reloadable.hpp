#pragma once
// A configuration snapshot that SIGHUP can replace while requests are in flight: readers take a
// shared_ptr at the start of their work and keep using that snapshot until they finish, so a
// reload never changes the rules in the middle of a request.

#include <memory>
#include <utility>

namespace sipws {

/// Holds the current snapshot of a reloadable configuration `T`. Thread: one thread (the core
/// io thread) reads and replaces it; snapshots handed out stay valid as long as they are held.
template <class T>
class Reloadable {
 public:
  explicit Reloadable(std::shared_ptr<T> initial) : current_(std::move(initial)) {}
  /// The current snapshot (never null once constructed with a non-null one).
  const std::shared_ptr<T>& get() const { return current_; }
  /// Replaces the snapshot; holders of the old one keep it until they drop it.
  void set(std::shared_ptr<T> next) { current_ = std::move(next); }

 private:
  std::shared_ptr<T> current_;
};

}  // namespace sipws
