/// @file connection.hpp
/// @brief Chapter 04: one client of an event-driven server, as a record and the steps that move it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "common/app.hpp"
#include "common/buffer.hpp"
#include "common/fd.hpp"
#include "common/http_parser.hpp"
#include "common/io.hpp"
#include "common/nonblocking.hpp"
#include "common/options.hpp"
#include "common/stats.hpp"
#include "common/timer_heap.hpp"

/// Chapter 04's event-driven connection and epoll loop: chapters 05 to 08 build on the
/// connection, and 05, 07 and 08 on the loop.
namespace polling {

/// @defgroup polling_connection Connection (chapter 04)
/// @brief Everything a blocking thread kept on its stack, kept between events instead.
///
/// A Connection never waits and never decides what to wait for in the kernel: each step does
/// all the I/O the socket allows right now and returns the Interest that the step's runner
/// (chapter 04's loop, or a thread of a later chapter) must ask the kernel for. Not thread-safe:
/// one thread at a time runs a connection's steps.
/// @{

/// Names a connection across threads: its descriptor, and a serial that tells it from an earlier
/// connection on the same descriptor (the kernel reuses the lowest free number at once).
struct ConnectionId {
  int fd = -1;               ///< the connection's socket
  std::uint64_t serial = 0;  ///< unique per connection of one loop
};

/// Where complete requests go when the loop does not answer them itself (chapter 05). It is
/// offered the raw bytes of @p count complete requests of one connection and returns false if
/// it cannot take them now (the loop then keeps them, stops reading that connection, and offers
/// them again on EventLoop::retry()), or true and later delivers all @p count answers, in
/// request order, through EventLoop::answer(). Called on the loop's thread; @p requests is valid
/// during the call only.
using RequestSink =
    std::function<bool(ConnectionId id, std::string_view requests, std::size_t count)>;

/// What a connection waits for after a step.
enum class Interest {
  kInput,   ///< readable: a request, the rest of one, or the client's close after our FIN
  kOutput,  ///< writable: output is pending, and input waits until the socket takes more
  kClose,   ///< nothing more: the runner closes it now
};

/// What a step needs from the server around it.
struct Context {
  const common::App& app;             ///< answers requests
  const common::Options& options;     ///< the timeouts
  const RequestSink* sink = nullptr;  ///< where requests go; null: answered inline, at once
  bool stopping = false;              ///< shutdown has begun: finish what is in flight
  common::Deadline shutdown_deadline = common::kNoDeadline;  ///< the end of the shutdown grace
};

// [connection]
/// One client: its socket, its partial input, its unsent output, its phase and its deadline.
class Connection {
 public:
  /// Owns @p socket; counted as open in @p stats while it lives; @p serial tells it apart.
  Connection(common::Fd socket, common::Stats& stats, std::uint64_t serial) noexcept
      : fd_(std::move(socket)), guard_(stats), serial_(serial), activity_(common::Clock::now()) {}

  /// The socket is ready (or may be): reads, answers and writes all it can. With
  /// @p short_read_drains, a read shorter than the space offered counts as EAGAIN (valid only
  /// when the event did not report the peer's FIN; see common::read_available()).
  [[nodiscard]] Interest service(const Context& ctx, bool short_read_drains = false);

  /// The sink's answers to the requests it took, in order; then as service().
  [[nodiscard]] Interest answered(const Context& ctx, std::vector<common::Response> answers);

  /// The sink refused its requests earlier and may have room now: offers them again, then as
  /// service().
  [[nodiscard]] Interest retry(const Context& ctx);

  /// Its deadline passed. A client waiting to be read gets one more read first, since a runner
  /// that was busy may not have read what arrived in time; then an idle client is closed, a
  /// half-received request gets 408 and the connection closes, a reader that stopped reading or a
  /// lingering close is given up.
  [[nodiscard]] Interest expired(const Context& ctx);

  /// When it must next be looked at, from what it waits for (common::deadline_for()), never
  /// later than @p ctx's shutdown deadline.
  [[nodiscard]] common::Deadline deadline(const Context& ctx) const noexcept;

  /// Nothing in flight: no response pending or being made, no batch with the sink or waiting for
  /// retry(), no close in progress. Shutdown closes such a connection at once.
  [[nodiscard]] bool idle() const noexcept {
    return out_.empty() && !awaiting_ && !refused_ && phase_ != Phase::kLingering;
  }

  /// Its descriptor and serial.
  [[nodiscard]] ConnectionId id() const noexcept { return {fd_.get(), serial_}; }

  /// Its runner's bookkeeping: where its deadline stands in the runner's timer heap.
  common::TimerSlot timer;
  /// Its runner's bookkeeping: whether writability is in its interest set.
  bool watching_output = false;

 private:
  // The lifecycle, in order. Flags overlap with it (a client may half-close in any phase).
  enum class Phase {
    kServing,     // taking requests
    kLastAnswer,  // a closing response is queued: nothing is read or sent after it
    kLingering,   // FIN sent; discarding input until the client's FIN or the linger time
  };

  Interest step(const Context& ctx, bool short_read_drains, bool known_drained);
  common::ReadStatus receive(bool short_read_drains);
  bool take_requests(const Context& ctx);
  void answer_inline(const Context& ctx, std::size_t consumed);
  bool hand_off(const Context& ctx);
  void push(common::Response response);
  void continue_if_asked();
  common::FlushResult flush();
  Interest settle(const Context& ctx, common::FlushResult flushed);
  Interest begin_lingering();
  Interest linger();

  common::Fd fd_;
  common::ConnectionGuard guard_;
  std::uint64_t serial_;
  common::Buffer in_;             // partial requests survive between reads
  common::RequestParser parser_;  // where the request at the front of `in_` stands
  common::OutputQueue out_;       // responses not yet written, in order
  Phase phase_ = Phase::kServing;
  bool peer_closed_ = false;     // read returned 0: answer what is complete, then close
  bool awaiting_ = false;        // requests are with the sink; their answers will come back
  bool refused_ = false;         // the sink had no room; the requests wait in `in_`
  bool drained_ = false;         // the last read found the socket empty (EAGAIN)
  bool drain_on_close_ = false;  // input is known to follow the closing response
  common::Deadline activity_;    // the last progress, or a request's first byte
};
// [connection]

/// @}

}  // namespace polling
