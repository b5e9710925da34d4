#include "common/net.hpp"

#include <cerrno>
#include <cstring>
#include <memory>
#include <system_error>

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/connection_policy.hpp"
#include "common/io.hpp"
#include "common/log.hpp"

namespace common {
namespace {

[[noreturn]] void throw_errno(const char* call) {
  throw std::system_error(errno, std::generic_category(), call);
}

void set_int_option(int fd, int level, int name, int value, const char* call) {
  if (::setsockopt(fd, level, name, &value, sizeof value) < 0) {
    throw_errno(call);
  }
}

}  // namespace

Fd listen_tcp(const ListenConfig& config) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(config.port);
  if (int rc = ::getaddrinfo(config.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw std::system_error(EINVAL, std::generic_category(),
                            "getaddrinfo(" + config.host + "): " + ::gai_strerror(rc));
  }
  // getaddrinfo allocates the list; the unique_ptr frees it on every path, the throws included.
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, ::freeaddrinfo);
  const addrinfo& address = *addresses;  // the first address is the one we bind

  const int type = SOCK_STREAM | SOCK_CLOEXEC | (config.nonblocking ? SOCK_NONBLOCK : 0);
  Fd fd(::socket(address.ai_family, type, 0));
  if (!fd) {
    throw_errno("socket");
  }
  set_int_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt(SO_REUSEADDR)");
  if (config.reuse_port) {
    set_int_option(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1, "setsockopt(SO_REUSEPORT)");
  }
  set_int_option(fd.get(), IPPROTO_TCP, TCP_NODELAY, 1, "setsockopt(TCP_NODELAY)");
  if (::bind(fd.get(), address.ai_addr, address.ai_addrlen) < 0) {
    throw std::system_error(errno, std::generic_category(),
                            "bind(" + config.host + ":" + port + ")");
  }
  if (::listen(fd.get(), config.backlog) < 0) {
    throw_errno("listen");
  }
  return fd;
}

std::uint16_t local_port(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) < 0) {
    throw_errno("getsockname");
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
}

std::string http_url(std::string_view host, std::uint16_t port) {
  const bool ipv6 = host.find(':') != std::string_view::npos;
  std::string url = "http://";
  url += ipv6 ? "[" : "";
  url += host;
  url += ipv6 ? "]" : "";
  url += ":" + std::to_string(port);
  return url;
}

AcceptResult accept_client(int listen_fd, int flags) {
  for (;;) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, flags);
    if (fd >= 0) {
      return {AcceptStatus::kAccepted, Fd(fd), 0};
    }
    switch (errno) {
      case EINTR:  // a signal arrived before a connection: just ask again
        continue;
      case EAGAIN:  // (== EWOULDBLOCK) the queue is empty
        return {AcceptStatus::kWouldBlock, Fd(), 0};
      case ECONNABORTED:  // the client gave up while queued; the man page lists the rest as
      case EPROTO:        // network errors of that connection that Linux passes to accept:
      case ENOPROTOOPT:   // none of them is the listener's fault, so take the next one
      case EHOSTDOWN:
      case ENONET:
      case EHOSTUNREACH:
      case ENETDOWN:
      case ENETUNREACH:
      case EOPNOTSUPP:
        continue;
      case EMFILE:   // this process is out of descriptors
      case ENFILE:   // the whole system is
      case ENOBUFS:  // or out of socket memory
      case ENOMEM:
        // The connection stays queued and the listener stays readable, so retrying at once
        // would spin at 100% CPU. The caller backs off (or frees a descriptor) first.
        return {AcceptStatus::kNoDescriptors, Fd(), errno};
      default:
        return {AcceptStatus::kFailed, Fd(), errno};
    }
  }
}

bool set_nonblocking(int fd, bool on) noexcept {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) {
    return false;
  }
  const int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  return wanted == flags || ::fcntl(fd, F_SETFL, wanted) == 0;
}

bool has_unread_input(int fd) noexcept {
  int unread = 0;
  return ::ioctl(fd, FIONREAD, &unread) == 0 && unread > 0;
}

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

void back_off_after_emfile() {
  static_cast<void>(sleep_unless_shutdown(kAcceptPause));
}

}  // namespace common
