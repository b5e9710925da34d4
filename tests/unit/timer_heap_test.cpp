#include "common/timer_heap.hpp"

#include <gtest/gtest.h>
#include <chrono>
#include <vector>

namespace {

using namespace std::chrono_literals;
using common::Clock;
using common::Deadline;
using common::TimerHeap;
using common::TimerSlot;

// The (fd, serial) of each entry that expire() pops at `now`, in the order popped.
std::vector<int> popped(TimerHeap& heap, Deadline now) {
  std::vector<int> fds;
  heap.expire(now, [&](const TimerHeap::Entry& entry) { fds.push_back(entry.fd); });
  return fds;
}

TEST(TimerHeap, EmptyHasNoDeadline) {
  const TimerHeap heap;
  EXPECT_EQ(heap.next(), common::kNoDeadline);
  EXPECT_EQ(heap.size(), 0u);
}

TEST(TimerHeap, PopsDueEntriesInDeadlineOrder) {
  const Deadline t0 = Clock::now();
  TimerHeap heap;
  TimerSlot a{t0 + 30ms}, b{t0 + 10ms}, c{t0 + 20ms}, later{t0 + 1s};
  heap.schedule(a, 1, 1);
  heap.schedule(b, 2, 1);
  heap.schedule(c, 3, 1);
  heap.schedule(later, 4, 1);
  EXPECT_EQ(heap.next(), t0 + 10ms);
  EXPECT_EQ(popped(heap, t0 + 30ms), (std::vector<int>{2, 3, 1}));
  EXPECT_EQ(heap.next(), t0 + 1s);  // not due: left in the heap
  EXPECT_EQ(heap.size(), 1u);
}

TEST(TimerHeap, ADeadlineThatMovesLaterPushesNothing) {
  // The lazy rule: a connection's deadline moves later on every request, and that costs no heap
  // operation; only an earlier deadline than the one queued adds an entry.
  const Deadline t0 = Clock::now();
  TimerHeap heap;
  TimerSlot slot{t0 + 5s};
  heap.schedule(slot, 7, 1);
  for (int i = 1; i <= 100; ++i) {
    slot.deadline = t0 + 5s + i * 1ms;
    heap.schedule(slot, 7, 1);
  }
  EXPECT_EQ(heap.size(), 1u);
  EXPECT_EQ(slot.queued, t0 + 5s);
  slot.deadline = t0 + 1s;  // earlier: a closing connection's linger, say
  heap.schedule(slot, 7, 1);
  EXPECT_EQ(heap.size(), 2u);
  EXPECT_EQ(slot.queued, t0 + 1s);
  EXPECT_EQ(heap.next(), t0 + 1s);
}

TEST(TimerHeap, AVisitorMayScheduleAgainAndAPastEntryPopsInTheSameCall) {
  const Deadline t0 = Clock::now();
  TimerHeap heap;
  TimerSlot slot{t0 + 10ms};
  heap.schedule(slot, 5, 9);
  int visits = 0;
  heap.expire(t0 + 20ms, [&](const TimerHeap::Entry& entry) {
    EXPECT_EQ(entry.fd, 5);
    EXPECT_EQ(entry.serial, 9u);
    slot.queued = common::kNoDeadline;  // what a loop does when it takes an entry
    if (++visits == 1) {
      slot.deadline = t0 + 15ms;  // still in the past at t0 + 20 ms
      heap.schedule(slot, entry.fd, entry.serial);
    }
  });
  EXPECT_EQ(visits, 2);
  EXPECT_EQ(heap.size(), 0u);
}

TEST(TimerHeap, StaleEntriesAreTheOwnersToRecognise) {
  // The heap does not know that a connection closed: its entry still pops, carrying the serial,
  // and the loop compares it with the connection now on that descriptor.
  const Deadline t0 = Clock::now();
  TimerHeap heap;
  TimerSlot old_connection{t0 + 10ms};
  heap.schedule(old_connection, 4, 1);
  TimerSlot new_connection{t0 + 20ms};  // the same descriptor, reused
  heap.schedule(new_connection, 4, 2);
  std::vector<std::uint64_t> serials;
  heap.expire(t0 + 1s, [&](const TimerHeap::Entry& entry) { serials.push_back(entry.serial); });
  EXPECT_EQ(serials, (std::vector<std::uint64_t>{1, 2}));
}

TEST(MillisecondsUntil, RoundsUpAndClamps) {
  EXPECT_EQ(common::milliseconds_until(common::kNoDeadline), -1);
  EXPECT_EQ(common::milliseconds_until(Clock::now() - 1s), 0);
  const int ms = common::milliseconds_until(Clock::now() + 1500us);
  EXPECT_GE(ms, 1);  // never wakes before the deadline
  EXPECT_LE(ms, 2);
}

}  // namespace
