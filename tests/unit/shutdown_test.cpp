#include "common/shutdown.hpp"

#include <cerrno>
#include <csignal>

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

// The shutdown state is one per process, so every test runs in a forked process of its own (the
// "server") and reports through its exit status; this process's state is never touched.

namespace {

// True if @p fd turns readable within @p timeout_ms (a signal handled meanwhile restarts the wait).
bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int n = 0;
  while ((n = ::poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
  }
  return n == 1;
}

// Runs @p body in a forked process and returns its exit status (-1 if it did not exit normally).
template <typename Body>
int in_child_process(Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::_exit(body());
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
    return -1;
  }
  return WEXITSTATUS(status);
}

// Forks a server child with common::fork_server_child(); the child runs @p body and exits.
template <typename Body>
pid_t fork_server_child(Body body) {
  const pid_t pid = common::fork_server_child();
  if (pid == 0) {
    ::_exit(body());
  }
  return pid;
}

TEST(Shutdown, RequestMakesTheEventfdReadableForGood) {
  EXPECT_EQ(in_child_process([] {
              common::install_signal_handlers();
              if (common::shutdown_requested() || readable(common::shutdown_fd(), 0)) {
                return 1;
              }
              ::raise(SIGTERM);
              const bool twice =
                  readable(common::shutdown_fd(), 0) && readable(common::shutdown_fd(), 0);
              return common::shutdown_requested() && twice ? 0 : 2;
            }),
            0);
}

TEST(ForkServerChild, AChildsStopDoesNotReachItsParent) {
  EXPECT_EQ(in_child_process([] {
              common::install_signal_handlers();
              const pid_t child = fork_server_child([] {
                ::raise(SIGTERM);
                return common::shutdown_requested() && readable(common::shutdown_fd(), 0) ? 0 : 1;
              });
              int status = 0;
              if (child < 0 || ::waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
                  WEXITSTATUS(status) != 0) {
                return 3;  // the child did not see its own stop
              }
              // With the inherited eventfd the child's stop would be readable here too.
              return readable(common::shutdown_fd(), 0) || common::shutdown_requested() ? 4 : 0;
            }),
            0);
}

TEST(ForkServerChild, AParentsStopRequestedBeforeTheForkIsInherited) {
  EXPECT_EQ(in_child_process([] {
              common::install_signal_handlers();
              common::request_shutdown();
              const pid_t child = fork_server_child([] {
                return common::shutdown_requested() && readable(common::shutdown_fd(), 0) ? 0 : 1;
              });
              int status = 0;
              return child > 0 && ::waitpid(child, &status, 0) == child && WIFEXITED(status)
                         ? WEXITSTATUS(status)
                         : 5;
            }),
            0);
}

TEST(ForkServerChild, AChildStopsWhenItsParentIsKilled) {
  int ready[2];
  int result[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(result), 0);
  const pid_t parent = ::fork();
  ASSERT_GE(parent, 0);
  if (parent == 0) {
    common::install_signal_handlers();
    fork_server_child([&] {
      [[maybe_unused]] const ssize_t sent = ::write(ready[1], "r", 1);
      // Waits up to 5 s for the SIGTERM that the parent's death sends.
      const char verdict =
          readable(common::shutdown_fd(), 5000) && common::shutdown_requested() ? 'y' : 'n';
      [[maybe_unused]] const ssize_t reported = ::write(result[1], &verdict, 1);
      return 0;
    });
    char byte = 0;
    [[maybe_unused]] const ssize_t got = ::read(ready[0], &byte, 1);
    ::raise(SIGKILL);  // no handler runs, nothing is passed on
  }
  ::close(ready[1]);
  ::close(result[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(parent, &status, 0), parent);
  ASSERT_TRUE(WIFSIGNALED(status));
  char verdict = 0;
  pollfd p{result[0], POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10'000), 1) << "the orphan never reported";
  ASSERT_EQ(::read(result[0], &verdict, 1), 1);
  EXPECT_EQ(verdict, 'y') << "the orphan was not told to stop";
  ::close(ready[0]);
  ::close(result[0]);
}

TEST(AfterForkInChild, AChildWhoseParentIsAlreadyGoneStopsAtOnce) {
  EXPECT_EQ(in_child_process([] {
              common::install_signal_handlers();
              common::after_fork_in_child(::getppid() + 1);  // not the parent: it is "gone"
              return common::shutdown_requested() && readable(common::shutdown_fd(), 0) ? 0 : 1;
            }),
            0);
}

}  // namespace
