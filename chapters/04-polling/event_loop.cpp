#include "chapters/04-polling/event_loop.hpp"

#include <sys/epoll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "common/connection_policy.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/shutdown.hpp"

namespace polling {

// What a descriptor in the epoll set is. Each event's data carries it in its high half and the
// descriptor in its low half: never a pointer, so a stale event cannot reach freed memory.
enum class EventLoop::Source : std::uint32_t { kClient, kListener, kShutdown, kWake };

namespace {

using common::Clock;
using common::Deadline;

constexpr int kMaxEvents = 256;

// Clients are edge-triggered: an event means "something changed", and each step drains to EAGAIN.
constexpr std::uint32_t kClientEvents = EPOLLIN | EPOLLRDHUP | EPOLLET;

[[noreturn]] void fail(const char* call) {
  throw std::system_error(errno, std::generic_category(), call);
}

}  // namespace

EventLoop::EventLoop(const common::App& app, const common::Options& options, common::Fd listener)
    : epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      listener_(std::move(listener)),
      app_(app),
      options_(options) {
  if (!epoll_) {
    fail("epoll_create1");
  }
  // Level-triggered, all three: a re-armed listener reports the clients already waiting.
  if ((listener_ && !watch(listener_.get(), EPOLLIN, EPOLL_CTL_ADD, Source::kListener)) ||
      !watch(common::shutdown_fd(), EPOLLIN, EPOLL_CTL_ADD, Source::kShutdown) ||
      !watch(posted_.fd(), EPOLLIN, EPOLL_CTL_ADD, Source::kWake)) {
    fail("epoll_ctl");
  }
}

// Returns false (errno set) if epoll_ctl failed: fatal at start-up, one lost client later.
bool EventLoop::watch(int fd, std::uint32_t events, int op, Source source) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = static_cast<std::uint64_t>(source) << 32 | static_cast<std::uint32_t>(fd);
  return ::epoll_ctl(epoll_.get(), op, fd, &event) == 0;
}

// [event-loop]
void EventLoop::run() {
  std::array<epoll_event, kMaxEvents> events{};
  while (!stopping_ || live_ > 0) {
    const int ready = wait(events.data(), kMaxEvents);  // 1. sleep until readiness or a deadline
    for (int i = 0; i < ready; ++i) {
      dispatch(events[i]);  // 2. act on each event
    }
    after_batch();  // 3. what is due by the clock
  }
}

int EventLoop::wait(epoll_event* events, int capacity) {
  const Deadline wake = std::min(listener_paused_until_, timers_.next());
  const int n = ::epoll_wait(epoll_.get(), events, capacity, common::milliseconds_until(wake));
  if (n < 0 && errno != EINTR) {
    fail("epoll_wait");
  }
  return std::max(n, 0);
}

void EventLoop::dispatch(const epoll_event& event) {
  const int fd = static_cast<int>(event.data.u64 & 0xffffffffu);
  switch (static_cast<Source>(event.data.u64 >> 32)) {
    case Source::kListener:
      if (listener_) {  // else: fetched in the same batch as the shutdown, which closed it
        accept_all();
      }
      return;
    case Source::kShutdown:
      return begin_shutdown();
    case Source::kWake:
      return posted_.run_all();
    case Source::kClient:
      // A stale event, for a descriptor closed earlier in this batch and maybe reused by accept,
      // costs at most a read that says EAGAIN: every socket is non-blocking. Unless the event
      // reports the peer's FIN, a short read means the socket is drained.
      if (static_cast<std::size_t>(fd) < connections_.size() && connections_[fd]) {
        Connection& c = *connections_[fd];
        apply(c, c.service(context(), (event.events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0));
      }
      return;
  }
}

void EventLoop::after_batch() {
  if (Clock::now() >= listener_paused_until_) {
    listener_paused_until_ = common::kNoDeadline;
    watch(listener_.get(), EPOLLIN, EPOLL_CTL_MOD, Source::kListener);  // try accept() again
  }
  expire_timers();
}
// [event-loop]

// [accept-drain]
void EventLoop::accept_all() {
  for (;;) {  // drain the backlog: one readiness event may stand for many connections
    common::AcceptResult accepted = common::accept_client(listener_.get());
    if (accepted.status == common::AcceptStatus::kWouldBlock) {
      return;
    }
    if (accepted.status != common::AcceptStatus::kAccepted) {
      // EMFILE: the pending connection keeps the listener readable, so a level-triggered loop
      // would spin. Stop watching the listener (an empty event mask) and retry in 100 ms; the
      // clients wait in the backlog and are served once descriptors free up (the reserve-fd trick
      // would accept and close them instead: no spin either, but those clients are dropped).
      // [exercise:emfile-pause solution]
      common::log_warn("accept: %s; pausing the listener", std::strerror(accepted.error));
      watch(listener_.get(), 0, EPOLL_CTL_MOD, Source::kListener);
      listener_paused_until_ = Clock::now() + common::kAcceptPause;
      // [exercise:emfile-pause start]
      // // Nothing to do: the next event will try again.
      // [exercise:emfile-pause end]
      return;
    }
    open_connection(std::move(accepted.fd));  // TCP_NODELAY came with it, from the listener
  }
}
// [accept-drain]

// Registers a new connection, accepted here or adopted, and creates its record. The
// registration reports input that arrived before it, so its first request is not missed.
void EventLoop::open_connection(common::Fd client) {
  const int fd = client.get();
  if (stopping_) {
    return;  // ~Fd closes it: no new client is served during shutdown
  }
  if (!watch(fd, kClientEvents, EPOLL_CTL_ADD, Source::kClient)) {
    common::log_warn("epoll_ctl: %s; connection dropped", std::strerror(errno));
    return;
  }
  if (static_cast<std::size_t>(fd) >= connections_.size()) {
    connections_.resize(static_cast<std::size_t>(fd) + 1);
  }
  connections_[fd] =
      std::make_unique<Connection>(std::move(client), app_, options_, ++next_serial_);
  ++live_;
  schedule(*connections_[fd]);
}

// [interest]
// Asks the kernel for what a connection's step says it waits for: EPOLLOUT only while output is
// pending (a socket is writable almost always, so asking otherwise would wake the loop for
// nothing), and a wake-up at its deadline; or closes it.
void EventLoop::apply(Connection& c, Interest interest) {
  if (interest == Interest::kClose) {
    return close(c);
  }
  const bool want_output = interest == Interest::kOutput;
  if (c.watching_output != want_output) {
    c.watching_output = want_output;
    watch(c.id().fd, kClientEvents | (want_output ? EPOLLOUT : 0u), EPOLL_CTL_MOD, Source::kClient);
  }
  schedule(c);
}

void EventLoop::schedule(Connection& c) {
  c.timer.deadline = c.deadline(context());
  timers_.schedule(c.timer, c.id().fd, c.id().serial);
}

void EventLoop::close(Connection& c) {
  --live_;
  connections_[c.id().fd].reset();  // ~Fd closes the socket, and epoll forgets it
}
// [interest]

Connection* EventLoop::find(ConnectionId id) {
  if (id.fd < 0 || static_cast<std::size_t>(id.fd) >= connections_.size()) {
    return nullptr;
  }
  Connection* c = connections_[id.fd].get();
  return c != nullptr && c->id().serial == id.serial ? c : nullptr;
}

Context EventLoop::context() const noexcept {
  return {sink_ ? &sink_ : nullptr, stopping_, shutdown_deadline_};
}

// [timers]
// A min-heap with lazy deletion (common/timer_heap.hpp): an entry that comes due for a closed
// connection, or for a deadline that has since moved later, is skipped or pushed again.
void EventLoop::expire_timers() {
  const Deadline now = Clock::now();
  timers_.expire(now, [this, now](const common::TimerHeap::Entry& entry) {
    Connection* c = find({entry.fd, entry.serial});
    if (c == nullptr || c->timer.queued != entry.when) {
      return;  // closed, or superseded by an earlier entry
    }
    c->timer.queued = common::kNoDeadline;
    if (c->timer.deadline <= now) {
      apply(*c, c->expired(context()));
    } else {
      timers_.schedule(c->timer, entry.fd, entry.serial);  // the deadline moved later
    }
  });
}
// [timers]

// [shutdown]
void EventLoop::begin_shutdown() {
  stopping_ = true;
  shutdown_deadline_ = Clock::now() + common::kShutdownGrace;
  watch(common::shutdown_fd(), 0, EPOLL_CTL_DEL, Source::kShutdown);  // it stays readable for good
  if (listener_) {
    watch(listener_.get(), 0, EPOLL_CTL_DEL, Source::kListener);
    listener_.reset();  // new clients are refused from now on
  }
  listener_paused_until_ = common::kNoDeadline;
  for (auto& slot : connections_) {
    if (slot && slot->idle()) {
      close(*slot);  // idle, or waiting for a request: nothing is in flight
    } else if (slot) {
      schedule(*slot);  // a response in flight may finish, within the grace
    }
  }
}
// [shutdown]

// [extension-points]
void EventLoop::adopt(common::Fd client) {
  open_connection(std::move(client));
}

void EventLoop::answer(ConnectionId id, std::vector<common::Response> answers) {
  if (Connection* c = find(id)) {
    apply(*c, c->answered(context(), std::move(answers)));
  }
}

void EventLoop::retry(ConnectionId id) {
  if (Connection* c = find(id)) {
    apply(*c, c->retry(context()));
  }
}
// [extension-points]

}  // namespace polling
