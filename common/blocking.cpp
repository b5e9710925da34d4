#include "common/blocking.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "common/buffer.hpp"
#include "common/connection_policy.hpp"
#include "common/http_parser.hpp"
#include "common/io.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/nonblocking.hpp"
#include "common/shutdown.hpp"

namespace common {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kLingerBytes = 4 * 1024 * 1024;  // close_gracefully() reads at most this

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

int unread_bytes(int fd) {
  int pending = 0;
  return ::ioctl(fd, FIONREAD, &pending) == 0 ? pending : 0;
}

// Writes everything queued, waiting whenever the socket is full: the event loops' queue, used in
// lock-step.
bool send_queued(int fd, OutputQueue& out, std::chrono::milliseconds stall_timeout) {
  Deadline hard = kNoDeadline;
  for (;;) {
    switch (out.flush(fd)) {
      case FlushResult::kDone:
        return true;
      case FlushResult::kError:
        return false;  // EPIPE, ECONNRESET: the client is gone
      case FlushResult::kWouldBlock:
        if (!wait_writable(fd, stall_timeout, hard)) {
          return false;
        }
        break;
    }
  }
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

bool send_response(int fd, Response response, std::chrono::milliseconds stall_timeout) {
  OutputQueue out;
  out.push(std::move(response));
  return send_queued(fd, out, stall_timeout);
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
      Response response = app.handle(parser.request());
      const bool close = response.close;
      const bool sent = send_response(client.get(), std::move(response), options.request_timeout);
      in.consume(parsed.consumed);
      parser.reset();
      if (!sent) {
        return;  // the client vanished or stalled; ~Fd closes
      }
      if (close) {
        return close_gracefully(std::move(client), !in.empty());
      }
      idle_deadline = Clock::now() + options.idle_timeout;
      request_deadline = in.empty() ? kNoDeadline : Clock::now() + options.request_timeout;
      continue;
    }

    // 2. We need more bytes. A head that asks for its body with "Expect: 100-continue" gets the
    // interim answer first (RFC 9110 section 10.1.1). A client that half-closed will send none.
    if (parser.take_continue(in.readable())) {
      OutputQueue interim;
      interim.push_bytes(kContinueResponse);
      if (!send_queued(client.get(), interim, options.request_timeout)) {
        return;
      }
    }
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
