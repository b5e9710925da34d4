// floor: the least a kernel allows an HTTP server to do, for make bench to measure the chapters
// against. Not a chapter and not a server anyone should run: it parses nothing, checks nothing
// and answers every request with the same canned "Hello, World!".
//
//   floor --port P [--host 127.0.0.1] [--close] [variant flags]
//
// One thread, one epoll instance, edge-triggered clients. Per read it counts the request heads
// that ended in it (each "\r\n\r\n") and answers them all with one write, so a keep-alive
// request costs one read and one write, and a pipelined burst one read and one write in all,
// with no allocation once the first answers were written. With --close the answer says
// "Connection: close" and the connection is closed after it. Its CPU time per request is the
// floor under every plot of make bench: what is left above it is the cost of a model and of a
// chapter's code.
//
// The variant flags change one thing each, for the experiments of docs/claims.md (make bench
// measures each against the plain floor, in the same run):
//   --poller poll|select  wait in poll() or select() over every client instead of epoll_wait()
//                         (select() cannot hold a descriptor >= FD_SETSIZE: the floor says so
//                         and exits 3 when it gets one)
//   --accept-fcntl        accept() then fcntl() twice, instead of accept4() with its flags
//   --defer-accept        TCP_DEFER_ACCEPT on the listener
//   --nagle               no TCP_NODELAY: Nagle's algorithm holds a small write back
//   --split               each answer written in two send()s: the head, then the body
//   --file PATH           answer every request with the file PATH (sendfile), one at a time
//   --copy                with --file: read() the file and send() it, 128 KiB at a time
//   --linger MS           with --close: a lingering close, as servers that must not lose a
//                         request's tail do: shutdown(SHUT_WR) after the answer, then hold the
//                         descriptor until the client closes or MS milliseconds pass (epoll only)
//
// It prints "listening on http://HOST:PORT" like a chapter, and exits 0 on SIGTERM or SIGINT.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view kHead =
    "HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n";
constexpr std::string_view kBody = "Hello, World!";
constexpr std::size_t kFileChunk = 128 * 1024;

struct Config {
  std::string host = "127.0.0.1";
  int port = 0;
  bool close_after = false;
  std::string poller = "epoll";
  bool accept_fcntl = false;
  bool defer_accept = false;
  bool nagle = false;
  bool split = false;
  std::string file;
  bool copy = false;
  int linger_ms = 0;
};

// Per descriptor: how far into "\r\n\r\n" the last read ended, bytes a full socket refused, and
// (--file) how much of the file is still to send for the requests read so far.
struct Client {
  int matched = 0;
  std::string unsent;
  long files_owed = 0;
  bool head_queued = false;
  off_t file_offset = 0;
  bool lingering = false;  // --linger: answered and shut down, waiting for the client's close
  std::uint64_t serial = 0;
};

std::int64_t now_ms() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "floor: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

// Request heads that end in data, carrying a partial "\r\n\r\n" over from the previous read.
int count_heads(const char* data, std::size_t size, int& matched) {
  static constexpr char kEnd[] = "\r\n\r\n";
  int heads = 0;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == kEnd[matched]) {
      if (++matched == 4) {
        ++heads;
        matched = 0;
      }
    } else {
      matched = data[i] == '\r' ? 1 : 0;
    }
  }
  return heads;
}

class Floor {
 public:
  explicit Floor(Config config) : c_(std::move(config)) {}

  int run() {
    open_listener();
    if (!c_.file.empty()) {
      file_ = ::open(c_.file.c_str(), O_RDONLY | O_CLOEXEC);
      struct stat st {};
      if (file_ < 0 || ::fstat(file_, &st) < 0) {
        die("open --file");
      }
      file_size_ = st.st_size;
      file_head_ =
          "HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Type: application/octet-stream\r\n"
          "Content-Length: " +
          std::to_string(file_size_) + "\r\n\r\n";
    }
    std::printf("listening on http://%s:%d\n", c_.host.c_str(), port_);
    std::fflush(stdout);
    if (c_.poller == "poll") {
      return run_poll();
    }
    if (c_.poller == "select") {
      return run_select();
    }
    return run_epoll();
  }

 private:
  void open_listener() {
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    ::sigprocmask(SIG_BLOCK, &stop, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    signals_ = ::signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (!c_.nagle) {
      ::setsockopt(listener_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // clients inherit it
    }
    if (c_.defer_accept) {
      ::setsockopt(listener_, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof one);
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(c_.port));
    if (::inet_pton(AF_INET, c_.host.c_str(), &address.sin_addr) != 1) {
      std::fprintf(stderr, "floor: --host must be an IPv4 address\n");
      std::exit(2);
    }
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
      die("bind");
    }
    if (::listen(listener_, 4096) < 0) {
      die("listen");
    }
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }

  // Accepts every pending client; returns them, registered by the caller.
  std::vector<int>& accept_all() {
    accepted_.clear();
    for (;;) {
      int client = -1;
      if (c_.accept_fcntl) {
        client = ::accept(listener_, nullptr, nullptr);
        if (client >= 0) {
          ::fcntl(client, F_SETFL, ::fcntl(client, F_GETFL) | O_NONBLOCK);
          ::fcntl(client, F_SETFD, FD_CLOEXEC);
        }
      } else {
        client = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      }
      if (client < 0) {
        return accepted_;
      }
      if (static_cast<std::size_t>(client) >= clients_.size()) {
        clients_.resize(static_cast<std::size_t>(client) + 1);
      }
      clients_[static_cast<std::size_t>(client)] = Client{};
      clients_[static_cast<std::size_t>(client)].serial = ++serials_;
      accepted_.push_back(client);
    }
  }

  // Writes what fits of the unsent bytes, then of each file owed (its head, then the file);
  // keeps the rest. Returns false if the client is gone.
  bool flush(int fd, Client& c) {
    for (;;) {
      while (!c.unsent.empty()) {
        const ssize_t n = ::send(fd, c.unsent.data(), c.unsent.size(), MSG_NOSIGNAL);
        if (n > 0) {
          c.unsent.erase(0, static_cast<std::size_t>(n));
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else {
          return n < 0 && errno == EAGAIN;
        }
      }
      if (c.files_owed == 0) {
        return true;
      }
      if (!c.head_queued) {
        c.unsent = file_head_;
        c.head_queued = true;
        continue;
      }
      const ssize_t n = c_.copy ? copy_chunk(fd, c)
                                : ::sendfile(fd, file_, &c.file_offset, file_size_ - c.file_offset);
      if (n <= 0) {
        return n < 0 && errno == EAGAIN;
      }
      if (c.file_offset == file_size_) {
        c.file_offset = 0;
        c.head_queued = false;
        --c.files_owed;
      }
    }
  }

  // --copy: the file through user memory, as a server without sendfile() must.
  ssize_t copy_chunk(int fd, Client& c) {
    const ssize_t got = ::pread(file_, chunk_, sizeof chunk_, c.file_offset);
    if (got <= 0) {
      return -1;
    }
    const ssize_t n = ::send(fd, chunk_, static_cast<std::size_t>(got), MSG_NOSIGNAL);
    if (n > 0) {
      c.file_offset += n;
    }
    return n;
  }

  // Sends @p heads answers: in one write (the answers string keeps its capacity, so this
  // allocates nothing once it has grown), or with --split in two per answer.
  bool answer(int fd, Client& c, int heads) {
    if (!c_.file.empty()) {
      c.files_owed += heads;
      return flush(fd, c);
    }
    const std::string_view end = c_.close_after ? "Connection: close\r\n\r\n" : "\r\n";
    if (c_.split && c.unsent.empty()) {
      for (int i = 0; i < heads; ++i) {
        answers_.assign(kHead).append(end);
        if (::send(fd, answers_.data(), answers_.size(), MSG_NOSIGNAL) < 0 ||
            ::send(fd, kBody.data(), kBody.size(), MSG_NOSIGNAL) < 0) {
          return errno == EAGAIN;
        }
      }
      return true;
    }
    for (int i = 0; i < heads; ++i) {
      c.unsent.append(kHead).append(end).append(kBody);
    }
    return flush(fd, c);
  }

  // A client is ready: send what is owed, then read and answer until the socket is empty.
  // Returns false when it must be closed. Unless the event reported the peer's FIN, a short
  // read means the socket is empty (edge-triggered: the next byte raises a new event).
  bool serve(int fd, bool fin) {
    Client& c = clients_[static_cast<std::size_t>(fd)];
    if (c.lingering) {
      return discard(fd);
    }
    if (!flush(fd, c)) {
      return false;
    }
    for (;;) {
      const ssize_t got = ::read(fd, buffer_, sizeof buffer_);
      if (got == 0 || (got < 0 && errno != EINTR)) {
        return got < 0 && errno == EAGAIN;
      }
      if (got < 0) {
        continue;
      }
      const int heads = count_heads(buffer_, static_cast<std::size_t>(got), c.matched);
      if (heads > 0 && (!answer(fd, c, heads) || c_.close_after)) {
        return false;
      }
      if (!fin && static_cast<std::size_t>(got) < sizeof buffer_) {
        return true;
      }
    }
  }

  // --linger: what a lingering client still sends is read and dropped; false once it has closed.
  bool discard(int fd) {
    for (;;) {
      const ssize_t got = ::read(fd, buffer_, sizeof buffer_);
      if (got > 0 || (got < 0 && errno == EINTR)) {
        continue;
      }
      return got < 0 && errno == EAGAIN;
    }
  }

  // A client to close: at once, or (--linger, after an answer) half now and the rest later.
  void finish(int fd) {
    Client& c = clients_[static_cast<std::size_t>(fd)];
    if (c_.linger_ms > 0 && c_.close_after && !c.lingering && c.unsent.empty()) {
      c.lingering = true;
      ::shutdown(fd, SHUT_WR);
      lingering_.push_back({now_ms() + c_.linger_ms, fd, c.serial});
      return;
    }
    ::close(fd);
  }

  // Closes the lingering clients whose time is up; the milliseconds until the next one is due.
  int expire_lingering() {
    const std::int64_t now = now_ms();
    while (!lingering_.empty() && lingering_.front().due <= now) {
      const Lingering l = lingering_.front();
      lingering_.pop_front();
      Client& c = clients_[static_cast<std::size_t>(l.fd)];
      if (c.lingering && c.serial == l.serial) {
        ::close(l.fd);
        c.lingering = false;
      }
    }
    return lingering_.empty() ? -1 : static_cast<int>(lingering_.front().due - now);
  }

  bool stop_requested() {
    signalfd_siginfo info{};
    return ::read(signals_, &info, sizeof info) == static_cast<ssize_t>(sizeof info);
  }

  int run_epoll() {
    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = listener_;
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, listener_, &event);
    event.data.fd = signals_;
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, signals_, &event);
    std::vector<epoll_event> ready(256);
    for (;;) {
      const int n =
          ::epoll_wait(epoll, ready.data(), static_cast<int>(ready.size()), expire_lingering());
      for (int i = 0; i < n; ++i) {
        const int fd = ready[static_cast<std::size_t>(i)].data.fd;
        if (fd == signals_ && stop_requested()) {
          return 0;
        }
        if (fd == listener_) {
          for (const int client : accept_all()) {
            epoll_event registration{};
            registration.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
            registration.data.fd = client;
            ::epoll_ctl(epoll, EPOLL_CTL_ADD, client, &registration);
          }
        } else if (fd != signals_ && !serve(fd, (ready[static_cast<std::size_t>(i)].events &
                                                 (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0)) {
          if (clients_[static_cast<std::size_t>(fd)].lingering) {
            clients_[static_cast<std::size_t>(fd)].lingering = false;
            ::close(fd);  // the lingering client closed
          } else {
            finish(fd);  // EOF, an error, or the answer of --close sent
          }
        }
      }
    }
  }

  // poll(): the kernel is handed every descriptor on every call, and looks at every one of them.
  int run_poll() {
    std::vector<pollfd> watched{{listener_, POLLIN, 0}, {signals_, POLLIN, 0}};
    for (;;) {
      if (::poll(watched.data(), watched.size(), -1) < 0) {
        continue;
      }
      if (watched[1].revents != 0 && stop_requested()) {
        return 0;
      }
      for (std::size_t i = 2; i < watched.size();) {  // every client, ready or not
        if (watched[i].revents != 0 &&
            !serve(watched[i].fd, (watched[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0)) {
          ::close(watched[i].fd);
          watched[i] = watched.back();
          watched.pop_back();
        } else {
          ++i;
        }
      }
      if (watched[0].revents != 0) {
        for (const int client : accept_all()) {
          watched.push_back({client, POLLIN | POLLRDHUP, 0});
        }
      }
    }
  }

  // select(): as poll(), in a bit set of FD_SETSIZE descriptors, copied in and out each call.
  int run_select() {
    std::vector<int> open;
    for (;;) {
      fd_set readable;
      FD_ZERO(&readable);
      FD_SET(listener_, &readable);
      FD_SET(signals_, &readable);
      int highest = std::max(listener_, signals_);
      for (const int fd : open) {
        FD_SET(fd, &readable);
        highest = std::max(highest, fd);
      }
      if (::select(highest + 1, &readable, nullptr, nullptr, nullptr) < 0) {
        continue;
      }
      if (FD_ISSET(signals_, &readable) && stop_requested()) {
        return 0;
      }
      for (std::size_t i = 0; i < open.size();) {
        if (FD_ISSET(open[i], &readable) && !serve(open[i], true)) {
          ::close(open[i]);
          open[i] = open.back();
          open.pop_back();
        } else {
          ++i;
        }
      }
      if (FD_ISSET(listener_, &readable)) {
        for (const int client : accept_all()) {
          if (client >= FD_SETSIZE) {
            std::fprintf(stderr,
                         "floor: descriptor %d >= FD_SETSIZE (%d): select() cannot "
                         "watch it\n",
                         client, FD_SETSIZE);
            std::exit(3);
          }
          open.push_back(client);
        }
      }
    }
  }

  Config c_;
  int listener_ = -1;
  int signals_ = -1;
  int port_ = 0;
  int file_ = -1;
  off_t file_size_ = 0;
  std::string file_head_;
  std::vector<Client> clients_;
  std::vector<int> accepted_;
  struct Lingering {
    std::int64_t due;
    int fd;
    std::uint64_t serial;
  };
  std::deque<Lingering> lingering_;  // in the order they started: one --linger for all
  std::uint64_t serials_ = 0;
  std::string answers_;
  char buffer_[64 * 1024];
  char chunk_[kFileChunk];
};

Config parse(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--port" && has_value) {
      c.port = std::atoi(argv[++i]);
    } else if (arg == "--host" && has_value) {
      c.host = argv[++i];
    } else if (arg == "--close") {
      c.close_after = true;
    } else if (arg == "--poller" && has_value) {
      c.poller = argv[++i];
    } else if (arg == "--accept-fcntl") {
      c.accept_fcntl = true;
    } else if (arg == "--defer-accept") {
      c.defer_accept = true;
    } else if (arg == "--nagle") {
      c.nagle = true;
    } else if (arg == "--split") {
      c.split = true;
    } else if (arg == "--file" && has_value) {
      c.file = argv[++i];
    } else if (arg == "--copy") {
      c.copy = true;
    } else if (arg == "--linger" && has_value) {
      c.linger_ms = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: floor --port P [--host 127.0.0.1] [--close] [--poller "
                   "epoll|poll|select] [--accept-fcntl] [--defer-accept] [--nagle] "
                   "[--split] [--file PATH [--copy]] [--linger MS]\n");
      std::exit(2);
    }
  }
  if (c.linger_ms > 0 && (!c.close_after || c.poller != "epoll")) {
    std::fprintf(stderr, "floor: --linger needs --close and the epoll poller\n");
    std::exit(2);
  }
  if (c.poller != "epoll" && c.poller != "poll" && c.poller != "select") {
    std::fprintf(stderr, "floor: --poller takes epoll, poll or select\n");
    std::exit(2);
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  return Floor(parse(argc, argv)).run();
}
