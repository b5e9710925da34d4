/// @file static_files.hpp
/// @brief Safe lookup of files under the document root.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/fd.hpp"

namespace common {

/// @defgroup static_files Static files
/// @brief Percent-decoding, path resolution that cannot escape the docroot, content types.
/// @{

/// Decodes %XX escapes. Returns nullopt for a malformed escape ("%4", "%zz") or an encoded NUL,
/// which no file name may contain. '+' is left alone: it means a space only in forms.
[[nodiscard]] std::optional<std::string> percent_decode(std::string_view text);

/// The Content-Type for a file name, by extension (case-insensitive);
/// application/octet-stream when unknown. Points to static storage.
[[nodiscard]] std::string_view content_type_for(std::string_view file_name) noexcept;

/// An open regular file and its size.
struct StaticFile {
  Fd fd;                   ///< the open file, read-only
  std::uint64_t size = 0;  ///< its size when it was opened
};

/// Why open_static() found no file.
enum class StaticError {
  kNotFound,   ///< missing, not a regular file, or a path that tries to leave the docroot
  kForbidden,  ///< present but not readable by the server
};

/// Opens @p relative_path (already percent-decoded) under the directory @p docroot_fd for
/// reading. A ".." component, an absolute path, or a symbolic link that leads outside the
/// docroot is refused (the kernel enforces the last with openat2's RESOLVE_BENEATH).
/// Only regular files are returned. Thread-safe.
[[nodiscard]] std::optional<StaticFile> open_static(int docroot_fd, std::string_view relative_path,
                                                    StaticError* error = nullptr);

/// @}

}  // namespace common
