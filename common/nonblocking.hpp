/// @file nonblocking.hpp
/// @brief The byte plumbing of event-driven connections: draining reads, queued writes.
#pragma once

#include <sys/types.h>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/buffer.hpp"
#include "common/fd.hpp"
#include "common/http_response.hpp"

namespace common {

/// @defgroup nonblocking Non-blocking connections
/// @brief Reads and writes that never wait, for chapters that multiplex many sockets on a loop.
///
/// Nothing here calls poll or epoll: these helpers do as much I/O as the socket allows right now
/// and report why they stopped, so that the caller's event loop decides what to wait for next.
/// Not thread-safe: each object belongs to one connection, used by one thread at a time.
/// @{

/// Why read_available() stopped.
enum class ReadStatus {
  kWouldBlock,  ///< EAGAIN: everything the kernel had is in the buffer (an edge is drained)
  kBudget,      ///< read @p budget bytes; more may be waiting, so call again later
  kEof,         ///< the peer closed its writing side (read returned 0)
  kError,       ///< ECONNRESET or another error: the connection is dead
};

/// Reads from the non-blocking @p fd into @p in until EAGAIN, end of stream, an error, or
/// @p budget bytes were added (so that one fast client cannot monopolise a loop). EINTR is
/// retried. With edge-triggered readiness, only kWouldBlock means the edge was consumed.
///
/// With @p short_read_drains, a read that fills less than the space offered also ends the call
/// with kWouldBlock: the socket's receive queue was empty at that moment, and any byte that
/// arrives later raises a new edge, so the read that would only say EAGAIN is saved (one system
/// call per request). Only valid when the event did not report the peer's FIN (EPOLLRDHUP): an
/// end of stream reported in this event raises no new one, and must be read now.
[[nodiscard]] ReadStatus read_available(int fd, Buffer& in, std::size_t budget = 1024 * 1024,
                                        bool short_read_drains = false);

/// What OutputQueue::flush() achieved.
enum class FlushResult {
  kDone,        ///< the queue is empty: everything pushed was handed to the kernel
  kWouldBlock,  ///< the socket buffer is full (EAGAIN): wait for writability, then flush again
  kError,       ///< EPIPE, ECONNRESET, or a file that shrank under us: close the connection
};

/// The responses of one connection not yet written, in order: heads and bodies in memory, and
/// files as a descriptor plus an offset (sent with sendfile(2), so file bytes never enter user
/// memory). Pipelined responses are queued one after the other and leave in the order pushed.
class OutputQueue final : public Output {
 public:
  /// Queues @p response: its head, then its body or its file (unless send_body is false). Takes
  /// ownership of the response's file descriptor, which is closed once sent or on clear().
  void push(Response response) override;

  /// Queues @p bytes as they are, after what is queued: an interim response such as
  /// "100 Continue", which has no body and no Content-Length.
  void push_bytes(std::string_view bytes) override;

  /// Writes as much as the non-blocking socket @p fd accepts. Partial writes are remembered;
  /// EINTR is retried; never waits.
  [[nodiscard]] FlushResult flush(int fd);

  /// True when nothing is pending.
  [[nodiscard]] bool empty() const noexcept override { return segments_.empty(); }
  /// Bytes still to send, file bytes included.
  [[nodiscard]] std::uint64_t pending_bytes() const noexcept override { return pending_; }
  /// Bytes handed to the kernel since construction: a caller sees progress by comparing.
  [[nodiscard]] std::uint64_t sent_bytes() const noexcept { return sent_; }
  /// Drops everything pending (and closes the queued files).
  void clear() noexcept;

 private:
  // One segment: bytes in memory, then optionally a range of a file. A new response joins the
  // last segment when that one has no file, so small pipelined responses go out in one send().
  struct Segment {
    std::string bytes;
    std::size_t bytes_sent = 0;
    Fd file;
    off_t file_offset = 0;
    std::uint64_t file_end = 0;
  };

  FlushResult flush_segment(int fd, Segment& segment);
  void account(std::size_t n) noexcept;

  std::vector<Segment> segments_;  // front first; a vector: usually 0 or 1 element
  std::uint64_t pending_ = 0;
  std::uint64_t sent_ = 0;
};

/// @}

}  // namespace common
