/// @file listeners.hpp
/// @brief Chapter 08: one listening socket per loop, all on one port (SO_REUSEPORT).
#pragma once

#include <vector>

#include "common/fd.hpp"
#include "common/options.hpp"

/// Chapter 08's symmetric listeners: chapters 09 and 11 open theirs the same way.
namespace reuseport {

/// @defgroup reuseport_listeners SO_REUSEPORT listeners (chapter 08)
/// @brief N listening sockets on one address and port; the kernel spreads new connections over
/// them by a hash of each connection's addresses and ports.
/// @{

/// Opens @p count listeners on @p options' address and port, each with SO_REUSEPORT (blocking
/// sockets if @p blocking). With port 0 the first picks a free port and the others join it. A
/// port that another process already listens on is refused, as every chapter refuses it, since
/// SO_REUSEPORT would let this server join that one's group in silence. Throws
/// std::system_error at start-up.
[[nodiscard]] std::vector<common::Fd> open_listeners(common::Options options, int count,
                                                     bool blocking = false);

/// @}

}  // namespace reuseport
