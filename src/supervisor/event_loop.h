// SPDX-License-Identifier: Apache-2.0
// The supervisor's event loop: one thread that owns every child, woken by readable
// descriptors (pidfds, output pipes), timers and tasks posted from other threads.
// An interface, so that tests run the daemon state machine on a loop they turn by
// hand (manual_event_loop.h) on a fake clock, and the real one (EpollEventLoop)
// runs it on its own thread.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "platform/clock.h"
#include "platform/unique_fd.h"

namespace mumba {

class EventLoop {
 public:
  using Task = std::function<void()>;
  virtual ~EventLoop() = default;

  // Runs `task` on the loop thread soon, after the tasks posted before it. The only
  // method that may be called from any thread.
  virtual void Post(Task task) = 0;

  // Loop thread only: runs `on_readable` each time `fd` is readable (or hung up),
  // until Unwatch. `fd` stays the caller's; it must be unwatched before it is
  // closed. A handler may unwatch its own descriptor.
  virtual void Watch(int fd, Task on_readable) = 0;
  virtual void Unwatch(int fd) = 0;

  // Loop thread only: runs `task` once, `delay` after now on clock().
  virtual void After(Clock::duration delay, Task task) = 0;

  // The clock every timer of this loop reads.
  virtual const Clock& clock() const = 0;
};

// What both loops keep: posted tasks (locked, as any thread posts) and timers
// (loop thread only). Not an interface; a part.
class LoopQueues {
 public:
  // Any thread.
  void Push(EventLoop::Task task);
  // Any thread: the tasks posted so far, in order, leaving none.
  std::deque<EventLoop::Task> TakeTasks();

  void AddTimer(Clock::time_point at, EventLoop::Task task);
  // The earliest timer's time, if there is one.
  std::optional<Clock::time_point> NextTimer() const;
  // Runs, in time order, every timer due at or before `now`; returns how many ran.
  int RunDueTimers(Clock::time_point now);

 private:
  std::mutex tasks_mu_;
  std::deque<EventLoop::Task> tasks_;
  std::multimap<Clock::time_point, EventLoop::Task> timers_;
};

// The real loop: epoll on a thread of its own, started by the constructor.
class EpollEventLoop final : public EventLoop {
 public:
  // `clock` must outlive the loop. Aborts if the system has no epoll or eventfd
  // left to give (nothing can be supervised then).
  explicit EpollEventLoop(const Clock& clock);
  // Quits if Quit was not called.
  ~EpollEventLoop() override;

  // Runs the tasks posted before it, then ends the thread; returns once it has.
  // Tasks posted afterwards never run. Must not be called from the loop thread;
  // calling it again does nothing.
  void Quit();

  void Post(Task task) override;
  void Watch(int fd, Task on_readable) override;
  void Unwatch(int fd) override;
  void After(Clock::duration delay, Task task) override;
  const Clock& clock() const override { return clock_; }

 private:
  void Run();

  const Clock& clock_;
  UniqueFd epoll_;
  UniqueFd wake_;
  bool running_ = true;  // Loop thread only.
  LoopQueues queues_;
  std::map<int, Task> handlers_;
  std::thread thread_;
};

}  // namespace mumba
