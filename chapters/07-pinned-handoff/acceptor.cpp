#include "chapters/07-pinned-handoff/acceptor.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/chapter.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/shutdown.hpp"

namespace pinned {
namespace {

// How long the kernel may hold a new connection before accept() sees it, waiting for the
// client's first bytes (TCP_DEFER_ACCEPT, in seconds).
constexpr int kDeferAcceptSeconds = 1;

}  // namespace

// [listener]
// A blocking listener for the acceptor. The client speaks first in HTTP, so TCP_DEFER_ACCEPT
// lets the kernel complete accept() only once the request's first bytes are there: a worker
// usually finds its new connection readable at once. A client that sends nothing is accepted
// anyway after about a second, and then the idle timeout applies as usual.
common::Fd open_acceptor_listener(const common::Options& options) {
  common::Fd listener = common::open_listener(options, /*reuse_port=*/false, /*blocking=*/true);
  // [exercise:defer-accept solution]
  const int seconds = kDeferAcceptSeconds;
  if (::setsockopt(listener.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, sizeof seconds) < 0) {
    common::log_warn("TCP_DEFER_ACCEPT: %s", std::strerror(errno));
  }
  // [exercise:defer-accept start]
  // // accept() returns as soon as the handshake is done, whether the client says anything or not.
  // [exercise:defer-accept end]
  return listener;
}
// [listener]

// [acceptor]
// The acceptor thread. accept4() blocks (the listener is a blocking socket) and returns a
// non-blocking client, with TCP_NODELAY already set (it comes from the listener). The client's
// Fd moves into the task posted to its loop: after post() this thread never sees it again.
// main wakes a blocked accept4() at shutdown by shutting the listener down.
void accept_connections(int listener,
                        const std::vector<std::unique_ptr<polling::EventLoop>>& loops) {
  std::size_t next = 0;
  for (;;) {
    common::AcceptResult accepted = common::accept_client(listener);
    if (common::shutdown_requested()) {
      return;  // a connection accepted now is closed by ~Fd: no loop would serve it
    }
    if (accepted.status == common::AcceptStatus::kNoDescriptors ||
        accepted.status == common::AcceptStatus::kFailed) {
      common::log_warn("accept: %s; retrying shortly", std::strerror(accepted.error));
      common::back_off_after_emfile();  // the pending client keeps accept failing: no spin
      continue;
    }
    if (accepted.status != common::AcceptStatus::kAccepted) {
      continue;
    }
    polling::EventLoop& loop = *loops[next];
    loop.post([&loop, client = std::move(accepted.fd)]() mutable {
      loop.adopt(std::move(client));  // on the loop's own thread
    });
    next = (next + 1) % loops.size();  // round-robin: blind to load, but fair
  }
}
// [acceptor]

}  // namespace pinned
