/// @file stats.hpp
/// @brief The counters behind GET /stats.
#pragma once

#include <atomic>
#include <cstdint>

namespace common {

/// @defgroup stats Counters
/// @brief Server-wide counters, safe to update from every thread and, in shared memory, every
/// process.
/// @{

/// Counters for the whole server. Lock-free atomics only, so the struct also works when it lives
/// in memory shared between processes (see create_shared_stats()).
struct Stats {
  std::atomic<std::uint64_t> requests{0};         ///< responses sent (errors included)
  std::atomic<std::uint64_t> connections{0};      ///< connections accepted
  std::atomic<std::int64_t> open_connections{0};  ///< connections open now
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free &&
                  std::atomic<std::int64_t>::is_always_lock_free,
              "Stats must work in shared memory, which needs lock-free atomics");

/// Counts one connection as accepted and open for the lifetime of the guard. Thread-safe.
class ConnectionGuard {
 public:
  /// Counts one more connection, accepted and open, in @p stats.
  explicit ConnectionGuard(Stats& stats) noexcept : stats_(stats) {
    stats_.connections.fetch_add(1, std::memory_order_relaxed);
    stats_.open_connections.fetch_add(1, std::memory_order_relaxed);
  }
  ~ConnectionGuard() { stats_.open_connections.fetch_sub(1, std::memory_order_relaxed); }
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

 private:
  Stats& stats_;
};

/// Creates Stats in an anonymous MAP_SHARED mapping, so that processes forked afterwards update
/// the same counters (an ordinary global would be copied into each child on its first write).
/// The mapping lives until the process exits. Throws std::system_error if mmap fails.
[[nodiscard]] Stats& create_shared_stats();

/// @}

}  // namespace common
