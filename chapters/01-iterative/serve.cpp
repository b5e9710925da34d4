#include "chapters/01-iterative/serve.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "common/io.hpp"
#include "common/net.hpp"
#include "common/nonblocking.hpp"
#include "common/protocol.hpp"
#include "common/shutdown.hpp"
#include "common/stats.hpp"

namespace iterative {
namespace {

using common::Clock;
using common::Next;
using common::Protocol;

// Waits until the client is ready for @p events. False if the wait ended otherwise, after
// telling the protocol why: its deadline passed (it expires), or shutdown began (what is in
// flight gets its grace, and from then on only the deadline ends a wait).
bool wait_for_client(int fd, short events, Protocol& protocol) {
  switch (common::wait_for(fd, events, protocol.deadline(), !protocol.stopping())) {
    case common::Wait::kReady:
      return true;
    case common::Wait::kShutdown:
      protocol.stop(Clock::now() + common::kShutdownGrace);
      return false;
    case common::Wait::kTimeout:
      protocol.expired(Clock::now());
      return false;
  }
  return false;
}

// Writes what the socket takes, and waits for room when it is full. False if the client is gone.
bool write_some(int fd, common::OutputQueue& out, Protocol& protocol) {
  const std::uint64_t before = out.sent_bytes();
  const common::FlushResult flushed = out.flush(fd);
  if (out.sent_bytes() != before) {
    protocol.sent(Clock::now());  // progress: only a reader that stops reading times out
  }
  if (flushed == common::FlushResult::kWouldBlock) {
    wait_for_client(fd, POLLOUT, protocol);
  }
  return flushed != common::FlushResult::kError;  // EPIPE, ECONNRESET: the client is gone
}

// Waits for the client, then reads what it sent. False if the connection failed.
bool read_some(int fd, Protocol& protocol) {
  if (!wait_for_client(fd, POLLIN, protocol)) {
    return true;  // the protocol knows why: the loop asks it what now
  }
  const ssize_t n = protocol.input().read_from(fd);
  if (n > 0) {
    protocol.received(static_cast<std::size_t>(n), Clock::now());
  } else if (n == 0) {
    protocol.peer_closed();  // the requests already buffered still get their answers
  } else if (errno != EAGAIN) {
    return false;  // ECONNRESET and friends
  }
  return true;
}

// The answer that closes the connection is out. If the client may still be sending (input is
// known to follow, or bytes wait unread in the kernel), closing now would make the kernel send
// RST, which can destroy the answer before the client has read it: so FIN first, and the loop
// reads and discards until the client's FIN or the linger time. Otherwise close() sends FIN.
bool must_linger(int fd, const Protocol& protocol) {
  return protocol.input_follows() || common::has_unread_input(fd);
}

}  // namespace

// [serve]
void serve_connection(common::Fd client, const common::App& app, const common::Options& options) {
  const common::ConnectionGuard counted(app.stats());
  common::OutputQueue out;
  Protocol protocol(app, options, out, Clock::now());
  for (bool open = true; open;) {
    if (out.empty()) {
      // Lock-step: one request at a time is answered, and its answer written, before the next.
      static_cast<void>(protocol.answer(Clock::now(), 1));
    }
    switch (protocol.next(Clock::now())) {
      case Next::kWrite:  // answers to send: send them, waiting while the socket is full
        open = write_some(client.get(), out, protocol);
        break;
      case Next::kRead:  // nothing to send: wait for the client, read what it sends
        open = read_some(client.get(), protocol);
        break;
      case Next::kLinger:
        open = must_linger(client.get(), protocol);
        if (open) {
          ::shutdown(client.get(), SHUT_WR);  // FIN after the answer: "no more from us"
        }
        break;
      case Next::kHandler:  // never here: every request is answered inline, above
      case Next::kClose:
        open = false;
        break;
    }
  }
}  // ~Fd closes the socket
// [serve]

}  // namespace iterative
