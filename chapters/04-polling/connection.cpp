#include "chapters/04-polling/connection.hpp"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "common/connection_policy.hpp"

namespace polling {
namespace {

using common::Clock;

constexpr std::size_t kReadBudget = 1 << 20;    // bytes read from one client per pass
constexpr std::size_t kLingerBudget = 1 << 20;  // bytes discarded per event while lingering
constexpr std::size_t kMaxBatch = 16;           // requests handed to a sink at once, at most
constexpr std::size_t kReadAhead = 64 * 1024;   // input buffered while the sink has a batch

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
  if (phase_ == Phase::kLingering) {
    return linger();
  }
  common::FlushResult flushed = common::FlushResult::kDone;
  for (bool again = true, first = true; again; first = false) {
    common::ReadStatus status = common::ReadStatus::kWouldBlock;
    // A client that does not read its answers is not read either: TCP flow control holds it.
    const bool output_full = out_.pending_bytes() >= common::kOutputCap;
    const bool held = refused_ || (awaiting_ && in_.size() >= kReadAhead);
    const bool readable = phase_ == Phase::kServing && !peer_closed_ && !output_full && !held;
    const bool skip =
        first && known_drained;  // nothing can have arrived unseen since the last read
    if (readable && !skip) {
      const bool was_empty = in_.empty();
      status = receive(short_read_drains);
      if (status == common::ReadStatus::kError) {
        return Interest::kClose;
      }
      peer_closed_ = status == common::ReadStatus::kEof;
      drained_ = status == common::ReadStatus::kWouldBlock;
      if (was_empty && !in_.empty()) {
        activity_ = Clock::now();  // a request's first byte starts the request timeout
      }
    } else if (!skip) {
      drained_ = false;  // not read: bytes may be waiting in the kernel
    }
    const bool capped = take_requests(ctx);
    flushed = flush();
    again = flushed == common::FlushResult::kDone &&
            (status == common::ReadStatus::kBudget || output_full || capped);
  }
  return settle(ctx, flushed);
}

// Appends what the socket has to the input, after what earlier reads left: a request may arrive
// in any number of pieces.
common::ReadStatus Connection::receive(bool short_read_drains) {
  // [exercise:partial-requests solution]
  return common::read_available(fd_.get(), in_, kReadBudget, short_read_drains);
  // [exercise:partial-requests start]
  // // Each read is parsed on its own: whatever an earlier read left is thrown away.
  // in_.clear();
  // parser_.reset();
  // return common::read_available(fd_.get(), in_, kReadBudget, short_read_drains);
  // [exercise:partial-requests end]
}
// [read-drain]

// [requests]
// Starts the complete requests at the front of the input, in order. Returns true if it stopped
// because the output is full (flushing makes room), false otherwise.
bool Connection::take_requests(const Context& ctx) {
  if (ctx.sink != nullptr) {
    return hand_off(ctx);
  }
  while (phase_ == Phase::kServing) {
    if (out_.pending_bytes() >= common::kOutputCap) {
      return true;
    }
    const common::ParseResult parsed = parser_.parse(in_.readable());
    if (parsed.status == common::ParseStatus::kIncomplete) {
      continue_if_asked();
      break;
    }
    if (parsed.status == common::ParseStatus::kError) {
      push(ctx.app.reject(parsed.error_status));  // it closes: the next byte's meaning is unknown
      break;
    }
    answer_inline(ctx, parsed.consumed);
  }
  return false;
}

// Inline, on the loop's thread: a /sleep here stalls every client of this loop.
void Connection::answer_inline(const Context& ctx, std::size_t consumed) {
  common::Response response = ctx.app.handle(parser_.request());
  in_.consume(consumed);  // only now: the request's views point into the input
  parser_.reset();
  activity_ = Clock::now();
  push(std::move(response));
}

// A head that asks for its body with "Expect: 100-continue" and has none of it yet gets the
// interim answer, after every answer before it (RFC 9110 section 10.1.1).
void Connection::continue_if_asked() {
  if (parser_.take_continue(in_.readable())) {
    out_.push_bytes(common::kContinueResponse);
  }
}

// Queues a response. A closing one is the last: nothing after it is read, answered or sent.
void Connection::push(common::Response response) {
  if (response.close) {
    phase_ = Phase::kLastAnswer;
    drain_on_close_ = !in_.empty();  // bytes after it: the client is still sending
  }
  out_.push(std::move(response));
}
// [requests]

// [hand-off]
// Chapter 05: every complete request buffered goes to the sink as one batch, and the batch's
// answers come back together (answered()): a connection has one batch out at a time, so its
// answers leave in request order without any bookkeeping. A malformed request after the batch
// is parsed again, and answered, once the batch's answers are queued before it.
bool Connection::hand_off(const Context& ctx) {
  if (phase_ != Phase::kServing || awaiting_ || refused_) {
    return false;  // one batch out at a time; a refused one waits for retry()
  }
  if (out_.pending_bytes() >= common::kOutputCap) {
    return true;  // its answers would only wait behind the unread ones
  }
  const std::string_view input = in_.readable();
  std::size_t bytes = 0;
  std::size_t count = 0;
  common::ParseResult parsed;
  while (count < kMaxBatch) {
    parsed = parser_.parse(input.substr(bytes));
    if (parsed.status != common::ParseStatus::kComplete) {
      break;
    }
    const bool last = !parser_.request().keep_alive;  // nothing after it is taken
    bytes += parsed.consumed;
    ++count;
    parser_.reset();
    if (last) {
      break;
    }
  }
  if (count == 0) {
    if (parsed.status == common::ParseStatus::kError) {
      push(ctx.app.reject(parsed.error_status));
    } else {
      continue_if_asked();
    }
    return false;
  }
  if (parsed.status == common::ParseStatus::kError) {
    parser_.reset();  // parsed again after the batch's answers
  }
  if (!(*ctx.sink)(id(), input.substr(0, bytes), count)) {
    refused_ = true;  // the batch stays in the input, and so does everything after it
    parser_.reset();  // parsed again from its first byte when the sink is retried
    return false;
  }
  in_.consume(bytes);  // the parser's partial request, if any, now starts the input
  refused_ = false;
  awaiting_ = true;
  return false;
}

Interest Connection::answered(const Context& ctx, std::vector<common::Response> answers) {
  awaiting_ = false;
  activity_ = Clock::now();
  for (common::Response& answer : answers) {
    if (phase_ == Phase::kServing) {  // nothing is sent after a closing response
      push(std::move(answer));
    }
  }
  return step(ctx, false, drained_);  // write them; hand off what was read meanwhile
}

Interest Connection::retry(const Context& ctx) {
  refused_ = false;
  return service(ctx);
}
// [hand-off]

// Writes what the socket takes; progress is activity, so only a reader that stalls times out.
common::FlushResult Connection::flush() {
  const std::uint64_t before = out_.sent_bytes();
  const common::FlushResult result = out_.flush(fd_.get());
  if (out_.sent_bytes() != before) {
    activity_ = Clock::now();
  }
  return result;
}

// [write-rule]
// After a flush: while output is pending the connection waits for writability, because a socket
// is writable almost always and asking for it otherwise would wake the runner for nothing. With
// nothing pending, it closes, starts closing, or waits for its next request.
Interest Connection::settle(const Context& ctx, common::FlushResult flushed) {
  if (flushed == common::FlushResult::kError) {
    return Interest::kClose;
  }
  if (flushed == common::FlushResult::kWouldBlock) {
    return Interest::kOutput;
  }
  if (phase_ == Phase::kLastAnswer) {
    return begin_lingering();
  }
  if (!awaiting_ && !refused_ && (peer_closed_ || ctx.stopping)) {
    return Interest::kClose;  // every complete request is answered: half-close and shutdown end
                              // here
  }
  if (in_.empty()) {
    in_ = common::Buffer();  // a connection waiting for a request keeps no input memory
  }
  return Interest::kInput;
}
// [write-rule]

// [closing]
// Like common::close_gracefully(), as a phase: FIN now, then discard input until the client's
// FIN or the linger time, so that close() does not turn unread input into an RST that destroys
// the response before the client has read it.
Interest Connection::begin_lingering() {
  int unread = 0;
  // Nothing can arrive unread when the client has closed, or when this very step read the socket
  // empty and no request followed the closing one: a plain close() then sends FIN, not RST. Only
  // otherwise (a response that took several steps to write) is the kernel asked.
  if (peer_closed_ || (!drain_on_close_ && drained_) ||
      (!drain_on_close_ && ::ioctl(fd_.get(), FIONREAD, &unread) == 0 && unread == 0)) {
    return Interest::kClose;
  }
  ::shutdown(fd_.get(), SHUT_WR);
  phase_ = Phase::kLingering;
  in_ = common::Buffer();
  activity_ = Clock::now();
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
// One deadline per connection, chosen by what it waits for (common/connection_policy.hpp).
common::Deadline Connection::deadline(const Context& ctx) const noexcept {
  common::Waiting what = common::Waiting::kNextRequest;
  if (phase_ == Phase::kLingering) {
    what = common::Waiting::kPeerClose;
  } else if (!out_.empty()) {
    what = common::Waiting::kReader;
  } else if (awaiting_ || refused_) {
    what = common::Waiting::kHandler;
  } else if (!in_.empty()) {
    what = common::Waiting::kRestOfRequest;
  }
  return std::min(common::deadline_for(what, activity_, ctx.options), ctx.shutdown_deadline);
}

Interest Connection::expired(const Context& ctx) {
  // A deadline measures the client, not us: while a handler blocked the loop, or a long batch
  // kept it, the client's bytes may have arrived unread. One more read first; only a client that
  // is still behind is given up. (Not for a reader: a socket that takes a few more bytes without
  // turning writable is no sign that its client reads again.)
  if (phase_ == Phase::kServing && out_.empty() && !awaiting_ && !refused_ && !ctx.stopping) {
    const common::Deadline before = deadline(ctx);
    const Interest interest = step(ctx, /*short_read_drains=*/false, /*known_drained=*/false);
    if (interest == Interest::kClose || deadline(ctx) != before) {
      return interest;  // it made progress: no longer late
    }
  }
  if (phase_ != Phase::kServing || !out_.empty() || awaiting_ || refused_) {
    return Interest::kClose;  // linger over, a stalled reader, or the shutdown grace spent
  }
  if (in_.empty() || ctx.stopping) {
    return Interest::kClose;  // an idle keep-alive connection is closed silently
  }
  in_.clear();  // a request that did not arrive in time: 408, then close
  push(ctx.app.timeout());
  drain_on_close_ = true;  // the client was still sending it
  activity_ = Clock::now();
  return settle(ctx, flush());
}
// [deadline]

}  // namespace polling
