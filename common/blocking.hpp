/// @file blocking.hpp
/// @brief Serving one connection in lock-step: the per-client code of the blocking models (one
/// client at a time, a process or a thread per connection).
#pragma once

#include <optional>
#include <string_view>

#include "common/app.hpp"
#include "common/fd.hpp"
#include "common/options.hpp"

namespace common {

/// @defgroup blocking Lock-step connections
/// @brief Read a request, answer it, repeat: one flow of control per connection.
///
/// The socket is non-blocking underneath, and every wait is a poll() that also watches the
/// shutdown descriptor and a deadline. The flow of control is still the simple blocking one
/// (the caller is busy with this client until it is done); the poll only guarantees that an idle
/// client, a slow reader or SIGTERM can always end the wait.
/// @{

/// Serves @p client until it closes, asks to close, times out, fails, or shutdown is requested,
/// then closes it. Pipelined requests are answered in order; a client that half-closes still gets
/// the answers to the requests it sent. Counts the connection in app.stats(). Thread-safe as
/// long as each thread serves its own client.
void serve_connection(Fd client, const App& app, const Options& options);

/// Accepts one client from @p listener with accept_client() and acts on its result the way every
/// blocking accept loop must: a new connection is returned; EAGAIN (another process or thread
/// was faster) returns nullopt; descriptor exhaustion and other failures are logged and answered
/// with back_off_after_emfile() before returning nullopt, so that the caller's loop cannot spin.
[[nodiscard]] std::optional<Fd> accept_or_back_off(int listener);

/// Sends @p response (its head, then its body or its file) through a common::OutputQueue,
/// waiting while the socket buffer is full. Gives up (returns false) on a send error (EPIPE,
/// ECONNRESET), when the peer reads nothing for @p stall_timeout, or 1.5 s after shutdown is
/// requested.
bool send_response(int fd, Response response, std::chrono::milliseconds stall_timeout);

/// Closes @p client without losing the response just sent. If the client may still be sending
/// (@p drain, or bytes wait unread in the kernel), we send FIN and read until the client closes
/// or 1 s passes: closing with unread input makes the kernel send RST, which can destroy the
/// response before the client has read it.
void close_gracefully(Fd client, bool drain);

/// @}

}  // namespace common
