#include "common/static_files.hpp"

#include <array>
#include <cerrno>
#include <utility>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/http_parser.hpp"

namespace common {
namespace {

// True if any '/'-separated component is "..". Decoding happened first, so "%2e%2e" is caught.
bool has_dot_dot(std::string_view path) noexcept {
  while (!path.empty()) {
    const std::size_t slash = path.find('/');
    if (path.substr(0, slash) == "..") {
      return true;
    }
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
  }
  return false;
}

int open_beneath(int docroot_fd, const std::string& path) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;  // O_NONBLOCK: a FIFO must not hang us
  // Resolve every component inside the docroot: "..", an absolute symlink, or a relative
  // symlink that climbs out all fail with EXDEV. /proc "magic links" are refused outright.
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, docroot_fd, path.c_str(), &how, sizeof how));
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) {  // a '%' needs two hex digits after it
      return std::nullopt;
    }
    const int high = hex_value(text[i + 1]);
    const int low = hex_value(text[i + 2]);
    if (high < 0 || low < 0 || (high == 0 && low == 0)) {
      return std::nullopt;
    }
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

std::string_view content_type_for(std::string_view file_name) noexcept {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 12> kTypes{{
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".svg", "image/svg+xml"},
      {".ico", "image/x-icon"},
  }};
  const std::size_t slash = file_name.rfind('/');
  const std::size_t dot = file_name.rfind('.');
  if (dot != std::string_view::npos && (slash == std::string_view::npos || dot > slash)) {
    const std::string_view extension = file_name.substr(dot);
    for (const auto& [known, type] : kTypes) {
      if (iequals(extension, known)) {
        return type;
      }
    }
  }
  return "application/octet-stream";
}

std::optional<StaticFile> open_static(int docroot_fd, std::string_view relative_path,
                                      StaticError* error) {
  StaticError ignored;
  StaticError& why = error != nullptr ? *error : ignored;
  why = StaticError::kNotFound;
  // Refuse the obvious escapes before asking the kernel; RESOLVE_BENEATH is the real guarantee.
  if (relative_path.empty() || relative_path.front() == '/' || has_dot_dot(relative_path)) {
    return std::nullopt;
  }
  Fd fd(open_beneath(docroot_fd, std::string(relative_path)));
  if (!fd) {
    if (errno == EACCES) {
      why = StaticError::kForbidden;
    }
    return std::nullopt;  // ENOENT, ENOTDIR, EXDEV (an escape), ELOOP...
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) < 0 || !S_ISREG(info.st_mode)) {
    return std::nullopt;  // directories, devices and FIFOs are not served
  }
  return StaticFile{std::move(fd), static_cast<std::uint64_t>(info.st_size)};
}

}  // namespace common
