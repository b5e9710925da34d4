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
// other client is read, written, accepted or timed out. The server uses one core. Chapter 05
// moves the handlers to a worker pool and keeps this loop for the I/O.
//
// The loop itself is common::EventLoop (common/event_loop.cpp), because chapters 05 to 07 reuse
// it unchanged: what changes from here on is how many loops run, who accepts, and who runs the
// handlers. This file is the model: one loop, on the main thread, accepting and answering.

#include "common/app.hpp"
#include "common/chapter.hpp"
#include "common/event_loop.hpp"
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
  // One loop owns the listener and every connection; without hand_off_requests() it answers
  // each request itself, inline, on this thread.
  common::EventLoop loop(app, options, common::open_listener(options));
  common::announce_listening(options, loop.listener_fd());
  loop.run();
  common::log_info("shutting down");
  return 0;
}
// [main]
