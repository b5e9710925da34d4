/// @file http_response.hpp
/// @brief Responses and their serialisation.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "common/fd.hpp"

namespace common {

/// @defgroup http_response HTTP responses
/// @brief What a handler returns, and the bytes of its status line and headers.
/// @{

/// The value of the Server header: one name for every chapter, so their bytes compare equal.
inline constexpr std::string_view kServerName = "progressive/1.0";

/// A response ready to be sent: a status line and headers (append_head()), then either `body`
/// or, when `file` is valid, the first `content_length` bytes of that file (sent with sendfile).
struct Response {
  int status = 200;  ///< the status code; the reason phrase follows from it
  std::string_view content_type = "text/plain";  ///< points to static storage
  std::string body;                              ///< the body, unless `file` is valid
  Fd file;                                       ///< a regular file to send instead of `body`
  std::uint64_t content_length = 0;              ///< the Content-Length header
  std::string_view allow;                        ///< the Allow header of a 405 (static storage)
  std::uint32_t retry_after = 0;   ///< the Retry-After header of a 503, in seconds; 0: none
  bool send_body = true;           ///< false for HEAD: headers only
  bool close = false;              ///< send "Connection: close" and then close
  bool keep_alive_header = false;  ///< send "Connection: keep-alive" (for HTTP/1.0)
};

/// Where a connection's responses wait to be sent, in order. The protocol (common::Protocol)
/// pushes; a driver writes them out and pops what left. common::OutputQueue writes to a
/// non-blocking socket; a completion-based driver's queue submits sends that complete later.
class Output {
 public:
  /// Queues @p response: its head, then its body or its file (unless send_body is false).
  virtual void push(Response response) = 0;
  /// Queues @p bytes as they are: an interim response such as "100 Continue".
  virtual void push_bytes(std::string_view bytes) = 0;
  /// True when every byte pushed has left.
  [[nodiscard]] virtual bool empty() const noexcept = 0;
  /// Bytes still to send, file bytes included.
  [[nodiscard]] virtual std::uint64_t pending_bytes() const noexcept = 0;

 protected:
  ~Output() = default;
};

/// A response with a body held in memory; content_length is set from it.
[[nodiscard]] Response make_response(int status, std::string body,
                                     std::string_view content_type = "text/plain");

/// A short text/plain error response such as "404 Not Found\n"; with @p why, a second line says
/// why ("bare LF in the request line; RFC 9112 section 2.2 requires CRLF").
[[nodiscard]] Response make_error(int status, std::string_view why = {});

/// The reason phrase of @p status ("Not Found"), or "Unknown" for a status we never send.
[[nodiscard]] std::string_view reason_phrase(int status) noexcept;

/// Appends the status line, the headers and the blank line of @p response to @p out.
/// The header order is fixed: Server, Date, Content-Type, Content-Length, Allow, Retry-After,
/// Connection.
void append_head(const Response& response, std::string& out);

/// An IMF-fixdate such as "Mon, 23 Nov 2026 09:44:22 GMT". Thread-safe: each thread caches the
/// string of the current second, so formatting costs one time() call per response.
[[nodiscard]] std::string_view http_date();

/// @}

}  // namespace common
