// loadgen: a small HTTP/1.1 load generator for the black-box tests and the benchmark, in two
// modes. Closed loop (test_soak.py, the capacity of a server):
//
//   loadgen --port P [--host 127.0.0.1] [--connections 64] [--requests 200000] [--warmup 0]
//           [--path /] [--body TEXT] [--seconds 120] [--sync] [--until-close]
//
// It opens the connections, then keeps one request in flight on each (GET PATH, no pipelining)
// until --requests responses have arrived, reading each response by its Content-Length: a new
// request waits for the last answer, so it measures what the server does, not what it is asked.
// Open loop, at a fixed arrival rate (--rate; the past-capacity tests and measurements), in
// open_loop.cpp:
//
//   loadgen --port P --rate R [--duration 5] [--connections 64] [--new-share 0] [--timeout 2]
//           [--path /] [--seconds 120]
//
// One thread and epoll: it keeps up with any chapter on a 2-core machine.
//
// --warmup N  after N responses, prints "warm" (and with --sync waits for a line on stdin), so
//             the caller can measure the server after a warm-up, before the measured run.
// --sync      after the last response, prints "done" and waits for a line on stdin before it
//             closes the connections, so the caller can measure the server under load.
// --until-close  the shutdown test: requests go on until the server closes every connection. A
//             close between two responses, even with a request sent and not answered, is how
//             a server ends keep-alive connections when it stops; a close in the middle of a
//             response is an error ("truncated").
//
// The closed loop's last line on stdout is the result, key=value pairs:
//   requests (responses read), errors, seconds, rps (over the measured part), and the kinds of
//   error: bad_status, truncated, unanswered, closed, resets, still_open, malformed,
//   connect_failed.
// The exit status is 0 when errors is 0, 1 otherwise, 2 for a bad command line. Every loop is
// bounded by --seconds.

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "http_client.hpp"
#include "open_loop.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Config {
  std::string host = "127.0.0.1";
  int port = 0;
  int connections = 64;
  long requests = 200000;
  long warmup = 0;
  std::string path = "/";
  std::string body;
  bool check_body = false;
  double seconds = 120;
  bool sync = false;
  bool until_close = false;
  tools::OpenLoop open;  // with open.rate > 0: the open loop
};

struct Counters {
  long ok = 0;
  long bad_status = 0;
  long truncated = 0;
  long unanswered = 0;
  long closed = 0;
  long resets = 0;
  long still_open = 0;
  long malformed = 0;
  long connect_failed = 0;
};

struct Connection {
  int fd = -1;
  std::string in;
  std::size_t out_offset = 0;  // bytes of the current request sent
  bool in_flight = false;      // a request sent (or being sent) and not yet answered
  bool closing = false;        // the last response said "Connection: close"
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "loadgen: %s\n(see the comment at the top of tests/tools/loadgen.cpp)\n",
               why);
  std::exit(2);
}

Config parse_args(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage("a flag is missing its value");
      }
      return argv[++i];
    };
    if (arg == "--host") {
      c.host = value();
    } else if (arg == "--port") {
      c.port = std::atoi(value().c_str());
    } else if (arg == "--connections") {
      c.connections = std::atoi(value().c_str());
    } else if (arg == "--requests") {
      c.requests = std::atol(value().c_str());
    } else if (arg == "--warmup") {
      c.warmup = std::atol(value().c_str());
    } else if (arg == "--path") {
      c.path = value();
    } else if (arg == "--body") {
      c.body = value();
      c.check_body = true;
    } else if (arg == "--seconds") {
      c.seconds = std::atof(value().c_str());
    } else if (arg == "--sync") {
      c.sync = true;
    } else if (arg == "--until-close") {
      c.until_close = true;
    } else if (arg == "--rate") {
      c.open.rate = std::atof(value().c_str());
    } else if (arg == "--duration") {
      c.open.duration = std::atof(value().c_str());
    } else if (arg == "--new-share") {
      c.open.new_share = std::atof(value().c_str());
    } else if (arg == "--timeout") {
      c.open.timeout = std::atof(value().c_str());
    } else {
      usage("unknown argument");
    }
  }
  if (c.port <= 0 || c.port > 65535 || c.connections < 1 || c.requests < 1 || c.warmup < 0 ||
      c.warmup >= c.requests || c.seconds <= 0) {
    usage("bad values");
  }
  if (c.open.rate != 0 && (c.open.rate < 0 || c.open.duration <= 0 || c.open.new_share < 0 ||
                           c.open.new_share > 1 || c.open.timeout <= 0)) {
    usage("bad values for the open loop");
  }
  c.open.host = c.host;
  c.open.port = c.port;
  c.open.path = c.path;
  c.open.connections = c.connections;
  c.open.seconds = c.seconds;
  return c;
}

int connect_to(const Config& c) {
  const int fd = tools::connect_to(c.host, c.port, /*nonblocking=*/false);
  if (fd == -2) {
    usage("--host must be an IPv4 address");
  }
  return fd;
}

class LoadGen {
 public:
  explicit LoadGen(Config config)
      : c_(std::move(config)), request_("GET " + c_.path + " HTTP/1.1\r\nHost: loadgen\r\n\r\n") {}

  int run() {
    start_ = Clock::now();
    deadline_ = start_ + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(c_.seconds));
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    conns_.resize(static_cast<std::size_t>(c_.connections));
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      conns_[i].fd = connect_to(c_);
      if (conns_[i].fd < 0) {
        ++n_.connect_failed;
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      ::epoll_ctl(epoll_, EPOLL_CTL_ADD, conns_[i].fd, &ev);
      ++open_;
    }
    target_ = c_.warmup > 0 ? c_.warmup : total_target();
    measure_start_ = Clock::now();
    kick_all();

    bool timed_out = false;
    epoll_event events[256];
    while (open_ > 0 && !finished()) {
      if (Clock::now() >= deadline_) {
        timed_out = true;
        break;
      }
      const int n = ::epoll_wait(epoll_, events, 256, 100);
      for (int k = 0; k < n; ++k) {
        const std::size_t i = events[k].data.u64;
        if (conns_[i].fd < 0) {
          continue;
        }
        if (events[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
          on_readable(i);
        }
        if (conns_[i].fd >= 0 && (events[k].events & EPOLLOUT)) {
          flush(i);
        }
      }
      if (c_.warmup > 0 && target_ == c_.warmup && responses_ >= c_.warmup) {
        announce("warm");
        target_ = total_target();
        measure_start_ = Clock::now();
        measured_from_ = responses_;
        kick_all();
      }
    }
    const double measured = std::chrono::duration<double>(Clock::now() - measure_start_).count();
    if (!c_.until_close && finished()) {
      announce("done");
    }
    for (Connection& conn : conns_) {
      if (conn.fd >= 0) {
        if (c_.until_close || timed_out) {
          ++n_.still_open;
        }
        ::close(conn.fd);
        conn.fd = -1;
      }
    }
    const long missing = (!c_.until_close && responses_ < c_.requests) ? 1 : 0;
    const long errors = n_.bad_status + n_.truncated + n_.malformed + n_.connect_failed +
                        n_.still_open + (c_.until_close ? 0 : n_.unanswered + n_.closed + missing);
    const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    std::printf(
        "requests=%ld errors=%ld seconds=%.3f rps=%.0f bad_status=%ld truncated=%ld "
        "unanswered=%ld closed=%ld resets=%ld still_open=%ld malformed=%ld connect_failed=%ld\n",
        responses_, errors, seconds,
        measured > 0 ? static_cast<double>(responses_ - measured_from_) / measured : 0.0,
        n_.bad_status, n_.truncated, n_.unanswered, n_.closed, n_.resets, n_.still_open,
        n_.malformed, n_.connect_failed);
    std::fflush(stdout);
    return errors == 0 ? 0 : 1;
  }

 private:
  long total_target() const { return c_.until_close ? (1L << 62) : c_.requests; }

  bool finished() const { return !c_.until_close && responses_ >= c_.requests; }

  void announce(const char* word) {
    std::printf("%s\n", word);
    std::fflush(stdout);
    if (c_.sync) {
      std::string line;
      std::getline(std::cin, line);
    }
  }

  void kick_all() {
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      if (conns_[i].fd >= 0 && !conns_[i].in_flight && !conns_[i].closing) {
        send_next(i);
      }
    }
  }

  void send_next(std::size_t i) {
    if (sent_ >= target_) {
      return;
    }
    ++sent_;
    conns_[i].in_flight = true;
    conns_[i].out_offset = 0;
    flush(i);
  }

  void flush(std::size_t i) {
    Connection& conn = conns_[i];
    while (conn.in_flight && conn.out_offset < request_.size()) {
      const ssize_t n = ::send(conn.fd, request_.data() + conn.out_offset,
                               request_.size() - conn.out_offset, MSG_NOSIGNAL);
      if (n > 0) {
        conn.out_offset += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        watch(i, EPOLLIN | EPOLLOUT);
        return;
      } else {
        return;  // the read side reports the close
      }
    }
    watch(i, EPOLLIN);
  }

  void watch(std::size_t i, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = i;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, conns_[i].fd, &ev);
  }

  void on_readable(std::size_t i) {
    Connection& conn = conns_[i];
    char buffer[65536];
    for (;;) {
      const ssize_t n = ::recv(conn.fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        conn.in.append(buffer, static_cast<std::size_t>(n));
        if (!parse_responses(i)) {
          return;
        }
        continue;
      }
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0 && errno == EAGAIN) {
        return;
      }
      if (n < 0) {
        ++n_.resets;
      }
      end_of_connection(i);
      return;
    }
  }

  // Takes every complete response out of the buffer; false if the connection was dropped.
  bool parse_responses(std::size_t i) {
    Connection& conn = conns_[i];
    for (;;) {
      const tools::Framed response = tools::frame_response(conn.in);
      if (response.state == tools::Framed::kIncomplete) {
        return true;
      }
      if (response.state == tools::Framed::kMalformed) {
        ++n_.malformed;
        drop(i);
        return false;
      }
      const bool ok_body =
          !c_.check_body || std::string_view(conn.in).substr(
                                response.body_at, response.size - response.body_at) == c_.body;
      if (response.status == 200 && ok_body) {
        ++n_.ok;
      } else {
        ++n_.bad_status;
      }
      if (!conn.in_flight) {
        ++n_.malformed;  // a response nobody asked for
      }
      conn.closing = conn.closing || response.closes;
      conn.in.erase(0, response.size);
      conn.in_flight = false;
      ++responses_;
      if (!conn.closing) {
        send_next(i);
      }
    }
  }

  void end_of_connection(std::size_t i) {
    Connection& conn = conns_[i];
    if (!conn.in.empty()) {
      ++n_.truncated;  // a close in the middle of a response
    } else if (conn.in_flight) {
      ++n_.unanswered;
    } else if (!conn.closing) {
      ++n_.closed;  // closed while idle, without saying so
    }
    drop(i);
  }

  void drop(std::size_t i) {
    ::close(conns_[i].fd);
    conns_[i].fd = -1;
    --open_;
  }

  Config c_;
  const std::string request_;
  int epoll_ = -1;
  std::vector<Connection> conns_;
  int open_ = 0;
  long sent_ = 0;
  long target_ = 0;
  long responses_ = 0;
  long measured_from_ = 0;
  Counters n_;
  Clock::time_point start_, deadline_, measure_start_;
};

}  // namespace

int main(int argc, char** argv) {
  Config config = parse_args(argc, argv);
  if (config.open.rate > 0) {
    return tools::run_open_loop(config.open);
  }
  return LoadGen(std::move(config)).run();
}
