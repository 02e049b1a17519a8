// Faults of the state file and of reloads (docs/configuration.md, docs/admin-api.md): a failed
// write never loses a decision, two processes never share a state file, a missing directory is
// found at start, a restart keeps the state file's live color (and says so), and a reload that
// would leave a serving color without endpoints is refused.
#include <sys/mount.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "integration/harness.h"

namespace bgt {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

// A tmpfs of 256 KiB mounted on a fresh directory (root only), unmounted on destruction.
class SmallDisk {
 public:
  SmallDisk() {
    path_ = dir_.path() + "/disk";
    fs::create_directory(path_);
    mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, "size=256k") == 0;
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& path() const { return path_; }

  // Writes a filler file until the disk is full.
  void fill() {
    std::ofstream out(path_ + "/filler", std::ios::binary);
    const std::string block(4096, 'x');
    while (out.write(block.data(), static_cast<std::streamsize>(block.size()))) {
      out.flush();
      if (!out) break;
    }
  }
  void free() { fs::remove(path_ + "/filler"); }

 private:
  TempDir dir_;
  std::string path_;
  bool mounted_ = false;
};

class StateFileTest : public ::testing::Test {
 protected:
  TestBackend blue{"blue-1"};
  TestBackend green{"green-1"};

  ConfigSpec spec(std::string top) const {
    return ConfigSpec{.blue = {blue.address()},
                      .green = {green.address()},
                      .rollout = "step_duration: 1h\ncheck_interval: 100ms\n",
                      .top = std::move(top)};
  }

  static bool persisted(const json::value& status) {
    const auto* p = status.as_object().if_contains("persisted");
    return p && p->is_bool() && p->as_bool();
  }
};

TEST_F(StateFileTest, AFailedWriteLosesNoRollback) {
  SmallDisk disk;
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  Bgproxy proxy(make_config(spec("state_file: " + disk.path() + "/state.json\n")));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);
  ASSERT_EQ(proxy.admin("PUT", "/weights", R"({"green": 60})").status, 200u);
  ASSERT_TRUE(persisted(proxy.status()));

  disk.fill();
  const auto back = proxy.admin("POST", "/rollout/rollback");
  ASSERT_EQ(back.status, 200u) << back.body;
  // The decision holds in memory, and says that it is not on disk.
  const auto s = proxy.status();
  EXPECT_EQ(string_at(s, "state"), "rolled_back");
  EXPECT_FALSE(persisted(s));
  EXPECT_NE(string_at(s, "persist_error").find("state.json"), std::string::npos)
      << json::serialize(s);
  EXPECT_EQ(send_requests(proxy.proxy_port(), 20).of("blue"), 20);
  EXPECT_GE(metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_state_write_errors_total"), 1);

  // Space again: the next check writes it, and a crash after that keeps the rollback.
  disk.free();
  ASSERT_TRUE(wait_until([&] { return persisted(proxy.status()); }, 10s));
  proxy.signal(SIGKILL);
  ASSERT_EQ(proxy.wait_exit(5s), 128 + SIGKILL);
  ASSERT_TRUE(proxy.restart());
  const auto after = proxy.status();
  EXPECT_EQ(string_at(after, "state"), "rolled_back") << json::serialize(after);
  EXPECT_EQ(weight_of(after, "green"), 0);
  EXPECT_EQ(send_requests(proxy.proxy_port(), 20).of("blue"), 20);
}

TEST_F(StateFileTest, TwoProcessesNeverShareAStateFile) {
  Bgproxy first(make_config(spec("state_file: $DIR/state.json\n")));
  ASSERT_TRUE(first.start());
  const std::string state = first.dir() + "/state.json";
  TempDir other;
  const std::string config =
      other.write("second.yaml", with_ports(make_config(spec("state_file: " + state + "\n"))));
  const auto second = run_cli({"run", "-c", config}, 10s);
  EXPECT_EQ(second.exit_code, 1) << second.out << second.err;
  EXPECT_NE((second.out + second.err).find(state), std::string::npos) << second.out << second.err;
  EXPECT_NE((second.out + second.err).find("in use by another bgproxy"), std::string::npos);
  EXPECT_TRUE(first.running());
}

TEST_F(StateFileTest, AStateFileInAMissingDirectoryIsAConfigError) {
  TempDir dir;
  const std::string config = dir.write(
      "bgproxy.yaml", with_ports(make_config(spec("state_file: /nonexistent-dir/state.json\n"))));
  const auto check = run_cli({"check-config", config});
  EXPECT_EQ(check.exit_code, 2);
  EXPECT_NE(
      (check.out + check.err).find("state_file: the directory '/nonexistent-dir' does not exist"),
      std::string::npos)
      << check.out << check.err;
  EXPECT_EQ(run_cli({"run", "-c", config}).exit_code, 2);
}

// Green is live after a promotion though the file still says blue; blue is retained.
class PromotedTest : public StateFileTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(proxy.start());
    ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);
    ASSERT_EQ(proxy.admin("POST", "/rollout/promote").status, 200u);
    ASSERT_EQ(string_at(proxy.status(), "live"), "green");
  }

  Bgproxy proxy{make_config(spec("state_file: $DIR/state.json\n"))};
};

// The state file is the newer truth: a restart keeps its live color over backends.live, and says
// so (docs/configuration.md).
TEST_F(PromotedTest, ARestartKeepsTheStateFilesLiveColorAndSaysSo) {
  constexpr std::string_view kKept = "backends.live is blue in the config, but the state file ";
  proxy.signal(SIGTERM);
  ASSERT_EQ(proxy.wait_exit(10s), 0);
  EXPECT_EQ(proxy.log().find(kKept), std::string::npos) << "said before any restart";
  ASSERT_TRUE(proxy.restart());
  ASSERT_TRUE(proxy.wait_log(std::string(kKept) + proxy.dir() +
                             "/state.json has green live: the state file's live color is kept"))
      << proxy.log();
  EXPECT_EQ(string_at(proxy.status(), "live"), "green");
  const Tally t = send_requests(proxy.proxy_port(), 10);
  EXPECT_EQ(t.of("green"), 10) << t.to_string();
}

class ReloadRefusalTest : public PromotedTest {
 protected:
  void expect_refused_and_still_serving(std::string_view why) {
    proxy.signal(SIGHUP);
    ASSERT_TRUE(proxy.wait_log("reload refused")) << proxy.log();
    EXPECT_NE(proxy.log().find(why), std::string::npos) << proxy.log();
    EXPECT_EQ(metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_config_reloads_total",
                         {R"(result="refused")"}),
              1);
    EXPECT_EQ(send_requests(proxy.proxy_port(), 20).of("green"), 20);
    const auto back = proxy.admin("POST", "/rollout/rollback");  // the retained color still works
    EXPECT_EQ(back.status, 200u) << back.body;
    EXPECT_EQ(send_requests(proxy.proxy_port(), 20).of("blue"), 20);
  }
};

TEST_F(ReloadRefusalTest, AReloadThatEmptiesTheLiveColorIsRefused) {
  proxy.rewrite_config(make_config(
      ConfigSpec{.blue = {blue.address()}, .green = {}, .top = "state_file: $DIR/state.json\n"}));
  expect_refused_and_still_serving("the live color green (as the rollout state has it)");
}

TEST_F(ReloadRefusalTest, AReloadThatEmptiesTheRetainedColorIsRefused) {
  proxy.rewrite_config(make_config(ConfigSpec{.blue = {},
                                              .green = {green.address()},
                                              .backends = "live: green\n",
                                              .top = "state_file: $DIR/state.json\n"}));
  expect_refused_and_still_serving("the retained color blue");
}

TEST_F(ReloadRefusalTest, AStartThatWouldLeaveTheLiveColorWithoutEndpointsFails) {
  proxy.signal(SIGTERM);
  ASSERT_EQ(proxy.wait_exit(10s), 0);
  proxy.rewrite_config(make_config(
      ConfigSpec{.blue = {blue.address()}, .green = {}, .top = "state_file: $DIR/state.json\n"}));
  proxy.launch();
  ASSERT_EQ(proxy.wait_exit(10s), 1) << proxy.log();
  EXPECT_NE(proxy.log().find("the live color green"), std::string::npos) << proxy.log();
}

}  // namespace
}  // namespace bgt
