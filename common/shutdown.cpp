#include "common/shutdown.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <optional>
#include <system_error>

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace common {
namespace {

// Both are touched from a signal handler, so they are lock-free atomics with static storage.
std::atomic<bool> g_requested{false};
std::atomic<int> g_event_fd{-1};
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free);

void on_stop_signal(int /*signo*/) {
  request_shutdown();
}

sigset_t stop_signals() noexcept {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

void install_signal_handlers() {
  // A peer that resets the connection while we write would otherwise kill the whole process with
  // SIGPIPE. Ignored, the write fails with EPIPE and only that connection is closed.
  ::signal(SIGPIPE, SIG_IGN);

  if (g_event_fd.load() < 0) {
    const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) {
      throw std::system_error(errno, std::generic_category(), "eventfd");
    }
    g_event_fd.store(fd);
  }
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  // No SA_RESTART: a blocking call interrupted by SIGTERM returns EINTR, so a loop that is
  // blocked somewhere unexpected still gets a chance to look at the flag.
  action.sa_flags = 0;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

bool shutdown_requested() noexcept {
  return g_requested.load(std::memory_order_acquire);
}

int shutdown_fd() noexcept {
  return g_event_fd.load(std::memory_order_relaxed);
}

void request_shutdown() noexcept {
  const int saved_errno =
      errno;  // a signal handler must not change errno under the code it interrupted
  g_requested.store(true, std::memory_order_release);
  if (const int fd = g_event_fd.load(std::memory_order_relaxed); fd >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(fd, &one, sizeof one);  // async-signal-safe
  }
  errno = saved_errno;
}

void after_fork_in_child(pid_t parent) {
  // The slot is emptied before the old descriptor is closed, so a handler that runs meanwhile
  // writes nowhere; the flag it sets is seen below. Closing first also frees a descriptor for
  // the new eventfd in a child that inherited a full table.
  if (const int inherited = g_event_fd.exchange(-1); inherited >= 0) {
    ::close(inherited);
  }
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) {
    throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  g_event_fd.store(fd);
  if (g_requested.load()) {
    request_shutdown();  // requested before the fork, or during the swap: readable from the start
  }
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) {
    request_shutdown();  // the parent died before the request: no signal will come
  }
}

pid_t fork_server_child() {
  const pid_t parent = ::getpid();
  const StopSignalsBlocked blocked;  // a signal now waits until the child has its own eventfd
  const pid_t pid = ::fork();
  if (pid == 0) {
    after_fork_in_child(parent);
  }
  return pid;  // errno is still fork()'s: pthread_sigmask() reports errors without it
}

void wait_for_shutdown() noexcept {
  // Every other thread of the server blocks the stop signals (StopSignalsBlocked); once this one
  // does too, a SIGTERM stays pending for the process and the signalfd turns readable: the signal
  // is taken here, synchronously, and no handler has to interrupt anything. (Under
  // ThreadSanitizer, whose runtime defers handlers, the handler of a signal that reached a thread
  // sleeping in poll() was sometimes never run.) The eventfd stays watched for a request that
  // came before the block, or from request_shutdown(). Without a signalfd (EMFILE at start-up),
  // the signals stay unblocked here and the handler takes them.
  const sigset_t set = stop_signals();
  const int signals = ::signalfd(-1, &set, SFD_CLOEXEC);
  std::optional<StopSignalsBlocked> blocked;
  if (signals >= 0) {
    blocked.emplace();
  }
  pollfd watched[2] = {{shutdown_fd(), POLLIN, 0}, {signals, POLLIN, 0}};
  while (!shutdown_requested()) {
    if (::poll(watched, signals >= 0 ? 2 : 1, -1) > 0 && (watched[1].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      static_cast<void>(::read(signals, &info, sizeof info));
      request_shutdown();
    }
  }
  if (signals >= 0) {
    ::close(signals);
  }
}

StopSignalsBlocked::StopSignalsBlocked() noexcept {
  const sigset_t set = stop_signals();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

StopSignalsBlocked::~StopSignalsBlocked() {
  const sigset_t set = stop_signals();
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);  // a signal that came meanwhile is handled now
}

}  // namespace common
