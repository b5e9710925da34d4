/// @file event_loop.hpp
/// @brief Chapter 04: one thread, one epoll instance, every connection of a server or of a core.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "chapters/04-polling/connection.hpp"
#include "chapters/04-polling/task_queue.hpp"
#include "common/app.hpp"
#include "common/fd.hpp"
#include "common/io.hpp"
#include "common/options.hpp"
#include "common/timer_heap.hpp"

namespace polling {

/// @defgroup polling_loop Event loop (chapter 04)
/// @brief Waits for readiness, dispatches it, expires deadlines: the loop chapters 05, 07 and 08
/// reuse (chapter 06 reuses its connection and its task queue, not the loop).
///
/// The loop accepts (if it has a listener), serves and times out the connections it owns,
/// answering their requests inline. Three extension points, and nothing else, serve the
/// chapters that build on it: post() hands it work from another thread, adopt() gives it a
/// connection accepted elsewhere, and send_requests_to() lets someone else answer its requests
/// (the answers come back through answer(); requests the sink left are offered again by
/// retry()).
/// @{

/// One epoll loop. Single-threaded: every member function runs on the loop's thread, except
/// post(), which any thread may call.
class EventLoop {
 public:
  /// A loop serving @p app. @p listener may be empty: connections then arrive through
  /// adopt(). Throws std::system_error if epoll or the wake-up eventfd cannot be set up.
  EventLoop(const common::App& app, const common::Options& options, common::Fd listener);

  /// Serves until shutdown is requested and every connection of this loop is closed.
  void run();

  /// The listening descriptor, or -1.
  [[nodiscard]] int listener_fd() const noexcept { return listener_.get(); }

  /// Runs @p task on the loop's thread soon, in the order posted (muduo's queueInLoop), through
  /// a TaskQueue whose eventfd is in the loop's epoll set. Thread-safe. A task posted after run()
  /// returned is never run.
  void post(Task task) { posted_.post(std::move(task)); }

  /// Makes @p client, a connection accepted by another thread, one of this loop's connections.
  void adopt(common::Fd client);

  /// From now on, gives complete requests to @p sink instead of answering them on this thread
  /// (see RequestSink). Call before run().
  void send_requests_to(RequestSink sink) { sink_ = std::move(sink); }

  /// Delivers the answers to the batch that the sink took from connection @p id. They are
  /// dropped if the connection has closed meanwhile.
  void answer(ConnectionId id, std::vector<common::Response> answers);

  /// Offers connection @p id's requests to the sink again, after it had left them.
  void retry(ConnectionId id);

 private:
  enum class Source : std::uint32_t;

  bool watch(int fd, std::uint32_t events, int op, Source source);
  int wait(epoll_event* events, int capacity);
  void dispatch(const epoll_event& event);
  void after_batch();
  void accept_all();
  void open_connection(common::Fd client);
  void apply(Connection& c, Interest interest);
  void schedule(Connection& c);
  void close(Connection& c);
  Connection* find(ConnectionId id);
  void expire_timers();
  void begin_shutdown();
  [[nodiscard]] Context context() const noexcept;

  common::Fd epoll_;
  common::Fd listener_;
  TaskQueue posted_;  // what other threads post()
  const common::App& app_;
  const common::Options& options_;
  RequestSink sink_;                                      // empty: answer inline
  std::vector<std::unique_ptr<Connection>> connections_;  // indexed by descriptor
  std::size_t live_ = 0;
  std::uint64_t next_serial_ = 0;
  common::TimerHeap timers_;
  common::Deadline listener_paused_until_ = common::kNoDeadline;
  common::Deadline shutdown_deadline_ = common::kNoDeadline;
  bool stopping_ = false;
};

/// @}

}  // namespace polling
