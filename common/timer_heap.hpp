/// @file timer_heap.hpp
/// @brief Deadlines for thousands of connections in one thread: a min-heap with lazy deletion.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <queue>
#include <vector>

#include "common/io.hpp"

namespace common {

/// @defgroup timer_heap Timer heap
/// @brief When an event loop must wake up, without a thread or a timer per connection.
/// @{

/// One connection's place in a TimerHeap: the deadline it wants now, and the earliest entry it
/// already has in the heap.
struct TimerSlot {
  Deadline deadline = kNoDeadline;  ///< when the connection must be looked at
  Deadline queued = kNoDeadline;    ///< the earliest entry pushed for it and not yet popped
};

/// A min-heap of (deadline, descriptor, serial) entries with lazy deletion.
///
/// A connection's deadline moves on every request, so instead of finding and updating its entry
/// the heap only gains an entry when a deadline moves *earlier* than every entry already queued
/// for it. When an entry comes due, the owner checks it against the connection: a closed
/// connection (another serial on that descriptor) or a deadline that moved later (schedule
/// again) makes the entry harmless. Each operation is O(log n); the heap holds at most a few
/// entries per connection. Not thread-safe: one heap belongs to one loop.
class TimerHeap {
 public:
  /// An entry of the heap. The serial tells a connection from an earlier one on the same fd.
  struct Entry {
    Deadline when;         ///< when the entry comes due
    int fd;                ///< the connection's descriptor
    std::uint64_t serial;  ///< the connection's serial
    /// Orders the heap: the earliest deadline on top.
    bool operator>(const Entry& other) const { return when > other.when; }
  };

  /// Records @p slot.deadline for (@p fd, @p serial): pushes an entry unless one at least as
  /// early is already queued.
  void schedule(TimerSlot& slot, int fd, std::uint64_t serial) {
    if (slot.deadline < slot.queued) {
      slot.queued = slot.deadline;
      heap_.push({slot.deadline, fd, serial});
    }
  }

  /// Pops every entry due at @p now and calls @p visit(entry) for each, in deadline order.
  /// @p visit may call schedule() (an entry pushed for the past is popped in this same call).
  template <typename Visit>
  void expire(Deadline now, Visit visit) {
    while (!heap_.empty() && heap_.top().when <= now) {
      const Entry entry = heap_.top();
      heap_.pop();
      visit(entry);
    }
  }

  /// The earliest deadline in the heap, or kNoDeadline.
  [[nodiscard]] Deadline next() const { return heap_.empty() ? kNoDeadline : heap_.top().when; }

  /// Entries in the heap, stale ones included.
  [[nodiscard]] std::size_t size() const { return heap_.size(); }

 private:
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
};

/// @}

}  // namespace common
