/// @file buffer.hpp
/// @brief A growable byte buffer for one connection's input or output.
#pragma once

#include <sys/types.h>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

namespace common {

/// @defgroup buffer Buffers
/// @brief Per-connection byte buffers.
/// @{

/// A byte buffer with a read index and a write index into one contiguous array.
///
/// @verbatim
///   +-------------------+--------------------+------------------+
///   |  consumed bytes   |   readable bytes   |  writable space  |
///   | (free for reuse)  |     (content)      |                  |
///   +-------------------+--------------------+------------------+
///   0      <=      read_index     <=     write_index    <=    capacity
/// @endverbatim
///
/// Reading from a socket appends at write_index (writable() then commit()); handling a request
/// advances read_index (consume()). The readable bytes are always contiguous, so the HTTP parser
/// can look at them as one std::string_view without copying. Space is reclaimed by moving the
/// readable bytes to the front only when more room is needed, so a steady stream of small
/// requests never reallocates. Space is not zero-filled: bytes are written before they are read,
/// and a fresh buffer costs one allocation, not a memset of its capacity. Not thread-safe: a
/// buffer belongs to one connection.
///
/// Any view returned by readable() is invalidated by writable(), append() and clear().
class Buffer {
 public:
  Buffer() = default;
  /// Takes @p other's bytes and space; @p other is left empty, with no space.
  Buffer(Buffer&& other) noexcept
      : data_(std::move(other.data_)),
        capacity_(std::exchange(other.capacity_, 0)),
        read_index_(std::exchange(other.read_index_, 0)),
        write_index_(std::exchange(other.write_index_, 0)) {}
  /// Takes @p other's bytes and space; @p other is left empty, with no space.
  Buffer& operator=(Buffer&& other) noexcept {
    data_ = std::move(other.data_);
    capacity_ = std::exchange(other.capacity_, 0);
    read_index_ = std::exchange(other.read_index_, 0);
    write_index_ = std::exchange(other.write_index_, 0);
    return *this;
  }

  /// The bytes written and not yet consumed.
  [[nodiscard]] std::string_view readable() const noexcept {
    return {data_.get() + read_index_, write_index_ - read_index_};
  }
  /// Number of readable bytes.
  [[nodiscard]] std::size_t size() const noexcept { return write_index_ - read_index_; }
  /// True when nothing is readable.
  [[nodiscard]] bool empty() const noexcept { return read_index_ == write_index_; }

  /// Marks the first @p n readable bytes as used (n <= size()).
  void consume(std::size_t n) noexcept;
  /// Discards everything.
  void clear() noexcept { read_index_ = write_index_ = 0; }

  /// At least @p min_size bytes of writable space, compacting or growing as needed.
  [[nodiscard]] std::span<char> writable(std::size_t min_size);
  /// Makes the first @p n bytes of the span from writable() readable.
  void commit(std::size_t n) noexcept { write_index_ += n; }
  /// Appends a copy of @p bytes.
  void append(std::string_view bytes);

  /// Reads once from @p fd into the writable space (at least @p chunk bytes of it).
  /// Returns read(2)'s result: > 0 bytes added, 0 at end of stream, -1 with errno (EAGAIN too).
  ssize_t read_from(int fd, std::size_t chunk = 16 * 1024);

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;
  std::size_t read_index_ = 0;
  std::size_t write_index_ = 0;
};

/// @}

}  // namespace common
