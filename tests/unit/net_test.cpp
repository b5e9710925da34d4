#include "common/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

namespace {

common::ListenConfig loopback(std::uint16_t port = 0) {
  common::ListenConfig config;
  config.host = "127.0.0.1";
  config.port = port;
  return config;
}

// A blocking client socket connected to 127.0.0.1:@p port (the connection completes in the
// listener's backlog, before any accept).
common::Fd connect_to(std::uint16_t port) {
  common::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ADD_FAILURE() << "connect: " << std::strerror(errno);
  }
  return fd;
}

bool is_nonblocking(int fd) {
  return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
}

TEST(ListenTcp, PortZeroGetsAnEphemeralPort) {
  const common::Fd listener = common::listen_tcp(loopback());
  ASSERT_TRUE(listener.valid());
  EXPECT_NE(common::local_port(listener.get()), 0);
  EXPECT_TRUE(is_nonblocking(listener.get()));
  EXPECT_NE(::fcntl(listener.get(), F_GETFD) & FD_CLOEXEC, 0);
  int reuse = 0;
  socklen_t size = sizeof reuse;
  ASSERT_EQ(::getsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &reuse, &size), 0);
  EXPECT_EQ(reuse, 1);
}

TEST(ListenTcp, BlockingWhenAsked) {
  common::ListenConfig config = loopback();
  config.nonblocking = false;
  const common::Fd listener = common::listen_tcp(config);
  EXPECT_FALSE(is_nonblocking(listener.get()));
}

TEST(ListenTcp, PortInUseThrowsNamingBind) {
  const common::Fd first = common::listen_tcp(loopback());
  const std::uint16_t port = common::local_port(first.get());
  try {
    const common::Fd second = common::listen_tcp(loopback(port));
    FAIL() << "a second listener on port " << port << " was created";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), EADDRINUSE);
    const std::string what = e.what();
    EXPECT_NE(what.find("bind"), std::string::npos) << what;
    EXPECT_NE(what.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << what;
  }
}

TEST(ListenTcp, ReusePortLetsListenersShareAPort) {
  common::ListenConfig config = loopback();
  config.reuse_port = true;
  const common::Fd first = common::listen_tcp(config);
  config.port = common::local_port(first.get());
  const common::Fd second = common::listen_tcp(config);
  EXPECT_EQ(common::local_port(second.get()), config.port);
}

TEST(ListenTcp, Ipv6Loopback) {
  common::ListenConfig config;
  config.host = "::1";
  config.port = 0;
  common::Fd listener;
  try {
    listener = common::listen_tcp(config);
  } catch (const std::system_error& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  EXPECT_NE(common::local_port(listener.get()), 0);
}

TEST(LocalPort, ThrowsOnABadDescriptor) {
  EXPECT_THROW((void)common::local_port(-1), std::system_error);
}

TEST(HttpUrl, Formats) {
  EXPECT_EQ(common::http_url("127.0.0.1", 8080), "http://127.0.0.1:8080");
  EXPECT_EQ(common::http_url("localhost", 0), "http://localhost:0");
  EXPECT_EQ(common::http_url("::1", 80), "http://[::1]:80");
  EXPECT_EQ(common::http_url("::", 65535), "http://[::]:65535");
  EXPECT_EQ(common::http_url("fe80::1", 1), "http://[fe80::1]:1");
}

TEST(AcceptClient, AcceptsAPendingConnection) {
  const common::Fd listener = common::listen_tcp(loopback());
  const common::Fd client = connect_to(common::local_port(listener.get()));
  common::AcceptResult result = common::accept_client(listener.get());
  ASSERT_EQ(result.status, common::AcceptStatus::kAccepted);
  ASSERT_TRUE(result.fd.valid());
  EXPECT_EQ(result.error, 0);
  EXPECT_TRUE(is_nonblocking(result.fd.get()));  // the default flags
  EXPECT_NE(::fcntl(result.fd.get(), F_GETFD) & FD_CLOEXEC, 0);
  // The two ends are connected.
  ASSERT_EQ(::write(client.get(), "ping", 4), 4);
  char buffer[8] = {};
  ASSERT_EQ(::read(result.fd.get(), buffer, sizeof buffer), 4);  // loopback: already there
  EXPECT_STREQ(buffer, "ping");
}

TEST(AcceptClient, FlagsArePassedThrough) {
  const common::Fd listener = common::listen_tcp(loopback());
  const common::Fd client = connect_to(common::local_port(listener.get()));
  const common::AcceptResult result = common::accept_client(listener.get(), 0);
  ASSERT_EQ(result.status, common::AcceptStatus::kAccepted);
  EXPECT_FALSE(is_nonblocking(result.fd.get()));
  EXPECT_EQ(::fcntl(result.fd.get(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST(AcceptClient, EmptyNonBlockingListenerWouldBlock) {
  const common::Fd listener = common::listen_tcp(loopback());
  const common::AcceptResult result = common::accept_client(listener.get());
  EXPECT_EQ(result.status, common::AcceptStatus::kWouldBlock);
  EXPECT_FALSE(result.fd.valid());
  EXPECT_EQ(result.error, 0);
}

TEST(AcceptClient, OtherErrorsAreFailures) {
  const common::AcceptResult bad = common::accept_client(-1);
  EXPECT_EQ(bad.status, common::AcceptStatus::kFailed);
  EXPECT_EQ(bad.error, EBADF);
  const common::Fd not_listening(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const common::AcceptResult invalid = common::accept_client(not_listening.get());
  EXPECT_EQ(invalid.status, common::AcceptStatus::kFailed);
  EXPECT_EQ(invalid.error, EINVAL);
}

// The highest descriptor number open in this process.
int highest_open_fd() {
  int highest = -1;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    highest = std::max(highest, std::stoi(entry.path().filename().string()));
  }
  return highest;  // the iterator's own descriptor is closed again, so this may be free now
}

// In a child, so that the lowered limit cannot affect this process: with every descriptor in
// use, accept reports kNoDescriptors/EMFILE and leaves the connection queued.
TEST(AcceptClient, DescriptorExhaustionIsReported) {
  const common::Fd listener = common::listen_tcp(loopback());
  const std::uint16_t port = common::local_port(listener.get());
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const common::Fd client = connect_to(port);
    const rlimit limit{static_cast<rlim_t>(highest_open_fd() + 1),
                       static_cast<rlim_t>(highest_open_fd() + 1)};
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      ::_exit(10);
    }
    // Fill every hole below the limit.
    int spare = -1;
    for (;;) {
      const int fd = ::dup(STDERR_FILENO);
      if (fd < 0) {
        break;
      }
      spare = fd;
    }
    if (errno != EMFILE) {
      ::_exit(11);
    }
    const common::AcceptResult exhausted = common::accept_client(listener.get());
    if (exhausted.status != common::AcceptStatus::kNoDescriptors) {
      ::_exit(12);
    }
    if (exhausted.error != EMFILE || exhausted.fd.valid()) {
      ::_exit(13);
    }
    // The connection stayed queued: with a descriptor free again, it is accepted.
    if (spare < 0 || ::close(spare) != 0) {
      ::_exit(14);
    }
    const common::AcceptResult accepted = common::accept_client(listener.get());
    ::_exit(accepted.status == common::AcceptStatus::kAccepted ? 0 : 15);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: setrlimit, 11: dup did not end in EMFILE, "
                                       "12: not kNoDescriptors, 13: error not EMFILE, "
                                       "14: no spare descriptor, 15: not accepted afterwards";
  // The child accepted the connection from the shared listener; nothing is left for us.
  EXPECT_EQ(common::accept_client(listener.get()).status, common::AcceptStatus::kWouldBlock);
}

TEST(SetNonblocking, OnAndOff) {
  int fds[2] = {-1, -1};
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  const common::Fd read_end(fds[0]);
  const common::Fd write_end(fds[1]);
  EXPECT_FALSE(is_nonblocking(read_end.get()));
  EXPECT_TRUE(common::set_nonblocking(read_end.get()));
  EXPECT_TRUE(is_nonblocking(read_end.get()));
  EXPECT_TRUE(common::set_nonblocking(read_end.get(), true));  // already on
  EXPECT_TRUE(is_nonblocking(read_end.get()));
  EXPECT_TRUE(common::set_nonblocking(read_end.get(), false));
  EXPECT_FALSE(is_nonblocking(read_end.get()));
  EXPECT_NE(::fcntl(read_end.get(), F_GETFD) & FD_CLOEXEC, 0);  // descriptor flags untouched
  errno = 0;
  EXPECT_FALSE(common::set_nonblocking(-1));
  EXPECT_EQ(errno, EBADF);
}

TEST(ListenTcp, AcceptedSocketsInheritTcpNodelay) {
  // Nagle off on every connection without a setsockopt() per connection: Linux copies the
  // listener's TCP_NODELAY to each accepted socket.
  const common::Fd listener = common::listen_tcp(loopback());
  const common::Fd client = connect_to(common::local_port(listener.get()));
  common::AcceptResult accepted = common::accept_client(listener.get());
  for (int tries = 0; accepted.status == common::AcceptStatus::kWouldBlock && tries < 100;
       ++tries) {
    ::usleep(10'000);
    accepted = common::accept_client(listener.get());
  }
  ASSERT_EQ(accepted.status, common::AcceptStatus::kAccepted);
  int value = 0;
  socklen_t size = sizeof value;
  ASSERT_EQ(::getsockopt(accepted.fd.get(), IPPROTO_TCP, TCP_NODELAY, &value, &size), 0);
  EXPECT_NE(value, 0);
}

}  // namespace
