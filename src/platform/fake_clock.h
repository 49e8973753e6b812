// SPDX-License-Identifier: Apache-2.0
// A Clock for tests: time stands still until the test advances it, and SleepFor
// returns only once another thread has advanced time far enough. Nothing sleeps.
#pragma once

#include <condition_variable>
#include <mutex>

#include "platform/clock.h"

namespace mumba {

// Thread-safe.
class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary but fixed point, far from the epoch so that
  // subtracting an hour never underflows.
  FakeClock() : now_(time_point() + std::chrono::hours(24)) {}

  time_point Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }

  // Blocks until Advance has moved time past now + d.
  void SleepFor(duration d) const override {
    std::unique_lock lock(mu_);
    const time_point until = now_ + d;
    ++sleepers_;
    advanced_.notify_all();
    advanced_.wait(lock, [&] { return now_ >= until; });
    --sleepers_;
  }

  void Advance(duration d) {
    {
      std::lock_guard lock(mu_);
      now_ += d;
    }
    advanced_.notify_all();
  }

  // Blocks until at least `n` threads are inside SleepFor: lets a test advance
  // time only once the code under test is waiting on it.
  void AwaitSleepers(int n) const {
    std::unique_lock lock(mu_);
    advanced_.wait(lock, [&] { return sleepers_ >= n; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable advanced_;
  time_point now_;
  mutable int sleepers_ = 0;
};

}  // namespace mumba
