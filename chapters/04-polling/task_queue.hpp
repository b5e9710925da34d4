/// @file task_queue.hpp
/// @brief Chapter 04: work handed to a loop's thread from other threads, with one wake-up.
#pragma once

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "common/fd.hpp"

namespace polling {

/// @defgroup polling_tasks Task queue (chapter 04)
/// @brief The one way into a loop from another thread: a queue of functors and an eventfd.
/// @{

/// A piece of work for the loop's thread: any callable, including one that owns a descriptor or a
/// response (std::function would need it to be copyable).
class Task {
 public:
  /// Wraps @p work, which is called once, with no arguments, by operator().
  template <typename Work>
  Task(Work work) : work_(std::make_unique<Holder<Work>>(std::move(work))) {}  // NOLINT: implicit
  /// Runs the work.
  void operator()() { work_->run(); }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual void run() = 0;
  };
  template <typename Work>
  struct Holder final : Base {
    explicit Holder(Work w) : work(std::move(w)) {}
    void run() override { work(); }
    Work work;
  };
  std::unique_ptr<Base> work_;
};

/// Tasks for one thread, posted by any thread. Its consumer sleeps in epoll_wait, not on a
/// condition variable, so a post wakes it through an eventfd in its epoll set, written only by
/// the post that finds the queue empty: a burst of posts costs one wake-up.
class TaskQueue {
 public:
  /// Throws std::system_error if the eventfd cannot be made.
  TaskQueue();

  /// Queues @p task. Thread-safe.
  void post(Task task);

  /// Runs every task queued, in the order posted. The consumer's thread only: call it when fd()
  /// is readable.
  void run_all();

  /// The eventfd to watch for readability (level-triggered).
  [[nodiscard]] int fd() const noexcept { return wake_.get(); }

 private:
  common::Fd wake_;
  std::mutex mutex_;
  std::vector<Task> tasks_;  // guarded by mutex_
};

/// @}

}  // namespace polling
