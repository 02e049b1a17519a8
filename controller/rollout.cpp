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

// For people, steps count from 1 ("step 1 (10%)"); the API's `step` index counts from 0.
std::string step_label(const RolloutState& s, std::size_t step) {
  return fmt::format("step {} ({})", step + 1, format_percent(s.steps.at(step).weight_bp));
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

// A new step begins: its window starts empty.
void begin_step(RolloutState& s, std::size_t step, TimePoint now) {
  s.step = step;
  s.step_started_at = now;
  s.step_window = {};
  s.held = false;
  s.consecutive_breaches = 0;
}

// Judged traffic begins (a rollout or a hand-set split): the evidence starts from nothing.
void begin_judging(RolloutState& s, std::uint32_t looks) {
  s.evidence_window = {};
  s.step_window = {};
  s.watch_until.reset();
  s.consecutive_breaches = 0;
  s.judge_looks = looks;
}

constexpr std::uint32_t kHandSetLooks = 3;  // the whole split, its "step" (the same), the watch

RolloutState apply_rollback(RolloutState s, RollbackReason reason, const std::string& detail,
                            TimePoint now) {
  const auto step = s.step;
  s.weights = Weights::all_to(s.live);
  s.phase = Phase::rolled_back;
  s.last_rollback = LastRollback{now, reason, detail};
  s.watch_until.reset();
  ++s.rollbacks[static_cast<std::size_t>(reason)];
  record(s, EventKind::rollback, step, detail, now);
  clear_step(s);
  return s;
}

// Everything back to the color retained after the last promotion; `cause` leads the detail
// (last_rollback->detail has the whole line).
RolloutState revert_to_retained(RolloutState s, RollbackReason reason, std::string_view cause,
                                TimePoint now) {
  const Color demoted = s.live;
  s.live = s.retained->color;
  s.retained.reset();
  const std::string detail =
      fmt::format("{}; {} is live again, {} demoted", cause, name(s.live), name(demoted));
  return apply_rollback(std::move(s), reason, detail, now);
}

// The candidate becomes live; the old live color is kept for retain_previous, and the new live
// color is still judged (on the same evidence, against the old one's numbers) for the watch.
RolloutState apply_promotion(const RolloutConfig& policy, RolloutState s, const std::string& detail,
                             TimePoint now) {
  const auto step = s.step;
  const Color previous = s.live;
  s.live = s.candidate();
  s.weights = Weights::all_to(s.live);
  s.phase = Phase::stable;
  s.retained = Retained{previous, now + policy.retain_previous};
  const Duration watch = std::min(policy.post_promotion_watch, policy.retain_previous);
  if (watch.count() > 0) {
    s.watch_until = now + watch;
  } else {
    s.watch_until.reset();
  }
  ++s.promotions;
  record(s, EventKind::promote, step, detail, now);
  clear_step(s);
  s.step_window = {};
  return s;
}

std::string rollback_message(RollbackReason reason, std::string_view detail) {
  return fmt::format("rollback ({}): {}", name(reason), detail);
}

RollbackReason reason_of(const RuleEvidence& rule) {
  switch (rule.kind) {
    case RuleKind::error_rate:
      return RollbackReason::error_rate;
    case RuleKind::slow_share:
      return RollbackReason::p99;
    case RuleKind::latency:
      return RollbackReason::p99_increase;
  }
  return RollbackReason::error_rate;
}

// Every rule, on the whole rollout and on the current step alone (a regression that begins late
// is not diluted by the good requests before it). In a rollout the candidate is judged against the
// live color; in the watch, the new live color against the retained one (whose numbers stopped at
// the promotion). alpha is split over the looks: the whole rollout, each step and the watch.
std::vector<RuleEvidence> judge_now(const RolloutConfig& policy, const RolloutState& s) {
  const Color judged = s.running() ? s.candidate() : s.live;
  const Sample& reference = s.evidence_window.of(other(judged));
  const std::size_t looks = s.judge_looks ? s.judge_looks : s.steps.size() + 2;  // 0: older file
  auto whole =
      judge(policy.judge, policy.thresholds, s.evidence_window.of(judged), reference, looks);
  auto step = judge(policy.judge, policy.thresholds, s.step_window.of(judged), reference, looks);
  for (auto& rule : step) rule.scope = s.running() ? "this step" : "since the promotion";
  return stronger_of(std::move(whole), step);
}

// --- the verdicts ---

// A verdict line names every rule, not only the one that breached.
Decision with_evidence(Decision d, Color judged, Color reference) {
  d.message += "; all rules: " + summarize(d.evidence, judged, reference);
  return d;
}

Decision rolled_back(Decision d, RollbackReason reason, const std::string& detail, TimePoint now) {
  const Weights before = d.state.weights;
  d.state = apply_rollback(std::move(d.state), reason, detail, now);
  d.verdict = Verdict::rollback;
  d.reason = reason;
  d.message = rollback_message(reason, detail);
  d.weights_changed = d.state.weights != before;
  return d;
}

// The watched live color breached: everything back to the retained color.
Decision reverted(Decision d, RollbackReason reason, const std::string& detail, TimePoint now) {
  d.state = revert_to_retained(std::move(d.state), reason, "after promotion: " + detail, now);
  const std::string& full = d.state.last_rollback->detail;
  d.verdict = Verdict::rollback;
  d.reason = reason;
  d.message = rollback_message(reason, full);
  d.weights_changed = true;
  return d;
}

// A breached rule: counts toward failure_limit; true when the limit is reached.
bool limit_reached(const RolloutConfig& policy, Decision& d, const RuleEvidence& rule,
                   const std::string& detail) {
  const int limit = std::max(policy.failure_limit, 1);
  if (++d.state.consecutive_breaches >= limit) return true;
  d.verdict = Verdict::breach;
  d.reason = reason_of(rule);
  d.message = fmt::format("breach {} of {} ({}): {}", d.state.consecutive_breaches, limit,
                          name(reason_of(rule)), detail);
  return false;
}

Decision held(const RolloutConfig& policy, Decision d) {
  const RolloutState& s = d.state;
  const Sample& c = s.step_window.of(s.candidate());
  d.state.held = true;
  d.verdict = Verdict::hold;
  d.message = fmt::format(
      "hold: {} is over; waiting for {} to reach {} requests in the step (has {}); {}",
      current_step_label(s), name(s.candidate()), std::max<std::uint64_t>(policy.min_requests, 1),
      c.requests, summarize(d.evidence, s.candidate(), s.live));
  return d;
}

Decision passed(const RolloutConfig& policy, Decision d, TimePoint now) {
  RolloutState& s = d.state;
  const std::size_t step = *s.step;
  const std::string summary = fmt::format(
      "{} passed: {} {} requests in the step; {}", step_label(s, step), name(s.candidate()),
      s.step_window.of(s.candidate()).requests, summarize(d.evidence, s.candidate(), s.live));
  d.weights_changed = true;
  if (step + 1 == s.steps.size()) {
    const Color previous = s.live;
    s = apply_promotion(policy, std::move(s), summary, now);
    d.verdict = Verdict::promoted;
    d.message = fmt::format("promoted {}: {}; {} retained until {}", name(s.live), summary,
                            name(previous), format_time(s.retained->until));
    if (s.watch_until) d.message += fmt::format("; watched until {}", format_time(*s.watch_until));
    return d;
  }
  begin_step(s, step + 1, now);
  s.weights.set(s.candidate(), s.steps[step + 1].weight_bp);
  d.verdict = Verdict::step_passed;
  d.message = fmt::format("{}; {} begins", summary, step_label(s, step + 1));
  record(s, EventKind::step, s.step, d.message, now);
  return d;
}

// The live color after its promotion, against the retained color's numbers from the rollout.
Decision watch(const RolloutConfig& policy, Decision d, TimePoint now) {
  RolloutState& s = d.state;
  const bool over = now >= *s.watch_until || !s.retained || now >= s.retained->until;
  if (const RuleEvidence* breach = first_breach(d.evidence); breach && s.retained) {
    const std::string detail = breach->describe(s.live, s.retained->color);
    const Color live = s.live, retained = s.retained->color;
    if (limit_reached(policy, d, *breach, "after promotion: " + detail) || over) {
      return with_evidence(reverted(std::move(d), reason_of(*breach), detail, now), live, retained);
    }
    return with_evidence(std::move(d), live, retained);
  }
  s.consecutive_breaches = 0;
  if (over) {
    d.verdict = Verdict::watch_ended;
    d.message = fmt::format("watch over: {} stays live; {}", name(s.live),
                            summarize(d.evidence, s.live, other(s.live)));
    s.watch_until.reset();
  }
  return d;
}

// --- operator transitions ---

OpResult refuse(const RolloutState& s, int status, std::string message) {
  return OpResult{s, {}, false, OpError{status, std::move(message)}};
}

OpResult changed(const RolloutState& before, RolloutState after, std::string message) {
  const bool weights_changed = after.weights != before.weights;
  return OpResult{std::move(after), std::move(message), weights_changed, std::nullopt};
}

std::string not_running(const RolloutState& s) {
  return fmt::format("no rollout is running (state {})", name(s.phase));
}

// Everything to the previous color kept after a promotion.
OpResult flip_to_retained(const RolloutState& state, TimePoint now) {
  RolloutState s = revert_to_retained(state, RollbackReason::manual, "by operator", now);
  const std::string detail = s.last_rollback->detail;
  return changed(state, std::move(s), rollback_message(RollbackReason::manual, detail));
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
    case Verdict::watch_ended:
      return "watch_ended";
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

RolloutState observe(RolloutState state, const ColorSamples& fresh, TimePoint now) {
  state.step_window += fresh;
  state.evidence_window += fresh;
  state.last_check_at = now;
  return state;
}

Decision evaluate(const RolloutConfig& policy, const RolloutState& state, const ColorSamples& fresh,
                  bool candidate_healthy, TimePoint now) {
  Decision d;
  d.state = observe(state, fresh, now);
  if (!state.judging()) return d;
  const RolloutState& s = d.state;
  d.evidence = judge_now(policy, s);
  if (!state.running()) return watch(policy, std::move(d), now);
  if (!candidate_healthy) {
    return with_evidence(
        rolled_back(std::move(d), RollbackReason::health,
                    fmt::format("{} has no healthy endpoint", name(state.candidate())), now),
        state.candidate(), state.live);
  }
  if (const RuleEvidence* breach = first_breach(d.evidence)) {
    const std::string detail = breach->describe(s.candidate(), s.live);
    const Color candidate = s.candidate(), live = s.live;
    if (!limit_reached(policy, d, *breach, detail)) {
      return with_evidence(std::move(d), candidate, live);
    }
    return with_evidence(rolled_back(std::move(d), reason_of(*breach), detail, now), candidate,
                         live);
  }
  d.state.consecutive_breaches = 0;
  const auto step_end = next_step_at(state);
  if (!step_end || now < *step_end) return d;  // paused, a hand-set split, or the step goes on
  if (s.step_window.of(s.candidate()).requests < std::max<std::uint64_t>(policy.min_requests, 1)) {
    return held(policy, std::move(d));
  }
  return passed(policy, std::move(d), now);
}

RolloutState resume_after_restart(RolloutState state, TimePoint now) {
  if (state.last_check_at && now > *state.last_check_at) {
    const auto down = now - *state.last_check_at;
    if (state.phase == Phase::progressing && state.step) state.step_started_at += down;
    if (state.watch_until) {
      state.watch_until = *state.watch_until + down;
      if (state.retained) state.watch_until = std::min(*state.watch_until, state.retained->until);
    }
  }
  // A file from before the judge may hold a hand-set split outside a rollout, never judged: it
  // becomes the judged hand-set split of today.
  if (!state.running() && state.weights.of(state.candidate()) > 0) {
    begin_judging(state, kHandSetLooks);
    clear_step(state);
    state.phase = Phase::paused;
    state.paused_at = now;
  }
  state.last_check_at = now;
  return state;
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
               std::optional<Duration> step_duration_override, bool candidate_ready,
               TimePoint now) {
  if (state.running() && state.step) {  // a hand-set split (no step) may become a rollout
    return refuse(
        state, 409,
        fmt::format("a rollout is already {} at {}", name(state.phase), current_step_label(state)));
  }
  std::vector<RolloutStep> steps = steps_override ? std::move(*steps_override) : policy.steps;
  if (auto problem = validate_steps(steps)) return refuse(state, 400, *problem);
  const Duration duration = step_duration_override.value_or(policy.step_duration);
  if (duration.count() <= 0) return refuse(state, 400, "step_duration: must be positive");
  if (!candidate_ready) {
    return refuse(state, 409,
                  fmt::format("{} has no healthy endpoint: warm it up until its health checks "
                              "pass, then start",
                              name(state.candidate())));
  }

  RolloutState s = state;
  clear_step(s);
  begin_judging(s, static_cast<std::uint32_t>(steps.size() + 2));
  s.phase = Phase::progressing;
  s.steps = std::move(steps);
  s.step_duration = duration;
  begin_step(s, 0, now);
  s.retained.reset();  // the retained color is the new candidate
  s.weights.set(s.candidate(), s.steps[0].weight_bp);
  std::string message =
      fmt::format("rollout started: {} -> {}, {} for {}", name(s.live), name(s.candidate()),
                  step_label(s, 0), human_duration(s.duration_of(0)));
  record(s, EventKind::start, 0, message, now);
  return changed(state, std::move(s), std::move(message));
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
  return changed(state, std::move(s), std::move(message));
}

OpResult resume(const RolloutState& state, TimePoint now) {
  if (state.phase != Phase::paused) {
    return refuse(state, 409, fmt::format("nothing to resume (state {})", name(state.phase)));
  }
  if (!state.step) {
    return refuse(state, 409,
                  "a hand-set split has no step to resume: promote, roll back or start a rollout");
  }
  RolloutState s = state;
  if (s.paused_at && now > *s.paused_at) s.step_started_at += now - *s.paused_at;
  s.paused_at.reset();
  s.phase = Phase::progressing;
  s.weights.set(s.candidate(), s.steps.at(*s.step).weight_bp);  // undoes a hand-set split
  std::string message = fmt::format("rollout resumed at {}; next step at {}", current_step_label(s),
                                    format_time(*next_step_at(s)));
  record(s, EventKind::resume, s.step, message, now);
  return changed(state, std::move(s), std::move(message));
}

OpResult promote(const RolloutConfig& policy, const RolloutState& state, TimePoint now) {
  if (!state.running()) return refuse(state, 409, "nothing to promote: " + not_running(state));
  const Color previous = state.live;
  const std::string detail = fmt::format("by operator at {}", current_step_label(state));
  RolloutState s = apply_promotion(policy, state, detail, now);
  std::string message = fmt::format("promoted {} {}; {} retained until {}", name(s.live), detail,
                                    name(previous), format_time(s.retained->until));
  return changed(state, std::move(s), std::move(message));
}

OpResult rollback(const RolloutState& state, TimePoint now) {
  if (state.running()) {
    const std::string detail = fmt::format("by operator at {}", current_step_label(state));
    RolloutState s = apply_rollback(state, RollbackReason::manual, detail, now);
    return changed(state, std::move(s), rollback_message(RollbackReason::manual, detail));
  }
  if (state.retained && now < state.retained->until) return flip_to_retained(state, now);
  if (state.weights != Weights::all_to(state.live)) {
    const std::string detail =
        fmt::format("by operator: hand-set split undone, all traffic to {}", name(state.live));
    RolloutState s = apply_rollback(state, RollbackReason::manual, detail, now);
    return changed(state, std::move(s), rollback_message(RollbackReason::manual, detail));
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
  if (state.watch_until && s.weights.of(s.candidate()) > 0) {
    return refuse(
        state, 409,
        fmt::format("{} is watched after its promotion until {}: roll back to give {} "
                    "the traffic again",
                    name(state.live), format_time(*state.watch_until), name(state.candidate())));
  }
  std::string message =
      fmt::format("weights set by hand: blue {}, green {}", format_percent(s.weights.bp[0]),
                  format_percent(s.weights.bp[1]));
  const bool candidate_has_traffic = s.weights.of(s.candidate()) > 0;
  if (s.phase == Phase::progressing) {
    s.phase = Phase::paused;
    s.paused_at = now;
    message += fmt::format("; rollout paused at {}", current_step_label(s));
  } else if (!s.running() && candidate_has_traffic) {
    // Traffic on the candidate outside a rollout is judged like a paused rollout.
    begin_judging(s, kHandSetLooks);
    clear_step(s);
    s.phase = Phase::paused;
    s.paused_at = now;
    message += fmt::format("; {} is judged (paused, no step): promote, roll back or start",
                           name(s.candidate()));
  } else if (s.running() && !s.step && !candidate_has_traffic) {
    s.phase = Phase::stable;  // a hand-set split undone by hand
    clear_step(s);
  }
  record(s, EventKind::weights, s.step, message, now);
  return changed(state, std::move(s), std::move(message));
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
