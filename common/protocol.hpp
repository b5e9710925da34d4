/// @file protocol.hpp
/// @brief The HTTP/1.1 connection protocol, as a state machine that does no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/app.hpp"
#include "common/buffer.hpp"
#include "common/connection_policy.hpp"
#include "common/http_parser.hpp"
#include "common/http_response.hpp"
#include "common/io.hpp"
#include "common/options.hpp"

namespace common {

/// @defgroup protocol Connection protocol
/// @brief What one HTTP/1.1 connection does between two reads, written once for every model.
///
/// A Protocol never touches a socket, a poll set or a ring. Bytes, the client's end of input and
/// the clock go in; responses to send (into an Output), what to wait for (next()) and until when
/// (deadline()) come out. Every chapter's connection code is a driver of it, and differs from the
/// others only in how it does the I/O:
///
///   1. read into input(), then call received(); at the end of the stream, peer_closed();
///   2. answer(): every complete request, in order, with the App (or, when handlers run
///      elsewhere, ready_requests(), take() and later answered());
///   3. write what the Output holds, calling sent() whenever some of it left;
///   4. ask next() what to wait for, and deadline() until when; when that passes, expired().
///
/// The rules that live here and nowhere else: pipelined requests are answered in order, one
/// batch at a time when handlers run elsewhere; "100 Continue" is sent before a body is waited
/// for; nothing is read as a request, answered or sent after a closing answer; a closed
/// connection lingers when input may still follow; which deadline applies (idle, rest of a
/// request, handler, slow reader, lingering, shutdown grace); and 408 for a request that did not
/// arrive in time. Not thread-safe: one thread at a time drives a connection.
/// @{

/// Input read ahead, at most, while a connection's requests are with a handler: enough to hold
/// the next pipelined batch, not a flood.
inline constexpr std::size_t kReadAhead = 64 * 1024;

/// What a connection waits for after a step of its protocol.
enum class Next {
  kRead,     ///< input: a request, the rest of one or, lingering, the client's end of stream
  kWrite,    ///< the Output to drain (input too, if wants_input() says so)
  kHandler,  ///< answers from the handler that took its requests (see take())
  kLinger,   ///< the last answer is out: FIN now, then discard input until the client closes
  kClose,    ///< nothing more: close the socket now
};

// [protocol]
/// One connection's protocol: its partial input, where its next request stands, its phase, and
/// the moment its current wait began.
class Protocol {
 public:
  /// The lifecycle, in order. Only the client's end of stream overlaps it (a flag).
  enum class Phase {
    kReading,    ///< taking requests; answers leave in request order
    kQueued,     ///< complete requests wait for a handler that had no room (ready_requests())
    kHandling,   ///< a batch of requests is with a handler; its answers are owed (take())
    kClosing,    ///< the closing answer is queued: input is only discarded from now on
    kLingering,  ///< FIN sent: input is discarded until the client's end of stream
    kClosed,     ///< nothing more to do
  };

  /// Complete requests at the front of the input, for a handler that answers them later.
  struct Requests {
    std::string_view bytes;  ///< their bytes, valid until the input changes
    std::size_t count = 0;   ///< how many; 0: none
  };

  /// A connection opened at @p now, answered by @p app under @p options' timeouts, whose
  /// responses go to @p out. All three must outlive it.
  Protocol(const App& app, const Options& options, Output& out, Deadline now) noexcept
      : app_(app), options_(options), out_(out), activity_(now) {}

  Protocol(const Protocol&) = delete;
  Protocol& operator=(const Protocol&) = delete;

  /// @name Input
  /// @{

  /// Where the driver puts what it reads; call received() after.
  [[nodiscard]] Buffer& input() noexcept { return in_; }
  /// @p n bytes were appended to input() at @p now. After the closing answer they are discarded.
  void received(std::size_t n, Deadline now);
  /// Appends a copy of @p bytes, then as received(): for a driver whose bytes arrive elsewhere.
  void receive(std::string_view bytes, Deadline now);
  /// The client closed its side: the requests complete before it still get their answers.
  void peer_closed() noexcept;
  /// Whether peer_closed() was called: nothing more will arrive.
  [[nodiscard]] bool input_ended() const noexcept { return peer_closed_; }
  /// Whether the driver should read now. False while the output is over kOutputCap (the client
  /// is held back by TCP flow control, not by our memory), while requests wait for a handler,
  /// while a handler works and kReadAhead bytes are buffered, and after the client's end of
  /// stream. True after the closing answer (to discard: a client that sends before it reads
  /// would otherwise block on a full window while we block on it) and while lingering.
  [[nodiscard]] bool wants_input() const noexcept;
  /// @}

  /// @name Answering
  /// @{

  /// Answers every complete request (at most @p most of them), in order, with the App, in the
  /// calling thread (a blocking handler blocks it), into the Output; sends "100 Continue" to a
  /// head that asks for it and has no body yet; answers a malformed request with its 4xx and
  /// stops reading requests. Returns true if it stopped because the Output is over kOutputCap:
  /// call again once it has drained.
  bool answer(Deadline now, std::size_t most = SIZE_MAX);

  /// For a handler elsewhere: at most @p max complete requests at the front of the input, in
  /// order, without taking them (none after a closing one, none while a batch is out or
  /// queued). A malformed request or "Expect: 100-continue" at the front is dealt with here, as
  /// in answer(). The connection is then queued: it reads nothing more, and its deadline is the
  /// handler's, until take() or retry().
  [[nodiscard]] Requests ready_requests(std::size_t max);
  /// The handler took @p requests (the last ready_requests()): their bytes leave the input,
  /// and their answers are owed, all together, through answered().
  void take(const Requests& requests) noexcept;
  /// The handler had no room for the requests offered, and may have some now: the connection
  /// reads again, and the next ready_requests() offers them again (with what arrived since).
  void retry() noexcept;
  /// The answers to the batch taken, in request order; nothing after a closing one is sent.
  void answered(std::vector<Response> answers, Deadline now);
  /// @}

  /// @name Waiting
  /// @{

  /// Some output left at @p now: progress, so a reader that keeps reading never times out.
  void sent(Deadline now) noexcept { activity_ = now; }
  /// What the connection waits for now. After the closing answer has left it moves to
  /// kLingering and says kLinger, or says kClose if the client has closed too.
  [[nodiscard]] Next next(Deadline now);
  /// What the connection waits for, as the deadline rule names it.
  [[nodiscard]] Waiting waiting() const noexcept;
  /// When the wait that next() names is given up (common::deadline_for(), never later than the
  /// shutdown grace); kNoDeadline while a handler works.
  [[nodiscard]] Deadline deadline() const noexcept;
  /// The deadline passed at @p now. A deadline measures the client, not the server: a driver
  /// that may have left arrived bytes unread (its thread was busy) reads them first. A deadline
  /// that has since moved is not expired. Otherwise a half-received request gets 408 and the
  /// connection closes after it; an idle one, a reader that stopped reading, a lingering one,
  /// or one still busy when the shutdown grace ends, is closed.
  void expired(Deadline now);
  /// Shutdown began; responses in flight may finish until @p grace_end. Idempotent.
  void stop(Deadline grace_end) noexcept;
  /// Whether stop() was called.
  [[nodiscard]] bool stopping() const noexcept { return stopping_; }
  /// @}

  /// @name State
  /// @{

  /// The phase.
  [[nodiscard]] Phase phase() const noexcept { return phase_; }
  /// The phase's name, for logs and test messages.
  [[nodiscard]] static std::string_view phase_name(Phase phase) noexcept;
  /// Nothing in flight: no output, no requests with a handler or waiting for one, no linger.
  /// Shutdown closes such a connection at once.
  [[nodiscard]] bool idle() const noexcept;
  /// Input is known to follow the closing answer (it arrived, or the request it answers was cut
  /// short): the close must linger. Without it, a driver that knows the socket holds no unread
  /// byte may close at once, since then close() cannot turn into a reset.
  [[nodiscard]] bool input_follows() const noexcept { return input_follows_; }
  /// @}

 private:
  void push(Response response);
  void continue_if_asked();

  const App& app_;
  const Options& options_;
  Output& out_;
  Buffer in_;             // partial requests survive between reads
  RequestParser parser_;  // where the request at the front of `in_` stands
  Phase phase_ = Phase::kReading;
  bool peer_closed_ = false;
  bool input_follows_ = false;
  bool stopping_ = false;
  Deadline activity_;  // the start of the current wait: last progress, or a request's first byte
  Deadline grace_end_ = kNoDeadline;
};
// [protocol]

/// @}

}  // namespace common
