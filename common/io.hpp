/// @file io.hpp
/// @brief Deadlines and the bounded, shutdown-aware waits used by blocking code.
#pragma once

#include <chrono>

namespace common {

/// @defgroup io Waiting
/// @brief Deadlines, and waits that a timeout or a shutdown can always end.
/// @{

/// The clock of every timeout: monotonic, so a change of the wall clock moves no deadline.
using Clock = std::chrono::steady_clock;
/// A point in time after which a wait gives up.
using Deadline = Clock::time_point;
/// A deadline that never comes.
inline constexpr Deadline kNoDeadline = Deadline::max();

/// The longest a single wait lasts: a deadline further away is waited for in several waits.
inline constexpr std::chrono::milliseconds kLongestWait{24 * 3600 * 1000};

/// The timeout of poll(2), epoll_wait(2) or io_uring that wakes up at @p when: -1 (forever) for
/// kNoDeadline, otherwise the milliseconds left, rounded up so that a wait never ends just
/// before its deadline, at most kLongestWait.
[[nodiscard]] int milliseconds_until(Deadline when);

/// Why a wait returned.
enum class Wait {
  kReady,     ///< the descriptor is ready for the events asked for (or has an error or hang-up)
  kTimeout,   ///< the deadline passed first
  kShutdown,  ///< shutdown was requested first (only when watched)
};

/// Waits with poll(2) until @p fd reports one of @p events (POLLIN, POLLOUT), @p deadline passes,
/// or, if @p watch_shutdown, shutdown is requested. EINTR is handled inside. Thread-safe.
[[nodiscard]] Wait wait_for(int fd, short events, Deadline deadline, bool watch_shutdown = true);

/// Sleeps for @p duration or until shutdown is requested; returns false if shutdown cut it short.
bool sleep_unless_shutdown(std::chrono::milliseconds duration);

/// @}

}  // namespace common
