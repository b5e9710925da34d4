/// @file loop.hpp
/// @brief Chapter 11: an epoll loop that resumes the coroutine each event names.
#pragma once

#include <sys/epoll.h>

#include <coroutine>
#include <cstdint>
#include <vector>

#include "chapters/11-coroutines/task.hpp"
#include "common/fd.hpp"
#include "common/io.hpp"
#include "common/timer_heap.hpp"

namespace coro {

/// @defgroup coro_loop Loop and awaiters (chapter 11)
/// @brief Suspending a coroutine until its socket is ready, and resuming it when epoll says so.
///
/// Every descriptor a coroutine serves is registered once, edge-triggered for input and output
/// (Registration), so a wait costs no system call. The rule that makes edge-triggered readiness
/// safe is the caller's: *try before you wait*. A coroutine suspends for input only after a read
/// said EAGAIN, and for output only after a write did; an edge it was not waiting for may then be
/// dropped, since its next try finds what the edge announced. Not thread-safe: a loop, its
/// coroutines and their awaiters belong to one thread.
/// @{

class Loop;

/// How a wait ended.
struct Woken {
  common::Wait why = common::Wait::kReady;  ///< ready, the deadline passed, or shutdown began
  bool hung_up = false;  ///< since the last wake-up an event reported the peer's FIN, a hang-up
                         ///< or an error: the next read must go on to end of stream
};

// [awaiter]
/// What `co_await loop.readable(...)` (or writable(), until()) suspends on. The coroutine is
/// resumed by the loop, exactly once: when its descriptor reports one of the events asked for,
/// when the deadline passes, or when shutdown begins (only the first wait after it says so).
class [[nodiscard]] Awaiter {
 public:
  /// Waits on @p loop for @p events (EPOLLIN, EPOLLOUT) of @p fd, until @p deadline.
  Awaiter(Loop& loop, int fd, std::uint32_t events, common::Deadline deadline) noexcept
      : loop_(loop), fd_(fd), events_(events), deadline_(deadline) {}

  /// Never ready at once: the caller has just tried the system call and met EAGAIN.
  bool await_ready() const noexcept { return false; }
  /// Leaves @p frame's handle in the descriptor's slot, and its deadline in the timer heap. Does
  /// not suspend (returns false) if shutdown began and this frame was not told yet.
  bool await_suspend(std::coroutine_handle<> frame) noexcept;
  /// Why the frame was resumed.
  Woken await_resume() const noexcept;

 private:
  Loop& loop_;
  int fd_;
  std::uint32_t events_;
  common::Deadline deadline_;
};
// [awaiter]

// [registration]
/// A descriptor served by one coroutine, owned by that coroutine's frame: registered with the
/// loop while the frame lives, and closed when the frame ends. This is the lifetime rule that
/// keeps an event from resuming a destroyed frame: the frame's handle sits in the loop only while
/// it is suspended (the loop takes it out as it resumes it), and the frame's end takes the
/// descriptor out of the loop (and closes it) before its memory is freed. A later event for the
/// same descriptor number names another registration (a serial tells them apart), not this frame.
class Registration {
 public:
  /// Registers @p fd with @p loop, edge-triggered for input and output.
  Registration(Loop& loop, common::Fd fd);
  /// Forgets the descriptor in the loop, then closes it (and epoll drops it).
  ~Registration();
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

  /// The descriptor.
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }

 private:
  Loop& loop_;
  common::Fd fd_;
};
// [registration]

/// One epoll loop on one thread: it starts coroutines, and resumes each one when what it waits
/// for happens. Runs until shutdown is requested and every coroutine it started has returned.
class Loop {
 public:
  /// An epoll instance watching the shutdown eventfd. Throws std::system_error at start-up.
  Loop();

  /// Starts @p task on this thread now: it runs until its first co_await, and from then on the
  /// loop resumes it. Its frame then owns itself (see Task).
  void spawn(Task task) { task.release().resume(); }

  /// Waits for events, resumes the frames they name, expires deadlines; returns once shutdown
  /// has begun and every registered descriptor is gone.
  void run();

  /// Awaitable: @p fd readable (or hung up), the deadline, or shutdown.
  [[nodiscard]] Awaiter readable(int fd, common::Deadline deadline) noexcept {
    return {*this, fd, EPOLLIN | EPOLLRDHUP, deadline};
  }
  /// Awaitable: @p fd writable, or readable too if @p or_readable; the deadline, or shutdown.
  [[nodiscard]] Awaiter writable(int fd, common::Deadline deadline, bool or_readable) noexcept {
    return {*this, fd, EPOLLOUT | (or_readable ? EPOLLIN | EPOLLRDHUP : 0u), deadline};
  }
  /// Awaitable: only the deadline (or shutdown) ends it. @p fd is the caller's registration.
  [[nodiscard]] Awaiter until(int fd, common::Deadline deadline) noexcept {
    return {*this, fd, 0, deadline};
  }

 private:
  friend class Awaiter;
  friend class Registration;

  // [slot]
  // One descriptor's place in the loop: the frame suspended on it, what for, and until when.
  struct Slot {
    std::coroutine_handle<> waiter;  // the suspended frame; null while it runs or is gone
    std::uint32_t events = 0;        // what it waits for
    std::uint32_t serial = 0;        // this registration, told from earlier ones on the fd
    bool registered = false;
    bool told_shutdown = false;  // it was resumed once with kShutdown
    bool hung_up = false;        // an event reported FIN, hang-up or error since the last wake
    Woken woken;                 // why it was last resumed
    common::TimerSlot timer;
  };
  // [slot]

  void watch(int fd);
  void forget(int fd) noexcept;
  bool suspend(int fd, std::uint32_t events, common::Deadline deadline,
               std::coroutine_handle<> frame) noexcept;
  void dispatch(const epoll_event& event);
  void wake(Slot& slot, common::Wait why);
  void expire_timers();
  void begin_shutdown();

  common::Fd epoll_;
  std::vector<Slot> slots_;  // indexed by descriptor
  common::TimerHeap timers_;
  std::size_t live_ = 0;  // registered descriptors: the coroutines still running
  std::uint32_t next_serial_ = 0;
  bool stopping_ = false;
};

/// @}

}  // namespace coro
