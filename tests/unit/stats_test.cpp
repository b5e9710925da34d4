#include "common/stats.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace {

// Forks a child that adds one to stats.requests @p times times, and waits for it.
void increment_in_child(common::Stats& stats, int times) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (int i = 0; i < times; ++i) {
      stats.requests.fetch_add(1, std::memory_order_relaxed);
    }
    ::_exit(stats.requests.load() >= static_cast<std::uint64_t>(times) ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
}

TEST(Stats, StartsAtZero) {
  const common::Stats stats;
  EXPECT_EQ(stats.requests.load(), 0u);
  EXPECT_EQ(stats.connections.load(), 0u);
  EXPECT_EQ(stats.open_connections.load(), 0);
}

TEST(ConnectionGuard, CountsAcceptedAndOpenConnections) {
  common::Stats stats;
  {
    const common::ConnectionGuard first(stats);
    EXPECT_EQ(stats.connections.load(), 1u);
    EXPECT_EQ(stats.open_connections.load(), 1);
    {
      const common::ConnectionGuard second(stats);
      EXPECT_EQ(stats.connections.load(), 2u);
      EXPECT_EQ(stats.open_connections.load(), 2);
    }
    EXPECT_EQ(stats.connections.load(), 2u);
    EXPECT_EQ(stats.open_connections.load(), 1);
  }
  EXPECT_EQ(stats.connections.load(), 2u);
  EXPECT_EQ(stats.open_connections.load(), 0);
  EXPECT_EQ(stats.requests.load(), 0u);
}

TEST(SharedStats, StartsAtZero) {
  const common::Stats& stats = common::create_shared_stats();
  EXPECT_EQ(stats.requests.load(), 0u);
  EXPECT_EQ(stats.connections.load(), 0u);
  EXPECT_EQ(stats.open_connections.load(), 0);
}

TEST(SharedStats, EachCallMakesNewCounters) {
  common::Stats& a = common::create_shared_stats();
  common::Stats& b = common::create_shared_stats();
  EXPECT_NE(&a, &b);
  a.requests = 5;
  EXPECT_EQ(b.requests.load(), 0u);
}

TEST(SharedStats, ChildIncrementsAreSeenByTheParent) {
  common::Stats& stats = common::create_shared_stats();
  increment_in_child(stats, 1000);
  EXPECT_EQ(stats.requests.load(), 1000u);
}

TEST(SharedStats, ConcurrentChildrenDoNotLoseIncrements) {
  common::Stats& stats = common::create_shared_stats();
  constexpr int kChildren = 4;
  constexpr int kEach = 100000;
  pid_t children[kChildren];
  for (pid_t& child : children) {
    child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      for (int i = 0; i < kEach; ++i) {
        stats.requests.fetch_add(1, std::memory_order_relaxed);
        const common::ConnectionGuard guard(stats);
      }
      ::_exit(0);
    }
  }
  for (pid_t child : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  EXPECT_EQ(stats.requests.load(), static_cast<std::uint64_t>(kChildren * kEach));
  EXPECT_EQ(stats.connections.load(), static_cast<std::uint64_t>(kChildren * kEach));
  EXPECT_EQ(stats.open_connections.load(), 0);
}

// The lesson of the forking chapter: an ordinary object is copied into the child on its first
// write, so the parent never sees the child's counts.
TEST(SharedStats, PlainStatsAreNotShared) {
  common::Stats stats;
  increment_in_child(stats, 1000);
  EXPECT_EQ(stats.requests.load(), 0u);
}

}  // namespace
