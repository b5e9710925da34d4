/// @file event_loop.hpp
/// @brief The epoll loop of chapters 04 to 07: non-blocking connections as state records.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "common/app.hpp"
#include "common/buffer.hpp"
#include "common/fd.hpp"
#include "common/http_parser.hpp"
#include "common/io.hpp"
#include "common/nonblocking.hpp"
#include "common/options.hpp"
#include "common/stats.hpp"
#include "common/timer_heap.hpp"

namespace common {

/// @defgroup event_loop Event loop
/// @brief One thread, one epoll instance, many connections (chapters 04 to 07).
///
/// The chapters that multiplex sockets on a loop differ only in how many loops there are, who
/// accepts, and who runs the handlers; the loop itself is the same, so it lives here. Chapter 04
/// runs one loop that accepts and answers inline; 05 hands requests to a worker pool; 06 runs a
/// loop per core fed by an acceptor thread; 07 runs a loop per core, each with its own listener.
/// @{

/// Which request a response answers: the connection (descriptor and serial, since descriptors
/// are reused) and the request's position in that connection's pipeline.
struct Ticket {
  int fd = -1;                 ///< the connection's descriptor
  std::uint64_t serial = 0;    ///< the connection's serial (Connection::serial)
  std::uint64_t sequence = 0;  ///< the request's number on its connection, from 0
};

// [connection]
/// Everything a blocking thread kept on its stack, kept between events instead.
struct Connection {
  /// Owns @p socket, counted in @p stats while the record lives; @p id becomes its serial.
  Connection(Fd socket, Stats& stats, std::uint64_t id) noexcept
      : fd(std::move(socket)), guard(stats), serial(id) {}

  Fd fd;                  ///< the socket; the record owns it
  ConnectionGuard guard;  ///< counts the connection as open while the record lives
  std::uint64_t serial;   ///< tells this connection from an earlier one on the same descriptor
  Buffer in;              ///< partial requests survive between reads
  RequestParser parser;   ///< where the request at the front of `in` stands
  OutputQueue out;        ///< responses not yet written, in order
  /// Responses not yet in `out`, in request order: a handler elsewhere may still be working on
  /// one (chapter 05). The front one answers request number `first_awaiting`. A vector, not a
  /// deque: it holds a few entries at most, and an empty vector allocates nothing.
  std::vector<std::optional<Response>> awaiting;
  std::uint64_t first_awaiting = 0;  ///< the request number that `awaiting.front()` answers
  bool no_more_requests = false;     ///< an error or "Connection: close" ends the pipeline
  bool peer_closed = false;          ///< read returned 0: answer what is complete, then close
  bool close_after_flush = false;    ///< a closing response is in `out`
  bool drain_on_close = false;       ///< unread input may be waiting: close gracefully
  bool closing = false;              ///< FIN sent; discarding input until EOF or the deadline
  bool want_out = false;             ///< EPOLLOUT is in the interest set
  bool refused = false;              ///< the request queue was full; waiting for room
  Deadline activity{};               ///< the last progress (or a request's first byte)
  TimerSlot timer;                   ///< its deadline, and the earliest one queued in the heap
};
// [connection]

/// One epoll loop: accepts (if it has a listener), reads, parses, answers, writes, times out,
/// closes and shuts down every connection it owns. Single-threaded, except adopt(), which other
/// threads may call.
class EventLoop {
 public:
  /// Takes a request away from the loop (chapter 05): returns false when it cannot take it now
  /// (its queue is full). @p raw is the request's bytes as received, valid during the call.
  using Submit = std::function<bool(const Ticket& ticket, std::string_view raw)>;

  /// A loop serving @p app. @p listener may be empty: connections then arrive through adopt().
  /// Throws std::system_error if epoll cannot be set up.
  EventLoop(const App& app, const Options& options, Fd listener);

  /// Hands every complete request to @p submit instead of answering it on the loop thread; the
  /// answer comes back through complete(). Call before run().
  void hand_off_requests(Submit submit) { submit_ = std::move(submit); }

  /// Delivers the response to a request handed off; a response for a connection that has
  /// closed meanwhile is dropped. Loop thread only.
  void complete(const Ticket& ticket, Response response);

  /// Calls @p on_readable on the loop thread whenever @p fd is readable (level-triggered): how
  /// another thread wakes the loop, with an eventfd. Call before run().
  void watch_readable(int fd, std::function<void()> on_readable);

  /// Gives this loop a connection accepted by another thread (chapter 06). Thread-safe: it only
  /// registers the descriptor in this loop's epoll set, marked as new; the loop creates the
  /// connection's record when the first event arrives. A failure closes the descriptor.
  void adopt(Fd client);

  /// Serves until shutdown is requested and every connection of this loop is closed.
  void run();

  /// The listening descriptor, or -1.
  [[nodiscard]] int listener_fd() const noexcept { return listener_.get(); }

 private:
  bool watch(int fd, std::uint32_t events, int op, std::uint64_t tag = 0);
  void accept_all();
  void open_connection(Fd client, bool adopted);
  void service(Connection& c, bool short_read_drains = false);
  FlushResult flush(Connection& c);
  bool take_requests(Connection& c);
  bool start_request(Connection& c, std::size_t consumed);
  void deliver(Connection& c, std::uint64_t sequence, Response response);
  void settle(Connection& c, FlushResult flushed);
  void begin_closing(Connection& c, bool drain);
  void drain_closing(Connection& c);
  void set_want_out(Connection& c, bool want);
  void refresh_deadline(Connection& c);
  void expire_timers();
  void on_timeout(Connection& c);
  void retry_refused();
  void begin_shutdown();
  void resume_listener();
  void close(Connection& c);
  Connection* find(int fd, std::uint64_t serial);

  Fd epoll_;
  Fd listener_;
  const App& app_;
  const Options& options_;
  Submit submit_;                                         // empty: answer inline
  std::vector<std::unique_ptr<Connection>> connections_;  // indexed by descriptor
  std::size_t live_ = 0;
  std::uint64_t next_serial_ = 0;
  TimerHeap timers_;
  std::deque<std::pair<int, std::uint64_t>> refused_;  // (fd, serial), oldest first
  bool retry_refused_ = false;
  std::vector<std::pair<int, std::function<void()>>> readable_watches_;
  Deadline listener_paused_until_ = kNoDeadline;
  Deadline shutdown_deadline_ = kNoDeadline;
  bool stopping_ = false;
};

/// @}

}  // namespace common
