// What the load generator's two modes share: connecting, and finding one response in the bytes
// read so far (every server here frames its responses with Content-Length).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <string>
#include <string_view>

namespace tools {

// A TCP connection to @p host:@p port (IPv4), TCP_NODELAY; non-blocking once connected, or from
// the start with @p nonblocking (connect() may then still be in progress: EINPROGRESS). -1 with
// errno set on failure; -2 if @p host is not an IPv4 address.
inline int connect_to(const std::string& host, int port, bool nonblocking) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return -2;
  }
  const int fd =
      ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) {
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 &&
      !(nonblocking && errno == EINPROGRESS)) {
    const int error = errno;
    ::close(fd);
    errno = error;
    return -1;
  }
  if (!nonblocking) {
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
  }
  return fd;
}

// A header's value in a response head (case-insensitive name, leading spaces dropped); empty if
// absent.
inline std::string_view header_value(std::string_view head, std::string_view name) {
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    const std::size_t start = pos + 2;
    const std::size_t end = std::min(head.find("\r\n", start), head.size());
    const std::string_view line = head.substr(start, end - start);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        strncasecmp(line.data(), name.data(), name.size()) == 0) {
      std::string_view value = line.substr(name.size() + 1);
      while (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
      }
      return value;
    }
    pos = end;
  }
  return {};
}

// The first response in @p in, if it is all there.
struct Framed {
  enum State { kIncomplete, kComplete, kMalformed } state = kIncomplete;
  int status = 0;           // the status code
  std::size_t size = 0;     // head and body: the bytes it takes
  std::size_t body_at = 0;  // where its body starts
  bool closes = false;      // "Connection: close"
};

inline Framed frame_response(std::string_view in) {
  Framed r;
  const std::size_t head_end = in.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    return r;
  }
  const std::string_view head = in.substr(0, head_end);
  const std::string_view length = header_value(head, "Content-Length");
  std::size_t body = 0;
  const auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), body);
  if (!head.starts_with("HTTP/1.1 ") || head.size() < 12 || length.empty() || ec != std::errc() ||
      end != length.data() + length.size()) {
    r.state = Framed::kMalformed;
    return r;
  }
  std::from_chars(head.data() + 9, head.data() + 12, r.status);
  r.body_at = head_end + 4;
  r.size = r.body_at + body;
  if (in.size() < r.size) {
    return r;
  }
  const std::string_view connection = header_value(head, "Connection");
  r.closes = connection.size() == 5 && strncasecmp(connection.data(), "close", 5) == 0;
  r.state = Framed::kComplete;
  return r;
}

}  // namespace tools
