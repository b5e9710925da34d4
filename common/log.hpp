/// @file log.hpp
/// @brief Logging to stderr, one line per call.
#pragma once

#include <string_view>

namespace common {

/// @defgroup log Logging
/// @brief Timestamped lines on stderr: `2026-11-23T09:44:22.123Z 01-iterative[4242] info: ...`.
///
/// Each line is formatted first and written with a single write(2), so lines from several
/// threads or processes never interleave. Thread-safe; not async-signal-safe.
/// @{

/// Sets the name printed on every line (the chapter). Call before starting threads.
void set_log_name(std::string_view name);

/// Logs a printf-style debug line (why a request was refused, say), if the environment variable
/// PROGRESSIVE_LOG=debug was set when set_log_name() read it.
void log_debug(const char* format, ...) __attribute__((format(printf, 1, 2)));
/// Logs a printf-style informational line.
void log_info(const char* format, ...) __attribute__((format(printf, 1, 2)));
/// Logs a printf-style warning: something failed for one connection or was degraded.
void log_warn(const char* format, ...) __attribute__((format(printf, 1, 2)));
/// Logs a printf-style error: something failed that the operator should look at.
void log_error(const char* format, ...) __attribute__((format(printf, 1, 2)));

/// @}

}  // namespace common
