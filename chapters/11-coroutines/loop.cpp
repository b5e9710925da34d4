#include "chapters/11-coroutines/loop.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include "common/log.hpp"
#include "common/shutdown.hpp"

namespace coro {
namespace {

using common::Clock;
using common::Deadline;

constexpr int kMaxEvents = 256;
constexpr std::uint32_t kShutdownSerial = 0;  // registrations count from 1

// An event carries the descriptor and the serial of its registration, never a pointer: a frame is
// reached through the loop's slot, which the frame's end clears.
std::uint64_t tag(int fd, std::uint32_t serial) noexcept {
  return static_cast<std::uint64_t>(serial) << 32 | static_cast<std::uint32_t>(fd);
}

[[noreturn]] void fail(const char* call) {
  throw std::system_error(errno, std::generic_category(), call);
}

}  // namespace

Loop::Loop() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (!epoll_) {
    fail("epoll_create1");
  }
  epoll_event event{};
  event.events = EPOLLIN;  // level-triggered: readable for good once shutdown is requested
  event.data.u64 = tag(common::shutdown_fd(), kShutdownSerial);
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, common::shutdown_fd(), &event) < 0) {
    fail("epoll_ctl");
  }
}

// [registration-impl]
Registration::Registration(Loop& loop, common::Fd fd) : loop_(loop), fd_(std::move(fd)) {
  loop_.watch(fd_.get());
}

Registration::~Registration() {
  loop_.forget(fd_.get());
}  // ~Fd closes the descriptor, and epoll drops it

void Loop::watch(int fd) {
  if (static_cast<std::size_t>(fd) >= slots_.size()) {
    slots_.resize(static_cast<std::size_t>(fd) + 1);
  }
  Slot& slot = slots_[static_cast<std::size_t>(fd)];
  slot = Slot{};
  if (++next_serial_ == kShutdownSerial) {
    ++next_serial_;  // after 2^32 registrations: 0 stays the shutdown eventfd's
  }
  slot.serial = next_serial_;
  slot.registered = true;
  ++live_;
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;  // once, for every wait to come
  event.data.u64 = tag(fd, slot.serial);
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) < 0) {
    // No event will come for it: only its deadlines resume its frame, and it times out.
    common::log_warn("epoll_ctl: %s", std::strerror(errno));
  }
}

void Loop::forget(int fd) noexcept {
  Slot& slot = slots_[static_cast<std::size_t>(fd)];
  slot.waiter = {};
  slot.registered = false;
  --live_;
}
// [registration-impl]

// [suspend]
bool Awaiter::await_suspend(std::coroutine_handle<> frame) noexcept {
  return loop_.suspend(fd_, events_, deadline_, frame);
}

Woken Awaiter::await_resume() const noexcept {
  return loop_.slots_[static_cast<std::size_t>(fd_)].woken;
}

bool Loop::suspend(int fd, std::uint32_t events, Deadline deadline,
                   std::coroutine_handle<> frame) noexcept {
  Slot& slot = slots_[static_cast<std::size_t>(fd)];
  if (stopping_ && !slot.told_shutdown) {
    slot.told_shutdown = true;  // shutdown began before this wait: say so now, without waiting
    slot.woken = {common::Wait::kShutdown, std::exchange(slot.hung_up, false)};
    return false;
  }
  slot.waiter = frame;
  slot.events = events;
  // [exercise:resume-at-deadline solution]
  slot.timer.deadline = deadline;
  timers_.schedule(slot.timer, fd, slot.serial);  // an entry only if earlier than any queued
  // [exercise:resume-at-deadline start]
  // // The deadline is the frame's business: the loop only watches the descriptor.
  // static_cast<void>(deadline);
  // [exercise:resume-at-deadline end]
  return true;
}

// The frame's handle leaves the slot before it runs: while it runs, and after it is gone, no
// event can reach it.
void Loop::wake(Slot& slot, common::Wait why) {
  slot.woken = {why, std::exchange(slot.hung_up, false)};
  std::exchange(slot.waiter, {}).resume();
}
// [suspend]

// [loop]
void Loop::run() {
  std::array<epoll_event, kMaxEvents> events{};
  while (!stopping_ || live_ > 0) {
    const int ready = ::epoll_wait(epoll_.get(), events.data(), kMaxEvents,
                                   common::milliseconds_until(timers_.next()));
    if (ready < 0 && errno != EINTR) {
      fail("epoll_wait");
    }
    for (int i = 0; i < ready; ++i) {
      dispatch(events[static_cast<std::size_t>(i)]);
    }
    expire_timers();
  }
}

void Loop::dispatch(const epoll_event& event) {
  const auto fd = static_cast<std::size_t>(event.data.u64 & 0xffffffffu);
  const auto serial = static_cast<std::uint32_t>(event.data.u64 >> 32);
  if (serial == kShutdownSerial) {
    return begin_shutdown();
  }
  if (fd >= slots_.size() || slots_[fd].serial != serial || !slots_[fd].registered) {
    return;  // an earlier registration of this number: its frame is gone
  }
  Slot& slot = slots_[fd];
  slot.hung_up = slot.hung_up || (event.events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
  if (slot.waiter && (event.events & (slot.events | EPOLLHUP | EPOLLERR)) != 0) {
    wake(slot, common::Wait::kReady);
  }  // else nobody waits for this: the frame's next try finds what the edge announced
}

// A min-heap with lazy deletion (common/timer_heap.hpp), as in chapter 04: an entry for a gone
// registration, or for a deadline that has since moved, is skipped or pushed again.
void Loop::expire_timers() {
  const Deadline now = Clock::now();
  timers_.expire(now, [this, now](const common::TimerHeap::Entry& entry) {
    Slot& slot = slots_[static_cast<std::size_t>(entry.fd)];
    if (!slot.registered || slot.serial != entry.serial || slot.timer.queued != entry.when) {
      return;
    }
    slot.timer.queued = common::kNoDeadline;
    if (!slot.waiter) {
      return;  // it runs: its next wait schedules its next deadline
    }
    if (slot.timer.deadline <= now) {
      wake(slot, common::Wait::kTimeout);
    } else {
      timers_.schedule(slot.timer, entry.fd, entry.serial);  // the deadline moved later
    }
  });
}
// [loop]

// [shutdown]
// Every suspended frame is resumed once with kShutdown: a frame that nobody resumes is only
// memory, and it would keep its client, its descriptor and this loop alive for good.
void Loop::begin_shutdown() {
  stopping_ = true;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, common::shutdown_fd(), nullptr);  // readable for good
  for (std::size_t fd = 0; fd < slots_.size(); ++fd) {
    // [exercise:resume-at-shutdown solution]
    if (slots_[fd].waiter && !slots_[fd].told_shutdown) {
      slots_[fd].told_shutdown = true;
      wake(slots_[fd], common::Wait::kShutdown);
    }
    // [exercise:resume-at-shutdown start]
    // // Nothing: each frame finds out about the shutdown when it next wakes up.
    // [exercise:resume-at-shutdown end]
  }
}
// [shutdown]

}  // namespace coro
