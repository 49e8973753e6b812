// SPDX-License-Identifier: Apache-2.0
#include "supervisor/manual_event_loop.h"

#include <poll.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace mumba {

int ManualEventLoop::RunUntilIdle() {
  int total = 0;
  for (int round = 0;; ++round) {
    if (round == 1'000'000) {
      std::fprintf(stderr, "ManualEventLoop: still busy after a million rounds\n");
      std::abort();
    }
    int ran = RunReadyHandlers();
    ran += queues_.RunDueTimers(clock_.Now());
    for (auto& task : queues_.TakeTasks()) {
      task();
      ++ran;
    }
    if (ran == 0) return total;
    total += ran;
  }
}

void ManualEventLoop::AdvanceBy(Clock::duration d) {
  const Clock::time_point until = clock_.Now() + d;
  RunUntilIdle();
  for (;;) {
    auto next = queues_.NextTimer();
    if (!next || *next > until) break;
    if (*next > clock_.Now()) clock_.Advance(*next - clock_.Now());
    RunUntilIdle();
  }
  if (until > clock_.Now()) clock_.Advance(until - clock_.Now());
  RunUntilIdle();
}

int ManualEventLoop::RunReadyHandlers() {
  std::vector<pollfd> fds;
  for (const auto& [fd, handler] : handlers_) fds.push_back({fd, POLLIN, 0});
  if (fds.empty() || ::poll(fds.data(), fds.size(), 0) <= 0) return 0;
  int ran = 0;
  for (const pollfd& p : fds) {
    if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    auto it = handlers_.find(p.fd);
    if (it == handlers_.end()) continue;  // An earlier handler unwatched it.
    auto handler = it->second;  // The handler may unwatch itself.
    handler();
    ++ran;
  }
  return ran;
}

}  // namespace mumba
