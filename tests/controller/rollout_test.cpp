// The rollout decision and the operator transitions, driven with hand-made windows and times.
#include "controller/rollout.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace bgp {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

const TimePoint t0 = *parse_time("2026-11-22T10:00:00Z");

ColorWindow traffic(std::uint64_t requests, std::uint64_t errors, double p99_ms) {
  return {requests, errors, p99_ms};
}

// Blue is live and green the candidate in every test that does not promote first.
StepWindow window(ColorWindow blue, ColorWindow green) {
  StepWindow w;
  w.of(Color::blue) = blue;
  w.of(Color::green) = green;
  return w;
}

const StepWindow kHealthy = window(traffic(2000, 2, 38), traffic(1000, 4, 41));

RolloutState started(const RolloutConfig& policy, TimePoint at = t0,
                     RolloutState from = initial_state(Color::blue)) {
  OpResult r = start(policy, from, std::nullopt, std::nullopt, at);
  EXPECT_TRUE(r.ok());
  return r.state;
}

Decision at_step_end(const RolloutConfig& policy, const RolloutState& s, const StepWindow& w) {
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
  const OpResult r = start(policy, initial_state(Color::blue), std::nullopt, std::nullopt, t0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.state.phase, Phase::progressing);
  EXPECT_EQ(r.state.step, 0u);
  EXPECT_EQ(r.state.weights.of(Color::green), 1000u);
  EXPECT_EQ(r.state.weights.of(Color::blue), 9000u);
  EXPECT_EQ(r.state.step_started_at, t0);
  EXPECT_EQ(next_step_at(r.state), t0 + 5min);
  EXPECT_TRUE(r.weights_changed);
  EXPECT_TRUE(r.new_window);
  ASSERT_EQ(r.state.history.size(), 1u);
  EXPECT_EQ(r.state.history[0].event, EventKind::start);
  EXPECT_EQ(r.message, "rollout started: blue -> green, step 0 (10%) for 5m");
}

TEST(Rollout, HealthyRolloutPassesEveryStepThenPromotes) {
  const RolloutConfig policy;
  RolloutState s = started(policy);
  const std::array<std::uint32_t, 4> next_weights{2500, 5000, 7500, 10000};
  TimePoint now = t0;
  for (std::size_t step = 0; step < 4; ++step) {
    const Decision mid = evaluate(policy, s, kHealthy, true, now + 4min);
    EXPECT_EQ(mid.verdict, Verdict::none);
    EXPECT_EQ(mid.state.step, step);
    EXPECT_FALSE(mid.weights_changed);

    now += 5min;
    const Decision d = evaluate(policy, mid.state, kHealthy, true, now);
    ASSERT_EQ(d.verdict, Verdict::step_passed) << d.message;
    EXPECT_EQ(d.state.step, step + 1);
    EXPECT_EQ(d.state.weights.of(Color::green), next_weights[step]);
    EXPECT_EQ(d.state.step_started_at, now);
    EXPECT_TRUE(d.weights_changed);
    EXPECT_TRUE(d.new_window);
    s = d.state;
  }
  // At 100% the live color gets no traffic: its p99 comes from the baseline.
  now += 5min;
  const Decision last =
      evaluate(policy, s, window(traffic(0, 0, 0), kHealthy.of(Color::green)), true, now);
  ASSERT_EQ(last.verdict, Verdict::promoted) << last.message;
  EXPECT_EQ(last.state.phase, Phase::stable);
  EXPECT_EQ(last.state.live, Color::green);
  EXPECT_EQ(last.state.weights, Weights::all_to(Color::green));
  EXPECT_EQ(last.state.step, std::nullopt);
  ASSERT_TRUE(last.state.retained);
  EXPECT_EQ(last.state.retained->color, Color::blue);
  EXPECT_EQ(last.state.retained->until, now + 24h);
  EXPECT_EQ(last.state.promotions, 1u);
  EXPECT_EQ(next_step_at(last.state), std::nullopt);
  EXPECT_THAT(last.message, HasSubstr("promoted green: step 4 (100%) passed"));
  EXPECT_THAT(last.message, HasSubstr("(live 38.0 ms baseline)"));

  std::vector<EventKind> events;
  for (const auto& e : last.state.history) events.push_back(e.event);
  EXPECT_EQ(events, (std::vector<EventKind>{EventKind::start, EventKind::step, EventKind::step,
                                            EventKind::step, EventKind::step, EventKind::promote}));
}

TEST(Rollout, StepPassMessageGivesTheNumbers) {
  const RolloutConfig policy;
  const Decision d = at_step_end(policy, at_step(policy, 2), kHealthy);
  EXPECT_EQ(d.message,
            "step 2 (50%) passed: green 0.4% errors over 1000 requests, p99 41.0 ms (live 38.0 ms);"
            " step 3 (75%) begins");
}

struct BreachCase {
  const char* label;
  StepWindow window;
  RollbackReason reason;
  const char* detail;
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
  EXPECT_EQ(d.state.last_rollback->detail, GetParam().detail);
  EXPECT_EQ(d.state.last_rollback->at, t0 + 6min);
  EXPECT_EQ(d.state.rollbacks[static_cast<std::size_t>(GetParam().reason)], 1u);
  EXPECT_EQ(d.state.history.back().event, EventKind::rollback);
  EXPECT_EQ(d.state.history.back().step, 1u);
  EXPECT_EQ(d.message, std::string("rollback (") + std::string(name(GetParam().reason)) +
                           "): " + GetParam().detail);
  // It stays rolled back: later checks change nothing.
  EXPECT_EQ(evaluate(policy, d.state, kHealthy, true, t0 + 1h).verdict, Verdict::none);
}

INSTANTIATE_TEST_SUITE_P(
    EachKind, RolloutBreach,
    ::testing::Values(
        BreachCase{"error_rate", window(traffic(2000, 0, 38), traffic(412, 33, 40)),
                   RollbackReason::error_rate, "green error rate 0.0801 > 0.02 over 412 requests"},
        BreachCase{"p99", window(traffic(2000, 0, 38), traffic(150, 0, 2500)), RollbackReason::p99,
                   "green p99 2500.0 ms > 2000 ms over 150 requests"},
        BreachCase{"p99_increase", window(traffic(2000, 0, 38), traffic(150, 0, 60)),
                   RollbackReason::p99_increase,
                   "green p99 60.0 ms > blue p99 38.0 ms + 50% (noise floor 5 ms) over 150 "
                   "requests"}),
    [](const auto& info) { return std::string(info.param.label); });

TEST(Rollout, FailureLimitNeedsConsecutiveBreaches) {
  RolloutConfig policy;
  policy.failure_limit = 3;
  const StepWindow bad = window(traffic(2000, 0, 38), traffic(200, 20, 40));
  RolloutState s = started(policy);
  TimePoint now = t0;
  for (int i = 1; i <= 2; ++i) {
    const Decision d = evaluate(policy, s, bad, true, now += 10s);
    ASSERT_EQ(d.verdict, Verdict::breach) << d.message;
    EXPECT_EQ(d.reason, RollbackReason::error_rate);
    EXPECT_EQ(d.state.consecutive_breaches, i);
    EXPECT_EQ(d.state.phase, Phase::progressing);
    EXPECT_EQ(d.state.weights.of(Color::green), 1000u);
    EXPECT_EQ(d.message, "breach " + std::to_string(i) +
                             " of 3 (error_rate): green error rate 0.1 > 0.02 over 200 requests");
    s = d.state;
  }

  // A clean check in between resets the streak: two more breaches still do not roll back.
  s = evaluate(policy, s, kHealthy, true, now += 10s).state;
  EXPECT_EQ(s.consecutive_breaches, 0);
  s = evaluate(policy, s, bad, true, now += 10s).state;
  s = evaluate(policy, s, bad, true, now += 10s).state;
  EXPECT_EQ(s.phase, Phase::progressing);
  const Decision third = evaluate(policy, s, bad, true, now += 10s);
  EXPECT_EQ(third.verdict, Verdict::rollback);
  EXPECT_EQ(third.state.phase, Phase::rolled_back);
}

TEST(Rollout, BreachAtTheStepsEndDoesNotPassTheStep) {
  RolloutConfig policy;
  policy.failure_limit = 2;
  const RolloutState s = started(policy);
  const Decision d = at_step_end(policy, s, window(traffic(2000, 0, 38), traffic(200, 20, 40)));
  EXPECT_EQ(d.verdict, Verdict::breach);
  EXPECT_EQ(d.state.step, 0u);
}

TEST(Rollout, NoiseFloorIgnoresSmallAbsoluteIncreases) {
  RolloutConfig policy;
  const StepWindow fast = window(traffic(500, 0, 2.0), traffic(500, 0, 5.0));  // +150%, +3 ms
  const RolloutState s = started(policy);
  EXPECT_EQ(evaluate(policy, s, fast, true, t0 + 1min).verdict, Verdict::none);

  policy.thresholds.p99_noise_floor = 3ms;
  const Decision d = evaluate(policy, s, fast, true, t0 + 1min);
  EXPECT_EQ(d.verdict, Verdict::rollback);
  EXPECT_EQ(d.reason, RollbackReason::p99_increase);
}

TEST(Rollout, TooFewRequestsNeitherRollBackNorPass) {
  const RolloutConfig policy;
  const StepWindow all_failing = window(traffic(2000, 0, 38), traffic(99, 99, 5000));
  const RolloutState s = started(policy);

  const Decision mid = evaluate(policy, s, all_failing, true, t0 + 1min);
  EXPECT_EQ(mid.verdict, Verdict::none);
  EXPECT_EQ(mid.state.phase, Phase::progressing);

  const Decision end = at_step_end(policy, s, all_failing);
  EXPECT_EQ(end.verdict, Verdict::hold);
  EXPECT_TRUE(end.state.held);
  EXPECT_EQ(end.state.step, 0u);
  EXPECT_EQ(end.state.weights, s.weights);
  EXPECT_FALSE(end.weights_changed);
  EXPECT_EQ(end.message, "step 0 (10%) held (inconclusive): green has 99 requests, needs 100");
}

TEST(Rollout, HeldStepPassesOnceItHasEnoughRequests) {
  const RolloutConfig policy;
  RolloutState s = started(policy);
  const TimePoint end = t0 + 5min;
  s = evaluate(policy, s, window(traffic(2000, 0, 38), traffic(40, 0, 40)), true, end).state;
  s = evaluate(policy, s, window(traffic(2000, 0, 38), traffic(80, 0, 40)), true, end + 10s).state;
  EXPECT_TRUE(s.held);
  EXPECT_EQ(s.step, 0u);

  const Decision d =
      evaluate(policy, s, window(traffic(2000, 0, 38), traffic(120, 0, 40)), true, end + 20s);
  ASSERT_EQ(d.verdict, Verdict::step_passed);
  EXPECT_FALSE(d.state.held);
  EXPECT_EQ(d.state.step, 1u);
  EXPECT_EQ(d.state.step_started_at, end + 20s);
}

TEST(Rollout, LastStepComparesWithTheLiveBaseline) {
  const RolloutConfig policy;
  const std::vector<RolloutStep> two_steps{{5000, {}}, {10000, {}}};
  RolloutState s = start(policy, initial_state(Color::blue), two_steps, std::nullopt, t0).state;
  s = at_step_end(policy, s, window(traffic(1000, 0, 38), traffic(1000, 0, 40))).state;
  ASSERT_EQ(s.step, 1u);
  EXPECT_EQ(s.live_baseline_p99_ms, 38.0);

  const ColorWindow no_live = traffic(3, 0, 900);  // stragglers, too few to count
  const Decision slower =
      evaluate(policy, s, window(no_live, traffic(500, 0, 70)), true, t0 + 6min);
  EXPECT_EQ(slower.verdict, Verdict::rollback);
  EXPECT_EQ(slower.reason, RollbackReason::p99_increase);
  EXPECT_THAT(slower.message, HasSubstr("blue baseline p99 38.0 ms"));

  const Decision same = evaluate(policy, s, window(no_live, traffic(500, 0, 50)), true, t0 + 6min);
  EXPECT_EQ(same.verdict, Verdict::none);
}

TEST(Rollout, WithoutAnyLiveMeasurementTheIncreaseCheckIsSkipped) {
  const RolloutConfig policy;
  const RolloutState s = start(policy, initial_state(Color::blue),
                               std::vector<RolloutStep>{{10000, {}}}, std::nullopt, t0)
                             .state;
  const Decision d = at_step_end(policy, s, window(traffic(0, 0, 0), traffic(500, 0, 1500)));
  EXPECT_EQ(d.verdict, Verdict::promoted) << d.message;
  EXPECT_THAT(d.message, HasSubstr("(live too few requests)"));
}

TEST(Rollout, AfterPromotionTheNextRolloutGoesTheOtherWay) {
  const RolloutConfig policy;
  const RolloutState promoted = promote(policy, started(policy), t0 + 1min).state;
  ASSERT_EQ(promoted.live, Color::green);

  const OpResult next = start(policy, promoted, std::nullopt, std::nullopt, t0 + 2h);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next.state.candidate(), Color::blue);
  EXPECT_EQ(next.state.weights.of(Color::blue), 1000u);
  EXPECT_EQ(next.state.weights.of(Color::green), 9000u);
  EXPECT_EQ(next.state.retained, std::nullopt);
  EXPECT_EQ(next.message, "rollout started: green -> blue, step 0 (10%) for 5m");

  // Blue is now judged as the candidate.
  StepWindow w;
  w.of(Color::green) = traffic(2000, 0, 38);
  w.of(Color::blue) = traffic(500, 100, 40);
  const Decision d = evaluate(policy, next.state, w, true, t0 + 2h + 10s);
  EXPECT_EQ(d.verdict, Verdict::rollback);
  EXPECT_EQ(d.state.weights, Weights::all_to(Color::green));
  EXPECT_THAT(d.message, HasSubstr("blue error rate 0.2"));
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
  EXPECT_EQ(r.state.last_rollback->detail, "by operator at step 2 (50%)");

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

TEST(Rollout, SetWeightsWhenStableKeepsTheManualSplit) {
  const OpResult r = set_weights(initial_state(Color::blue), Color::blue, 7000, t0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.state.phase, Phase::stable);
  EXPECT_EQ(r.state.weights.of(Color::green), 3000u);
  EXPECT_EQ(r.message, "weights set by hand: blue 70%, green 30%");

  // A rollback undoes the hand-set split.
  EXPECT_EQ(rollback(r.state, t0 + 1min).state.weights, Weights::all_to(Color::blue));
  EXPECT_EQ(set_weights(initial_state(Color::blue), Color::green, 10001, t0).error->status, 400);
}

TEST(Rollout, StartRefusesWhileRunningAndBadSteps) {
  const RolloutConfig policy;
  const RolloutState running = started(policy);
  EXPECT_EQ(start(policy, running, std::nullopt, std::nullopt, t0).error->status, 409);
  EXPECT_EQ(start(policy, pause(running, t0).state, std::nullopt, std::nullopt, t0).error->status,
            409);

  const auto start_with = [&](std::vector<RolloutStep> steps) {
    return start(policy, initial_state(Color::blue), std::move(steps), std::nullopt, t0);
  };
  EXPECT_EQ(start_with({{5000, {}}, {2500, {}}, {10000, {}}}).error->status, 400);
  EXPECT_EQ(start_with({{5000, {}}, {5000, {}}, {10000, {}}}).error->status, 400);
  EXPECT_EQ(start_with({{5000, {}}, {7500, {}}}).error->status, 400);
  EXPECT_EQ(start_with({{5000, {}}, {10001, {}}}).error->status, 400);
  EXPECT_EQ(start_with({}).error->status, 400);
  EXPECT_EQ(start(policy, initial_state(Color::blue), std::nullopt, Duration{0}, t0).error->status,
            400);

  // After a rollback the operator may start again.
  const RolloutState rolled_back = rollback(running, t0 + 1min).state;
  EXPECT_TRUE(start(policy, rolled_back, std::nullopt, std::nullopt, t0 + 2min).ok());
}

TEST(Rollout, PerStepDurationsAndHalfPercentSteps) {
  const RolloutConfig policy;
  const std::vector<RolloutStep> steps{{50, 1min}, {1000, {}}, {10000, 2min}};
  RolloutState s = start(policy, initial_state(Color::blue), steps, Duration{30s}, t0).state;
  EXPECT_EQ(s.weights.of(Color::green), 50u);
  EXPECT_EQ(next_step_at(s), t0 + 1min);

  s = evaluate(policy, s, kHealthy, true, t0 + 1min).state;
  EXPECT_EQ(s.weights.of(Color::green), 1000u);
  EXPECT_EQ(next_step_at(s), t0 + 1min + 30s);

  const Decision d = evaluate(policy, s, kHealthy, true, t0 + 1min + 30s);
  EXPECT_EQ(d.message.rfind("step 1 (10%) passed", 0), 0u) << d.message;
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
  const Decision d = evaluate(policy, started(policy), StepWindow{}, false, t0 + 10s);
  EXPECT_EQ(d.verdict, Verdict::rollback);
  EXPECT_EQ(d.reason, RollbackReason::health);
  EXPECT_EQ(d.state.weights, Weights::all_to(Color::blue));
  EXPECT_EQ(d.message, "rollback (health): green has no healthy endpoint");
  // No rollout running: an unhealthy candidate changes nothing.
  EXPECT_EQ(evaluate(policy, initial_state(Color::blue), StepWindow{}, false, t0).verdict,
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
