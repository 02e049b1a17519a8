// The Prometheus view of bgproxy (docs/admin-api.md), built at scrape time. The workers only write
// their StatsShard; this collector sums the shards and asks the control plane for its gauges when
// Prometheus scrapes, so prometheus-cpp never runs on the request path.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "config/color.h"
#include "metrics/stats.h"

namespace bgp {

// The Content-Type of render_text()'s output.
inline constexpr std::string_view kPrometheusTextContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// The rollout states and rollback reasons that are always exported (0 when not current / never
// seen), so that dashboards and alerts have every series from the first scrape.
inline constexpr std::array<std::string_view, 4> kRolloutStates{"stable", "progressing", "paused",
                                                                "rolled_back"};
inline constexpr std::array<std::string_view, 5> kRollbackReasonNames{
    "error_rate", "p99", "p99_increase", "health", "manual"};

struct EndpointHealthView {
  Color color = Color::blue;
  std::string endpoint;  // "host:port" as configured
  bool healthy = true;
};

// One rule of the judge at its last check (docs/judge.md).
struct JudgeRuleView {
  std::string rule;      // "error_rate", "p99", "latency_p99", ...
  double estimate = 0;   // a ratio, or seconds for latency rules
  double threshold = 0;  // the same unit; NaN while the reference has no data
  double evidence = 0;   // e: a breach when it reaches `bar`
  double bar = 0;
  std::uint64_t candidate_requests = 0;
  std::uint64_t reference_requests = 0;
};

// A fleet replica's view (docs/fleet.md).
struct FleetGauges {
  bool leader = false;       // bgproxy_fleet_leader
  std::size_t replicas = 0;  // bgproxy_fleet_replicas
  bool connected = false;    // bgproxy_fleet_connected
};

// What the control plane reports at each scrape.
struct ControlView {
  Weights weights;               // bgproxy_traffic_weight_percent{color}
  std::string state = "stable";  // one of kRolloutStates: bgproxy_rollout_state{state}
  int step = -1;                 // bgproxy_rollout_step: index of the current step, -1 when none
  std::map<std::string, std::uint64_t, std::less<>> rollbacks;  // reason -> count
  std::uint64_t promotions = 0;
  std::array<double, 2> step_error_rate{};   // per color index, the current step's window
  std::array<double, 2> step_p99_seconds{};  // per color index, the current step's window
  std::vector<EndpointHealthView> endpoints;
  std::vector<JudgeRuleView> judge;       // empty when nothing is judged
  Color live = Color::blue;               // bgproxy_color_role{color, role="live"|"candidate"}
  std::optional<double> step_started_at;  // Unix seconds, while a step runs
  bool held = false;                      // bgproxy_rollout_held
  // The last rollback, kept visible after it (the step gauges show the next window by then).
  std::optional<double> last_rollback_at;  // Unix seconds
  std::string last_rollback_reason;
  std::vector<JudgeRuleView> last_rollback_evidence;
  std::uint64_t state_write_errors = 0;      // bgproxy_state_write_errors_total
  std::uint64_t config_reloads_ok = 0;       // bgproxy_config_reloads_total{result="ok"}
  std::uint64_t config_reloads_refused = 0;  // ... {result="refused"}
  std::uint64_t webhook_failures = 0;        // bgproxy_webhook_failures_total
  std::optional<FleetGauges> fleet;          // only in a fleet
  // The TLS listener's certificate notAfter (Unix seconds); set when tls.listen is configured,
  // which also exports the bgproxy_tls_* families.
  std::optional<double> tls_cert_expiry;
};

class Exporter : public prometheus::Collectable {
 public:
  // `control` is called once per scrape, from the scraping thread: it must be thread-safe. An empty
  // function exports a default ControlView (stable, no rollout).
  Exporter(const StatsRegistry& stats, std::function<ControlView()> control, std::string version);

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const StatsRegistry& stats_;
  std::function<ControlView()> control_;
  std::string version_;
};

// The text exposition format 0.0.4 of everything `collectable` reports.
std::string render_text(const prometheus::Collectable& collectable);

}  // namespace bgp
