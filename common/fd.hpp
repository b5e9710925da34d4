/// @file fd.hpp
/// @brief The owning file descriptor every other module builds on.
#pragma once

#include <utility>

namespace common {

/// @defgroup fd Descriptors
/// @brief Ownership of file descriptors.
/// @{

/// A move-only owner of one file descriptor.
///
/// Copying is deleted so that exactly one object closes a descriptor; a move leaves `-1` behind.
/// Code that only needs to name a descriptor (an epoll registration, a poll set) takes a plain
/// `int` view from get(), never ownership.
class Fd {
 public:
  /// An empty owner (get() == -1).
  Fd() noexcept = default;
  /// Takes ownership of @p fd; a negative value makes an empty owner.
  explicit Fd(int fd) noexcept : fd_(fd < 0 ? -1 : fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  /// Takes the descriptor from @p other, which is left empty.
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  /// Closes the descriptor held now, then takes @p other's.
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset(std::exchange(other.fd_, -1));
    }
    return *this;
  }
  ~Fd() { reset(); }

  /// The descriptor, still owned by this object; -1 when empty.
  [[nodiscard]] int get() const noexcept { return fd_; }
  /// True when a descriptor is held.
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  /// Same as valid().
  explicit operator bool() const noexcept { return valid(); }
  /// Gives up ownership without closing; returns the descriptor (or -1).
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the held descriptor (if any) and holds @p fd instead.
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

/// @}

}  // namespace common
