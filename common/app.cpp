#include "common/app.hpp"

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <system_error>

#include <fcntl.h>

#include "common/io.hpp"
#include "common/log.hpp"
#include "common/shutdown.hpp"
#include "common/static_files.hpp"

namespace common {
namespace {

constexpr std::uint64_t kMaxComputeN = 10'000'000;
constexpr std::uint64_t kMaxSleepMs = 10'000;

// The routes: a path (or a prefix, for /static/) and the methods it allows, as sent in Allow.
enum class Route { kHello, kEcho, kStatic, kCompute, kSleep, kStats };

struct RouteEntry {
  std::string_view path;
  bool prefix;
  Route route;
  std::string_view allow;
};

constexpr std::array<RouteEntry, 6> kRoutes{{
    {"/", false, Route::kHello, "GET, HEAD"},
    {"/echo", false, Route::kEcho, "GET, HEAD, POST"},
    {"/static/", true, Route::kStatic, "GET, HEAD"},
    {"/compute", false, Route::kCompute, "GET, HEAD"},
    {"/sleep", false, Route::kSleep, "GET, HEAD"},
    {"/stats", false, Route::kStats, "GET, HEAD"},
}};

const RouteEntry* find_route(std::string_view path) {
  for (const RouteEntry& entry : kRoutes) {
    if (entry.prefix ? path.starts_with(entry.path) : path == entry.path) {
      return &entry;
    }
  }
  return nullptr;
}

bool method_allowed(Method method, const RouteEntry& entry) {
  return method == Method::kGet || method == Method::kHead ||
         (method == Method::kPost && entry.route == Route::kEcho);
}

}  // namespace

std::uint64_t count_primes(std::uint64_t n) noexcept {
  std::uint64_t count = 0;
  for (std::uint64_t k = 2; k <= n; ++k) {
    bool prime = true;
    for (std::uint64_t d = 2; d * d <= k; ++d) {
      if (k % d == 0) {
        prime = false;
        break;
      }
    }
    count += prime ? 1 : 0;
  }
  return count;
}

std::optional<std::uint64_t> query_number(std::string_view query, std::string_view name,
                                          std::uint64_t min, std::uint64_t max) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) {
      continue;
    }
    const std::string_view text = pair.substr(eq + 1);
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
        value > max) {
      return std::nullopt;
    }
    return value;
  }
  return std::nullopt;
}

App::App(const Options& options, const ChapterInfo& chapter, Stats& stats, int workers)
    : docroot_(::open(options.docroot.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)),
      chapter_(chapter),
      stats_(stats),
      workers_(workers) {
  if (!docroot_) {
    throw std::system_error(errno, std::generic_category(),
                            "open(docroot " + options.docroot + ")");
  }
}

Response App::handle(const Request& request) const {
  return finish(request, route(request));
}

Response App::unavailable(const Request& request, std::chrono::seconds retry_after) const {
  Response response = make_error(503);
  response.retry_after = static_cast<std::uint32_t>(retry_after.count());
  return finish(request, std::move(response));
}

// What every answer to a well-formed request gets: counted, closing when the request or a
// shutdown ends the connection, and without a body for HEAD.
Response App::finish(const Request& request, Response response) const {
  stats_.requests.fetch_add(1, std::memory_order_relaxed);
  // A shutting-down server finishes this response but tells the client not to send another.
  response.close = response.close || !request.keep_alive || shutdown_requested();
  response.keep_alive_header = !response.close && request.minor_version == 0;
  if (request.method == Method::kHead) {
    response.send_body = false;  // the same headers as GET, Content-Length included
    response.body.clear();
    response.file.reset();
  }
  return response;
}

Response App::reject(int status, std::string_view why) const {
  log_debug("refused with %d: %.*s", status, static_cast<int>(why.size()), why.data());
  Response response = make_error(status, why);
  response.close = true;  // after a framing or parsing error, the next byte's meaning is unknown
  stats_.requests.fetch_add(1, std::memory_order_relaxed);
  return response;
}

std::string_view App::route_of(const Request& request) const {
  const std::optional<std::string> path = percent_decode(request.path);
  const RouteEntry* entry = path ? find_route(*path) : nullptr;
  return entry != nullptr ? entry->path : std::string_view();
}

Response App::route(const Request& request) const {
  if (request.method == Method::kOther) {
    return make_error(501);
  }
  const std::optional<std::string> path = percent_decode(request.path);
  if (!path) {
    return make_error(400, "the path decodes to a NUL byte");
  }
  const RouteEntry* entry = find_route(*path);
  if (entry == nullptr) {
    return make_error(404);
  }
  if (!method_allowed(request.method, *entry)) {
    Response response = make_error(405);
    response.allow = entry->allow;
    return response;
  }
  switch (entry->route) {
    case Route::kHello:
      return make_response(200, "Hello, World!");
    case Route::kEcho:
      return request.method == Method::kPost
                 ? make_response(200, std::string(request.body), "application/octet-stream")
                 : make_response(200, std::string(request.head));
    case Route::kStatic:
      return handle_static(std::string_view(*path).substr(entry->path.size()));
    case Route::kCompute: {
      const auto n = query_number(request.query, "n", 1, kMaxComputeN);
      return n ? make_response(200, std::to_string(count_primes(*n)) + "\n")
               : make_error(400, "/compute takes n, a whole number from 1 to 10000000");
    }
    case Route::kSleep: {
      const auto ms = query_number(request.query, "ms", 0, kMaxSleepMs);
      if (!ms) {
        return make_error(400, "/sleep takes ms, a whole number from 0 to 10000");
      }
      if (!sleep_unless_shutdown(std::chrono::milliseconds(*ms))) {
        Response response = make_error(503);  // cut short by shutdown: say so, and close
        response.close = true;
        return response;
      }
      return make_response(200, "slept " + std::to_string(*ms) + " ms\n");
    }
    case Route::kStats:
      return handle_stats();
  }
  return make_error(404);
}

Response App::handle_static(std::string_view file) const {
  StaticError error{};
  std::optional<StaticFile> found = open_static(docroot_.get(), file, &error);
  if (!found) {
    return make_error(error == StaticError::kForbidden ? 403 : 404);
  }
  Response response;
  response.content_type = content_type_for(file);
  response.content_length = found->size;
  response.file = std::move(found->fd);
  return response;
}

Response App::handle_stats() const {
  char json[512];
  const int n = std::snprintf(
      json, sizeof json,
      "{\"chapter\":\"%.*s\",\"model\":\"%.*s\",\"workers\":%d,\"requests\":%llu,"
      "\"connections\":%llu,\"open_connections\":%lld",
      static_cast<int>(chapter_.name.size()), chapter_.name.data(),
      static_cast<int>(chapter_.model.size()), chapter_.model.data(), workers_,
      static_cast<unsigned long long>(stats_.requests.load(std::memory_order_relaxed)),
      static_cast<unsigned long long>(stats_.connections.load(std::memory_order_relaxed)),
      static_cast<long long>(stats_.open_connections.load(std::memory_order_relaxed)));
  std::string body(json, static_cast<std::size_t>(n));
  if (more_) {
    body += ',';
    more_(body);
  }
  body += "}\n";
  return make_response(200, std::move(body), "application/json");
}

}  // namespace common
