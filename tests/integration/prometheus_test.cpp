// /metrics as Prometheus sees it: promtool's linter, and a real Prometheus server scraping bgproxy.
#include <filesystem>
#include <set>
#include <sstream>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "integration/harness.h"

namespace bgt {
namespace {

namespace json = boost::json;

constexpr std::string_view kPromtool = "/usr/bin/promtool";
constexpr std::string_view kPrometheus = "/usr/bin/prometheus";

class PrometheusTest : public ::testing::Test {
 protected:
  TestBackend blue{"blue-1"};
  TestBackend green{"green-1"};
  Bgproxy proxy{make_config({.blue = {blue.address()}, .green = {green.address()}})};

  // Traffic to both colors: a hand-set 50/50 split.
  void send_traffic() {
    ASSERT_EQ(proxy.admin("PUT", "/weights", R"({"green": 50})").status, 200u);
    const Tally t = send_requests(proxy.proxy_port(), 100);
    ASSERT_EQ(t.status(200), 100) << t.to_string();
    ASSERT_GT(t.of("green"), 0) << t.to_string();
    ASSERT_GT(t.of("blue"), 0) << t.to_string();
    blue_requests = t.of("blue");
  }

  int blue_requests = 0;
};

TEST_F(PrometheusTest, MetricsPassPromtoolAndHaveTheContractNames) {
  ASSERT_TRUE(std::filesystem::exists(kPromtool)) << kPromtool << " is missing (apt prometheus)";
  ASSERT_TRUE(proxy.start());
  send_traffic();

  HttpResponse metrics;
  wait_until(  // a request is recorded just after its last byte went out: wait for the last one
      [&] {
        metrics = proxy.admin("GET", "/metrics");
        return metric_sum(metrics.body, "bgproxy_requests_total") >= 100;
      });
  ASSERT_EQ(metrics.status, 200u);
  EXPECT_TRUE(metrics.header("Content-Type").starts_with("text/plain"));
  const auto lint = run_process({std::string(kPromtool), "check", "metrics"}, 30s, metrics.body);
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;

  const std::vector<std::pair<std::string, std::string>> contract{
      {"bgproxy_requests_total", "counter"},
      {"bgproxy_request_duration_seconds", "histogram"},
      {"bgproxy_upstream_errors_total", "counter"},
      {"bgproxy_downstream_connections", "gauge"},
      {"bgproxy_traffic_weight_percent", "gauge"},
      {"bgproxy_rollout_state", "gauge"},
      {"bgproxy_rollout_step", "gauge"},
      {"bgproxy_rollbacks_total", "counter"},
      {"bgproxy_promotions_total", "counter"},
      {"bgproxy_step_error_rate", "gauge"},
      {"bgproxy_step_p99_seconds", "gauge"},
      {"bgproxy_endpoint_healthy", "gauge"},
      {"bgproxy_endpoint_requests_total", "counter"},
      {"bgproxy_endpoint_request_duration_seconds", "histogram"},
      {"bgproxy_endpoint_upstream_errors_total", "counter"},
      {"bgproxy_upstream_connections_opened_total", "counter"},
      {"bgproxy_upstream_connections_reused_total", "counter"},
      {"bgproxy_upstream_idle_connections", "gauge"},
      {"bgproxy_build_info", "gauge"},
  };
  for (const auto& [name, type] : contract) {
    EXPECT_NE(metrics.body.find(fmt::format("# TYPE {} {}\n", name, type)), std::string::npos)
        << name << " " << type;
  }
  // The numbers say what happened.
  EXPECT_EQ(
      metric_sum(metrics.body, "bgproxy_requests_total", {R"(color="blue")", R"(code="2xx")"}),
      blue_requests);
  EXPECT_EQ(metric_sum(metrics.body, "bgproxy_requests_total"), 100);
  EXPECT_EQ(metric_sum(metrics.body, "bgproxy_traffic_weight_percent", {R"(color="green")"}), 50);
  // A hand-set split outside a rollout is judged: paused, no step.
  EXPECT_EQ(metric_sum(metrics.body, "bgproxy_rollout_state", {R"(state="paused")"}), 1);
  EXPECT_EQ(metric_sum(metrics.body, "bgproxy_rollout_step"), -1);
  EXPECT_EQ(metric_sum(metrics.body, "bgproxy_request_duration_seconds_count", {R"(color="blue")"}),
            blue_requests);
  // Per endpoint: the blue backend answered the blue requests, each on one upstream connection,
  // most of them kept alive from the one before.
  const std::string blue_endpoint = fmt::format(R"(endpoint="{}")", blue.address());
  EXPECT_EQ(metric_sum(metrics.body, "bgproxy_endpoint_requests_total",
                       {R"(color="blue")", blue_endpoint, R"(code="2xx")"}),
            blue_requests);
  EXPECT_EQ(
      metric_sum(metrics.body, "bgproxy_endpoint_request_duration_seconds_count", {blue_endpoint}),
      blue_requests);
  const double opened =
      metric_sum(metrics.body, "bgproxy_upstream_connections_opened_total", {blue_endpoint});
  const double reused =
      metric_sum(metrics.body, "bgproxy_upstream_connections_reused_total", {blue_endpoint});
  EXPECT_EQ(opened + reused, blue_requests);
  EXPECT_GT(reused, 0);
  EXPECT_EQ(metric_sum(metrics.body, "bgproxy_endpoint_upstream_errors_total", {blue_endpoint}), 0);
}

// After a rollback the exposition carries every family a dashboard reads (the color roles, the
// judge's evidence, the last rollback's numbers), and promtool still takes all of it.
TEST_F(PrometheusTest, AfterARollbackEveryFamilyPassesPromtool) {
  green.set_status(500);
  ASSERT_TRUE(proxy.start());
  ASSERT_TRUE(start_and_drive_until_rolled_back(proxy));
  HttpResponse metrics;
  ASSERT_TRUE(wait_until([&] {
    metrics = proxy.admin("GET", "/metrics");
    return metric_sum(metrics.body, "bgproxy_rollbacks_total") == 1;
  })) << metrics.body;
  const auto lint = run_process({std::string(kPromtool), "check", "metrics"}, 30s, metrics.body);
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
  EXPECT_EQ(metric_sum(metrics.body, "bgproxy_color_role", {R"(color="blue")", R"(role="live")"}),
            1);
  EXPECT_EQ(metric_sum(metrics.body, "bgproxy_rollout_held"), 0);
  EXPECT_GT(metric_sum(metrics.body, "bgproxy_last_rollback_timestamp_seconds"), 1.7e9);
  EXPECT_NE(metrics.body.find("# TYPE bgproxy_judge_evidence gauge"), std::string::npos);
}

// A Prometheus server on a free loopback port scraping bgproxy's admin port every second.
class PrometheusServer {
 public:
  // `rules`: a rule file to load, "" for none.
  explicit PrometheusServer(std::uint16_t target_port, const std::string& rules = "")
      : port_(free_port()) {
    const std::string rule_files = rules.empty() ? "" : "rule_files: ['" + rules + "']\n";
    const auto config = dir_.write("prometheus.yml", rule_files + fmt::format(R"(global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: bgproxy
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ['127.0.0.1:{}']
)",
                                                                              target_port));
    process_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{std::string(kPrometheus), "--config.file=" + config,
                                 "--storage.tsdb.path=" + dir_.path() + "/data",
                                 fmt::format("--web.listen-address=127.0.0.1:{}", port_)},
        dir_.path() + "/prometheus.log");
  }

  ~PrometheusServer() {
    if (::testing::Test::HasFailure()) std::cerr << read_file(dir_.path() + "/prometheus.log");
  }

  // The `result` array of an instant query; empty on any error.
  json::array query(std::string_view promql) const {
    std::string encoded;
    for (unsigned char c : promql) {
      encoded += std::isalnum(c) || c == '_' ? std::string(1, static_cast<char>(c))
                                             : fmt::format("%{:02X}", c);
    }
    const auto response = http_request(port_, "GET", "/api/v1/query?query=" + encoded, {}, {}, 5s);
    const auto body = response.json();
    if (response.status != 200 || !body.is_object()) return {};
    const auto* data = body.as_object().if_contains("data");
    const auto* result =
        data && data->is_object() ? data->as_object().if_contains("result") : nullptr;
    return result && result->is_array() ? result->as_array() : json::array{};
  }

  ChildProcess& process() { return *process_; }

 private:
  TempDir dir_;
  std::uint16_t port_;
  std::unique_ptr<ChildProcess> process_;
};

std::string label_of(const json::value& series, std::string_view label) {
  const auto* metric = series.as_object().if_contains("metric");
  return metric ? string_at(*metric, label) : std::string();
}

TEST_F(PrometheusTest, RealPrometheusScrapesTheProxy) {
  ASSERT_TRUE(std::filesystem::exists(kPrometheus))
      << kPrometheus << " is missing (apt prometheus)";
  ASSERT_TRUE(proxy.start());
  send_traffic();
  PrometheusServer prometheus(proxy.admin_port());
  const std::string target = fmt::format("127.0.0.1:{}", proxy.admin_port());

  const bool up = wait_until(
      [&] {
        for (const auto& series : prometheus.query("up")) {
          const auto& value = series.as_object().at("value").as_array();
          if (label_of(series, "instance") == target && value.at(1) == "1") return true;
        }
        return false;
      },
      60s, 250ms);
  ASSERT_TRUE(up) << "Prometheus never saw the target up";

  std::set<std::string> colors;
  wait_until(
      [&] {
        for (const auto& series : prometheus.query("bgproxy_requests_total")) {
          if (label_of(series, "instance") == target) colors.insert(label_of(series, "color"));
        }
        return colors.contains("blue") && colors.contains("green");
      },
      10s, 250ms);
  EXPECT_TRUE(colors.contains("blue"));
  EXPECT_TRUE(colors.contains("green"));

  EXPECT_EQ(prometheus.process().terminate(), 0);
}

// The shipped alert rules (deploy/prometheus) in a real Prometheus: a rollback fires the alert.
TEST(PrometheusAlertTest, ARollbackFiresTheShippedAlert) {
  ASSERT_TRUE(std::filesystem::exists(kPrometheus)) << kPrometheus << " is missing";
  TestBackend blue("blue-1"), green("green-1");
  green.set_status(500);
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {green.address()},
                             .rollout = "step_duration: 1h\ncheck_interval: 100ms\n"}));
  ASSERT_TRUE(proxy.start());
  PrometheusServer prometheus(proxy.admin_port(), std::string(BGPROXY_SOURCE_DIR) +
                                                      "/deploy/prometheus/bgproxy-alerts.yml");
  // A first scrape with no rollback yet, so that the increase is seen.
  ASSERT_TRUE(
      wait_until([&] { return !prometheus.query("bgproxy_rollbacks_total").empty(); }, 60s, 250ms));
  ASSERT_TRUE(start_and_drive_until_rolled_back(proxy));
  const bool fired = wait_until(
      [&] {
        for (const auto& series :
             prometheus.query(R"(ALERTS{alertname="BgproxyRolledBack",alertstate="firing"})")) {
          if (label_of(series, "reason") == "error_rate") return true;
        }
        return false;
      },
      60s, 250ms);
  EXPECT_TRUE(fired) << "the BgproxyRolledBack alert never fired";
}

}  // namespace
}  // namespace bgt
