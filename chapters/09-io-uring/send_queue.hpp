/// @file send_queue.hpp
/// @brief Chapter 09: the output of a connection whose sends complete later.
#pragma once

#include <algorithm>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "common/fd.hpp"
#include "common/http_response.hpp"

namespace uring {

/// @defgroup uring_send_queue Send queue (chapter 09)
/// @brief Output that waits for completions: bytes that never move until the kernel is done.
/// @{

// [send-queue]
/// The responses of one connection not yet sent, for a loop whose sends complete later. Unlike
/// OutputQueue, which writes by itself, this queue only says what to submit next (next()) and is
/// told what completed (sent(), read()). The kernel reads a send's bytes after submission, so
/// the queue never moves or changes bytes handed out until their completion: it is a list,
/// whose elements stay put, and it appends to the last response only if that one is not being
/// sent. A file is read into memory a chunk at a time and sent, since io_uring has no sendfile.
/// Not thread-safe.
class SendQueue final : public common::Output {
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
  void push(common::Response response) override {
    std::string head;
    common::append_head(response, head);
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

  /// Queues @p bytes as they are: an interim response such as "100 Continue".
  void push_bytes(std::string_view bytes) override {
    if (out_.empty() || out_.back().file.valid() || (busy_ && out_.size() == 1)) {
      out_.emplace_back();
    }
    out_.back().bytes += bytes;
    pending_ += bytes.size();
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
  [[nodiscard]] bool empty() const noexcept override { return out_.empty(); }
  /// Bytes still to send, file bytes included.
  [[nodiscard]] std::uint64_t pending_bytes() const noexcept override { return pending_; }

 private:
  struct Item {
    std::string bytes;
    std::size_t sent = 0;
    common::Fd file;
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

}  // namespace uring
