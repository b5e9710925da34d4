/// @file uring.hpp
/// @brief io_uring plumbing: a ring with the receive buffers it lends, and the output queue of a
/// connection whose sends complete later.
///
/// Header-only, so that only a chapter that links liburing ("link": ["uring"] in the registry)
/// compiles it; the rest of common/ does not depend on liburing.
#pragma once

#include <liburing.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <list>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include "common/fd.hpp"
#include "common/http_response.hpp"

namespace common {

/// @defgroup uring io_uring
/// @brief Completion-based I/O for chapter 08: the ring, and output that waits for completions.
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

// [send-queue]
/// The responses of one connection not yet sent, for a loop whose sends complete later. Unlike
/// OutputQueue, which writes by itself, this queue only says what to submit next (next()) and is
/// told what completed (sent(), read()). The kernel reads a send's bytes after submission, so
/// the queue never moves or changes bytes handed out until their completion: it is a list,
/// whose elements stay put, and it appends to the last response only if that one is not being
/// sent. A file is read into memory a chunk at a time and sent, since io_uring has no sendfile.
/// Not thread-safe.
class SendQueue {
 public:
  /// What to submit next.
  struct Step {
    /// The kinds of operation.
    enum Kind {
      kNothing,  ///< nothing to submit: all is sent, or an operation is still in flight
      kSend,     ///< send `size` bytes from `data` to the socket
      kRead,     ///< read at most `size` bytes of `file`, from `offset`, into `data`
    };
    Kind kind = kNothing;      ///< what to submit
    char* data = nullptr;      ///< kSend: the bytes; kRead: where to read the file to
    std::size_t size = 0;      ///< bytes to send, or at most to read
    int file = -1;             ///< kRead: the file
    std::uint64_t offset = 0;  ///< kRead: where in the file
  };

  /// Queues @p response: its head, then its body or its file (unless send_body is false).
  void push(Response response) {
    std::string head;
    append_head(response, head);
    // Small pipelined responses share one send, unless the last one is being sent right now.
    if (out_.empty() || out_.back().file.valid() || (busy_ && out_.size() == 1)) {
      out_.emplace_back();
    }
    Item& item = out_.back();
    item.bytes += head;
    pending_ += head.size();
    if (response.send_body && response.file.valid()) {
      item.file = std::move(response.file);
      item.file_size = response.content_length;
      pending_ += item.file_size;
    } else if (response.send_body) {
      item.bytes += response.body;
      pending_ += response.body.size();
    }
  }

  /// The next operation, and marks the queue busy until sent() or read() reports it; kNothing
  /// while busy or when everything is sent. @p chunk_size is the most a file read may take.
  [[nodiscard]] Step next(std::size_t chunk_size) {
    while (!busy_ && !out_.empty()) {
      Item& item = out_.front();
      if (item.sent < item.bytes.size()) {
        return start({Step::kSend, item.bytes.data() + item.sent, item.bytes.size() - item.sent});
      }
      if (chunk_sent_ < chunk_size_) {
        return start({Step::kSend, chunk_.get() + chunk_sent_, chunk_size_ - chunk_sent_});
      }
      if (item.file_read < item.file_size) {
        if (!chunk_) {
          chunk_ = std::make_unique_for_overwrite<char[]>(chunk_size);
        }
        const std::size_t size =
            std::min<std::uint64_t>(chunk_size, item.file_size - item.file_read);
        return start({Step::kRead, chunk_.get(), size, item.file.get(), item.file_read});
      }
      out_.pop_front();  // all sent; its file, if any, is closed here
    }
    if (out_.empty()) {
      chunk_.reset();  // a connection holds a file buffer only while it sends a file
    }
    return {};
  }

  /// A send of the last next() completed, having taken @p n bytes (a short send is normal: the
  /// next next() sends the rest).
  void sent(std::size_t n) noexcept {
    Item& item = out_.front();
    if (item.sent < item.bytes.size()) {
      item.sent += n;
    } else {
      chunk_sent_ += n;
    }
    pending_ -= n;
    busy_ = false;
  }

  /// A file read of the last next() completed with @p n > 0 bytes.
  void read(std::size_t n) noexcept {
    out_.front().file_read += n;
    chunk_size_ = n;
    chunk_sent_ = 0;
    busy_ = false;
  }

  /// True when every byte pushed has been sent.
  [[nodiscard]] bool empty() const noexcept { return out_.empty(); }
  /// Bytes still to send, file bytes included.
  [[nodiscard]] std::uint64_t pending_bytes() const noexcept { return pending_; }

 private:
  struct Item {
    std::string bytes;
    std::size_t sent = 0;
    Fd file;
    std::uint64_t file_read = 0;  // file bytes already read into the chunk
    std::uint64_t file_size = 0;
  };

  Step start(Step step) noexcept {
    busy_ = true;
    return step;
  }

  std::list<Item> out_;  // a list: an empty one allocates nothing, and elements never move
  std::uint64_t pending_ = 0;
  std::unique_ptr<char[]> chunk_;  // a piece of a file: read, then sent
  std::size_t chunk_size_ = 0;
  std::size_t chunk_sent_ = 0;
  bool busy_ = false;  // an operation from next() has not reported yet
};
// [send-queue]

/// @}

}  // namespace common
