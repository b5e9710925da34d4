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

/// The pause after accept() reports descriptor exhaustion, so that an accept loop retries
/// about ten times a second instead of spinning. Returns early on shutdown.
void back_off_after_emfile();

/// @}

}  // namespace common
