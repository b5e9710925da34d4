/// @file net.hpp
/// @brief Listening sockets, the one accept helper, and per-socket options.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <sys/socket.h>

#include "common/fd.hpp"

namespace common {

/// @defgroup net Sockets
/// @brief Creating listeners, accepting clients, socket options.
/// @{

/// How to create a listening socket.
struct ListenConfig {
  std::string host = "127.0.0.1";  ///< numeric IPv4 or IPv6 address, or a name such as localhost
  std::uint16_t port = 8080;       ///< 0 asks the kernel for an ephemeral port
  int backlog = 4096;              ///< the kernel caps it at net.core.somaxconn
  bool reuse_port = false;         ///< SO_REUSEPORT: several listeners share the port
  bool nonblocking = true;         ///< SOCK_NONBLOCK on the listener itself
};

/// Creates, binds and listens; SO_REUSEADDR is always set so a restart does not wait for
/// TIME_WAIT. TCP_NODELAY is set on the listener, and Linux copies it to every socket accept()
/// returns: a response must not wait for the ACK of the previous one (Nagle's algorithm), and a
/// setsockopt() per connection would cost a system call each. Throws std::system_error naming
/// the failing call (a start-up failure).
[[nodiscard]] Fd listen_tcp(const ListenConfig& config);

/// The port a bound socket got (useful after binding port 0). Throws std::system_error.
[[nodiscard]] std::uint16_t local_port(int fd);

/// "http://HOST:PORT" with IPv6 hosts in brackets.
[[nodiscard]] std::string http_url(std::string_view host, std::uint16_t port);

/// What accept_client() found.
enum class AcceptStatus {
  kAccepted,       ///< fd holds a new connection
  kWouldBlock,     ///< no connection is pending (EAGAIN on a non-blocking listener)
  kNoDescriptors,  ///< EMFILE, ENFILE, ENOBUFS or ENOMEM: back off, do not retry at once
  kFailed,         ///< anything else; `error` holds errno
};

/// The result of one accept_client() call.
struct AcceptResult {
  AcceptStatus status = AcceptStatus::kFailed;  ///< what happened
  Fd fd;                                        ///< valid only with kAccepted
  int error = 0;                                ///< errno for kNoDescriptors and kFailed
};

/// Accepts one connection with accept4(@p flags), handling errno in one documented switch:
/// EINTR is retried, ECONNABORTED and the other "connection died in the queue" errors are
/// skipped (the next pending connection is tried), EAGAIN reports kWouldBlock, descriptor or
/// memory exhaustion reports kNoDescriptors (the caller must back off rather than spin),
/// and anything else is reported as kFailed. Thread-safe.
[[nodiscard]] AcceptResult accept_client(int listen_fd, int flags = SOCK_NONBLOCK | SOCK_CLOEXEC);

/// Accepts one client from @p listener with accept_client() and acts on its result the way every
/// blocking accept loop must: a new connection is returned; EAGAIN (another process or thread
/// was faster) returns nullopt; descriptor exhaustion and other failures are logged and answered
/// with back_off_after_emfile() before returning nullopt, so that the caller's loop cannot spin.
[[nodiscard]] std::optional<Fd> accept_or_back_off(int listener);

/// The pause after accept() reports descriptor exhaustion (common::kAcceptPause), so that an
/// accept loop retries about ten times a second instead of spinning. Returns early on shutdown.
void back_off_after_emfile();

/// True if the kernel holds bytes of @p fd's input that nobody has read yet (FIONREAD). A socket
/// closed with unread input sends RST instead of FIN, which can destroy the answer just sent.
[[nodiscard]] bool has_unread_input(int fd) noexcept;

/// Sets or clears O_NONBLOCK. Returns false (errno set) on failure.
bool set_nonblocking(int fd, bool on = true) noexcept;

/// @}

}  // namespace common
