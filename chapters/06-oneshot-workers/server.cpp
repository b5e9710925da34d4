// Chapter 06: the canonical worker pool. One thread dispatches readiness; worker threads do the
// I/O, and EPOLLONESHOT hands each connection to exactly one of them at a time.
//
// The model: a non-blocking listener and one epoll instance. The dispatcher thread (main) waits
// in epoll_wait() on every socket and does nothing else to them: it accepts, registers each
// client with EPOLLONESHOT, and for each event pushes the client onto a queue. A pool of
// identical worker threads (--threads N; by default four per core, 16 to 64, as chapter 05) pops
// clients and serves them with chapter 04's connection steps: read until EAGAIN, parse, run the
// handler, write what the socket takes. Then the worker re-arms the descriptor (EPOLL_CTL_MOD)
// for input, or for output if some is left, and lets go. It is the design most programmers write
// first when they add threads to epoll.
//
// Ownership is the lesson. Exactly one thread may touch a connection at a time:
//   - parked: registered and armed in the epoll set; nobody holds it;
//   - an event fires: EPOLLONESHOT disarms the descriptor in the same step, so the kernel cannot
//     report it again, and the dispatcher, which got the event, pushes it onto the queue;
//   - a worker pops it and holds it: only that worker reads, writes or changes its record;
//   - the worker re-arms it (EPOLL_CTL_MOD) as its very last touch: parked again.
// The dispatcher never touches a connection a worker holds. A deadline is not an event, so to
// time out a parked connection the dispatcher takes it out of the epoll set under the
// connection's lock, the one a re-arm also holds; then it is the holder. A worker that closes a
// connection hands it back, and only the dispatcher closes descriptors, so a number cannot be
// reused while another thread still names it.
//
// What it fixes from chapter 05: the I/O now runs on every core, not only the handlers, and a
// /sleep still blocks one worker, never the dispatcher.
//
// What it costs: a re-arm system call per request, a lock and a wake-up per hand-off, and a
// connection that may visit a different core on each request, so its buffers and its socket's
// state are cold each time. Chapter 07 removes the hand-offs: one loop per core owns its
// connections for their whole life.

#include <sys/epoll.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "chapters/04-polling/connection.hpp"  // chapter 04's connection, served by any worker
#include "chapters/04-polling/task_queue.hpp"  // and its way back to one thread
#include "common/app.hpp"
#include "common/chapter.hpp"
#include "common/connection_policy.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/shutdown.hpp"
#include "common/stats.hpp"
#include "common/timer_heap.hpp"

namespace {

using common::Clock;
using common::Deadline;
using polling::Interest;

constexpr common::ChapterInfo kChapter{
    .name = "06-oneshot-workers",
    .model = "oneshot-workers",
    .summary = "Chapter 06: one thread dispatches epoll events; worker threads do the I/O.",
    .flags = common::kThreadsFlag,
};

constexpr int kMaxEvents = 256;

// [oneshot]
// One event per registration: the kernel disarms the descriptor as it reports it, and nothing
// more is reported until a worker re-arms it. Level-triggered: a re-arm reports at once whatever
// arrived while the worker held the connection.
// [exercise:oneshot solution]
constexpr std::uint32_t kOneShot = EPOLLONESHOT;
// [exercise:oneshot start]
// // Armed for good: every event goes to the queue, even while a worker holds the connection.
// constexpr std::uint32_t kOneShot = 0;
// [exercise:oneshot end]
constexpr std::uint32_t kForInput = EPOLLIN | EPOLLRDHUP | kOneShot;
constexpr std::uint32_t kForOutput = EPOLLOUT | kOneShot;
// [oneshot]

// What a descriptor in the epoll set is; events carry it above the descriptor number.
enum class Source : std::uint32_t { kClient, kListener, kShutdown, kInbox };

// [client]
// A connection, and the hand-over state that the dispatcher and the workers share.
struct Client {
  Client(common::Fd socket, const common::App& app, const common::Options& options,
         std::uint64_t serial)
      : connection(std::move(socket), app, options, serial) {}

  // Touched only by the client's holder: a worker, or the dispatcher when it has taken it.
  polling::Connection connection;
  bool expired = false;  // taken because its deadline passed, not for an event

  // Under `lock`: the state a re-arm and the dispatcher's take must change together, and the
  // deadline the holder published (connection.timer.deadline) beside the earliest entry the
  // dispatcher's heap has for it (connection.timer.queued).
  std::mutex lock;
  bool parked = true;    // armed in the epoll set, nobody holds it: an event hands it over
  bool in_epoll = true;  // registered; a client the dispatcher takes (deadline, shutdown) is out
};
// [client]

// [queue]
// The dispatcher pushes, the workers pop. One queue for every reason a client is handed over: a
// worker's job is the same whether the client became readable, writable or late (serve it as far
// as it goes), so two queues would only raise the question of which a free worker takes first.
class WorkQueue {
 public:
  void push(Client* client) {
    {
      const std::lock_guard guard(mutex_);
      clients_.push_back(client);
    }
    ready_.notify_one();
  }

  // Waits for a client; nullptr once the queue is closed and empty.
  Client* pop() {
    std::unique_lock guard(mutex_);
    ready_.wait(guard, [this] { return !clients_.empty() || closed_; });
    if (clients_.empty()) {
      return nullptr;
    }
    Client* client = clients_.front();
    clients_.pop_front();
    return client;
  }

  void close() {
    {
      const std::lock_guard guard(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Client*> clients_;
  bool closed_ = false;
};
// [queue]

class Server {
 public:
  Server(const common::App& app, const common::Options& options, common::Fd listener);
  void run(int workers);  // the dispatcher, on the calling thread, until shutdown is done

 private:
  // The dispatcher's thread.
  void dispatch(const epoll_event& event);
  void accept_all();
  void enqueue(Client& c);
  void expire_timers();
  void schedule(polling::ConnectionId id);
  void begin_shutdown();
  void close(polling::ConnectionId id);
  Client* find(polling::ConnectionId id);
  bool watch(int fd, std::uint32_t events, int op, Source source);
  // The workers' threads.
  void work();
  bool park(Client& c, Interest interest, const polling::Context& ctx);
  // Either.
  polling::Context context() const noexcept;

  const common::App& app_;
  const common::Options& options_;
  common::Fd epoll_;
  common::Fd listener_;
  WorkQueue queue_;           // dispatcher -> workers
  polling::TaskQueue inbox_;  // workers -> dispatcher: closes, and deadlines moved earlier
  // The dispatcher's own: the clients by descriptor, their deadlines, the listener's pause.
  std::vector<std::unique_ptr<Client>> clients_;
  std::size_t live_ = 0;
  std::uint64_t next_serial_ = 0;
  common::TimerHeap timers_;
  Deadline listener_paused_until_ = common::kNoDeadline;
  // Written by the dispatcher, read by the workers: the grace is set before `stopping_` is.
  Deadline shutdown_deadline_ = common::kNoDeadline;
  std::atomic<bool> stopping_{false};
};

Server::Server(const common::App& app, const common::Options& options, common::Fd listener)
    : app_(app),
      options_(options),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      listener_(std::move(listener)) {
  if (!epoll_) {
    throw std::system_error(errno, std::generic_category(), "epoll_create1");
  }
  if (!watch(listener_.get(), EPOLLIN, EPOLL_CTL_ADD, Source::kListener) ||
      !watch(common::shutdown_fd(), EPOLLIN, EPOLL_CTL_ADD, Source::kShutdown) ||
      !watch(inbox_.fd(), EPOLLIN, EPOLL_CTL_ADD, Source::kInbox)) {
    throw std::system_error(errno, std::generic_category(), "epoll_ctl");
  }
}

bool Server::watch(int fd, std::uint32_t events, int op, Source source) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = static_cast<std::uint64_t>(source) << 32 | static_cast<std::uint32_t>(fd);
  return ::epoll_ctl(epoll_.get(), op, fd, &event) == 0;
}

polling::Context Server::context() const noexcept {
  const bool stopping = stopping_.load(std::memory_order_acquire);
  return {nullptr, stopping, stopping ? shutdown_deadline_ : common::kNoDeadline};
}

// [dispatcher]
// The dispatcher's loop: wait, push each ready client onto the queue, run what the workers
// posted, take the parked clients whose deadline passed. It never reads or writes a client.
void Server::run(int workers) {
  std::vector<std::thread> pool;
  {
    const common::StopSignalsBlocked blocked;  // SIGTERM comes to this thread, the dispatcher
    for (int i = 0; i < workers; ++i) {
      pool.emplace_back([this] { work(); });
    }
  }
  common::log_info("%d worker threads", workers);
  common::announce_listening(options_, listener_.get());
  std::vector<epoll_event> events(kMaxEvents);
  while (!stopping_.load(std::memory_order_relaxed) || live_ > 0) {
    const Deadline wake = std::min(timers_.next(), listener_paused_until_);
    const int ready =
        ::epoll_wait(epoll_.get(), events.data(), kMaxEvents, common::milliseconds_until(wake));
    if (ready < 0 && errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "epoll_wait");
    }
    for (int i = 0; i < ready; ++i) {
      dispatch(events[i]);
    }
    if (Clock::now() >= listener_paused_until_) {
      listener_paused_until_ = common::kNoDeadline;
      watch(listener_.get(), EPOLLIN, EPOLL_CTL_MOD, Source::kListener);  // accept again
    }
    expire_timers();
  }
  queue_.close();  // every client is closed: the workers end
  for (std::thread& thread : pool) {
    thread.join();
  }
}

void Server::dispatch(const epoll_event& event) {
  const int fd = static_cast<int>(event.data.u64 & 0xffffffffu);
  switch (static_cast<Source>(event.data.u64 >> 32)) {
    case Source::kListener:
      if (listener_) {  // else: fetched in the same batch as the shutdown, which closed it
        accept_all();
      }
      return;
    case Source::kShutdown:
      return begin_shutdown();
    case Source::kInbox:
      return inbox_.run_all();
    case Source::kClient:
      if (static_cast<std::size_t>(fd) < clients_.size() && clients_[fd]) {
        enqueue(*clients_[fd]);
      }
      return;
  }
}

// The event disarmed the descriptor (EPOLLONESHOT), so the kernel will report nothing more for
// it: the client is the queue's now, then one worker's. One event per arming is what keeps two
// workers off one client, and nothing here stands in for it. The one event to drop is one
// fetched in the same batch as the shutdown, whose sweep (begin_shutdown()) may have taken the
// client out of the epoll set after the kernel reported it: that event is stale.
void Server::enqueue(Client& c) {
  {
    const std::lock_guard guard(c.lock);
    if (!c.in_epoll) {
      return;
    }
    c.parked = false;
  }
  queue_.push(&c);
}
// [dispatcher]

// [accept]
void Server::accept_all() {
  for (;;) {  // one readiness event may stand for many pending connections
    common::AcceptResult accepted = common::accept_client(listener_.get());
    if (accepted.status == common::AcceptStatus::kWouldBlock) {
      return;
    }
    if (accepted.status != common::AcceptStatus::kAccepted) {
      // EMFILE: as in chapter 04, the listener rests instead of spinning; clients wait queued.
      common::log_warn("accept: %s; pausing the listener", std::strerror(accepted.error));
      watch(listener_.get(), 0, EPOLL_CTL_MOD, Source::kListener);
      listener_paused_until_ = Clock::now() + common::kAcceptPause;
      return;
    }
    const int fd = accepted.fd.get();
    auto client = std::make_unique<Client>(std::move(accepted.fd), app_, options_, ++next_serial_);
    client->connection.timer.deadline = client->connection.deadline(context());
    timers_.schedule(client->connection.timer, fd, client->connection.id().serial);
    // Parked from the start: the first event hands it to a worker.
    if (!watch(fd, kForInput, EPOLL_CTL_ADD, Source::kClient)) {
      common::log_warn("epoll_ctl: %s; connection dropped", std::strerror(errno));
      continue;  // ~Client closes it
    }
    if (static_cast<std::size_t>(fd) >= clients_.size()) {
      clients_.resize(static_cast<std::size_t>(fd) + 1);
    }
    clients_[fd] = std::move(client);
    ++live_;
  }
}
// [accept]

// [worker]
// A worker: pop a client, serve it as far as the socket allows, park it again (or hand it back
// to be closed), next. Any worker may get any client, each time on any core.
void Server::work() {
  while (Client* c = queue_.pop()) {
    for (bool parked = false; !parked;) {
      const polling::Context ctx = context();
      const bool expired = std::exchange(c->expired, false);
      // Level-triggered: whatever a short read leaves is reported again at the re-arm.
      const Interest interest = expired ? c->connection.expired(ctx)
                                        : c->connection.service(ctx, /*short_read_drains=*/true);
      if (interest == Interest::kClose) {
        const polling::ConnectionId id = c->connection.id();
        inbox_.post([this, id] { close(id); });  // the dispatcher closes descriptors
        break;
      }
      parked = park(*c, interest, ctx);
    }
  }
}

// [rearm]
// The worker's last touch: publish the deadline, mark the client parked and re-arm it, all under
// its lock, so that the dispatcher sees either a held client or a parked, armed one. From the
// epoll_ctl() on, an event may give the client to another worker at once: nothing here may
// touch it afterwards. Returns false, without parking, if shutdown began after @p ctx was read
// (the dispatcher's shutdown sweep may have passed this client by): serve it again then.
bool Server::park(Client& c, Interest interest, const polling::Context& ctx) {
  const Deadline deadline = c.connection.deadline(ctx);
  const polling::ConnectionId id = c.connection.id();
  const std::lock_guard guard(c.lock);
  if (!ctx.stopping && stopping_.load(std::memory_order_acquire)) {
    return false;
  }
  c.connection.timer.deadline = deadline;
  if (deadline < c.connection.timer.queued) {
    inbox_.post([this, id] { schedule(id); });  // earlier than any entry the heap has for it
  }
  c.parked = true;
  const std::uint32_t events = interest == Interest::kOutput ? kForOutput : kForInput;
  // [exercise:rearm solution]
  if (!watch(id.fd, events, c.in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, Source::kClient)) {
    common::log_warn("epoll_ctl: %s", std::strerror(errno));  // it will time out
  }
  c.in_epoll = true;
  // [exercise:rearm start]
  // // Parked, but the kernel is not told: it stays disarmed after its first event.
  // static_cast<void>(events);
  // [exercise:rearm end]
  return true;
}
// [rearm]
// [worker]

// [timeouts]
// The heap is the dispatcher's. A worker publishes its client's deadline as it parks it, and
// posts schedule() only when that deadline is earlier than any entry the heap has; an entry that
// comes due for a held client is dropped, since its holder publishes a new deadline.
void Server::schedule(polling::ConnectionId id) {
  Client* c = find(id);
  if (c == nullptr) {
    return;
  }
  const std::lock_guard guard(c->lock);
  if (c->parked) {
    timers_.schedule(c->connection.timer, id.fd, id.serial);
  }
}

void Server::expire_timers() {
  const Deadline now = Clock::now();
  timers_.expire(now, [&](const common::TimerHeap::Entry& entry) {
    Client* c = find({entry.fd, entry.serial});
    if (c == nullptr) {
      return;  // closed since
    }
    std::unique_lock guard(c->lock);
    common::TimerSlot& timer = c->connection.timer;
    if (timer.queued != entry.when) {
      return;  // superseded: a later entry stands for this client
    }
    timer.queued = common::kNoDeadline;  // the heap holds no entry for it now
    if (!c->parked) {
      return;  // held: its holder publishes a new deadline as it parks it, and that schedules it
    }
    if (timer.deadline > now) {
      timers_.schedule(timer, entry.fd, entry.serial);  // it moved later
      return;
    }
    // Late while parked: take it. Removed from the epoll set under its lock, it cannot be
    // handed over by an event meanwhile; queued, it is a worker's like any other.
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, entry.fd, nullptr);
    c->in_epoll = c->parked = false;
    guard.unlock();
    c->expired = true;
    queue_.push(c);
  });
}
// [timeouts]

// [shutdown]
// Stop accepting; take every parked client. An idle one the dispatcher, now its holder, closes
// itself; one with a response in flight goes to a worker to finish within the grace. A client a
// worker holds is that worker's to settle: it sees the shutdown when it parks it (park()).
void Server::begin_shutdown() {
  shutdown_deadline_ = Clock::now() + common::kShutdownGrace;
  stopping_.store(true, std::memory_order_release);
  watch(common::shutdown_fd(), 0, EPOLL_CTL_DEL, Source::kShutdown);  // readable for good now
  watch(listener_.get(), 0, EPOLL_CTL_DEL, Source::kListener);
  listener_.reset();  // new clients are refused from now on
  listener_paused_until_ = common::kNoDeadline;
  for (auto& slot : clients_) {
    if (!slot) {
      continue;
    }
    std::unique_lock guard(slot->lock);
    if (!slot->parked) {
      continue;
    }
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, slot->connection.id().fd, nullptr);
    slot->in_epoll = slot->parked = false;
    guard.unlock();
    if (slot->connection.idle()) {
      close(slot->connection.id());
    } else {
      queue_.push(slot.get());
    }
  }
}
// [shutdown]

// A client handed back by its holder, or taken idle at shutdown: nobody else names it now.
void Server::close(polling::ConnectionId id) {
  if (find(id) != nullptr) {
    --live_;
    clients_[id.fd].reset();  // ~Fd closes the socket, and epoll forgets it
  }
}

Client* Server::find(polling::ConnectionId id) {
  if (id.fd < 0 || static_cast<std::size_t>(id.fd) >= clients_.size() || !clients_[id.fd]) {
    return nullptr;
  }
  Client* c = clients_[id.fd].get();
  return c->connection.id().serial == id.serial ? c : nullptr;
}

int default_workers() {
  // As chapter 05: sized for the blocking work the pool absorbs, so the two compare directly.
  return std::clamp(4 * common::usable_cpu_count(), 16, 64);
}

}  // namespace

// [main]
int main(int argc, char** argv) {
  const common::Options options = common::parse_options(argc, argv, kChapter);
  common::init_process(kChapter);
  common::raise_descriptor_limit();
  const int workers = options.threads > 0 ? options.threads : default_workers();
  common::Stats stats;
  const common::App app(options, kChapter, stats, workers);
  Server server(app, options, common::open_listener(options));
  server.run(workers);
  common::log_info("shutting down");
  return 0;
}
// [main]
