#include "common/fd.hpp"

#include <unistd.h>

namespace common {

void Fd::reset(int fd) noexcept {
  if (fd_ >= 0) {
    // Never retry close() on EINTR: on Linux the descriptor is released before the call can be
    // interrupted, and by the time we retried, another thread might have been given the same
    // number.
    ::close(fd_);
  }
  fd_ = fd < 0 ? -1 : fd;
}

}  // namespace common
