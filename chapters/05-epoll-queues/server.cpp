// Chapter 05: an epoll loop with work queues (AMPED, asymmetric multi-process event driven; in
// SEDA's words, two stages joined by queues).
//
// The model: chapter 04's loop still owns every socket and does all the I/O, but it no longer
// runs the handlers. Each complete request goes into a bounded request queue served by a pool of
// worker threads; each finished response comes back through a completion queue, and an eventfd
// wakes the loop to write it. No socket is ever touched by two threads: workers see bytes and
// produce responses, nothing else.
//
// What it fixes from chapter 04: a /sleep or a /compute blocks one worker, not the loop, so every
// other client is still read, written, timed out and answered. Handlers run on several cores.
//
// What it costs: two queue hand-offs and a wake-up per request (a GET / that chapter 04 answers
// in one pass now crosses two threads), a lock on each queue, and the ordering problem: workers
// finish in any order, but pipelined answers must leave in request order, so the loop keeps a
// slot per request in flight (common::Connection::awaiting). The I/O still runs on one thread:
// the server is multicore only for the handlers.

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "common/app.hpp"
#include "common/chapter.hpp"
#include "common/event_loop.hpp"
#include "common/fd.hpp"
#include "common/http_parser.hpp"
#include "common/log.hpp"
#include "common/shutdown.hpp"
#include "common/stats.hpp"

namespace {

constexpr common::ChapterInfo kChapter{
    .name = "05-epoll-queues",
    .model = "epoll-queues",
    .summary = "Chapter 05: one epoll loop does the I/O; a pool of worker threads runs handlers.",
    .flags = common::kThreadsFlag,
};

// Requests waiting for a worker, at most, per worker: a longer queue only adds latency. When the
// queue is full the loop stops taking requests from the connection that hit the limit (its bytes
// stay in its buffer, and TCP flow control slows the client down) and tries again when a worker
// finishes: back-pressure, not a 503.
constexpr std::size_t kJobsPerWorker = 64;

// A request on its way to a worker: where the answer goes, and the request's own bytes.
struct Job {
  common::Ticket ticket;
  std::string request;
};

// A response on its way back to the loop.
struct Done {
  common::Ticket ticket;
  common::Response response;
};

// [request-queue]
// Many workers pop; only the loop pushes, and it never waits: a full queue says so at once.
class RequestQueue {
 public:
  explicit RequestQueue(std::size_t capacity) : capacity_(capacity) {}

  bool try_push(Job job) {
    {
      const std::lock_guard lock(mutex_);
      // [exercise:queue-bound solution]
      if (jobs_.size() >= capacity_) {
        return false;
      }
      // [exercise:queue-bound start]
      // // Always room: the queue grows as long as clients send.
      // [exercise:queue-bound end]
      jobs_.push_back(std::move(job));
    }
    ready_.notify_one();
    return true;
  }

  // Waits for a job; nullopt once the queue is closed and empty.
  std::optional<Job> pop() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [this] { return !jobs_.empty() || closed_; });
    if (jobs_.empty()) {
      return std::nullopt;
    }
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    return job;
  }

  void close() {
    {
      const std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Job> jobs_;
  const std::size_t capacity_;
  bool closed_ = false;
};
// [request-queue]

// [completion-queue]
// Workers push; the loop drains. The loop sleeps in epoll_wait, not on a condition variable, so
// the wake-up is an eventfd in its epoll set, written only when the queue turns non-empty (one
// write per batch of completions, not one per response).
class CompletionQueue {
 public:
  CompletionQueue() : wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (!wake_) {
      throw std::system_error(errno, std::generic_category(), "eventfd");
    }
  }

  void push(Done done) {
    bool was_empty = false;
    {
      const std::lock_guard lock(mutex_);
      was_empty = items_.empty();
      items_.push_back(std::move(done));
    }
    if (was_empty) {
      const std::uint64_t one = 1;
      static_cast<void>(::write(wake_.get(), &one, sizeof one));  // EAGAIN: it is readable
    }
  }

  // Takes everything queued. The eventfd is read *before* the swap: a push after the swap then
  // writes it again, so no completion can be left behind without a wake-up.
  std::vector<Done> drain() {
    std::uint64_t count = 0;
    static_cast<void>(::read(wake_.get(), &count, sizeof count));
    std::vector<Done> taken;
    const std::lock_guard lock(mutex_);
    taken.swap(items_);
    return taken;
  }

  [[nodiscard]] int fd() const noexcept { return wake_.get(); }

 private:
  common::Fd wake_;
  std::mutex mutex_;
  std::vector<Done> items_;
};
// [completion-queue]

// [worker]
// A worker owns no socket. It parses the request's bytes again (the loop's parse pointed into
// the connection's buffer, which the loop keeps changing), runs the handler, which may sleep or
// compute as long as it likes, and sends the response back.
void work(const common::App& app, RequestQueue& requests, CompletionQueue& completions) {
  common::RequestParser parser;
  while (std::optional<Job> job = requests.pop()) {
    parser.reset();
    const common::ParseResult parsed = parser.parse(job->request);
    common::Response response = parsed.status == common::ParseStatus::kComplete
                                    ? app.handle(parser.request())
                                    : app.reject(500);  // cannot happen: the loop parsed it
    completions.push({job->ticket, std::move(response)});
  }
}
// [worker]

int default_workers() {
  // Handlers block (that is the point of the pool), so the pool is sized for the blocking work it
  // must absorb, not for the cores: 16, or 4 per core on a larger machine. A request waits for a
  // worker only when every worker is busy.
  // [exercise:pool-size solution]
  return static_cast<int>(std::clamp(4 * std::thread::hardware_concurrency(), 16u, 64u));
  // [exercise:pool-size start]
  // // One worker per core, as for work that only computes.
  // return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // [exercise:pool-size end]
}

}  // namespace

// [main]
int main(int argc, char** argv) {
  const common::Options options = common::parse_options(argc, argv, kChapter);
  common::init_process(kChapter);
  common::raise_descriptor_limit();
  const int workers = options.threads > 0 ? options.threads : default_workers();
  common::Stats stats;
  const common::App app(options, kChapter, stats, workers);
  common::EventLoop loop(app, options, common::open_listener(options));
  RequestQueue requests(kJobsPerWorker * static_cast<std::size_t>(workers));
  CompletionQueue completions;

  // The loop's two ends of the queues: requests leave through try_push, answers come back when
  // the eventfd says so. Both run on this thread, the loop's.
  loop.hand_off_requests([&requests](const common::Ticket& ticket, std::string_view raw) {
    return requests.try_push({ticket, std::string(raw)});
  });
  loop.watch_readable(completions.fd(), [&loop, &completions] {
    for (Done& done : completions.drain()) {
      loop.complete(done.ticket, std::move(done.response));
    }
  });

  std::vector<std::thread> pool;
  {
    const common::StopSignalsBlocked blocked;  // SIGTERM comes to the loop's thread, this one
    for (int i = 0; i < workers; ++i) {
      pool.emplace_back(work, std::cref(app), std::ref(requests), std::ref(completions));
    }
  }
  common::log_info("%d worker threads", workers);
  common::announce_listening(options, loop.listener_fd());
  loop.run();
  common::log_info("shutting down");
  requests.close();  // a sleeping handler wakes up on shutdown; then the workers end
  for (std::thread& thread : pool) {
    thread.join();
  }
  return 0;
}
// [main]
