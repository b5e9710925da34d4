#include "common/io.hpp"

#include <algorithm>
#include <cerrno>

#include <poll.h>

#include "common/connection_policy.hpp"
#include "common/shutdown.hpp"

namespace common {
namespace {

// poll() takes milliseconds as an int; round up so that we never wake just before the deadline.
int poll_timeout(Deadline deadline) {
  if (deadline == kNoDeadline) {
    return -1;
  }
  const auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) {
    return 0;
  }
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<decltype(ms)>(ms, 60'000));  // re-check at least every minute
}

}  // namespace

Wait wait_for(int fd, short events, Deadline deadline, bool watch_shutdown) {
  pollfd fds[2] = {{fd, events, 0}, {shutdown_fd(), POLLIN, 0}};
  const nfds_t count = (watch_shutdown && fds[1].fd >= 0) ? 2 : 1;
  for (;;) {
    if (watch_shutdown && shutdown_requested()) {
      return Wait::kShutdown;
    }
    const int n = ::poll(fds, count, poll_timeout(deadline));
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
    const int n = ::poll(&fd, 1, poll_timeout(deadline));
    if (n > 0) {
      return false;
    }
    if (Clock::now() >= deadline) {
      return true;
    }
  }
}

void back_off_after_emfile() {
  sleep_unless_shutdown(kAcceptPause);
}

}  // namespace common
