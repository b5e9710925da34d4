#include "chapters/04-polling/task_queue.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <system_error>

namespace polling {

TaskQueue::TaskQueue() : wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!wake_) {
    throw std::system_error(errno, std::generic_category(), "eventfd");
  }
}

// [post]
void TaskQueue::post(Task task) {
  bool was_empty = false;
  {
    const std::lock_guard lock(mutex_);
    was_empty = tasks_.empty();
    tasks_.push_back(std::move(task));
  }
  if (was_empty) {
    const std::uint64_t one = 1;
    static_cast<void>(::write(wake_.get(), &one, sizeof one));  // EAGAIN: it is readable already
  }
}

// The eventfd is read *before* the tasks are taken: a post after the swap then writes it again,
// so no task is left behind without a wake-up.
void TaskQueue::run_all() {
  std::uint64_t count = 0;
  static_cast<void>(::read(wake_.get(), &count, sizeof count));
  std::vector<Task> tasks;
  {
    const std::lock_guard lock(mutex_);
    tasks.swap(tasks_);
  }
  for (Task& task : tasks) {
    task();
  }
}
// [post]

}  // namespace polling
