#include "common/log.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include <unistd.h>

namespace common {
namespace {

std::string g_name = "server";
bool g_debug = false;

void vlog(const char* level, const char* format, va_list args) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  ::gmtime_r(&now.tv_sec, &utc);

  char line[1024];
  int length = static_cast<int>(std::strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &utc));
  length += std::snprintf(line + length, sizeof line - length,
                          ".%03ldZ %s[%d] %s: ", now.tv_nsec / 1000000, g_name.c_str(),
                          static_cast<int>(::getpid()), level);
  if (length < static_cast<int>(sizeof line)) {
    length += std::vsnprintf(line + length, sizeof line - length, format, args);
  }
  if (length > static_cast<int>(sizeof line) - 1) {
    length = sizeof line - 1;  // truncated: keep the newline
  }
  line[length++] = '\n';
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, line, length);
}

}  // namespace

void set_log_name(std::string_view name) {
  g_name = name;
  const char* level = std::getenv("PROGRESSIVE_LOG");
  g_debug = level != nullptr && std::string_view(level) == "debug";
}

void log_debug(const char* format, ...) {
  if (!g_debug) {
    return;
  }
  va_list args;
  va_start(args, format);
  vlog("debug", format, args);
  va_end(args);
}

#define COMMON_DEFINE_LOG(function, level) \
  void function(const char* format, ...) { \
    va_list args;                          \
    va_start(args, format);                \
    vlog(level, format, args);             \
    va_end(args);                          \
  }

COMMON_DEFINE_LOG(log_info, "info")
COMMON_DEFINE_LOG(log_warn, "warn")
COMMON_DEFINE_LOG(log_error, "error")

#undef COMMON_DEFINE_LOG

}  // namespace common
