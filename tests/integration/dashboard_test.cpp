// The live dashboard at GET / on the admin port, rendered by a real headless Chromium: the page
// shows the rollout's state and follows a change of weights.
#include <filesystem>
#include <regex>

#include <gtest/gtest.h>

#include "integration/harness.h"

namespace bgt {
namespace {

constexpr const char* kChromium = "/usr/bin/chromium";

// The DOM after the page's script ran (virtual time lets its first /status poll finish).
std::string rendered(const Bgproxy& proxy) {
  TempDir profile;
  const auto r = run_process({kChromium, "--headless", "--no-sandbox", "--disable-gpu",
                              "--user-data-dir=" + profile.path(), "--virtual-time-budget=4000",
                              "--dump-dom", proxy.admin_url() + "/"},
                             60s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

TEST(DashboardTest, ThePageShowsTheStateAndFollowsAChangeOfWeights) {
  ASSERT_TRUE(std::filesystem::exists(kChromium)) << kChromium << " is missing (apt chromium)";
  TestBackend blue("blue-1"), green("green-1");
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {green.address()},
                             .rollout = "check_interval: 100ms\n"}));
  ASSERT_TRUE(proxy.start());

  const auto page = proxy.admin("GET", "/");
  ASSERT_EQ(page.status, 200u);
  EXPECT_TRUE(page.header("Content-Type").starts_with("text/html"));
  // Self-contained: nothing is loaded from anywhere else.
  EXPECT_FALSE(std::regex_search(page.body, std::regex(R"((src|href)=["']?(https?:)?//)")));
  EXPECT_TRUE(contains(page.header("Content-Security-Policy"), "default-src 'none'"));

  std::string dom = rendered(proxy);
  EXPECT_TRUE(contains(dom, R"(<div class="big" id="state">stable</div>)")) << dom;
  EXPECT_TRUE(contains(dom, "blue 100%, green 0%")) << dom;

  ASSERT_EQ(proxy.admin("PUT", "/weights", R"({"green": 30})").status, 200u);
  dom = rendered(proxy);
  EXPECT_TRUE(contains(dom, R"(<div class="big" id="state">paused</div>)")) << dom;
  EXPECT_TRUE(contains(dom, "blue 70%, green 30%")) << dom;
  EXPECT_TRUE(contains(dom, "weights set by hand")) << dom;  // the history
}

}  // namespace
}  // namespace bgt
