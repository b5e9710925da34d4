#include "common/nonblocking.hpp"

#include <algorithm>
#include <cerrno>
#include <span>
#include <utility>

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

namespace common {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::uint64_t kMaxSendfileChunk = 1u << 30;  // sendfile moves at most ~2 GiB a call
constexpr std::size_t kHeadReserve =
    192;  // a response head's status line and headers, at most, usually

}  // namespace

ReadStatus read_available(int fd, Buffer& in, std::size_t budget, bool short_read_drains) {
  std::size_t total = 0;
  while (total < budget) {
    const std::span<char> space = in.writable(kReadChunk);
    ssize_t n;
    do {
      n = ::read(fd, space.data(), space.size());
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
      in.commit(static_cast<std::size_t>(n));
      total += static_cast<std::size_t>(n);
      if (short_read_drains && static_cast<std::size_t>(n) < space.size()) {
        return ReadStatus::kWouldBlock;  // the kernel's queue is empty: saves the EAGAIN read
      }
    } else if (n == 0) {
      return ReadStatus::kEof;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return ReadStatus::kWouldBlock;
    } else {
      return ReadStatus::kError;
    }
  }
  return ReadStatus::kBudget;
}

void OutputQueue::push(Response response) {
  const bool has_file = response.send_body && response.file.valid();
  if (segments_.empty() || segments_.back().file.valid()) {
    segments_.emplace_back();
  }
  Segment& segment = segments_.back();
  const std::size_t before = segment.bytes.size();
  // The head and an in-memory body go straight into the segment: one allocation, no copy.
  segment.bytes.reserve(before + kHeadReserve + (response.send_body ? response.body.size() : 0));
  append_head(response, segment.bytes);
  if (response.send_body && !has_file) {
    segment.bytes += response.body;
  }
  pending_ += segment.bytes.size() - before;
  if (has_file) {
    segment.file = std::move(response.file);
    segment.file_offset = 0;
    segment.file_end = response.content_length;
    pending_ += response.content_length;
  }
}

void OutputQueue::push_bytes(std::string_view bytes) {
  if (segments_.empty() || segments_.back().file.valid()) {
    segments_.emplace_back();
  }
  segments_.back().bytes += bytes;
  pending_ += bytes.size();
}

void OutputQueue::account(std::size_t n) noexcept {
  pending_ -= n;
  sent_ += n;
}

FlushResult OutputQueue::flush_segment(int fd, Segment& segment) {
  while (segment.bytes_sent < segment.bytes.size()) {
    const std::size_t left = segment.bytes.size() - segment.bytes_sent;
    // MSG_MORE before a file: the head waits briefly to leave in one packet with the file's start.
    const int flags = MSG_NOSIGNAL | (segment.file.valid() ? MSG_MORE : 0);
    const ssize_t n = ::send(fd, segment.bytes.data() + segment.bytes_sent, left, flags);
    if (n > 0) {
      segment.bytes_sent += static_cast<std::size_t>(n);  // a partial write is normal
      account(static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return FlushResult::kWouldBlock;
    } else {
      return FlushResult::kError;  // EPIPE, ECONNRESET: the client is gone
    }
  }
  while (segment.file.valid() &&
         static_cast<std::uint64_t>(segment.file_offset) < segment.file_end) {
    const std::uint64_t left = segment.file_end - static_cast<std::uint64_t>(segment.file_offset);
    const off_t before = segment.file_offset;
    // On a non-blocking socket sendfile copies what fits in the socket buffer and returns.
    const ssize_t n =
        ::sendfile(fd, segment.file.get(), &segment.file_offset, std::min(left, kMaxSendfileChunk));
    if (n > 0) {
      account(static_cast<std::size_t>(segment.file_offset - before));
    } else if (n == 0) {
      return FlushResult::kError;  // the file shrank: the promised Content-Length cannot be kept
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return FlushResult::kWouldBlock;
    } else {
      return FlushResult::kError;
    }
  }
  return FlushResult::kDone;
}

FlushResult OutputQueue::flush(int fd) {
  std::size_t done = 0;
  FlushResult result = FlushResult::kDone;
  while (done < segments_.size()) {
    result = flush_segment(fd, segments_[done]);
    if (result != FlushResult::kDone) {
      break;
    }
    ++done;  // this segment's file (if any) is closed when the segment is erased below
  }
  segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(done));
  if (segments_.empty()) {
    segments_.shrink_to_fit();  // an idle connection keeps no output memory
  }
  return result;
}

void OutputQueue::clear() noexcept {
  segments_.clear();
  segments_.shrink_to_fit();
  pending_ = 0;
}

}  // namespace common
