#include "chapters/04-polling/connection.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <utility>

#include "common/net.hpp"

namespace polling {
namespace {

using common::Clock;
using common::Next;

constexpr std::size_t kReadBudget = 1 << 20;    // bytes read from one client per pass
constexpr std::size_t kLingerBudget = 1 << 20;  // bytes discarded per event while lingering

}  // namespace

// [read-drain]
// Reads, answers and writes until the socket has nothing more for us. Edge-triggered: unless the
// read ends in EAGAIN, no new event will tell us that bytes are still waiting, so every reason
// to stop early (the read budget, the output cap) is retried here once the output has drained.
Interest Connection::service(const Context& ctx, bool short_read_drains) {
  return step(ctx, short_read_drains, /*known_drained=*/false);
}

// With @p known_drained the first pass does not read: the last read found the socket empty, and
// any byte since would have raised an event of its own (a step that answers, not one that reacts
// to readiness, then saves the read that would only say EAGAIN).
Interest Connection::step(const Context& ctx, bool short_read_drains, bool known_drained) {
  if (ctx.stopping) {
    protocol_.stop(ctx.shutdown_deadline);
  }
  if (protocol_.phase() == common::Protocol::Phase::kLingering) {
    return linger();
  }
  common::FlushResult flushed = common::FlushResult::kDone;
  for (bool again = true, first = true; again; first = false) {
    common::ReadStatus status = common::ReadStatus::kWouldBlock;
    // The protocol says when input is not wanted: a client that does not read its answers is not
    // read either, and TCP flow control holds it back.
    const bool wanted = protocol_.wants_input();
    const bool skip = first && known_drained;  // nothing can have arrived unseen since
    if (wanted && !skip) {
      status = receive(short_read_drains);
      if (status == common::ReadStatus::kError) {
        return Interest::kClose;
      }
      drained_ = status == common::ReadStatus::kWouldBlock;
    } else if (!skip) {
      drained_ = false;  // not read: bytes may be waiting in the kernel
    }
    const bool capped = answer(ctx);
    flushed = flush();
    again =
        flushed == common::FlushResult::kDone &&
        (status == common::ReadStatus::kBudget || capped || (!wanted && protocol_.wants_input()));
  }
  return settle(flushed);
}

// Appends what the socket has to the protocol's input, after what earlier reads left: a request
// may arrive in any number of pieces, and the protocol keeps them between events.
common::ReadStatus Connection::receive(bool short_read_drains) {
  common::Buffer& in = protocol_.input();
  const std::size_t before = in.size();
  // [exercise:read-until-eagain solution]
  const common::ReadStatus status =
      common::read_available(fd_.get(), in, kReadBudget, short_read_drains);
  // [exercise:read-until-eagain start]
  // // One read per event, as a level-triggered loop could afford: whatever else waits in the
  // // socket is left for the next event.
  // static_cast<void>(short_read_drains);
  // const ssize_t n = in.read_from(fd_.get());
  // common::ReadStatus status = common::ReadStatus::kWouldBlock;
  // if (n == 0) {
  //   status = common::ReadStatus::kEof;
  // } else if (n < 0 && errno != EAGAIN) {
  //   status = common::ReadStatus::kError;
  // }
  // [exercise:read-until-eagain end]
  protocol_.received(in.size() - before, Clock::now());
  if (status == common::ReadStatus::kEof) {
    protocol_.peer_closed();
  }
  return status;
}
// [read-drain]

// [requests]
// Inline, on the runner's thread: a /sleep here stalls every client of this loop. Unless a sink
// was given (EventLoop::send_requests_to()): then it takes the complete requests, or leaves
// them queued until retry(). Returns true if answering stopped at the output cap.
bool Connection::answer(const Context& ctx) {
  if (ctx.sink == nullptr) {
    return protocol_.answer(Clock::now());
  }
  if (protocol_.phase() == common::Protocol::Phase::kReading) {
    (*ctx.sink)(id(), protocol_);
  }
  // A sink that answers on this thread (or refuses) stops where ready_requests() does: at the
  // output cap, with requests perhaps still in hand. Capped, as Protocol::answer() says it.
  return protocol_.phase() == common::Protocol::Phase::kReading &&
         out_.pending_bytes() >= common::kOutputCap;
}

Interest Connection::answered(const Context& ctx, std::vector<common::Response> answers) {
  protocol_.answered(std::move(answers), Clock::now());
  return step(ctx, false, drained_);  // write them; offer what was read meanwhile
}

Interest Connection::retry(const Context& ctx) {
  protocol_.retry();  // read again, then offer the requests it left, with what arrived since
  return service(ctx);
}
// [requests]

// Writes what the socket takes; progress is activity, so only a reader that stalls times out.
common::FlushResult Connection::flush() {
  const std::uint64_t before = out_.sent_bytes();
  const common::FlushResult result = out_.flush(fd_.get());
  if (out_.sent_bytes() != before) {
    protocol_.sent(Clock::now());
  }
  return result;
}

// [write-rule]
// After a flush: while output is pending the connection waits for writability, because a socket
// is writable almost always and asking for it otherwise would wake the runner for nothing. With
// nothing pending, the protocol says what comes next.
Interest Connection::settle(common::FlushResult flushed) {
  if (flushed == common::FlushResult::kError) {
    return Interest::kClose;
  }
  if (flushed == common::FlushResult::kWouldBlock) {
    return Interest::kOutput;
  }
  switch (protocol_.next(Clock::now())) {
    case Next::kRead:
    case Next::kHandler:
      return Interest::kInput;
    case Next::kWrite:
      return Interest::kOutput;
    case Next::kLinger:
      return begin_lingering();
    case Next::kClose:
      return Interest::kClose;
  }
  return Interest::kClose;
}
// [write-rule]

// [closing]
// Like chapter 01's close, as a phase: FIN now, then discard input until the client's FIN or the
// linger time, so that close() does not turn unread input into an RST that destroys the response
// before the client has read it. Nothing can arrive unread when this very step read the socket
// empty and no input is known to follow the closing answer: a plain close() then sends FIN, not
// RST. Only otherwise (a response that took several steps to write) is the kernel asked.
Interest Connection::begin_lingering() {
  if (!protocol_.input_follows() && (drained_ || !common::has_unread_input(fd_.get()))) {
    return Interest::kClose;
  }
  ::shutdown(fd_.get(), SHUT_WR);
  return linger();
}

Interest Connection::linger() {
  char discard[16 * 1024];
  for (std::size_t total = 0; total < kLingerBudget;) {  // a flood waits for the next event
    const ssize_t n = ::recv(fd_.get(), discard, sizeof discard, 0);
    if (n > 0) {
      total += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return Interest::kInput;
    } else {
      return Interest::kClose;  // the client's FIN (or a reset): now close() cannot hurt
    }
  }
  return Interest::kInput;
}
// [closing]

// [deadline]
// A deadline measures the client, not us: while a handler blocked the loop, or a long batch kept
// it, the client's bytes may have arrived unread. So a client waiting to be read is read once
// more first; the protocol then judges it (a deadline that moved is no longer due). A reader is
// not written to first: a socket that takes a few more bytes without turning writable is no sign
// that its client reads again.
Interest Connection::expired(const Context& ctx) {
  const common::Waiting what = protocol_.waiting();
  if (what == common::Waiting::kNextRequest || what == common::Waiting::kRestOfRequest) {
    const Interest interest = step(ctx, /*short_read_drains=*/false, /*known_drained=*/false);
    if (interest == Interest::kClose || deadline(ctx) > Clock::now()) {
      return interest;  // it made progress: no longer late
    }
  }
  if (ctx.stopping) {
    protocol_.stop(ctx.shutdown_deadline);
  }
  protocol_.expired(Clock::now());
  if (protocol_.phase() == common::Protocol::Phase::kClosed) {
    return Interest::kClose;  // idle, a stalled reader, a linger or the shutdown grace is over
  }
  return settle(flush());  // a 408 to send, or a deadline that moved
}
// [deadline]

}  // namespace polling
