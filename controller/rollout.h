// The rollout's state and the pure functions that move it: `evaluate` (called every check_interval
// with the step's measurements) and the operator transitions (start, pause, resume, promote,
// rollback, set_weights). Nothing here reads a clock, does I/O or logs: time and measurements are
// arguments, so a whole rollout runs in a unit test in microseconds.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/color.h"
#include "config/config.h"
#include "controller/judge.h"

namespace bgp {

using TimePoint = std::chrono::system_clock::time_point;

enum class Phase : std::uint8_t { stable, progressing, paused, rolled_back };
std::string_view name(Phase phase) noexcept;  // docs/admin-api.md: "stable" | "progressing" | ...
std::optional<Phase> parse_phase(std::string_view text) noexcept;

enum class RollbackReason : std::uint8_t { error_rate, p99, p99_increase, health, manual };
inline constexpr std::size_t kRollbackReasons = 5;
std::string_view name(RollbackReason reason) noexcept;
std::optional<RollbackReason> parse_rollback_reason(std::string_view text) noexcept;

enum class EventKind : std::uint8_t { start, step, pause, resume, weights, rollback, promote };
std::string_view name(EventKind event) noexcept;
std::optional<EventKind> parse_event_kind(std::string_view text) noexcept;

struct HistoryEvent {
  TimePoint at;
  EventKind event = EventKind::start;
  std::optional<std::size_t> step;  // the step the event concerns, if a rollout ran
  Weights weights;                  // the split after the event
  std::string detail;
  bool operator==(const HistoryEvent&) const = default;
};
inline constexpr std::size_t kHistoryLimit = 100;  // the oldest events are dropped beyond this

struct LastRollback {
  TimePoint at;
  RollbackReason reason = RollbackReason::manual;
  std::string detail;  // the numbers and the threshold
  bool operator==(const LastRollback&) const = default;
};

// The previous live color after a promotion: still configured, no traffic, instant rollback target.
struct Retained {
  Color color = Color::blue;
  TimePoint until;
  bool operator==(const Retained&) const = default;
};

// Everything /status shows and the state file keeps.
struct RolloutState {
  Phase phase = Phase::stable;
  Color live = Color::blue;
  Weights weights;                  // in force now
  std::vector<RolloutStep> steps;   // this rollout's steps (config or start override)
  Duration step_duration = 5min;    // for steps without their own duration
  std::optional<std::size_t> step;  // null when no rollout runs
  TimePoint step_started_at;        // shifted forward on resume by the time spent paused
  std::optional<TimePoint> paused_at;
  int consecutive_breaches = 0;
  bool held = false;  // step over but inconclusive: too few requests
  // What the judge has seen: since the current step began (min_requests, /status `window`), and
  // since the judged traffic began (a rollout or a hand-set split, through the watch after a
  // promotion): the evidence is built on the latter. Both survive a restart.
  ColorSamples step_window;
  ColorSamples evidence_window;
  std::optional<TimePoint> last_check_at;  // when the windows last took in measurements
  std::optional<TimePoint> watch_until;    // the live color is judged after its promotion
  // How many looks at the evidence alpha is split over, fixed when the judged traffic began (a
  // rollout: the whole of it, each step, the watch; a hand-set split: itself twice, the watch).
  std::uint32_t judge_looks = 0;
  std::optional<Retained> retained;
  std::uint64_t promotions = 0;
  std::array<std::uint64_t, kRollbackReasons> rollbacks{};  // indexed by RollbackReason
  std::optional<LastRollback> last_rollback;
  std::vector<HistoryEvent> history;  // oldest first, at most kHistoryLimit

  Color candidate() const noexcept { return other(live); }
  Duration duration_of(std::size_t index) const {
    return steps.at(index).duration.value_or(step_duration);
  }
  bool running() const noexcept { return phase == Phase::progressing || phase == Phase::paused; }
  // Traffic on a color that is not proven yet: a rollout, a hand-set split, a watch.
  bool judging() const noexcept { return running() || watch_until.has_value(); }
  bool operator==(const RolloutState&) const = default;
};

// The state before any rollout: everything to `live`.
RolloutState initial_state(Color live);

// When the current step ends (not counting time paused); null when no step runs or paused.
std::optional<TimePoint> next_step_at(const RolloutState& state);

enum class Verdict : std::uint8_t {
  none,         // nothing to report
  breach,       // a threshold breached, fewer than failure_limit in a row
  rollback,     // rolled back (state.last_rollback says why)
  hold,         // the step is over but inconclusive: too few candidate requests
  step_passed,  // the next step began
  promoted,     // the last step passed: the candidate is live
  watch_ended,  // the watch after a promotion found nothing: the live color stays
};
std::string_view name(Verdict verdict) noexcept;

struct Decision {
  RolloutState state;  // the next state
  Verdict verdict = Verdict::none;
  std::optional<RollbackReason> reason;  // for breach and rollback
  std::string message;                   // one human line with the numbers; "" for none
  bool weights_changed = false;          // publish a new routing snapshot
  std::vector<RuleEvidence> evidence;    // every rule's evidence at this check (when judged)
};

// Adds the measurements taken since the last reading (`fresh`, split-routed requests only) to the
// windows. Every reading of the stats goes into exactly one call, so no request is lost between
// two readings.
RolloutState observe(RolloutState state, const ColorSamples& fresh, TimePoint now);

// Takes in `fresh` and judges. Call every check_interval; any cadence is correct (the evidence is
// anytime-valid, a step advances at most once per call, and the next step starts at `now`).
Decision evaluate(const RolloutConfig& policy, const RolloutState& state, const ColorSamples& fresh,
                  bool candidate_healthy, TimePoint now);

// After a restart: the time the process was down counts as paused, so that a step is never
// passed on the measurements of the moment after it.
RolloutState resume_after_restart(RolloutState state, TimePoint now);

// The outcome of an operator transition: the new state, or an error with an HTTP status.
struct OpError {
  int status = 409;  // 409 conflicting state, 400 bad argument
  std::string message;
};
struct OpResult {
  RolloutState state;  // the new state; the unchanged one on error
  std::string message;
  bool weights_changed = false;
  std::optional<OpError> error;

  bool ok() const noexcept { return !error; }
};

// From stable or rolled_back: step 0 of `steps_override` (else policy.steps) begins now.
// `candidate_ready`: the candidate has an endpoint that passes its health checks (409 if not).
OpResult start(const RolloutConfig& policy, const RolloutState& state,
               std::optional<std::vector<RolloutStep>> steps_override,
               std::optional<Duration> step_duration_override, bool candidate_ready, TimePoint now);
OpResult pause(const RolloutState& state, TimePoint now);
// Back to progressing at the current step's weight; the step's clock resumes where it stopped.
OpResult resume(const RolloutState& state, TimePoint now);
OpResult promote(const RolloutConfig& policy, const RolloutState& state, TimePoint now);
// A running rollout rolls back (reason manual); after a promotion, within retain_previous, the
// previous color becomes live again; a hand-set split goes back to all-live.
OpResult rollback(const RolloutState& state, TimePoint now);
// The split by hand: `bp` basis points to `color`. A progressing rollout becomes paused; outside
// a rollout, a split that gives the candidate traffic is paused too (judged, no step).
OpResult set_weights(const RolloutState& state, Color color, std::uint32_t bp, TimePoint now);

// Checks steps given for one rollout: 0..100%, strictly increasing, last 100%, durations > 0.
// Returns the problem, or nullopt when valid.
std::optional<std::string> validate_steps(const std::vector<RolloutStep>& steps);

// RFC 3339 UTC: "2026-11-22T10:00:00Z", with milliseconds when not whole ("...:00.250Z").
std::string format_time(TimePoint t);
std::optional<TimePoint> parse_time(std::string_view text);  // the inverse (fraction optional)

// Basis points as a percent: 1000 -> "10%", 50 -> "0.5%", 1050 -> "10.5%".
std::string format_percent(std::uint32_t bp);

}  // namespace bgp
