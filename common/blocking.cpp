#include "common/blocking.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include "common/buffer.hpp"
#include "common/http_parser.hpp"
#include "common/io.hpp"
#include "common/log.hpp"
#include "common/net.hpp"

namespace common {
namespace {

using namespace std::chrono_literals;

constexpr auto kShutdownGrace = 1500ms;  // how long a response in flight may take after SIGTERM
constexpr auto kLingerTime = 1000ms;     // how long close_gracefully() waits for the client
constexpr std::size_t kLingerBytes = 4 * 1024 * 1024;  // and how much it reads at most

// Waits until @p fd is writable. The deadline moves with progress (each call gives the peer
// stall_timeout more), except after shutdown, when it becomes fixed: `hard`.
bool wait_writable(int fd, std::chrono::milliseconds stall_timeout, Deadline& hard) {
  const Deadline deadline = std::min(Clock::now() + stall_timeout, hard);
  switch (wait_for(fd, POLLOUT, deadline, hard == kNoDeadline)) {
    case Wait::kReady:
      return true;
    case Wait::kShutdown:
      hard = Clock::now() + kShutdownGrace;  // finish this response, but not forever
      return true;
    case Wait::kTimeout:
      break;
  }
  return false;
}

bool send_bytes(int fd, std::string_view bytes, int flags,
                std::chrono::milliseconds stall_timeout) {
  Deadline hard = kNoDeadline;
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), flags | MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));  // a partial write is normal: go on
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      if (!wait_writable(fd, stall_timeout, hard)) {
        return false;
      }
    } else {
      return false;  // EPIPE, ECONNRESET: the client is gone
    }
  }
  return true;
}

bool send_file(int fd, int file, std::uint64_t size, std::chrono::milliseconds stall_timeout) {
  Deadline hard = kNoDeadline;
  off_t offset = 0;
  while (static_cast<std::uint64_t>(offset) < size) {
    // The kernel copies from the page cache to the socket; the bytes never enter our memory.
    const std::size_t chunk = std::min<std::uint64_t>(size - offset, 1u << 30);
    const ssize_t n = ::sendfile(fd, file, &offset, chunk);
    if (n > 0) {
      continue;  // sendfile advanced offset
    }
    if (n == 0) {
      return false;  // the file shrank under us: the promised Content-Length cannot be kept
    }
    if (errno == EINTR) {
      continue;
    }
    if (errno != EAGAIN || !wait_writable(fd, stall_timeout, hard)) {
      return false;
    }
  }
  return true;
}

int unread_bytes(int fd) {
  int pending = 0;
  return ::ioctl(fd, FIONREAD, &pending) == 0 ? pending : 0;
}

}  // namespace

std::optional<Fd> accept_or_back_off(int listener) {
  AcceptResult accepted = accept_client(listener);
  switch (accepted.status) {
    case AcceptStatus::kAccepted:
      return std::move(accepted.fd);
    case AcceptStatus::kWouldBlock:
      break;
    case AcceptStatus::kNoDescriptors:
      log_warn("accept: %s; retrying shortly", std::strerror(accepted.error));
      back_off_after_emfile();
      break;
    case AcceptStatus::kFailed:
      log_error("accept: %s", std::strerror(accepted.error));
      back_off_after_emfile();
      break;
  }
  return std::nullopt;
}

bool send_all(int fd, std::string_view bytes, std::chrono::milliseconds stall_timeout) {
  return send_bytes(fd, bytes, 0, stall_timeout);
}

bool send_response(int fd, const Response& response, std::chrono::milliseconds stall_timeout) {
  std::string head;
  append_head(response, head);
  if (!response.send_body) {
    return send_all(fd, head, stall_timeout);
  }
  if (response.file) {
    // MSG_MORE: hold the head back briefly so it leaves in the same packet as the file's start.
    return send_bytes(fd, head, MSG_MORE, stall_timeout) &&
           send_file(fd, response.file.get(), response.content_length, stall_timeout);
  }
  head += response.body;  // one send for head and body: one system call, one packet
  return send_all(fd, head, stall_timeout);
}

void close_gracefully(Fd client, bool drain) {
  if (!drain && unread_bytes(client.get()) == 0) {
    return;  // nothing unread: a plain close() sends FIN, not RST
  }
  ::shutdown(client.get(), SHUT_WR);  // FIN after the response: "no more from us"
  const Deadline deadline = Clock::now() + kLingerTime;
  char sink[16 * 1024];
  for (std::size_t total = 0; total < kLingerBytes;) {
    if (wait_for(client.get(), POLLIN, deadline, false) != Wait::kReady) {
      break;
    }
    const ssize_t n = ::recv(client.get(), sink, sizeof sink, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      break;  // the client closed (or reset): now close() cannot hurt
    }
    total += n > 0 ? static_cast<std::size_t>(n) : 0;
  }
}  // ~Fd closes

void serve_connection(Fd client, const App& app, const Options& options) {
  const ConnectionGuard counted(app.stats());
  set_nodelay(client.get());
  Buffer in;
  RequestParser parser;
  Deadline idle_deadline = Clock::now() + options.idle_timeout;  // while no request is pending
  Deadline request_deadline = kNoDeadline;                       // from a request's first byte
  bool peer_closed = false;

  for (;;) {
    // 1. Answer every complete request already buffered (pipelining), in order.
    const ParseResult parsed = parser.parse(in.readable());
    if (parsed.status == ParseStatus::kError) {
      send_response(client.get(), app.reject(parsed.error_status), options.request_timeout);
      return close_gracefully(std::move(client), true);
    }
    if (parsed.status == ParseStatus::kComplete) {
      const Response response = app.handle(parser.request());
      const bool sent = send_response(client.get(), response, options.request_timeout);
      in.consume(parsed.consumed);
      parser.reset();
      if (!sent) {
        return;  // the client vanished or stalled; ~Fd closes
      }
      if (response.close) {
        return close_gracefully(std::move(client), !in.empty());
      }
      idle_deadline = Clock::now() + options.idle_timeout;
      request_deadline = in.empty() ? kNoDeadline : Clock::now() + options.request_timeout;
      continue;
    }

    // 2. We need more bytes. A client that half-closed will send none: we are done.
    if (peer_closed) {
      return;
    }
    const bool idle = in.empty();
    switch (wait_for(client.get(), POLLIN, idle ? idle_deadline : request_deadline)) {
      case Wait::kReady:
        break;
      case Wait::kShutdown:
        return;  // no response is in flight on this connection: just close
      case Wait::kTimeout:
        if (!idle) {
          send_response(client.get(), app.timeout(), options.request_timeout);
          close_gracefully(std::move(client), true);
        }
        return;  // an idle keep-alive connection is closed silently
    }

    // 3. Read what arrived.
    const ssize_t n = in.read_from(client.get());
    if (n == 0) {
      peer_closed = true;  // EOF; the requests already buffered still get their answers
    } else if (n < 0 && errno != EAGAIN) {
      return;  // ECONNRESET and friends
    } else if (n > 0 && idle) {
      request_deadline = Clock::now() + options.request_timeout;
    }
  }
}

}  // namespace common
