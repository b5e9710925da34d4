/// @file serve.hpp
/// @brief Chapter 01: one connection served in lock-step, by one flow of control.
#pragma once

#include "common/app.hpp"
#include "common/fd.hpp"
#include "common/options.hpp"

/// Chapter 01's lock-step connection: chapters 02 and 03 serve each client with it too.
namespace iterative {

/// @defgroup iterative_serve Lock-step connection (chapter 01)
/// @brief Answer, write, wait, read, repeat: the whole protocol (common::Protocol) driven by one
/// thread that does nothing else until the client is done.
///
/// The socket is non-blocking underneath, and every wait is a poll() that also watches the
/// shutdown descriptor and the protocol's deadline. The flow of control is still the simple
/// blocking one (the caller is busy with this client until it is done); the poll only
/// guarantees that an idle client, a slow reader or SIGTERM can always end the wait.
/// @{

/// Serves @p client until it closes, asks to close, times out, fails, or shutdown is requested,
/// then closes it. Pipelined requests are answered in order; a client that half-closes still
/// gets the answers to the requests it sent. Counts the connection in app.stats(). Thread-safe
/// as long as each thread serves its own client.
void serve_connection(common::Fd client, const common::App& app, const common::Options& options);

/// @}

}  // namespace iterative
