/// @file ring.hpp
/// @brief Chapter 09: one io_uring, with the receive buffers it lends to the kernel.
///
/// Header-only, so that only this chapter, which links liburing ("link": ["uring"] in the
/// registry), compiles it.
#pragma once

#include <liburing.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

/// Chapter 09's io_uring plumbing.
namespace uring {

/// @defgroup uring_ring Ring (chapter 09)
/// @brief One io_uring and the receive buffers it lends.
/// @{

/// Thrown when the kernel, or its configuration, offers no usable io_uring.
struct UringUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The sizes of a Ring.
struct RingConfig {
  unsigned entries = 1024;           ///< submission queue entries
  unsigned completions = 16 * 1024;  ///< completion queue entries (a burst of completions)
  unsigned buffers = 256;            ///< provided receive buffers: a power of two
  unsigned buffer_size = 8 * 1024;   ///< bytes per receive buffer
  int buffer_group = 0;              ///< the group id receives name
};

// [ring]
/// One io_uring and the receive buffers it lends (a provided buffer ring): buffers listed in a
/// ring that the kernel takes from. A receive names the group, not a buffer; its completion
/// carries IORING_CQE_F_BUFFER and the id of the buffer that got the bytes; once they are copied
/// out, recycle() puts the buffer back. (liburing 2.4 wraps this set-up as
/// io_uring_setup_buf_ring(); Debian 12 ships 2.3.) Not thread-safe: one thread uses a ring,
/// though another may create it.
class Ring {
 public:
  /// Creates the ring. Throws UringUnavailable if the kernel refuses io_uring (ENOSYS: absent,
  /// or refused by a seccomp filter such as Docker's default; EPERM: sysctl
  /// kernel.io_uring_disabled; EINVAL: a kernel too old for these features), and
  /// std::system_error for anything else.
  explicit Ring(const RingConfig& config = {}) : config_(config) {
    io_uring_params params{};
    // COOP_TASKRUN: the kernel does not interrupt the thread to finish an operation's work (a
    // signal-like wake-up for every packet); it does it when the thread next enters the
    // kernel, which a loop does all the time.
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
    params.cq_entries = config.completions;
    if (const int rc = io_uring_queue_init_params(config.entries, &ring_, &params); rc < 0) {
      if (rc == -ENOSYS || rc == -EPERM || rc == -EACCES || rc == -EINVAL) {
        throw UringUnavailable(std::string("io_uring_setup: ") + std::strerror(-rc));
      }
      throw std::system_error(-rc, std::generic_category(), "io_uring_queue_init");
    }
    try {
      provide_buffers();
    } catch (...) {
      io_uring_queue_exit(&ring_);
      throw;
    }
  }
  ~Ring() {
    io_uring_queue_exit(&ring_);  // cancels what is still in flight, then unmaps the queues
    ::munmap(lent_, lent_size());
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  /// The liburing handle.
  [[nodiscard]] io_uring* get() noexcept { return &ring_; }

  /// A free submission queue entry. When the queue is full, what it holds is submitted first
  /// (one early io_uring_enter) rather than failing.
  [[nodiscard]] io_uring_sqe* sqe() {
    io_uring_sqe* entry = io_uring_get_sqe(&ring_);
    while (entry == nullptr) {
      io_uring_submit(&ring_);
      entry = io_uring_get_sqe(&ring_);
    }
    return entry;
  }

  /// The bytes of receive buffer @p id (valid until recycle(@p id)).
  [[nodiscard]] const char* buffer(unsigned id) const noexcept {
    return buffers_.get() + std::size_t{id} * config_.buffer_size;
  }

  /// Gives buffer @p id back to the kernel.
  void recycle(unsigned id) noexcept {
    io_uring_buf_ring_add(lent_, buffers_.get() + std::size_t{id} * config_.buffer_size,
                          config_.buffer_size, static_cast<unsigned short>(id),
                          io_uring_buf_ring_mask(config_.buffers), 0);
    io_uring_buf_ring_advance(lent_, 1);  // the kernel sees the tail move
  }

 private:
  [[nodiscard]] std::size_t lent_size() const noexcept {
    return config_.buffers * sizeof(io_uring_buf);
  }

  void provide_buffers() {
    // The kernel wants the ring of buffer descriptions page-aligned: mmap gives that.
    void* memory =
        ::mmap(nullptr, lent_size(), PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (memory == MAP_FAILED) {
      throw std::system_error(errno, std::generic_category(), "mmap");
    }
    io_uring_buf_reg registration{};
    registration.ring_addr = reinterpret_cast<std::uintptr_t>(memory);
    registration.ring_entries = config_.buffers;
    registration.bgid = static_cast<std::uint16_t>(config_.buffer_group);
    if (const int rc = io_uring_register_buf_ring(&ring_, &registration, 0); rc < 0) {
      ::munmap(memory, lent_size());
      if (rc == -EINVAL) {
        throw UringUnavailable("provided buffer rings need Linux 5.19 (multishot receive, 6.0)");
      }
      throw std::system_error(-rc, std::generic_category(), "io_uring_register_buf_ring");
    }
    lent_ = static_cast<io_uring_buf_ring*>(memory);
    // Not zeroed: a buffer's pages cost memory only once the kernel first fills it.
    buffers_ =
        std::make_unique_for_overwrite<char[]>(std::size_t{config_.buffers} * config_.buffer_size);
    io_uring_buf_ring_init(lent_);
    for (unsigned id = 0; id < config_.buffers; ++id) {
      recycle(id);
    }
  }

  RingConfig config_;
  io_uring ring_{};
  io_uring_buf_ring* lent_ = nullptr;
  std::unique_ptr<char[]> buffers_;
};
// [ring]

/// @}

}  // namespace uring
