// Chapter 04: polling (SPED, single process event driven).
//
// The model: one thread and one epoll instance watch every socket. All sockets are non-blocking,
// so no call ever waits except epoll_wait itself. Each connection is a small state record (its
// input buffer and parser, its output queue, its deadline) instead of a thread's stack.
//
// What it fixes from chapter 03: a connection costs a few hundred bytes instead of a thread, so
// 10,000 idle keep-alive clients or 200 slowloris clients are just entries in a table; there is
// no thread limit to exhaust and no lock anywhere.
//
// What it costs: the code now owns every state transition that a blocking thread kept on its
// stack (partial requests, partial writes, timeouts), and there is one flow of control for
// everyone. /sleep and /compute run on the loop thread, on purpose: while one handler blocks, no
// other client is read, written, accepted or timed out. The server uses one core.
//
// The chapter is four files: connection.{hpp,cpp}, one client as a record and the steps that
// move it; event_loop.{hpp,cpp}, the loop that waits for readiness and runs those steps;
// task_queue.{hpp,cpp}, the one way for another thread to hand the loop work; and this one,
// which runs one loop on the main thread. Later chapters build on them: 05 hands the requests
// to a worker pool, 06 lets any of many worker threads run a connection's steps, 07 runs a loop
// per core fed by an acceptor thread, 08 a loop per core with a listener each.

#include "chapters/04-polling/event_loop.hpp"
#include "common/app.hpp"
#include "common/chapter.hpp"
#include "common/log.hpp"
#include "common/stats.hpp"

namespace {

constexpr common::ChapterInfo kChapter{
    .name = "04-polling",
    .model = "polling",
    .summary = "Chapter 04: one thread, one epoll loop, every socket non-blocking.",
    .flags = 0,
};

}  // namespace

// [main]
int main(int argc, char** argv) {
  const common::Options options = common::parse_options(argc, argv, kChapter);
  common::init_process(kChapter);
  common::raise_descriptor_limit();  // 10,000 connections need 10,000 descriptors
  common::Stats stats;
  const common::App app(options, kChapter, stats, /*workers=*/1);
  // One loop owns the listener and every connection, and answers each request itself, inline.
  polling::EventLoop loop(app, options, common::open_listener(options));
  common::announce_listening(options, loop.listener_fd());
  loop.run();
  common::log_info("shutting down");
  return 0;
}
// [main]
