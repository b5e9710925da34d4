// Chapter 01: the iterative server.
//
// The model: one process, one flow of control, one client at a time. Accept a connection, serve
// it to the end (every keep-alive request it sends), close it, and only then accept the next.
//
// What it gets right: nothing is shared, nothing can race, and the code reads like the protocol.
// What HTTP/1.1 asks of a connection lives in common/protocol.hpp, which does no I/O; serve.cpp
// drives it one blocking step after another (and chapters 02 and 03 include it from here).
// Partial reads and writes, pipelining, timeouts, SIGPIPE and EMFILE are already handled, so the
// later chapters change only the model.
//
// What breaks: one slow client stops everyone. While serve_connection() talks to one client,
// the others wait in the listen backlog; a client that opens a keep-alive connection and goes
// quiet holds the whole server until the idle timeout (5 s) closes it. A /sleep or /compute
// request stalls every other client for as long as it runs. The server uses one core.
//
// The next chapter keeps the same per-connection code and gives each client a process of its own.

#include <optional>

#include <poll.h>

#include "chapters/01-iterative/serve.hpp"
#include "common/app.hpp"
#include "common/chapter.hpp"
#include "common/io.hpp"
#include "common/log.hpp"
#include "common/net.hpp"
#include "common/shutdown.hpp"

namespace {

constexpr common::ChapterInfo kChapter{
    .name = "01-iterative",
    .model = "iterative",
    .summary = "Chapter 01: one client at a time, served to the end before the next is accepted.",
    .flags = 0,
};

// [accept-loop]
void serve_forever(int listener, const common::App& app, const common::Options& options) {
  while (!common::shutdown_requested()) {
    // [exercise:wake-on-sigterm solution]
    // Wait in poll() rather than in accept(), so SIGTERM ends the wait at once. The listener is
    // non-blocking: if another process took the connection first, accept says EAGAIN, not hang.
    if (common::wait_for(listener, POLLIN, common::kNoDeadline) != common::Wait::kReady) {
      continue;
    }
    // [exercise:wake-on-sigterm start]
    // // No wait here: accept() itself waits for a client, on a blocking listener (see main).
    // [exercise:wake-on-sigterm end]
    // [exercise:emfile-backoff solution]
    if (std::optional<common::Fd> client = common::accept_or_back_off(listener)) {
      // The whole model in one line: until this returns, nobody else is served.
      iterative::serve_connection(std::move(*client), app, options);
    }
    // [exercise:emfile-backoff start]
    // // Accept; if that fails for any reason, go round and try again.
    // common::AcceptResult accepted = common::accept_client(listener);
    // if (accepted.status == common::AcceptStatus::kAccepted) {
    //   iterative::serve_connection(std::move(accepted.fd), app, options);
    // }
    // [exercise:emfile-backoff end]
  }
}
// [accept-loop]

}  // namespace

// [main]
int main(int argc, char** argv) {
  const common::Options options = common::parse_options(argc, argv, kChapter);
  common::init_process(kChapter);
  // [exercise:wake-on-sigterm solution]
  const common::Fd listener = common::open_listener(options);
  // [exercise:wake-on-sigterm start]
  // const common::Fd listener = common::open_listener(options, false, /*blocking=*/true);
  // [exercise:wake-on-sigterm end]
  common::Stats stats;
  const common::App app(options, kChapter, stats, /*workers=*/1);
  common::announce_listening(options, listener.get());

  serve_forever(listener.get(), app, options);
  common::log_info("shutting down");
  return 0;
}
// [main]
