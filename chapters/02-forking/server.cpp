// Chapter 02: the forking server (MP, multi-process).
//
// The model: the parent process only accepts. Each connection is handed to a child made with
// fork(), which serves it with the same per-connection code as chapter 01 and exits. The parent
// goes straight back to accept, so a slow or idle client now holds one child, not the server.
//
// What it fixes: chapter 01 served one client at a time. Here every client has its own flow of
// control, and the kernel schedules the children on every core: /sleep and /compute stall only
// the client that asked for them. A crash in one child cannot touch the others.
//
// What it costs: a process per client (page tables, a kernel stack, copy-on-write pages: see
// the README for the measured cost), a fork() per connection, and no shared memory by default.
// Memory written after fork() is private to each process, so the /stats counters must live in an
// explicitly shared mapping. The parent must reap every child (or it stays a zombie), must cap
// their number (or a flood of clients forks the machine to death), and must pass SIGTERM on.
//
// The next chapter keeps one flow of control per client but makes it a thread: cheaper to start,
// and sharing is free (which is exactly what makes it dangerous).

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>
#include <system_error>
#include <unordered_set>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chapters/01-iterative/serve.hpp"  // a child serves exactly as chapter 01 does
#include "common/app.hpp"
#include "common/chapter.hpp"
#include "common/io.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/shutdown.hpp"

namespace {

constexpr common::ChapterInfo kChapter{
    .name = "02-forking",
    .model = "forking",
    .summary = "Chapter 02: the parent accepts and forks a child process per connection.",
    .flags = common::kMaxClientsFlag,
};

// After SIGTERM, how long the children get to finish the responses in flight. The protocol
// promises exit within 2 s; a child that is still busy after this is killed.
constexpr auto kChildrenGrace = std::chrono::milliseconds(1700);

// [sigchld]
// The self-pipe trick. SIGCHLD says "a child exited", but a signal can arrive just after the
// loop checked for exited children and just before it blocks in poll(), and then it would be
// lost until the next client. So the handler writes a byte into a pipe that poll() watches:
// the byte waits there until the loop reads it, whenever the signal came. Reaping itself
// (waitpid) is done by the loop, not the handler, which keeps the handler trivially safe.
volatile std::sig_atomic_t g_sigchld_write = -1;

void on_sigchld(int /*signo*/) {
  const int saved_errno = errno;  // the handler may run between any call and its errno check
  const char byte = 0;
  // A full pipe (EAGAIN) is fine: a wake-up is already pending.
  [[maybe_unused]] const ssize_t n = ::write(g_sigchld_write, &byte, 1);
  errno = saved_errno;
}

// Returns the read end of the self-pipe. SA_RESTART: the signal must not make other system
// calls fail with EINTR (poll() still returns EINTR, and the loop expects it).
common::Fd install_sigchld_pipe() {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
  g_sigchld_write = fds[1];
  struct sigaction action {};
  action.sa_handler = on_sigchld;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART | SA_NOCLDSTOP;  // stopped children are not our business
  ::sigaction(SIGCHLD, &action, nullptr);
  return common::Fd(fds[0]);
}

// Empties the self-pipe, then collects every child that has exited. In that order: a child
// that exits after the waitpid() loop leaves a byte in the pipe, so the next poll() wakes.
void reap_children(int sigchld_read, std::unordered_set<pid_t>& children) {
  char bytes[64];
  while (::read(sigchld_read, bytes, sizeof bytes) > 0) {
  }
  // [exercise:reap-children solution]
  pid_t pid = 0;
  while ((pid = ::waitpid(-1, nullptr, WNOHANG)) > 0) {
    children.erase(pid);
  }
  // [exercise:reap-children start]
  // // The pipe is empty again, but the children that exited are still here.
  // static_cast<void>(children);
  // [exercise:reap-children end]
}
// [sigchld]

// [fork]
// Serves @p client in a new child process. Only the parent returns.
void spawn_child(common::Fd client, int listener, int sigchld_read, const common::App& app,
                 const common::Options& options, std::unordered_set<pid_t>& children) {
  const pid_t pid = common::fork_server_child();  // fork(), and the child's own shutdown: below
  if (pid < 0) {
    common::log_warn("fork: %s; connection dropped", std::strerror(errno));
    return;  // ~Fd closes the client
  }
  if (pid == 0) {
    // The child: it serves this one client and nothing else, so it drops the parent's listener
    // and self-pipe (the parent keeps its own copies) and the parent's SIGCHLD handler. It has
    // its own shutdown eventfd, so a SIGTERM to it stops it alone, and it gets SIGTERM if the
    // parent dies: a parent killed by SIGKILL cannot pass the signal on.
    ::signal(SIGCHLD, SIG_DFL);
    ::close(listener);
    ::close(sigchld_read);
    ::close(g_sigchld_write);
    iterative::serve_connection(std::move(client), app, options);
    // _exit, not exit or return: the child must not run the parent's exit path. exit() would
    // run atexit handlers and static destructors and flush stdio buffers that are copies of the
    // parent's (a line buffered before fork would be printed twice). _exit skips all of it,
    // including LeakSanitizer in the sanitizer build, which has nothing to report here anyway.
    ::_exit(0);
  }
  children.insert(pid);
  // The parent's copy of the client descriptor is closed at once. The connection is only torn
  // down when its last descriptor closes: if the parent kept its copy, the client would never
  // see the close when the child is done, and the parent would leak one descriptor per client.
  client.reset();
}
// [fork]

// [accept-loop]
void serve_forever(int listener, int sigchld_read, const common::App& app,
                   const common::Options& options, std::unordered_set<pid_t>& children) {
  while (!common::shutdown_requested()) {
    // One poll() watches the three things that can happen: SIGTERM, a child exiting, a client
    // arriving. At the --max-clients cap the listener is left out (poll skips a negative fd):
    // new clients wait in the kernel's backlog until a child exits.
    const bool at_cap = static_cast<int>(children.size()) >= options.max_clients;
    pollfd fds[3] = {{common::shutdown_fd(), POLLIN, 0},
                     {sigchld_read, POLLIN, 0},
                     {at_cap ? -1 : listener, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      continue;  // EINTR: a signal arrived; the loop condition and the pipe say which
    }
    if (fds[1].revents != 0) {
      reap_children(sigchld_read, children);
    }
    if (fds[2].revents == 0) {
      continue;
    }
    if (std::optional<common::Fd> client = common::accept_or_back_off(listener)) {
      spawn_child(std::move(*client), listener, sigchld_read, app, options, children);
    }
  }
}
// [accept-loop]

// [shutdown]
// Passes SIGTERM on to every child and reaps them, waiting at most kChildrenGrace. The children
// share the parent's shutdown eventfd (so their polls wake up), but the "shutdown requested" flag
// is per-process memory: only a child that gets the signal itself knows to close after the
// response in flight and to cut /sleep short.
void stop_children(int sigchld_read, std::unordered_set<pid_t>& children) {
  for (const pid_t pid : children) {
    ::kill(pid, SIGTERM);
  }
  const common::Deadline deadline = common::Clock::now() + kChildrenGrace;
  reap_children(sigchld_read, children);
  while (!children.empty() && common::Clock::now() < deadline) {
    // Not watching the shutdown descriptor: it is readable for good by now.
    if (common::wait_for(sigchld_read, POLLIN, deadline, false) == common::Wait::kReady) {
      reap_children(sigchld_read, children);
    }
  }
  for (const pid_t pid : children) {
    common::log_warn("child %d did not finish in time; killing it", static_cast<int>(pid));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);  // SIGKILL cannot be caught: this wait is short
  }
  children.clear();
}
// [shutdown]

}  // namespace

// [main]
int main(int argc, char** argv) {
  const common::Options options = common::parse_options(argc, argv, kChapter);
  common::init_process(kChapter);
  const common::Fd listener = common::open_listener(options);
  const common::Fd sigchld_read = install_sigchld_pipe();
  // Shared memory, created before the first fork: a plain Stats would be copied into every
  // child, and the parent, which serves nobody, would report 0 forever.
  // [exercise:shared-stats solution]
  common::Stats& stats = common::create_shared_stats();
  // [exercise:shared-stats start]
  // common::Stats stats;
  // [exercise:shared-stats end]
  // /stats "workers": the most processes that may serve clients at once.
  const common::App app(options, kChapter, stats, /*workers=*/options.max_clients);
  common::announce_listening(options, listener.get());

  std::unordered_set<pid_t> children;
  serve_forever(listener.get(), sigchld_read.get(), app, options, children);
  common::log_info("shutting down: %zu %s serving", children.size(),
                   children.size() == 1 ? "child" : "children");
  stop_children(sigchld_read.get(), children);
  return 0;
}
// [main]
