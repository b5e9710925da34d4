/// @file task.hpp
/// @brief Chapter 11: a coroutine that its loop starts, and that frees its own frame when done.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <utility>

/// Chapter 11's coroutine runtime: a task type, a loop that resumes what epoll reports, and the
/// awaiters that suspend a coroutine until its socket is ready or its deadline passes.
namespace coro {

/// @defgroup coro_task Task (chapter 11)
/// @brief Who owns a coroutine's frame.
/// @{

/// @cond DETAIL
namespace detail {
// The largest frame operator new was asked for: a connection's (serve()), since it is the
// biggest coroutine of the chapter; and how many frames it allocated. Relaxed: figures for
// /stats, not a synchronisation point.
inline std::atomic<std::size_t> largest_frame{0};
inline std::atomic<std::uint64_t> frames_allocated{0};
}  // namespace detail
/// @endcond

// [task]
/// The return type of a coroutine the loop runs: a connection's serve(), a listener's accept
/// loop. Lazy: its body does not start until Loop::spawn() resumes it the first time. Until then
/// the Task owns the frame (a Task destroyed unstarted frees it); from then on the frame owns
/// itself: final_suspend() does not suspend, so the frame is freed the moment the body returns.
/// Nothing may keep its handle after that: the loop forgets a frame's handle as it resumes it,
/// and the frame's Registration takes its descriptor out of the loop as the body returns.
class [[nodiscard]] Task {
 public:
  /// What the compiler needs to build a Task coroutine.
  struct promise_type {
    /// The Task the coroutine's caller gets.
    Task get_return_object() noexcept {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    /// Lazy: the body waits for Loop::spawn().
    std::suspend_always initial_suspend() const noexcept { return {}; }
    /// Self-freeing: the frame is destroyed as the body returns.
    std::suspend_never final_suspend() const noexcept { return {}; }
    /// A Task returns nothing.
    void return_void() const noexcept {}
    /// An exception that leaves a connection's body ends the process, as in every chapter.
    void unhandled_exception() const noexcept { std::terminate(); }

    /// The frame's memory: counted, so that what a connection costs is measured, not guessed.
    static void* operator new(std::size_t bytes) {
      detail::frames_allocated.fetch_add(1, std::memory_order_relaxed);
      std::size_t seen = detail::largest_frame.load(std::memory_order_relaxed);
      while (bytes > seen &&
             !detail::largest_frame.compare_exchange_weak(seen, bytes, std::memory_order_relaxed)) {
      }
      return ::operator new(bytes);
    }
    /// Gives the frame's memory back. (The unsized form: clang does not provide the sized global
    /// operator delete unless built with -fsized-deallocation.)
    static void operator delete(void* frame) noexcept { ::operator delete(frame); }
  };

  /// Takes over @p other's unstarted frame.
  Task(Task&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
  Task& operator=(Task&&) = delete;
  /// Frees the frame if it was never started.
  ~Task() {
    if (frame_) {
      frame_.destroy();  // never started: nobody else knows the frame
    }
  }

  /// Gives the frame up: from now on it owns itself. The caller resumes it once to start it.
  [[nodiscard]] std::coroutine_handle<> release() noexcept { return std::exchange(frame_, {}); }

 private:
  explicit Task(std::coroutine_handle<promise_type> frame) noexcept : frame_(frame) {}

  std::coroutine_handle<promise_type> frame_;
};
// [task]

/// The size of the largest coroutine frame allocated so far, in bytes: a connection's frame, once
/// a client has connected.
[[nodiscard]] inline std::size_t largest_frame() noexcept {
  return detail::largest_frame.load(std::memory_order_relaxed);
}

/// How many coroutine frames operator new has allocated: one per connection and one per
/// listener if the compiler never elides the allocation (it cannot: a frame outlives the call that
/// started it).
[[nodiscard]] inline std::uint64_t frames_allocated() noexcept {
  return detail::frames_allocated.load(std::memory_order_relaxed);
}

/// @}

}  // namespace coro
