// SPDX-License-Identifier: Apache-2.0
// The clock every timer, deadline and wait in Mumba reads, so that a test can put a
// fake one behind the supervisor, the distribution loops, p2p waits and the SDK's
// retry loops and drive them without sleeping (platform/fake_clock.h).
//
// Header-only: the SDK, which links nothing internal, uses it too.
#pragma once

#include <chrono>
#include <thread>

namespace mumba {

// Thread-safe: every method may be called from any thread.
class Clock {
 public:
  using duration = std::chrono::steady_clock::duration;
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;

  // The current time; never goes backwards.
  virtual time_point Now() const = 0;
  // Blocks the calling thread until Now() has advanced by at least `d`.
  virtual void SleepFor(duration d) const = 0;

  // The monotonic clock of the machine (std::chrono::steady_clock). Lives forever.
  static const Clock& Real();
};

namespace platform_internal {
class RealClock final : public Clock {
 public:
  time_point Now() const override { return std::chrono::steady_clock::now(); }
  void SleepFor(duration d) const override { std::this_thread::sleep_for(d); }
};
}  // namespace platform_internal

inline const Clock& Clock::Real() {
  static const platform_internal::RealClock clock;
  return clock;
}

}  // namespace mumba
