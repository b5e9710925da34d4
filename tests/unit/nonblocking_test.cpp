#include "common/nonblocking.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/fd.hpp"
#include "common/http_response.hpp"
#include "socket_pair.hpp"

namespace {

using test_support::SocketPair;

// Small buffers: a few hundred KiB fill them and make writes partial.
SocketPair make_socket_pair() {
  return test_support::make_socket_pair(/*small_buffers=*/true);
}

// Reads everything available now from @p fd.
std::string read_now(int fd) {
  std::string out;
  char chunk[65536];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) {
      return out;
    }
    out.append(chunk, static_cast<std::size_t>(n));
  }
}

// The bytes of @p response as the queue should send them.
std::string wire(const common::Response& response, std::string_view body) {
  std::string head;
  common::append_head(response, head);
  return head + std::string(body);
}

// Drains @p queue into @p pair.b, reading whenever the socket is full; returns what arrived.
std::string flush_all(common::OutputQueue& queue, SocketPair& pair) {
  std::string received;
  for (int round = 0; round < 100000; ++round) {
    const common::FlushResult result = queue.flush(pair.a.get());
    received += read_now(pair.b.get());
    if (result == common::FlushResult::kDone) {
      return received + read_now(pair.b.get());
    }
    EXPECT_EQ(result, common::FlushResult::kWouldBlock);
  }
  ADD_FAILURE() << "the queue never drained";
  return received;
}

TEST(ReadAvailable, DrainsUntilWouldBlock) {
  SocketPair pair = make_socket_pair();
  ASSERT_EQ(::write(pair.b.get(), "hello", 5), 5);
  common::Buffer in;
  EXPECT_EQ(common::read_available(pair.a.get(), in), common::ReadStatus::kWouldBlock);
  EXPECT_EQ(in.readable(), "hello");
}

TEST(ReadAvailable, ReportsEofAfterTheLastBytes) {
  SocketPair pair = make_socket_pair();
  ASSERT_EQ(::write(pair.b.get(), "bye", 3), 3);
  pair.b.reset();
  common::Buffer in;
  EXPECT_EQ(common::read_available(pair.a.get(), in), common::ReadStatus::kEof);
  EXPECT_EQ(in.readable(), "bye");
}

TEST(ReadAvailable, StopsAtTheBudget) {
  SocketPair pair = make_socket_pair();
  const std::string bytes(3000, 'x');
  ASSERT_EQ(::write(pair.b.get(), bytes.data(), bytes.size()), 3000);
  common::Buffer in;
  EXPECT_EQ(common::read_available(pair.a.get(), in, 1000), common::ReadStatus::kBudget);
  EXPECT_GE(in.size(), 1000u);
}

TEST(ReadAvailable, AShortReadEndsTheCallWhenAskedTo) {
  // With short_read_drains the read that would say EAGAIN is skipped; so is the end of stream
  // behind the bytes, which is why the loop asks for it only when no FIN was reported.
  SocketPair pair = make_socket_pair();
  ASSERT_EQ(::write(pair.b.get(), "last", 4), 4);
  pair.b.reset();
  common::Buffer in;
  EXPECT_EQ(common::read_available(pair.a.get(), in, 1 << 20, /*short_read_drains=*/true),
            common::ReadStatus::kWouldBlock);
  EXPECT_EQ(in.readable(), "last");
  EXPECT_EQ(common::read_available(pair.a.get(), in, 1 << 20, true), common::ReadStatus::kEof);
}

TEST(ReadAvailable, AFullReadKeepsReadingWhenShortReadsDrain) {
  SocketPair pair = make_socket_pair();
  const std::string bytes(40000, 'y');  // more than one read's worth
  ASSERT_EQ(::write(pair.b.get(), bytes.data(), bytes.size()), 40000);
  common::Buffer in;
  EXPECT_EQ(common::read_available(pair.a.get(), in, 1 << 20, true),
            common::ReadStatus::kWouldBlock);
  EXPECT_EQ(in.size(), 40000u);
}

TEST(ReadAvailable, ReportsOtherErrorsAsErrors) {
  common::Buffer in;
  EXPECT_EQ(common::read_available(-1, in), common::ReadStatus::kError);  // EBADF
}

TEST(OutputQueue, SendsPipelinedResponsesInOrder) {
  SocketPair pair = make_socket_pair();
  common::OutputQueue queue;
  EXPECT_TRUE(queue.empty());
  queue.push(common::make_response(200, "one"));
  queue.push(common::make_response(404, "two"));
  const std::string expected = wire(common::make_response(200, "one"), "one") +
                               wire(common::make_response(404, "two"), "two");
  EXPECT_EQ(queue.pending_bytes(), expected.size());
  const std::string got = flush_all(queue, pair);
  // The Date header may tick between building the expectation and the queue: compare sizes
  // and the parts that do not depend on time.
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(got.ends_with("\r\n\r\ntwo"));
  EXPECT_NE(got.find("one"
                     "HTTP/1.1 404"),
            std::string::npos);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.pending_bytes(), 0u);
  EXPECT_EQ(queue.sent_bytes(), expected.size());
}

TEST(OutputQueue, PartialWritesResumeWhereTheyStopped) {
  SocketPair pair = make_socket_pair();
  common::OutputQueue queue;
  std::string body(512 * 1024, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) {
    body[i] = static_cast<char>('a' + i % 26);
  }
  queue.push(common::make_response(200, body));
  EXPECT_EQ(queue.flush(pair.a.get()), common::FlushResult::kWouldBlock);  // far over the buffer
  EXPECT_GT(queue.sent_bytes(), 0u);
  const std::string got = flush_all(queue, pair);
  ASSERT_GT(got.size(), body.size());
  EXPECT_EQ(got.substr(got.size() - body.size()), body);
}

TEST(OutputQueue, SendsAFileAfterItsHeadAndBeforeTheNextResponse) {
  SocketPair pair = make_socket_pair();
  std::FILE* tmp = std::tmpfile();
  ASSERT_NE(tmp, nullptr);
  std::string content(300 * 1024, 'f');
  ASSERT_EQ(std::fwrite(content.data(), 1, content.size(), tmp), content.size());
  std::fflush(tmp);
  common::Response file_response;
  file_response.file = common::Fd(::dup(fileno(tmp)));
  file_response.content_length = content.size();
  std::fclose(tmp);
  common::OutputQueue queue;
  queue.push(std::move(file_response));
  queue.push(common::make_response(200, "after"));
  const std::string got = flush_all(queue, pair);
  const std::size_t body_start = got.find("\r\n\r\n") + 4;
  EXPECT_EQ(got.substr(body_start, content.size()), content);
  EXPECT_TRUE(got.ends_with("\r\n\r\nafter"));
}

TEST(OutputQueue, HeadResponseSendsNoBody) {
  SocketPair pair = make_socket_pair();
  common::Response response = common::make_response(200, "hidden");
  response.send_body = false;
  common::OutputQueue queue;
  queue.push(std::move(response));
  const std::string got = flush_all(queue, pair);
  EXPECT_TRUE(got.ends_with("\r\n\r\n"));
  EXPECT_EQ(got.find("hidden"), std::string::npos);
}

TEST(OutputQueue, APeerThatIsGoneIsAnError) {
  SocketPair pair = make_socket_pair();
  pair.b.reset();
  common::OutputQueue queue;
  queue.push(common::make_response(200, "lost"));
  EXPECT_EQ(queue.flush(pair.a.get()), common::FlushResult::kError);  // EPIPE, no SIGPIPE
}

TEST(OutputQueue, AFileThatShrankIsAnError) {
  SocketPair pair = make_socket_pair();
  std::FILE* tmp = std::tmpfile();
  ASSERT_NE(tmp, nullptr);
  common::Response response;
  response.file = common::Fd(::dup(fileno(tmp)));  // empty, but promises 100 bytes
  response.content_length = 100;
  std::fclose(tmp);
  common::OutputQueue queue;
  queue.push(std::move(response));
  EXPECT_EQ(queue.flush(pair.a.get()), common::FlushResult::kError);
}

TEST(OutputQueue, ClearDropsEverything) {
  common::OutputQueue queue;
  queue.push(common::make_response(200, "x"));
  queue.clear();
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.pending_bytes(), 0u);
}

}  // namespace
