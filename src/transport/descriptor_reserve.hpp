#pragma once
// A spare file descriptor per listener, so that a listener out of descriptors still refuses new
// connections at once instead of leaving them in the kernel's backlog until their clients give up
// (issue "bounded per client"). Shared by the SIP stream listeners (transport_layer.cpp) and the
// WebSocket listener (src/ws/listener.cpp): C++17, no Asio type in its interface.

#include <cstddef>
#include <string_view>

namespace sipws::transport {

/// Holds one open descriptor (/dev/null) in reserve. When accept() fails with EMFILE or ENFILE,
/// refuse_pending() gives the reserve up for a moment to accept each pending connection, sends it
/// a short refusal and closes it, then takes the reserve back. Thread: the one listener's thread
/// (each listener has its own reserve: one descriptor each).
class DescriptorReserve {
 public:
  /// Opens the reserve; held() is false when it cannot (it is tried again by refuse_pending()).
  DescriptorReserve();
  ~DescriptorReserve();
  DescriptorReserve(const DescriptorReserve&) = delete;
  DescriptorReserve& operator=(const DescriptorReserve&) = delete;

  /// True while the reserve descriptor is open.
  bool held() const { return fd_ >= 0; }

  /// Accepts and closes every connection pending on the listening socket `listen_fd` (at most
  /// `max` of them), writing `refusal` first (best effort, never blocking; empty: close only, the
  /// peer sees EOF). Uses the reserve for each accept and takes it back after. Returns how many it
  /// refused; 0 when nothing was pending or no descriptor could be had (the reserve is lost to
  /// another thread: the caller retries later).
  std::size_t refuse_pending(int listen_fd, std::string_view refusal, std::size_t max = 1024);

  /// True for the errno values that mean "out of descriptors" (EMFILE: the process's
  /// RLIMIT_NOFILE, ENFILE: the system's file table).
  static bool is_exhaustion(int errno_value);

  /// Logs a warning the first time any listener of the process runs out of descriptors since
  /// descriptors were last available (then nothing until note_recovered()): `where` names the
  /// listener. Thread: any.
  static void note_exhausted(std::string_view where);
  /// Logs once that descriptors are available again after note_exhausted(). Thread: any; costs
  /// one relaxed atomic load when nothing was exhausted.
  static void note_recovered();

 private:
  void acquire();
  int fd_ = -1;
};

}  // namespace sipws::transport
