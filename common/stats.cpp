#include "common/stats.hpp"

#include <cerrno>
#include <new>
#include <system_error>

#include <sys/mman.h>

namespace common {

Stats& create_shared_stats() {
  void* memory =
      ::mmap(nullptr, sizeof(Stats), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    throw std::system_error(errno, std::generic_category(), "mmap(Stats)");
  }
  return *new (memory) Stats();
}

}  // namespace common
