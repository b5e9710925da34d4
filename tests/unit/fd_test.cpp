#include "common/fd.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace {

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

TEST(Fd, ClosesOnDestruction) {
  int raw = -1;
  {
    common::Fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    raw = fd.get();
    ASSERT_TRUE(is_open(raw));
  }
  EXPECT_FALSE(is_open(raw));
}

TEST(Fd, MoveLeavesMinusOneBehind) {
  common::Fd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int raw = a.get();
  common::Fd b(std::move(a));
  EXPECT_EQ(a.get(), -1);  // NOLINT(bugprone-use-after-move): the moved-from state is the contract
  EXPECT_EQ(b.get(), raw);
  EXPECT_TRUE(is_open(raw));
}

TEST(Fd, MoveAssignmentClosesTheOldDescriptor) {
  common::Fd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  common::Fd b(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int old_b = b.get();
  const int raw_a = a.get();
  b = std::move(a);
  EXPECT_FALSE(is_open(old_b));
  EXPECT_EQ(b.get(), raw_a);
}

TEST(Fd, ReleaseGivesUpOwnership) {
  int raw = -1;
  {
    common::Fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    raw = fd.release();
    EXPECT_FALSE(fd.valid());
  }
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
}

TEST(Fd, NegativeMeansEmpty) {
  common::Fd fd(-5);
  EXPECT_FALSE(fd);
  EXPECT_EQ(fd.get(), -1);
}

}  // namespace
