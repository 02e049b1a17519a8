// The judge's statistics: the e-values, their validity under repeated looks, and each rule.
#include "controller/judge.h"

#include <cmath>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controller/samples.h"

namespace bgp {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

Sample sample(std::uint64_t n, std::uint64_t errors, double ms) {
  return testing::spread_sample(n, errors, ms);
}

const RuleEvidence& rule(const std::vector<RuleEvidence>& rules, std::string_view name) {
  for (const auto& r : rules) {
    if (r.name() == name) return r;
  }
  ADD_FAILURE() << "no rule " << name;
  return rules.front();
}

// The mixture written out plainly, for small counts where nothing overflows.
double plain_evidence_above(int k, int n, double tau) {
  const double logit = std::log(tau / (1 - tau));
  double sum = 0;
  for (double d : {0.25, 0.5, 1.0, 1.75, 2.75, 4.0, 6.0}) {
    const double theta = 1 / (1 + std::exp(-(logit + d)));
    sum += std::pow(theta / tau, k) * std::pow((1 - theta) / (1 - tau), n - k);
  }
  return sum / 7;
}

TEST(JudgeEvidence, MatchesTheMixtureWrittenOut) {
  for (auto [k, n, tau] : {std::tuple{0, 10, 0.02}, {3, 10, 0.02}, {5, 20, 0.5}, {50, 60, 0.1}}) {
    EXPECT_NEAR(std::exp(log_evidence_above(k, n, tau)), plain_evidence_above(k, n, tau),
                1e-9 * plain_evidence_above(k, n, tau))
        << k << "/" << n << " at " << tau;
  }
  EXPECT_EQ(log_evidence_above(0, 0, 0.02), 0.0);  // no data: e = 1
  EXPECT_EQ(log_evidence_below(0, 0, 0.02), 0.0);
}

TEST(JudgeEvidence, GrowsWithEventsAboveAndShrinksBelow) {
  double last_above = -INFINITY, last_below = INFINITY;
  for (std::uint64_t k = 0; k <= 200; ++k) {
    const double above = log_evidence_above(k, 200, 0.1);
    const double below = log_evidence_below(k, 200, 0.1);
    EXPECT_GT(above, last_above) << k;
    EXPECT_LT(below, last_below) << k;
    last_above = above;
    last_below = below;
  }
}

TEST(JudgeEvidence, StaysFiniteInLogSpaceAtTenMillionRequests) {
  const double far_above = log_evidence_above(1'000'000, 10'000'000, 0.02);  // 10% vs 2%
  EXPECT_TRUE(std::isfinite(far_above));
  EXPECT_GT(far_above, 1e5);
  const double at_null = log_evidence_above(200'000, 10'000'000, 0.02);  // exactly 2%
  EXPECT_TRUE(std::isfinite(at_null));
  EXPECT_LT(at_null, 0.0);
  EXPECT_TRUE(std::isfinite(log_evidence_below(10'000'000, 10'000'000, 0.5)));
  EXPECT_TRUE(std::isfinite(log_evidence_above(0, 10'000'000, 1e-9)));
}

// Ville's inequality, tried: a rate exactly at the threshold, looked at after every request, rarely
// ever reaches 1/alpha.
TEST(JudgeEvidence, ARateAtTheThresholdSeldomEverReachesTheBar) {
  constexpr double kAlpha = 0.05, kTau = 0.05;
  constexpr int kSequences = 2000, kLength = 2000;
  std::mt19937_64 random(7);
  std::bernoulli_distribution event(kTau);
  int crossed = 0;
  for (int s = 0; s < kSequences; ++s) {
    std::uint64_t k = 0;
    for (std::uint64_t n = 1; n <= kLength; ++n) {
      k += event(random) ? 1 : 0;
      if (log_evidence_above(k, n, kTau) >= std::log(1 / kAlpha)) {
        ++crossed;
        break;
      }
    }
  }
  EXPECT_LE(crossed, kSequences * kAlpha) << crossed << " of " << kSequences;
}

TEST(JudgeRules, ErrorRateBreachesOnStrongEvidenceOnly) {
  const JudgeConfig config;
  const Thresholds limits;
  const auto bad = judge(config, limits, sample(300, 30, 40), sample(3000, 0, 40));
  const RuleEvidence& errors = rule(bad, "error_rate");
  EXPECT_TRUE(errors.breached());
  EXPECT_DOUBLE_EQ(errors.estimate, 0.1);
  EXPECT_DOUBLE_EQ(errors.threshold, 0.02);
  EXPECT_EQ(errors.candidate_n, 300u);
  EXPECT_DOUBLE_EQ(errors.bar, 300);
  EXPECT_THAT(errors.describe(Color::green, Color::blue),
              StartsWith("error_rate: green 10% (30/300) > 2%; e="));
  EXPECT_THAT(errors.describe(Color::green, Color::blue), HasSubstr(" >= 300"));

  // 4% over 50 requests is above the threshold, but not yet evidence of it.
  const auto few = judge(config, limits, sample(50, 2, 40), sample(3000, 0, 40));
  EXPECT_FALSE(rule(few, "error_rate").breached());
  EXPECT_THAT(rule(few, "error_rate").describe(Color::green, Color::blue), HasSubstr("/300"));

  // 1% over a million requests: below the threshold, however much data.
  const auto fine = judge(config, limits, sample(1'000'000, 10'000, 40), sample(100, 0, 40));
  EXPECT_FALSE(rule(fine, "error_rate").breached());
  EXPECT_LT(rule(fine, "error_rate").e(), 1e-6);
}

TEST(JudgeRules, SlowShareCountsRequestsAboveMaxP99) {
  const JudgeConfig config;
  Thresholds limits;
  limits.max_p99 = std::chrono::milliseconds(2000);
  Sample slow = sample(950, 0, 40);
  slow += sample(50, 0, 2600);  // 5% at 2.6 s
  const auto rules = judge(config, limits, slow, sample(1000, 0, 40));
  const RuleEvidence& breach = rule(rules, "p99");
  EXPECT_TRUE(breach.breached());
  EXPECT_NEAR(breach.estimate, 0.05, 1e-9);
  EXPECT_EQ(breach.events, 50u);

  Sample fine = sample(99'500, 0, 40);
  fine += sample(500, 0, 2600);  // 0.5%: within "p99 <= 2 s"
  EXPECT_FALSE(rule(judge(config, limits, fine, sample(1000, 0, 40)), "p99").breached());
}

TEST(JudgeRules, LatencyComparesEachQuantileWithTheLiveColor) {
  const JudgeConfig config;
  const Thresholds limits;  // +50%, noise floor 5 ms
  const auto slower = judge(config, limits, sample(200, 0, 60), sample(2000, 0, 38));
  for (const char* name : {"latency_p50", "latency_p90", "latency_p99"}) {
    const RuleEvidence& r = rule(slower, name);
    EXPECT_TRUE(r.breached()) << name << " " << r.describe(Color::green, Color::blue);
    EXPECT_EQ(r.reference_n, 2000u);
    EXPECT_DOUBLE_EQ(r.bar, 900);  // alpha / 3 rules / 3 quantiles
  }
  EXPECT_NEAR(rule(slower, "latency_p50").estimate, 60, 1);
  EXPECT_NEAR(rule(slower, "latency_p50").threshold, 57, 1);

  const auto same = judge(config, limits, sample(20'000, 0, 41), sample(200'000, 0, 38));
  for (const auto& r : same) EXPECT_FALSE(r.breached()) << r.describe(Color::green, Color::blue);
}

TEST(JudgeRules, NoiseFloorIgnoresSmallAbsoluteIncreases) {
  const JudgeConfig config;
  Thresholds limits;
  const Sample candidate = sample(5000, 0, 5), live = sample(5000, 0, 2);  // +150%, +3 ms
  EXPECT_EQ(first_breach(judge(config, limits, candidate, live)), nullptr);
  limits.p99_noise_floor = std::chrono::milliseconds(1);
  const auto rules = judge(config, limits, candidate, live);
  const RuleEvidence* breach = first_breach(rules);
  ASSERT_NE(breach, nullptr);
  EXPECT_EQ(breach->kind, RuleKind::latency);
}

TEST(JudgeRules, WithoutLiveDataTheComparisonCannotBreach) {
  const auto rules = judge(JudgeConfig{}, Thresholds{}, sample(5000, 0, 1500), Sample{});
  const RuleEvidence& p50 = rule(rules, "latency_p50");
  EXPECT_FALSE(p50.breached());
  EXPECT_TRUE(std::isnan(p50.threshold));
  EXPECT_THAT(p50.describe(Color::green, Color::blue), HasSubstr("allowed n/a"));
}

TEST(JudgeRules, FewerQuantilesGiveEachRuleMoreOfAlpha) {
  JudgeConfig config;
  config.alpha = 0.02;
  config.quantiles = {0.99};
  const auto rules = judge(config, Thresholds{}, sample(10, 0, 1), sample(10, 0, 1));
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_DOUBLE_EQ(rules[0].bar, 150);
  EXPECT_DOUBLE_EQ(rules[2].bar, 150);
  config.quantiles.clear();
  const auto two = judge(config, Thresholds{}, sample(10, 0, 1), sample(10, 0, 1));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_DOUBLE_EQ(two[0].bar, 100);
}

}  // namespace
}  // namespace bgp
