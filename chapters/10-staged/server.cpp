// Chapter 10: SEDA, the staged event-driven architecture.
//
// The model: the server is a chain of stages, each a module with a bounded queue of events and a
// pool of threads of its own (Welsh, Culler and Brewer, SOSP 2001). Here: an accept stage (chapter
// 07's acceptor thread) hands connections to the I/O stage (chapter 04's loop: it reads, parses,
// and writes); the I/O stage sends each batch of complete requests to the handler stage of its
// kind of work (fast, files, compute, sleep); that stage's threads answer it and queue the
// answers back to the I/O stage, whose thread writes them. Each handler stage sizes its own pool
// and its batches as it runs (stage.hpp), and refuses work at once when its queue is full: the
// client gets 503 with Retry-After instead of a wait.
//
// What it fixes from chapter 05: chapter 05 has one pool and one queue for every kind of work, so
// a flood of /sleep fills them both and everything else waits behind it. Here a flood of /sleep
// fills the sleep stage only, and is refused there, while GET / and static files flow through
// stages of their own. Load becomes visible per stage (GET /stats), and a server past its
// capacity answers promptly, with 503 for what it cannot take, instead of queueing without bound.
//
// What it costs: a queue and a thread hand-off per stage per request, even for a GET / that takes
// a microsecond; the page measures it against chapters 04 and 05. Welsh's own retrospective says
// the stages on the latency path should share one thread: with --grouped the I/O stage answers
// the cheap requests itself, and only slow work crosses a queue.
//
// The chapter is three files: stage.{hpp,cpp}, a stage and its controllers, and this one, which
// builds the stages and the router that joins them.

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "chapters/04-polling/event_loop.hpp"       // chapter 04's loop, as the I/O stage
#include "chapters/07-pinned-handoff/acceptor.hpp"  // chapter 07's acceptor, as the accept stage
#include "chapters/10-staged/stage.hpp"
#include "common/app.hpp"
#include "common/chapter.hpp"
#include "common/http_parser.hpp"
#include "common/log.hpp"
#include "common/protocol.hpp"
#include "common/shutdown.hpp"
#include "common/stats.hpp"

namespace {

using common::Clock;
using staged::Job;
using staged::Stage;

constexpr common::ChapterInfo kChapter{
    .name = "10-staged",
    .model = "staged",
    .summary = "Chapter 10: stages joined by bounded queues, each with its own pool (SEDA).",
    .flags = common::kThreadsFlag | common::kGroupedFlag,
};

constexpr std::size_t kMaxBatch = 16;           // requests of one connection in one event, at most
constexpr std::chrono::seconds kRetryAfter{1};  // what a refused client is told to wait

// [answer]
// What a handler stage does with a job: parse its requests again (the I/O stage parsed them in a
// buffer it keeps reading into), answer each in turn, and queue the answers for the I/O stage,
// whose thread writes them. That queue (chapter 04's task queue) is the write stage's.
std::vector<common::Response> answer_all(const common::App& app, std::string_view requests,
                                         std::size_t count) {
  thread_local common::RequestParser parser;  // one per thread of every stage
  std::vector<common::Response> answers;
  for (std::size_t i = 0; i < count; ++i) {
    parser.reset();
    const common::ParseResult parsed = parser.parse(requests);
    if (parsed.status != common::ParseStatus::kComplete) {
      answers.push_back(app.reject(500));  // cannot happen: the I/O stage parsed them
      break;
    }
    answers.push_back(app.handle(parser.request()));
    requests.remove_prefix(parsed.consumed);
  }
  return answers;
}

void answer_job(const common::App& app, polling::EventLoop& io, Job& job) {
  io.post([&io, id = job.id, answers = answer_all(app, job.requests, job.count)]() mutable {
    io.answer(id, std::move(answers));
  });
}
// [answer]

// [stages]
// The handler stages, one per kind of work. Cheap and CPU-bound stages get one thread per core at
// most; the sleep stage, whose work only waits, gets as many as chapter 05's pool, and takes its
// events one at a time (a batch of sleeps on one thread would run them one after another). A
// queue holds a few rounds of work: what waits longer than that is better refused now.
class Stages {
 public:
  Stages(const common::App& app, polling::EventLoop& io, int cores)
      : fast_("fast", {.capacity = 1024, .max_threads = cores, .max_batch = kMaxBatch},
              handler(app, io)),
        files_("files", {.capacity = 256, .max_threads = cores, .max_batch = kMaxBatch},
               handler(app, io)),
        compute_(
            "compute",
            {.capacity = 4 * static_cast<std::size_t>(cores), .max_threads = cores, .max_batch = 4},
            handler(app, io)),
        sleep_("sleep", {.capacity = 64, .max_threads = sleepers(cores), .max_batch = 1},
               handler(app, io)) {}

  // The stage of a route: the work it does decides.
  Stage& of_route(std::string_view route) {
    if (route == "/static/") {
      return files_;
    }
    if (route == "/compute") {
      return compute_;
    }
    return route == "/sleep" ? sleep_ : fast_;
  }
  Stage& fast() { return fast_; }

  std::vector<Stage*> all() { return {&fast_, &files_, &compute_, &sleep_}; }

  // "stages":[{...},...] for GET /stats.
  void report(std::string& json) const {
    json += "\"stages\":[";
    for (const Stage* stage : {&fast_, &files_, &compute_, &sleep_}) {
      json += stage == &fast_ ? "" : ",";
      stage->report(json);
    }
    json += ']';
  }

  static int sleepers(int cores) { return std::clamp(4 * cores, 16, 64); }

 private:
  static Stage::Handler handler(const common::App& app, polling::EventLoop& io) {
    return [&app, &io](Job& job) { answer_job(app, io, job); };
  }

  Stage fast_;
  Stage files_;
  Stage compute_;
  Stage sleep_;
};
// [stages]

// [router]
// The I/O stage's sink, on its thread: it takes a connection's next batch of complete requests
// and offers it to the stage of its most expensive request (its answers leave together and in
// order, so the batch is as slow as that one anyway). A stage with no room refuses at once, and
// the batch is answered here with 503: the connection stays open (RFC 9112 section 9.3), since
// the answer is complete, and a refused client that reconnected would only add work. With
// --grouped, cheap batches never leave this thread.
class Router {
 public:
  Router(const common::App& app, Stages& stages, bool grouped)
      : app_(app), stages_(stages), grouped_(grouped) {}

  void route(polling::ConnectionId id, common::Protocol& protocol) {
    for (;;) {
      const common::Protocol::Requests requests = protocol.ready_requests(kMaxBatch);
      if (requests.count == 0) {
        return;
      }
      Stage& stage = stage_of(requests);
      protocol.take(requests);
      if (grouped_ && &stage == &stages_.fast()) {
        protocol.answered(answer_all(app_, requests.bytes, requests.count), Clock::now());
        continue;  // answered on the I/O thread, with no queue: the next batch, if any
      }
      if (stage.offer({id, std::string(requests.bytes), requests.count})) {
        return;  // one batch out per connection: its answers come back through the loop
      }
      protocol.answered(refuse(requests), Clock::now());  // admission control: 503, now
    }
  }

 private:
  Stage& stage_of(const common::Protocol::Requests& requests) {
    static constexpr std::string_view kByCost[] = {"/sleep", "/compute", "/static/"};
    std::size_t costliest = std::size(kByCost);
    std::string_view rest = requests.bytes;
    for (std::size_t i = 0; i < requests.count; ++i) {
      parser_.reset();
      const common::ParseResult parsed = parser_.parse(rest);
      const std::string_view route = app_.route_of(parser_.request());
      const auto* found = std::find(std::begin(kByCost), std::end(kByCost), route);
      costliest = std::min(costliest, static_cast<std::size_t>(found - std::begin(kByCost)));
      rest.remove_prefix(parsed.consumed);
    }
    return costliest < std::size(kByCost) ? stages_.of_route(kByCost[costliest]) : stages_.fast();
  }

  std::vector<common::Response> refuse(const common::Protocol::Requests& requests) {
    std::vector<common::Response> answers;
    std::string_view rest = requests.bytes;
    for (std::size_t i = 0; i < requests.count; ++i) {
      parser_.reset();
      const common::ParseResult parsed = parser_.parse(rest);
      answers.push_back(app_.unavailable(parser_.request(), kRetryAfter));
      rest.remove_prefix(parsed.consumed);
    }
    return answers;
  }

  const common::App& app_;
  Stages& stages_;
  const bool grouped_;
  common::RequestParser parser_;  // the I/O thread's
};
// [router]

}  // namespace

// [main]
int main(int argc, char** argv) {
  const common::Options options = common::parse_options(argc, argv, kChapter);
  common::init_process(kChapter);
  common::raise_descriptor_limit();
  const int cores = options.threads > 0 ? options.threads : common::usable_cpu_count();
  common::Stats stats;
  // /stats "workers": the threads the handler stages may grow to, together.
  common::App app(options, kChapter, stats, 3 * cores + Stages::sleepers(cores));
  common::Fd listener = pinned::open_acceptor_listener(options);
  std::vector<std::unique_ptr<polling::EventLoop>> io;  // one I/O stage: a vector for the acceptor
  io.push_back(std::make_unique<polling::EventLoop>(app, options, common::Fd()));

  std::optional<Stages> stages;
  std::optional<staged::Controller> controller;
  std::thread io_thread;
  std::thread acceptor;
  {
    const common::StopSignalsBlocked blocked;  // every stage's threads: SIGTERM comes to main
    stages.emplace(app, *io.front(), cores);
    controller.emplace(stages->all());
    auto router = std::make_shared<Router>(app, *stages, options.grouped);
    io.front()->send_requests_to([router](polling::ConnectionId id, common::Protocol& protocol) {
      router->route(id, protocol);
    });
    app.report_more([&stages](std::string& json) { stages->report(json); });
    io_thread = std::thread([&io] { io.front()->run(); });
    acceptor = std::thread(pinned::accept_connections, listener.get(), std::cref(io));
  }
  common::log_info(
      "stages: accept, I/O, fast, files, compute, sleep%s",
      options.grouped ? " (cheap requests answered on the I/O thread: --grouped)" : "");
  common::announce_listening(options, listener.get());
  common::wait_for_shutdown();
  ::shutdown(listener.get(), SHUT_RDWR);  // wakes the acceptor's accept4()
  acceptor.join();
  io_thread.join();  // the I/O stage ends once its last connection has closed
  controller.reset();
  stages.reset();  // each stage finishes the batch a thread holds, and ends
  common::log_info("shutting down");
  return 0;
}
// [main]
