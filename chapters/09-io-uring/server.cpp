// Chapter 09: io_uring, one completion ring per core.
//
// The model: chapter 08's symmetric layout (one thread per core, each with its own SO_REUSEPORT
// listener, nothing shared between them), but each thread drives an io_uring instead of an epoll
// set. epoll answers "this socket is ready: now make the call yourself"; io_uring takes the call
// itself (accept, receive, send) and answers "done: here is what it returned". A thread writes
// requests into a submission queue it shares with the kernel, and one io_uring_enter() both
// hands over everything queued since the last one and sleeps until completions arrive.
//
// What it fixes from chapter 08: system calls. A readiness loop makes one call to learn that a
// socket is ready, then more to read it until EAGAIN, to write, and to change its interest set.
// Here one accept and one receive per connection keep producing results (multishot), and the
// sends of a whole batch of completions plus the next wait cost a single io_uring_enter(). The
// receive buffers belong to the ring, not to connections (a provided buffer ring): 10,000 idle
// connections with a receive pending hold no buffer at all.
//
// What it costs: memory handed to the kernel is the kernel's until its completion arrives, so a
// buffer being sent may not move, and a connection cannot simply be closed: its operations are
// cancelled and its record lives until the last of them reports. There is no sendfile opcode,
// so files are read into memory and sent. /sleep and /compute still run on the ring's thread and
// stall every client of that ring. And io_uring is often switched off (container seccomp
// profiles, sysctl kernel.io_uring_disabled): then the server says so in one line and exits 3.

#include <liburing.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "chapters/08-reuseport/listeners.hpp"  // chapter 08's listeners, one per ring
#include "chapters/09-io-uring/ring.hpp"
#include "chapters/09-io-uring/send_queue.hpp"
#include "common/app.hpp"
#include "common/chapter.hpp"
#include "common/connection_policy.hpp"
#include "common/io.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/protocol.hpp"
#include "common/shutdown.hpp"
#include "common/timer_heap.hpp"

namespace {

using namespace std::chrono_literals;
using common::Clock;
using common::Deadline;

constexpr common::ChapterInfo kChapter{
    .name = "09-io-uring",
    .model = "io_uring",
    .summary = "Chapter 09: one io_uring per core; accept, receive and send are submitted.",
    .flags = common::kThreadsFlag,
};

constexpr std::size_t kFileChunk = 128 * 1024;  // a file is read and sent this much at a time
constexpr int kExitUnavailable = 3;             // tests skip a chapter the machine cannot run
constexpr int kCatchUpRounds = 4;  // rounds of submit and handle after a batch that ran late

// Per ring: room for a burst of completions from 10,000 clients, and 2 MiB of receive buffers
// shared by all of its connections.
constexpr uring::RingConfig kRing{
    .entries = 1024, .completions = 16 * 1024, .buffers = 256, .buffer_size = 8 * 1024};

// [user-data]
// Each submission carries 64 bits that come back with each of its completions: here, what the
// operation was and the descriptor it was for. A connection's descriptor stays open until its
// last operation has reported, so the number cannot belong to a newer connection by then.
enum class Op : std::uint8_t { kAccept, kShutdown, kCancel, kReceive, kSend, kReadFile };

std::uint64_t tag(Op op, int fd) {
  return static_cast<std::uint64_t>(fd) << 8 | static_cast<std::uint64_t>(op);
}
// [user-data]

// [connection]
// A connection, between completions: its protocol and its output, and the operations the kernel
// holds for it. Each of those points into this record, so the record lives until the last one
// has reported.
struct Connection {
  Connection(common::Fd socket, const common::App& app, const common::Options& options,
             std::uint64_t id)
      : fd(std::move(socket)),
        guard(app.stats()),
        serial(id),
        protocol(app, options, out, Clock::now()) {}

  // The multishot receive: not submitted, submitted, or asked to stop (it has not reported yet).
  enum class Receive { kOff, kArmed, kCancelling };

  common::Fd fd;
  common::ConnectionGuard guard;
  std::uint64_t serial;  // tells a timer entry for this fd from one for an earlier owner
  uring::SendQueue out;  // responses not yet sent, in order
  common::Protocol protocol;
  Receive receive = Receive::kOff;
  bool sending = false;  // a send or a file read is in flight: one at a time, keeps the order
  bool closed = false;   // closed by us: freed once no operation is in flight
  common::TimerSlot timer;
};
// [connection]

class Server {
 public:
  Server(uring::Ring& ring, common::Fd listener, const common::App& app,
         const common::Options& options)
      : ring_(ring), listener_(std::move(listener)), app_(app), options_(options) {}
  void run();

 private:
  void wait();
  void dispatch(const io_uring_cqe& cqe);
  void arm_accept();
  void on_accepted(int result, bool more);
  void add_connection(common::Fd socket);
  void on_connection_event(Op op, Connection& c, const io_uring_cqe& cqe);
  void on_received(Connection& c, int result, const char* data);
  void on_output(Connection& c, Op op, int result);
  void serve(Connection& c);
  void start_output(Connection& c);
  void update_receive(Connection& c);
  void settle(Connection& c);
  void close(Connection& c);
  void cancel(Op op, int fd);
  void refresh_deadline(Connection& c);
  bool handle_completions();
  void expire_timers();
  void on_timeout(Connection& c);
  void begin_shutdown();
  io_uring_sqe* submit(Op op, int fd) {
    io_uring_sqe* sqe = ring_.sqe();  // the caller fills it in; it leaves with the next wait()
    io_uring_sqe_set_data64(sqe, tag(op, fd));
    return sqe;
  }

  uring::Ring& ring_;
  common::Fd listener_;
  const common::App& app_;
  const common::Options& options_;
  std::vector<std::unique_ptr<Connection>> connections_;  // indexed by descriptor
  std::size_t live_ = 0;                                  // records in connections_
  std::uint64_t next_serial_ = 0;
  common::TimerHeap timers_;
  bool accepting_ = false;  // the multishot accept is armed
  Deadline accept_paused_until_ = common::kNoDeadline;
  Deadline shutdown_deadline_ = common::kNoDeadline;
  bool stopping_ = false;
};

// [loop]
void Server::run() {
  arm_accept();
  io_uring_prep_poll_add(submit(Op::kShutdown, common::shutdown_fd()), common::shutdown_fd(),
                         POLLIN);  // the eventfd turns readable, for good, on SIGTERM
  while (!stopping_ || live_ > 0 || accepting_) {
    wait();
    handle_completions();
    // A deadline measures the client, not us. A batch that ran past one (a handler blocked the
    // ring) may hold receives it prepared but has not submitted, for bytes that arrived in time:
    // submit them, and handle what completes, before any client is judged late.
    for (int round = 0; round < kCatchUpRounds && timers_.next() <= Clock::now(); ++round) {
      io_uring_submit(ring_.get());
      if (!handle_completions()) {
        break;
      }
    }
    if (Clock::now() >= accept_paused_until_) {
      accept_paused_until_ = common::kNoDeadline;
      arm_accept();
    }
    expire_timers();
  }
}

// Handles every completion the ring holds; false if it held none.
bool Server::handle_completions() {
  bool any = false;
  io_uring_cqe* cqe = nullptr;
  while (io_uring_peek_cqe(ring_.get(), &cqe) == 0) {
    const io_uring_cqe completion = *cqe;  // copy, free its slot, then handle it
    io_uring_cqe_seen(ring_.get(), cqe);
    dispatch(completion);
    any = true;
  }
  return any;
}

// One system call: submit what the last batch prepared, then sleep until a completion arrives
// or the next deadline passes (the timeout rides along with the call; no timer descriptor).
void Server::wait() {
  const int ms = common::milliseconds_until(std::min(timers_.next(), accept_paused_until_));
  __kernel_timespec timeout{.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1'000'000LL};
  io_uring_cqe* cqe = nullptr;
  const int rc =
      io_uring_submit_and_wait_timeout(ring_.get(), &cqe, 1, ms < 0 ? nullptr : &timeout, nullptr);
  if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
    throw std::system_error(-rc, std::generic_category(), "io_uring_enter");
  }
}

void Server::dispatch(const io_uring_cqe& cqe) {
  const auto op = static_cast<Op>(cqe.user_data & 0xff);
  const auto fd = static_cast<std::size_t>(cqe.user_data >> 8);
  if (op == Op::kAccept) {
    on_accepted(cqe.res, (cqe.flags & IORING_CQE_F_MORE) != 0);
  } else if (op == Op::kShutdown) {
    begin_shutdown();
  } else if (op != Op::kCancel && fd < connections_.size() && connections_[fd]) {
    on_connection_event(op, *connections_[fd], cqe);
  }  // a cancel's own completion says nothing: the cancelled operation reports for itself
  if (cqe.flags & IORING_CQE_F_BUFFER) {
    ring_.recycle(cqe.flags >> IORING_CQE_BUFFER_SHIFT);  // its bytes were copied out above
  }
}
// [loop]

// [accept]
// One multishot accept yields a completion per client until it fails or is cancelled.
void Server::arm_accept() {
  io_uring_prep_multishot_accept(submit(Op::kAccept, listener_.get()), listener_.get(), nullptr,
                                 nullptr, SOCK_CLOEXEC);
  accepting_ = true;
}

void Server::on_accepted(int result, bool more) {
  accepting_ = more;  // without IORING_CQE_F_MORE this was the accept's last completion
  if (result >= 0) {
    add_connection(common::Fd(result));
  } else if (result != -ECANCELED && result != -ECONNABORTED) {
    // EMFILE: the client stays in the backlog, so accepting again at once would fail again at
    // once, in a loop. Rest for 100 ms (wait() wakes up for it), as chapter 04 does.
    // [exercise:accept-pause solution]
    common::log_warn("accept: %s; pausing the listener", std::strerror(-result));
    accept_paused_until_ = Clock::now() + common::kAcceptPause;
    // [exercise:accept-pause start]
    // // Nothing to do: the accept is armed again below, at once.
    // [exercise:accept-pause end]
  }
  if (stopping_ && !accepting_) {
    listener_.reset();  // the kernel let go of it: new clients are refused from now on
  } else if (!stopping_ && !accepting_ && accept_paused_until_ == common::kNoDeadline) {
    arm_accept();
  }
}

void Server::add_connection(common::Fd socket) {
  if (stopping_) {
    return;  // accepted before the cancel landed; ~Fd closes it
  }
  const auto fd = static_cast<std::size_t>(socket.get());
  if (fd >= connections_.size()) {
    connections_.resize(fd + 1);
  }
  connections_[fd] =
      std::make_unique<Connection>(std::move(socket), app_, options_, ++next_serial_);
  ++live_;
  settle(*connections_[fd]);  // arms its receive and its idle deadline
}
// [accept]

// [receive]
// A multishot receive stays armed and completes each time bytes arrive, in a buffer the kernel
// took from the ring's group. The protocol says when input is not wanted: over kOutputCap of
// unsent output, for one, the receive is cancelled, and TCP flow control holds the client.
void Server::update_receive(Connection& c) {
  // [exercise:output-cap solution]
  const bool wanted = c.protocol.wants_input();
  // [exercise:output-cap start]
  // // Always receiving: whatever the client sends is taken, whether or not it reads its answers.
  // const bool wanted = !c.protocol.input_ended();
  // [exercise:output-cap end]
  if (wanted && c.receive == Connection::Receive::kOff) {
    io_uring_sqe* sqe = submit(Op::kReceive, c.fd.get());
    io_uring_prep_recv_multishot(sqe, c.fd.get(), nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;  // "take a buffer from the group when bytes arrive"
    sqe->buf_group = static_cast<std::uint16_t>(kRing.buffer_group);
    c.receive = Connection::Receive::kArmed;
  } else if (!wanted && c.receive == Connection::Receive::kArmed) {
    cancel(Op::kReceive, c.fd.get());
    c.receive = Connection::Receive::kCancelling;
  }
}

// The bytes are copied out of the ring's buffer into the protocol's input (after the closing
// answer, the protocol drops them), and the buffer goes back to the ring (dispatch()).
void Server::on_received(Connection& c, int result, const char* data) {
  if (result > 0) {
    c.protocol.receive({data, static_cast<std::size_t>(result)}, Clock::now());
  } else if (result == 0) {
    c.protocol.peer_closed();
  } else if (result != -ENOBUFS && result != -ECANCELED) {
    return close(c);  // ECONNRESET and friends
  }
  // ENOBUFS: every buffer was taken at once. That receive has ended; settle() arms a new one,
  // submitted after this batch has given every buffer back.
  serve(c);
}
// [receive]

// [completion]
// Every operation of a connection ends here. The record may be freed only when none is left in
// flight: until then the kernel holds pointers into it.
void Server::on_connection_event(Op op, Connection& c, const io_uring_cqe& cqe) {
  if (op != Op::kReceive) {
    c.sending = false;
  } else if ((cqe.flags & IORING_CQE_F_MORE) == 0) {
    c.receive = Connection::Receive::kOff;  // a multishot receive's last completion
  }
  if (c.closed) {
    if (c.receive == Connection::Receive::kOff && !c.sending) {
      --live_;
      connections_[static_cast<std::size_t>(c.fd.get())].reset();  // ~Fd closes the socket
    }
    return;
  }
  if (op != Op::kReceive) {
    return on_output(c, op, cqe.res);
  }
  const bool has_buffer = (cqe.flags & IORING_CQE_F_BUFFER) != 0;
  on_received(c, cqe.res, has_buffer ? ring_.buffer(cqe.flags >> IORING_CQE_BUFFER_SHIFT) : "");
}

// Inline, on the ring's thread: a /sleep here stalls every other client of this ring. Then the
// next send, and what the connection waits for now.
void Server::serve(Connection& c) {
  static_cast<void>(c.protocol.answer(Clock::now()));
  start_output(c);
  settle(c);
}
// [completion]

// [send]
// One operation in flight per connection keeps the bytes in order: heads and bodies are sent
// from the queue's memory, which stays put until the completion; a file is read a chunk at a
// time, then sent (there is no IORING_OP_SENDFILE).
void Server::start_output(Connection& c) {
  const uring::SendQueue::Step step = c.out.next(kFileChunk);
  if (step.kind == uring::SendQueue::Step::kSend) {
    io_uring_prep_send(submit(Op::kSend, c.fd.get()), c.fd.get(), step.data, step.size,
                       MSG_NOSIGNAL);
  } else if (step.kind == uring::SendQueue::Step::kRead) {
    io_uring_prep_read(submit(Op::kReadFile, c.fd.get()), step.file, step.data,
                       static_cast<unsigned>(step.size), step.offset);
  }
  if (step.kind != uring::SendQueue::Step::kNothing) {
    c.sending = true;
  }
}

void Server::on_output(Connection& c, Op op, int result) {
  if (result <= 0) {
    // A send: EPIPE or ECONNRESET, the client is gone. A read: the file shrank or failed, and
    // the Content-Length already sent cannot be kept.
    return close(c);
  }
  if (op == Op::kSend) {
    c.out.sent(static_cast<std::size_t>(result));  // a short send is normal: the rest follows
    c.protocol.sent(Clock::now());                 // progress: only a reader that stalls times out
  } else {
    c.out.read(static_cast<std::size_t>(result));
  }
  serve(c);  // under the cap again? then the next requests are answered too
}
// [send]

// [settle]
// After every event: the protocol says what the connection waits for now. After the closing
// answer, as chapter 04 does: FIN, then discard input until EOF or the linger time, so that
// close() does not turn unread input into an RST that destroys the answer; or a plain close when
// nothing can arrive unread.
void Server::settle(Connection& c) {
  switch (c.protocol.next(Clock::now())) {
    case common::Next::kClose:
      return close(c);
    case common::Next::kLinger:
      if (!c.protocol.input_follows() && !common::has_unread_input(c.fd.get())) {
        return close(c);
      }
      ::shutdown(c.fd.get(), SHUT_WR);
      break;
    case common::Next::kRead:
    case common::Next::kWrite:
    case common::Next::kHandler:
      break;
  }
  update_receive(c);
  refresh_deadline(c);
}
// [settle]

// [close]
// The kernel may still hold a receive or a send for this socket, pointing into this record. So
// the record is marked closed, its operations are cancelled, and on_connection_event() frees it
// (closing the descriptor) when the last of them has reported.
void Server::close(Connection& c) {
  if (c.closed) {
    return;
  }
  c.closed = true;
  if (c.receive != Connection::Receive::kOff || c.sending) {
    io_uring_prep_cancel_fd(submit(Op::kCancel, c.fd.get()), c.fd.get(), IORING_ASYNC_CANCEL_ALL);
    return;
  }
  --live_;
  connections_[static_cast<std::size_t>(c.fd.get())].reset();
}

// Cancels the operation submitted as (op, fd); its last completion reports -ECANCELED.
void Server::cancel(Op op, int fd) {
  io_uring_prep_cancel64(submit(Op::kCancel, fd), tag(op, fd), 0);
}
// [close]

// [deadline]
// As in chapter 04: one deadline per connection, the protocol's, in a min-heap with lazy
// deletion; wait() sleeps no longer than the earliest. Handlers run inline, so a connection never
// waits for one here.
void Server::refresh_deadline(Connection& c) {
  c.timer.deadline = c.protocol.deadline();
  timers_.schedule(c.timer, c.fd.get(), c.serial);
}

void Server::expire_timers() {
  const Deadline now = Clock::now();
  timers_.expire(now, [&](const common::TimerHeap::Entry& entry) {
    Connection* c = connections_[static_cast<std::size_t>(entry.fd)].get();
    if (c == nullptr || c->serial != entry.serial || c->timer.queued != entry.when || c->closed) {
      return;  // closed, or superseded by an earlier entry: lazy deletion
    }
    c->timer.queued = common::kNoDeadline;
    if (c->timer.deadline <= now) {
      on_timeout(*c);
    } else {
      timers_.schedule(c->timer, entry.fd, c->serial);  // it moved later since this entry
    }
  });
}

// run() has handled every completion that arrived in time before it looks at the timers, so
// the protocol judges the client on what it sent.
void Server::on_timeout(Connection& c) {
  c.protocol.expired(Clock::now());
  if (c.protocol.phase() == common::Protocol::Phase::kClosed) {
    return close(c);  // linger over, a stalled reader, an idle client, or shutdown grace spent
  }
  start_output(c);  // a 408 to send, or a deadline that moved
  settle(c);
}
// [deadline]

// [shutdown]
void Server::begin_shutdown() {
  stopping_ = true;
  shutdown_deadline_ = Clock::now() + common::kShutdownGrace;
  accept_paused_until_ = common::kNoDeadline;
  if (accepting_) {
    cancel(Op::kAccept, listener_.get());  // on_accepted() closes the listener when it ends
  } else {
    listener_.reset();
  }
  for (auto& slot : connections_) {
    if (!slot || slot->closed) {
      continue;
    }
    slot->protocol.stop(shutdown_deadline_);
    if (slot->protocol.idle()) {
      close(*slot);  // idle, or waiting for a request: nothing is in flight
    } else {
      refresh_deadline(*slot);  // a response in flight may finish, within the grace
    }
  }
}
// [shutdown]

}  // namespace

// [main]
int main(int argc, char** argv) {
  const common::Options options = common::parse_options(argc, argv, kChapter);
  common::init_process(kChapter);
  const int threads = options.threads > 0  // default: one ring per usable core
                          ? options.threads
                          : common::usable_cpu_count();
  std::vector<std::unique_ptr<uring::Ring>> rings;
  try {  // first, so that a machine without io_uring gets one line and nothing else
    while (rings.size() < static_cast<std::size_t>(threads)) {
      rings.push_back(std::make_unique<uring::Ring>(kRing));
    }
  } catch (const uring::UringUnavailable& e) {
    std::fprintf(stderr, "io_uring unavailable: %s\n", e.what());
    return kExitUnavailable;
  }
  common::raise_descriptor_limit();  // 10,000 connections need 10,000 descriptors
  // Blocking sockets, like the clients: io_uring never blocks the thread on them, and no plain
  // read or write is ever made on them.
  std::vector<common::Fd> listeners =
      reuseport::open_listeners(options, threads, /*blocking=*/true);
  const std::uint16_t port = common::local_port(listeners.front().get());
  common::Stats stats;
  const common::App app(options, kChapter, stats, threads);
  std::vector<std::unique_ptr<Server>> servers;
  for (std::size_t i = 0; i < rings.size(); ++i) {
    servers.push_back(std::make_unique<Server>(*rings[i], std::move(listeners[i]), app, options));
  }
  {
    std::vector<std::jthread> loops;  // each ring is used by its own thread only
    {
      const common::StopSignalsBlocked blocked;  // SIGTERM comes to main; the rings see the eventfd
      for (auto& server : servers) {
        loops.emplace_back([&server] { server->run(); });
      }
    }
    common::announce_listening(options, port);
    common::wait_for_shutdown();
  }  // ~jthread joins: every loop has finished its shutdown
  common::log_info("shutting down");
  return 0;
}
// [main]
