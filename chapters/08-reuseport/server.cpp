// Chapter 08: SO_REUSEPORT, symmetric event loops (SYMPED, symmetric multi-process event driven).
//
// The model: N identical, independent loops, one per core, in threads (the default) or in
// processes (--processes). Each has its own listening socket, all bound to the same port with
// SO_REUSEPORT, and the kernel spreads incoming connections over those sockets by a hash of the
// connection's addresses and ports. Each loop accepts, reads, answers and writes its own clients;
// no loop ever accepts for another, and nothing is handed over.
//
// What it fixes from chapter 07: the acceptor thread is gone, and with it the one serial step
// every connection went through and the cross-thread epoll registration. Each loop is chapter
// 04, whole, times N. With --processes the loops do not even share an address space: a crash
// takes down one loop, not the server, which is how nginx runs its workers.
//
// What it costs: no control over placement. The kernel's hash knows nothing about load, so one
// loop may get more clients or heavier ones than another, and a client cannot be moved once it
// is placed. If a loop stops (or is slow to accept) the kernel keeps sending it its share. And
// handlers still run inline: a /sleep stalls every client of its loop. SO_ATTACH_REUSEPORT_CBPF
// (or _EBPF) lets a program choose the socket instead of the hash: steering by CPU so that a
// connection is served on the core that received its packets, or away from a busy loop.

#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "chapters/04-polling/event_loop.hpp"  // chapter 04's loop, one per core
#include "chapters/08-reuseport/listeners.hpp"
#include "common/app.hpp"
#include "common/chapter.hpp"
#include "common/io.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/shutdown.hpp"
#include "common/stats.hpp"

namespace {

constexpr common::ChapterInfo kChapter{
    .name = "08-reuseport",
    .model = "reuseport",
    .summary = "Chapter 08: one epoll loop per core, each with its own SO_REUSEPORT listener.",
    .flags = common::kThreadsFlag | common::kProcessesFlag,
};

// After SIGTERM, how long the parent waits for its loop processes before SIGKILL.
constexpr auto kChildrenGrace = std::chrono::milliseconds(1800);

// [threads]
// N loops in N threads of this process: one App, one Stats, each loop with its own listener.
void run_threads(std::vector<common::Fd> listeners, const common::App& app,
                 const common::Options& options, std::uint16_t port) {
  std::vector<std::unique_ptr<polling::EventLoop>> loops;
  for (common::Fd& listener : listeners) {
    loops.push_back(std::make_unique<polling::EventLoop>(app, options, std::move(listener)));
  }
  std::vector<std::thread> threads;
  {
    const common::StopSignalsBlocked blocked;  // SIGTERM comes to main; the loops see the eventfd
    for (auto& loop : loops) {
      threads.emplace_back([&loop] { loop->run(); });
    }
  }
  common::announce_listening(options, port);
  // Main serves nobody: it waits for SIGTERM, then for each loop to finish its shutdown.
  common::wait_for_shutdown();
  for (std::thread& thread : threads) {
    thread.join();
  }
}
// [threads]

// [processes]
// N loops in N child processes. Each child keeps its own listener and closes the others; the
// parent closes all of them, so that a child that dies takes its socket with it and the kernel
// stops sending it clients. The parent serves nobody: it waits for SIGTERM or for a child to
// die, with one poll over the shutdown eventfd and a pidfd per child.
// Polls the shutdown eventfd and one pidfd per child (readable once the child has exited).
int wait_for_children(std::vector<pid_t>& children) {
  std::vector<common::Fd> pidfds;
  std::vector<pollfd> watched{{common::shutdown_fd(), POLLIN, 0}};
  for (const pid_t pid : children) {
    pidfds.emplace_back(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    watched.push_back({pidfds.back().get(), POLLIN, 0});
  }
  int failures = 0;
  common::Deadline deadline = common::kNoDeadline;
  for (std::size_t alive = children.size(); alive > 0;) {
    if (common::shutdown_requested() && deadline == common::kNoDeadline) {
      deadline = common::Clock::now() + kChildrenGrace;
      watched[0].fd = -1;  // readable for good from now on
      for (std::size_t i = 0; i < children.size(); ++i) {
        if (watched[i + 1].fd >= 0) {
          ::kill(children[i], SIGTERM);  // the flag is per process: pass the signal on
        }
      }
    }
    if (common::Clock::now() >= deadline) {
      break;
    }
    if (::poll(watched.data(), watched.size(), common::milliseconds_until(deadline)) <= 0) {
      continue;  // EINTR (the signal itself) or the deadline: the loop looks at both
    }
    for (std::size_t i = 0; i < children.size(); ++i) {
      if (watched[i + 1].fd >= 0 && watched[i + 1].revents != 0) {
        int status = 0;
        ::waitpid(children[i], &status, 0);
        failures += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (!common::shutdown_requested()) {
          common::log_error("loop process %d exited; its clients go to the others", children[i]);
        }
        watched[i + 1].fd = -1;
        --alive;
      }
    }
  }
  for (std::size_t i = 0; i < children.size(); ++i) {
    if (watched[i + 1].fd >= 0) {
      common::log_warn("loop process %d did not finish in time; killing it", children[i]);
      ::kill(children[i], SIGKILL);
      ::waitpid(children[i], nullptr, 0);
      ++failures;
    }
  }
  // The exit status tells a supervisor what the log tells a person: 1 if a loop process died.
  if (!common::shutdown_requested()) {
    common::log_error("every loop process has exited");
  } else if (failures > 0) {
    common::log_info("shutting down; %d loop process%s had died: exit status 1", failures,
                     failures == 1 ? "" : "es");
  } else {
    common::log_info("shutting down");
  }
  return failures == 0 ? 0 : 1;
}

int run_processes(std::vector<common::Fd> listeners, const common::App& app,
                  const common::Options& options, std::uint16_t port) {
  std::vector<pid_t> children;
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    // fork(); the child gets its own shutdown eventfd, and SIGTERM if the parent dies (chapter 02)
    const pid_t pid = common::fork_server_child();
    if (pid < 0) {
      common::log_error("fork: %s", std::strerror(errno));
      break;
    }
    if (pid == 0) {
      for (std::size_t j = 0; j < listeners.size(); ++j) {
        if (j != i) {
          listeners[j].reset();
        }
      }
      polling::EventLoop loop(app, options, std::move(listeners[i]));
      loop.run();
      ::_exit(0);  // not exit(): the parent's static destructors and stdio are not ours to run
    }
    children.push_back(pid);
  }
  // [exercise:parent-closes solution]
  listeners.clear();
  // [exercise:parent-closes start]
  // // The parent keeps its copies of the listeners until it exits.
  // [exercise:parent-closes end]
  common::announce_listening(options, port);
  return wait_for_children(children);
}

// [processes]

}  // namespace

// [main]
int main(int argc, char** argv) {
  const common::Options options = common::parse_options(argc, argv, kChapter);
  common::init_process(kChapter);
  common::raise_descriptor_limit();
  const int loops = options.threads > 0 ? options.threads : common::usable_cpu_count();
  // With --processes the counters live in shared memory, created before the first fork.
  common::Stats local_stats;
  common::Stats& stats = options.processes ? common::create_shared_stats() : local_stats;
  const common::App app(options, kChapter, stats, loops);
  std::vector<common::Fd> listeners = reuseport::open_listeners(options, loops);
  common::log_info("%d loops in %s, one SO_REUSEPORT listener each", loops,
                   options.processes ? "processes" : "threads");
  const std::uint16_t port = common::local_port(listeners[0].get());
  if (options.processes) {
    return run_processes(std::move(listeners), app, options, port);
  }
  run_threads(std::move(listeners), app, options, port);
  common::log_info("shutting down");
  return 0;
}
// [main]
