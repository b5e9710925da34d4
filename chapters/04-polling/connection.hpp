/// @file connection.hpp
/// @brief Chapter 04: one client of an event-driven server: the protocol, driven by readiness.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "common/app.hpp"
#include "common/fd.hpp"
#include "common/io.hpp"
#include "common/nonblocking.hpp"
#include "common/options.hpp"
#include "common/protocol.hpp"
#include "common/stats.hpp"
#include "common/timer_heap.hpp"

/// Chapter 04's event-driven connection and epoll loop: chapters 05 to 08 build on the
/// connection, and 05, 07 and 08 on the loop.
namespace polling {

/// @defgroup polling_connection Connection (chapter 04)
/// @brief Everything a blocking thread kept on its stack, kept between events instead.
///
/// A Connection is the socket, its unsent output and its common::Protocol, plus the I/O that
/// readiness asks for: read until EAGAIN (the event is edge-triggered), within a budget; write
/// what the socket takes; linger with shutdown() and recv(). It never waits and never decides
/// what to wait for in the kernel: each step returns the Interest that the step's runner
/// (chapter 04's loop, or a thread of a later chapter) must ask the kernel for. Not thread-safe:
/// one thread at a time runs a connection's steps.
/// @{

/// Names a connection across threads: its descriptor, and a serial that tells it from an earlier
/// connection on the same descriptor (the kernel reuses the lowest free number at once).
struct ConnectionId {
  int fd = -1;               ///< the connection's socket
  std::uint64_t serial = 0;  ///< unique per connection of one loop
};

/// Where complete requests go when the runner does not answer them itself. Called on the
/// runner's thread, during a step, with the connection's protocol, whenever requests may be
/// complete. It either takes them (common::Protocol::ready_requests(), then take()) and later
/// delivers their answers through answered(), or leaves them: the connection then reads nothing
/// more until retry().
using RequestSink = std::function<void(ConnectionId id, common::Protocol& protocol)>;

/// What a connection waits for after a step.
enum class Interest {
  kInput,   ///< readable: a request, the rest of one, or the client's close after our FIN
  kOutput,  ///< writable: output is pending, and input waits until the socket takes more
  kClose,   ///< nothing more: the runner closes it now
};

/// What a step needs from the server around it.
struct Context {
  const RequestSink* sink = nullptr;  ///< where requests go; null: answered inline, at once
  bool stopping = false;              ///< shutdown has begun: finish what is in flight
  common::Deadline shutdown_deadline = common::kNoDeadline;  ///< the end of the shutdown grace
};

// [connection]
/// One client: its socket, its unsent output, its protocol.
class Connection {
 public:
  /// Owns @p socket, answered by @p app under @p options; counted as open in the App's stats
  /// while it lives; @p serial tells it apart.
  Connection(common::Fd socket, const common::App& app, const common::Options& options,
             std::uint64_t serial) noexcept
      : fd_(std::move(socket)),
        guard_(app.stats()),
        serial_(serial),
        protocol_(app, options, out_, common::Clock::now()) {}

  /// The socket is ready (or may be): reads, answers and writes all it can. With
  /// @p short_read_drains, a read shorter than the space offered counts as EAGAIN (valid only
  /// when the event did not report the peer's FIN; see common::read_available()).
  [[nodiscard]] Interest service(const Context& ctx, bool short_read_drains = false);

  /// The sink's answers to the requests it took, in order; then as service().
  [[nodiscard]] Interest answered(const Context& ctx, std::vector<common::Response> answers);

  /// The sink left its requests earlier and may have room now: offers them again, then as
  /// service().
  [[nodiscard]] Interest retry(const Context& ctx);

  /// Its deadline passed. A client waiting to be read gets one more read first, since a runner
  /// that was busy may not have read what arrived in time; then the protocol decides
  /// (common::Protocol::expired()).
  [[nodiscard]] Interest expired(const Context& ctx);

  /// When it must next be looked at: its protocol's deadline, never later than @p ctx's
  /// shutdown deadline.
  [[nodiscard]] common::Deadline deadline(const Context& ctx) const noexcept {
    return std::min(protocol_.deadline(), ctx.shutdown_deadline);
  }

  /// Nothing in flight (common::Protocol::idle()): shutdown closes it at once.
  [[nodiscard]] bool idle() const noexcept { return protocol_.idle(); }

  /// Its descriptor and serial.
  [[nodiscard]] ConnectionId id() const noexcept { return {fd_.get(), serial_}; }

  /// Its runner's bookkeeping: where its deadline stands in the runner's timer heap.
  common::TimerSlot timer;
  /// Its runner's bookkeeping: whether writability is in its interest set.
  bool watching_output = false;

 private:
  Interest step(const Context& ctx, bool short_read_drains, bool known_drained);
  common::ReadStatus receive(bool short_read_drains);
  bool answer(const Context& ctx);
  common::FlushResult flush();
  Interest settle(common::FlushResult flushed);
  Interest begin_lingering();
  Interest linger();

  common::Fd fd_;
  common::ConnectionGuard guard_;
  std::uint64_t serial_;
  common::OutputQueue out_;    // responses not yet written, in order
  common::Protocol protocol_;  // the request at hand, the input after it, the phase, the deadline
  bool drained_ = false;       // the last read found the socket empty (EAGAIN)
};
// [connection]

/// @}

}  // namespace polling
