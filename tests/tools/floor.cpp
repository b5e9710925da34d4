// floor: the least a kernel allows an HTTP server to do, for make bench to measure the chapters
// against. Not a chapter and not a server anyone should run: it parses nothing, checks nothing
// and answers every request with the same canned "Hello, World!".
//
//   floor --port P [--host 127.0.0.1] [--close]
//
// One thread, one epoll instance, edge-triggered clients. Per read it counts the request heads
// that ended in it (each "\r\n\r\n") and answers them all with one write, so a keep-alive
// request costs one read and one write, and a pipelined burst one read and one write in all.
// With --close the answer says "Connection: close" and the connection is closed after it. Its
// CPU time per request is the floor under every plot of make bench: what is left above it is
// the cost of a model and of a chapter's code.
//
// It prints "listening on http://HOST:PORT" like a chapter, and exits 0 on SIGTERM or SIGINT.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr std::string_view kKeepAlive =
    "HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
    "Hello, World!";
constexpr std::string_view kClose =
    "HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
    "Connection: close\r\n\r\nHello, World!";

// Per descriptor: how far into "\r\n\r\n" the last read ended, and bytes a full socket refused.
struct Client {
  int matched = 0;
  std::string unsent;
};

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

// Writes what fits; keeps the rest. Returns false if the client is gone.
bool send_all(int fd, Client& c, std::string_view bytes) {
  c.unsent += bytes;
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
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 0;
  bool close_after = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (arg == "--host" && i + 1 < argc) {
      host = argv[++i];
    } else if (arg == "--close") {
      close_after = true;
    } else {
      std::fprintf(stderr, "usage: floor --port P [--host 127.0.0.1] [--close]\n");
      return 2;
    }
  }
  const std::string_view answer = close_after ? kClose : kKeepAlive;

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &stop, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  const int signals = ::signalfd(-1, &stop, SFD_CLOEXEC);

  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(listener, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // inherited by clients
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    std::fprintf(stderr, "floor: --host must be an IPv4 address\n");
    return 2;
  }
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
    die("bind");
  }
  if (::listen(listener, 4096) < 0) {
    die("listen");
  }
  socklen_t length = sizeof address;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);

  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = listener;
  ::epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
  event.data.fd = signals;
  ::epoll_ctl(epoll, EPOLL_CTL_ADD, signals, &event);
  std::printf("listening on http://%s:%d\n", host.c_str(), ntohs(address.sin_port));
  std::fflush(stdout);

  std::vector<Client> clients;
  std::vector<epoll_event> ready(256);
  char buffer[64 * 1024];
  for (;;) {
    const int n = ::epoll_wait(epoll, ready.data(), static_cast<int>(ready.size()), -1);
    for (int i = 0; i < n; ++i) {
      const int fd = ready[i].data.fd;
      if (fd == signals) {
        return 0;
      }
      if (fd == listener) {
        for (int client;
             (client = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
          if (static_cast<std::size_t>(client) >= clients.size()) {
            clients.resize(static_cast<std::size_t>(client) + 1);
          }
          clients[client] = Client{};
          epoll_event registration{};
          registration.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
          registration.data.fd = client;
          ::epoll_ctl(epoll, EPOLL_CTL_ADD, client, &registration);
        }
        continue;
      }
      Client& c = clients[fd];
      // Unless the peer's FIN is part of this event, a short read means the socket is empty.
      const bool fin = (ready[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
      bool open = send_all(fd, c, {});  // EPOLLOUT: what a full socket refused before
      while (open) {
        const ssize_t got = ::read(fd, buffer, sizeof buffer);
        if (got == 0 || (got < 0 && errno != EINTR)) {
          open = got < 0 && errno == EAGAIN;
          break;
        }
        if (got < 0) {
          continue;  // EINTR
        }
        std::string answers;
        for (int heads = count_heads(buffer, static_cast<std::size_t>(got), c.matched); heads > 0;
             --heads) {
          answers += answer;
        }
        open = send_all(fd, c, answers) && !(close_after && !answers.empty());
        if (!fin && static_cast<std::size_t>(got) < sizeof buffer) {
          break;
        }
      }
      if (!open) {
        ::close(fd);  // EOF, an error, or the answer of --close sent
      }
    }
  }
}
