// liballoc_count.so: counts a process's heap allocations, for make bench to report allocations
// per request (docs/claims.md). Not part of any server: it is preloaded into one.
//
//   ALLOC_COUNT_FILE=/tmp/count LD_PRELOAD=build/bin/liballoc_count.so build/bin/04-polling ...
//
// Every malloc(), calloc(), realloc() and aligned allocation counts as one and is then handed
// to glibc's own allocator (__libc_malloc and friends), so the process allocates exactly as it
// would without the counter. operator new calls malloc, so C++ allocations count too. The count
// is an 8-byte integer at the start of ALLOC_COUNT_FILE, mapped shared: the threads of the
// process and the children it forks (which inherit the mapping) all add to it, and the benchmark
// reads it from outside while the server runs. The file must exist and hold at least 8 bytes;
// without it nothing is counted.

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* block, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
}

namespace {

std::atomic<std::uint64_t>* counter = nullptr;

// Runs when the library is loaded, before main(): maps the count. Allocations made before it
// (the dynamic loader's) are not counted.
__attribute__((constructor)) void map_counter() {
  const char* path = std::getenv("ALLOC_COUNT_FILE");
  if (path == nullptr) {
    return;
  }
  const int fd = ::open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return;
  }
  void* shared = ::mmap(nullptr, sizeof(std::uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (shared != MAP_FAILED) {
    counter = static_cast<std::atomic<std::uint64_t>*>(shared);
  }
}

void count() {
  if (counter != nullptr) {
    counter->fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace

extern "C" {

void* malloc(std::size_t size) noexcept {
  count();
  return __libc_malloc(size);
}

void* calloc(std::size_t count_, std::size_t size) noexcept {
  count();
  return __libc_calloc(count_, size);
}

void* realloc(void* block, std::size_t size) noexcept {
  count();
  return __libc_realloc(block, size);
}

void* memalign(std::size_t alignment, std::size_t size) noexcept {
  count();
  return __libc_memalign(alignment, size);
}

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  count();
  return __libc_memalign(alignment, size);
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  count();
  void* block = __libc_memalign(alignment, size);
  if (block == nullptr) {
    return ENOMEM;
  }
  *out = block;
  return 0;
}

}  // extern "C"
