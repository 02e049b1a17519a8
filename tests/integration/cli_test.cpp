// The command line (docs/cli.md): version, check-config, run's exit codes, ctl against a running
// proxy, and SIGTERM's exit code.
#include <csignal>
#include <regex>
#include <sstream>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "integration/harness.h"
#include "support/http_reply.h"

namespace bgt {
namespace {

namespace json = boost::json;

// Two errors: line 1 (workers) and line 3 (rollout.step_duration).
constexpr std::string_view kTwoErrors = "workers: many\nrollout:\n  step_duration: 5 parsecs\n";

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// Built from a git checkout, the binary names its commit, one that checkout has; "unknown" only
// without git (e.g. from a release tarball). It names the allocator it was linked with: tcmalloc
// (with OpenSSL kept on libc's malloc, app/openssl_heap.h) unless built with the sanitizers or
// -DBGPROXY_TCMALLOC=OFF.
TEST(CliTest, VersionPrintsTheVersion) {
  const auto result = run_cli({"version"});
  EXPECT_EQ(result.exit_code, 0);
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(result.out, m,
                        std::regex(R"(^bgproxy \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}|unknown), )"
                                   R"(allocator (\w+)(, OpenSSL on libc malloc)?\)\n$)")))
      << result.out;
  EXPECT_EQ(m[2], BGPROXY_ALLOCATOR);
  EXPECT_EQ(m[3].matched, std::string_view(BGPROXY_ALLOCATOR) == "tcmalloc") << result.out;
  const std::string commit = m[1];
  const auto in_checkout =
      run_process({"/usr/bin/git", "-C", BGPROXY_SOURCE_DIR, "rev-parse", "--is-inside-work-tree"});
  if (in_checkout.exit_code != 0) GTEST_SKIP() << "not a git checkout: " << result.out;
  ASSERT_NE(commit, "unknown") << "built from a git checkout but names no commit";
  const auto known = run_process(
      {"/usr/bin/git", "-C", BGPROXY_SOURCE_DIR, "cat-file", "-e", commit + "^{commit}"});
  EXPECT_EQ(known.exit_code, 0) << commit << " is no commit of " << BGPROXY_SOURCE_DIR;
}

// The allocator the binary names is the one a running proxy has loaded.
TEST(CliTest, ARunningProxyHasTheAllocatorItNames) {
  if (std::string_view(BGPROXY_ALLOCATOR) != "tcmalloc") GTEST_SKIP() << "built without tcmalloc";
  TestBackend blue{"blue-1"};
  Bgproxy proxy(make_config({.blue = {blue.address()}, .green = {blue.address()}}));
  ASSERT_TRUE(proxy.start());
  const std::string maps = read_file(fmt::format("/proc/{}/maps", proxy.pid()));
  EXPECT_NE(maps.find("libtcmalloc_minimal"), std::string::npos) << maps;
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
  // Said once, in one plain sentence.
  EXPECT_EQ(bgp::testing::count_nocase(result.err, "cannot listen on"), 1u) << result.err;
  EXPECT_TRUE(contains(result.err, "cannot listen on 127.0.0.1:" + std::to_string(occupant.port()) +
                                       ": Address already in use"))
      << result.err;
}

TEST(CliTest, RunExitsOneWhenTheAdminPortIsTaken) {
  TestBackend occupant("blue-occupant");  // listens on the port the admin API wants
  TempDir dir;
  const auto yaml = with_ports(make_config({.blue = {occupant.address()}}), 0, occupant.port());
  const auto result = run_cli({"run", "-c", dir.write("taken.yaml", yaml)}, 15s);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_EQ(bgp::testing::count_nocase(result.err, "cannot listen on"), 1u) << result.err;
  EXPECT_TRUE(
      contains(result.err, "cannot listen on admin 127.0.0.1:" + std::to_string(occupant.port()) +
                               ": Address already in use\n"))
      << result.err;
  EXPECT_FALSE(contains(result.err, "[system:")) << "library internals: " << result.err;
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
  // One plain sentence, no library internals.
  EXPECT_TRUE(contains(result.err, "cannot reach the admin API at 127.0.0.1:")) << result.err;
  EXPECT_TRUE(contains(result.err, "Connection refused")) << result.err;
  EXPECT_FALSE(contains(result.err, "[system:")) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

TEST(CliTest, HelpEverywhereExitsZero) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"help"}, {"--help"}, {"ctl", "--help"}, {"ctl", "-h"}, {"ctl", "help"}}) {
    const auto result = run_cli(args);
    EXPECT_EQ(result.exit_code, 0) << args.back() << ": " << result.err;
    EXPECT_TRUE(contains(result.out, "ctl")) << result.out;
  }
  // Each command's help: its usage on stdout, exit 0 (the usage names the command).
  const std::vector<std::pair<std::vector<std::string>, std::string>> commands{
      {{"run", "--help"}, "bgproxy [run] [-c FILE]"},
      {{"run", "-c", "x.yaml", "-h"}, "bgproxy [run] [-c FILE]"},
      {{"demo", "--help"}, "bgproxy demo [--green-error-rate"},
      {{"check-config", "--help"}, "bgproxy check-config FILE"}};
  for (const auto& [args, usage] : commands) {
    const auto result = run_cli(args);
    EXPECT_EQ(result.exit_code, 0) << args.front() << ": " << result.out << result.err;
    EXPECT_TRUE(result.out.starts_with("usage:")) << args.front() << ": " << result.out;
    EXPECT_TRUE(contains(result.out, usage)) << result.out;
    EXPECT_TRUE(result.err.empty()) << result.err;
  }
  const auto help = run_cli({"ctl", "--help"});
  for (const char* word :
       {"wait", "watch", "--steps", "--json", "BGPROXY_ADMIN", "BGPROXY_TOKEN"}) {
    EXPECT_TRUE(contains(help.out, word)) << word;
  }
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

TEST_F(CtlTest, ReadsTheAdminAddressFromTheEnvironmentAndKeepsAPathPrefix) {
  Bgproxy proxy(make_config({.blue = {blue.address()}, .green = {green.address()}}));
  ASSERT_TRUE(proxy.start());
  auto r = run_cli({"ctl", "status"}, 10s, {"BGPROXY_ADMIN=" + proxy.admin_url()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "state:     stable")) << r.out;
  // A prefix is sent, not dropped: bgproxy itself serves no /prefix/status.
  r = run_cli({"ctl", "--admin", proxy.admin_url() + "/prefix", "status"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "refused (404)")) << r.err;
}

TEST_F(CtlTest, StartTakesStepsAndJsonPrintsTheAnswer) {
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {green.address()},
                             .rollout = "check_interval: 100ms\n"}));
  ASSERT_TRUE(proxy.start());
  auto r = ctl(proxy, {"--json", "start", "--steps", "20,60,100", "--step-duration", "1h"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto answer = boost::json::parse(r.out);
  EXPECT_EQ(string_at(answer, "state"), "progressing");
  EXPECT_EQ(weight_of(answer, "green"), 20);
  EXPECT_EQ(answer.at("steps").as_array().size(), 3u);

  r = ctl(proxy, {"status"});
  EXPECT_TRUE(contains(r.out, "step:      1 of 3")) << r.out;  // counted from 1 for people
  EXPECT_TRUE(contains(r.out, "history:")) << r.out;
  EXPECT_TRUE(contains(r.out, "rollout started: blue -> green")) << r.out;
  EXPECT_TRUE(wait_until([&] { return contains(ctl(proxy, {"status"}).out, "evidence:"); }, 5s));
  EXPECT_EQ(ctl(proxy, {"start", "--steps", "ten"}).exit_code, 2);
  EXPECT_EQ(ctl(proxy, {"status", "--steps", "10"}).exit_code, 2);
}

TEST_F(CtlTest, WaitExitsZeroWhenPromotedThreeWhenRolledBackFourOnTimeout) {
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {green.address()},
                             .rollout = "steps: [50, 100]\nstep_duration: 500ms\n"
                                        "check_interval: 100ms\nmin_requests: 5\n"}));
  ASSERT_TRUE(proxy.start());
  TrafficLoop traffic(proxy.proxy_port(), {.connections = 1, .pause = 5ms, .max_duration = 60s});

  ASSERT_EQ(ctl(proxy, {"start"}).exit_code, 0);
  auto r = run_cli({"ctl", "--admin", proxy.admin_url(), "wait", "--timeout", "30s"}, 40s);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "promoted: live green")) << r.out;
  EXPECT_FALSE(contains(ctl(proxy, {"status"}).out, "rollback:  ")) << "no rollback to show";

  blue.set_status(500);  // the next candidate is blue, and it fails
  ASSERT_EQ(ctl(proxy, {"start"}).exit_code, 0);
  r = run_cli({"ctl", "--admin", proxy.admin_url(), "wait", "--timeout", "30s"}, 40s);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "rolled back: live green")) << r.out;
  EXPECT_TRUE(contains(ctl(proxy, {"status"}).out, "rollback:  ")) << "the rollback, with why";

  blue.set_status(200);
  ASSERT_EQ(ctl(proxy, {"start", "--step-duration", "1h"}).exit_code, 0);
  r = ctl(proxy, {"wait", "--timeout", "300ms"});
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "timed out")) << r.err;
}

// A step over without min_requests is held, and says why; a manual promotion is then the last
// decision (not the hold before it), and the color it replaced is retained.
TEST_F(CtlTest, StatusShowsHeldTheLastDecisionAndTheRetainedColor) {
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {green.address()},
                             .rollout = "steps: [20, 100]\nstep_duration: 300ms\n"
                                        "check_interval: 100ms\nmin_requests: 1000\n"}));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(ctl(proxy, {"start"}).exit_code, 0);
  const auto held = wait_status(
      proxy, [](const json::value& s) { return s.is_object() && s.at("held").as_bool(); }, 10s);
  ASSERT_TRUE(held.is_object() && held.at("held").as_bool()) << json::serialize(held);

  auto r = ctl(proxy, {"status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "state:     progressing (held: too few requests)\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "decision:  hold: ")) << r.out;
  EXPECT_TRUE(contains(r.out, "waiting for green to reach 1000 requests")) << r.out;
  EXPECT_FALSE(contains(r.out, "retained:")) << r.out;

  ASSERT_EQ(ctl(proxy, {"promote"}).exit_code, 0);
  r = ctl(proxy, {"status"});
  EXPECT_TRUE(contains(r.out, "state:     stable\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "decision:  promoted green by operator at step 1 (20%)")) << r.out;
  EXPECT_FALSE(contains(r.out, "hold:")) << "a stale decision: " << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\nretained:  blue until \d{4}-\d\d-\d\dT)")))
      << r.out;
}

// The last decision survives a restart with a state file (the last event's detail).
TEST_F(CtlTest, StatusShowsTheLastDecisionAfterARestart) {
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {green.address()},
                             .rollout = "step_duration: 1h\ncheck_interval: 100ms\n",
                             .top = "state_file: $DIR/state.json\n"}));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(ctl(proxy, {"start"}).exit_code, 0);
  ASSERT_EQ(ctl(proxy, {"promote"}).exit_code, 0);
  proxy.signal(SIGTERM);
  ASSERT_EQ(proxy.wait_exit(10s), 0);
  ASSERT_TRUE(proxy.restart());

  const auto s = proxy.status();
  const std::string decision = string_at(s, "last_decision");
  EXPECT_TRUE(contains(decision, "by operator at step 1 (10%)")) << json::serialize(s);
  const auto r = ctl(proxy, {"status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "decision:  " + decision + "\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "retained:  blue until ")) << r.out;
}

// A rollback is shown with its reason while it is the outcome; a later rollout makes it history:
// neither that rollout nor its promotion prints the old reason again.
TEST_F(CtlTest, AnOldRollbackIsNotShownAfterALaterRolloutAndPromotion) {
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {green.address()},
                             .rollout = "steps: [50, 100]\nstep_duration: 500ms\n"
                                        "check_interval: 100ms\nmin_requests: 5\n"}));
  ASSERT_TRUE(proxy.start());
  green.set_status(500);
  ASSERT_TRUE(start_and_drive_until_rolled_back(proxy, 30s));
  const std::string reason = rollback_reason(proxy.status());
  ASSERT_FALSE(reason.empty());
  auto r = ctl(proxy, {"status"});
  EXPECT_TRUE(contains(r.out, "state:     rolled_back\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "rollback:  ")) << r.out;
  EXPECT_TRUE(contains(r.out, "(" + reason + ")")) << r.out;

  // Without traffic the new rollout's first step is held: it still runs when status reads it.
  green.set_status(200);
  ASSERT_EQ(ctl(proxy, {"start"}).exit_code, 0);
  r = ctl(proxy, {"status"});
  EXPECT_TRUE(contains(r.out, "state:     progressing")) << r.out;
  EXPECT_FALSE(contains(r.out, "rollback:")) << "an old rollback during a new rollout: " << r.out;

  TrafficLoop traffic(proxy.proxy_port(), {.connections = 1, .pause = 5ms, .max_duration = 60s});
  r = run_cli({"ctl", "--admin", proxy.admin_url(), "wait", "--timeout", "30s"}, 40s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = ctl(proxy, {"status"});
  EXPECT_TRUE(contains(r.out, "state:     stable\n")) << r.out;
  EXPECT_TRUE(contains(r.out, "decision:  promoted green")) << r.out;
  EXPECT_FALSE(contains(r.out, "rollback:")) << "an old rollback after a promotion: " << r.out;
  // The API keeps it (last_rollback); only the human view leaves it out.
  EXPECT_EQ(rollback_reason(proxy.status()), reason);
}

TEST_F(CtlTest, WatchPrintsEachEventUntilTheRolloutEnds) {
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {green.address()},
                             .rollout = "steps: [20, 50, 100]\nstep_duration: 400ms\n"
                                        "check_interval: 100ms\nmin_requests: 5\n"}));
  ASSERT_TRUE(proxy.start());
  TrafficLoop traffic(proxy.proxy_port(), {.connections = 1, .pause = 5ms, .max_duration = 60s});
  ASSERT_EQ(ctl(proxy, {"start"}).exit_code, 0);
  const auto r = run_cli({"ctl", "--admin", proxy.admin_url(), "watch", "--timeout", "30s"}, 40s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // The steps and the promotion, each on its own line, steps counted from 1.
  EXPECT_TRUE(contains(r.out, "step (step 2):")) << r.out;
  EXPECT_TRUE(contains(r.out, "step (step 3):")) << r.out;
  EXPECT_TRUE(contains(r.out, "promote (step 3):")) << r.out;
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
