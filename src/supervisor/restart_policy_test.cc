// SPDX-License-Identifier: Apache-2.0
// The restart policy on a fake clock: how long a crashed daemon waits, when the
// supervisor gives up, and what makes it forgive.
#include "supervisor/restart_policy.h"
#include "platform/fake_clock.h"

#include <gtest/gtest.h>

#include <vector>

namespace mumba {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Drives a policy like the supervisor does: the daemon starts, runs for
// `ran_for`, exits; if the policy restarts it, the clock moves on by the backoff.
class Daemon {
 public:
  Daemon(RestartPolicy& policy, FakeClock& clock) : policy_(policy), clock_(clock) {}

  std::optional<milliseconds> RunAndCrash(milliseconds ran_for) {
    auto started = clock_.Now();
    clock_.Advance(ran_for);
    auto delay = policy_.OnFailure(clock_.Now(), started);
    if (delay) clock_.Advance(*delay);
    return delay;
  }

 private:
  RestartPolicy& policy_;
  FakeClock& clock_;
};

constexpr milliseconds kQuick{50};

TEST(RestartPolicyTest, BackoffStartsAt100msAndDoublesUpToTheCap) {
  RestartPolicyOptions options;
  options.max_failures = 1000;  // Only the backoff is under test here.
  RestartPolicy policy(options);
  FakeClock clock;
  Daemon daemon(policy, clock);
  std::vector<long> delays;
  for (int i = 0; i < 10; ++i) delays.push_back(daemon.RunAndCrash(kQuick).value().count());
  EXPECT_EQ(delays, (std::vector<long>{100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000}));
}

TEST(RestartPolicyTest, DefaultsAreTheDocumentedOnes) {
  RestartPolicyOptions o;
  EXPECT_EQ(o.initial_backoff, milliseconds(100));
  EXPECT_EQ(o.max_backoff, seconds(10));
  EXPECT_EQ(o.max_failures, 5);
  EXPECT_EQ(o.window, seconds(60));
  EXPECT_EQ(o.stable_after, seconds(10));
}

TEST(RestartPolicyTest, CapAppliesEvenWhenItIsNotAPowerOfTwoStep) {
  RestartPolicyOptions options;
  options.max_failures = 1000;
  options.initial_backoff = milliseconds(300);
  options.max_backoff = milliseconds(1000);
  RestartPolicy policy(options);
  FakeClock clock;
  Daemon daemon(policy, clock);
  EXPECT_EQ(daemon.RunAndCrash(kQuick), milliseconds(300));
  EXPECT_EQ(daemon.RunAndCrash(kQuick), milliseconds(600));
  EXPECT_EQ(daemon.RunAndCrash(kQuick), milliseconds(1000));
  EXPECT_EQ(daemon.RunAndCrash(kQuick), milliseconds(1000));
}

TEST(RestartPolicyTest, GivesUpAfterMaxFailuresInTheWindow) {
  RestartPolicy policy;  // 5 failures in 60 s.
  FakeClock clock;
  Daemon daemon(policy, clock);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(daemon.RunAndCrash(kQuick).has_value()) << "failure " << i + 1;
  }
  EXPECT_EQ(policy.failures_in_window(), 4);
  EXPECT_FALSE(daemon.RunAndCrash(kQuick).has_value());
  EXPECT_EQ(policy.failures_in_window(), 5);
}

TEST(RestartPolicyTest, ResetForgetsFailuresAndBackoff) {
  RestartPolicy policy;
  FakeClock clock;
  Daemon daemon(policy, clock);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(daemon.RunAndCrash(kQuick).has_value());
  ASSERT_FALSE(daemon.RunAndCrash(kQuick).has_value());
  policy.Reset();  // The user started it again.
  EXPECT_EQ(policy.failures_in_window(), 0);
  EXPECT_EQ(daemon.RunAndCrash(kQuick), milliseconds(100));
  EXPECT_EQ(daemon.RunAndCrash(kQuick), milliseconds(200));
}

TEST(RestartPolicyTest, AStableRunResetsBackoffAndCount) {
  RestartPolicy policy;  // Stable after 10 s.
  FakeClock clock;
  Daemon daemon(policy, clock);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(daemon.RunAndCrash(kQuick).has_value());
  EXPECT_EQ(policy.failures_in_window(), 4);
  // Well inside the 60 s window, but the daemon was healthy for 10 s: its earlier
  // crashes say nothing about this one.
  EXPECT_EQ(daemon.RunAndCrash(seconds(10)), milliseconds(100));
  EXPECT_EQ(policy.failures_in_window(), 1);
  // So it gets the full allowance of quick failures again.
  EXPECT_EQ(daemon.RunAndCrash(kQuick), milliseconds(200));
  EXPECT_EQ(daemon.RunAndCrash(kQuick), milliseconds(400));
  EXPECT_EQ(daemon.RunAndCrash(kQuick), milliseconds(800));
  EXPECT_FALSE(daemon.RunAndCrash(kQuick).has_value());
}

TEST(RestartPolicyTest, ARunJustShortOfStableDoesNotReset) {
  RestartPolicyOptions options;
  options.max_failures = 1000;
  RestartPolicy policy(options);
  FakeClock clock;
  Daemon daemon(policy, clock);
  EXPECT_EQ(daemon.RunAndCrash(kQuick), milliseconds(100));
  EXPECT_EQ(daemon.RunAndCrash(kQuick), milliseconds(200));
  EXPECT_EQ(daemon.RunAndCrash(seconds(10) - milliseconds(1)), milliseconds(400));
  EXPECT_EQ(policy.failures_in_window(), 3);
}

TEST(RestartPolicyTest, FailuresOutsideTheWindowAreForgotten) {
  RestartPolicyOptions options;
  options.stable_after = std::chrono::hours(1);  // Keep stability out of this test.
  RestartPolicy policy(options);
  FakeClock clock;
  Daemon daemon(policy, clock);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(daemon.RunAndCrash(kQuick).has_value());
  // The fifth failure comes 61 s after the others: they no longer count.
  EXPECT_TRUE(daemon.RunAndCrash(seconds(61)).has_value());
  EXPECT_EQ(policy.failures_in_window(), 1);
}

TEST(RestartPolicyTest, FailuresJustInsideTheWindowStillCount) {
  RestartPolicyOptions options;
  options.stable_after = std::chrono::hours(1);
  RestartPolicy policy(options);
  FakeClock clock;
  Daemon daemon(policy, clock);
  // The first failure is at t; the others follow within about 1.6 s.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(daemon.RunAndCrash(kQuick).has_value());
  EXPECT_FALSE(daemon.RunAndCrash(seconds(55)).has_value());
}

TEST(RestartPolicyTest, SlowCrashLoopIsToleratedForever) {
  // One crash every 20 s after 5 s of running: never more than 3 in a minute.
  RestartPolicyOptions options;
  RestartPolicy policy(options);
  FakeClock clock;
  for (int i = 0; i < 50; ++i) {
    auto started = clock.Now();
    clock.Advance(seconds(5));
    auto delay = policy.OnFailure(clock.Now(), started);
    ASSERT_TRUE(delay.has_value()) << "gave up at crash " << i + 1;
    clock.Advance(seconds(15));
  }
  EXPECT_LE(policy.failures_in_window(), 4);
}

TEST(RestartPolicyTest, OneFailureAllowedMeansNoRestart) {
  RestartPolicyOptions options;
  options.max_failures = 1;
  RestartPolicy policy(options);
  FakeClock clock;
  Daemon daemon(policy, clock);
  EXPECT_FALSE(daemon.RunAndCrash(kQuick).has_value());
}

TEST(ClockTest, RealClockIsMonotonic) {
  const Clock& clock = Clock::Real();
  auto a = clock.Now();
  auto b = clock.Now();
  EXPECT_LE(a, b);
  EXPECT_EQ(&clock, &Clock::Real());
}

}  // namespace
}  // namespace mumba
