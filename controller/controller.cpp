#include "controller/controller.h"

#include <cmath>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json.hpp>

#include "controller/health_probe.h"
#include "controller/notifier.h"
#include "controller/state_store.h"

namespace bgp {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// A percent from basis points: whole numbers as integers (25, not 2.5E1), else a decimal.
json::value percent_json(std::uint32_t bp) {
  if (bp % 100 == 0) return json::value(static_cast<std::int64_t>(bp / 100));
  return json::value(bp / 100.0);
}

json::object weights_json(const Weights& w) {
  return {{"blue", percent_json(w.of(Color::blue))}, {"green", percent_json(w.of(Color::green))}};
}

json::value time_json(const std::optional<TimePoint>& t) {
  return t ? json::value(format_time(*t)) : json::value(nullptr);
}

json::array steps_json(const std::vector<RolloutStep>& steps) {
  json::array out;
  for (const auto& s : steps) out.push_back(percent_json(s.weight_bp));
  return out;
}

json::object color_window_json(const Sample& w) {
  return {{"requests", w.requests},
          {"errors", w.errors},
          {"error_rate", w.error_rate()},
          {"p99_ms", w.p99_ms()}};
}

json::value finite_or_null(double x) {
  return std::isfinite(x) ? json::value(x) : json::value(nullptr);
}

json::object rule_json(const RuleEvidence& r) {
  return {{"rule", r.name()},
          {"estimate", finite_or_null(r.estimate)},
          {"threshold", finite_or_null(r.threshold)},
          {"candidate_requests", r.candidate_n},
          {"reference_requests", r.reference_n},
          {"e", r.e()},
          {"bar", r.bar},
          {"breached", r.breached()}};
}

std::vector<JudgeRuleView> rule_views(const std::vector<RuleEvidence>& rules) {
  std::vector<JudgeRuleView> out;
  for (const auto& r : rules) {
    const double scale = r.kind == RuleKind::latency ? 1e-3 : 1.0;  // ms to seconds
    out.push_back({r.name(), r.estimate * scale, r.threshold * scale, r.e(), r.bar, r.candidate_n,
                   r.reference_n});
  }
  return out;
}

double unix_seconds(TimePoint t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// A verdict's fields for JSON log lines: what a log query filters on, and every rule's numbers.
json::object verdict_fields(const Decision& d) {
  json::object fields{{"event", name(d.verdict)},
                      {"color", name(d.state.candidate())},
                      {"live", name(d.state.live)},
                      {"weights", weights_json(d.state.weights)}};
  if (d.reason) fields["reason"] = name(*d.reason);
  if (d.state.step) fields["step"] = *d.state.step;
  json::object rules;
  for (const auto& r : d.evidence) rules[r.name()] = rule_json(r);
  if (!rules.empty()) fields["rules"] = std::move(rules);
  return fields;
}

json::object history_json(const HistoryEvent& e) {
  return {{"at", format_time(e.at)},
          {"event", name(e.event)},
          {"step", e.step ? json::value(*e.step) : json::value(nullptr)},
          {"weights", weights_json(e.weights)},
          {"detail", e.detail}};
}

// A step in a start request's body: 10, 0.5 or {"weight": 10, "duration": "30s"}.
std::optional<RolloutStep> parse_step(const json::value& v) {
  std::optional<double> weight;
  std::optional<Duration> duration;
  if (v.is_number()) {
    weight = v.to_number<double>();
  } else if (v.is_object()) {
    for (const auto& [key, value] : v.as_object()) {
      if (key == "weight" && value.is_number()) {
        weight = value.to_number<double>();
      } else if (key == "duration" && value.is_string()) {
        duration = parse_duration(value.as_string());
        if (!duration) return std::nullopt;
      } else {
        return std::nullopt;
      }
    }
  }
  if (!weight) return std::nullopt;
  const auto bp = parse_weight_bp(*weight);
  if (!bp) return std::nullopt;
  return RolloutStep{*bp, duration};
}

// The webhook event a verdict produces, if any.
std::optional<std::string_view> event_of(Verdict verdict) {
  switch (verdict) {
    case Verdict::step_passed:
      return "step";
    case Verdict::promoted:
      return "promote";
    case Verdict::rollback:
      return "rollback";
    case Verdict::watch_ended:
      return "watch_ended";
    default:
      return std::nullopt;
  }
}

}  // namespace

ColorSamples judged_samples(const StatsTotals& totals) {
  ColorSamples out;
  for (Color c : kColors) {
    const ColorTotals& t = totals.of(c);
    out.of(c) = Sample{t.requests, t.errors, t.latency};
  }
  return out;
}

Controller::Controller(boost::asio::io_context& io, std::shared_ptr<const Config> config,
                       SnapshotSlot& routing, const StatsRegistry& stats, Logger& log, Clock clock)
    : io_(io),
      config_(std::move(config)),
      routing_(routing),
      stats_(stats),
      log_(log),
      clock_(std::move(clock)),
      state_(initial_state(config_->backends.live)),
      health_(config_->backends),
      notifier_(std::make_unique<Notifier>(io, log)),
      check_timer_(io),
      ticket_timer_(io) {
  notifier_->set_webhook(config_->notify);
}

Controller::~Controller() = default;

namespace {

// Gives each endpoint of a color with backends.<color>.tls its color's TLS client context (built
// once per config: its session cache lives as long as the config). Why not, when a context
// cannot be built.
std::optional<std::string> attach_upstream_tls(const BackendsConfig& backends,
                                               std::array<std::vector<Endpoint>, 2>& endpoints) {
  for (const Color color : kColors) {
    const BackendTlsConfig& tls = backends.of(color).tls;
    if (!tls.enabled) continue;
    const bool http2 = backends.of(color).protocol == UpstreamProtocol::h2;
    auto built = TlsClientContext::create(tls, http2 ? "h2" : "http/1.1");
    if (!built.ok()) return fmt::format("backends.{}.tls: {}", name(color), built.error);
    for (Endpoint& endpoint : endpoints[index(color)]) endpoint.tls = built.context;
  }
  return std::nullopt;
}

}  // namespace

void Controller::restore() {
  endpoints_ = resolve_endpoints(config_->backends, stats_);
  if (auto problem = attach_upstream_tls(config_->backends, endpoints_)) {
    throw std::runtime_error(*problem);
  }
  access_log_ = open_access_log(config_->log);
  if (config_->tls.enabled()) {
    if (auto problem = tls_.reload(config_->tls); !problem.empty()) {
      throw std::runtime_error("tls: " + problem);
    }
  }
  // In a fleet the state lives in etcd (docs/fleet.md).
  state_path_ = config_->fleet.enabled() ? std::string() : config_->state_file;
  if (!state_path_.empty()) {
    state_lock_ = std::make_unique<StateFileLock>(state_path_);
    if (auto saved = load_state(state_path_)) {
      state_ = resume_after_restart(std::move(*saved), clock_());
      if (!state_.history.empty()) last_decision_ = state_.history.back().detail;
      log_.info("restored rollout state from {}: {}, live {}, step {}", state_path_,
                name(state_.phase), name(state_.live),
                state_.step ? std::to_string(*state_.step) : "none");
      if (state_.live != config_->backends.live) {
        // The state file is the newer truth (a promotion or rollback made it); say so, once.
        log_.warn(
            "backends.live is {} in the config, but the state file {} has {} live: the state "
            "file's live color is kept (promote or roll back to change it)",
            name(config_->backends.live), state_path_, name(state_.live));
      }
    }
    if (auto problem = endpoint_problem(*config_)) {
      throw std::runtime_error(fmt::format("state file {}: {}", state_path_, *problem));
    }
  }
  last_reading_ = stats_.totals();
  publish_snapshot();
}

std::shared_ptr<const AccessLogFile> Controller::open_access_log(const LogConfig& log) {
  return log.access ? AccessLogFile::open(log.access_file) : nullptr;
}

std::optional<std::string> Controller::endpoint_problem(const Config& config) const {
  if (config.backends.of(state_.live).endpoints.empty()) {
    return fmt::format("the live color {} (as the rollout state has it) would have no endpoint",
                       name(state_.live));
  }
  if (state_.retained && clock_() < state_.retained->until &&
      config.backends.of(state_.retained->color).endpoints.empty()) {
    return fmt::format(
        "the retained color {} (kept for a rollback until {}) would have no endpoint",
        name(state_.retained->color), format_time(state_.retained->until));
  }
  return std::nullopt;
}

void Controller::start() {
  rotate_ticket_keys_later();
  start_probes();
  auto_start_pending_ = config_->rollout.auto_start && !state_.running();
  try_auto_start();
  schedule_check();
}

void Controller::stop() {
  check_timer_.cancel();
  ticket_timer_.cancel();
  if (prober_) prober_->stop();
}

std::optional<std::string> Controller::reload(std::shared_ptr<const Config> config) {
  if (auto problem = endpoint_problem(*config)) return problem;
  auto endpoints = resolve_endpoints(config->backends, stats_);
  if (auto problem = attach_upstream_tls(config->backends, endpoints)) return problem;
  std::shared_ptr<const AccessLogFile> access_log;
  try {
    access_log = open_access_log(config->log);  // reopened: a rotated file is let go
  } catch (const std::exception& e) {
    return e.what();
  }
  // The certificate and key are read again; a pair that does not load keeps the old one.
  if (config->tls.enabled()) {
    if (auto problem = tls_.reload(config->tls); !problem.empty()) return "tls: " + problem;
  }
  config_ = std::move(config);
  endpoints_ = std::move(endpoints);
  access_log_ = std::move(access_log);
  health_.reconfigure(config_->backends);
  notifier_->set_webhook(config_->notify);
  start_probes();
  publish_snapshot();
  check_timer_.cancel();  // re-plan the next check with the new check_interval
  schedule_check();
  return std::nullopt;
}

// A session ticket encrypted under a key that was stolen decrypts the sessions it resumes: the key
// that encrypts new tickets changes every kTicketKeyLife, and the two before it still decrypt
// (TicketKeys::kKept), so a ticket resumes for at least kTicketKeyLife * 2.
void Controller::rotate_ticket_keys_later() {
  ticket_timer_.expires_after(kTicketKeyLife);
  ticket_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    tls_.ticket_keys().rotate();
    rotate_ticket_keys_later();
  });
}

void Controller::start_probes() {
  if (prober_) prober_->stop();
  prober_ = std::make_unique<HealthProber>(
      io_, config_->backends.health_check, log_,
      [this](Color color, const std::string& label, bool ok) { on_probe(color, label, ok); });
  prober_->start(endpoints_);
}

// The next check comes after check_interval, or sooner when the current step ends before that.
void Controller::schedule_check() {
  auto delay = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      config_->rollout.check_interval);
  if (const auto step_end = next_step_at(state_)) {
    const auto until_end = *step_end - clock_();
    if (until_end < delay) delay = std::max<std::chrono::steady_clock::duration>(until_end, {});
  }
  check_timer_.expires_after(delay);
  check_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    check();
    schedule_check();
  });
}

// rollout.auto_start: tried at start and at every check until the candidate is ready.
void Controller::try_auto_start() {
  if (!auto_start_pending_ || state_.running()) return;
  if (!candidate_ready(state_.candidate())) return;  // said once by start_rollout when it is
  auto_start_pending_ = false;
  asio::co_spawn(
      io_,
      [this]() -> asio::awaitable<void> {
        json::object no_body;
        const auto result = co_await start_rollout(std::move(no_body));
        if (result.status != 200) log_.warn("auto_start: {}", json::serialize(result.body));
      },
      asio::detached);
}

void Controller::check() {
  try_auto_start();
  if (shared_) return;  // a fleet: its leader runs the checks (fleet/)
  if (!state_.judging()) {
    evidence_.clear();
    if (persist_error_) persist();  // retried at every check until it succeeds
    return;
  }
  const bool was_held = state_.held;
  Decision d = decide(take_fresh(), clock_());
  commit(d.state, d.weights_changed);
  record(d, was_held);
}

void Controller::commit(RolloutState next, bool weights_changed) {
  const bool changed = !(next == state_);
  state_ = std::move(next);
  if (weights_changed) publish_snapshot();
  if (changed || persist_error_) persist();
}

void Controller::persist() {
  if (state_path_.empty()) return;
  try {
    save_state(state_path_, state_);
    if (persist_error_) log_.info("state file {} written again", state_path_);
    persist_error_.reset();
  } catch (const std::exception& e) {
    ++state_write_errors_;
    if (persist_error_ != e.what()) {  // once per distinct error, not at every retry
      log_.error("{}; the decision holds in memory and the write is retried at every check",
                 e.what());
    }
    persist_error_ = e.what();
  }
}

void Controller::publish_snapshot() {
  auto snapshot = std::make_shared<RoutingSnapshot>();
  snapshot->version = ++snapshot_version_;
  snapshot->live = state_.live;
  snapshot->weights = state_.weights;
  snapshot->endpoints = endpoints_;
  for (Color c : kColors) {
    for (Endpoint& e : snapshot->endpoints[index(c)]) e.healthy = health_.healthy(c, e.label);
  }
  snapshot->config = config_;
  snapshot->access_log = access_log_;
  if (config_->tls.enabled()) snapshot->tls = tls_.current();
  routing_.publish(std::move(snapshot));
}

void Controller::on_probe(Color color, const std::string& label, bool success) {
  if (!health_.observe(color, label, success)) return;
  const bool healthy = health_.healthy(color, label);
  log_.log(healthy ? LogLevel::info : LogLevel::warn, "endpoint {} ({}) is now {}", label,
           name(color), healthy ? "healthy" : "unhealthy");
  publish_snapshot();
  // A candidate that lost its last healthy endpoint rolls back now, not at the next check.
  if (state_.running() && color == state_.candidate() && !health_.any_healthy(color)) check();
}

// A webhook event: the fields a receiver can act on, and `text` for chat (Slack's field).
void Controller::announce(std::string_view event, std::string_view detail) {
  json::object out{{"event", event},
                   {"at", format_time(clock_())},
                   {"state", name(state_.phase)},
                   {"live", name(state_.live)},
                   {"candidate", name(state_.candidate())},
                   {"weights", weights_json(state_.weights)},
                   {"step", state_.step ? json::value(*state_.step) : json::value(nullptr)},
                   {"detail", detail},
                   {"text", fmt::format("bgproxy {}: {}", event, detail)}};
  if (event == "rollback" && state_.last_rollback) {
    out["reason"] = name(state_.last_rollback->reason);
  }
  const ColorSamples window = current_window();
  out["window"] = json::object{{"blue", color_window_json(window.of(Color::blue))},
                               {"green", color_window_json(window.of(Color::green))}};
  notifier_->post(std::move(out));
}

ColorSamples Controller::take_fresh() {
  const StatsTotals reading = stats_.totals();
  const ColorSamples fresh = judged_samples(reading.since(last_reading_));
  last_reading_ = reading;
  return fresh;
}

ColorSamples Controller::peek_fresh() const {
  return judged_samples(stats_.totals().since(last_reading_));
}

ColorSamples Controller::current_window() const {
  if (shared_) return state_.step_window;  // a fleet: the leader's merged window, as stored
  ColorSamples window = state_.step_window;
  window += peek_fresh();
  return window;
}

// With health checks, an endpoint must have passed one (endpoints start healthy only so that the
// live color serves at once); without them, configured is enough.
bool Controller::candidate_ready(Color candidate) const {
  if (endpoints_[index(candidate)].empty()) return false;
  const bool checked = config_->backends.health_check.enabled();
  return checked ? health_.any_proven(candidate) : health_.any_healthy(candidate);
}

bool Controller::ready() const {
  return listening_ && health_.any_healthy(state_.live);
}

std::string Controller::not_ready_reason() const {
  if (!listening_) return "the data plane is not listening (starting or draining)";
  return fmt::format("no endpoint of the live color {} is healthy", name(state_.live));
}

ApiResult Controller::status() const {
  const ColorSamples window = current_window();
  json::object out{
      {"state", name(state_.phase)},
      {"live", name(state_.live)},
      {"candidate", name(state_.candidate())},
      {"weights", weights_json(state_.weights)},
      {"step", state_.step ? json::value(*state_.step) : json::value(nullptr)},
      {"steps", steps_json(state_.running() ? state_.steps : config_->rollout.steps)},
      {"step_started_at",
       state_.step ? json::value(format_time(state_.step_started_at)) : json::value(nullptr)},
      {"next_step_at", time_json(next_step_at(state_))},
      {"held", state_.held},
      {"window",
       {{"blue", color_window_json(window.of(Color::blue))},
        {"green", color_window_json(window.of(Color::green))}}},
      {"last_decision", last_decision_},
      {"persisted", state_path_.empty() ? json::value(nullptr) : json::value(!persist_error_)},
      {"persist_error", persist_error_ ? json::value(*persist_error_) : json::value(nullptr)},
      {"watch", state_.watch_until ? json::value{{"until", format_time(*state_.watch_until)}}
                                   : json::value(nullptr)},
  };
  json::array evidence;
  for (const auto& rule : evidence_) evidence.push_back(rule_json(rule));
  out["evidence"] = std::move(evidence);
  if (fleet_status_) out["fleet"] = fleet_status_();
  out["last_rollback"] = state_.last_rollback
                             ? json::value{{"at", format_time(state_.last_rollback->at)},
                                           {"reason", name(state_.last_rollback->reason)},
                                           {"detail", state_.last_rollback->detail}}
                             : json::value(nullptr);
  out["retained"] = state_.retained ? json::value{{"color", name(state_.retained->color)},
                                                  {"until", format_time(state_.retained->until)}}
                                    : json::value(nullptr);
  json::array history;
  for (const auto& e : state_.history) history.push_back(history_json(e));
  out["history"] = std::move(history);
  return ApiResult::ok(std::move(out));
}

ApiResult Controller::apply(std::string_view action, const Op& op) {
  const TimePoint now = clock_();
  state_ = observe(std::move(state_), take_fresh(), now);
  const OpResult result = op(state_, now);
  if (!result.ok()) {
    return ApiResult::error(static_cast<unsigned>(result.error->status), result.error->message);
  }
  commit(result.state, result.weights_changed);
  after_change(action, result);
  return status();
}

// What every accepted operator call does once its state is in force.
void Controller::after_change(std::string_view action, const OpResult& result) {
  if (!result.message.empty()) log_.info("{}", result.message);
  last_decision_ = result.message;  // an operator's call is the latest decision too
  evidence_.clear();                // the next check judges the new state
  announce(action, result.message);
  check_timer_.cancel();  // a new step may end sooner than the planned check
  schedule_check();
}

asio::awaitable<ApiResult> Controller::mutate(std::string action, Op op) {
  if (!shared_) co_return apply(action, op);
  co_return co_await apply_shared(std::move(action), std::move(op));
}

asio::awaitable<ApiResult> Controller::apply_shared(std::string action, Op op) {
  constexpr int kAttempts = 3;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const auto snapshot = co_await shared_->read();
    if (!snapshot) co_return store_unreachable(action, op);
    const OpResult result = op(snapshot->state, clock_());
    if (!result.ok()) {
      co_return ApiResult::error(static_cast<unsigned>(result.error->status),
                                 result.error->message);
    }
    const auto written = co_await shared_->write(result.state, snapshot->revision);
    if (written == SharedState::Write::unreachable) co_return store_unreachable(action, op);
    if (written == SharedState::Write::done) {
      adopt(result.state);
      after_change(action, result);
      co_return status();
    }
  }
  co_return ApiResult::error(
      409, fmt::format("the fleet's rollout state changed under this call {} times in a row; "
                       "read it again and retry",
                       kAttempts));
}

// The fleet's store is out of reach: a rollback still applies here at once (and is written when
// the store returns); anything else would let this replica drift from the others.
ApiResult Controller::store_unreachable(std::string_view action, const Op& op) {
  if (action != "rollback") {
    return ApiResult::error(503,
                            "the fleet's store (etcd) is unreachable: only a rollback "
                            "applies now, locally");
  }
  ApiResult result = apply(action, op);
  if (result.status == 200) {
    pending_rollback_ = true;
    log_.warn("rollback applied on this replica only; it is written to etcd when it returns");
  }
  return result;
}

asio::awaitable<ApiResult> Controller::start_rollout(json::object body) {
  std::optional<std::vector<RolloutStep>> steps;
  std::optional<Duration> step_duration;
  for (const auto& field : body) {  // no structured bindings in a coroutine (GCC 12)
    const std::string_view key = field.key();
    const json::value& value = field.value();
    if (key == "steps" && value.is_array()) {
      steps.emplace();
      for (const auto& v : value.as_array()) {
        auto step = parse_step(v);
        if (!step)
          co_return ApiResult::error(400, "steps: each is a percent or {weight, duration}");
        steps->push_back(*step);
      }
    } else if (key == "step_duration" && value.is_string()) {
      step_duration = parse_duration(value.as_string());
      if (!step_duration || step_duration->count() <= 0) {
        co_return ApiResult::error(400, "step_duration: a duration like \"30s\"");
      }
    } else {
      co_return ApiResult::error(400, fmt::format("unknown or mistyped field '{}'", key));
    }
  }
  // Named, not temporaries in the co_await expression: GCC 12 may destroy those twice.
  Op op = [this, steps, step_duration](const RolloutState& s, TimePoint now) {
    return bgp::start(config_->rollout, s, steps, step_duration, candidate_ready(s.candidate()),
                      now);
  };
  co_return co_await mutate("start", std::move(op));
}

asio::awaitable<ApiResult> Controller::pause() {
  return mutate("pause", [](const RolloutState& s, TimePoint now) { return bgp::pause(s, now); });
}
asio::awaitable<ApiResult> Controller::resume() {
  return mutate("resume", [](const RolloutState& s, TimePoint now) { return bgp::resume(s, now); });
}
asio::awaitable<ApiResult> Controller::promote() {
  return mutate("promote", [this](const RolloutState& s, TimePoint now) {
    return bgp::promote(config_->rollout, s, now);
  });
}
asio::awaitable<ApiResult> Controller::rollback() {
  return mutate("rollback",
                [](const RolloutState& s, TimePoint now) { return bgp::rollback(s, now); });
}

asio::awaitable<ApiResult> Controller::set_weights(json::object body) {
  if (body.size() != 1) co_return ApiResult::error(400, R"(body: {"green": N} or {"blue": N})");
  const auto& field = *body.begin();
  const auto& value = field.value();
  const auto color = parse_color(field.key());
  if (!color) co_return ApiResult::error(400, "weights: the key is \"blue\" or \"green\"");
  if (!value.is_number()) co_return ApiResult::error(400, "weights: the value is a number");
  const auto bp = parse_weight_bp(value.to_number<double>());
  if (!bp) co_return ApiResult::error(400, "weights: 0 to 100 with at most two decimals");
  Op op = [c = *color, w = *bp](const RolloutState& s, TimePoint now) {
    return bgp::set_weights(s, c, w, now);
  };
  co_return co_await mutate("weights", std::move(op));
}

// --- a fleet ---

void Controller::attach(SharedState& shared, std::function<json::value()> fleet_status) {
  shared_ = &shared;
  fleet_status_ = std::move(fleet_status);
}

void Controller::adopt(RolloutState next) {
  const bool routing_changed = next.weights != state_.weights || next.live != state_.live;
  // A follower did not decide, but shows what was decided.
  if (!next.history.empty() &&
      (state_.history.empty() || next.history.back() != state_.history.back())) {
    last_decision_ = next.history.back().detail;
  }
  state_ = std::move(next);
  if (routing_changed) publish_snapshot();
}

Decision Controller::decide(const ColorSamples& fresh, TimePoint now) const {
  return evaluate(config_->rollout, state_, fresh, health_.any_healthy(state_.candidate()), now);
}

void Controller::record(const Decision& d, bool was_held) {
  evidence_ = d.evidence;
  if (d.verdict == Verdict::rollback) rollback_evidence_ = d.evidence;  // stays visible
  const bool repeated_hold = d.verdict == Verdict::hold && was_held;    // said once is enough
  if (!d.message.empty() && !repeated_hold) {
    const auto level = d.verdict == Verdict::rollback ? LogLevel::warn : LogLevel::info;
    log_.event(level, d.message, verdict_fields(d));
    last_decision_ = d.message;
  }
  // After the state is in force, so that the event describes the state the verdict produced.
  if (const auto event = event_of(d.verdict)) announce(*event, d.message);
}

ControlView Controller::control_view() const {
  ControlView view;
  view.weights = state_.weights;
  view.state = std::string(name(state_.phase));
  view.step = state_.step ? static_cast<int>(*state_.step) : -1;
  for (std::size_t r = 0; r < kRollbackReasons; ++r) {
    view.rollbacks[std::string(name(static_cast<RollbackReason>(r)))] = state_.rollbacks[r];
  }
  view.promotions = state_.promotions;
  view.state_write_errors = state_write_errors_;
  view.webhook_failures = notifier_->failures();
  if (state_.step) {
    const ColorSamples window = current_window();
    for (Color c : kColors) {
      view.step_error_rate[index(c)] = window.of(c).error_rate();
      view.step_p99_seconds[index(c)] = window.of(c).p99_ms() / 1000.0;
    }
  }
  view.judge = rule_views(evidence_);
  view.last_rollback_evidence = rule_views(rollback_evidence_);
  view.live = state_.live;
  view.held = state_.held;
  if (config_->tls.enabled()) {
    if (const auto tls = tls_.current()) {
      view.tls_cert_expiry = static_cast<double>(tls->cert_not_after());
    }
  }
  if (state_.step) view.step_started_at = unix_seconds(state_.step_started_at);
  if (state_.last_rollback) {
    view.last_rollback_at = unix_seconds(state_.last_rollback->at);
    view.last_rollback_reason = std::string(name(state_.last_rollback->reason));
  }
  for (Color c : kColors) {
    for (const auto& e : health_.endpoints(c)) {
      view.endpoints.push_back({c, e.label, e.streak.healthy()});
    }
  }
  return view;
}

}  // namespace bgp
