#include "chapters/08-reuseport/listeners.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <system_error>

#include "common/chapter.hpp"
#include "common/net.hpp"

namespace reuseport {

// [listeners]
// All N listening sockets are made here, before any loop starts. With --port 0 the first one
// picks a free port and the others join that port: SO_REUSEPORT only groups sockets bound to the
// same address and port, by processes of the same user.
std::vector<common::Fd> open_listeners(common::Options options, int count, bool blocking) {
  common::refuse_taken_port(options);  // SO_REUSEPORT would let a second server join in silence
  std::vector<common::Fd> listeners;
  listeners.push_back(common::open_listener(options, /*reuse_port=*/true, blocking));
  // [exercise:port-zero solution]
  if (options.port == 0) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    if (::getsockname(listeners[0].get(), reinterpret_cast<sockaddr*>(&address), &length) < 0) {
      throw std::system_error(errno, std::generic_category(), "getsockname");
    }
    options.port = ntohs(address.sin_port);
  }
  // [exercise:port-zero start]
  // // Every listener binds the port asked for.
  // [exercise:port-zero end]
  while (static_cast<int>(listeners.size()) < count) {
    listeners.push_back(common::open_listener(options, /*reuse_port=*/true, blocking));
  }
  return listeners;
}
// [listeners]

}  // namespace reuseport
