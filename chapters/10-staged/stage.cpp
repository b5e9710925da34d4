#include "chapters/10-staged/stage.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <utility>

namespace staged {

Stage::Stage(std::string name, StageLimits limits, Handler handler)
    : name_(std::move(name)), limits_(limits), handler_(std::move(handler)) {
  const std::lock_guard lock(mutex_);
  start_thread();
}

Stage::~Stage() {
  std::vector<std::thread> threads;
  {
    const std::lock_guard lock(mutex_);
    closed_ = true;
    queue_.clear();  // their connections are closed: shutdown is over when a stage is destroyed
    threads = std::move(threads_);
  }
  ready_.notify_all();
  for (std::thread& thread : threads) {
    thread.join();
  }
}

// [admission]
// Admission control, SEDA's third controller: a full queue refuses at once, so that a request
// waits in a queue only as long as the queue is short, and the caller can answer 503 now instead
// of letting the client wait for an answer that would come too late.
bool Stage::offer(Job job) {
  {
    const std::lock_guard lock(mutex_);
    // [exercise:admission-control solution]
    if (queue_.size() >= limits_.capacity) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    // [exercise:admission-control start]
    // // Always room: the queue grows as long as clients send.
    // [exercise:admission-control end]
    queue_.push_back(std::move(job));
  }
  ready_.notify_one();
  return true;
}
// [admission]

// [work]
// A thread of the stage: take a batch, run the handler on each event outside the lock, repeat.
// A thread that waits kRetireAfter for nothing retires, unless it is the last.
void Stage::work() {
  std::vector<Job> batch;
  std::unique_lock lock(mutex_);
  for (;;) {
    ++idle_;
    const bool woken =
        ready_.wait_for(lock, kRetireAfter, [this] { return !queue_.empty() || closed_; });
    --idle_;
    if (closed_ || (!woken && running_ > 1)) {
      --running_;
      retired_.push_back(std::this_thread::get_id());  // adjust() joins it
      return;
    }
    const std::size_t take = std::min(batch_, queue_.size());
    for (std::size_t i = 0; i < take; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    for (Job& job : batch) {
      const auto start = std::chrono::steady_clock::now();
      handler_(job);
      account(std::chrono::steady_clock::now() - start);
    }
    processed_.fetch_add(batch.size(), std::memory_order_relaxed);
    batch.clear();
    lock.lock();
  }
}

void Stage::start_thread() {
  ++running_;
  threads_.emplace_back([this] { work(); });
}

// A moving average of the service time: each event moves it an eighth of the way. Threads race
// on it, and an update may be lost: it is a figure for /stats, not a counter.
void Stage::account(std::chrono::steady_clock::duration took) noexcept {
  const std::int64_t sample = std::chrono::duration_cast<std::chrono::nanoseconds>(took).count();
  const std::int64_t old = service_ns_.load(std::memory_order_relaxed);
  service_ns_.store(old == 0 ? sample : old + (sample - old) / 8, std::memory_order_relaxed);
}
// [work]

// [controllers]
void Stage::adjust() {
  std::vector<std::thread> ended;
  {
    const std::lock_guard lock(mutex_);
    if (closed_) {
      return;
    }
    // The thread-pool controller: a queue that stays longer than the threads serving it (two
    // ticks in a row, with none of them idle) gets one more thread per tick, up to the ceiling.
    const bool long_queue = queue_.size() > static_cast<std::size_t>(running_) && idle_ == 0;
    long_ticks_ = long_queue ? long_ticks_ + 1 : 0;
    // [exercise:pool-controller solution]
    if (long_ticks_ >= 2 && running_ < limits_.max_threads) {
      start_thread();
    }
    // [exercise:pool-controller start]
    // // The pool keeps the one thread it started with.
    // [exercise:pool-controller end]
    // The batching controller, in a simple form: a backlog of two batches per thread doubles the
    // batch (fewer lock round trips per event); a queue shorter than the pool halves it again.
    const std::size_t per_round = batch_ * static_cast<std::size_t>(running_);
    if (queue_.size() >= 2 * per_round) {
      batch_ = std::min(batch_ * 2, limits_.max_batch);
    } else if (queue_.size() < static_cast<std::size_t>(running_)) {
      batch_ = std::max<std::size_t>(1, batch_ / 2);
    }
    // The threads that retired since the last tick.
    for (auto it = threads_.begin(); it != threads_.end();) {
      if (std::find(retired_.begin(), retired_.end(), it->get_id()) != retired_.end()) {
        ended.push_back(std::move(*it));
        it = threads_.erase(it);
      } else {
        ++it;
      }
    }
    retired_.clear();
  }
  for (std::thread& thread : ended) {
    thread.join();  // it has left work(): the join does not wait for the lock
  }
}
// [controllers]

void Stage::report(std::string& json) const {
  std::size_t queued = 0;
  std::size_t batch = 0;
  int threads = 0;
  {
    const std::lock_guard lock(mutex_);
    queued = queue_.size();
    batch = batch_;
    threads = running_;
  }
  char text[256];
  const int n = std::snprintf(
      text, sizeof text,
      "{\"name\":\"%s\",\"queued\":%zu,\"threads\":%d,\"batch\":%zu,\"processed\":%" PRIu64
      ",\"refused\":%" PRIu64 ",\"service_us\":%" PRId64 "}",
      name_.c_str(), queued, threads, batch, processed_.load(std::memory_order_relaxed),
      refused_.load(std::memory_order_relaxed), service_ns_.load(std::memory_order_relaxed) / 1000);
  json.append(text, static_cast<std::size_t>(std::max(n, 0)));
}

Controller::Controller(std::vector<Stage*> stages)
    : stages_(std::move(stages)), thread_([this](const std::stop_token& stop) {
        std::unique_lock lock(mutex_);
        while (!wake_.wait_for(lock, stop, Stage::kTick, [] { return false; }) &&
               !stop.stop_requested()) {
          for (Stage* stage : stages_) {
            stage->adjust();
          }
        }
      }) {}

Controller::~Controller() {
  thread_.request_stop();  // wakes the wait; ~jthread joins
}

}  // namespace staged
