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
// everyone. /sleep and /compute run right here, on the loop thread, on purpose: while one
// handler blocks, no other client is read, written, accepted or timed out. The server uses one
// core. Chapter 05 moves the handlers to a worker pool and keeps this loop for the I/O.

#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <queue>
#include <system_error>
#include <vector>

#include "common/app.hpp"
#include "common/buffer.hpp"
#include "common/chapter.hpp"
#include "common/io.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/nonblocking.hpp"
#include "common/shutdown.hpp"

namespace {

using namespace std::chrono_literals;
using common::Clock;
using common::Deadline;

constexpr common::ChapterInfo kChapter{
    .name = "04-polling",
    .model = "polling",
    .summary = "Chapter 04: one thread, one epoll loop, every socket non-blocking.",
    .flags = 0,
};

constexpr auto kLingerTime = 1000ms;            // how long a closing connection drains the client
constexpr auto kAcceptPause = 100ms;            // listener rest after EMFILE
constexpr std::uint64_t kOutputCap = 1 << 20;   // stop answering a client that does not read
constexpr std::size_t kLingerBudget = 1 << 20;  // bytes discarded per event while closing
constexpr int kMaxEvents = 256;

// [connection]
// Everything a blocking thread kept on its stack, now kept between events.
struct Connection {
  explicit Connection(common::Fd socket, common::Stats& stats, std::uint64_t id)
      : fd(std::move(socket)), guard(stats), serial(id) {}

  common::Fd fd;
  common::ConnectionGuard guard;
  std::uint64_t serial;  // tells a timer entry for this fd from one for an earlier owner
  common::Buffer in;     // partial requests survive between reads
  common::RequestParser parser;
  common::OutputQueue out;   // responses not yet written, in order
  bool peer_closed = false;  // read returned 0: answer what is buffered, then close
  bool close_after_flush = false;
  bool drain_on_close = false;
  bool closing = false;   // FIN sent; reading and discarding until EOF or the deadline
  bool want_out = false;  // EPOLLOUT is in the interest set
  Deadline activity{};    // the last read or write progress (or the request's first byte)
  Deadline deadline = common::kNoDeadline;
  Deadline queued = common::kNoDeadline;  // the earliest entry this connection has in the heap
};
// [connection]

// [timers]
// A min-heap of (deadline, fd, serial) with lazy deletion. A connection's deadline moves on every
// request, so instead of updating the heap we push only when the deadline moves *earlier*; when
// an entry pops and the connection's real deadline is later, it is pushed again. Entries of
// closed connections die by their serial. epoll_wait sleeps until the top of the heap.
struct TimerEntry {
  Deadline when;
  int fd;
  std::uint64_t serial;
  bool operator>(const TimerEntry& other) const { return when > other.when; }
};
using TimerHeap = std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<>>;
// [timers]

class Server {
 public:
  Server(common::Fd listener, const common::App& app, const common::Options& options)
      : listener_(std::move(listener)), app_(app), options_(options) {
    if (!epoll_) {
      throw std::system_error(errno, std::generic_category(), "epoll_create1");
    }
    // Level-triggered, both: a re-armed listener reports the clients already waiting.
    if (!watch(listener_.get(), EPOLLIN) || !watch(common::shutdown_fd(), EPOLLIN)) {
      throw std::system_error(errno, std::generic_category(), "epoll_ctl");
    }
  }
  void run();
  [[nodiscard]] int listener_fd() const noexcept { return listener_.get(); }

 private:
  bool watch(int fd, std::uint32_t events, int op = EPOLL_CTL_ADD);
  void accept_all();
  void service(Connection& c);
  common::FlushResult flush(Connection& c);
  bool answer_requests(Connection& c);
  void settle(Connection& c, common::FlushResult flushed);
  void begin_closing(Connection& c, bool drain);
  void drain_closing(Connection& c);
  void set_want_out(Connection& c, bool want);
  void refresh_deadline(Connection& c);
  void expire_timers();
  void on_timeout(Connection& c);
  void begin_shutdown();
  void close(Connection& c) { connections_[c.fd.get()].reset(); }  // ~Fd closes, epoll forgets
  int wait_timeout() const;

  common::Fd epoll_{::epoll_create1(EPOLL_CLOEXEC)};
  common::Fd listener_;
  const common::App& app_;
  const common::Options& options_;
  std::vector<std::unique_ptr<Connection>> connections_;  // indexed by descriptor
  std::uint64_t next_serial_ = 0;
  TimerHeap timers_;
  Deadline listener_paused_until_ = common::kNoDeadline;
  Deadline shutdown_deadline_ = common::kNoDeadline;
  bool stopping_ = false;
};

// Returns false (errno set) if epoll_ctl failed: fatal at start-up, one lost client later.
bool Server::watch(int fd, std::uint32_t events, int op) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;  // the descriptor, not a pointer: a stale event finds an empty slot
  return ::epoll_ctl(epoll_.get(), op, fd, &event) == 0;
}

// [accept-drain]
void Server::accept_all() {
  for (;;) {  // drain the backlog: one readiness event may stand for many connections
    common::AcceptResult accepted = common::accept_client(listener_.get());
    if (accepted.status == common::AcceptStatus::kWouldBlock) {
      return;
    }
    if (accepted.status != common::AcceptStatus::kAccepted) {
      // EMFILE: the pending connection keeps the listener readable, so a level-triggered loop
      // would spin. Take the listener out of the set and retry in 100 ms; the clients wait in
      // the backlog and are served once descriptors free up (the reserve-fd trick would accept
      // and close them instead: no spin either, but those clients are dropped).
      common::log_warn("accept: %s; pausing the listener", std::strerror(accepted.error));
      watch(listener_.get(), 0, EPOLL_CTL_MOD);
      listener_paused_until_ = Clock::now() + kAcceptPause;
      return;
    }
    const int fd = accepted.fd.get();
    common::set_nodelay(fd);
    if (static_cast<std::size_t>(fd) >= connections_.size()) {
      connections_.resize(static_cast<std::size_t>(fd) + 1);
    }
    connections_[fd] =
        std::make_unique<Connection>(std::move(accepted.fd), app_.stats(), ++next_serial_);
    Connection& c = *connections_[fd];
    if (!watch(fd, EPOLLIN | EPOLLRDHUP | EPOLLET)) {
      common::log_warn("epoll_ctl: %s; connection dropped", std::strerror(errno));
      close(c);
      continue;
    }
    c.activity = Clock::now();
    refresh_deadline(c);
  }
}
// [accept-drain]

// [read-drain]
// Reads, answers and writes until the socket has nothing more for us. Edge-triggered: unless the
// read ends in EAGAIN, no new event will tell us that bytes are still waiting, so every reason
// to stop early (read budget, output cap) is retried here once the output has drained.
void Server::service(Connection& c) {
  if (c.closing) {
    return drain_closing(c);
  }
  common::FlushResult flushed = common::FlushResult::kDone;
  for (bool again = true; again;) {
    common::ReadStatus status = common::ReadStatus::kWouldBlock;
    // A client that does not read its answers is not read either: TCP flow control holds it.
    const bool read_paused = c.out.pending_bytes() >= kOutputCap;
    if (!c.peer_closed && !c.close_after_flush && !read_paused) {
      const bool was_empty = c.in.empty();
      status = common::read_available(c.fd.get(), c.in);
      if (status == common::ReadStatus::kError) {
        return close(c);
      }
      c.peer_closed = status == common::ReadStatus::kEof;
      if (was_empty && !c.in.empty()) {
        c.activity = Clock::now();  // a request's first byte starts the request timeout
      }
    }
    const bool capped = answer_requests(c);
    flushed = flush(c);
    again = flushed == common::FlushResult::kDone &&
            (status == common::ReadStatus::kBudget || read_paused || capped);
  }
  settle(c, flushed);
}
// [read-drain]

// Writes what the socket takes; progress is activity, so only a reader that stalls times out.
common::FlushResult Server::flush(Connection& c) {
  const std::uint64_t before = c.out.sent_bytes();
  const common::FlushResult result = c.out.flush(c.fd.get());
  if (c.out.sent_bytes() != before) {
    c.activity = Clock::now();
  }
  return result;
}

// Answers the complete requests buffered, in order. Returns true if it stopped because the
// output queue is full rather than because no complete request is left.
bool Server::answer_requests(Connection& c) {
  while (!c.close_after_flush) {
    if (c.out.pending_bytes() >= kOutputCap) {
      return true;
    }
    const common::ParseResult parsed = c.parser.parse(c.in.readable());
    if (parsed.status == common::ParseStatus::kIncomplete) {
      break;
    }
    if (parsed.status == common::ParseStatus::kError) {
      c.out.push(app_.reject(parsed.error_status));
      c.close_after_flush = c.drain_on_close = true;
      break;
    }
    // Inline, on the loop thread: a /sleep here stalls every other client (chapter 05's reason).
    common::Response response = app_.handle(c.parser.request());
    c.in.consume(parsed.consumed);
    c.parser.reset();
    c.close_after_flush = response.close;
    c.drain_on_close = !c.in.empty();
    c.out.push(std::move(response));
    c.activity = Clock::now();
  }
  return false;
}

// [write-rule]
// After a flush: EPOLLOUT is wanted only while output is pending (a socket is writable almost
// always, so asking for it otherwise would wake the loop for nothing); with nothing pending the
// connection closes, starts closing, or waits for its next request.
void Server::settle(Connection& c, common::FlushResult flushed) {
  if (flushed == common::FlushResult::kError) {
    return close(c);
  }
  set_want_out(c, flushed == common::FlushResult::kWouldBlock);
  if (flushed == common::FlushResult::kDone) {
    if (c.close_after_flush) {
      return begin_closing(c, c.drain_on_close);
    }
    if (c.peer_closed || stopping_) {
      return close(c);  // every complete request is answered: half-close and shutdown end here
    }
    if (c.in.empty()) {
      c.in = common::Buffer();  // an idle connection keeps no input memory
    }
  }
  refresh_deadline(c);
}

void Server::set_want_out(Connection& c, bool want) {
  if (c.want_out != want) {
    c.want_out = want;
    watch(c.fd.get(), EPOLLIN | EPOLLRDHUP | EPOLLET | (want ? EPOLLOUT : 0u), EPOLL_CTL_MOD);
  }
}
// [write-rule]

// Like common::close_gracefully(), as a state: FIN now, then discard input until EOF or 1 s, so
// that close() does not turn unread input into an RST that destroys the response.
void Server::begin_closing(Connection& c, bool drain) {
  int unread = 0;
  if (c.peer_closed || (!drain && ::ioctl(c.fd.get(), FIONREAD, &unread) == 0 && unread == 0)) {
    return close(c);  // nothing can arrive unread: a plain close() sends FIN, not RST
  }
  ::shutdown(c.fd.get(), SHUT_WR);
  c.closing = true;
  c.in = common::Buffer();
  c.activity = Clock::now();
  refresh_deadline(c);
  drain_closing(c);
}

void Server::drain_closing(Connection& c) {
  char sink[16 * 1024];
  for (std::size_t total = 0; total < kLingerBudget;) {  // a flood waits for the next event
    const ssize_t n = ::recv(c.fd.get(), sink, sizeof sink, 0);
    if (n > 0) {
      total += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      return close(c);  // EOF (or reset): now close() cannot hurt
    }
  }
}

// [deadline]
// One deadline per connection, chosen by its state: what it is waiting for decides how long.
void Server::refresh_deadline(Connection& c) {
  std::chrono::milliseconds limit = options_.idle_timeout;  // idle keep-alive
  if (c.closing) {
    limit = kLingerTime;
  } else if (!c.out.empty() || !c.in.empty()) {
    limit = options_.request_timeout;  // a request arriving, or a reader making no progress
  }
  c.deadline = std::min(c.activity + limit, shutdown_deadline_);
  if (c.deadline < c.queued) {
    c.queued = c.deadline;
    timers_.push({c.deadline, c.fd.get(), c.serial});
  }
}

void Server::expire_timers() {
  const Deadline now = Clock::now();
  while (!timers_.empty() && timers_.top().when <= now) {
    const TimerEntry entry = timers_.top();
    timers_.pop();
    Connection* c = connections_[entry.fd].get();
    if (c == nullptr || c->serial != entry.serial || c->queued != entry.when) {
      continue;  // closed, or superseded by an earlier entry: lazy deletion
    }
    c->queued = common::kNoDeadline;
    if (c->deadline <= now) {
      on_timeout(*c);
    } else {
      refresh_deadline(*c);  // the deadline moved later since this entry was pushed
    }
  }
}
// [deadline]

void Server::on_timeout(Connection& c) {
  if (c.closing || !c.out.empty()) {
    return close(c);  // linger over, a stalled reader, or shutdown grace spent: give up
  }
  if (c.in.empty() || stopping_) {
    return close(c);  // an idle keep-alive connection is closed silently
  }
  c.in.clear();  // a request that did not arrive in time: 408, then close
  c.out.push(app_.timeout());
  c.close_after_flush = c.drain_on_close = true;
  c.activity = Clock::now();
  settle(c, flush(c));
}

// [shutdown]
void Server::begin_shutdown() {
  stopping_ = true;
  shutdown_deadline_ = Clock::now() + common::kShutdownGrace;
  watch(common::shutdown_fd(), 0, EPOLL_CTL_DEL);  // it stays readable forever
  watch(listener_.get(), 0, EPOLL_CTL_DEL);
  listener_.reset();  // new clients are refused from now on
  listener_paused_until_ = common::kNoDeadline;
  for (auto& slot : connections_) {
    if (slot && slot->out.empty() && !slot->closing) {
      close(*slot);  // idle, or waiting for a request: nothing is in flight
    } else if (slot) {
      refresh_deadline(*slot);  // a response in flight may finish, within the grace
    }
  }
}
// [shutdown]

int Server::wait_timeout() const {
  Deadline next = listener_paused_until_;
  if (!timers_.empty()) {
    next = std::min(next, timers_.top().when);
  }
  if (next == common::kNoDeadline) {
    return -1;
  }
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now());
  return static_cast<int>(std::max<std::int64_t>(left.count(), 0));
}

// [event-loop]
void Server::run() {
  std::array<epoll_event, kMaxEvents> events{};
  while (!stopping_ || app_.stats().open_connections.load() > 0) {
    const int n = ::epoll_wait(epoll_.get(), events.data(), kMaxEvents, wait_timeout());
    if (n < 0 && errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == common::shutdown_fd()) {
        begin_shutdown();
      } else if (fd == listener_.get()) {
        accept_all();
      } else if (static_cast<std::size_t>(fd) < connections_.size() && connections_[fd]) {
        // A stale event for a descriptor closed earlier in this batch (and maybe reused by
        // accept) only causes a read that says EAGAIN: every socket is non-blocking.
        service(*connections_[fd]);
      }
    }
    if (Clock::now() >= listener_paused_until_) {
      listener_paused_until_ = common::kNoDeadline;
      watch(listener_.get(), EPOLLIN, EPOLL_CTL_MOD);  // try accept() again
    }
    expire_timers();
  }
}
// [event-loop]

}  // namespace

// [main]
int main(int argc, char** argv) {
  const common::Options options = common::parse_options(argc, argv, kChapter);
  common::init_process(kChapter);
  common::raise_descriptor_limit();  // 10,000 connections need 10,000 descriptors
  common::Fd listener = common::open_listener(options);
  common::Stats stats;
  const common::App app(options, kChapter, stats, /*workers=*/1);
  Server server(std::move(listener), app, options);
  common::announce_listening(options, server.listener_fd());
  server.run();
  common::log_info("shutting down");
  return 0;
}
// [main]
