// The judge: anytime-valid evidence that the candidate is worse than a threshold (docs/judge.md).
//
// Each rule is an e-process: a number that starts at 1 and, while the candidate is fine, is a
// nonnegative supermartingale in the requests it sees. By Ville's inequality the chance that it
// *ever* reaches 1/a is at most a, however often it is read. The rollout's alpha is split over the
// rules, so a healthy candidate is rolled back with probability at most alpha per rollout, at any
// check cadence. A rule breaches when its evidence reaches its bar, not when a noisy estimate
// crosses the threshold.
//
// Pure: counts and histograms in, evidence out. No clock, no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "config/color.h"
#include "config/config.h"
#include "metrics/histogram.h"

namespace bgp {

// What one color served in a window: the requests the judge counts (split-routed only).
struct Sample {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;  // status >= 500, the proxy's own 502/503/504 included
  LatencyHistogram latency;

  double error_rate() const noexcept {
    return requests ? static_cast<double>(errors) / static_cast<double>(requests) : 0.0;
  }
  double p99_ms() const noexcept { return latency.quantile_micros(0.99) / 1000.0; }
  Sample& operator+=(const Sample& other) noexcept;
  bool operator==(const Sample&) const = default;
};

// Both colors' samples of one window.
struct ColorSamples {
  std::array<Sample, 2> colors{};

  const Sample& of(Color c) const noexcept { return colors[index(c)]; }
  Sample& of(Color c) noexcept { return colors[index(c)]; }
  ColorSamples& operator+=(const ColorSamples& other) noexcept;
  bool operator==(const ColorSamples&) const = default;
};

// --- the e-values (natural logs) ---

// ln E+: evidence that the event rate behind `events` of `trials` is above `tau`. A mixture of
// likelihood ratios over seven alternatives between slightly and far above tau (so that both a
// gross and a borderline excess are found), averaged with equal weights. 0 with no trials.
double log_evidence_above(std::uint64_t events, std::uint64_t trials, double tau) noexcept;
// ln E-: evidence that the rate is below `tau` (the mirror image).
double log_evidence_below(std::uint64_t events, std::uint64_t trials, double tau) noexcept;

// --- the rules ---

enum class RuleKind : std::uint8_t {
  error_rate,  // candidate error rate above max_error_rate
  slow_share,  // more than 1% of candidate requests slower than max_p99
  latency,     // a candidate quantile above g(live quantile)
};

struct RuleEvidence {
  RuleKind kind = RuleKind::error_rate;
  double quantile = 0;            // for latency: the compared quantile (0.5, 0.99, ...)
  double estimate = 0;            // error rate, share slower than max_p99, or quantile in ms
  double threshold = 0;           // the same unit; NaN when the reference has no data yet
  std::uint64_t events = 0;       // errors, or requests slower than max_p99
  std::uint64_t candidate_n = 0;  // requests of the candidate the evidence covers
  std::uint64_t reference_n = 0;  // requests of the reference (live) color, for latency
  double log_e = 0;               // ln of the evidence
  double bar = 0;                 // the evidence needed to breach (not a log)
  std::string scope;              // "" = the whole rollout; else e.g. "this step"
  double limit_ms = 0;            // for slow_share: max_p99

  bool breached() const noexcept;
  double e() const noexcept;  // the evidence, capped so that it prints and serializes
  std::string name() const;   // "error_rate", "p99", "latency_p50" (metric label and JSON)
  std::string describe(Color candidate, Color reference) const;  // one human clause
};

// Every rule's evidence that `candidate` is worse than the thresholds (and than `reference`, the
// live color, at each compared quantile). Rules in the order error_rate, slow_share, latency per
// quantile. `looks`: how many views of the same rollout are judged (each gets alpha / looks).
std::vector<RuleEvidence> judge(const JudgeConfig& config, const Thresholds& thresholds,
                                const Sample& candidate, const Sample& reference,
                                std::size_t looks = 1);

// Rule by rule, the one with the stronger evidence (both from judge() with the same rules).
std::vector<RuleEvidence> stronger_of(std::vector<RuleEvidence> a,
                                      const std::vector<RuleEvidence>& b);

// The first breached rule, or null.
const RuleEvidence* first_breach(const std::vector<RuleEvidence>& rules) noexcept;

// "error_rate 0.4% (2/512) <= 2%: e=0.31/300, p99 ..." for verdict lines.
std::string summarize(const std::vector<RuleEvidence>& rules, Color candidate, Color reference);

}  // namespace bgp
