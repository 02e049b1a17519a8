#include "controller/judge.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include <fmt/format.h>

namespace bgp {
namespace {

using Layout = HistogramLayout;

// The alternatives of the mixture, as log-odds above (or below) the null rate: from a borderline
// excess (+0.25: 2% -> 2.5%) to a gross one (+6: 2% -> 93%).
constexpr std::array<double, 7> kLogOddsSteps{0.25, 0.5, 1.0, 1.75, 2.75, 4.0, 6.0};
constexpr double kLogMaxEvidence = 690;  // e^690 ~ 1e300: prints and survives JSON

double clamp_rate(double tau) noexcept {
  return std::clamp(tau, 1e-12, 1.0 - 1e-12);
}

double sigmoid(double x) noexcept {
  return 1.0 / (1.0 + std::exp(-x));
}

// ln of the mean of exp(terms), without overflow.
template <std::size_t N>
double log_mean_exp(const std::array<double, N>& terms) noexcept {
  const double top = *std::max_element(terms.begin(), terms.end());
  if (!std::isfinite(top)) return top;
  double sum = 0;
  for (double t : terms) sum += std::exp(t - top);
  return top + std::log(sum / static_cast<double>(N));
}

// The mixture for one null rate and direction: per alternative theta_j = sigmoid(logit(tau) +
// sign * d_j), the log likelihood ratio of one event and of one non-event, computed once.
class Mixture {
 public:
  Mixture(double tau, double sign) noexcept {
    tau = clamp_rate(tau);
    const double logit = std::log(tau / (1 - tau));
    for (std::size_t j = 0; j < kLogOddsSteps.size(); ++j) {
      const double theta = sigmoid(logit + sign * kLogOddsSteps[j]);
      per_event_[j] = std::log(theta / tau);
      per_non_event_[j] = std::log1p(-theta) - std::log1p(-tau);
    }
  }

  // ln E after `events` of `trials`.
  double log_e(std::uint64_t events, std::uint64_t trials) const noexcept {
    if (trials == 0) return 0;
    const double k = static_cast<double>(std::min(events, trials));
    const double rest = static_cast<double>(trials) - k;
    std::array<double, kLogOddsSteps.size()> terms{};
    for (std::size_t j = 0; j < terms.size(); ++j) {
      terms[j] = k * per_event_[j] + rest * per_non_event_[j];
    }
    return log_mean_exp(terms);
  }

 private:
  std::array<double, kLogOddsSteps.size()> per_event_{}, per_non_event_{};
};

// ln(1/2 + e^x / 2): the hedge that keeps one factor of a product from collapsing to 0.
double log_hedged(double x) noexcept {
  const double softplus = x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  return softplus - std::numbers::ln2;
}

// How many values lie in buckets at or above each bucket: suffix[b] = count in [b, end).
std::vector<std::uint64_t> counts_at_or_above(const LatencyHistogram& h) {
  std::vector<std::uint64_t> suffix(Layout::kBuckets + 1, 0);
  for (std::size_t b = Layout::kBuckets; b-- > 0;) suffix[b] = suffix[b + 1] + h.bucket_count(b);
  return suffix;
}

// The first bucket whose every value is >= `micros` (kBuckets when none is).
std::size_t first_bucket_from(double micros) noexcept {
  if (micros <= 0) return 0;
  const double top = static_cast<double>(Layout::lower_bound(Layout::kBuckets - 1));
  if (micros > top) return Layout::kBuckets;
  std::size_t b = Layout::bucket_of(static_cast<std::uint64_t>(std::ceil(micros)));
  if (static_cast<double>(Layout::lower_bound(b)) < micros) ++b;
  return b;
}

// g(x): the largest latency the candidate may have where the live color has x.
double allowed_micros(const Thresholds& t, double live_micros) noexcept {
  const double floor_micros = static_cast<double>(t.p99_noise_floor.count()) * 1000.0;
  return std::max(live_micros * (1 + t.max_p99_increase), live_micros + floor_micros);
}

// The judge's settings and the thresholds, read together by every rule.
struct Rules {
  const JudgeConfig& judge;
  const Thresholds& thresholds;
  std::size_t looks;  // alpha is split over this many views of the same rules
};

// alpha is split evenly over the looks, then the three kinds of rule, then the quantiles.
double bar_of(const Rules& config, std::size_t shares_of_kind) noexcept {
  const std::size_t kinds = config.judge.quantiles.empty() ? 2 : 3;
  return static_cast<double>(config.looks * kinds * shares_of_kind) / config.judge.alpha;
}

RuleEvidence error_rule(const Rules& config, const Sample& candidate) {
  RuleEvidence r;
  r.kind = RuleKind::error_rate;
  r.events = candidate.errors;
  r.estimate = candidate.error_rate();
  r.threshold = config.thresholds.max_error_rate;
  r.candidate_n = candidate.requests;
  r.log_e = log_evidence_above(candidate.errors, candidate.requests, r.threshold);
  r.bar = bar_of(config, 1);
  return r;
}

// "p99 <= max_p99" means at most 1% of requests are slower than max_p99.
RuleEvidence slow_share_rule(const Rules& config, const Sample& candidate,
                             const std::vector<std::uint64_t>& candidate_above) {
  constexpr double kShare = 0.01;
  const double limit_micros = static_cast<double>(config.thresholds.max_p99.count()) * 1000.0;
  const std::uint64_t slow = candidate_above[first_bucket_from(limit_micros)];
  RuleEvidence r;
  r.kind = RuleKind::slow_share;
  r.quantile = 0.99;
  r.limit_ms = limit_micros / 1000.0;
  r.events = slow;
  r.estimate = candidate.requests ? static_cast<double>(slow) / candidate.requests : 0.0;
  r.threshold = kShare;
  r.candidate_n = candidate.requests;
  r.log_e = log_evidence_above(slow, candidate.requests, kShare);
  r.bar = bar_of(config, 1);
  return r;
}

// Candidate vs live at quantile q (tau = 1 - q). For the bucket b = [lo, hi) that holds the live
// quantile, "fine" means: at least tau of live requests are >= lo, and at most tau of candidate
// requests are >= g(hi). Each has its e-process; their product is one under "fine" (they see
// disjoint requests), and the minimum over every b is at most the product at the true b.
RuleEvidence latency_rule(const Rules& config, double q, const Sample& candidate,
                          const Sample& reference,
                          const std::vector<std::uint64_t>& candidate_above,
                          const std::vector<std::uint64_t>& reference_above) {
  const double tau = 1 - q;
  const Mixture candidate_above_tau(tau, +1), reference_below_tau(tau, -1);
  const std::uint64_t n_cand = candidate_above[0];
  const std::uint64_t n_ref = reference_above[0];
  // Over b, the live factor only grows and the candidate factor only shrinks: within a run of
  // buckets with the same candidate count the product is least at the run's first bucket, so only
  // those are computed.
  double min_log = std::numeric_limits<double>::infinity();
  std::uint64_t last_c = ~std::uint64_t{0};
  for (std::size_t b = 0; b < Layout::kBuckets && last_c != 0; ++b) {
    const double hi = static_cast<double>(Layout::lower_bound(b) + Layout::width(b));
    const std::uint64_t c =
        candidate_above[first_bucket_from(allowed_micros(config.thresholds, hi))];
    if (c == last_c) continue;
    last_c = c;
    const double log_s = log_hedged(reference_below_tau.log_e(reference_above[b], n_ref)) +
                         log_hedged(candidate_above_tau.log_e(c, n_cand));
    min_log = std::min(min_log, log_s);
  }
  RuleEvidence r;
  r.kind = RuleKind::latency;
  r.quantile = q;
  r.estimate = candidate.latency.quantile_micros(q) / 1000.0;
  r.threshold =
      n_ref ? allowed_micros(config.thresholds, reference.latency.quantile_micros(q)) / 1000.0
            : std::numeric_limits<double>::quiet_NaN();
  r.candidate_n = n_cand;
  r.reference_n = n_ref;
  r.log_e = std::isfinite(min_log) ? min_log : 0.0;
  r.bar = bar_of(config, config.judge.quantiles.size());
  return r;
}

std::string format_e(double e) {
  if (e >= 1e6) return fmt::format("{:.2e}", e);
  if (e >= 100) return fmt::format("{:.0f}", e);
  return fmt::format("{:.2g}", e);
}

std::string format_rate(double rate) {
  return fmt::format("{:.3g}%", rate * 100);
}

std::string format_ms(double ms) {
  if (std::isnan(ms)) return "n/a";
  return ms >= 100 ? fmt::format("{:.0f} ms", ms) : fmt::format("{:.3g} ms", ms);
}

std::string format_quantile(double q) {
  return fmt::format("p{:g}", q * 100);
}

}  // namespace

Sample& Sample::operator+=(const Sample& other) noexcept {
  requests += other.requests;
  errors += other.errors;
  latency += other.latency;
  return *this;
}

ColorSamples& ColorSamples::operator+=(const ColorSamples& other) noexcept {
  for (Color c : kColors) of(c) += other.of(c);
  return *this;
}

double log_evidence_above(std::uint64_t events, std::uint64_t trials, double tau) noexcept {
  return Mixture(tau, +1).log_e(events, trials);
}

double log_evidence_below(std::uint64_t events, std::uint64_t trials, double tau) noexcept {
  return Mixture(tau, -1).log_e(events, trials);
}

bool RuleEvidence::breached() const noexcept {
  return log_e >= std::log(bar);
}

double RuleEvidence::e() const noexcept {
  return std::exp(std::min(log_e, kLogMaxEvidence));
}

std::string RuleEvidence::name() const {
  switch (kind) {
    case RuleKind::error_rate:
      return "error_rate";
    case RuleKind::slow_share:
      return "p99";
    case RuleKind::latency:
      return fmt::format("latency_{}", format_quantile(quantile));
  }
  return "error_rate";
}

std::string RuleEvidence::describe(Color candidate, Color reference) const {
  const std::string evidence = breached() ? fmt::format("e={} >= {:g}", format_e(e()), bar)
                                          : fmt::format("e={}/{:g}", format_e(e()), bar);
  const std::string cand = scope.empty() ? std::string(bgp::name(candidate))
                                         : fmt::format("{} ({})", bgp::name(candidate), scope);
  switch (kind) {
    case RuleKind::error_rate:
      return fmt::format("error_rate: {} {} ({}/{}) {} {}; {}", cand, format_rate(estimate), events,
                         candidate_n, estimate > threshold ? ">" : "<=", format_rate(threshold),
                         evidence);
    case RuleKind::slow_share:
      return fmt::format("p99: {} {} ({}/{}) slower than {} (max {}); {}", cand,
                         format_rate(estimate), events, candidate_n, format_ms(limit_ms),
                         format_rate(threshold), evidence);
    case RuleKind::latency:
      return fmt::format("{}: {} {} vs allowed {} ({} {} requests, {} {}); {}", name(), cand,
                         format_ms(estimate), format_ms(threshold), bgp::name(candidate),
                         candidate_n, bgp::name(reference), reference_n, evidence);
  }
  return evidence;
}

std::vector<RuleEvidence> judge(const JudgeConfig& judge_config, const Thresholds& thresholds,
                                const Sample& candidate, const Sample& reference,
                                std::size_t looks) {
  const Rules config{judge_config, thresholds, std::max<std::size_t>(looks, 1)};
  const auto candidate_above = counts_at_or_above(candidate.latency);
  std::vector<RuleEvidence> rules;
  rules.reserve(2 + judge_config.quantiles.size());
  rules.push_back(error_rule(config, candidate));
  rules.push_back(slow_share_rule(config, candidate, candidate_above));
  if (!judge_config.quantiles.empty()) {
    const auto reference_above = counts_at_or_above(reference.latency);
    for (double q : judge_config.quantiles) {
      rules.push_back(
          latency_rule(config, q, candidate, reference, candidate_above, reference_above));
    }
  }
  return rules;
}

std::vector<RuleEvidence> stronger_of(std::vector<RuleEvidence> a,
                                      const std::vector<RuleEvidence>& b) {
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (b[i].log_e > a[i].log_e) a[i] = b[i];
  }
  return a;
}

const RuleEvidence* first_breach(const std::vector<RuleEvidence>& rules) noexcept {
  for (const auto& r : rules) {
    if (r.breached()) return &r;
  }
  return nullptr;
}

std::string summarize(const std::vector<RuleEvidence>& rules, Color candidate, Color reference) {
  std::string out;
  for (const auto& r : rules) {
    if (!out.empty()) out += ", ";
    out += r.describe(candidate, reference);
  }
  return out;
}

}  // namespace bgp
