// Chapter 09's SendQueue: what to submit next, for a loop whose sends complete later. Pure: no
// ring, no socket; the test plays the kernel.
#include "chapters/09-io-uring/send_queue.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <cstdio>
#include <string>

#include "common/http_response.hpp"

namespace {

using uring::SendQueue;
using Step = SendQueue::Step;

std::string head_of(const common::Response& response) {
  std::string head;
  common::append_head(response, head);
  return head;
}

// Plays the kernel until nothing is left: sends at most `per_send` bytes a time, reads files
// with pread. Returns the bytes "sent".
std::string drain(SendQueue& queue, std::size_t per_send = 1 << 20, std::size_t chunk = 64) {
  std::string sent;
  for (int steps = 0; steps < 100000; ++steps) {
    const Step step = queue.next(chunk);
    if (step.kind == Step::kNothing) {
      return sent;
    }
    if (step.kind == Step::kSend) {
      const std::size_t n = std::min(step.size, per_send);
      sent.append(step.data, n);
      queue.sent(n);
    } else {
      const ssize_t n = ::pread(step.file, step.data, step.size, static_cast<off_t>(step.offset));
      EXPECT_GT(n, 0);
      queue.read(static_cast<std::size_t>(n));
    }
  }
  ADD_FAILURE() << "the queue never emptied";
  return sent;
}

TEST(SendQueue, SmallPipelinedResponsesShareOneSend) {
  SendQueue queue;
  common::Response first = common::make_response(200, "one");
  common::Response second = common::make_response(200, "two");
  const std::string expected = head_of(first) + "one" + head_of(second) + "two";
  queue.push(std::move(first));
  queue.push(std::move(second));
  EXPECT_EQ(queue.pending_bytes(), expected.size());
  const Step step = queue.next(64);
  ASSERT_EQ(step.kind, Step::kSend);
  EXPECT_EQ(std::string(step.data, step.size), expected);  // one send for both
  queue.sent(step.size);
  EXPECT_EQ(queue.next(64).kind, Step::kNothing);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.pending_bytes(), 0u);
}

TEST(SendQueue, OneOperationAtATimeAndBytesInFlightNeverMove) {
  SendQueue queue;
  queue.push(common::make_response(200, std::string(100, 'a')));
  const Step first = queue.next(64);
  ASSERT_EQ(first.kind, Step::kSend);
  const char* in_flight = first.data;
  const std::string copy(first.data, first.size);
  EXPECT_EQ(queue.next(64).kind, Step::kNothing);  // busy until sent() reports
  // A response pushed while the first is being sent goes to a new item: the kernel may be
  // reading the old bytes right now.
  queue.push(common::make_response(200, "b"));
  EXPECT_EQ(std::string(in_flight, copy.size()), copy);
  queue.sent(10);  // a short send: the rest follows from where it stopped
  const Step rest = queue.next(64);
  ASSERT_EQ(rest.kind, Step::kSend);
  EXPECT_EQ(rest.data, in_flight + 10);
  queue.sent(rest.size);
  const std::string tail = drain(queue);
  EXPECT_NE(tail.find("\r\n\r\nb"), std::string::npos);
}

TEST(SendQueue, AFileIsReadAndSentAChunkAtATime) {
  char path[] = "/tmp/send_queue_test.XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string content;
  for (int i = 0; i < 300; ++i) {
    content += static_cast<char>('A' + i % 26);
  }
  ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  ::unlink(path);
  common::Response response;
  response.file = common::Fd(fd);
  response.content_length = content.size();
  const std::string head = head_of(response);
  SendQueue queue;
  queue.push(std::move(response));
  EXPECT_EQ(queue.pending_bytes(), head.size() + content.size());
  EXPECT_EQ(drain(queue, /*per_send=*/50, /*chunk=*/64), head + content);
  EXPECT_TRUE(queue.empty());
}

TEST(SendQueue, HeadOnlyResponsesSendNoBody) {
  common::Response response = common::make_response(200, "body");
  response.send_body = false;
  const std::string head = head_of(response);
  SendQueue queue;
  queue.push(std::move(response));
  EXPECT_EQ(drain(queue), head);
}

}  // namespace
