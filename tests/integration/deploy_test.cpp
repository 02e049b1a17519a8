// The files shipped to deploy with (deploy/), checked by their own tools, and the process's side
// of them: sd_notify for the systemd unit, `cmake --install`.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <regex>
#include <set>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "integration/harness.h"

namespace bgt {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

const std::string kSource = BGPROXY_SOURCE_DIR;
const std::string kBinary = BGPROXY_BINARY;

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

TEST(DeployTest, TheAlertRulesPassPromtool) {
  const auto r = run_process(
      {"/usr/bin/promtool", "check", "rules", kSource + "/deploy/prometheus/bgproxy-alerts.yml"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "SUCCESS")) << r.out;
}

// Every metric a panel asks for is one bgproxy exports: seen in a live exposition (mid-rollout,
// after a rollback) or, for a fleet's, in the documented contract.
TEST(DeployTest, TheGrafanaDashboardAsksOnlyForMetricsThatExist) {
  const auto dashboard = json::parse(read_file(kSource + "/deploy/grafana/bgproxy-dashboard.json"));
  std::set<std::string> names;
  const std::regex metric(R"(\b(bgproxy|process)_[a-z_]+)");
  for (const auto& panel : dashboard.at("panels").as_array()) {
    for (const auto& target : panel.at("targets").as_array()) {
      const std::string expr(target.at("expr").as_string());
      for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it) {
        names.insert(it->str());
      }
    }
  }
  ASSERT_GT(names.size(), 10u);

  TestBackend blue("blue-1"), green("green-1");
  green.set_status(500);
  Bgproxy proxy(make_config({.blue = {blue.address()},
                             .green = {green.address()},
                             .rollout = "step_duration: 1h\ncheck_interval: 100ms\n"}));
  ASSERT_TRUE(proxy.start());
  ASSERT_TRUE(start_and_drive_until_rolled_back(proxy));
  green.set_status(200);
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);
  send_requests(proxy.proxy_port(), 50);
  std::string exposition;
  ASSERT_TRUE(wait_until(
      [&] {
        exposition = proxy.admin("GET", "/metrics").body;
        return contains(exposition, "bgproxy_judge_evidence");
      },
      5s));
  const std::string contract = read_file(kSource + "/docs/admin-api.md");
  for (std::string name : names) {
    if (name.ends_with("_bucket")) name.resize(name.size() - 7);
    const bool fleet = name.starts_with("bgproxy_fleet_");
    EXPECT_TRUE(fleet ? contains(contract, name)
                      : contains(exposition, name + "{") || contains(exposition, name + " "))
        << name << " is in the dashboard but not exported";
  }
}

TEST(DeployTest, TheSystemdUnitVerifies) {
  TempDir dir;
  std::string unit = read_file(kSource + "/deploy/systemd/bgproxy.service");
  ASSERT_TRUE(contains(unit, "Type=notify"));
  ASSERT_TRUE(contains(unit, "ExecReload=/bin/kill -HUP $MAINPID"));
  // systemd-analyze checks that the programs exist: point at the binary under test.
  unit = std::regex_replace(unit, std::regex("/usr/local/bin/bgproxy"), kBinary);
  const auto path = dir.write("bgproxy.service", unit);
  const auto r = run_process({"/usr/bin/systemd-analyze", "verify", path}, 30s);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(contains(r.err, "bgproxy.service:")) << r.err;  // no warning about the unit
}

// The config inside the Kubernetes example is one bgproxy accepts, and the probes hit the admin
// API's health paths.
TEST(DeployTest, TheKubernetesExampleCarriesAValidConfigAndProbes) {
  const std::string manifest = read_file(kSource + "/deploy/kubernetes/bgproxy-sidecar.yaml");
  const auto start = manifest.find("bgproxy.yaml: |\n");
  ASSERT_NE(start, std::string::npos);
  std::string config;
  std::size_t line = start + std::string("bgproxy.yaml: |\n").size();
  while (line < manifest.size() && manifest.compare(line, 4, "    ") == 0) {
    const auto end = manifest.find('\n', line);
    config += manifest.substr(line + 4, end - line - 4) + "\n";
    line = end + 1;
  }
  TempDir dir;
  const auto path = dir.write("bgproxy.yaml", config);
  // check-config reads the token file: give it one where the manifest mounts it.
  const std::string checked = std::regex_replace(config, std::regex("/etc/bgproxy-token/token"),
                                                 dir.write("token", "s3cret\n"));
  const auto r = run_cli({"check-config", dir.write("checked.yaml", checked)});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err << config;
  EXPECT_TRUE(contains(manifest, "path: /readyz"));
  EXPECT_TRUE(contains(manifest, "path: /healthz"));
}

// bgproxy tells systemd when it is ready, reloading and stopping (Type=notify).
TEST(DeployTest, TheProcessTalksSdNotify) {
  TempDir dir;
  const std::string socket_path = dir.path() + "/notify.sock";
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path.c_str(), sizeof(address.sun_path) - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  const auto next = [&] {
    char buffer[256];
    const auto n = ::recv(fd, buffer, sizeof(buffer), 0);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string("(nothing)");
  };

  ::setenv("NOTIFY_SOCKET", socket_path.c_str(), 1);
  TestBackend blue("blue-1");
  Bgproxy proxy(make_config({.blue = {blue.address()}}));
  ASSERT_TRUE(proxy.start());
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_EQ(next(), "READY=1");
  proxy.signal(SIGHUP);
  EXPECT_EQ(next(), "RELOADING=1");
  EXPECT_EQ(next(), "READY=1");
  proxy.signal(SIGTERM);
  EXPECT_EQ(next(), "STOPPING=1");
  EXPECT_EQ(proxy.wait_exit(10s), 0);
  ::close(fd);
}

TEST(DeployTest, CmakeInstallPutsEverythingInPlace) {
  TempDir prefix;
  const std::string build_dir = fs::path(kBinary).parent_path().string();
  const auto r =
      run_process({BGPROXY_CMAKE, "--install", build_dir, "--prefix", prefix.path()}, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* file :
       {"bin/bgproxy", "share/doc/bgproxy/README.md", "share/doc/bgproxy/docs/judge.md",
        "share/doc/bgproxy/examples/bgproxy.yaml", "lib/systemd/system/bgproxy.service",
        "share/bgproxy/deploy/prometheus/bgproxy-alerts.yml",
        "share/bgproxy/deploy/grafana/bgproxy-dashboard.json"}) {
    EXPECT_TRUE(fs::exists(prefix.path() + "/" + file)) << file;
  }
  const auto version = run_process({prefix.path() + "/bin/bgproxy", "version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_TRUE(contains(version.out, "bgproxy ")) << version.out;
}

}  // namespace
}  // namespace bgt
