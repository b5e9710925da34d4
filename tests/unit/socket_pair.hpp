// A test helper shared by the unit tests that need a connected pair of sockets.
#pragma once

#include <cerrno>
#include <cstring>

#include <gtest/gtest.h>
#include <sys/socket.h>

#include "common/fd.hpp"

namespace test_support {

/// A connected pair of non-blocking stream sockets.
struct SocketPair {
  common::Fd a;
  common::Fd b;
};

/// Makes a SocketPair. With @p small_buffers, a's send and b's receive buffers are made tiny, so
/// that a few hundred KiB fill them and writes become partial.
inline SocketPair make_socket_pair(bool small_buffers = false) {
  int fds[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    ADD_FAILURE() << "socketpair: " << std::strerror(errno);
  }
  if (small_buffers) {
    const int size = 4096;
    ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    ::setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  return {common::Fd(fds[0]), common::Fd(fds[1])};
}

}  // namespace test_support
