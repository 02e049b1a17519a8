// The live dashboard at GET / on the admin port, rendered by a real headless Chromium: ONE page,
// loaded once, shows the rollout's state (live/candidate, weights, the step's progress and time
// left, each color's numbers, the judge's evidence, the history) and then follows a change of
// weights by its own polling. dashboard_driver.py drives the page over the DevTools protocol.
#include <filesystem>
#include <fstream>
#include <regex>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "integration/harness.h"

namespace bgt {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr const char* kChromium = "/usr/bin/chromium";

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// A sample the driver wrote: {"marker", "text": {id: text}, "progress", "tables": {...}}.
struct PageSample {
  json::value value;

  std::string text(std::string_view id) const { return string_at(value.at("text"), id); }
  std::string marker() const { return string_at(value, "marker"); }
  std::string progress() const { return string_at(value, "progress"); }
  std::vector<std::vector<std::string>> table(std::string_view id) const {
    std::vector<std::vector<std::string>> rows;
    for (const auto& row : value.at("tables").at(id).as_array()) {
      auto& cells = rows.emplace_back();
      for (const auto& c : row.as_array()) cells.emplace_back(c.as_string());
    }
    return rows;
  }
  std::string dump() const { return json::serialize(value); }
};

// Waits (bounded) for the driver to write `name` in `dir`; nullopt and a failure when it did not
// (the driver gave up and exited, with its reason in its log, or the time ran out).
std::optional<PageSample> wait_sample(ChildProcess& driver, const std::string& dir,
                                      const std::string& name, const std::string& driver_log,
                                      Ms timeout) {
  const std::string path = dir + "/" + name;
  wait_until([&] { return fs::exists(path) || !driver.running(); }, timeout, 50ms);
  if (!fs::exists(path)) {
    ADD_FAILURE() << "no " << name << " from the driver: " << read_file(driver_log);
    return std::nullopt;
  }
  return PageSample{json::parse(read_file(path))};
}

const std::vector<std::string>* row_of(const std::vector<std::vector<std::string>>& rows,
                                       std::string_view first_cell) {
  for (const auto& row : rows) {
    if (!row.empty() && row.front() == first_cell) return &row;
  }
  return nullptr;
}

std::string number_text(double value) {
  return std::to_string(static_cast<long long>(value));
}

class DashboardTest : public ::testing::Test {
 protected:
  TestBackend blue{"blue-1"};
  TestBackend green{"green-1"};
};

TEST_F(DashboardTest, ThePageShowsTheStateAndFollowsAChangeOfWeights) {
  ASSERT_TRUE(fs::exists(kChromium)) << kChromium << " is missing (apt chromium)";
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {green.address()},
                             .rollout = "steps: [10, 50, 100]\nstep_duration: 5m\n"
                                        "check_interval: 100ms\nmin_requests: 20\n"}));
  ASSERT_TRUE(proxy.start());

  const auto page = proxy.admin("GET", "/");
  ASSERT_EQ(page.status, 200u);
  EXPECT_TRUE(page.header("Content-Type").starts_with("text/html"));
  // Self-contained: nothing is loaded from anywhere else.
  EXPECT_FALSE(std::regex_search(page.body, std::regex(R"((src|href)=["']?(https?:)?//)")));
  EXPECT_TRUE(contains(page.header("Content-Security-Policy"), "default-src 'none'"));

  // A rollout at its first step with numbers for both colors and the judge's evidence; no more
  // traffic after this, so the numbers the page shows are these.
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);
  const Tally sent = send_requests(proxy.proxy_port(), 200);
  ASSERT_EQ(sent.of("blue") + sent.of("green"), 200) << sent.to_string();
  const auto status = wait_status(
      proxy,
      [&](const json::value& s) {
        return window_requests(s, "blue") + window_requests(s, "green") == 200 &&
               !s.at("evidence").as_array().empty();
      },
      10s);
  ASSERT_EQ(window_requests(status, "blue") + window_requests(status, "green"), 200)
      << json::serialize(status);
  ASSERT_GT(window_requests(status, "green"), 0) << json::serialize(status);

  TempDir work;
  const std::string driver_log = work.path() + "/driver.log";
  ChildProcess driver({"/usr/bin/python3",
                       std::string(BGPROXY_SOURCE_DIR) + "/tests/integration/dashboard_driver.py",
                       kChromium, proxy.admin_url() + "/", work.path()},
                      driver_log);

  // 1. The page as first rendered.
  const auto first = wait_sample(driver, work.path(), "first.json", driver_log, 90s);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->marker(), "first-load") << first->dump();
  EXPECT_EQ(first->text("state"), "progressing") << first->dump();
  EXPECT_EQ(first->text("live"), "blue");
  EXPECT_EQ(first->text("candidate"), "green");
  EXPECT_EQ(first->text("weights"), "blue 90%, green 10%");
  EXPECT_EQ(first->text("bar-blue"), "blue 90%");
  EXPECT_EQ(first->text("step"), "step 1 of 3: green at 10%");
  // The step's time left (of 5 minutes) and its progress bar.
  std::smatch left;
  const std::string step_left = first->text("step-left");
  ASSERT_TRUE(std::regex_match(step_left, left, std::regex(R"((\d+) s left)"))) << step_left;
  EXPECT_GT(std::stoi(left[1]), 200) << step_left;
  EXPECT_LE(std::stoi(left[1]), 300) << step_left;
  EXPECT_TRUE(std::regex_match(first->progress(), std::regex(R"(\d+(\.\d)?%)")))
      << first->progress();
  // Each color's numbers: requests, errors, error rate, p99.
  const auto window = first->table("window");
  for (const std::string color : {"blue", "green"}) {
    const auto* row = row_of(window, color);
    ASSERT_TRUE(row) << color << ": " << first->dump();
    ASSERT_EQ(row->size(), 5u) << first->dump();
    EXPECT_EQ((*row)[1], number_text(window_requests(status, color))) << first->dump();
    EXPECT_EQ((*row)[2], "0");
    EXPECT_EQ((*row)[3], "0.00%");
    EXPECT_TRUE(std::regex_match((*row)[4], std::regex(R"(\d+\.\d ms)"))) << (*row)[4];
  }
  // The judge's evidence, one row per rule, as /status has it.
  const auto evidence = first->table("evidence");
  ASSERT_FALSE(evidence.empty()) << first->dump();
  const auto* error_rate = row_of(evidence, "error_rate");
  ASSERT_TRUE(error_rate) << first->dump();
  ASSERT_EQ(error_rate->size(), 5u);
  EXPECT_TRUE(std::regex_match((*error_rate)[1], std::regex(R"(\d+\.\d\d%)"))) << (*error_rate)[1];
  EXPECT_TRUE(std::regex_match((*error_rate)[3], std::regex(R"(\d+\.\d\d / [\d.]+)")))
      << (*error_rate)[3];
  EXPECT_TRUE(std::regex_match((*error_rate)[4], std::regex(R"(\d+( vs \d+)?)")))
      << (*error_rate)[4];
  const auto history = first->table("history");
  ASSERT_FALSE(history.empty()) << first->dump();
  EXPECT_EQ(history.front()[1], "start");
  EXPECT_TRUE(contains(first->text("decision"), "rollout started")) << first->dump();

  // 2. The weights change through the admin API; the same page, never reloaded, follows.
  ASSERT_EQ(proxy.admin("PUT", "/weights", R"({"green": 30})").status, 200u);
  std::ofstream(work.path() + "/go").put('\n');
  const auto second = wait_sample(driver, work.path(), "second.json", driver_log, 60s);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->marker(), "first-load") << "the page was loaded again: " << second->dump();
  EXPECT_EQ(second->text("state"), "paused") << second->dump();
  EXPECT_EQ(second->text("weights"), "blue 70%, green 30%") << second->dump();
  EXPECT_EQ(second->text("bar-green"), "green 30%");
  const auto later_history = second->table("history");
  ASSERT_FALSE(later_history.empty());
  EXPECT_EQ(later_history.front()[1], "weights") << second->dump();  // the newest first
  EXPECT_TRUE(contains(later_history.front()[2], "weights set by hand")) << second->dump();
  EXPECT_EQ(driver.wait_exit(30s), 0) << read_file(driver_log);
}

}  // namespace
}  // namespace bgt
