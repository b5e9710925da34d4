#include "common/io.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include <poll.h>

#include "common/shutdown.hpp"

namespace common {

int milliseconds_until(Deadline when) {
  if (when == kNoDeadline) {
    return -1;
  }
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(when - Clock::now());
  return static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, kLongestWait.count()));
}

Wait wait_for(int fd, short events, Deadline deadline, bool watch_shutdown) {
  pollfd fds[2] = {{fd, events, 0}, {shutdown_fd(), POLLIN, 0}};
  const nfds_t count = (watch_shutdown && fds[1].fd >= 0) ? 2 : 1;
  for (;;) {
    if (watch_shutdown && shutdown_requested()) {
      return Wait::kShutdown;
    }
    const int n = ::poll(fds, count, milliseconds_until(deadline));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return Wait::kReady;  // let the caller's read or write report the real error
    }
    if (fds[0].revents != 0) {
      return Wait::kReady;
    }
    if (count == 2 && fds[1].revents != 0) {
      return Wait::kShutdown;
    }
    if (Clock::now() >= deadline) {
      return Wait::kTimeout;
    }
  }
}

bool sleep_unless_shutdown(std::chrono::milliseconds duration) {
  const Deadline deadline = Clock::now() + duration;
  for (;;) {
    pollfd fd{shutdown_fd(), POLLIN, 0};
    if (shutdown_requested()) {
      return false;
    }
    // With no shutdown descriptor (unit tests), poll on a negative fd is a plain sleep.
    const int n = ::poll(&fd, 1, milliseconds_until(deadline));
    if (n > 0) {
      return false;
    }
    if (Clock::now() >= deadline) {
      return true;
    }
  }
}

}  // namespace common
