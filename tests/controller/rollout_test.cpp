// The rollout decision and the operator transitions, driven with hand-made windows and times.
#include "controller/rollout.h"

#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controller/samples.h"

namespace bgp {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const TimePoint t0 = *parse_time("2026-11-22T10:00:00Z");

Sample traffic(std::uint64_t requests, std::uint64_t errors, double ms) {
  return testing::spread_sample(requests, errors, ms);
}

// What came in since the last check. Blue is live and green the candidate in every test that does
// not promote first.
ColorSamples window(Sample blue, Sample green) {
  ColorSamples w;
  w.of(Color::blue) = std::move(blue);
  w.of(Color::green) = std::move(green);
  return w;
}

const ColorSamples kHealthy = window(traffic(2000, 2, 38), traffic(1000, 4, 41));

RolloutState started(const RolloutConfig& policy, TimePoint at = t0,
                     RolloutState from = initial_state(Color::blue)) {
  OpResult r = start(policy, from, std::nullopt, std::nullopt, true, at);
  EXPECT_TRUE(r.ok());
  return r.state;
}

Decision at_step_end(const RolloutConfig& policy, const RolloutState& s, const ColorSamples& w) {
  return evaluate(policy, s, w, true, *next_step_at(s));
}

// A rollout that passed steps 0..n-1 with healthy windows; returns the state at step n.
RolloutState at_step(const RolloutConfig& policy, std::size_t n) {
  RolloutState s = started(policy);
  for (std::size_t i = 0; i < n; ++i) s = at_step_end(policy, s, kHealthy).state;
  EXPECT_EQ(s.step, n);
  return s;
}

TEST(Rollout, StartSendsTheFirstStepToTheCandidate) {
  const RolloutConfig policy;
  const OpResult r =
      start(policy, initial_state(Color::blue), std::nullopt, std::nullopt, true, t0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.state.phase, Phase::progressing);
  EXPECT_EQ(r.state.step, 0u);
  EXPECT_EQ(r.state.weights.of(Color::green), 1000u);
  EXPECT_EQ(r.state.weights.of(Color::blue), 9000u);
  EXPECT_EQ(r.state.step_started_at, t0);
  EXPECT_EQ(next_step_at(r.state), t0 + 5min);
  EXPECT_TRUE(r.weights_changed);
  ASSERT_EQ(r.state.history.size(), 1u);
  EXPECT_EQ(r.state.history[0].event, EventKind::start);
  EXPECT_EQ(r.message, "rollout started: blue -> green, step 1 (10%) for 5m");
}

TEST(Rollout, StartIsRefusedWhileTheCandidateHasNoHealthyEndpoint) {
  const RolloutConfig policy;
  const RolloutState stable = initial_state(Color::blue);
  const OpResult r = start(policy, stable, std::nullopt, std::nullopt, false, t0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->status, 409);
  EXPECT_THAT(r.error->message, HasSubstr("green has no healthy endpoint"));
  EXPECT_EQ(r.state, stable);
}

TEST(Rollout, HealthyRolloutPassesEveryStepThenPromotes) {
  RolloutConfig policy;
  policy.post_promotion_watch = Duration{0};
  RolloutState s = started(policy);
  const std::array<std::uint32_t, 4> next_weights{2500, 5000, 7500, 10000};
  TimePoint now = t0;
  for (std::size_t step = 0; step < 4; ++step) {
    const Decision mid = evaluate(policy, s, kHealthy, true, now + 4min);
    EXPECT_EQ(mid.verdict, Verdict::none);
    EXPECT_EQ(mid.state.step, step);
    EXPECT_FALSE(mid.weights_changed);
    EXPECT_EQ(mid.evidence.size(), 5u);  // error_rate, p99, latency at p50, p90, p99

    now += 5min;
    const Decision d = evaluate(policy, mid.state, kHealthy, true, now);
    ASSERT_EQ(d.verdict, Verdict::step_passed) << d.message;
    EXPECT_EQ(d.state.step, step + 1);
    EXPECT_EQ(d.state.weights.of(Color::green), next_weights[step]);
    EXPECT_EQ(d.state.step_started_at, now);
    EXPECT_TRUE(d.weights_changed);
    EXPECT_EQ(d.state.step_window, ColorSamples{});  // the next step starts with nothing
    s = d.state;
  }
  // Every request of the rollout is in the evidence.
  EXPECT_EQ(s.evidence_window.of(Color::green).requests, 8000u);
  // At 100% the live color gets no traffic: the comparison uses its numbers from the rollout.
  now += 5min;
  const Decision last = evaluate(policy, s, window(Sample{}, kHealthy.of(Color::green)), true, now);
  ASSERT_EQ(last.verdict, Verdict::promoted) << last.message;
  EXPECT_EQ(last.state.phase, Phase::stable);
  EXPECT_EQ(last.state.live, Color::green);
  EXPECT_EQ(last.state.weights, Weights::all_to(Color::green));
  EXPECT_EQ(last.state.step, std::nullopt);
  ASSERT_TRUE(last.state.retained);
  EXPECT_EQ(last.state.retained->color, Color::blue);
  EXPECT_EQ(last.state.retained->until, now + 24h);
  EXPECT_EQ(last.state.promotions, 1u);
  EXPECT_EQ(last.state.watch_until, std::nullopt);  // the watch is off in this policy
  EXPECT_EQ(next_step_at(last.state), std::nullopt);
  EXPECT_THAT(last.message, HasSubstr("promoted green: step 5 (100%) passed"));
  EXPECT_THAT(last.message, HasSubstr("green 9000 requests, blue 16000"));

  std::vector<EventKind> events;
  for (const auto& e : last.state.history) events.push_back(e.event);
  EXPECT_EQ(events, (std::vector<EventKind>{EventKind::start, EventKind::step, EventKind::step,
                                            EventKind::step, EventKind::step, EventKind::promote}));
}

TEST(Rollout, StepPassMessageGivesTheEvidenceOfEveryRule) {
  const RolloutConfig policy;
  const Decision d = at_step_end(policy, at_step(policy, 2), kHealthy);
  // alpha = 0.01 over 7 looks (the rollout, 5 steps, the watch) and 3 kinds of rule.
  EXPECT_THAT(d.message, StartsWith("step 3 (50%) passed: green 1000 requests in the step; "
                                    "error_rate: green (this step) 0.4% (4/1000) <= 2%; e="));
  EXPECT_THAT(d.message, HasSubstr("/2100, p99: green (this step) 0% (0/1000)"));
  EXPECT_THAT(d.message, HasSubstr("latency_p50: green"));
  EXPECT_THAT(d.message, HasSubstr("/6300; step 4 (75%) begins"));
}

struct BreachCase {
  const char* label;
  ColorSamples window;
  RollbackReason reason;
  const char* detail_start;
};

class RolloutBreach : public ::testing::TestWithParam<BreachCase> {};

TEST_P(RolloutBreach, RollsBackAtOnceWithFailureLimitOne) {
  const RolloutConfig policy;
  const RolloutState s = at_step(policy, 1);
  const Decision d = evaluate(policy, s, GetParam().window, true, t0 + 6min);
  ASSERT_EQ(d.verdict, Verdict::rollback) << d.message;
  EXPECT_EQ(d.reason, GetParam().reason);
  EXPECT_EQ(d.state.phase, Phase::rolled_back);
  EXPECT_EQ(d.state.weights, Weights::all_to(Color::blue));
  EXPECT_EQ(d.state.live, Color::blue);
  EXPECT_EQ(d.state.step, std::nullopt);
  EXPECT_TRUE(d.weights_changed);
  ASSERT_TRUE(d.state.last_rollback);
  EXPECT_EQ(d.state.last_rollback->reason, GetParam().reason);
  EXPECT_THAT(d.state.last_rollback->detail, StartsWith(GetParam().detail_start));
  EXPECT_THAT(d.state.last_rollback->detail, HasSubstr(" >= "));
  EXPECT_EQ(d.state.last_rollback->at, t0 + 6min);
  EXPECT_EQ(d.state.rollbacks[static_cast<std::size_t>(GetParam().reason)], 1u);
  EXPECT_EQ(d.state.history.back().event, EventKind::rollback);
  EXPECT_EQ(d.state.history.back().step, 1u);
  // The line gives the breach, then every rule's evidence.
  EXPECT_THAT(d.message,
              StartsWith(std::string("rollback (") + std::string(name(GetParam().reason)) +
                         "): " + d.state.last_rollback->detail + "; all rules: "));
  // It stays rolled back: later checks change nothing.
  EXPECT_EQ(evaluate(policy, d.state, kHealthy, true, t0 + 1h).verdict, Verdict::none);
}

INSTANTIATE_TEST_SUITE_P(
    EachKind, RolloutBreach,
    ::testing::Values(BreachCase{"error_rate", window(traffic(2000, 0, 38), traffic(412, 80, 40)),
                                 RollbackReason::error_rate, "error_rate: green "},
                      BreachCase{"p99", window(traffic(2000, 0, 38), traffic(150, 0, 2500)),
                                 RollbackReason::p99, "p99: green "},
                      BreachCase{"p99_increase", window(traffic(2000, 0, 38), traffic(150, 0, 60)),
                                 RollbackReason::p99_increase, "latency_p"}),
    [](const auto& info) { return std::string(info.param.label); });

TEST(Rollout, FailureLimitNeedsConsecutiveBreaches) {
  RolloutConfig policy;
  policy.failure_limit = 3;
  const ColorSamples bad = window(traffic(2000, 0, 38), traffic(200, 60, 40));
  RolloutState s = started(policy);
  TimePoint now = t0;
  for (int i = 1; i <= 2; ++i) {
    const Decision d = evaluate(policy, s, bad, true, now += 10s);
    ASSERT_EQ(d.verdict, Verdict::breach) << d.message;
    EXPECT_EQ(d.reason, RollbackReason::error_rate);
    EXPECT_EQ(d.state.consecutive_breaches, i);
    EXPECT_EQ(d.state.phase, Phase::progressing);
    EXPECT_EQ(d.state.weights.of(Color::green), 1000u);
    EXPECT_THAT(d.message, StartsWith("breach " + std::to_string(i) +
                                      " of 3 (error_rate): error_rate: green 30%"));
    s = d.state;
  }
  const Decision third = evaluate(policy, s, bad, true, now += 10s);
  EXPECT_EQ(third.verdict, Verdict::rollback);
  EXPECT_EQ(third.state.phase, Phase::rolled_back);
}

TEST(Rollout, BreachAtTheStepsEndDoesNotPassTheStep) {
  RolloutConfig policy;
  policy.failure_limit = 2;
  const RolloutState s = started(policy);
  const Decision d = at_step_end(policy, s, window(traffic(2000, 0, 38), traffic(200, 60, 40)));
  EXPECT_EQ(d.verdict, Verdict::breach);
  EXPECT_EQ(d.state.step, 0u);
}

// Many checks of a window that grows: the verdict depends on the evidence, not on how often it
// is looked at.
TEST(Rollout, CheckingOftenDoesNotRollBackAHealthyCandidate) {
  RolloutConfig policy;
  policy.step_duration = 1h;
  RolloutState s = started(policy);
  TimePoint now = t0;
  std::mt19937_64 random(3);
  std::binomial_distribution<std::uint64_t> errors(50, 0.02);  // exactly at the threshold
  int over_threshold = 0;
  for (int check = 0; check < 500; ++check) {
    const std::uint64_t k = errors(random);
    over_threshold += k > 1 ? 1 : 0;  // the plain rule would roll back on any of these
    const Decision d =
        evaluate(policy, s, window(traffic(100, 0, 38), traffic(50, k, 38)), true, now += 1s);
    ASSERT_EQ(d.verdict, Verdict::none) << check << ": " << d.message;
    s = d.state;
  }
  EXPECT_GT(over_threshold, 50);  // many checks saw an estimate above 2%
  EXPECT_EQ(s.evidence_window.of(Color::green).requests, 25'000u);
}

TEST(Rollout, TooFewRequestsNeitherRollBackNorPass) {
  const RolloutConfig policy;
  const ColorSamples few_failing = window(traffic(2000, 0, 38), traffic(4, 1, 40));
  const RolloutState s = started(policy);

  const Decision mid = evaluate(policy, s, few_failing, true, t0 + 1min);
  EXPECT_EQ(mid.verdict, Verdict::none) << mid.message;
  EXPECT_EQ(mid.state.phase, Phase::progressing);

  const Decision end = at_step_end(policy, s, few_failing);
  EXPECT_EQ(end.verdict, Verdict::hold);
  EXPECT_TRUE(end.state.held);
  EXPECT_EQ(end.state.step, 0u);
  EXPECT_EQ(end.state.weights, s.weights);
  EXPECT_FALSE(end.weights_changed);
  EXPECT_THAT(end.message,
              StartsWith("hold: step 1 (10%) is over; waiting for green to reach 100 requests in "
                         "the step (has 4); error_rate: green 25% (1/4) > 2%; e="));
}

TEST(Rollout, HeldStepPassesOnceItHasEnoughRequests) {
  const RolloutConfig policy;
  RolloutState s = started(policy);
  const TimePoint end = t0 + 5min;
  const ColorSamples forty = window(traffic(2000, 0, 38), traffic(40, 0, 40));
  s = evaluate(policy, s, forty, true, end).state;
  s = evaluate(policy, s, forty, true, end + 10s).state;
  EXPECT_TRUE(s.held);
  EXPECT_EQ(s.step, 0u);

  const Decision d = evaluate(policy, s, forty, true, end + 20s);
  ASSERT_EQ(d.verdict, Verdict::step_passed) << d.message;
  EXPECT_FALSE(d.state.held);
  EXPECT_EQ(d.state.step, 1u);
  EXPECT_EQ(d.state.step_started_at, end + 20s);
}

TEST(Rollout, ObserveAddsEveryReadingToBothWindows) {
  RolloutState s = started(RolloutConfig{});
  s = observe(s, window(traffic(10, 1, 5), traffic(3, 0, 5)), t0 + 1s);
  s = observe(s, window(traffic(5, 0, 5), traffic(2, 2, 5)), t0 + 2s);
  EXPECT_EQ(s.step_window.of(Color::blue).requests, 15u);
  EXPECT_EQ(s.step_window.of(Color::green).errors, 2u);
  EXPECT_EQ(s.evidence_window.of(Color::green).requests, 5u);
  EXPECT_EQ(s.evidence_window.of(Color::green).latency.count(), 5u);
  EXPECT_EQ(s.last_check_at, t0 + 2s);
}

TEST(Rollout, DowntimeAfterARestartCountsAsPaused) {
  const RolloutConfig policy;
  RolloutState s = evaluate(policy, started(policy), kHealthy, true, t0 + 4min).state;
  // Killed at t0 + 4 min, back at t0 + 30 min: the step still has one minute to go.
  const RolloutState back = resume_after_restart(s, t0 + 30min);
  EXPECT_EQ(next_step_at(back), t0 + 31min);
  EXPECT_EQ(back.step_window, s.step_window);
  EXPECT_EQ(evaluate(policy, back, kHealthy, true, t0 + 30min + 10s).verdict, Verdict::none);
}

TEST(Rollout, AfterPromotionTheNextRolloutGoesTheOtherWay) {
  const RolloutConfig policy;
  const RolloutState promoted = promote(policy, started(policy), t0 + 1min).state;
  ASSERT_EQ(promoted.live, Color::green);

  const OpResult next = start(policy, promoted, std::nullopt, std::nullopt, true, t0 + 2h);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next.state.candidate(), Color::blue);
  EXPECT_EQ(next.state.weights.of(Color::blue), 1000u);
  EXPECT_EQ(next.state.weights.of(Color::green), 9000u);
  EXPECT_EQ(next.state.retained, std::nullopt);
  EXPECT_EQ(next.state.watch_until, std::nullopt);  // a new rollout ends the watch
  EXPECT_EQ(next.message, "rollout started: green -> blue, step 1 (10%) for 5m");

  // Blue is now judged as the candidate.
  const ColorSamples w = window(traffic(500, 100, 40), traffic(2000, 0, 38));
  const Decision d = evaluate(policy, next.state, w, true, t0 + 2h + 10s);
  EXPECT_EQ(d.verdict, Verdict::rollback);
  EXPECT_EQ(d.state.weights, Weights::all_to(Color::green));
  EXPECT_THAT(d.message, HasSubstr("error_rate: blue 20%"));
}

TEST(Rollout, TheWatchRevertsABadPromotionToTheRetainedColor) {
  const RolloutConfig policy;  // watch 30 min, retained 24 h
  const RolloutState at_last = at_step(policy, 4);
  const Decision promoted = at_step_end(policy, at_last, kHealthy);
  ASSERT_EQ(promoted.verdict, Verdict::promoted);
  const TimePoint at = *next_step_at(at_last);
  EXPECT_EQ(promoted.state.watch_until, at + 30min);
  EXPECT_TRUE(promoted.state.judging());
  EXPECT_THAT(promoted.message, HasSubstr("watched until"));

  // Green, live now, starts failing: judged against blue's numbers from the rollout.
  const Decision d =
      evaluate(policy, promoted.state, window(Sample{}, traffic(400, 80, 40)), true, at + 1min);
  ASSERT_EQ(d.verdict, Verdict::rollback) << d.message;
  EXPECT_EQ(d.reason, RollbackReason::error_rate);
  EXPECT_EQ(d.state.live, Color::blue);
  EXPECT_EQ(d.state.weights, Weights::all_to(Color::blue));
  EXPECT_EQ(d.state.retained, std::nullopt);
  EXPECT_EQ(d.state.watch_until, std::nullopt);
  EXPECT_TRUE(d.weights_changed);
  EXPECT_THAT(
      d.state.last_rollback->detail,
      StartsWith("after promotion: error_rate: green (since the promotion) 20% (80/400) > 2%"));
  EXPECT_THAT(d.message, HasSubstr("; all rules: error_rate:"));
  EXPECT_THAT(d.state.last_rollback->detail, HasSubstr("blue is live again, green demoted"));
}

TEST(Rollout, ABreachAtTheWatchsLastCheckStillReverts) {
  RolloutConfig policy;
  policy.failure_limit = 3;  // even short of the limit: the watch will not look again
  const RolloutState promoted = promote(policy, at_step(policy, 1), t0 + 6min).state;
  const Decision d = evaluate(policy, promoted, window(Sample{}, traffic(400, 200, 40)), true,
                              *promoted.watch_until);
  EXPECT_EQ(d.verdict, Verdict::rollback) << d.message;
  EXPECT_EQ(d.state.live, Color::blue);
}

TEST(Rollout, HandSetTrafficIsRefusedDuringTheWatch) {
  const RolloutConfig policy;
  const RolloutState promoted = promote(policy, started(policy), t0).state;
  const OpResult r = set_weights(promoted, Color::blue, 2000, t0 + 1min);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->status, 409);
  EXPECT_THAT(r.error->message, HasSubstr("roll back"));
  EXPECT_TRUE(set_weights(promoted, Color::green, 10000, t0 + 1min).ok());  // no change
}

TEST(Rollout, DowntimeDuringTheWatchDoesNotEatIt) {
  const RolloutConfig policy;
  RolloutState promoted = promote(policy, started(policy), t0).state;
  promoted.last_check_at = t0 + 10min;
  const RolloutState back = resume_after_restart(promoted, t0 + 40min);
  EXPECT_EQ(back.watch_until, t0 + 60min);  // 30 min of watch, 30 min down
}

TEST(Rollout, AnUnjudgedSplitFromAnOlderFileIsJudgedAfterARestart) {
  RolloutState old = initial_state(Color::blue);
  old.weights.set(Color::green, 2000);  // stable with traffic on green: an older binary's split
  const RolloutState back = resume_after_restart(old, t0);
  EXPECT_EQ(back.phase, Phase::paused);
  EXPECT_TRUE(back.judging());
  EXPECT_EQ(back.weights.of(Color::green), 2000u);
}

TEST(Rollout, AHandSetSplitCanBecomeARollout) {
  const RolloutConfig policy;
  const RolloutState split = set_weights(initial_state(Color::blue), Color::green, 2000, t0).state;
  const OpResult r = start(policy, split, std::nullopt, std::nullopt, true, t0 + 1min);
  ASSERT_TRUE(r.ok()) << r.error->message;
  EXPECT_EQ(r.state.phase, Phase::progressing);
  EXPECT_EQ(r.state.weights.of(Color::green), 1000u);
  EXPECT_EQ(r.state.judge_looks, 7u);
  EXPECT_EQ(split.judge_looks, 3u);
}

TEST(Rollout, TheWatchEndsQuietlyForAGoodPromotion) {
  const RolloutConfig policy;
  const RolloutState promoted = promote(policy, at_step(policy, 1), t0 + 6min).state;
  ASSERT_EQ(promoted.watch_until, t0 + 36min);
  const ColorSamples fine = window(Sample{}, traffic(1000, 2, 41));
  const Decision mid = evaluate(policy, promoted, fine, true, t0 + 20min);
  EXPECT_EQ(mid.verdict, Verdict::none) << mid.message;
  const Decision end = evaluate(policy, mid.state, fine, true, t0 + 36min);
  EXPECT_EQ(end.verdict, Verdict::watch_ended);
  EXPECT_EQ(end.state.watch_until, std::nullopt);
  EXPECT_EQ(end.state.live, Color::green);
  EXPECT_THAT(end.message, StartsWith("watch over: green stays live; error_rate: green"));
  EXPECT_FALSE(end.state.judging());
}

TEST(Rollout, TheWatchLastsNoLongerThanTheRetainedColor) {
  RolloutConfig policy;
  policy.retain_previous = 10min;
  EXPECT_EQ(promote(policy, started(policy), t0).state.watch_until, t0 + 10min);
  policy.retain_previous = Duration{0};
  EXPECT_EQ(promote(policy, started(policy), t0).state.watch_until, std::nullopt);
}

TEST(Rollout, ManualRollbackWithinRetainPreviousRestoresTheOldColor) {
  const RolloutConfig policy;
  const RolloutState promoted = promote(policy, started(policy), t0).state;

  const OpResult back = rollback(promoted, t0 + 23h);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.state.live, Color::blue);
  EXPECT_EQ(back.state.weights, Weights::all_to(Color::blue));
  EXPECT_EQ(back.state.phase, Phase::rolled_back);
  EXPECT_EQ(back.state.retained, std::nullopt);
  EXPECT_EQ(back.state.last_rollback->reason, RollbackReason::manual);
  EXPECT_EQ(back.state.last_rollback->detail, "by operator; blue is live again, green demoted");
  EXPECT_EQ(back.state.rollbacks[static_cast<std::size_t>(RollbackReason::manual)], 1u);
  EXPECT_TRUE(back.weights_changed);

  const OpResult too_late = rollback(promoted, t0 + 24h);
  ASSERT_FALSE(too_late.ok());
  EXPECT_EQ(too_late.error->status, 409);
  EXPECT_THAT(too_late.error->message, HasSubstr("nothing to roll back"));
  EXPECT_EQ(too_late.state, promoted);
}

TEST(Rollout, ManualRollbackOfARunningRollout) {
  const RolloutConfig policy;
  const OpResult r = rollback(at_step(policy, 2), t0 + 11min);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.state.phase, Phase::rolled_back);
  EXPECT_EQ(r.state.weights, Weights::all_to(Color::blue));
  EXPECT_EQ(r.state.last_rollback->detail, "by operator at step 3 (50%)");

  EXPECT_EQ(rollback(r.state, t0 + 12min).error->status, 409);
  EXPECT_EQ(rollback(initial_state(Color::blue), t0).error->status, 409);
}

TEST(Rollout, PauseStopsAdvancingButNotTheBreachChecks) {
  const RolloutConfig policy;
  const OpResult paused = pause(started(policy), t0 + 1min);
  ASSERT_TRUE(paused.ok());
  EXPECT_EQ(paused.state.phase, Phase::paused);
  EXPECT_EQ(next_step_at(paused.state), std::nullopt);

  const Decision later = evaluate(policy, paused.state, kHealthy, true, t0 + 1h);
  EXPECT_EQ(later.verdict, Verdict::none);
  EXPECT_EQ(later.state.step, 0u);

  const Decision bad = evaluate(policy, paused.state,
                                window(traffic(2000, 0, 38), traffic(200, 50, 40)), true, t0 + 1h);
  EXPECT_EQ(bad.verdict, Verdict::rollback);
  EXPECT_EQ(bad.state.phase, Phase::rolled_back);
}

TEST(Rollout, ResumeShiftsTheStepByThePausedTime) {
  const RolloutConfig policy;
  RolloutState s = pause(started(policy), t0 + 1min).state;
  const OpResult resumed = resume(s, t0 + 4min);
  ASSERT_TRUE(resumed.ok());
  EXPECT_EQ(resumed.state.phase, Phase::progressing);
  EXPECT_EQ(resumed.state.step_started_at, t0 + 3min);
  EXPECT_EQ(next_step_at(resumed.state), t0 + 8min);

  EXPECT_EQ(evaluate(policy, resumed.state, kHealthy, true, t0 + 8min - 1ms).verdict,
            Verdict::none);
  EXPECT_EQ(evaluate(policy, resumed.state, kHealthy, true, t0 + 8min).verdict,
            Verdict::step_passed);
}

TEST(Rollout, PauseResumeAndPromoteRefuseWhenNothingRuns) {
  const RolloutConfig policy;
  const RolloutState stable = initial_state(Color::blue);
  EXPECT_EQ(pause(stable, t0).error->status, 409);
  EXPECT_EQ(resume(stable, t0).error->status, 409);
  EXPECT_EQ(promote(policy, stable, t0).error->status, 409);
  EXPECT_EQ(resume(started(policy), t0).error->status, 409);  // progressing: nothing to resume
  const RolloutState paused = pause(started(policy), t0).state;
  EXPECT_EQ(pause(paused, t0).error->status, 409);
}

TEST(Rollout, OperatorPromotesAPausedRollout) {
  const RolloutConfig policy;
  const OpResult r = promote(policy, pause(at_step(policy, 1), t0 + 6min).state, t0 + 7min);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.state.live, Color::green);
  EXPECT_EQ(r.state.weights, Weights::all_to(Color::green));
  EXPECT_EQ(r.state.phase, Phase::stable);
  EXPECT_EQ(r.state.promotions, 1u);
  EXPECT_EQ(r.state.retained->until, t0 + 7min + 24h);
  EXPECT_EQ(r.state.watch_until, t0 + 7min + 30min);
}

TEST(Rollout, SetWeightsPausesARunningRollout) {
  const RolloutConfig policy;
  const RolloutState s = at_step(policy, 1);
  const OpResult r = set_weights(s, Color::green, 3000, t0 + 6min);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.state.phase, Phase::paused);
  EXPECT_EQ(r.state.paused_at, t0 + 6min);
  EXPECT_EQ(r.state.weights.of(Color::green), 3000u);
  EXPECT_EQ(r.state.weights.of(Color::blue), 7000u);
  EXPECT_TRUE(r.weights_changed);
  EXPECT_EQ(r.state.history.back().event, EventKind::weights);
  EXPECT_EQ(evaluate(policy, r.state, kHealthy, true, t0 + 1h).state.step, 1u);

  // Resuming goes back to the step's own weight.
  const OpResult resumed = resume(r.state, t0 + 7min);
  EXPECT_EQ(resumed.state.weights.of(Color::green), 2500u);
  EXPECT_TRUE(resumed.weights_changed);
}

TEST(Rollout, AHandSetSplitOutsideARolloutIsJudged) {
  const RolloutConfig policy;
  const OpResult r = set_weights(initial_state(Color::blue), Color::green, 2000, t0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.state.phase, Phase::paused);
  EXPECT_EQ(r.state.step, std::nullopt);
  EXPECT_TRUE(r.state.judging());
  EXPECT_EQ(r.state.weights.of(Color::green), 2000u);
  EXPECT_THAT(r.message, HasSubstr("green is judged (paused, no step)"));

  // Healthy: nothing happens, however long; failing: rolled back.
  EXPECT_EQ(evaluate(policy, r.state, kHealthy, true, t0 + 2h).verdict, Verdict::none);
  const Decision bad =
      evaluate(policy, r.state, window(traffic(2000, 0, 38), traffic(500, 500, 1)), true, t0 + 1s);
  EXPECT_EQ(bad.verdict, Verdict::rollback);
  EXPECT_EQ(bad.state.weights, Weights::all_to(Color::blue));
  EXPECT_EQ(bad.state.phase, Phase::rolled_back);

  // There is no step to resume; the operator promotes or rolls back instead.
  EXPECT_EQ(resume(r.state, t0 + 1s).error->status, 409);
  EXPECT_EQ(promote(policy, r.state, t0 + 1s).state.live, Color::green);
  EXPECT_EQ(rollback(r.state, t0 + 1s).state.weights, Weights::all_to(Color::blue));
  // Back to 0% by hand: stable again, nothing to judge.
  const OpResult undone = set_weights(r.state, Color::green, 0, t0 + 1s);
  EXPECT_EQ(undone.state.phase, Phase::stable);
  EXPECT_FALSE(undone.state.judging());
}

TEST(Rollout, SetWeightsToAllLiveWhenStableStaysStable) {
  const OpResult r = set_weights(initial_state(Color::blue), Color::blue, 10000, t0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.state.phase, Phase::stable);
  EXPECT_FALSE(r.state.judging());
  EXPECT_EQ(set_weights(initial_state(Color::blue), Color::green, 10001, t0).error->status, 400);
}

TEST(Rollout, StartRefusesWhileRunningAndBadSteps) {
  const RolloutConfig policy;
  const RolloutState running = started(policy);
  EXPECT_EQ(start(policy, running, std::nullopt, std::nullopt, true, t0).error->status, 409);
  EXPECT_EQ(
      start(policy, pause(running, t0).state, std::nullopt, std::nullopt, true, t0).error->status,
      409);

  const auto start_with = [&](std::vector<RolloutStep> steps) {
    return start(policy, initial_state(Color::blue), std::move(steps), std::nullopt, true, t0);
  };
  EXPECT_EQ(start_with({{5000, {}}, {2500, {}}, {10000, {}}}).error->status, 400);
  EXPECT_EQ(start_with({{5000, {}}, {5000, {}}, {10000, {}}}).error->status, 400);
  EXPECT_EQ(start_with({{5000, {}}, {7500, {}}}).error->status, 400);
  EXPECT_EQ(start_with({{5000, {}}, {10001, {}}}).error->status, 400);
  EXPECT_EQ(start_with({}).error->status, 400);
  EXPECT_EQ(
      start(policy, initial_state(Color::blue), std::nullopt, Duration{0}, true, t0).error->status,
      400);

  // After a rollback the operator may start again.
  const RolloutState rolled_back = rollback(running, t0 + 1min).state;
  EXPECT_TRUE(start(policy, rolled_back, std::nullopt, std::nullopt, true, t0 + 2min).ok());
}

TEST(Rollout, PerStepDurationsAndHalfPercentSteps) {
  const RolloutConfig policy;
  const std::vector<RolloutStep> steps{{50, 1min}, {1000, {}}, {10000, 2min}};
  RolloutState s = start(policy, initial_state(Color::blue), steps, Duration{30s}, true, t0).state;
  EXPECT_EQ(s.weights.of(Color::green), 50u);
  EXPECT_EQ(next_step_at(s), t0 + 1min);

  s = evaluate(policy, s, kHealthy, true, t0 + 1min).state;
  EXPECT_EQ(s.weights.of(Color::green), 1000u);
  EXPECT_EQ(next_step_at(s), t0 + 1min + 30s);

  const Decision d = evaluate(policy, s, kHealthy, true, t0 + 1min + 30s);
  EXPECT_EQ(d.message.rfind("step 2 (10%) passed", 0), 0u) << d.message;
  s = d.state;
  EXPECT_EQ(next_step_at(s), t0 + 3min + 30s);
  EXPECT_EQ(evaluate(policy, s, kHealthy, true, t0 + 3min + 30s).verdict, Verdict::promoted);
}

TEST(Rollout, ALateCheckAdvancesOneStepAndStartsItThen) {
  const RolloutConfig policy;
  const Decision d = evaluate(policy, started(policy), kHealthy, true, t0 + 20min);
  EXPECT_EQ(d.state.step, 1u);
  EXPECT_EQ(next_step_at(d.state), t0 + 25min);
}

TEST(Rollout, CandidateWithoutHealthyEndpointRollsBackAtOnce) {
  const RolloutConfig policy;
  const Decision d = evaluate(policy, started(policy), ColorSamples{}, false, t0 + 10s);
  EXPECT_EQ(d.verdict, Verdict::rollback);
  EXPECT_EQ(d.reason, RollbackReason::health);
  EXPECT_EQ(d.state.weights, Weights::all_to(Color::blue));
  EXPECT_THAT(d.message, StartsWith("rollback (health): green has no healthy endpoint; all rules: "
                                    "error_rate: green 0% (0/0) <= 2%; e=1/2100"));
  // No rollout running: an unhealthy candidate changes nothing.
  EXPECT_EQ(evaluate(policy, initial_state(Color::blue), ColorSamples{}, false, t0).verdict,
            Verdict::none);
}

TEST(Rollout, HistoryKeepsTheLastHundredEvents) {
  RolloutState s = started(RolloutConfig{});
  for (int i = 0; i < 60; ++i) {
    s = pause(s, t0 + std::chrono::seconds(2 * i)).state;
    s = resume(s, t0 + std::chrono::seconds(2 * i + 1)).state;
  }
  ASSERT_EQ(s.history.size(), kHistoryLimit);
  EXPECT_EQ(s.history.back().event, EventKind::resume);
  EXPECT_EQ(s.history.back().at, t0 + 119s);
  EXPECT_EQ(s.history.front().at, t0 + 20s);  // 121 events: the first 21 are gone
}

TEST(RolloutTime, FormatsAndParsesRfc3339Utc) {
  EXPECT_EQ(format_time(t0), "2026-11-22T10:00:00Z");
  EXPECT_EQ(format_time(t0 + 250ms), "2026-11-22T10:00:00.250Z");
  EXPECT_EQ(parse_time("2026-11-22T10:00:00.250Z"), t0 + 250ms);
  EXPECT_EQ(parse_time("2026-11-22T10:00:00.5Z"), t0 + 500ms);
  EXPECT_EQ(parse_time("2024-02-29T23:59:59Z"), *parse_time("2024-03-01T00:00:00Z") - 1s);
  for (const char* bad :
       {"", "2026-11-22", "2026-11-22T10:00:00", "2026-02-30T10:00:00Z", "2026-11-22T24:00:00Z",
        "2026-11-22T10:00:00.Z", "2026-11-22 10:00:00Z", "2026-11-22T10:00:00Zjunk"}) {
    EXPECT_EQ(parse_time(bad), std::nullopt) << bad;
  }
}

TEST(RolloutTime, FormatsPercentFromBasisPoints) {
  EXPECT_EQ(format_percent(1000), "10%");
  EXPECT_EQ(format_percent(50), "0.5%");
  EXPECT_EQ(format_percent(1025), "10.25%");
  EXPECT_EQ(format_percent(5), "0.05%");
}

}  // namespace
}  // namespace bgp
