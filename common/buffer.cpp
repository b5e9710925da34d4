#include "common/buffer.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <unistd.h>

namespace common {

void Buffer::consume(std::size_t n) noexcept {
  read_index_ += std::min(n, size());
  if (read_index_ == write_index_) {
    read_index_ = write_index_ = 0;  // empty: start from the front again, for free
  }
}

std::span<char> Buffer::writable(std::size_t min_size) {
  if (capacity_ - write_index_ < min_size) {
    const std::size_t readable_bytes = size();
    if (read_index_ > 0) {
      // Slide the content to the front first; it may free enough room without allocating.
      std::memmove(data_.get(), data_.get() + read_index_, readable_bytes);
      read_index_ = 0;
      write_index_ = readable_bytes;
    }
    if (capacity_ - write_index_ < min_size) {
      const std::size_t capacity = std::max(capacity_ * 2, write_index_ + min_size);
      auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
      std::copy(data_.get(), data_.get() + write_index_, bigger.get());
      data_ = std::move(bigger);
      capacity_ = capacity;
    }
  }
  return {data_.get() + write_index_, capacity_ - write_index_};
}

void Buffer::append(std::string_view bytes) {
  std::span<char> space = writable(bytes.size());
  std::copy(bytes.begin(), bytes.end(), space.begin());
  commit(bytes.size());
}

ssize_t Buffer::read_from(int fd, std::size_t chunk) {
  std::span<char> space = writable(chunk);
  ssize_t n;
  do {
    n = ::read(fd, space.data(), space.size());
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    commit(static_cast<std::size_t>(n));
  }
  return n;
}

}  // namespace common
