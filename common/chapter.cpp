#include "common/chapter.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>

#include <sys/resource.h>

#include "common/log.hpp"
#include "common/net.hpp"
#include "common/shutdown.hpp"

namespace common {

void init_process(const ChapterInfo& chapter) {
  set_log_name(chapter.name);
  std::set_terminate([] {
    // Start-up failures throw std::system_error naming the call ("bind(127.0.0.1:8080): Address
    // already in use"). Report it the way a command-line tool should, rather than abort().
    if (const std::exception_ptr error = std::current_exception()) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        log_error("fatal: %s", e.what());
      } catch (...) {
        log_error("fatal: unknown exception");
      }
    }
    std::_Exit(1);
  });
  install_signal_handlers();
}

void raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) {
    return;
  }
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    log_info("RLIMIT_NOFILE raised from %llu to %llu", static_cast<unsigned long long>(before),
             static_cast<unsigned long long>(limit.rlim_cur));
  }
}

Fd open_listener(const Options& options, bool reuse_port, bool blocking) {
  ListenConfig config;
  config.host = options.host;
  config.port = options.port;
  config.reuse_port = reuse_port;
  config.nonblocking = !blocking;
  return listen_tcp(config);
}

void refuse_taken_port(const Options& options) {
  if (options.port != 0) {
    static_cast<void>(open_listener(options));  // closed on return
  }
}

void announce_listening(const Options& options, int listener_fd) {
  announce_listening(options, local_port(listener_fd));
}

void announce_listening(const Options& options, std::uint16_t port) {
  const std::string url = http_url(options.host, port);
  std::printf("listening on %s\n", url.c_str());
  std::fflush(stdout);
}

}  // namespace common
