// A rollout driven by simulated traffic: the real decision code (bgp::evaluate) fed with seeded
// Poisson arrivals per check and per-request latencies recorded in the proxy's own histograms.
// Shared by the judge benchmark (bench/judge/judge_sim.cpp) and its short version in the test
// suite (tests/controller/judge_sim_test.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "controller/rollout.h"

namespace bgp::sim {

// How one color behaves.
struct Traffic {
  double error_rate = 0.005;
  double base_ms = 0.3;  // latency = base + Exp(mean), then x factor + add
  double exp_mean_ms = 4.0;
  double factor = 1.0;
  double add_ms = 0.0;
  double slow_share = 0.0;  // this share of requests take slow_ms instead
  double slow_ms = 2500.0;
};

struct Setting {
  std::string name;
  double requests_per_second = 400;
  RolloutConfig policy;
};

struct Outcome {
  bool rolled_back = false;
  double seconds = 0;  // from the start to the rollback (or to the promotion)
  std::optional<RollbackReason> reason;
};

inline Sample draw(const Traffic& t, std::uint64_t n, std::mt19937_64& random) {
  Sample s;
  s.requests = n;
  std::bernoulli_distribution error(t.error_rate), slow(t.slow_share);
  std::exponential_distribution<double> tail(1.0 / t.exp_mean_ms);
  for (std::uint64_t i = 0; i < n; ++i) {
    if (t.error_rate > 0 && error(random)) ++s.errors;
    double ms = (t.base_ms + tail(random)) * t.factor + t.add_ms;
    if (t.slow_share > 0 && slow(random)) ms = t.slow_ms;
    s.latency.record(static_cast<std::uint64_t>(ms * 1000));
  }
  return s;
}

// One rollout from its start until it is promoted or rolled back (the watch is not simulated).
inline Outcome run_rollout(const Setting& setting, const Traffic& live, const Traffic& candidate,
                           std::uint64_t seed) {
  const RolloutConfig& policy = setting.policy;
  const TimePoint t0{};
  RolloutState s =
      start(policy, initial_state(Color::blue), std::nullopt, std::nullopt, true, t0).state;
  std::mt19937_64 random(seed);
  const double dt = std::chrono::duration<double>(policy.check_interval).count();
  Duration total{0};
  for (std::size_t i = 0; i < policy.steps.size(); ++i) total += policy.duration_of(i);
  for (TimePoint now = t0; now - t0 < 10 * total;) {
    now += policy.check_interval;
    ColorSamples fresh;
    for (Color c : kColors) {
      const double share = s.weights.of(c) / static_cast<double>(kFullWeight);
      std::poisson_distribution<std::uint64_t> arrivals(setting.requests_per_second * share * dt);
      const auto n = share > 0 ? arrivals(random) : 0;
      fresh.of(c) = draw(c == Color::blue ? live : candidate, n, random);
    }
    Decision d = evaluate(policy, s, fresh, true, now);
    const double seconds = std::chrono::duration<double>(now - t0).count();
    if (d.verdict == Verdict::rollback) return {true, seconds, d.reason};
    if (d.verdict == Verdict::promoted) return {false, seconds, std::nullopt};
    s = std::move(d.state);
  }
  return {false, std::chrono::duration<double>(10 * total).count(), std::nullopt};
}

// `count` rollouts with seeds seed, seed + 1, ... on every core.
inline std::vector<Outcome> run_rollouts(const Setting& setting, const Traffic& live,
                                         const Traffic& candidate, int count, std::uint64_t seed) {
  std::vector<Outcome> outcomes(static_cast<std::size_t>(count));
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::jthread> workers;
  for (unsigned w = 0; w < threads; ++w) {
    workers.emplace_back([&, w] {
      for (std::size_t i = w; i < outcomes.size(); i += threads) {
        outcomes[i] = run_rollout(setting, live, candidate, seed + i);
      }
    });
  }
  workers.clear();  // joins
  return outcomes;
}

// The q-quantile (nearest rank) of the rollback times; nullopt when none rolled back.
inline std::optional<double> detection_quantile(const std::vector<Outcome>& outcomes, double q) {
  std::vector<double> times;
  for (const auto& o : outcomes) {
    if (o.rolled_back) times.push_back(o.seconds);
  }
  if (times.empty()) return std::nullopt;
  std::sort(times.begin(), times.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(times.size())));
  return times[std::clamp<std::size_t>(rank, 1, times.size()) - 1];
}

inline int rolled_back(const std::vector<Outcome>& outcomes) {
  return static_cast<int>(std::count_if(outcomes.begin(), outcomes.end(),
                                        [](const Outcome& o) { return o.rolled_back; }));
}

// The settings of the judge's targets (docs/judge.md).
inline Setting fast_setting() {
  Setting s{"400 req/s, [10,50,100] x 1.5 s, check 250 ms, min_requests 50", 400, {}};
  s.policy.steps = {{1000, {}}, {5000, {}}, {10000, {}}};
  s.policy.step_duration = std::chrono::milliseconds(1500);
  s.policy.check_interval = std::chrono::milliseconds(250);
  s.policy.min_requests = 50;
  return s;
}

inline Setting defaults_setting(double requests_per_second) {
  return {fmt::format("{:g} req/s, defaults (5 x 5 min, check 10 s, min_requests 100)",
                      requests_per_second),
          requests_per_second,
          {}};
}

}  // namespace bgp::sim
