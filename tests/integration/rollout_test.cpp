// Rollouts end to end: the real bgproxy between a test client and in-test blue/green backends whose
// error rate and latency the test sets; the verdicts are read from /status and from which backend
// answers.
#include <csignal>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "controller/rollout.h"
#include "integration/harness.h"

namespace bgt {
namespace {

namespace json = boost::json;

class RolloutTest : public ::testing::Test {
 protected:
  TestBackend blue{"blue-1"};
  TestBackend green{"green-1"};

  ConfigSpec spec(std::string rollout) const {
    return ConfigSpec{.blue = {blue.address()}, .green = {green.address()}, .rollout = rollout};
  }

  // Starts a rollout over `steps` (a JSON list) and drives it with `connections` clients until it
  // rolls back or 15 s pass; the last status seen.
  json::value drive_until_rolled_back(const Bgproxy& proxy, std::string_view steps,
                                      int connections) {
    const std::string body = R"({"steps": )" + std::string(steps) + "}";
    if (proxy.admin("POST", "/rollout/start", body).status != 200u) return proxy.status();
    TrafficLoop traffic(proxy.proxy_port(), {.connections = connections, .max_duration = 20s});
    return wait_status(
        proxy, [](const json::value& v) { return in_state(v, "rolled_back"); }, 15s);
  }

  static bool held(const json::value& s) {
    const auto* flag = s.is_object() ? s.as_object().if_contains("held") : nullptr;
    return flag && *flag == true;
  }
};

// No threshold can fire by noise: only the step clock and min_requests decide.
constexpr std::string_view kLenientThresholds =
    "thresholds:\n  max_p99_increase: 100\n  p99_noise_floor: 1000ms\n";

TEST_F(RolloutTest, HealthyCandidateIsPromotedThenRolledBackToTheRetainedColor) {
  Bgproxy proxy(make_config(spec("steps: [20, 50, 100]\n" + std::string(kFastRollout) +
                                 std::string(kLenientThresholds))));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);

  {
    TrafficLoop traffic(proxy.proxy_port(), {.connections = 2, .max_duration = 30s});
    const auto s = wait_status(
        proxy, [](const json::value& v) { return !in_state(v, "progressing"); }, 20s);
    traffic.stop();
    ASSERT_EQ(string_at(s, "state"), "stable") << json::serialize(s);
    EXPECT_EQ(traffic.tally().status(200), traffic.tally().total) << traffic.tally().to_string();
    EXPECT_GT(traffic.tally().of("green"), 0);
  }
  const auto s = proxy.status();
  EXPECT_EQ(string_at(s, "live"), "green");
  EXPECT_EQ(weight_of(s, "green"), 100);
  EXPECT_EQ(weight_of(s, "blue"), 0);
  ASSERT_TRUE(s.as_object().at("retained").is_object()) << json::serialize(s);
  EXPECT_EQ(string_at(s.as_object().at("retained"), "color"), "blue");
  EXPECT_TRUE(s.as_object().at("step").is_null());
  std::vector<std::string> events;
  for (const auto& e : s.as_object().at("history").as_array()) {
    events.push_back(string_at(e, "event"));
  }
  EXPECT_EQ(events, (std::vector<std::string>{"start", "step", "step", "promote"}));
  const Tally after_promotion = send_requests(proxy.proxy_port(), 50);
  EXPECT_EQ(after_promotion.of("green"), 50) << after_promotion.to_string();

  ASSERT_EQ(proxy.admin("POST", "/rollout/rollback").status, 200u);
  const Tally after_rollback = send_requests(proxy.proxy_port(), 50);
  EXPECT_EQ(after_rollback.of("blue"), 50) << after_rollback.to_string();
  const auto back = proxy.status();
  EXPECT_EQ(string_at(back, "live"), "blue");
  EXPECT_EQ(weight_of(back, "blue"), 100);
  EXPECT_EQ(rollback_reason(back), "manual");
}

TEST_F(RolloutTest, ErroringCandidateRollsBackWithinOneCheckOfMinRequests) {
  green.set_error_rate(0.2);
  // Long steps: only a breach can end this step. check_interval 200ms.
  Bgproxy proxy(make_config(spec("step_duration: 1m\ncheck_interval: 200ms\nmin_requests: 20\n")));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);

  TrafficLoop traffic(proxy.proxy_port(), {.connections = 2, .max_duration = 20s});
  // The proxy counted a response before the client saw it: from here green has min_requests.
  ASSERT_TRUE(wait_until([&] { return traffic.tally().of("green") >= 20; }, 10s, 5ms))
      << traffic.tally().to_string();
  const auto reached = Clock::now();
  const auto s = wait_status(
      proxy, [](const json::value& v) { return in_state(v, "rolled_back"); }, 10s);
  const auto waited = std::chrono::duration_cast<Ms>(Clock::now() - reached);
  traffic.stop();
  ASSERT_EQ(string_at(s, "state"), "rolled_back") << json::serialize(s);
  EXPECT_EQ(rollback_reason(s), "error_rate") << json::serialize(s);
  // One check interval (200ms) plus generous scheduling slack for a loaded 2-core machine.
  EXPECT_LT(waited, 1500ms) << "rolled back " << waited.count() << " ms after min_requests";
  EXPECT_EQ(weight_of(s, "blue"), 100);

  const Tally after = send_requests(proxy.proxy_port(), 100);
  EXPECT_EQ(after.of("blue"), 100) << after.to_string();
  EXPECT_EQ(after.status(200), 100) << after.to_string();
  const auto metrics = proxy.admin("GET", "/metrics").body;
  EXPECT_EQ(metric_sum(metrics, "bgproxy_rollbacks_total", {R"(reason="error_rate")"}), 1);
  EXPECT_EQ(metric_sum(metrics, "bgproxy_traffic_weight_percent", {R"(color="green")"}), 0);
}

TEST_F(RolloutTest, SlowCandidateRollsBackOnP99) {
  green.set_latency(300ms);
  Bgproxy proxy(
      make_config(spec("step_duration: 1m\ncheck_interval: 100ms\nmin_requests: 20\n"
                       "thresholds:\n  max_p99: 200ms\n  max_p99_increase: 1000\n")));
  ASSERT_TRUE(proxy.start());

  const auto s = drive_until_rolled_back(proxy, "[50, 100]", 8);
  ASSERT_EQ(string_at(s, "state"), "rolled_back") << json::serialize(s);
  EXPECT_EQ(rollback_reason(s), "p99") << json::serialize(s);
  const Tally after = send_requests(proxy.proxy_port(), 20);
  EXPECT_EQ(after.of("blue"), 20) << after.to_string();
}

TEST_F(RolloutTest, CandidateSlowerThanLiveRollsBackOnP99Increase) {
  green.set_latency(60ms);
  // max_p99 is far away: only the comparison with the (fast) live color can fire.
  Bgproxy proxy(make_config(
      spec("step_duration: 1m\ncheck_interval: 100ms\nmin_requests: 20\n"
           "thresholds:\n  max_p99: 10s\n  max_p99_increase: 0.5\n  p99_noise_floor: 5ms\n")));
  ASSERT_TRUE(proxy.start());

  const auto s = drive_until_rolled_back(proxy, "[30, 100]", 4);
  ASSERT_EQ(string_at(s, "state"), "rolled_back") << json::serialize(s);
  EXPECT_EQ(rollback_reason(s), "p99_increase") << json::serialize(s);
}

TEST_F(RolloutTest, NoTrafficHoldsTheFirstStep) {
  Bgproxy proxy(make_config(spec(std::string(kFastRollout))));
  ASSERT_TRUE(proxy.start());
  const auto started = Clock::now();
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);

  const auto s = wait_status(proxy, held, 10s);
  ASSERT_TRUE(held(s)) << json::serialize(s);
  EXPECT_GE(Clock::now() - started, 1s);  // not before the step's time is up
  EXPECT_EQ(string_at(s, "state"), "progressing");
  EXPECT_EQ(number_at(s, "step"), 0);
  EXPECT_EQ(weight_of(s, "green"), 10);
}

TEST_F(RolloutTest, KilledProxyResumesTheSameStepAfterRestart) {
  // Step 0 passes quickly; step 1 lasts long enough to survive the restart.
  Bgproxy proxy(make_config(
      ConfigSpec{.blue = {blue.address()},
                 .green = {green.address()},
                 .rollout = "steps: [{weight: 10, duration: 1s}, {weight: 50, duration: 5m}, 100]\n"
                            "check_interval: 100ms\nmin_requests: 20\n" +
                            std::string(kLenientThresholds),
                 .top = "state_file: $DIR/state.json\n"}));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);
  json::value before;
  {
    TrafficLoop traffic(proxy.proxy_port(), {.connections = 2, .max_duration = 20s});
    before = wait_status(
        proxy, [](const json::value& v) { return number_at(v, "step") == 1; }, 15s);
  }
  ASSERT_EQ(number_at(before, "step"), 1) << json::serialize(before);

  proxy.signal(SIGKILL);
  ASSERT_EQ(proxy.wait_exit(5s), 128 + SIGKILL);
  ASSERT_TRUE(proxy.restart());
  const auto after = proxy.status();
  EXPECT_EQ(string_at(after, "state"), "progressing");
  EXPECT_EQ(number_at(after, "step"), 1);
  // The time the proxy was down counts as paused: the step's clock moved on by no more than that.
  const auto started_before = bgp::parse_time(string_at(before, "step_started_at"));
  const auto started_after = bgp::parse_time(string_at(after, "step_started_at"));
  ASSERT_TRUE(started_before && started_after);
  EXPECT_GE(*started_after, *started_before);
  EXPECT_LT(*started_after - *started_before, 10s);
  EXPECT_EQ(weight_of(after, "green"), 50);
  EXPECT_EQ(weight_of(after, "blue"), 50);
  const Tally split = send_requests(proxy.proxy_port(), 200);
  EXPECT_GT(split.of("green"), 50) << split.to_string();  // 50% +- 7 sd
  EXPECT_GT(split.of("blue"), 50) << split.to_string();
}

TEST_F(RolloutTest, HandSetWeightsPauseTheRolloutAndResumeContinuesIt) {
  Bgproxy proxy(make_config(spec("step_duration: 5m\ncheck_interval: 100ms\nmin_requests: 20\n")));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);

  const auto put = proxy.admin("PUT", "/weights", R"({"green": 30})");
  ASSERT_EQ(put.status, 200u) << put.body;
  auto s = proxy.status();
  EXPECT_EQ(string_at(s, "state"), "paused");
  EXPECT_EQ(weight_of(s, "green"), 30);
  const Tally split = send_requests(proxy.proxy_port(), 400);
  EXPECT_GT(split.of("green"), 60) << split.to_string();  // 120 expected, sd 9
  EXPECT_LT(split.of("green"), 180) << split.to_string();
  // The step's window counts exactly what was sent since the rollout started (a request is
  // recorded just after its last byte went out: wait for the last one).
  s = wait_status(
      proxy,
      [](const json::value& v) {
        return window_requests(v, "blue") + window_requests(v, "green") >= 400;
      },
      2s);
  EXPECT_EQ(window_requests(s, "green"), split.of("green")) << json::serialize(s);
  EXPECT_EQ(window_requests(s, "blue"), split.of("blue")) << json::serialize(s);

  ASSERT_EQ(proxy.admin("POST", "/rollout/resume").status, 200u);
  s = proxy.status();
  EXPECT_EQ(string_at(s, "state"), "progressing");
  EXPECT_EQ(number_at(s, "step"), 0);
  EXPECT_EQ(weight_of(s, "green"), 10);
}

TEST_F(RolloutTest, RollbackIsRefusedOnceRetainPreviousHasPassed) {
  Bgproxy proxy(make_config(spec("retain_previous: 1s\n")));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);
  ASSERT_EQ(proxy.admin("POST", "/rollout/promote").status, 200u);
  const auto promoted = Clock::now();
  EXPECT_EQ(send_requests(proxy.proxy_port(), 10).of("green"), 10);

  // The condition is the passing of retain_previous itself.
  wait_until([&] { return Clock::now() - promoted > 1200ms; }, 5s, 50ms);
  const auto refused = proxy.admin("POST", "/rollout/rollback");
  EXPECT_EQ(refused.status, 409u) << refused.body;
  EXPECT_EQ(string_at(proxy.status(), "live"), "green");
  const Tally t = send_requests(proxy.proxy_port(), 10);
  EXPECT_EQ(t.of("green"), 10) << t.to_string();
}

std::vector<json::object> webhook_events(const TestBackend& hook) {
  std::vector<json::object> events;
  for (const auto& request : hook.received()) {
    boost::system::error_code ec;
    auto body = json::parse(request.body, ec);
    if (!ec && body.is_object()) events.push_back(body.as_object());
  }
  return events;
}

bool has_event(const std::vector<json::object>& events, std::string_view name) {
  return std::any_of(events.begin(), events.end(),
                     [&](const json::object& e) { return string_at(e, "event") == name; });
}

TEST_F(RolloutTest, WebhookReceivesStartStepPromoteAndRollbackEvents) {
  TestBackend hook("hook");
  Bgproxy proxy(make_config(
      ConfigSpec{.blue = {blue.address()},
                 .green = {green.address()},
                 .rollout = "steps: [{weight: 10, duration: 1s}, {weight: 100, duration: 1s}]\n"
                            "check_interval: 100ms\nmin_requests: 20\n" +
                            std::string(kLenientThresholds),
                 .top = "notify:\n  webhook: http://" + hook.address() + "/hook\n"}));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);
  {
    TrafficLoop traffic(proxy.proxy_port(), {.connections = 2, .max_duration = 20s});
    const auto s = wait_status(
        proxy, [](const json::value& v) { return in_state(v, "stable"); }, 15s);
    ASSERT_EQ(string_at(s, "live"), "green") << json::serialize(s);
  }
  ASSERT_EQ(proxy.admin("POST", "/rollout/rollback").status, 200u);  // back to the retained blue

  ASSERT_TRUE(wait_until([&] { return has_event(webhook_events(hook), "rollback"); }, 10s));
  const auto events = webhook_events(hook);
  std::vector<std::string> names;
  for (const auto& e : events) names.push_back(string_at(e, "event"));
  EXPECT_EQ(names, (std::vector<std::string>{"start", "step", "promote", "rollback"}));
  for (const auto& request : hook.received()) {
    EXPECT_EQ(request.method, "POST");
    EXPECT_EQ(request.target, "/hook");
    EXPECT_TRUE(request.header("Content-Type").starts_with("application/json"));
  }
  // Each event tells the state it led to.
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(string_at(events[2], "live"), "green") << json::serialize(events[2]);
  EXPECT_EQ(string_at(events[2], "state"), "stable") << json::serialize(events[2]);
  EXPECT_EQ(string_at(events[3], "live"), "blue") << json::serialize(events[3]);
  EXPECT_EQ(string_at(events[3], "state"), "rolled_back") << json::serialize(events[3]);
  // Structured fields beside the prose, and Slack's `text`.
  EXPECT_EQ(string_at(events[3], "reason"), "manual");
  EXPECT_EQ(weight_of(events[3], "blue"), 100);
  EXPECT_TRUE(string_at(events[3], "text").starts_with("bgproxy rollback: "))
      << json::serialize(events[3]);
  EXPECT_EQ(number_at(events[1], "step"), 1);  // the step that began
  EXPECT_TRUE(events[1].at("window").is_object());
  EXPECT_EQ(hook.received().front().header("Host"), hook.address());  // with the port
}

TEST_F(RolloutTest, AWebhookThatFailsIsRetriedUntilItAccepts) {
  TestBackend hook("hook");
  hook.set_status(503);
  Bgproxy proxy(
      make_config(ConfigSpec{.blue = {blue.address()},
                             .green = {green.address()},
                             .rollout = "step_duration: 5m\ncheck_interval: 100ms\n",
                             .top = "notify:\n  webhook: http://" + hook.address() + "/hook\n"}));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);
  ASSERT_TRUE(wait_until([&] { return hook.requests() >= 2; }, 10s));  // failed twice
  hook.set_status(200);
  ASSERT_TRUE(wait_until([&] { return hook.requests() >= 3; }, 10s));
  const auto received = hook.received();
  for (const auto& request : received) {
    EXPECT_EQ(string_at(json::parse(request.body), "event"), "start");  // the same event
  }
  EXPECT_EQ(metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_webhook_failures_total"), 0);

  // One that never accepts is given up after its retries, and counted.
  hook.set_status(500);
  ASSERT_EQ(proxy.admin("POST", "/rollout/pause").status, 200u);
  EXPECT_TRUE(wait_until(
      [&] {
        return metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_webhook_failures_total") ==
               1;
      },
      30s));
}

TEST_F(RolloutTest, UnresponsiveWebhookDoesNotSlowRequestsOrTheAdminApi) {
  TestBackend hook("hook");
  hook.set_latency(30s);  // accepts and never answers in time
  Bgproxy proxy(make_config(
      ConfigSpec{.blue = {blue.address()},
                 .green = {green.address()},
                 .rollout = "step_duration: 5m\ncheck_interval: 100ms\nmin_requests: 20\n",
                 .top = "notify:\n  webhook: http://" + hook.address() + "/hook\n"}));
  ASSERT_TRUE(proxy.start());

  // Each mutation queues an event for the hanging webhook.
  for (const auto& [method, path, body] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"POST", "/rollout/start", ""},
           {"POST", "/rollout/pause", ""},
           {"POST", "/rollout/resume", ""},
           {"PUT", "/weights", R"({"green": 20})"},
           {"POST", "/rollout/rollback", ""}}) {
    const auto t0 = Clock::now();
    EXPECT_EQ(proxy.admin(method, path, body).status, 200u) << path;
    EXPECT_LT(Clock::now() - t0, 1s) << path;
  }
  ASSERT_TRUE(wait_until([&] { return hook.requests() > 0; }, 5s));  // the webhook is hanging
  HttpClient client(proxy.proxy_port());
  for (int i = 0; i < 50; ++i) {
    const auto t0 = Clock::now();
    const auto response = client.request("GET", "/");
    ASSERT_EQ(response.status, 200u) << response.error;
    EXPECT_LT(Clock::now() - t0, 500ms) << "request " << i;
  }
  const auto t0 = Clock::now();
  EXPECT_EQ(proxy.admin("GET", "/status").status, 200u);
  EXPECT_LT(Clock::now() - t0, 1s);
}

}  // namespace
}  // namespace bgt
