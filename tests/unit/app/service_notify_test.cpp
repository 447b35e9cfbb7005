// sd_notify protocol: one datagram to $NOTIFY_SOCKET, received here by a real AF_UNIX socket.
#include "app/service_notify.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

namespace sipws::app {
namespace {

/// A bound AF_UNIX datagram socket (a path, or abstract when `name` starts with '@') that
/// NOTIFY_SOCKET names while it lives.
class NotifySocket {
 public:
  explicit NotifySocket(std::string name) : name_(std::move(name)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, name_.data(), name_.size());
    if (name_[0] == '@') a.sun_path[0] = '\0';
    bound_ = ::bind(fd_, reinterpret_cast<const sockaddr*>(&a),
                    static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size())) == 0;
    ::setenv("NOTIFY_SOCKET", name_.c_str(), 1);
  }
  ~NotifySocket() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
    if (name_[0] == '/') std::filesystem::remove(name_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  bool bound() const { return bound_; }
  /// The next datagram (the send is synchronous: it is queued once notify returns).
  std::string receive() const {
    std::array<char, 512> buf{};
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
    return n < 0 ? std::string("<nothing>") : std::string(buf.data(), static_cast<size_t>(n));
  }

 private:
  std::string name_;
  int fd_ = -1;
  bool bound_ = false;
};

TEST(ServiceNotify, SendsTheStateToThePathInNotifySocket) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("sipws-notify-" + std::to_string(::getpid())))
          .string();
  NotifySocket s(path);
  ASSERT_TRUE(s.bound());
  EXPECT_TRUE(notify_service_manager("READY=1\nSTATUS=serving"));
  EXPECT_EQ(s.receive(), "READY=1\nSTATUS=serving");
  EXPECT_TRUE(notify_service_manager("STOPPING=1"));
  EXPECT_EQ(s.receive(), "STOPPING=1");
}

TEST(ServiceNotify, AbstractSocket) {
  NotifySocket s("@sipws-notify-test-" + std::to_string(::getpid()));
  ASSERT_TRUE(s.bound());
  EXPECT_TRUE(notify_service_manager("RELOADING=1"));
  EXPECT_EQ(s.receive(), "RELOADING=1");
}

TEST(ServiceNotify, NoSocketIsANoOp) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(notify_service_manager("READY=1"));
  ::setenv("NOTIFY_SOCKET", "relative/path", 1);
  EXPECT_FALSE(notify_service_manager("READY=1"));
  ::setenv("NOTIFY_SOCKET", "/nonexistent/sipws-notify", 1);
  EXPECT_FALSE(notify_service_manager("READY=1"));
  ::unsetenv("NOTIFY_SOCKET");
}

}  // namespace
}  // namespace sipws::app
