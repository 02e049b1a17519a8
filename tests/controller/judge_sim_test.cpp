// The short version of the judge benchmark (bench/judge/judge_sim.cpp): the real decision code over
// seeded simulated rollouts, with the targets of docs/judge.md.
#include <gtest/gtest.h>

#include "bench/judge/rollout_sim.h"

namespace bgp::sim {
namespace {

TEST(JudgeSimulation, NoHealthyNoisyRolloutIsRolledBack) {
  const auto outcomes = run_rollouts(fast_setting(), Traffic{}, Traffic{}, 300, 1);
  EXPECT_EQ(rolled_back(outcomes), 0);
}

// Candidates exactly at a threshold are healthy by definition: the bound must hold there, where it
// is tightest (checked every 250 ms). At most alpha = 1% may roll back; 300 rollouts.
TEST(JudgeSimulation, AnErrorRateExactlyAtTheThresholdIsRarelyRolledBack) {
  Traffic at_limit;
  at_limit.error_rate = 0.02;
  const auto outcomes = run_rollouts(fast_setting(), Traffic{}, at_limit, 300, 7);
  EXPECT_LE(rolled_back(outcomes), 3);
}

TEST(JudgeSimulation, LatencyExactlyAtTheAllowedIncreaseIsRarelyRolledBack) {
  Setting setting = fast_setting();
  setting.policy.thresholds.p99_noise_floor = std::chrono::milliseconds(0);
  Traffic at_limit;
  at_limit.factor = 1.5;  // every quantile exactly live x (1 + max_p99_increase)
  const auto outcomes = run_rollouts(setting, Traffic{}, at_limit, 300, 7);
  EXPECT_LE(rolled_back(outcomes), 3);
}

TEST(JudgeSimulation, TenPercentErrorsAreCaughtWithinTwoAndAHalfSeconds) {
  Traffic bad;
  bad.error_rate = 0.10;
  const auto outcomes = run_rollouts(fast_setting(), Traffic{}, bad, 100, 1);
  EXPECT_EQ(rolled_back(outcomes), 100);
  EXPECT_LE(detection_quantile(outcomes, 0.9).value_or(1e9), 2.5);
}

TEST(JudgeSimulation, FiftyMillisecondsMoreAreCaughtWithinASecondAndAHalf) {
  Traffic slow;
  slow.add_ms = 50;
  const auto outcomes = run_rollouts(fast_setting(), Traffic{}, slow, 100, 1);
  EXPECT_EQ(rolled_back(outcomes), 100);
  EXPECT_LE(detection_quantile(outcomes, 0.9).value_or(1e9), 1.5);
  for (const auto& o : outcomes) EXPECT_EQ(o.reason, RollbackReason::p99_increase);
}

TEST(JudgeSimulation, FivePercentErrorsAtProductionDefaultsAreCaughtWithinTwentySeconds) {
  Traffic bad;
  bad.error_rate = 0.05;
  const auto outcomes = run_rollouts(defaults_setting(1000), Traffic{}, bad, 20, 1);
  EXPECT_EQ(rolled_back(outcomes), 20);
  EXPECT_LE(detection_quantile(outcomes, 0.9).value_or(1e9), 20);
}

}  // namespace
}  // namespace bgp::sim
