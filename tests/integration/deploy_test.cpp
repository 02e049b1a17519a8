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

// The Kubernetes example parsed as YAML (python3-yaml), every document and the config inside the
// ConfigMap, as JSON: {"documents": [...], "config": {...}}.
json::value parse_kubernetes_example(const std::string& path) {
  constexpr const char* kToJson =
      "import json, sys, yaml\n"
      "docs = list(yaml.safe_load_all(open(sys.argv[1])))\n"
      "config = next(d for d in docs if d['kind'] == 'ConfigMap')['data']['bgproxy.yaml']\n"
      "print(json.dumps({'documents': docs, 'config': yaml.safe_load(config)}))\n";
  const auto r = run_process({"/usr/bin/python3", "-c", kToJson, path}, 30s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  boost::system::error_code ec;
  auto parsed = json::parse(r.out, ec);
  EXPECT_FALSE(ec) << r.out << r.err;
  return ec ? json::value() : parsed;
}

// The object of `kind` among the documents (null when absent).
const json::object* document_of(const json::array& documents, std::string_view kind) {
  for (const auto& d : documents) {
    if (d.is_object() && d.as_object().contains("kind") && d.at("kind").as_string() == kind) {
      return &d.as_object();
    }
  }
  return nullptr;
}

const json::object* named(const json::value& list, std::string_view name) {
  for (const auto& item : list.as_array()) {
    if (item.at("name").as_string() == name) return &item.as_object();
  }
  return nullptr;
}

// A probe's port (a number, or the name of a container port) as a number; 0 when unknown.
std::int64_t probe_port(const json::object& container, const json::value& port) {
  if (port.is_int64()) return port.as_int64();
  if (!port.is_string() || !container.contains("ports")) return 0;
  const auto* named_port = named(container.at("ports"), port.as_string());
  return named_port ? named_port->at("containerPort").as_int64() : 0;
}

// Parsed as YAML, the example holds what docs/deploy.md says: a ConfigMap whose config bgproxy
// accepts, a Secret with the admin token, and a Deployment whose bgproxy container runs that
// config from the ConfigMap's volume, beside the app, with the probes on the config's admin port.
TEST(DeployTest, TheKubernetesExampleCarriesAValidConfigAndProbes) {
  const std::string manifest_path = kSource + "/deploy/kubernetes/bgproxy-sidecar.yaml";
  const auto parsed = parse_kubernetes_example(manifest_path);
  ASSERT_TRUE(parsed.is_object());
  const auto& documents = parsed.at("documents").as_array();
  std::vector<std::string> kinds;
  for (const auto& d : documents) kinds.emplace_back(d.at("kind").as_string());
  EXPECT_EQ(kinds, (std::vector<std::string>{"ConfigMap", "Secret", "Deployment"}));
  const auto* config_map = document_of(documents, "ConfigMap");
  const auto* secret = document_of(documents, "Secret");
  const auto* deployment = document_of(documents, "Deployment");
  ASSERT_TRUE(config_map && secret && deployment);
  EXPECT_EQ(config_map->at("apiVersion").as_string(), "v1");
  EXPECT_EQ(secret->at("apiVersion").as_string(), "v1");
  EXPECT_EQ(deployment->at("apiVersion").as_string(), "apps/v1");

  // The config: bgproxy accepts it (with a token file where the Secret is mounted).
  const std::string config(config_map->at("data").at("bgproxy.yaml").as_string());
  const json::object& settings = parsed.at("config").as_object();
  const std::string token_file(settings.at("admin").at("token_file").as_string());
  TempDir dir;
  const std::string checked =
      std::regex_replace(config, std::regex(token_file), dir.write("token", "s3cret\n"));
  const auto r = run_cli({"check-config", dir.write("checked.yaml", checked)});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err << config;
  const std::string admin_listen(settings.at("admin").at("listen").as_string());
  const auto admin_port = std::stoll(admin_listen.substr(admin_listen.rfind(':') + 1));
  EXPECT_TRUE(std::string_view(settings.at("listen").as_string()).starts_with("127.0.0.1:"))
      << "a sidecar serves its own pod only";

  // The Deployment: its selector picks its pods; the app and bgproxy side by side.
  const auto& spec = deployment->at("spec").as_object();
  const auto& pod = spec.at("template").as_object();
  for (const auto& [key, value] : spec.at("selector").at("matchLabels").as_object()) {
    EXPECT_EQ(pod.at("metadata").at("labels").at(key), value) << key;
  }
  const auto& pod_spec = pod.at("spec").as_object();
  const auto& containers = pod_spec.at("containers");
  ASSERT_EQ(containers.as_array().size(), 2u) << "the app and its bgproxy sidecar";
  const auto* bgproxy = named(containers, "bgproxy");
  ASSERT_TRUE(bgproxy);

  // Its volumes: the ConfigMap's, mounted where -c reads the config; the Secret's where
  // admin.token_file points.
  std::string config_mount, token_mount;
  for (const auto& mount : bgproxy->at("volumeMounts").as_array()) {
    const auto* volume = named(pod_spec.at("volumes"), mount.at("name").as_string());
    ASSERT_TRUE(volume) << json::serialize(mount);
    const std::string path(mount.at("mountPath").as_string());
    if (volume->contains("configMap")) {
      EXPECT_EQ(volume->at("configMap").at("name"), config_map->at("metadata").at("name"));
      config_mount = path;
    } else if (volume->contains("secret")) {
      EXPECT_EQ(volume->at("secret").at("secretName"), secret->at("metadata").at("name"));
      token_mount = path;
    }
  }
  ASSERT_FALSE(config_mount.empty()) << "no volume mount of the ConfigMap";
  ASSERT_FALSE(token_mount.empty()) << "no volume mount of the Secret";
  EXPECT_EQ(bgproxy->at("args"),
            json::parse(R"(["run", "-c", ")" + config_mount + R"(/bgproxy.yaml"])"));
  EXPECT_TRUE(token_file.starts_with(token_mount + "/")) << token_file;
  EXPECT_TRUE(
      secret->at("stringData").as_object().contains(token_file.substr(token_mount.size() + 1)))
      << "the token file is a key of the Secret";

  // The probes: /readyz and /healthz on the config's admin port; Prometheus scrapes it too.
  const auto& readiness = bgproxy->at("readinessProbe").at("httpGet").as_object();
  const auto& liveness = bgproxy->at("livenessProbe").at("httpGet").as_object();
  EXPECT_EQ(readiness.at("path").as_string(), "/readyz");
  EXPECT_EQ(liveness.at("path").as_string(), "/healthz");
  EXPECT_EQ(probe_port(*bgproxy, readiness.at("port")), admin_port);
  EXPECT_EQ(probe_port(*bgproxy, liveness.at("port")), admin_port);
  const auto& annotations = pod.at("metadata").at("annotations");
  EXPECT_EQ(annotations.at("prometheus.io/port").as_string(), std::to_string(admin_port));
  EXPECT_EQ(annotations.at("prometheus.io/path").as_string(), "/metrics");
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
