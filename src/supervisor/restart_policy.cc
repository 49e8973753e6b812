// SPDX-License-Identifier: Apache-2.0
#include "supervisor/restart_policy.h"

#include <algorithm>

namespace mumba {
std::optional<std::chrono::milliseconds> RestartPolicy::OnFailure(Clock::time_point now,
                                                                  Clock::time_point started) {
  if (now - started >= options_.stable_after) {
    // It was healthy for a while: earlier crashes say nothing about this one, so
    // it starts again with the shortest backoff and the full allowance of failures.
    failures_.clear();
    next_backoff_ = std::chrono::milliseconds(0);
  }
  failures_.push_back(now);
  while (!failures_.empty() && now - failures_.front() > options_.window) failures_.pop_front();
  if (static_cast<int>(failures_.size()) >= options_.max_failures) return std::nullopt;
  next_backoff_ = next_backoff_.count() == 0 ? options_.initial_backoff
                                             : std::min(next_backoff_ * 2, options_.max_backoff);
  return next_backoff_;
}

void RestartPolicy::Reset() {
  failures_.clear();
  next_backoff_ = std::chrono::milliseconds(0);
}

}  // namespace mumba
