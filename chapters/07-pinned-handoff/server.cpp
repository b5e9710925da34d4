// Chapter 07: one event loop per core, pinned, fed by an acceptor thread (thread-per-core).
//
// The model: ask the system which cores this process may use and start one worker thread per
// core, each pinned to its core and each running its own epoll loop (chapter 04's loop, inline
// handlers and all). One more thread does nothing but accept: a plain blocking accept4() loop,
// since it has nothing else to wait for. It picks the next worker round-robin and hands the
// descriptor over by posting it to that worker's loop (EventLoop::post(), one eventfd write per
// burst), and the loop registers it in its own epoll set. From then on the descriptor belongs to
// that worker alone, for its whole life: no lock, no shared queue, no other thread touches it.
//
// What it fixes from chapters 04 to 06: the I/O runs on every core, as in chapter 06, but each
// connection stays on one loop for its whole life, so there is no queue, no lock and no re-arm
// per request. Each loop is chapter 04's, with its cheap connections, and there are as many as
// cores. Pinning keeps each loop's connections, buffers and caches on one core.
//
// What it costs: placement is decided once, at accept time, by a round-robin that knows nothing
// about load: a worker that drew the heavy clients stays busy while another idles. And the
// handlers run inline again, so a /sleep stalls every client of the loop it landed on (but only
// those: the other loops go on). Chapter 05's pool is the answer where handlers block; this
// chapter is for work that never blocks. Chapter 08 removes the acceptor thread altogether.

#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "chapters/04-polling/event_loop.hpp"  // chapter 04's loop, one per core
#include "chapters/07-pinned-handoff/acceptor.hpp"
#include "common/app.hpp"
#include "common/chapter.hpp"
#include "common/io.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/shutdown.hpp"
#include "common/stats.hpp"

namespace {

constexpr common::ChapterInfo kChapter{
    .name = "07-pinned-handoff",
    .model = "pinned-handoff",
    .summary =
        "Chapter 07: an acceptor thread hands connections to one pinned epoll loop per core.",
    .flags = common::kThreadsFlag | common::kNoPinFlag,
};

// [cores]
// Pins the calling thread to @p cpu. A failure is logged and ignored: the loop still works, it
// just may move between cores.
void pin_current_thread(int cpu) {
  // [exercise:pin-threads solution]
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (const int error = ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set)) {
    common::log_warn("pthread_setaffinity_np(cpu %d): %s", cpu, std::strerror(error));
  }
  // [exercise:pin-threads start]
  // // Not pinned yet: the scheduler may run this thread on any CPU.
  // static_cast<void>(cpu);
  // [exercise:pin-threads end]
}
// [cores]

std::string describe(const std::vector<int>& cpus, std::size_t count) {
  std::string text;
  for (std::size_t i = 0; i < count; ++i) {
    text += (i == 0 ? "" : ",") + std::to_string(cpus[i % cpus.size()]);
  }
  return text;
}

}  // namespace

// [main]
int main(int argc, char** argv) {
  const common::Options options = common::parse_options(argc, argv, kChapter);
  common::init_process(kChapter);
  common::raise_descriptor_limit();
  const std::vector<int> cpus = common::usable_cpus();
  const std::size_t workers =
      options.threads > 0 ? static_cast<std::size_t>(options.threads) : cpus.size();
  common::Stats stats;
  const common::App app(options, kChapter, stats, static_cast<int>(workers));
  common::Fd listener = pinned::open_acceptor_listener(options);

  // One loop per worker, with no listener: connections arrive through adopt().
  std::vector<std::unique_ptr<polling::EventLoop>> loops;
  for (std::size_t i = 0; i < workers; ++i) {
    loops.push_back(std::make_unique<polling::EventLoop>(app, options, common::Fd()));
  }
  std::vector<std::thread> threads;
  std::thread acceptor;
  {
    const common::StopSignalsBlocked blocked;  // SIGTERM comes to main; the loops see the eventfd
    for (std::size_t i = 0; i < workers; ++i) {
      threads.emplace_back([&, i] {
        if (options.pin) {
          pin_current_thread(cpus[i % cpus.size()]);
        }
        loops[i]->run();
      });
    }
    acceptor = std::thread(pinned::accept_connections, listener.get(), std::cref(loops));
  }
  common::log_info("%zu loops, %s", workers,
                   options.pin ? ("pinned to CPUs " + describe(cpus, workers)).c_str()
                               : "not pinned (--no-pin)");
  common::announce_listening(options, listener.get());

  // The main thread only waits for SIGTERM. Then shutdown(2) on the listener makes the blocked
  // accept4() return (EINVAL); each loop sees the shutdown eventfd itself and winds down.
  common::wait_for_shutdown();
  ::shutdown(listener.get(), SHUT_RDWR);
  acceptor.join();
  for (std::thread& thread : threads) {
    thread.join();
  }
  common::log_info("shutting down");
  return 0;
}
// [main]
