/// @file shutdown.hpp
/// @brief Process start-up (signals) and graceful shutdown on SIGINT/SIGTERM.
#pragma once

#include <chrono>

#include <sys/types.h>

namespace common {

/// @defgroup shutdown Signals and shutdown
/// @brief One process-wide "please stop" that every loop can wait on.
///
/// SIGINT and SIGTERM do not stop the process. Their handler sets a flag and makes an eventfd
/// readable for good. A loop checks shutdown_requested() between steps, and a blocking wait adds
/// shutdown_fd() to its poll or epoll set so that it wakes up at once. Because the eventfd is
/// never read, every waiter (every thread of the process) sees it. A forked child that serves
/// must make its own: after_fork_in_child().
/// @{

/// How long a response still being written when shutdown is requested may take to finish: the
/// protocol promises exit within 2 s, and the rest of that time is for closing and reaping.
inline constexpr std::chrono::milliseconds kShutdownGrace{1500};

/// Ignores SIGPIPE and installs the SIGINT/SIGTERM handlers. Call once, first thing in main,
/// before any thread or child is started. Throws std::system_error if the eventfd cannot be made.
void install_signal_handlers();

/// True once SIGINT or SIGTERM arrived (or request_shutdown() was called). Async-signal-safe.
[[nodiscard]] bool shutdown_requested() noexcept;

/// A descriptor that turns readable, and stays readable, once shutdown is requested; -1 before
/// install_signal_handlers(). Poll it, never read it.
[[nodiscard]] int shutdown_fd() noexcept;

/// Requests shutdown as the signals do. Async-signal-safe and thread-safe.
void request_shutdown() noexcept;

/// Blocks until shutdown is requested: for a thread that serves nobody (the main thread of a
/// server whose loops run in threads of their own) and only waits for SIGINT or SIGTERM. Every
/// other thread must block those signals (StopSignalsBlocked): this one then blocks them too and
/// takes them from a signalfd, so that no handler runs.
void wait_for_shutdown() noexcept;

/// fork() for a server that serves in its children: returns what fork() returns (the child's pid
/// in the parent, 0 in the child, -1 with errno set on failure), and sets the child up with
/// after_fork_in_child() while SIGINT and SIGTERM are blocked, so that no signal reaches the
/// child before that is done.
[[nodiscard]] pid_t fork_server_child();

/// What a server's child process needs first, done by fork_server_child():
/// - Its own shutdown eventfd. The one it inherited is the same kernel object as its parent's
///   and every sibling's: a SIGTERM to this child would make it readable in all of them, and
///   stop them all. The inherited copy is closed (the others keep theirs) and a new one made,
///   already readable if a stop was requested before.
/// - SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG). A parent stopped by SIGTERM passes
///   the signal on to its children; one killed by SIGKILL cannot, and its children would go on
///   serving its port as orphans. If @p parent is already gone, shutdown is requested at once.
///
/// Throws std::system_error if the new eventfd cannot be made.
void after_fork_in_child(pid_t parent);

/// Blocks SIGINT and SIGTERM in the calling thread for its lifetime, so that every thread started
/// in its scope inherits the block: the signals then reach only the thread that started them,
/// which must wait where a signal can interrupt it (a poll that includes shutdown_fd()). The
/// other threads learn of the shutdown from the eventfd. A handler that interrupts a loop thread
/// achieves nothing the eventfd does not, and under ThreadSanitizer, which runs a handler only
/// when the interrupted thread next calls an intercepted libc function, a thread blocked in
/// accept4() or io_uring_enter() would hold the signal pending for good.
class StopSignalsBlocked {
 public:
  StopSignalsBlocked() noexcept;
  ~StopSignalsBlocked();
  StopSignalsBlocked(const StopSignalsBlocked&) = delete;
  StopSignalsBlocked& operator=(const StopSignalsBlocked&) = delete;
};

/// @}

}  // namespace common
