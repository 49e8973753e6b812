// SPDX-License-Identifier: Apache-2.0
// When to restart a daemon that exited on its own, and when to give up.
#pragma once

#include <chrono>
#include <deque>
#include <optional>

#include "platform/clock.h"

namespace mumba {

struct RestartPolicyOptions {
  // Give up (state "failed") after this many failures within `window`.
  int max_failures = 5;
  std::chrono::milliseconds window{60'000};
  // The first restart waits this long; each further one waits twice as long.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{10'000};
  // A daemon that ran at least this long before exiting resets the backoff and the failure count.
  std::chrono::milliseconds stable_after{10'000};
};

class RestartPolicy {
 public:
  explicit RestartPolicy(RestartPolicyOptions options = {}) : options_(options) {}

  // Records a failure at `now` of a daemon started at `started`. Returns how long
  // to wait before restarting it, or nullopt to give up.
  std::optional<std::chrono::milliseconds> OnFailure(Clock::time_point now,
                                                     Clock::time_point started);

  // Forgets past failures (a user started the app again).
  void Reset();

  int failures_in_window() const { return static_cast<int>(failures_.size()); }

 private:
  RestartPolicyOptions options_;
  std::deque<Clock::time_point> failures_;
  std::chrono::milliseconds next_backoff_{0};
};

}  // namespace mumba
