// The command line (SPEC section 2): version, check-config, run's exit codes, ctl against a running
// proxy, and SIGTERM's exit code.
#include <csignal>
#include <regex>
#include <sstream>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "integration/harness.h"

namespace bgt {
namespace {

namespace json = boost::json;

// Two errors: line 1 (workers) and line 3 (rollout.step_duration).
constexpr std::string_view kTwoErrors = "workers: many\nrollout:\n  step_duration: 5 parsecs\n";

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

TEST(CliTest, VersionPrintsTheVersion) {
  const auto result = run_cli({"version"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_TRUE(std::regex_search(result.out, std::regex(R"(\d+\.\d+\.\d+)"))) << result.out;
}

TEST(CliTest, CheckConfigAcceptsValidFiles) {
  TempDir dir;
  const auto path = dir.write("ok.yaml", with_ports(make_config({.blue = {"127.0.0.1:9001"}})));
  const auto result = run_cli({"check-config", path});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;

  const auto example = std::string(BGPROXY_SOURCE_DIR) + "/examples/bgproxy.yaml";
  const auto shipped = run_cli({"check-config", example});
  EXPECT_EQ(shipped.exit_code, 0) << shipped.out << shipped.err;
  const auto empty = run_cli({"check-config", dir.write("empty.yaml", "")});
  EXPECT_EQ(empty.exit_code, 0) << empty.out << empty.err;
}

TEST(CliTest, CheckConfigPrintsEveryErrorWithItsPosition) {
  TempDir dir;
  const auto path = dir.write("bad.yaml", kTwoErrors);
  const auto result = run_cli({"check-config", path});
  EXPECT_EQ(result.exit_code, 2);
  const std::string output = result.out + result.err;
  const std::string file = std::regex_replace(path, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)");
  const std::regex line_format("^" + file + R"(:(\d+):(\d+): ([a-z_.\[\]0-9]+): \S.*$)");
  std::vector<std::pair<int, std::string>> errors;  // line, key path
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, line_format)) errors.emplace_back(std::stoi(m[1]), m[3]);
  }
  EXPECT_EQ(errors, (std::vector<std::pair<int, std::string>>{{1, "workers"},
                                                              {3, "rollout.step_duration"}}))
      << output;
}

TEST(CliTest, RunWithAnInvalidConfigExitsTwo) {
  TempDir dir;
  const auto result = run_cli({"run", "-c", dir.write("bad.yaml", kTwoErrors)});
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_TRUE(contains(result.err, "rollout.step_duration")) << result.err;
  const auto missing = run_cli({"run", "-c", dir.path() + "/no-such-file.yaml"});
  EXPECT_EQ(missing.exit_code, 2) << missing.out << missing.err;
}

TEST(CliTest, RunExitsOneWhenTheListenPortIsTaken) {
  TestBackend occupant("blue-occupant");  // listens on the port bgproxy wants
  TempDir dir;
  const auto yaml = with_ports(make_config({.blue = {occupant.address()}}), occupant.port());
  const auto result = run_cli({"run", "-c", dir.write("taken.yaml", yaml)}, 15s);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_TRUE(contains(result.err, std::to_string(occupant.port()))) << result.err;
}

TEST(CliTest, CtlUsageErrorsExitTwo) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"ctl"},
                                             {"ctl", "frobnicate"},
                                             {"ctl", "set-weight"},
                                             {"ctl", "set-weight", "130"},
                                             {"ctl", "set-weight", "ten"},
                                             {"ctl", "--admin", "not a url", "status"},
                                             {"ctl", "status", "extra"}}) {
    const auto result = run_cli(args);
    EXPECT_EQ(result.exit_code, 2) << args.back() << ": " << result.out << result.err;
    EXPECT_FALSE(result.err.empty());
  }
}

TEST(CliTest, CtlCannotReachTheProxy) {
  const auto result =
      run_cli({"ctl", "--admin", fmt::format("http://127.0.0.1:{}", free_port()), "status"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_FALSE(result.err.empty());
}

class CtlTest : public ::testing::Test {
 protected:
  TestBackend blue{"blue-1"};
  TestBackend green{"green-1"};

  ProcessResult ctl(const Bgproxy& proxy, std::vector<std::string> args,
                    const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), {"ctl", "--admin", proxy.admin_url()});
    return run_cli(args, 10s, env);
  }
};

TEST_F(CtlTest, DrivesARolloutThroughTheAdminApi) {
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {green.address()},
                             .rollout = "step_duration: 5m\ncheck_interval: 100ms\n"}));
  ASSERT_TRUE(proxy.start());

  auto r = ctl(proxy, {"status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "stable")) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(blue 100\b)"))) << r.out;

  r = ctl(proxy, {"pause"});  // nothing to pause
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(contains(r.err, "pause")) << r.err;

  EXPECT_EQ(ctl(proxy, {"start"}).exit_code, 0);
  EXPECT_EQ(string_at(proxy.status(), "state"), "progressing");
  r = ctl(proxy, {"status"});
  EXPECT_TRUE(contains(r.out, "progressing")) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(green 10\b)"))) << r.out;

  EXPECT_EQ(ctl(proxy, {"pause"}).exit_code, 0);
  EXPECT_EQ(string_at(proxy.status(), "state"), "paused");
  EXPECT_EQ(ctl(proxy, {"resume"}).exit_code, 0);
  EXPECT_EQ(string_at(proxy.status(), "state"), "progressing");

  EXPECT_EQ(ctl(proxy, {"set-weight", "40"}).exit_code, 0);
  auto s = proxy.status();
  EXPECT_EQ(weight_of(s, "green"), 40);
  EXPECT_EQ(string_at(s, "state"), "paused");

  EXPECT_EQ(ctl(proxy, {"rollback"}).exit_code, 0);
  s = proxy.status();
  EXPECT_EQ(string_at(s, "state"), "rolled_back");
  EXPECT_EQ(weight_of(s, "blue"), 100);
  r = ctl(proxy, {"promote"});  // nothing runs
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_FALSE(r.err.empty());

  EXPECT_EQ(ctl(proxy, {"start"}).exit_code, 0);
  EXPECT_EQ(ctl(proxy, {"promote"}).exit_code, 0);
  s = proxy.status();
  EXPECT_EQ(string_at(s, "live"), "green");
  EXPECT_EQ(weight_of(s, "green"), 100);
  const Tally t = send_requests(proxy.proxy_port(), 20);
  EXPECT_EQ(t.of("green"), 20) << t.to_string();
}

TEST_F(CtlTest, SendsTheToken) {
  Bgproxy proxy(make_config(
      {.blue = {blue.address()}, .green = {green.address()}, .admin = "token: s3cret\n"}));
  ASSERT_TRUE(proxy.start());

  auto r = ctl(proxy, {"start"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(contains(r.err, "401")) << r.err;
  EXPECT_EQ(ctl(proxy, {"status"}).exit_code, 0);  // reads need no token

  r = ctl(proxy, {"--token", "s3cret", "start"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = ctl(proxy, {"pause"}, {"BGPROXY_TOKEN=s3cret"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(string_at(proxy.status(), "state"), "paused");
}

// SIGHUP and the drain on SIGTERM are tested in reload_drain_test.cpp.
class SignalTest : public CtlTest {};

TEST_F(SignalTest, SigtermExitsZero) {
  Bgproxy proxy(make_config({.blue = {blue.address()}, .green = {green.address()}}));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(send_requests(proxy.proxy_port(), 5).of("blue"), 5);
  proxy.signal(SIGTERM);
  EXPECT_EQ(proxy.wait_exit(10s), 0);
  EXPECT_NE(http_request(proxy.proxy_port(), "GET", "/", {}, {}, 1s).status, 200u);
}

}  // namespace
}  // namespace bgt
