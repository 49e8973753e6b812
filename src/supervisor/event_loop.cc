// SPDX-License-Identifier: Apache-2.0
#include "supervisor/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <cstdio>
#include <cstdlib>

namespace mumba {

void LoopQueues::Push(EventLoop::Task task) {
  std::lock_guard lock(tasks_mu_);
  tasks_.push_back(std::move(task));
}

std::deque<EventLoop::Task> LoopQueues::TakeTasks() {
  std::deque<EventLoop::Task> tasks;
  std::lock_guard lock(tasks_mu_);
  tasks.swap(tasks_);
  return tasks;
}

void LoopQueues::AddTimer(Clock::time_point at, EventLoop::Task task) {
  timers_.emplace(at, std::move(task));
}

std::optional<Clock::time_point> LoopQueues::NextTimer() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first;
}

int LoopQueues::RunDueTimers(Clock::time_point now) {
  int ran = 0;
  while (!timers_.empty() && timers_.begin()->first <= now) {
    auto task = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    task();
    ++ran;
  }
  return ran;
}

EpollEventLoop::EpollEventLoop(const Clock& clock)
    : clock_(clock),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!epoll_ || !wake_) {
    std::fprintf(stderr, "mumba: the supervisor cannot make its event loop (epoll/eventfd)\n");
    std::abort();
  }
  Watch(wake_.get(), [this] {
    uint64_t v;
    (void)!::read(wake_.get(), &v, sizeof v);
  });
  thread_ = std::thread([this] { Run(); });
}

EpollEventLoop::~EpollEventLoop() { Quit(); }

void EpollEventLoop::Quit() {
  if (!thread_.joinable()) return;
  Post([this] { running_ = false; });
  thread_.join();
}

void EpollEventLoop::Post(Task task) {
  queues_.Push(std::move(task));
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

void EpollEventLoop::Watch(int fd, Task on_readable) {
  handlers_[fd] = std::move(on_readable);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
}

void EpollEventLoop::Unwatch(int fd) {
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  handlers_.erase(fd);
}

void EpollEventLoop::After(Clock::duration delay, Task task) {
  queues_.AddTimer(clock_.Now() + delay, std::move(task));
}

void EpollEventLoop::Run() {
  while (running_) {
    int timeout = -1;
    if (auto next = queues_.NextTimer()) {
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(*next - clock_.Now());
      timeout = static_cast<int>(std::max<int64_t>(0, wait.count()));
    }
    epoll_event events[16];
    int n = ::epoll_wait(epoll_.get(), events, 16, timeout);
    for (int i = 0; i < n; ++i) {
      auto it = handlers_.find(events[i].data.fd);
      if (it != handlers_.end()) {
        auto handler = it->second;  // The handler may unwatch itself.
        handler();
      }
    }
    queues_.RunDueTimers(clock_.Now());
    for (auto& task : queues_.TakeTasks()) task();
  }
}

}  // namespace mumba
