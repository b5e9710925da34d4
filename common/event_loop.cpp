#include "common/event_loop.hpp"

#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>

#include "common/log.hpp"
#include "common/net.hpp"
#include "common/shutdown.hpp"

namespace common {
namespace {

using namespace std::chrono_literals;

constexpr auto kLingerTime = 1000ms;            // how long a closing connection drains the client
constexpr auto kAcceptPause = 100ms;            // listener rest after EMFILE
constexpr std::uint64_t kOutputCap = 1 << 20;   // stop reading a client that does not read
constexpr std::size_t kLingerBudget = 1 << 20;  // bytes discarded per event while closing
constexpr std::size_t kMaxAwaiting = 16;        // pipelined requests answered at once, at most
constexpr std::size_t kReadBudget = 1 << 20;    // bytes read from one client per pass
constexpr int kMaxEvents = 256;

// Clients are edge-triggered: an event means "something changed", and we drain to EAGAIN.
constexpr std::uint32_t kClientEvents = EPOLLIN | EPOLLRDHUP | EPOLLET;

// epoll_event.data holds the descriptor in its low 32 bits and a tag above: a descriptor that
// another thread registered with adopt() arrives tagged as new.
constexpr std::uint64_t kNewConnectionTag = 1;

}  // namespace

EventLoop::EventLoop(const App& app, const Options& options, Fd listener)
    : epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      listener_(std::move(listener)),
      app_(app),
      options_(options) {
  if (!epoll_) {
    throw std::system_error(errno, std::generic_category(), "epoll_create1");
  }
  // Level-triggered, both: a re-armed listener reports the clients already waiting.
  if ((listener_ && !watch(listener_.get(), EPOLLIN, EPOLL_CTL_ADD)) ||
      !watch(shutdown_fd(), EPOLLIN, EPOLL_CTL_ADD)) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl");
  }
}

// Returns false (errno set) if epoll_ctl failed: fatal at start-up, one lost client later.
bool EventLoop::watch(int fd, std::uint32_t events, int op, std::uint64_t tag) {
  epoll_event event{};
  event.events = events;
  // The descriptor, not a pointer: a stale event finds an empty slot, never freed memory.
  event.data.u64 = static_cast<std::uint32_t>(fd) | (tag << 32);
  return ::epoll_ctl(epoll_.get(), op, fd, &event) == 0;
}

void EventLoop::watch_readable(int fd, std::function<void()> on_readable) {
  if (!watch(fd, EPOLLIN, EPOLL_CTL_ADD)) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl");
  }
  readable_watches_.emplace_back(fd, std::move(on_readable));
}

// [adopt]
// Called by another thread (chapter 06's acceptor). epoll_ctl is thread-safe, and that is all
// this touches: the record is created by the loop's own thread when the event arrives. EPOLLOUT
// makes that event immediate, because a new socket is always writable.
void EventLoop::adopt(Fd client) {
  if (watch(client.get(), kClientEvents | EPOLLOUT, EPOLL_CTL_ADD, kNewConnectionTag)) {
    static_cast<void>(client.release());  // the epoll set holds it until the loop claims it
  } else {
    log_warn("epoll_ctl: %s; connection dropped", std::strerror(errno));
  }
}
// [adopt]

// [accept-drain]
void EventLoop::accept_all() {
  for (;;) {  // drain the backlog: one readiness event may stand for many connections
    AcceptResult accepted = accept_client(listener_.get());
    if (accepted.status == AcceptStatus::kWouldBlock) {
      return;
    }
    if (accepted.status != AcceptStatus::kAccepted) {
      // EMFILE: the pending connection keeps the listener readable, so a level-triggered loop
      // would spin. Take the listener out of the set and retry in 100 ms; the clients wait in
      // the backlog and are served once descriptors free up (the reserve-fd trick would accept
      // and close them instead: no spin either, but those clients are dropped).
      // [exercise:emfile-pause solution]
      log_warn("accept: %s; pausing the listener", std::strerror(accepted.error));
      watch(listener_.get(), 0, EPOLL_CTL_MOD);
      listener_paused_until_ = Clock::now() + kAcceptPause;
      // [exercise:emfile-pause start]
      // // Nothing to do: the next event will try again.
      // [exercise:emfile-pause end]
      return;
    }
    set_nodelay(accepted.fd.get());
    open_connection(std::move(accepted.fd), /*adopted=*/false);
  }
}
// [accept-drain]

void EventLoop::resume_listener() {
  listener_paused_until_ = kNoDeadline;
  watch(listener_.get(), EPOLLIN, EPOLL_CTL_MOD);  // try accept() again
}

// Creates the record of a new connection, accepted here or adopted from another thread (then it
// is in the epoll set already, tagged as new, and loses the tag and EPOLLOUT here).
void EventLoop::open_connection(Fd client, bool adopted) {
  const int fd = client.get();
  if (static_cast<std::size_t>(fd) >= connections_.size()) {
    connections_.resize(static_cast<std::size_t>(fd) + 1);
  }
  connections_[fd] = std::make_unique<Connection>(std::move(client), app_.stats(), ++next_serial_);
  ++live_;
  Connection& c = *connections_[fd];
  if (!watch(fd, kClientEvents, adopted ? EPOLL_CTL_MOD : EPOLL_CTL_ADD)) {
    log_warn("epoll_ctl: %s; connection dropped", std::strerror(errno));
    return close(c);
  }
  if (stopping_) {
    return close(c);  // adopted during shutdown
  }
  c.activity = Clock::now();
  if (adopted) {
    service(c);  // its request may be waiting already (TCP_DEFER_ACCEPT makes that likely)
  } else {
    refresh_deadline(c);  // EPOLL_CTL_ADD reports input that arrived before it
  }
}

// [read-drain]
// Reads, answers and writes until the socket has nothing more for us. Edge-triggered: unless the
// read ends in EAGAIN, no new event will tell us that bytes are still waiting, so every reason
// to stop early (read budget, output cap) is retried here once the output has drained. The
// other reasons (a full pipeline, a full request queue) end when a response comes back.
void EventLoop::service(Connection& c, bool short_read_drains) {
  if (c.closing) {
    return drain_closing(c);
  }
  FlushResult flushed = FlushResult::kDone;
  for (bool again = true; again;) {
    ReadStatus status = ReadStatus::kWouldBlock;
    // A client that does not read its answers is not read either: TCP flow control holds it.
    const bool output_full = c.out.pending_bytes() >= kOutputCap;
    const bool pipeline_full = c.awaiting.size() >= kMaxAwaiting || c.refused;
    if (!c.peer_closed && !c.no_more_requests && !output_full && !pipeline_full) {
      const bool was_empty = c.in.empty();
      // [exercise:partial-requests solution]
      status = read_available(c.fd.get(), c.in, kReadBudget, short_read_drains);
      // [exercise:partial-requests start]
      // // Each read is parsed on its own: whatever an earlier read left is thrown away.
      // c.in.clear();
      // c.parser.reset();
      // status = read_available(c.fd.get(), c.in, kReadBudget, short_read_drains);
      // [exercise:partial-requests end]
      if (status == ReadStatus::kError) {
        return close(c);
      }
      c.peer_closed = status == ReadStatus::kEof;
      if (was_empty && !c.in.empty()) {
        c.activity = Clock::now();  // a request's first byte starts the request timeout
      }
    }
    const bool capped = take_requests(c);
    flushed = flush(c);
    again =
        flushed == FlushResult::kDone && (status == ReadStatus::kBudget || output_full || capped);
  }
  settle(c, flushed);
}
// [read-drain]

// Writes what the socket takes; progress is activity, so only a reader that stalls times out.
FlushResult EventLoop::flush(Connection& c) {
  const std::uint64_t before = c.out.sent_bytes();
  const FlushResult result = c.out.flush(c.fd.get());
  if (c.out.sent_bytes() != before) {
    c.activity = Clock::now();
  }
  return result;
}

// [requests]
// Starts every complete request buffered, in order. Returns true if it stopped because the
// output queue is full (flushing will make room), false otherwise.
bool EventLoop::take_requests(Connection& c) {
  while (!c.no_more_requests && !c.refused && c.awaiting.size() < kMaxAwaiting) {
    if (c.out.pending_bytes() >= kOutputCap) {
      return true;
    }
    const ParseResult parsed = c.parser.parse(c.in.readable());
    if (parsed.status == ParseStatus::kIncomplete) {
      break;
    }
    if (parsed.status == ParseStatus::kError) {
      c.no_more_requests = true;  // the error answer goes out after the requests before it
      c.awaiting.emplace_back();
      deliver(c, c.first_awaiting + c.awaiting.size() - 1, app_.reject(parsed.error_status));
      break;
    }
    if (!start_request(c, parsed.consumed)) {
      c.refused = true;  // it stays buffered; retry_refused() tries again when there is room
      refused_.emplace_back(c.fd.get(), c.serial);
      break;
    }
  }
  return false;
}

// Answers the parsed request inline, or hands it off. Returns false if the hand-off refused it.
bool EventLoop::start_request(Connection& c, std::size_t consumed) {
  const Ticket ticket{c.fd.get(), c.serial, c.first_awaiting + c.awaiting.size()};
  std::optional<Response> answer;
  if (!submit_) {
    // Inline, on the loop thread: a /sleep here stalls every client of this loop.
    answer = app_.handle(c.parser.request());
  } else if (!submit_(ticket, c.in.readable().substr(0, consumed))) {
    return false;
  }
  c.no_more_requests = !c.parser.request().keep_alive;
  c.in.consume(consumed);
  c.parser.reset();
  c.awaiting.emplace_back();
  c.activity = Clock::now();
  if (answer) {
    deliver(c, ticket.sequence, std::move(*answer));
  }
  return true;
}

// Puts a response in its place in the pipeline, then moves every response that is ready and
// has no unanswered request before it to the output queue: answers leave in request order
// whatever order the handlers finish in.
void EventLoop::deliver(Connection& c, std::uint64_t sequence, Response response) {
  c.awaiting[sequence - c.first_awaiting] = std::move(response);
  while (!c.awaiting.empty() && c.awaiting.front().has_value()) {
    Response next = std::move(*c.awaiting.front());
    c.awaiting.erase(c.awaiting.begin());
    ++c.first_awaiting;
    if (next.close) {
      c.close_after_flush = c.no_more_requests = true;
      c.drain_on_close = !c.in.empty() || !c.awaiting.empty();
    }
    c.out.push(std::move(next));
    if (c.close_after_flush) {
      c.awaiting.clear();  // nothing is sent after a closing response
    }
  }
}

void EventLoop::complete(const Ticket& ticket, Response response) {
  retry_refused_ = true;  // a worker finished, so the request queue has room again
  Connection* c = find(ticket.fd, ticket.serial);
  if (c == nullptr || c->closing || c->close_after_flush || ticket.sequence < c->first_awaiting) {
    return;  // the client is gone, or the answer comes after a closing one
  }
  deliver(*c, ticket.sequence, std::move(response));
  service(*c);  // write it; read more if the pipeline was full
}

void EventLoop::retry_refused() {
  retry_refused_ = false;
  while (!refused_.empty()) {
    const auto [fd, serial] = refused_.front();
    refused_.pop_front();
    Connection* c = find(fd, serial);
    if (c == nullptr || !c->refused) {
      continue;
    }
    c->refused = false;
    service(*c);
    if (Connection* again = find(fd, serial); again != nullptr && again->refused) {
      return;  // the queue is full again
    }
  }
}
// [requests]

// [write-rule]
// After a flush: EPOLLOUT is wanted only while output is pending (a socket is writable almost
// always, so asking for it otherwise would wake the loop for nothing); with nothing pending the
// connection closes, starts closing, or waits for its next request.
void EventLoop::settle(Connection& c, FlushResult flushed) {
  if (flushed == FlushResult::kError) {
    return close(c);
  }
  set_want_out(c, flushed == FlushResult::kWouldBlock);
  if (flushed == FlushResult::kDone && c.close_after_flush) {
    return begin_closing(c, c.drain_on_close);
  }
  if (flushed == FlushResult::kDone && c.awaiting.empty() && !c.refused &&
      (c.peer_closed || stopping_)) {
    return close(c);  // every complete request is answered: half-close and shutdown end here
  }
  if (c.in.empty()) {
    c.in = Buffer();  // a connection waiting for a request or an answer keeps no input memory
  }
  if (c.awaiting.empty()) {
    c.awaiting = std::vector<std::optional<Response>>();
  }
  refresh_deadline(c);
}

void EventLoop::set_want_out(Connection& c, bool want) {
  if (c.want_out != want) {
    c.want_out = want;
    watch(c.fd.get(), kClientEvents | (want ? EPOLLOUT : 0u), EPOLL_CTL_MOD);
  }
}
// [write-rule]

// [closing]
// Like common::close_gracefully(), as a state: FIN now, then discard input until EOF or 1 s, so
// that close() does not turn unread input into an RST that destroys the response.
void EventLoop::begin_closing(Connection& c, bool drain) {
  int unread = 0;
  if (c.peer_closed || (!drain && ::ioctl(c.fd.get(), FIONREAD, &unread) == 0 && unread == 0)) {
    return close(c);  // nothing can arrive unread: a plain close() sends FIN, not RST
  }
  ::shutdown(c.fd.get(), SHUT_WR);
  c.closing = true;
  c.in = Buffer();
  c.awaiting.clear();
  c.refused = false;
  c.activity = Clock::now();
  refresh_deadline(c);
  drain_closing(c);
}

void EventLoop::drain_closing(Connection& c) {
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
// [closing]

void EventLoop::close(Connection& c) {
  --live_;
  connections_[c.fd.get()].reset();  // ~Fd closes the socket, and epoll forgets it
}

Connection* EventLoop::find(int fd, std::uint64_t serial) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= connections_.size()) {
    return nullptr;
  }
  Connection* c = connections_[fd].get();
  return c != nullptr && c->serial == serial ? c : nullptr;
}

// [deadline]
// One deadline per connection, chosen by its state: what it is waiting for decides how long.
void EventLoop::refresh_deadline(Connection& c) {
  Deadline deadline = c.activity + options_.idle_timeout;  // idle keep-alive
  if (c.closing) {
    deadline = c.activity + kLingerTime;
  } else if (!c.out.empty()) {
    deadline = c.activity + options_.request_timeout;  // a reader making no progress
  } else if (!c.awaiting.empty() || c.refused) {
    deadline = kNoDeadline;  // our handler is working: the client is not late
  } else if (!c.in.empty()) {
    deadline = c.activity + options_.request_timeout;  // a request arriving
  }
  c.timer.deadline = std::min(deadline, shutdown_deadline_);
  timers_.schedule(c.timer, c.fd.get(), c.serial);
}

void EventLoop::expire_timers() {
  const Deadline now = Clock::now();
  timers_.expire(now, [this, now](const TimerHeap::Entry& entry) {
    Connection* c = find(entry.fd, entry.serial);
    if (c == nullptr || c->timer.queued != entry.when) {
      return;  // closed, or superseded by an earlier entry: lazy deletion
    }
    c->timer.queued = kNoDeadline;
    if (c->timer.deadline <= now) {
      on_timeout(*c);
    } else {
      timers_.schedule(c->timer, c->fd.get(), c->serial);  // the deadline moved later
    }
  });
}
// [deadline]

void EventLoop::on_timeout(Connection& c) {
  if (c.closing || !c.out.empty() || !c.awaiting.empty() || c.refused) {
    return close(c);  // linger over, a stalled reader, or the shutdown grace spent: give up
  }
  if (c.in.empty() || stopping_) {
    return close(c);  // an idle keep-alive connection is closed silently
  }
  c.in.clear();  // a request that did not arrive in time: 408, then close
  c.out.push(app_.timeout());
  c.close_after_flush = c.drain_on_close = c.no_more_requests = true;
  c.activity = Clock::now();
  settle(c, flush(c));
}

// [shutdown]
void EventLoop::begin_shutdown() {
  stopping_ = true;
  shutdown_deadline_ = Clock::now() + kShutdownGrace;
  watch(shutdown_fd(), 0, EPOLL_CTL_DEL);  // it stays readable forever
  if (listener_) {
    watch(listener_.get(), 0, EPOLL_CTL_DEL);
    listener_.reset();  // new clients are refused from now on
  }
  listener_paused_until_ = kNoDeadline;
  for (auto& slot : connections_) {
    if (!slot) {
      continue;
    }
    if (slot->out.empty() && slot->awaiting.empty() && !slot->closing) {
      close(*slot);  // idle, or waiting for a request: nothing is in flight
    } else {
      refresh_deadline(*slot);  // a response in flight may finish, within the grace
    }
  }
}
// [shutdown]

// [event-loop]
void EventLoop::run() {
  std::array<epoll_event, kMaxEvents> events{};
  while (!stopping_ || live_ > 0) {
    const Deadline wake = std::min(listener_paused_until_, timers_.next());
    const int n = ::epoll_wait(epoll_.get(), events.data(), kMaxEvents, milliseconds_until(wake));
    if (n < 0 && errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      const int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
      if (events[i].data.u64 >> 32 == kNewConnectionTag) {
        open_connection(Fd(fd), /*adopted=*/true);  // from now on an ordinary client
      } else if (fd == shutdown_fd()) {
        begin_shutdown();
      } else if (fd == listener_.get()) {
        accept_all();
      } else if (static_cast<std::size_t>(fd) < connections_.size() && connections_[fd]) {
        // A stale event for a descriptor closed earlier in this batch (and maybe reused by
        // accept) only causes a read that says EAGAIN: every socket is non-blocking. Unless the
        // peer's FIN is part of this event, a short read means the socket is drained.
        service(*connections_[fd], (events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0);
      } else {
        for (auto& [watched, on_readable] : readable_watches_) {
          if (watched == fd) {
            on_readable();
          }
        }
      }
    }
    if (Clock::now() >= listener_paused_until_) {
      resume_listener();
    }
    expire_timers();
    if (retry_refused_) {
      retry_refused();
    }
  }
}
// [event-loop]

}  // namespace common
