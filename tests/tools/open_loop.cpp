// The open loop: requests arrive on a fixed schedule, whether or not the server keeps up, and each
// one's latency runs from the moment it was due, not from the moment it could be sent. A closed
// loop (the next request waits for the last answer, as wrk does) hides the queue a saturated
// server builds: its clients simply ask less. That is the coordinated omission that wrk2 was
// written to avoid, and this is the same idea.
//
// Request k is due at start + k / rate. A due request takes an idle keep-alive connection, or a
// new one while fewer than --connections are open; a share of the requests (--new-share) goes each
// on a connection of its own that asks "Connection: close", as new clients would. A request that
// finds no connection waits for one, and the wait counts. A request not answered --timeout after
// it was due is given up (timed out) and its connection closed: a connection still waiting in the
// server's listen backlog is waiting too.
//
// The last line on stdout is the result, key=value pairs: scheduled, answered (2xx), refused
// (503), timed_out, errors (anything else: another status, a reset, a malformed answer, a failed
// connect), seconds, goodput (answered per second, from the start to the last answer or to the end
// of the arrivals, whichever is later: a server that answers late is not credited with answering
// at the rate it was asked), p50_us, p90_us, p99_us, p999_us and max_us of the answered requests,
// refused_p99_us, and connections (opened).

#include "open_loop.hpp"

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "http_client.hpp"

namespace tools {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxFresh = 4096;  // connections of their own open at once, at most
constexpr auto kTick = std::chrono::milliseconds(5);  // how often timeouts are looked at

struct Conn {
  int fd = -1;
  bool in_use = false;     // a slot of an open (or opening) connection
  bool fresh = false;      // one request on it, then it closes
  bool connected = false;  // the handshake is done
  bool busy = false;       // a request is assigned to it, not answered yet
  Clock::time_point due;   // that request's scheduled time
  std::string out;         // what of the request is not sent yet
  std::string in;          // what of the answer has arrived
};

class Run {
 public:
  explicit Run(const OpenLoop& c)
      : c_(c),
        keep_alive_("GET " + c.path + " HTTP/1.1\r\nHost: loadgen\r\n\r\n"),
        closing_("GET " + c.path + " HTTP/1.1\r\nHost: loadgen\r\nConnection: close\r\n\r\n") {}

  int run() {
    raise_descriptor_limit();
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    start_ = Clock::now();
    total_ = static_cast<long>(std::llround(c_.rate * c_.duration));
    const auto stop = start_ + seconds(c_.seconds);
    epoll_event events[256];
    for (;;) {
      const Clock::time_point now = Clock::now();
      arrive(now);
      expire(now);
      dispatch();
      if ((k_ == total_ && waiting_keep_.empty() && waiting_fresh_.empty() && in_flight_ == 0) ||
          now >= stop) {
        break;
      }
      const Clock::time_point wake = k_ < total_ ? std::min(due(k_), now + kTick) : now + kTick;
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wake - now).count();
      const timespec timeout{.tv_sec = 0, .tv_nsec = std::max<long>(0, static_cast<long>(ns))};
      const int n = ::epoll_pwait2(epoll_, events, 256, &timeout, nullptr);
      for (int e = 0; e < n; ++e) {
        on_event(static_cast<std::size_t>(events[e].data.u64), events[e].events);
      }
    }
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      timed_out_ += conns_[i].busy ? 1 : 0;
      close_conn(i);
    }
    timed_out_ += static_cast<long>(waiting_keep_.size() + waiting_fresh_.size());
    timed_out_ += total_ - k_;  // never even scheduled: the run hit --seconds
    report();
    return answered_.count() + refused_.count() == 0 && errors_ > 0 ? 1 : 0;
  }

 private:
  static Clock::duration seconds(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }
  Clock::time_point due(long k) const { return start_ + seconds(static_cast<double>(k) / c_.rate); }

  static void raise_descriptor_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
      limit.rlim_cur = limit.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &limit);
    }
  }

  // Every request due by @p now joins a queue; the share of new connections is spread evenly.
  void arrive(Clock::time_point now) {
    for (; k_ < total_ && due(k_) <= now; ++k_) {
      const auto before = static_cast<long>(std::floor(static_cast<double>(k_) * c_.new_share));
      const auto after = static_cast<long>(std::floor(static_cast<double>(k_ + 1) * c_.new_share));
      (after > before ? waiting_fresh_ : waiting_keep_).push_back(due(k_));
    }
  }

  // A request not answered within the timeout of its due time is given up, waiting or sent.
  void expire(Clock::time_point now) {
    const Clock::duration limit = seconds(c_.timeout);
    for (auto* waiting : {&waiting_keep_, &waiting_fresh_}) {
      while (!waiting->empty() && waiting->front() + limit <= now) {
        waiting->pop_front();
        ++timed_out_;
      }
    }
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      if (conns_[i].fd >= 0 && conns_[i].busy && conns_[i].due + limit <= now) {
        ++timed_out_;
        close_conn(i);
      }
    }
  }

  void dispatch() {
    while (!waiting_fresh_.empty() && fresh_open_ < kMaxFresh) {
      start_request(open_conn(true), waiting_fresh_.front());
      waiting_fresh_.pop_front();
    }
    while (!waiting_keep_.empty()) {
      std::size_t i = 0;
      if (!idle_.empty()) {
        i = idle_.back();
        idle_.pop_back();
      } else if (pool_open_ < static_cast<std::size_t>(c_.connections)) {
        i = open_conn(false);
      } else {
        break;  // every connection has a request out: this one waits, and its wait counts
      }
      start_request(i, waiting_keep_.front());
      waiting_keep_.pop_front();
    }
  }

  std::size_t open_conn(bool fresh) {
    std::size_t i = conns_.size();
    if (!free_.empty()) {
      i = free_.back();
      free_.pop_back();
    } else {
      conns_.emplace_back();
    }
    Conn& conn = conns_[i];
    conn = Conn{};
    conn.in_use = true;
    conn.fresh = fresh;
    conn.fd = connect_to(c_.host, c_.port, /*nonblocking=*/true);
    ++opened_;
    (fresh ? fresh_open_ : pool_open_) += 1;
    if (conn.fd >= 0) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      ev.data.u64 = i;
      ::epoll_ctl(epoll_, EPOLL_CTL_ADD, conn.fd, &ev);
    }
    return i;
  }

  void start_request(std::size_t i, Clock::time_point due_at) {
    Conn& conn = conns_[i];
    ++in_flight_;
    conn.busy = true;
    conn.due = due_at;
    conn.out = conn.fresh ? closing_ : keep_alive_;
    if (conn.fd < 0) {
      fail(i);  // the connect failed at once
    } else if (conn.connected) {
      send(i);
    }  // else: sent when the handshake completes (EPOLLOUT)
  }

  void on_event(std::size_t i, std::uint32_t events) {
    Conn& conn = conns_[i];
    if (conn.fd < 0) {
      return;
    }
    if (!conn.connected) {
      int error = 0;
      socklen_t length = sizeof error;
      ::getsockopt(conn.fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error != 0) {
        return fail(i);
      }
      conn.connected = (events & (EPOLLOUT | EPOLLIN)) != 0;
    }
    if (conn.connected && !conn.out.empty()) {
      send(i);
    }
    if (conns_[i].fd >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
      receive(i);
    }
  }

  void send(std::size_t i) {
    Conn& conn = conns_[i];
    while (!conn.out.empty()) {
      const ssize_t n = ::send(conn.fd, conn.out.data(), conn.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        conn.out.erase(0, static_cast<std::size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno == EAGAIN) {
        return;  // EPOLLOUT (edge-triggered) says when to go on
      } else {
        return fail(i);
      }
    }
  }

  void receive(std::size_t i) {
    char buffer[16384];
    for (;;) {
      Conn& conn = conns_[i];
      const ssize_t n = ::recv(conn.fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        conn.in.append(buffer, static_cast<std::size_t>(n));
        if (!take_answer(i)) {
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
      return conn.busy ? fail(i) : close_conn(i);  // a reset, or the server closed an idle one
    }
  }

  // Takes the answer, if it is all there; false once the connection is closed.
  bool take_answer(std::size_t i) {
    Conn& conn = conns_[i];
    const Framed answer = frame_response(conn.in);
    if (answer.state == Framed::kIncomplete) {
      return true;
    }
    if (answer.state == Framed::kMalformed || !conn.busy) {
      fail(i);
      return false;
    }
    const auto waited =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - conn.due);
    if (answer.status / 100 == 2) {
      answered_.record(static_cast<std::uint64_t>(waited.count()));
      last_answer_ = Clock::now();
    } else if (answer.status == 503) {
      refused_.record(static_cast<std::uint64_t>(waited.count()));
    } else {
      ++errors_;
    }
    conn.in.erase(0, answer.size);
    conn.busy = false;
    --in_flight_;
    if (conn.fresh || answer.closes) {
      close_conn(i);
      return false;
    }
    idle_.push_back(i);
    return true;
  }

  void fail(std::size_t i) {
    ++errors_;
    close_conn(i);
  }

  void close_conn(std::size_t i) {
    Conn& conn = conns_[i];
    if (!conn.in_use) {
      return;
    }
    conn.in_use = false;
    if (conn.busy) {
      conn.busy = false;
      --in_flight_;
    }
    if (conn.fd >= 0) {
      ::close(conn.fd);  // epoll forgets it
    }
    (conn.fresh ? fresh_open_ : pool_open_) -= 1;
    conn.fd = -1;
    std::erase(idle_, i);
    free_.push_back(i);
  }

  void report() const {
    const double took = std::chrono::duration<double>(Clock::now() - start_).count();
    std::printf(
        "mode=open rate=%.0f scheduled=%ld answered=%llu refused=%llu timed_out=%ld errors=%ld "
        "seconds=%.3f goodput=%.1f p50_us=%llu p90_us=%llu p99_us=%llu p999_us=%llu max_us=%llu "
        "refused_p99_us=%llu connections=%ld\n",
        c_.rate, total_, static_cast<unsigned long long>(answered_.count()),
        static_cast<unsigned long long>(refused_.count()), timed_out_, errors_, took,
        static_cast<double>(answered_.count()) /
            std::max(c_.duration, std::chrono::duration<double>(last_answer_ - start_).count()),
        static_cast<unsigned long long>(answered_.percentile(50)),
        static_cast<unsigned long long>(answered_.percentile(90)),
        static_cast<unsigned long long>(answered_.percentile(99)),
        static_cast<unsigned long long>(answered_.percentile(99.9)),
        static_cast<unsigned long long>(answered_.max()),
        static_cast<unsigned long long>(refused_.percentile(99)), opened_);
    std::fflush(stdout);
  }

  const OpenLoop& c_;
  const std::string keep_alive_;
  const std::string closing_;
  int epoll_ = -1;
  Clock::time_point start_;
  Clock::time_point last_answer_;
  long total_ = 0;
  long k_ = 0;                                  // requests scheduled so far
  std::deque<Clock::time_point> waiting_keep_;  // due, with no connection yet
  std::deque<Clock::time_point> waiting_fresh_;
  std::vector<Conn> conns_;
  std::vector<std::size_t> free_;  // slots of conns_ to reuse
  std::vector<std::size_t> idle_;  // keep-alive connections with no request out
  std::size_t pool_open_ = 0;
  std::size_t fresh_open_ = 0;
  long in_flight_ = 0;
  long opened_ = 0;
  long timed_out_ = 0;
  long errors_ = 0;
  Histogram answered_;
  Histogram refused_;
};

}  // namespace

int run_open_loop(const OpenLoop& config) {
  return Run(config).run();
}

}  // namespace tools
