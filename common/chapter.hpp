/// @file chapter.hpp
/// @brief The start-up steps every chapter's main() shares.
#pragma once

#include <cstdint>

#include "common/fd.hpp"
#include "common/options.hpp"

namespace common {

/// @defgroup chapter Start-up
/// @brief Process set-up and the "listening on" line.
/// @{

/// Names the log after the chapter, ignores SIGPIPE, turns SIGINT/SIGTERM into a shutdown
/// request, and makes an uncaught start-up exception print one line and exit 1 (not abort).
void init_process(const ChapterInfo& chapter);

/// Raises the soft RLIMIT_NOFILE to the hard limit and logs the change: an event-driven server
/// holds one descriptor per connection, and the usual soft limit (1,024) is far below 10,000.
void raise_descriptor_limit();

/// Creates the listening socket described by @p options (non-blocking unless @p blocking).
/// Throws std::system_error naming the failed call.
[[nodiscard]] Fd open_listener(const Options& options, bool reuse_port = false,
                               bool blocking = false);

/// Throws std::system_error (EADDRINUSE) if another socket is bound to --port. A group of
/// SO_REUSEPORT listeners would otherwise let a second server started by mistake on the same
/// port share its clients in silence: opening, then closing, a listener that shares nothing makes
/// such a start fail the way every other chapter's does. Does nothing for --port 0.
void refuse_taken_port(const Options& options);

/// Prints "listening on http://HOST:PORT" to stdout and flushes it: the line tests and scripts
/// wait for. Call when the server is ready: its threads started, its listener open (connections
/// queue in its backlog from then on). @p listener_fd tells the port (--port 0 picks one).
void announce_listening(const Options& options, int listener_fd);

/// The same, with the port given: for a server whose listeners already belong to its threads.
void announce_listening(const Options& options, std::uint16_t port);

/// @}

}  // namespace common
