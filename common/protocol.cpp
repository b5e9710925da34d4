#include "common/protocol.hpp"

#include <algorithm>
#include <utility>

namespace common {

// [input]
void Protocol::received(std::size_t n, Deadline now) {
  if (n == 0) {
    return;
  }
  switch (phase_) {
    case Phase::kReading:
    case Phase::kQueued:
    case Phase::kHandling:
      if (in_.size() == n) {
        activity_ = now;  // a request's first byte starts the request timeout
      }
      return;
    case Phase::kClosing:
      input_follows_ = true;  // the client is still sending: the close must linger
      [[fallthrough]];
    case Phase::kLingering:
    case Phase::kClosed:
      in_.clear();  // nothing after the closing answer is a request
      return;
  }
}

void Protocol::receive(std::string_view bytes, Deadline now) {
  if (phase_ == Phase::kReading || phase_ == Phase::kQueued || phase_ == Phase::kHandling) {
    in_.append(bytes);
  }
  received(bytes.size(), now);
}

void Protocol::peer_closed() noexcept {
  peer_closed_ = true;
  if (phase_ == Phase::kLingering) {
    phase_ = Phase::kClosed;  // the client's end of stream is what lingering waited for
  }
}

bool Protocol::wants_input() const noexcept {
  if (peer_closed_) {
    return false;
  }
  switch (phase_) {
    case Phase::kReading:
      return out_.pending_bytes() < kOutputCap;
    case Phase::kQueued:
      return false;
    case Phase::kHandling:
      return in_.size() < kReadAhead && out_.pending_bytes() < kOutputCap;
    case Phase::kClosing:
    case Phase::kLingering:
      return true;
    case Phase::kClosed:
      return false;
  }
  return false;
}
// [input]

// [answer]
bool Protocol::answer(Deadline now, std::size_t most) {
  for (std::size_t answered = 0; phase_ == Phase::kReading && answered < most; ++answered) {
    if (out_.pending_bytes() >= kOutputCap) {
      return true;  // the client is not reading its answers: wait until it does
    }
    const ParseResult parsed = parser_.parse(in_.readable());
    if (parsed.status == ParseStatus::kIncomplete) {
      continue_if_asked();
      return false;
    }
    if (parsed.status == ParseStatus::kError) {
      // It closes: the next byte's meaning is unknown.
      push(app_.reject(parsed.error_status, parsed.error_reason));
      return false;
    }
    Response response = app_.handle(parser_.request());
    in_.consume(parsed.consumed);  // only now: the request's views point into the input
    parser_.reset();
    activity_ = now;
    push(std::move(response));
  }
  return false;
}

// A head that asks for its body with "Expect: 100-continue" and has none of it yet gets the
// interim answer, after every answer before it (RFC 9110 section 10.1.1).
void Protocol::continue_if_asked() {
  if (parser_.take_continue(in_.readable())) {
    out_.push_bytes(kContinueResponse);
  }
}

// Queues a response. A closing one is the last: nothing after it is read as a request, answered
// or sent, and what the input still holds is dropped.
void Protocol::push(Response response) {
  if (response.close) {
    phase_ = Phase::kClosing;
    input_follows_ = input_follows_ || !in_.empty();  // bytes after it: the client still sends
    in_ = Buffer();
    parser_.reset();
  }
  out_.push(std::move(response));
}
// [answer]

// [elsewhere]
// One batch out at a time: its answers come back together and leave in request order, with no
// bookkeeping. A malformed request after the batch is parsed again, and answered, after them.
Protocol::Requests Protocol::ready_requests(std::size_t max) {
  if (phase_ != Phase::kReading || out_.pending_bytes() >= kOutputCap) {
    return {};
  }
  const std::string_view input = in_.readable();
  std::size_t bytes = 0;
  std::size_t count = 0;
  ParseResult parsed;
  while (count < max) {
    parsed = parser_.parse(input.substr(bytes));
    if (parsed.status != ParseStatus::kComplete) {
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
    if (parsed.status == ParseStatus::kError) {
      push(app_.reject(parsed.error_status, parsed.error_reason));
    } else {
      continue_if_asked();
    }
    return {};
  }
  if (parsed.status == ParseStatus::kError) {
    parser_.reset();  // parsed again once the batch is answered
  }
  phase_ = Phase::kQueued;
  return {input.substr(0, bytes), count};
}

void Protocol::take(const Requests& requests) noexcept {
  in_.consume(requests.bytes.size());  // the parser's partial request, if any, now leads
  phase_ = Phase::kHandling;
}

void Protocol::retry() noexcept {
  if (phase_ == Phase::kQueued) {
    parser_.reset();  // the offer was not taken: it is parsed again, from its first byte
    phase_ = Phase::kReading;
  }
}

void Protocol::answered(std::vector<Response> answers, Deadline now) {
  if (phase_ != Phase::kHandling) {
    return;  // closed meanwhile (the shutdown grace ended): nothing more is sent
  }
  phase_ = Phase::kReading;
  activity_ = now;
  for (Response& answer : answers) {
    if (phase_ == Phase::kReading) {  // nothing is sent after a closing answer
      push(std::move(answer));
    }
  }
}
// [elsewhere]

// [next]
Next Protocol::next(Deadline now) {
  switch (phase_) {
    case Phase::kReading:
      if (!out_.empty()) {
        return Next::kWrite;
      }
      if (peer_closed_ || stopping_) {
        phase_ = Phase::kClosed;  // every complete request is answered: half-close and shutdown
        return Next::kClose;      // end here
      }
      if (in_.empty()) {
        in_ = Buffer();  // a connection waiting for a request keeps no input memory
      }
      return Next::kRead;
    case Phase::kQueued:
    case Phase::kHandling:
      return out_.empty() ? Next::kHandler : Next::kWrite;
    case Phase::kClosing:
      if (!out_.empty()) {
        return Next::kWrite;
      }
      if (peer_closed_) {
        phase_ = Phase::kClosed;  // nothing can arrive unread: a plain close() sends FIN, not RST
        return Next::kClose;
      }
      phase_ = Phase::kLingering;
      activity_ = now;
      return Next::kLinger;
    case Phase::kLingering:
      return Next::kRead;
    case Phase::kClosed:
      return Next::kClose;
  }
  return Next::kClose;
}
// [next]

// [deadline]
Waiting Protocol::waiting() const noexcept {
  if (phase_ == Phase::kLingering || phase_ == Phase::kClosed) {
    return Waiting::kPeerClose;
  }
  if (!out_.empty() || phase_ == Phase::kClosing) {
    return Waiting::kReader;
  }
  if (phase_ == Phase::kQueued || phase_ == Phase::kHandling) {
    return Waiting::kHandler;
  }
  return in_.empty() ? Waiting::kNextRequest : Waiting::kRestOfRequest;
}

Deadline Protocol::deadline() const noexcept {
  return std::min(deadline_for(waiting(), activity_, options_), grace_end_);
}

void Protocol::expired(Deadline now) {
  if (deadline() > now) {
    return;  // it made progress since: no longer late
  }
  const Waiting what = waiting();
  if (what == Waiting::kRestOfRequest && !stopping_) {
    in_.clear();  // a request that did not arrive in time: 408, then close
    push(app_.timeout());
    input_follows_ = true;  // the client was still sending it
    activity_ = now;
    return;
  }
  // Idle (closed silently), linger over, a reader that stopped reading, or the grace spent.
  phase_ = Phase::kClosed;
}

void Protocol::stop(Deadline grace_end) noexcept {
  stopping_ = true;
  grace_end_ = std::min(grace_end_, grace_end);
}
// [deadline]

bool Protocol::idle() const noexcept {
  return out_.empty() && (phase_ == Phase::kReading || phase_ == Phase::kClosed);
}

std::string_view Protocol::phase_name(Phase phase) noexcept {
  switch (phase) {
    case Phase::kReading:
      return "reading";
    case Phase::kQueued:
      return "queued";
    case Phase::kHandling:
      return "handling";
    case Phase::kClosing:
      return "closing";
    case Phase::kLingering:
      return "lingering";
    case Phase::kClosed:
      return "closed";
  }
  return "?";
}

}  // namespace common
