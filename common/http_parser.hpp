/// @file http_parser.hpp
/// @brief An incremental, zero-copy HTTP/1.0 and HTTP/1.1 request parser.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace common {

/// @defgroup http_parser HTTP request parser
/// @brief Turns bytes, in whatever pieces they arrive, into requests.
///
/// The parser is fed the whole unconsumed input of a connection each time more arrives. It
/// answers kIncomplete (feed me again when more bytes are here), kComplete (a request is ready;
/// it used `consumed` bytes) or kError (answer `error_status` and close). It never copies the head:
/// the Request's views point into the caller's buffer. Only a chunked body is copied, because
/// decoding it removes the chunk framing. The rules it enforces are written in docs/protocol.md.
/// @{

/// The interim response to "Expect: 100-continue" (no header: a 1xx has no Content-Length).
inline constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

/// Size limits. A request over one of them is answered with the status in the comment.
inline constexpr std::size_t kMaxTargetSize = 8 * 1024;          ///< request-target: 414
inline constexpr std::size_t kMaxHeaderSectionSize = 32 * 1024;  ///< header lines: 431
inline constexpr std::size_t kMaxHeaderCount = 100;              ///< header fields: 431
inline constexpr std::size_t kMaxBodySize = 1024 * 1024;         ///< decoded body: 413

/// The methods the server knows. Anything else that is a valid token is kOther (answered 501).
enum class Method { kGet, kHead, kPost, kOther };

/// One header field; both views point into the request's input.
struct Header {
  std::string_view name;   ///< as received (compare case-insensitively)
  std::string_view value;  ///< without leading and trailing whitespace
};

/// A parsed request. Its views are valid until the caller's buffer changes or the parser is reset.
struct Request {
  Method method = Method::kOther;  ///< the method, if it is one the routes know
  std::string_view method_name;    ///< the method token as received
  std::string_view target;         ///< the request-target as received
  std::string_view path;           ///< the path of the target, still percent-encoded
  std::string_view query;          ///< after '?', without it; empty if none
  int minor_version = 1;           ///< 0 for HTTP/1.0, 1 for HTTP/1.1
  std::vector<Header> headers;     ///< in the order received
  std::string_view host;           ///< the target URI's authority: absolute-form's, else Host's
  std::string_view head;           ///< the request line and header lines, each with its CRLF
  std::string_view body;           ///< the decoded body (empty if none)
  bool keep_alive = true;          ///< whether the connection may carry another request

  /// The value of the first header called @p name (case-insensitive), if any.
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const;
};

/// What one call to RequestParser::parse() found.
enum class ParseStatus { kIncomplete, kComplete, kError };

/// The result of RequestParser::parse().
struct ParseResult {
  ParseStatus status = ParseStatus::kIncomplete;  ///< complete, need more bytes, or error
  std::size_t consumed = 0;  ///< kComplete: the bytes the request took (head and framed body)
  int error_status = 0;      ///< kError: the HTTP status to answer before closing (400, 413...)
  std::string_view error_reason;  ///< kError: why, in a line naming the rule and its RFC section
};

/// An incremental parser for one connection: one request at a time.
///
/// Contract: each call to parse() passes the input starting at the first byte of the current
/// request, with every byte passed before still there, unchanged (the caller may have moved the
/// buffer). Work already done is not repeated, so byte-by-byte delivery costs O(n) in total.
/// After kComplete, the caller handles request(), consumes `consumed` bytes and calls reset()
/// before parsing the next (pipelined) request. After kError the parser must not be used again
/// until reset(). Not thread-safe.
class RequestParser {
 public:
  /// Parses as far as @p input allows.
  [[nodiscard]] ParseResult parse(std::string_view input);
  /// The request; valid after parse() returned kComplete, until the input changes or reset().
  [[nodiscard]] const Request& request() const noexcept { return request_; }
  /// After parse() returned kIncomplete for @p input: true, once per request, when the head is
  /// complete, it asks for its body with "Expect: 100-continue" (HTTP/1.1 only), and no byte of
  /// that body is in @p input yet. The caller then sends kContinueResponse before it waits for the
  /// body (RFC 9110 section 10.1.1); a request the parser refuses from its head alone (413 for an
  /// announced body over the limit) was answered with kError at once instead.
  [[nodiscard]] bool take_continue(std::string_view input) noexcept;
  /// Prepares for the next request, keeping allocated capacity.
  void reset() noexcept;

 private:
  enum class Stage { kHead, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailer, kDone, kFailed };
  struct Span {  // an offset and length into the input: the input may move between calls
    std::size_t offset = 0;
    std::size_t length = 0;
  };
  struct HeaderSpan {
    Span name;
    Span value;
  };

  ParseResult find_head_end(std::string_view input);
  ParseResult check_incomplete_head(std::string_view input);
  int parse_request_line(std::string_view input);
  int parse_target(std::string_view method, std::string_view target);
  int parse_header_lines(std::string_view input);
  int decide_framing(std::string_view input);
  ParseResult parse_chunked(std::string_view input);
  ParseResult fail(int status, std::string_view why) noexcept;
  int refuse(int status, std::string_view why) noexcept;
  ParseResult complete(std::string_view input);

  static constexpr std::size_t kNotFound = std::string_view::npos;

  // Where the request at hand stands: all that reset() forgets, as one value.
  struct State {
    Stage stage = Stage::kHead;
    int error_status = 0;
    std::string_view error_reason;     // static text
    std::size_t start = 0;             // empty lines ignored before the request line end here
    std::size_t scanned = 0;           // how far the search for the end of the head got
    std::size_t line_end = kNotFound;  // offset of the CR that ends the request line
    std::size_t head_end = 0;          // offset just past the blank line that ends the head
    std::size_t cursor = 0;            // end of what the body stages have used
    std::uint64_t content_length = 0;  // the body size announced by Content-Length
    std::uint64_t chunk_left = 0;      // bytes of the current chunk not yet copied
    std::size_t trailer_bytes = 0;     // size of the chunked trailer section so far
    std::size_t trailer_fields = 0;    // trailer fields so far, held to the header count limit
    bool leading = true;               // still skipping empty lines before the request line
    bool chunked = false;
    bool expects_continue = false;  // Expect: 100-continue on a request with a body to come
    bool continue_taken = false;    // take_continue() said yes for this request
    Span method, target, path, query, authority, host_field;
    Method method_kind = Method::kOther;
    int minor_version = 1;
    bool keep_alive = true;
  };

  State state_;
  // Kept across requests for their capacity; reset() empties them.
  std::vector<HeaderSpan> header_spans_;
  std::string chunked_body_;
  Request request_;
};

/// The value of the hexadecimal digit @p c (RFC 5234 HEXDIG, either case): 0 to 15, or -1.
[[nodiscard]] int hex_value(char c) noexcept;

/// True if @p c may appear in a token (a method or a header name): RFC 9110 tchar.
[[nodiscard]] bool is_token_char(char c) noexcept;

/// ASCII case-insensitive equality, as header names and most header values need.
[[nodiscard]] bool iequals(std::string_view a, std::string_view b) noexcept;

/// Calls @p visit for each comma-separated element of a header value, trimmed of whitespace;
/// empty elements are skipped. Used for Connection, Transfer-Encoding and Content-Length lists.
template <typename Visit>
void for_each_list_element(std::string_view value, Visit visit) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    std::string_view element = value.substr(0, comma);
    while (!element.empty() && (element.front() == ' ' || element.front() == '\t')) {
      element.remove_prefix(1);
    }
    while (!element.empty() && (element.back() == ' ' || element.back() == '\t')) {
      element.remove_suffix(1);
    }
    if (!element.empty()) {
      visit(element);
    }
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
  }
}

/// @}

}  // namespace common
