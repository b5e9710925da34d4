#include "common/buffer.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <cerrno>
#include <cstring>
#include <string>

#include "common/fd.hpp"
#include "socket_pair.hpp"

namespace {

using test_support::SocketPair;

using test_support::make_socket_pair;

void write_all(int fd, std::string_view bytes) {
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
}

TEST(Buffer, StartsEmpty) {
  common::Buffer buffer;
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.size(), 0u);
  EXPECT_EQ(buffer.readable(), "");
}

TEST(Buffer, AppendThenConsume) {
  common::Buffer buffer;
  buffer.append("hello ");
  buffer.append("world");
  EXPECT_EQ(buffer.readable(), "hello world");
  EXPECT_EQ(buffer.size(), 11u);
  buffer.consume(6);
  EXPECT_EQ(buffer.readable(), "world");
  EXPECT_EQ(buffer.size(), 5u);
  EXPECT_FALSE(buffer.empty());
  buffer.consume(5);
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.readable(), "");
}

TEST(Buffer, ConsumeMoreThanSizeEmptiesTheBuffer) {
  common::Buffer buffer;
  buffer.append("abc");
  buffer.consume(100);
  EXPECT_TRUE(buffer.empty());
  buffer.append("d");
  EXPECT_EQ(buffer.readable(), "d");
}

TEST(Buffer, ConsumingEverythingRestartsAtTheFront) {
  common::Buffer buffer;
  buffer.append("abcdef");
  const char* front = buffer.readable().data();
  buffer.consume(6);
  buffer.append("x");
  EXPECT_EQ(buffer.readable().data(), front);
}

TEST(Buffer, ClearDiscardsEverything) {
  common::Buffer buffer;
  buffer.append("abc");
  buffer.clear();
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.size(), 0u);
}

TEST(Buffer, WritableThenCommit) {
  common::Buffer buffer;
  buffer.append("ab");
  std::span<char> space = buffer.writable(4);
  ASSERT_GE(space.size(), 4u);
  std::memcpy(space.data(), "cdefXXXX", 4);
  EXPECT_EQ(buffer.readable(), "ab");  // nothing is readable before commit()
  buffer.commit(4);
  EXPECT_EQ(buffer.readable(), "abcdef");
}

TEST(Buffer, WritableStartsRightAfterTheContent) {
  common::Buffer buffer;
  buffer.append("123");
  const std::span<char> space = buffer.writable(1);
  EXPECT_EQ(space.data(), buffer.readable().data() + 3);
}

TEST(Buffer, CompactionKeepsTheContentWithoutGrowing) {
  common::Buffer buffer;
  const std::span<char> first = buffer.writable(100);
  const std::size_t capacity = first.size();
  const char* base = first.data();
  ASSERT_GE(capacity, 100u);
  const std::string content(capacity, 'a');
  buffer.append(content);  // full
  buffer.consume(capacity - 10);
  // 10 bytes are left at the end; asking for room makes the buffer slide them to the front.
  const std::span<char> space = buffer.writable(capacity - 10);
  EXPECT_EQ(buffer.readable(), std::string(10, 'a'));
  EXPECT_EQ(buffer.readable().data(), base);  // moved to the front, not reallocated
  EXPECT_EQ(space.data(), base + 10);
  EXPECT_EQ(space.size(), capacity - 10);
}

TEST(Buffer, CompactionKeepsDistinctBytesInOrder) {
  common::Buffer buffer;
  std::string all;
  for (int i = 0; i < 256; ++i) {
    all += static_cast<char>(i);
  }
  buffer.append(all);
  buffer.consume(200);
  buffer.append(std::string(5000, 'z'));  // forces compaction and growth
  EXPECT_EQ(buffer.readable(), all.substr(200) + std::string(5000, 'z'));
}

TEST(Buffer, GrowsToHoldLargeAppends) {
  common::Buffer buffer;
  std::string expected;
  for (int i = 0; i < 1000; ++i) {
    const std::string piece = std::to_string(i) + ",";
    buffer.append(piece);
    expected += piece;
  }
  buffer.append(std::string(1 << 20, 'q'));
  expected += std::string(1 << 20, 'q');
  EXPECT_EQ(buffer.size(), expected.size());
  EXPECT_EQ(buffer.readable(), expected);
  EXPECT_GE(buffer.writable(1 << 20).size(), std::size_t{1} << 20);
  EXPECT_EQ(buffer.readable(), expected);  // growing keeps the content
}

TEST(Buffer, AppendEmptyIsANoOp) {
  common::Buffer buffer;
  buffer.append("");
  EXPECT_TRUE(buffer.empty());
}

TEST(Buffer, ReadFromAPipe) {
  int fds[2] = {-1, -1};
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  common::Fd read_end(fds[0]);
  common::Fd write_end(fds[1]);
  write_all(write_end.get(), "GET / HTTP/1.1\r\n");
  common::Buffer buffer;
  buffer.append("x");
  EXPECT_EQ(buffer.read_from(read_end.get()), 16);
  EXPECT_EQ(buffer.readable(), "xGET / HTTP/1.1\r\n");
  write_end.reset();
  EXPECT_EQ(buffer.read_from(read_end.get()), 0);  // end of stream
  EXPECT_EQ(buffer.size(), 17u);
}

TEST(Buffer, ReadFromASocketReadsAtMostTheSpaceAndAppends) {
  SocketPair pair = make_socket_pair();
  write_all(pair.a.get(), std::string(100, 'r'));
  common::Buffer buffer;
  const ssize_t n = buffer.read_from(pair.b.get(), 16);
  EXPECT_GE(n, 16);
  EXPECT_LE(n, 100);
  ssize_t total = n;
  while (total < 100) {
    const ssize_t more = buffer.read_from(pair.b.get(), 16);
    ASSERT_GT(more, 0);
    total += more;
  }
  EXPECT_EQ(buffer.readable(), std::string(100, 'r'));
}

TEST(Buffer, ReadFromAnEmptyNonBlockingSocketIsEagain) {
  SocketPair pair = make_socket_pair();
  common::Buffer buffer;
  buffer.append("kept");
  errno = 0;
  EXPECT_EQ(buffer.read_from(pair.b.get()), -1);
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << std::strerror(errno);
  EXPECT_EQ(buffer.readable(), "kept");
}

TEST(Buffer, ReadFromAClosedPeerIsZero) {
  SocketPair pair = make_socket_pair();
  pair.a.reset();
  common::Buffer buffer;
  EXPECT_EQ(buffer.read_from(pair.b.get()), 0);
  EXPECT_TRUE(buffer.empty());
}

TEST(Buffer, ReadFromABadDescriptorIsEbadf) {
  common::Buffer buffer;
  errno = 0;
  EXPECT_EQ(buffer.read_from(-1), -1);
  EXPECT_EQ(errno, EBADF);
}

}  // namespace
