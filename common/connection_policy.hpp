/// @file connection_policy.hpp
/// @brief The rules every server applies to a connection, whatever its concurrency model.
#pragma once

#include <chrono>
#include <cstdint>

#include "common/io.hpp"
#include "common/options.hpp"

namespace common {

/// @defgroup connection_policy Connection policy
/// @brief How long a connection may wait for what, how much it may hold, and how a server rests
/// when it is out of descriptors.
///
/// The connection protocol (protocol.hpp) applies them through deadline_for() and the
/// constants, for every model alike; a driver uses the accept pause and the linger time. The
/// models differ in mechanism only: the black-box suite checks each rule against every chapter.
/// @{

/// How long a closing connection keeps reading (and discarding) input after our FIN, waiting
/// for the client to close: closing with unread input would send RST, which can destroy the
/// response before the client has read it.
inline constexpr std::chrono::milliseconds kLingerTime{1000};

/// How long a listener rests after accept() reported descriptor exhaustion (EMFILE, ENFILE): the
/// pending connection keeps the listener readable, so retrying at once would spin.
inline constexpr std::chrono::milliseconds kAcceptPause{100};

/// Unsent output above which a connection's input is no longer read: a client that pipelines
/// requests without reading the answers is held back by TCP flow control, not by our memory.
inline constexpr std::uint64_t kOutputCap = 1 << 20;

/// What a connection is waiting for; that decides how long it may wait.
enum class Waiting {
  kNextRequest,    ///< nothing buffered: an idle keep-alive connection (idle timeout)
  kRestOfRequest,  ///< part of a request has arrived (request timeout, from its first byte)
  kHandler,        ///< our own handler is working for it: the client is not late (no deadline)
  kReader,         ///< a response is being written (request timeout, from the last progress)
  kPeerClose,      ///< we sent FIN and wait for the client's (linger time, from our FIN)
};

/// The moment a connection waiting for @p what since @p since is given up: the one deadline
/// rule of every model. kNoDeadline for kHandler.
[[nodiscard]] inline Deadline deadline_for(Waiting what, Deadline since,
                                           const Options& options) noexcept {
  switch (what) {
    case Waiting::kNextRequest:
      return since + options.idle_timeout;
    case Waiting::kRestOfRequest:
    case Waiting::kReader:
      return since + options.request_timeout;
    case Waiting::kHandler:
      return kNoDeadline;
    case Waiting::kPeerClose:
      return since + kLingerTime;
  }
  return kNoDeadline;
}

/// @}

}  // namespace common
