// Chapter 11: coroutines, one event loop per core.
//
// The model: chapter 08's layout (one thread per core, each with its own SO_REUSEPORT listener
// and its own epoll loop, nothing shared), but each connection is a C++20 coroutine. serve()
// reads top to bottom like chapter 01's loop: read, answer, write, wait. Where chapter 01 would
// block, it suspends (co_await): the thread goes back to the loop, which resumes the frame when
// epoll says the socket can go on, when the protocol's deadline passes, or at shutdown.
//
// What it fixes from chapter 08: the shape of the code. Chapter 04's connection is a record and a
// set of steps that a loop calls; the story of a connection is spread over callbacks, a phase and
// flags. Here it is one function, with its state in local variables, as in the blocking chapters,
// at the cost of an event loop: about the same system calls, memory and CPU per request.
//
// What it costs: a heap-allocated frame per connection (its size is in GET /stats, measured by
// the promise's operator new); stack traces that end at the loop, since a suspended coroutine has
// no stack; and lifetime rules that the compiler does not check (loop.hpp): who owns a frame, who
// resumes it, and why an event can never name a destroyed one. A coroutine is not a thread:
// /sleep and /compute still run inline and stall every client of their loop.
//
// The chapter is three files: task.hpp, the coroutine type; loop.{hpp,cpp}, the loop and its
// awaiters; and this one, the two coroutines (a connection, a listener) and main.

#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "chapters/08-reuseport/listeners.hpp"  // chapter 08's listeners, one per loop
#include "chapters/11-coroutines/loop.hpp"
#include "chapters/11-coroutines/task.hpp"
#include "common/app.hpp"
#include "common/chapter.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/nonblocking.hpp"
#include "common/protocol.hpp"
#include "common/shutdown.hpp"
#include "common/stats.hpp"

namespace {

using common::Clock;
using common::Next;
using common::Wait;

constexpr common::ChapterInfo kChapter{
    .name = "11-coroutines",
    .model = "coroutines",
    .summary = "Chapter 11: one epoll loop per core; each connection is a C++20 coroutine.",
    .flags = common::kThreadsFlag,
};

constexpr std::size_t kReadBudget = 1 << 20;  // bytes read from one client before the others

// What a read found.
enum class Read { kSkipped, kDrained, kMore, kEnded, kFailed };

// [receive]
// Reads what the socket holds, if the protocol wants input: until EAGAIN, since the socket is
// edge-triggered (an edge comes once), or until the budget. A short read counts as EAGAIN unless
// the client's FIN was reported: then the read must go on to see the end of the stream.
Read receive(int fd, common::Protocol& protocol, bool hung_up) {
  if (!protocol.wants_input()) {
    return Read::kSkipped;
  }
  common::Buffer& in = protocol.input();
  const std::size_t before = in.size();
  const common::ReadStatus status = common::read_available(fd, in, kReadBudget, !hung_up);
  protocol.received(in.size() - before, Clock::now());
  switch (status) {
    case common::ReadStatus::kWouldBlock:
      return Read::kDrained;
    case common::ReadStatus::kBudget:
      return Read::kMore;
    case common::ReadStatus::kEof:
      protocol.peer_closed();
      return Read::kEnded;
    case common::ReadStatus::kError:
      break;
  }
  return Read::kFailed;  // ECONNRESET and friends
}

// Writes what the socket takes; false if the client is gone. Progress is the protocol's news.
bool send(int fd, common::OutputQueue& out, common::Protocol& protocol) {
  const std::uint64_t before = out.sent_bytes();
  const common::FlushResult flushed = out.flush(fd);
  if (out.sent_bytes() != before) {
    protocol.sent(Clock::now());
  }
  return flushed != common::FlushResult::kError;
}
// [receive]

// [serve]
// One connection, from accept to close. Its state is its local variables, in its frame; the
// frame owns the socket (Registration), and frees itself when this function returns.
coro::Task serve(coro::Loop& loop, common::Fd socket, const common::App& app,
                 const common::Options& options) {
  const coro::Registration client(loop, std::move(socket));
  const int fd = client.fd();
  const common::ConnectionGuard counted(app.stats());
  common::OutputQueue out;
  common::Protocol protocol(app, options, out, Clock::now());
  coro::Woken woken;  // how the last wait ended
  for (;;) {
    // Take what the client sent, answer what is complete, send what the socket takes: none of
    // it waits. Answers are made inline: a /sleep here stalls every client of this loop.
    const Read read = receive(fd, protocol, woken.hung_up);
    if (read == Read::kFailed) {
      co_return;
    }
    const bool capped = protocol.answer(Clock::now());  // stopped at the output cap
    if (woken.why == Wait::kTimeout) {
      protocol.expired(Clock::now());  // judged on what arrived, even while the loop was busy
    }
    if (!send(fd, out, protocol)) {
      co_return;
    }
    if (capped && out.empty()) {
      // The socket took all of it, and the requests behind it are already here: answer them
      // now, before the protocol is asked what to wait for (input that may never come, or the
      // close that follows the client's end of stream).
      woken.why = Wait::kReady;
      continue;
    }
    // Then wait for what the protocol waits for, until its deadline. Try before you wait: suspend
    // for input only after a read said EAGAIN, since no new edge comes for bytes already there.
    // An end of stream reported stays reported until the next wait: its edge came once.
    woken.why = Wait::kReady;
    switch (protocol.next(Clock::now())) {
      case Next::kRead:
        if (read == Read::kDrained) {
          woken = co_await loop.readable(fd, protocol.deadline());
        }
        break;
      case Next::kWrite:  // the last send met EAGAIN
        woken = co_await loop.writable(fd, protocol.deadline(), protocol.wants_input());
        break;
      case Next::kLinger:  // FIN, then the protocol discards what comes until the client's
        if (!protocol.input_follows() &&
            (read == Read::kDrained || !common::has_unread_input(fd))) {
          co_return;  // nothing can arrive unread: a plain close sends FIN, not RST
        }
        ::shutdown(fd, SHUT_WR);
        break;
      case Next::kHandler:  // never here: every request is answered inline
      case Next::kClose:
        co_return;
    }
    if (woken.why == Wait::kShutdown) {
      protocol.stop(Clock::now() + common::kShutdownGrace);  // what is in flight may finish
    }
  }
}
// [serve]

// [accept]
// The listener's coroutine: accept every pending client (the listener is edge-triggered too),
// start a coroutine for each, then wait for the next.
coro::Task accept_clients(coro::Loop& loop, common::Fd socket, const common::App& app,
                          const common::Options& options) {
  const coro::Registration listener(loop, std::move(socket));
  for (;;) {
    common::AcceptResult accepted = common::accept_client(listener.fd());
    coro::Woken woken;
    if (accepted.status == common::AcceptStatus::kAccepted) {
      loop.spawn(serve(loop, std::move(accepted.fd), app, options));  // runs to its first wait
      continue;
    }
    if (accepted.status == common::AcceptStatus::kWouldBlock) {
      woken = co_await loop.readable(listener.fd(), common::kNoDeadline);
    } else {
      // EMFILE: the client stays in the backlog. Rest, as every chapter does, instead of spinning.
      common::log_warn("accept: %s; pausing the listener", std::strerror(accepted.error));
      woken = co_await loop.until(listener.fd(), Clock::now() + common::kAcceptPause);
    }
    if (woken.why == Wait::kShutdown) {
      co_return;  // ~Registration closes the listener: new clients are refused from now on
    }
  }
}
// [accept]

}  // namespace

// [main]
int main(int argc, char** argv) {
  const common::Options options = common::parse_options(argc, argv, kChapter);
  common::init_process(kChapter);
  common::raise_descriptor_limit();  // 10,000 connections need 10,000 descriptors
  const int loops = options.threads > 0 ? options.threads : common::usable_cpu_count();
  common::Stats stats;
  common::App app(options, kChapter, stats, loops);
  app.report_more([](std::string& json) {
    json += "\"frame_bytes\":" + std::to_string(coro::largest_frame()) +
            ",\"frames_allocated\":" + std::to_string(coro::frames_allocated());
  });
  std::vector<common::Fd> listeners = reuseport::open_listeners(options, loops);
  const std::uint16_t port = common::local_port(listeners.front().get());
  std::vector<std::unique_ptr<coro::Loop>> event_loops;
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    event_loops.push_back(std::make_unique<coro::Loop>());
  }
  common::log_info("%d loops in threads, one SO_REUSEPORT listener each", loops);
  {
    std::vector<std::jthread> threads;  // each loop, and every frame it starts, on one thread
    {
      const common::StopSignalsBlocked blocked;  // SIGTERM comes to main; loops see the eventfd
      for (std::size_t i = 0; i < event_loops.size(); ++i) {
        threads.emplace_back([&, i] {
          event_loops[i]->spawn(
              accept_clients(*event_loops[i], std::move(listeners[i]), app, options));
          event_loops[i]->run();
        });
      }
    }
    common::announce_listening(options, port);
    common::wait_for_shutdown();
  }  // ~jthread joins: every loop has finished its shutdown
  common::log_info("shutting down");
  return 0;
}
// [main]
