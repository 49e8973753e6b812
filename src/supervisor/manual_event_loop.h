// SPDX-License-Identifier: Apache-2.0
// An EventLoop that a test turns by hand on a fake clock: nothing runs until the
// test says so, and time moves only when the test moves it, so a test of the
// daemon state machine is deterministic and never sleeps.
#pragma once

#include <map>

#include "platform/fake_clock.h"
#include "supervisor/event_loop.h"

namespace mumba {

// Post may be called from any thread; everything else from the thread that turns
// the loop (the test's).
class ManualEventLoop final : public EventLoop {
 public:
  // `clock` must outlive the loop.
  explicit ManualEventLoop(FakeClock& clock) : clock_(clock) {}

  // Runs, on the calling thread, whatever is ready at the clock's current time:
  // handlers of watched descriptors that are readable now (poll with no wait),
  // timers that are due, and posted tasks; again and again until nothing is
  // ready. Returns how many handlers, timers and tasks ran. Aborts after a
  // million rounds: a loop that never goes idle is a bug the test must show.
  int RunUntilIdle();

  // Moves the clock forward by `d`, stopping at each timer due on the way so that
  // it runs at its own time (and what it starts runs at that time too), and runs
  // until idle at the end.
  void AdvanceBy(Clock::duration d);

  void Post(Task task) override { queues_.Push(std::move(task)); }
  void Watch(int fd, Task on_readable) override { handlers_[fd] = std::move(on_readable); }
  void Unwatch(int fd) override { handlers_.erase(fd); }
  void After(Clock::duration delay, Task task) override {
    queues_.AddTimer(clock_.Now() + delay, std::move(task));
  }
  const Clock& clock() const override { return clock_; }

 private:
  int RunReadyHandlers();

  FakeClock& clock_;
  LoopQueues queues_;
  std::map<int, Task> handlers_;
};

}  // namespace mumba
