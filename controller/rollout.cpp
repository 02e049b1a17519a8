#include "controller/rollout.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace bgp {
namespace {

using std::chrono::milliseconds;

template <typename Enum, std::size_t N>
std::optional<Enum> parse_enum(std::string_view text, const std::array<Enum, N>& values) {
  for (Enum value : values) {
    if (name(value) == text) return value;
  }
  return std::nullopt;
}

// "5m", "30s", "1500ms": the shortest exact unit.
std::string human_duration(Duration d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms != 0 && ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
  if (ms != 0 && ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

std::string step_label(const RolloutState& s, std::size_t step) {
  return fmt::format("step {} ({})", step, format_percent(s.steps.at(step).weight_bp));
}

std::string current_step_label(const RolloutState& s) {
  return s.step ? step_label(s, *s.step) : std::string("no step");
}

void record(RolloutState& s, EventKind event, std::optional<std::size_t> step, std::string detail,
            TimePoint now) {
  s.history.push_back({now, event, step, s.weights, std::move(detail)});
  if (s.history.size() > kHistoryLimit) {
    s.history.erase(s.history.begin(), s.history.begin() + static_cast<std::ptrdiff_t>(
                                                               s.history.size() - kHistoryLimit));
  }
}

// Leaves the step-related fields as they are when no rollout runs.
void clear_step(RolloutState& s) {
  s.step.reset();
  s.paused_at.reset();
  s.held = false;
  s.consecutive_breaches = 0;
}

RolloutState apply_rollback(RolloutState s, RollbackReason reason, const std::string& detail,
                            TimePoint now) {
  const auto step = s.step;
  s.weights = Weights::all_to(s.live);
  s.phase = Phase::rolled_back;
  s.last_rollback = LastRollback{now, reason, detail};
  ++s.rollbacks[static_cast<std::size_t>(reason)];
  record(s, EventKind::rollback, step, detail, now);
  clear_step(s);
  return s;
}

// The candidate becomes live; the old live color is kept for retain_previous.
RolloutState apply_promotion(const RolloutConfig& policy, RolloutState s, const std::string& detail,
                             TimePoint now) {
  const auto step = s.step;
  const Color previous = s.live;
  s.live = s.candidate();
  s.weights = Weights::all_to(s.live);
  s.phase = Phase::stable;
  s.retained = Retained{previous, now + policy.retain_previous};
  ++s.promotions;
  record(s, EventKind::promote, step, detail, now);
  clear_step(s);
  return s;
}

std::string rollback_message(RollbackReason reason, std::string_view detail) {
  return fmt::format("rollback ({}): {}", name(reason), detail);
}

// --- the checks of one window ---

bool has_data(const ColorWindow& w, std::uint64_t min_requests) {
  return w.requests > 0 && w.requests >= min_requests;
}

struct LiveReference {
  double p99_ms = 0;
  bool from_baseline = false;  // the live color had too few requests in this window
};

std::optional<LiveReference> live_reference(const RolloutConfig& policy, const RolloutState& s,
                                            const StepWindow& window) {
  const ColorWindow& live = window.of(s.live);
  if (has_data(live, policy.min_requests)) return LiveReference{live.p99_ms, false};
  if (s.live_baseline_p99_ms) return LiveReference{*s.live_baseline_p99_ms, true};
  return std::nullopt;
}

struct Breach {
  RollbackReason reason;
  std::string detail;
};

std::optional<Breach> find_breach(const Thresholds& limits, Color candidate, Color live,
                                  const ColorWindow& c, std::optional<LiveReference> reference) {
  const auto color = name(candidate);
  if (c.error_rate() > limits.max_error_rate) {
    return Breach{RollbackReason::error_rate,
                  fmt::format("{} error rate {:.3g} > {} over {} requests", color, c.error_rate(),
                              limits.max_error_rate, c.requests)};
  }
  const double max_p99_ms = static_cast<double>(limits.max_p99.count());
  if (c.p99_ms > max_p99_ms) {
    return Breach{RollbackReason::p99,
                  fmt::format("{} p99 {:.1f} ms > {} ms over {} requests", color, c.p99_ms,
                              limits.max_p99.count(), c.requests)};
  }
  if (!reference) return std::nullopt;
  const double allowed = reference->p99_ms * (1 + limits.max_p99_increase);
  const double floor_ms = static_cast<double>(limits.p99_noise_floor.count());
  if (c.p99_ms > allowed && c.p99_ms - reference->p99_ms >= floor_ms) {
    return Breach{
        RollbackReason::p99_increase,
        fmt::format("{} p99 {:.1f} ms > {} {}p99 {:.1f} ms + {:g}% (noise floor {} ms) "
                    "over {} requests",
                    color, c.p99_ms, name(live), reference->from_baseline ? "baseline " : "",
                    reference->p99_ms, limits.max_p99_increase * 100,
                    limits.p99_noise_floor.count(), c.requests)};
  }
  return std::nullopt;
}

std::string measurements(Color candidate, const ColorWindow& c,
                         std::optional<LiveReference> reference) {
  const std::string live = reference ? fmt::format("{:.1f} ms{}", reference->p99_ms,
                                                   reference->from_baseline ? " baseline" : "")
                                     : std::string("too few requests");
  return fmt::format("{} {:.3g}% errors over {} requests, p99 {:.1f} ms (live {})", name(candidate),
                     c.error_rate() * 100, c.requests, c.p99_ms, live);
}

// --- the verdicts ---

Decision rolled_back(Decision d, RollbackReason reason, const std::string& detail, TimePoint now) {
  const Weights before = d.state.weights;
  d.state = apply_rollback(std::move(d.state), reason, detail, now);
  d.verdict = Verdict::rollback;
  d.reason = reason;
  d.message = rollback_message(reason, detail);
  d.weights_changed = d.state.weights != before;
  d.new_window = true;
  return d;
}

Decision breached(const RolloutConfig& policy, Decision d, const Breach& breach, TimePoint now) {
  const int limit = std::max(policy.failure_limit, 1);
  if (++d.state.consecutive_breaches >= limit) {
    return rolled_back(std::move(d), breach.reason, breach.detail, now);
  }
  d.verdict = Verdict::breach;
  d.reason = breach.reason;
  d.message = fmt::format("breach {} of {} ({}): {}", d.state.consecutive_breaches, limit,
                          name(breach.reason), breach.detail);
  return d;
}

Decision held(const RolloutConfig& policy, Decision d, const ColorWindow& c) {
  d.state.held = true;
  d.verdict = Verdict::hold;
  d.message = fmt::format("{} held (inconclusive): {} has {} requests, needs {}",
                          current_step_label(d.state), name(d.state.candidate()), c.requests,
                          policy.min_requests);
  return d;
}

Decision passed(const RolloutConfig& policy, Decision d, const ColorWindow& c,
                std::optional<LiveReference> reference, TimePoint now) {
  RolloutState& s = d.state;
  const std::size_t step = *s.step;
  const std::string summary =
      fmt::format("{} passed: {}", step_label(s, step), measurements(s.candidate(), c, reference));
  d.weights_changed = true;
  d.new_window = true;
  if (step + 1 == s.steps.size()) {
    const Color previous = s.live;
    s = apply_promotion(policy, std::move(s), summary, now);
    d.verdict = Verdict::promoted;
    d.message = fmt::format("promoted {}: {}; {} retained until {}", name(s.live), summary,
                            name(previous), format_time(s.retained->until));
    return d;
  }
  s.step = step + 1;
  s.weights.set(s.candidate(), s.steps[step + 1].weight_bp);
  s.step_started_at = now;
  s.held = false;
  s.consecutive_breaches = 0;
  d.verdict = Verdict::step_passed;
  d.message = fmt::format("{}; {} begins", summary, step_label(s, step + 1));
  record(s, EventKind::step, s.step, d.message, now);
  return d;
}

// --- operator transitions ---

OpResult refuse(const RolloutState& s, int status, std::string message) {
  return OpResult{s, {}, false, false, OpError{status, std::move(message)}};
}

OpResult changed(const RolloutState& before, RolloutState after, std::string message,
                 bool new_window) {
  const bool weights_changed = after.weights != before.weights;
  return OpResult{std::move(after), std::move(message), weights_changed, new_window, std::nullopt};
}

std::string not_running(const RolloutState& s) {
  return fmt::format("no rollout is running (state {})", name(s.phase));
}

// Everything to the previous color kept after a promotion.
OpResult flip_to_retained(const RolloutState& state, TimePoint now) {
  RolloutState s = state;
  const Color demoted = s.live;
  s.live = s.retained->color;
  s.retained.reset();
  const std::string detail =
      fmt::format("by operator: {} is live again, {} demoted", name(s.live), name(demoted));
  s = apply_rollback(std::move(s), RollbackReason::manual, detail, now);
  return changed(state, std::move(s), rollback_message(RollbackReason::manual, detail), true);
}

}  // namespace

std::string_view name(Phase phase) noexcept {
  switch (phase) {
    case Phase::stable:
      return "stable";
    case Phase::progressing:
      return "progressing";
    case Phase::paused:
      return "paused";
    case Phase::rolled_back:
      return "rolled_back";
  }
  return "stable";
}

std::optional<Phase> parse_phase(std::string_view text) noexcept {
  return parse_enum(
      text, std::array{Phase::stable, Phase::progressing, Phase::paused, Phase::rolled_back});
}

std::string_view name(RollbackReason reason) noexcept {
  switch (reason) {
    case RollbackReason::error_rate:
      return "error_rate";
    case RollbackReason::p99:
      return "p99";
    case RollbackReason::p99_increase:
      return "p99_increase";
    case RollbackReason::health:
      return "health";
    case RollbackReason::manual:
      return "manual";
  }
  return "manual";
}

std::optional<RollbackReason> parse_rollback_reason(std::string_view text) noexcept {
  return parse_enum(text, std::array{RollbackReason::error_rate, RollbackReason::p99,
                                     RollbackReason::p99_increase, RollbackReason::health,
                                     RollbackReason::manual});
}

std::string_view name(EventKind event) noexcept {
  switch (event) {
    case EventKind::start:
      return "start";
    case EventKind::step:
      return "step";
    case EventKind::pause:
      return "pause";
    case EventKind::resume:
      return "resume";
    case EventKind::weights:
      return "weights";
    case EventKind::rollback:
      return "rollback";
    case EventKind::promote:
      return "promote";
  }
  return "step";
}

std::optional<EventKind> parse_event_kind(std::string_view text) noexcept {
  return parse_enum(
      text, std::array{EventKind::start, EventKind::step, EventKind::pause, EventKind::resume,
                       EventKind::weights, EventKind::rollback, EventKind::promote});
}

std::string_view name(Verdict verdict) noexcept {
  switch (verdict) {
    case Verdict::none:
      return "none";
    case Verdict::breach:
      return "breach";
    case Verdict::rollback:
      return "rollback";
    case Verdict::hold:
      return "hold";
    case Verdict::step_passed:
      return "step_passed";
    case Verdict::promoted:
      return "promoted";
  }
  return "none";
}

RolloutState initial_state(Color live) {
  RolloutState s;
  s.live = live;
  s.weights = Weights::all_to(live);
  return s;
}

std::optional<TimePoint> next_step_at(const RolloutState& state) {
  if (state.phase != Phase::progressing || !state.step) return std::nullopt;
  return state.step_started_at + state.duration_of(*state.step);
}

Decision evaluate(const RolloutConfig& policy, const RolloutState& state, const StepWindow& window,
                  bool candidate_healthy, TimePoint now) {
  Decision d;
  d.state = state;
  if (!state.running() || !state.step) return d;
  if (!candidate_healthy) {
    return rolled_back(std::move(d), RollbackReason::health,
                       fmt::format("{} has no healthy endpoint", name(state.candidate())), now);
  }
  const ColorWindow& candidate = window.of(state.candidate());
  const auto reference = live_reference(policy, state, window);
  if (has_data(window.of(state.live), policy.min_requests)) {
    d.state.live_baseline_p99_ms = window.of(state.live).p99_ms;
  }
  if (has_data(candidate, policy.min_requests)) {
    const auto breach =
        find_breach(policy.thresholds, state.candidate(), state.live, candidate, reference);
    if (breach) return breached(policy, std::move(d), *breach, now);
  }
  d.state.consecutive_breaches = 0;
  const auto step_end = next_step_at(state);
  if (!step_end || now < *step_end) return d;  // paused, or the step is not over
  if (candidate.requests < policy.min_requests) return held(policy, std::move(d), candidate);
  return passed(policy, std::move(d), candidate, reference, now);
}

std::optional<std::string> validate_steps(const std::vector<RolloutStep>& steps) {
  if (steps.empty()) return "steps: at least one step is needed";
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const RolloutStep& step = steps[i];
    if (step.weight_bp > kFullWeight) {
      return fmt::format("steps[{}]: {} is above 100%", i, format_percent(step.weight_bp));
    }
    if (i > 0 && step.weight_bp <= steps[i - 1].weight_bp) {
      return fmt::format("steps[{}]: {} does not increase on {}", i, format_percent(step.weight_bp),
                         format_percent(steps[i - 1].weight_bp));
    }
    if (step.duration && step.duration->count() <= 0) {
      return fmt::format("steps[{}]: the duration must be positive", i);
    }
  }
  if (steps.back().weight_bp != kFullWeight) return "steps: the last step must be 100%";
  return std::nullopt;
}

OpResult start(const RolloutConfig& policy, const RolloutState& state,
               std::optional<std::vector<RolloutStep>> steps_override,
               std::optional<Duration> step_duration_override, TimePoint now) {
  if (state.running()) {
    return refuse(
        state, 409,
        fmt::format("a rollout is already {} at {}", name(state.phase), current_step_label(state)));
  }
  std::vector<RolloutStep> steps = steps_override ? std::move(*steps_override) : policy.steps;
  if (auto problem = validate_steps(steps)) return refuse(state, 400, *problem);
  const Duration duration = step_duration_override.value_or(policy.step_duration);
  if (duration.count() <= 0) return refuse(state, 400, "step_duration: must be positive");

  RolloutState s = state;
  clear_step(s);
  s.phase = Phase::progressing;
  s.steps = std::move(steps);
  s.step_duration = duration;
  s.step = 0;
  s.step_started_at = now;
  s.live_baseline_p99_ms.reset();  // a baseline from an earlier rollout may be stale
  s.retained.reset();              // the retained color is the new candidate
  s.weights.set(s.candidate(), s.steps[0].weight_bp);
  std::string message =
      fmt::format("rollout started: {} -> {}, {} for {}", name(s.live), name(s.candidate()),
                  step_label(s, 0), human_duration(s.duration_of(0)));
  record(s, EventKind::start, 0, message, now);
  return changed(state, std::move(s), std::move(message), true);
}

OpResult pause(const RolloutState& state, TimePoint now) {
  if (state.phase != Phase::progressing) {
    return refuse(state, 409, fmt::format("nothing to pause (state {})", name(state.phase)));
  }
  RolloutState s = state;
  s.phase = Phase::paused;
  s.paused_at = now;
  std::string message = fmt::format("rollout paused at {}", current_step_label(s));
  record(s, EventKind::pause, s.step, message, now);
  return changed(state, std::move(s), std::move(message), false);
}

OpResult resume(const RolloutState& state, TimePoint now) {
  if (state.phase != Phase::paused || !state.step) {
    return refuse(state, 409, fmt::format("nothing to resume (state {})", name(state.phase)));
  }
  RolloutState s = state;
  if (s.paused_at && now > *s.paused_at) s.step_started_at += now - *s.paused_at;
  s.paused_at.reset();
  s.phase = Phase::progressing;
  s.weights.set(s.candidate(), s.steps.at(*s.step).weight_bp);  // undoes a hand-set split
  std::string message = fmt::format("rollout resumed at {}; next step at {}", current_step_label(s),
                                    format_time(*next_step_at(s)));
  record(s, EventKind::resume, s.step, message, now);
  return changed(state, std::move(s), std::move(message), false);
}

OpResult promote(const RolloutConfig& policy, const RolloutState& state, TimePoint now) {
  if (!state.running()) return refuse(state, 409, "nothing to promote: " + not_running(state));
  const Color previous = state.live;
  const std::string detail = fmt::format("by operator at {}", current_step_label(state));
  RolloutState s = apply_promotion(policy, state, detail, now);
  std::string message = fmt::format("promoted {} {}; {} retained until {}", name(s.live), detail,
                                    name(previous), format_time(s.retained->until));
  return changed(state, std::move(s), std::move(message), true);
}

OpResult rollback(const RolloutState& state, TimePoint now) {
  if (state.running()) {
    const std::string detail = fmt::format("by operator at {}", current_step_label(state));
    RolloutState s = apply_rollback(state, RollbackReason::manual, detail, now);
    return changed(state, std::move(s), rollback_message(RollbackReason::manual, detail), true);
  }
  if (state.retained && now < state.retained->until) return flip_to_retained(state, now);
  if (state.weights != Weights::all_to(state.live)) {
    const std::string detail =
        fmt::format("by operator: hand-set split undone, all traffic to {}", name(state.live));
    RolloutState s = apply_rollback(state, RollbackReason::manual, detail, now);
    return changed(state, std::move(s), rollback_message(RollbackReason::manual, detail), true);
  }
  if (state.retained) {
    return refuse(state, 409,
                  fmt::format("nothing to roll back: {} was retained until {}",
                              name(state.retained->color), format_time(state.retained->until)));
  }
  return refuse(state, 409, "nothing to roll back: " + not_running(state));
}

OpResult set_weights(const RolloutState& state, Color color, std::uint32_t bp, TimePoint now) {
  if (bp > kFullWeight) return refuse(state, 400, "a weight must be between 0 and 100");
  RolloutState s = state;
  s.weights.set(color, bp);
  std::string message =
      fmt::format("weights set by hand: blue {}, green {}", format_percent(s.weights.bp[0]),
                  format_percent(s.weights.bp[1]));
  if (s.phase == Phase::progressing) {
    s.phase = Phase::paused;
    s.paused_at = now;
    message += fmt::format("; rollout paused at {}", current_step_label(s));
  }
  record(s, EventKind::weights, s.step, message, now);
  return changed(state, std::move(s), std::move(message), false);
}

std::string format_time(TimePoint t) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t);
  const auto day = floor<days>(ms);
  const year_month_day date{day};
  const hh_mm_ss time{ms - day};
  std::string text =
      fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(date.year()),
                  static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                  time.hours().count(), time.minutes().count(), time.seconds().count());
  if (time.subseconds().count() != 0) text += fmt::format(".{:03}", time.subseconds().count());
  return text + 'Z';
}

std::optional<TimePoint> parse_time(std::string_view text) {
  using namespace std::chrono;
  // Reads `width` digits at `pos`.
  const auto number = [&](std::size_t pos, std::size_t width) -> std::optional<int> {
    if (pos + width > text.size()) return std::nullopt;
    int value = 0;
    for (char ch : text.substr(pos, width)) {
      if (ch < '0' || ch > '9') return std::nullopt;
      value = value * 10 + (ch - '0');
    }
    return value;
  };
  const auto is = [&](std::size_t pos, std::string_view chars) {
    return pos < text.size() && chars.find(text[pos]) != std::string_view::npos;
  };
  const auto y = number(0, 4), mo = number(5, 2), d = number(8, 2);
  const auto h = number(11, 2), mi = number(14, 2), s = number(17, 2);
  if (!y || !mo || !d || !h || !mi || !s || !is(4, "-") || !is(7, "-") || !is(10, "Tt") ||
      !is(13, ":") || !is(16, ":") || *h > 23 || *mi > 59 || *s > 59) {
    return std::nullopt;
  }
  const year_month_day date{year{*y}, month{static_cast<unsigned>(*mo)},
                            day{static_cast<unsigned>(*d)}};
  if (!date.ok()) return std::nullopt;
  std::size_t pos = 19;
  nanoseconds fraction{0};
  if (is(pos, ".")) {
    long long scale = 100'000'000;
    for (++pos; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) {
      if (scale == 0) return std::nullopt;  // more than nanosecond precision
      fraction += nanoseconds{(text[pos] - '0') * scale};
      scale /= 10;
    }
    if (scale == 100'000'000) return std::nullopt;  // a dot without digits
  }
  if (pos + 1 != text.size() || !is(pos, "Zz")) return std::nullopt;
  const auto t = sys_days{date} + hours{*h} + minutes{*mi} + seconds{*s} + fraction;
  return time_point_cast<TimePoint::duration>(t);
}

std::string format_percent(std::uint32_t bp) {
  if (bp % 100 == 0) return fmt::format("{}%", bp / 100);
  if (bp % 10 == 0) return fmt::format("{}.{}%", bp / 100, bp % 100 / 10);
  return fmt::format("{}.{:02}%", bp / 100, bp % 100);
}

}  // namespace bgp
