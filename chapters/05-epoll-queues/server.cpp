// Chapter 05: an epoll loop with work queues (AMPED, asymmetric multi-process event driven; in
// SEDA's words, two stages joined by queues).
//
// The model: chapter 04's loop still owns every socket and does all the I/O, but it no longer
// runs the handlers. The complete requests a connection has sent become one job in a bounded
// request queue, served by a pool of worker threads; the job's answers come back to the loop as
// a task posted with EventLoop::post(), whose eventfd wakes the loop to write them. No socket is
// ever touched by two threads: workers see bytes and produce responses, nothing else.
//
// What it fixes from chapter 04: a /sleep or a /compute blocks one worker, not the loop, so every
// other client is still read, written, timed out and answered. Handlers run on several cores.
//
// What it costs: two queue hand-offs and a wake-up per job (a GET / that chapter 04 answers in
// one pass now crosses two threads), and a lock on each queue. A connection has one job out at a
// time, so its pipelined answers come back together and in order: the price is that one
// client's pipelined /sleeps run one after another, on one worker. The I/O still runs on one
// thread: the server is multicore only for the handlers.

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "chapters/04-polling/event_loop.hpp"  // chapter 04's loop, plus a pool for the handlers
#include "common/app.hpp"
#include "common/chapter.hpp"
#include "common/http_parser.hpp"
#include "common/log.hpp"
#include "common/protocol.hpp"
#include "common/shutdown.hpp"
#include "common/stats.hpp"

namespace {

constexpr common::ChapterInfo kChapter{
    .name = "05-epoll-queues",
    .model = "epoll-queues",
    .summary = "Chapter 05: one epoll loop does the I/O; a pool of worker threads runs handlers.",
    .flags = common::kThreadsFlag,
};

// Jobs waiting for a worker, at most, per worker: a longer queue only adds latency.
constexpr std::size_t kJobsPerWorker = 64;
// Requests of one connection in one job, at most: a pipelined burst crosses to a worker and back
// once, and its answers leave together, in order.
constexpr std::size_t kMaxBatch = 16;

// The complete requests of one connection, on their way to a worker: where the answers go, and
// the requests' own bytes (the loop keeps reading into the buffer they came from).
struct Job {
  polling::ConnectionId id;
  std::string requests;
  std::size_t count = 0;
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

  bool full() {
    const std::lock_guard lock(mutex_);
    return jobs_.size() >= capacity_;
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

// The pool: the request queue, the workers, and the loop's end of both queues.
class Pool {
 public:
  Pool(const common::App& app, polling::EventLoop& loop, int workers)
      : app_(app), loop_(loop), requests_(kJobsPerWorker * static_cast<std::size_t>(workers)) {
    const common::StopSignalsBlocked blocked;  // SIGTERM comes to the loop's thread, main
    for (int i = 0; i < workers; ++i) {
      threads_.emplace_back([this] { work(); });
    }
  }

  // A /sleep in progress ends early on shutdown; then each worker finds the queue closed.
  ~Pool() {
    requests_.close();
    for (std::thread& thread : threads_) {
      thread.join();
    }
  }

  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  void offer(polling::ConnectionId id, common::Protocol& protocol);

 private:
  void work();
  void answered(polling::ConnectionId id, std::vector<common::Response> answers);

  const common::App& app_;
  polling::EventLoop& loop_;
  RequestQueue requests_;
  std::deque<polling::ConnectionId> refused_;  // the loop's thread only, oldest first
  std::vector<std::thread> threads_;
};

// [back-pressure]
// The loop's sink (it runs on the loop's thread). It takes up to kMaxBatch complete requests of
// the connection as one job. When the queue is full it leaves them: they stay in the
// connection's input, the loop stops reading that connection, and TCP flow control slows that
// client down: back-pressure, not a 503. The connection waits its turn here.
void Pool::offer(polling::ConnectionId id, common::Protocol& protocol) {
  const common::Protocol::Requests requests = protocol.ready_requests(kMaxBatch);
  if (requests.count == 0) {
    return;
  }
  if (!requests_.try_push({id, std::string(requests.bytes), requests.count})) {
    refused_.push_back(id);
    return;
  }
  protocol.take(requests);
}

// A job's answers, back on the loop's thread. A worker has taken a job, so the queue has room:
// the refused connections are offered their turn again, oldest first, while it lasts. Only the
// loop pushes, so the room seen here is still there when retry() offers the requests.
void Pool::answered(polling::ConnectionId id, std::vector<common::Response> answers) {
  loop_.answer(id, std::move(answers));
  while (!refused_.empty() && !requests_.full()) {
    const polling::ConnectionId next = refused_.front();
    refused_.pop_front();
    loop_.retry(next);
  }
}
// [back-pressure]

// [worker]
// A worker owns no socket. It parses the job's bytes again (the loop's parse pointed into the
// connection's buffer, which the loop keeps changing), runs each handler in turn, which may
// sleep or compute as long as it likes, and posts the answers to the loop.
void Pool::work() {
  common::RequestParser parser;
  while (std::optional<Job> job = requests_.pop()) {
    std::vector<common::Response> answers;
    std::string_view rest = job->requests;
    for (std::size_t i = 0; i < job->count; ++i) {
      parser.reset();
      const common::ParseResult parsed = parser.parse(rest);
      if (parsed.status != common::ParseStatus::kComplete) {
        answers.push_back(app_.reject(500));  // cannot happen: the loop parsed them
        break;
      }
      answers.push_back(app_.handle(parser.request()));
      rest.remove_prefix(parsed.consumed);
    }
    loop_.post([this, id = job->id, answers = std::move(answers)]() mutable {
      answered(id, std::move(answers));
    });
  }
}
// [worker]

int default_workers() {
  // Handlers block (that is the point of the pool), so the pool is sized for the blocking work it
  // must absorb, not for the cores: 16, or 4 per core on a larger machine. A request waits for a
  // worker only when every worker is busy.
  // [exercise:pool-size solution]
  return std::clamp(4 * common::usable_cpu_count(), 16, 64);
  // [exercise:pool-size start]
  // // One worker per core, as for work that only computes.
  // return common::usable_cpu_count();
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
  polling::EventLoop loop(app, options, common::open_listener(options));
  {
    Pool pool(app, loop, workers);
    loop.send_requests_to([&pool](polling::ConnectionId id, common::Protocol& protocol) {
      pool.offer(id, protocol);
    });
    common::log_info("%d worker threads", workers);
    common::announce_listening(options, loop.listener_fd());
    loop.run();
    common::log_info("shutting down");
  }  // ~Pool: the workers end
  return 0;
}
// [main]
