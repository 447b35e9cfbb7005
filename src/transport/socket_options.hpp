#pragma once
// Socket options Asio has no portable name for. Shared by the SIP listeners (transport_layer.cpp)
// and the WebSocket listener (src/ws/listener.cpp, C++17).

#include <sys/socket.h>

#include <boost/asio/detail/socket_option.hpp>

namespace sipws::transport {

/// SO_REUSEPORT (Linux >= 3.9): several sockets of one user bind the same address and port, and
/// the kernel spreads new TCP connections and UDP sources over them (one per shard). Every
/// socket sharing the port must set it after open() and before bind().
using ReusePort = boost::asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

}  // namespace sipws::transport
