/// @file acceptor.hpp
/// @brief Chapter 07: a thread that only accepts, and hands each client to an event loop.
#pragma once

#include <memory>
#include <vector>

#include "chapters/04-polling/event_loop.hpp"
#include "common/fd.hpp"
#include "common/options.hpp"

/// Chapter 07's acceptor: chapter 10's accept stage is this thread.
namespace pinned {

/// @defgroup pinned_acceptor Acceptor thread (chapter 07)
/// @brief A blocking accept4() loop that hands descriptors to loops, round-robin.
/// @{

/// A blocking listener on @p options' address and port, with TCP_DEFER_ACCEPT: the kernel
/// completes accept() once the client's first bytes have arrived (or about a second later).
/// Throws std::system_error at start-up.
[[nodiscard]] common::Fd open_acceptor_listener(const common::Options& options);

/// The acceptor thread's body: accepts from the blocking @p listener until shutdown, and posts
/// each client to the next of @p loops (round-robin), which adopts it on its own thread. Returns
/// once shutdown is requested and accept4() fails (the caller shuts the listener down to wake it).
void accept_connections(int listener,
                        const std::vector<std::unique_ptr<polling::EventLoop>>& loops);

/// @}

}  // namespace pinned
