/// @file app.hpp
/// @brief The application every chapter serves: one function from request to response.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/fd.hpp"
#include "common/http_parser.hpp"
#include "common/http_response.hpp"
#include "common/options.hpp"
#include "common/stats.hpp"

namespace common {

/// @defgroup app Application
/// @brief The routes (written down in docs/protocol.md) and their handlers.
/// @{

/// The number of primes <= @p n, by trial division on purpose: a CPU-bound stand-in for real
/// work whose cost grows like n^1.5 / log n (about 20 ms for n = 200,000
/// and 3 s for n = 10,000,000 on a 2020s core).
[[nodiscard]] std::uint64_t count_primes(std::uint64_t n) noexcept;

/// The integer value of parameter @p name in a query string ("n=10&x=y"), if present, all
/// digits, and within [@p min, @p max].
[[nodiscard]] std::optional<std::uint64_t> query_number(std::string_view query,
                                                        std::string_view name, std::uint64_t min,
                                                        std::uint64_t max);

/// The routes. handle() is const and touches only atomics, so one App may be shared by every
/// thread; it is copied into forked children like any other object.
class App {
 public:
  /// Opens the docroot (a start-up failure throws std::system_error). @p workers is what
  /// /stats reports as the number of threads or processes that serve clients.
  App(const Options& options, const ChapterInfo& chapter, Stats& stats, int workers);

  /// Answers one complete request. May block: /sleep sleeps and /compute computes, on purpose,
  /// in the calling thread. Sets `close` when the request or a shutdown ends the connection.
  [[nodiscard]] Response handle(const Request& request) const;

  /// The answer to a request the parser rejected with @p status, saying @p why in its body (and
  /// in a debug log line); it always closes.
  [[nodiscard]] Response reject(int status, std::string_view why = {}) const;

  /// The answer when a request did not arrive within the request timeout: 408, closing.
  [[nodiscard]] Response timeout() const {
    return reject(408, "the request did not arrive within the request timeout");
  }

  /// The answer to @p request when the server has no room for it now: 503 with Retry-After
  /// (RFC 9110 sections 15.6.4 and 10.2.3). Like every answer of handle(), it keeps the
  /// connection open unless the request or a shutdown closes it: the answer is complete and
  /// framed, and a refused client that reconnected would only add work.
  [[nodiscard]] Response unavailable(const Request& request,
                                     std::chrono::seconds retry_after) const;

  /// The path pattern of the route that answers @p request ("/", "/echo", "/static/",
  /// "/compute", "/sleep", "/stats"), or empty when none does: for a server that sends different
  /// kinds of work to different places.
  [[nodiscard]] std::string_view route_of(const Request& request) const;

  /// The counters this App updates.
  [[nodiscard]] Stats& stats() const noexcept { return stats_; }

  /// A model's own figures for GET /stats: @p more appends JSON members ("name":value pairs,
  /// comma-separated, no braces) to the object /stats answers. Set it before serving; it runs on
  /// whichever thread answers /stats, so it must be thread-safe.
  void report_more(std::function<void(std::string&)> more) { more_ = std::move(more); }

 private:
  Response route(const Request& request) const;
  Response finish(const Request& request, Response response) const;
  Response handle_static(std::string_view file) const;
  Response handle_stats() const;

  Fd docroot_;
  ChapterInfo chapter_;
  Stats& stats_;
  int workers_;
  std::function<void(std::string&)> more_;
};

/// @}

}  // namespace common
