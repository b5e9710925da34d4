#include "common/http_response.hpp"

#include <array>

namespace common {

Response make_response(int status, std::string body, std::string_view content_type) {
  Response response;
  response.status = status;
  response.content_type = content_type;
  response.content_length = body.size();
  response.body = std::move(body);
  return response;
}

Response make_error(int status, std::string_view why) {
  std::string body = std::to_string(status);
  body += ' ';
  body += reason_phrase(status);
  body += '\n';
  if (!why.empty()) {
    body += why;
    body += '\n';
  }
  return make_response(status, std::move(body));
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string_view http_date() {
  struct Cache {
    std::time_t second = -1;
    std::array<char, 32> text{};
    std::size_t size = 0;
  };
  thread_local Cache cache;
  const std::time_t now = std::time(nullptr);
  if (now != cache.second) {
    std::tm utc{};
    ::gmtime_r(&now, &utc);
    // strftime's %a and %b follow the C locale, which is what HTTP wants (we never call setlocale).
    cache.size =
        std::strftime(cache.text.data(), cache.text.size(), "%a, %d %b %Y %H:%M:%S GMT", &utc);
    cache.second = now;
  }
  return {cache.text.data(), cache.size};
}

void append_head(const Response& response, std::string& out) {
  out += "HTTP/1.1 ";
  out += std::to_string(response.status);
  out += ' ';
  out += reason_phrase(response.status);
  out += "\r\nServer: ";
  out += kServerName;
  out += "\r\nDate: ";
  out += http_date();
  out += "\r\nContent-Type: ";
  out += response.content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(response.content_length);
  out += "\r\n";
  if (!response.allow.empty()) {
    out += "Allow: ";
    out += response.allow;
    out += "\r\n";
  }
  if (response.retry_after != 0) {
    out += "Retry-After: ";
    out += std::to_string(response.retry_after);
    out += "\r\n";
  }
  if (response.close) {
    out += "Connection: close\r\n";
  } else if (response.keep_alive_header) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
}

}  // namespace common
