#include "metrics/exporter.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

#include <fmt/format.h>
#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>
#include <prometheus/text_serializer.h>

namespace bgp {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

constexpr double kMicrosPerSecond = 1e6;

// When this process started (Unix seconds): its boot-relative start from /proc/self/stat, plus
// the boot time from /proc/stat.
double process_start_seconds() {
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const auto after_name = stat.rfind(')');
  if (after_name == std::string::npos) return 0;
  std::istringstream fields(stat.substr(after_name + 2));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) {
      std::ifstream boot("/proc/stat");
      for (std::string key; boot >> key;) {
        if (key == "btime") {
          double btime = 0;
          boot >> btime;
          return btime + std::stod(field) / static_cast<double>(::sysconf(_SC_CLK_TCK));
        }
      }
    }
  }
  return 0;
}

// prometheus-cpp 1.0 writes a family's name as given (it adds no `_total`), so counter names carry
// their `_total` here.
MetricFamily make_family(std::string name, std::string help, MetricType type) {
  return MetricFamily{std::move(name), std::move(help), type, {}};
}

ClientMetric counter(double value, Labels labels = {}) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.counter.value = value;
  return metric;
}

ClientMetric gauge(double value, Labels labels = {}) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.gauge.value = value;
  return metric;
}

// A family of one unlabelled sample.
MetricFamily single_family(std::string name, std::string help, MetricType type, double value) {
  auto family = make_family(std::move(name), std::move(help), type);
  family.metric.push_back(type == MetricType::Counter ? counter(value) : gauge(value));
  return family;
}

ClientMetric::Label label(std::string name, std::string_view value) {
  return {std::move(name), std::string(value)};
}

std::string status_class_label(std::size_t class_index) {
  return std::to_string(class_index + 1) + "xx";
}

// The lanes as exported: {color, route} labels, and whether a lane's series are always there (the
// judged split traffic, for dashboards) or only once it has counted something.
struct ExportedLane {
  std::string_view color;
  Route route;
  const ColorTotals& totals;
  bool always;
};

std::vector<ExportedLane> exported_lanes(const StatsTotals& totals) {
  std::vector<ExportedLane> lanes;
  for (const Color color : kColors) {
    lanes.push_back({name(color), Route::split, totals.of(color), true});
  }
  for (const Color color : kColors) {
    lanes.push_back({name(color), Route::override, totals.overridden_of(color), false});
  }
  for (const Color color : kColors) {
    lanes.push_back({name(color), Route::abandoned, totals.abandoned_of(color), false});
  }
  lanes.push_back({"none", Route::refused, totals.refused, false});
  return lanes;
}

Labels lane_labels(const ExportedLane& lane) {
  return {label("color", lane.color), label("route", name(lane.route))};
}

MetricFamily requests_family(const std::vector<ExportedLane>& lanes) {
  auto family = make_family(
      "bgproxy_requests_total",
      "Requests answered, by color, route (split is what a rollout judges) and status class.",
      MetricType::Counter);
  constexpr std::size_t k2xx = 1, k5xx = 4;  // always exported, so dashboards have series at start
  for (const auto& lane : lanes) {
    const auto& by_class = lane.totals.by_class;
    for (std::size_t k = 0; k < kStatusClasses; ++k) {
      const bool always = lane.always && (k == k2xx || k == k5xx);
      if (by_class[k] == 0 && !always) continue;
      Labels labels = lane_labels(lane);
      labels.push_back(label("code", status_class_label(k)));
      family.metric.push_back(counter(static_cast<double>(by_class[k]), std::move(labels)));
    }
  }
  return family;
}

// The fine log-linear histogram is folded into the fixed `le` buckets with count_at_most(), which
// counts a fine bucket only when all of it lies at or below the bound. A fine bucket straddling a
// bound is thus counted in the next `le` bucket: a latency at most 1/64 (1.6%) below a bound may be
// reported just above it. Counts stay cumulative, and +Inf equals _count (every recorded latency).
ClientMetric duration_histogram(const ExportedLane& lane) {
  const ColorTotals& totals = lane.totals;
  ClientMetric metric;
  metric.label = lane_labels(lane);
  auto& histogram = metric.histogram;
  histogram.sample_count = totals.latency.count();
  histogram.sample_sum = static_cast<double>(totals.latency_sum_micros) / kMicrosPerSecond;
  for (const std::uint64_t bound : kDurationBoundsMicros) {
    histogram.bucket.push_back({totals.latency.count_at_most(static_cast<double>(bound)),
                                static_cast<double>(bound) / kMicrosPerSecond});
  }
  histogram.bucket.push_back({histogram.sample_count, std::numeric_limits<double>::infinity()});
  return metric;
}

MetricFamily duration_family(const std::vector<ExportedLane>& lanes) {
  auto family = make_family(
      "bgproxy_request_duration_seconds",
      "Request latency, from request headers received to the response's last byte forwarded.",
      MetricType::Histogram);
  for (const auto& lane : lanes) {
    if (lane.always || lane.totals.latency.count() > 0) {
      family.metric.push_back(duration_histogram(lane));
    }
  }
  return family;
}

MetricFamily upstream_errors_family(const StatsTotals& totals) {
  auto family = make_family("bgproxy_upstream_errors_total",
                            "Failed upstream attempts, by color and kind.", MetricType::Counter);
  for (const Color color : kColors) {
    const auto& errors = totals.of(color).upstream_errors;
    for (std::size_t k = 0; k < kUpstreamErrorKinds; ++k) {
      const auto kind = static_cast<UpstreamError>(k);
      family.metric.push_back(counter(static_cast<double>(errors[k]),
                                      {label("color", name(color)), label("kind", name(kind))}));
    }
  }
  return family;
}

// gRPC exchanges by color and the status their client got (every lane of the color; a code
// appears once counted).
MetricFamily grpc_responses_family(const StatsTotals& totals) {
  auto family = make_family("bgproxy_grpc_responses_total",
                            "gRPC responses, by color and the gRPC status the client got.",
                            MetricType::Counter);
  for (const Color color : kColors) {
    for (std::size_t code = 0; code < kGrpcCodes; ++code) {
      const auto count = totals.of(color).grpc[code] + totals.overridden_of(color).grpc[code] +
                         totals.abandoned_of(color).grpc[code];
      if (count == 0) continue;
      family.metric.push_back(
          counter(static_cast<double>(count),
                  {label("color", name(color)), label("code", std::string(kGrpcCodeNames[code]))}));
    }
  }
  return family;
}

// Each endpoint's requests, latency, failures and pool use (slots: metrics/stats.h). An endpoint
// removed by a reload keeps its series, frozen, until the process restarts.
std::vector<MetricFamily> endpoint_families(const std::vector<EndpointSlotName>& names,
                                            const std::vector<EndpointTotals>& totals) {
  auto requests = make_family("bgproxy_endpoint_requests_total",
                              "Requests an endpoint answered (every route), by status class.",
                              MetricType::Counter);
  auto duration =
      make_family("bgproxy_endpoint_request_duration_seconds",
                  "Request latency of the requests an endpoint answered.", MetricType::Histogram);
  auto errors =
      make_family("bgproxy_endpoint_upstream_errors_total",
                  "Failed upstream attempts to an endpoint, by kind.", MetricType::Counter);
  auto opened = make_family("bgproxy_upstream_connections_opened_total",
                            "Upstream connections opened to an endpoint.", MetricType::Counter);
  auto reused = make_family("bgproxy_upstream_connections_reused_total",
                            "Requests sent on a pooled (kept-alive) upstream connection.",
                            MetricType::Counter);
  for (std::size_t slot = 0; slot < names.size() && slot < totals.size(); ++slot) {
    const EndpointTotals& t = totals[slot];
    const Labels labels{label("color", name(names[slot].color)),
                        label("endpoint", names[slot].endpoint)};
    const auto with = [&](std::string key, std::string_view value) {
      Labels more = labels;
      more.push_back(label(std::move(key), value));
      return more;
    };
    constexpr std::size_t k2xx = 1, k5xx = 4;
    for (std::size_t k = 0; k < kStatusClasses; ++k) {
      if (t.by_class[k] == 0 && k != k2xx && k != k5xx) continue;
      requests.metric.push_back(
          counter(static_cast<double>(t.by_class[k]), with("code", status_class_label(k))));
    }
    ClientMetric histogram_metric;
    histogram_metric.label = labels;
    auto& histogram = histogram_metric.histogram;
    histogram.sample_count = t.requests();
    histogram.sample_sum = static_cast<double>(t.latency_sum_micros) / kMicrosPerSecond;
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < kDurationBoundsMicros.size(); ++b) {
      cumulative += t.latency_buckets[b];
      histogram.bucket.push_back(
          {cumulative, static_cast<double>(kDurationBoundsMicros[b]) / kMicrosPerSecond});
    }
    histogram.bucket.push_back(
        {cumulative + t.latency_buckets.back(), std::numeric_limits<double>::infinity()});
    duration.metric.push_back(std::move(histogram_metric));
    for (std::size_t k = 0; k < kUpstreamErrorKinds; ++k) {
      errors.metric.push_back(counter(static_cast<double>(t.upstream_errors[k]),
                                      with("kind", name(static_cast<UpstreamError>(k)))));
    }
    opened.metric.push_back(counter(static_cast<double>(t.connections_opened), labels));
    reused.metric.push_back(counter(static_cast<double>(t.connections_reused), labels));
  }
  std::vector<MetricFamily> families;
  families.push_back(std::move(requests));
  families.push_back(std::move(duration));
  families.push_back(std::move(errors));
  families.push_back(std::move(opened));
  families.push_back(std::move(reused));
  return families;
}

MetricFamily downstream_connections_family(const StatsTotals& totals) {
  auto family = make_family("bgproxy_downstream_connections", "Client connections open now.",
                            MetricType::Gauge);
  family.metric.push_back(gauge(static_cast<double>(totals.downstream_connections)));
  return family;
}

MetricFamily weights_family(const ControlView& control) {
  auto family =
      make_family("bgproxy_traffic_weight_percent",
                  "Share of new requests sent to each color, in percent.", MetricType::Gauge);
  for (const Color color : kColors) {
    family.metric.push_back(gauge(control.weights.percent(color), {label("color", name(color))}));
  }
  return family;
}

MetricFamily rollout_state_family(const ControlView& control) {
  auto family = make_family("bgproxy_rollout_state", "1 for the current rollout state, else 0.",
                            MetricType::Gauge);
  bool known = false;
  for (const auto state : kRolloutStates) {
    const bool current = state == control.state;
    known = known || current;
    family.metric.push_back(gauge(current ? 1 : 0, {label("state", state)}));
  }
  // A state this exporter does not know is still shown rather than hidden behind four zeros.
  if (!known) family.metric.push_back(gauge(1, {label("state", control.state)}));
  return family;
}

MetricFamily rollout_step_family(const ControlView& control) {
  auto family =
      make_family("bgproxy_rollout_step",
                  "Index of the current rollout step, -1 when no rollout runs.", MetricType::Gauge);
  family.metric.push_back(gauge(control.step));
  return family;
}

MetricFamily rollbacks_family(const ControlView& control) {
  auto family =
      make_family("bgproxy_rollbacks_total", "Rollbacks, by reason.", MetricType::Counter);
  std::map<std::string, std::uint64_t, std::less<>> by_reason;
  for (const auto reason : kRollbackReasonNames) by_reason.emplace(reason, 0);
  for (const auto& [reason, count] : control.rollbacks) by_reason[reason] = count;
  for (const auto& [reason, count] : by_reason) {
    family.metric.push_back(counter(static_cast<double>(count), {label("reason", reason)}));
  }
  return family;
}

MetricFamily promotions_family(const ControlView& control) {
  auto family =
      make_family("bgproxy_promotions_total", "Candidates promoted to live.", MetricType::Counter);
  family.metric.push_back(counter(static_cast<double>(control.promotions)));
  return family;
}

MetricFamily per_color_gauge_family(std::string family_name, std::string help,
                                    const std::array<double, 2>& values) {
  auto family = make_family(std::move(family_name), std::move(help), MetricType::Gauge);
  for (const Color color : kColors) {
    family.metric.push_back(gauge(values[index(color)], {label("color", name(color))}));
  }
  return family;
}

MetricFamily endpoint_health_family(const ControlView& control) {
  auto family = make_family("bgproxy_endpoint_healthy", "1 if the endpoint is healthy, else 0.",
                            MetricType::Gauge);
  for (const auto& endpoint : control.endpoints) {
    family.metric.push_back(
        gauge(endpoint.healthy ? 1 : 0,
              {label("color", name(endpoint.color)), label("endpoint", endpoint.endpoint)}));
  }
  return family;
}

// The judge's rules, one family per field, labelled by rule; `prefix` names the families.
std::vector<MetricFamily> judge_families(const std::vector<JudgeRuleView>& rules,
                                         std::string_view prefix, std::string_view what) {
  struct Field {
    const char* name;
    const char* help;
    double (*value)(const JudgeRuleView&);
  };
  static constexpr std::array<Field, 6> kFields{{
      {"evidence", "evidence per rule: a breach at its bar",
       [](const JudgeRuleView& r) { return r.evidence; }},
      {"evidence_bar", "evidence at which each rule breaches (from alpha)",
       [](const JudgeRuleView& r) { return r.bar; }},
      {"estimate", "judged color's estimate per rule (ratio, or seconds)",
       [](const JudgeRuleView& r) { return r.estimate; }},
      {"threshold", "threshold per rule (ratio, or seconds); NaN: no reference",
       [](const JudgeRuleView& r) { return r.threshold; }},
      {"candidate_requests", "requests of the judged color the evidence covers",
       [](const JudgeRuleView& r) { return static_cast<double>(r.candidate_requests); }},
      {"reference_requests", "requests of the reference (live) color it covers",
       [](const JudgeRuleView& r) { return static_cast<double>(r.reference_requests); }},
  }};
  std::vector<MetricFamily> families;
  if (rules.empty()) return families;
  for (const Field& field : kFields) {
    auto family = make_family(fmt::format("{}_{}", prefix, field.name),
                              fmt::format("{}: the {}.", what, field.help), MetricType::Gauge);
    for (const auto& rule : rules) {
      family.metric.push_back(gauge(field.value(rule), {label("rule", rule.rule)}));
    }
    families.push_back(std::move(family));
  }
  return families;
}

// Roles, step times, the held flag and the last rollback: what a dashboard cannot infer.
std::vector<MetricFamily> rollout_time_families(const ControlView& control) {
  std::vector<MetricFamily> families;
  auto role = make_family("bgproxy_color_role", "1 for each color's role: live or candidate.",
                          MetricType::Gauge);
  for (const Color color : kColors) {
    role.metric.push_back(gauge(1, {label("color", name(color)),
                                    label("role", color == control.live ? "live" : "candidate")}));
  }
  families.push_back(std::move(role));
  auto held =
      make_family("bgproxy_rollout_held",
                  "1 while a step is over but waits for min_requests, else 0.", MetricType::Gauge);
  held.metric.push_back(gauge(control.held ? 1 : 0));
  families.push_back(std::move(held));
  if (control.step_started_at) {
    auto started = make_family("bgproxy_step_started_timestamp_seconds",
                               "When the current step began (Unix time).", MetricType::Gauge);
    started.metric.push_back(gauge(*control.step_started_at));
    families.push_back(std::move(started));
  }
  if (control.last_rollback_at) {
    auto last = make_family("bgproxy_last_rollback_timestamp_seconds",
                            "When the last rollback happened (Unix time), by its reason.",
                            MetricType::Gauge);
    last.metric.push_back(
        gauge(*control.last_rollback_at, {label("reason", control.last_rollback_reason)}));
    families.push_back(std::move(last));
  }
  return families;
}

// process_* as the Prometheus client libraries export them, read from /proc.
std::vector<MetricFamily> process_families() {
  std::vector<MetricFamily> families;
  const auto one = [&](std::string name, std::string help, double value) {
    auto family = make_family(std::move(name), std::move(help), MetricType::Gauge);
    family.metric.push_back(gauge(value));
    families.push_back(std::move(family));
  };
  std::ifstream statm("/proc/self/statm");
  double size_pages = 0, resident_pages = 0;
  if (statm >> size_pages >> resident_pages) {
    const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    one("process_resident_memory_bytes", "Resident memory size in bytes.", resident_pages * page);
    one("process_virtual_memory_bytes", "Virtual memory size in bytes.", size_pages * page);
  }
  std::error_code ec;
  std::size_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  if (!ec) one("process_open_fds", "Number of open file descriptors.", static_cast<double>(fds));
  if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    one("process_max_fds", "Maximum number of open file descriptors.",
        static_cast<double>(limit.rlim_cur));
  }
  one("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.",
      process_start_seconds());
  return families;
}

MetricFamily config_reloads_family(const ControlView& control) {
  auto family = make_family("bgproxy_config_reloads_total",
                            "Config reloads (SIGHUP): applied, or refused with the running config "
                            "kept.",
                            MetricType::Counter);
  family.metric.push_back(
      counter(static_cast<double>(control.config_reloads_ok), {label("result", "ok")}));
  family.metric.push_back(
      counter(static_cast<double>(control.config_reloads_refused), {label("result", "refused")}));
  return family;
}

std::vector<MetricFamily> fleet_families(const ControlView& control) {
  std::vector<MetricFamily> families;
  if (!control.fleet) return families;
  const auto one = [&](std::string name, std::string help, double value) {
    auto family = make_family(std::move(name), std::move(help), MetricType::Gauge);
    family.metric.push_back(gauge(value));
    families.push_back(std::move(family));
  };
  one("bgproxy_fleet_leader", "1 on the replica that decides for the fleet, else 0.",
      control.fleet->leader ? 1 : 0);
  one("bgproxy_fleet_replicas", "Replicas of the fleet this one sees.",
      static_cast<double>(control.fleet->replicas));
  one("bgproxy_fleet_connected", "1 while etcd answers this replica, else 0.",
      control.fleet->connected ? 1 : 0);
  return families;
}

// HTTP/2 connections, client side and upstream side: why they ended.
MetricFamily http2_endings_family(const StatsTotals& totals) {
  auto ended = make_family("bgproxy_http2_connections_ended_total",
                           "HTTP/2 connections that ended, by side (client or upstream) and why.",
                           MetricType::Counter);
  for (const auto side : {Http2Side::client, Http2Side::upstream}) {
    for (std::size_t k = 0; k < kHttp2EndingKinds; ++k) {
      ended.metric.push_back(
          counter(static_cast<double>(totals.http2_endings[static_cast<std::size_t>(side)][k]),
                  {label("side", side == Http2Side::client ? "client" : "upstream"),
                   label("reason", name(static_cast<Http2Ending>(k)))}));
    }
  }
  return ended;
}

// The TLS listener (only when one is configured): handshakes, failures by reason, the
// certificate's expiry.
std::vector<MetricFamily> tls_families(const StatsTotals& totals, const ControlView& control) {
  std::vector<MetricFamily> families;
  if (!control.tls_cert_expiry) return families;
  auto expiry = make_family("bgproxy_tls_cert_expiry_timestamp_seconds",
                            "When the TLS listener's certificate expires (notAfter, Unix time).",
                            MetricType::Gauge);
  expiry.metric.push_back(gauge(*control.tls_cert_expiry));
  families.push_back(std::move(expiry));
  auto done = make_family("bgproxy_tls_handshakes_total",
                          "TLS handshakes completed on the listener, full or resumed (a ticket).",
                          MetricType::Counter);
  done.metric.push_back(
      counter(static_cast<double>(totals.tls_handshakes_full), {label("resumed", "false")}));
  done.metric.push_back(
      counter(static_cast<double>(totals.tls_handshakes_resumed), {label("resumed", "true")}));
  families.push_back(std::move(done));
  auto failed =
      make_family("bgproxy_tls_handshake_errors_total",
                  "TLS handshakes that failed on the listener, by reason.", MetricType::Counter);
  for (std::size_t k = 0; k < kHandshakeFailureKinds; ++k) {
    failed.metric.push_back(counter(static_cast<double>(totals.tls_handshake_failures[k]),
                                    {label("reason", name(static_cast<HandshakeFailure>(k)))}));
  }
  families.push_back(std::move(failed));
  return families;
}

MetricFamily build_info_family(const std::string& version) {
  auto family = make_family("bgproxy_build_info", "Always 1; the version is in the label.",
                            MetricType::Gauge);
  family.metric.push_back(gauge(1, {label("version", version)}));
  return family;
}

}  // namespace

Exporter::Exporter(const StatsRegistry& stats, std::function<ControlView()> control,
                   std::string version)
    : stats_(stats), control_(std::move(control)), version_(std::move(version)) {}

std::vector<MetricFamily> Exporter::Collect() const {
  const StatsTotals totals = stats_.totals();
  const ControlView control = control_ ? control_() : ControlView{};
  std::vector<MetricFamily> families;
  const auto lanes = exported_lanes(totals);
  families.push_back(requests_family(lanes));
  families.push_back(duration_family(lanes));
  families.push_back(upstream_errors_family(totals));
  families.push_back(grpc_responses_family(totals));
  families.push_back(downstream_connections_family(totals));
  const auto endpoint_names = stats_.endpoint_names();
  for (auto& family : endpoint_families(endpoint_names, stats_.endpoint_totals())) {
    families.push_back(std::move(family));
  }
  families.push_back(single_family("bgproxy_upstream_idle_connections",
                                   "Pooled idle upstream connections (as of each worker's last "
                                   "sweep, at most a second ago).",
                                   MetricType::Gauge,
                                   static_cast<double>(totals.idle_upstream_connections)));
  families.push_back(single_family(
      "bgproxy_access_log_lines_lost_total", "Access log lines dropped because their write failed.",
      MetricType::Counter, static_cast<double>(totals.access_lines_lost)));
  families.push_back(weights_family(control));
  families.push_back(rollout_state_family(control));
  families.push_back(rollout_step_family(control));
  families.push_back(rollbacks_family(control));
  families.push_back(promotions_family(control));
  families.push_back(per_color_gauge_family(
      "bgproxy_step_error_rate", "Error rate of each color in the current step's window.",
      control.step_error_rate));
  families.push_back(per_color_gauge_family(
      "bgproxy_step_p99_seconds", "p99 latency of each color in the current step's window.",
      control.step_p99_seconds));
  families.push_back(endpoint_health_family(control));
  families.push_back(
      single_family("bgproxy_state_write_errors_total",
                    "Failed writes of the state file (each is retried at every check).",
                    MetricType::Counter, static_cast<double>(control.state_write_errors)));
  families.push_back(
      single_family("bgproxy_webhook_failures_total", "Webhook events given up after every retry.",
                    MetricType::Counter, static_cast<double>(control.webhook_failures)));
  families.push_back(config_reloads_family(control));
  for (auto& family : judge_families(control.judge, "bgproxy_judge", "The judge's last check")) {
    families.push_back(std::move(family));
  }
  for (auto& family : judge_families(control.last_rollback_evidence, "bgproxy_last_rollback",
                                     "The check that rolled back last")) {
    families.push_back(std::move(family));
  }
  for (auto& family : rollout_time_families(control)) families.push_back(std::move(family));
  for (auto& family : process_families()) families.push_back(std::move(family));
  for (auto& family : fleet_families(control)) families.push_back(std::move(family));
  for (auto& family : tls_families(totals, control)) families.push_back(std::move(family));
  families.push_back(http2_endings_family(totals));
  families.push_back(build_info_family(version_));
  return families;
}

std::string render_text(const prometheus::Collectable& collectable) {
  return prometheus::TextSerializer{}.Serialize(collectable.Collect());
}

}  // namespace bgp
