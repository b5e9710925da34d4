// Chapter 03: thread per connection.
//
// The model: the main thread only accepts. Each connection gets a std::thread of its own, which
// serves it with the same per-connection code as chapters 01 and 02 and then ends.
//
// What it fixes from chapter 02: a thread is much cheaper to start than a process (no copy of
// the page tables, no copy-on-write faults afterwards), and all threads share one address space,
// so /stats needs no shared mapping and there are no children to reap or to pass SIGTERM to:
// one process receives the signal and every thread sees the same flag.
//
// What it costs: sharing is now the default, so every shared object needs synchronisation, and
// the classic bug of this model (handing a thread a pointer to the accept loop's variable) is
// one character away; the README shows it. Each client still holds a thread, with its stack
// and a kernel task, for as long as it stays connected: many idle or slow clients (slowloris)
// exhaust threads, which is why --max-clients caps them.
//
// The usual next step is a pool of threads started in advance; the chapters after this one
// stop tying a flow of control to each client at all.

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include <poll.h>

#include "chapters/01-iterative/serve.hpp"  // a thread serves exactly as chapter 01 does
#include "common/app.hpp"
#include "common/chapter.hpp"
#include "common/io.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/shutdown.hpp"

namespace {

constexpr common::ChapterInfo kChapter{
    .name = "03-threading",
    .model = "thread-per-connection",
    .summary = "Chapter 03: the main thread accepts and starts a thread per connection.",
    .flags = common::kMaxClientsFlag,
};

// After SIGTERM, how long main waits for connection threads to finish the responses in flight.
// The protocol promises exit within 2 s.
constexpr auto kThreadsGrace = std::chrono::milliseconds(1700);
// A condition variable cannot wait on the shutdown eventfd, so a wait for a free slot wakes up
// this often to look at the shutdown flag.
constexpr auto kShutdownCheck = std::chrono::milliseconds(100);

// [live-threads]
// The number of live connection threads, shared by main and every connection thread: the one
// shared, mutable object of this chapter, so a mutex guards it.
class LiveThreads {
 public:
  explicit LiveThreads(int max) : max_(max) {}

  // Waits until fewer than max threads are live, then counts one more. False on shutdown.
  bool acquire() {
    // [exercise:max-clients solution]
    std::unique_lock lock(mutex_);
    while (!changed_.wait_for(lock, kShutdownCheck, [this] { return live_ < max_; })) {
      if (common::shutdown_requested()) {
        return false;
      }
    }
    ++live_;
    return true;
    // [exercise:max-clients start]
    // // Counts the thread, and never waits: no cap at all.
    // const std::lock_guard lock(mutex_);
    // ++live_;
    // return true;
    // [exercise:max-clients end]
  }

  // Counts one thread less. Notifying under the lock matters: once main sees 0 it may return
  // and destroy this object, so the thread must not touch it after the unlock.
  void release() {
    const std::lock_guard lock(mutex_);
    --live_;
    changed_.notify_all();
  }

  // Waits until every thread is done or @p deadline passes; returns how many are still live.
  int wait_all(common::Deadline deadline) {
    std::unique_lock lock(mutex_);
    changed_.wait_until(lock, deadline, [this] { return live_ == 0; });
    return live_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int live_ = 0;
  const int max_;
};
// [live-threads]

// [spawn]
// Serves @p client on a new, detached thread that owns it.
void spawn_thread(common::Fd client, const common::App& app, const common::Options& options,
                  LiveThreads& live) {
  try {
    // The descriptor moves into the lambda: the thread owns its own Fd, by value. Capturing
    // &client instead would hand the thread a reference to this function's variable, which is
    // gone (or reused by the next accept) by the time the thread reads it: see the README.
    // app and options are shared by reference: they outlive every thread (main waits) and
    // are only read, App's counters being atomics.
    std::thread([client = std::move(client), &app, &options, &live]() mutable {
      iterative::serve_connection(std::move(client), app, options);
      live.release();  // the last touch of anything shared
    }).detach();
  } catch (const std::system_error& e) {
    // No thread (EAGAIN: a thread or memory limit). The lambda, and with it the client, is
    // already destroyed, which closed the connection.
    live.release();
    common::log_warn("std::thread: %s; connection dropped", e.what());
    common::back_off_after_emfile();
  }
}
// [spawn]

// [accept-loop]
void serve_forever(int listener, const common::App& app, const common::Options& options,
                   LiveThreads& live) {
  while (!common::shutdown_requested()) {
    // At the --max-clients cap, wait for a thread to finish before accepting: new clients wait
    // in the kernel's backlog meanwhile.
    if (!live.acquire()) {
      return;
    }
    if (common::wait_for(listener, POLLIN, common::kNoDeadline) != common::Wait::kReady) {
      live.release();
      continue;
    }
    if (std::optional<common::Fd> client = common::accept_or_back_off(listener)) {
      spawn_thread(std::move(*client), app, options, live);
      continue;  // the slot now belongs to the thread
    }
    live.release();  // no thread was started: give the slot back
  }
}
// [accept-loop]

}  // namespace

// [main]
int main(int argc, char** argv) {
  const common::Options options = common::parse_options(argc, argv, kChapter);
  common::init_process(kChapter);
  const common::Fd listener = common::open_listener(options);
  common::Stats stats;  // one address space: ordinary atomics are seen by every thread
  // /stats "workers": the most threads that may serve clients at once.
  const common::App app(options, kChapter, stats, /*workers=*/options.max_clients);
  LiveThreads live(options.max_clients);
  common::announce_listening(options, listener.get());

  serve_forever(listener.get(), app, options, live);
  common::log_info("shutting down");
  // [exercise:drain-threads solution]
  // Every connection thread sees the shutdown eventfd in its polls: idle ones close at once,
  // busy ones finish the response in flight. Wait for them, but not forever.
  if (const int left = live.wait_all(common::Clock::now() + kThreadsGrace); left > 0) {
    // Returning would destroy app and options under the threads still using them: leave
    // without running any destructor instead.
    common::log_warn("%d connection threads did not finish in time", left);
    std::_Exit(0);
  }
  // [exercise:drain-threads start]
  // // The connection threads are detached: main has nothing to wait for.
  // [exercise:drain-threads end]
  return 0;
}
// [main]
