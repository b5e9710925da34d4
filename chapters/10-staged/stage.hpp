/// @file stage.hpp
/// @brief Chapter 10: a stage: a bounded queue of events, a pool of threads that takes them in
/// batches, and the controllers that size both.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "chapters/04-polling/connection.hpp"

/// Chapter 10's stages (SEDA): modules joined by bounded queues, each with its own pool.
namespace staged {

/// @defgroup staged_stage Stage (chapter 10)
/// @brief One stage of a staged server: a bounded event queue, a pool that takes its events in
/// batches, a thread-pool controller and a batching controller, and admission control.
/// @{

/// The event of a handler stage: complete requests of one connection, as bytes (the I/O stage
/// keeps reading into the buffer they came from), and the connection their answers go back to.
struct Job {
  polling::ConnectionId id;  ///< the connection, on the I/O stage's loop
  std::string requests;      ///< the requests' bytes, in order
  std::size_t count = 0;     ///< how many
};

/// How large a stage may grow.
struct StageLimits {
  std::size_t capacity = 64;   ///< events queued at most: one more is refused (admission control)
  int max_threads = 1;         ///< the pool's ceiling; it starts with one thread
  std::size_t max_batch = 16;  ///< events one thread takes at once, at most
};

// [stage]
/// A stage. Any thread may offer it events; its own threads take them in batches and run the
/// stage's handler on each. Two controllers size it as it runs (adjust()): the pool grows by a
/// thread each tick while the queue stays longer than the threads that serve it, up to
/// max_threads, and a thread that finds no event for kRetireAfter retires (one always stays); the
/// batch doubles while the backlog is long and halves as it drains. Thread-safe.
class Stage {
 public:
  /// What the stage does with each event, on one of its threads.
  using Handler = std::function<void(Job&)>;

  /// A stage called @p name, sized by @p limits, running @p handler; starts its first thread.
  Stage(std::string name, StageLimits limits, Handler handler);
  /// Closes the queue (what is still queued is dropped: shutdown is over), then joins every
  /// thread once it has finished the batch it holds.
  ~Stage();
  Stage(const Stage&) = delete;
  Stage& operator=(const Stage&) = delete;

  /// Admission control: queues @p job, or refuses it at once (false) when the queue is full,
  /// counting the refusal. Never waits.
  [[nodiscard]] bool offer(Job job);

  /// The controllers' tick (a Controller thread calls it every kTick): grows the pool, reaps
  /// retired threads, sizes the batch.
  void adjust();

  /// Appends the stage's figures as a JSON object: name, queued, threads, batch, processed,
  /// refused, and service_us (a moving average of the time one event takes).
  void report(std::string& json) const;

  /// How often the controllers look at the stage.
  static constexpr std::chrono::milliseconds kTick{50};
  /// How long a thread waits for an event before it retires.
  static constexpr std::chrono::milliseconds kRetireAfter{2000};

 private:
  void start_thread();  // under mutex_
  void work();
  void account(std::chrono::steady_clock::duration took) noexcept;

  const std::string name_;
  const StageLimits limits_;
  const Handler handler_;

  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Job> queue_;
  std::vector<std::thread> threads_;      // running, or retired and not yet joined
  std::vector<std::thread::id> retired_;  // threads that ended, to be joined
  int running_ = 0;                       // threads not retired
  int idle_ = 0;                          // threads waiting for an event
  int long_ticks_ = 0;                    // ticks in a row with a queue longer than running_
  std::size_t batch_ = 1;
  bool closed_ = false;

  std::atomic<std::uint64_t> processed_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::int64_t> service_ns_{0};  // exponentially weighted, 1/8 per event
};
// [stage]

// [controller]
/// The thread that ticks every stage's controllers, from start to shutdown.
class Controller {
 public:
  /// Starts ticking @p stages, every Stage::kTick.
  explicit Controller(std::vector<Stage*> stages);
  /// Stops the thread.
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

 private:
  std::vector<Stage*> stages_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::jthread thread_;
};
// [controller]

/// @}

}  // namespace staged
