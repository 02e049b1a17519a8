// Loading valid configs: defaults, every key, files, the shipped example, admin.token_file.
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"

namespace bgp {
namespace {

using ::testing::ElementsAre;

std::string errors_of(const ConfigResult& result) {
  std::string all;
  for (const auto& error : result.errors) all += error.to_string() + "\n";
  return all;
}

Config load_ok(std::string_view yaml) {
  auto result = load_config_string(yaml, "test.yaml");
  EXPECT_TRUE(result.ok()) << errors_of(result);
  if (!result.config) return Config{};  // (not value_or: GCC 12 warns of its temporary)
  return std::move(*result.config);
}

// A file in the test's temporary directory, removed when the test ends.
class TempFile {
 public:
  TempFile(std::string_view name, std::string_view content)
      : path_(std::filesystem::path(::testing::TempDir()) / name) {
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

void expect_defaults(const Config& c) {
  EXPECT_EQ(c.listen, (Address{"127.0.0.1", 8080}));
  EXPECT_EQ(c.workers, 0u);
  EXPECT_EQ(c.admin.listen, (Address{"127.0.0.1", 9901}));
  EXPECT_EQ(c.admin.token, "");
  EXPECT_EQ(c.admin.max_connections, 64u);
  EXPECT_EQ(c.admin.idle_timeout, 10s);
  EXPECT_EQ(c.backends.live, Color::blue);
  EXPECT_THAT(c.backends.blue.endpoints, ElementsAre(Address{"127.0.0.1", 9001}));
  EXPECT_THAT(c.backends.green.endpoints, ElementsAre(Address{"127.0.0.1", 9002}));
  EXPECT_EQ(c.backends.health_check.type, HealthCheckType::http);
  EXPECT_EQ(c.backends.health_check.path, "");
  EXPECT_EQ(c.backends.health_check.grpc_service, "");
  EXPECT_FALSE(c.backends.health_check.enabled());
  EXPECT_EQ(c.backends.health_check.interval, 5s);
  EXPECT_EQ(c.backends.health_check.timeout, 1s);
  EXPECT_EQ(c.backends.health_check.unhealthy_after, 3);
  EXPECT_EQ(c.backends.health_check.healthy_after, 2);
  EXPECT_THAT(c.rollout.steps,
              ElementsAre(RolloutStep{1000, {}}, RolloutStep{2500, {}}, RolloutStep{5000, {}},
                          RolloutStep{7500, {}}, RolloutStep{10000, {}}));
  EXPECT_EQ(c.rollout.step_duration, 5min);
  EXPECT_EQ(c.rollout.check_interval, 10s);
  EXPECT_EQ(c.rollout.min_requests, 100u);
  EXPECT_EQ(c.rollout.failure_limit, 1);
  EXPECT_FALSE(c.rollout.auto_start);
  EXPECT_EQ(c.rollout.retain_previous, 24h);
  EXPECT_DOUBLE_EQ(c.rollout.thresholds.max_error_rate, 0.02);
  EXPECT_EQ(c.rollout.thresholds.max_p99, 2s);
  EXPECT_DOUBLE_EQ(c.rollout.thresholds.max_p99_increase, 0.5);
  EXPECT_EQ(c.rollout.thresholds.p99_noise_floor, 5ms);
  EXPECT_EQ(c.routing.sticky_header, "");
  EXPECT_EQ(c.routing.sticky_cookie, "");
  EXPECT_EQ(c.routing.override_header, "X-Bluegreen");
  EXPECT_EQ(c.timeouts.client_header, 10s);
  EXPECT_EQ(c.timeouts.client_idle, 60s);
  EXPECT_EQ(c.timeouts.upstream_connect, 1s);
  EXPECT_EQ(c.timeouts.upstream_response, 30s);
  EXPECT_EQ(c.timeouts.upstream_idle, 30s);
  EXPECT_EQ(c.timeouts.http2_ping_interval, 10s);
  EXPECT_EQ(c.timeouts.http2_ping_timeout, 5s);
  EXPECT_EQ(c.timeouts.drain, 15s);
  EXPECT_EQ(c.limits.max_header_bytes, 16384u);
  EXPECT_EQ(c.limits.max_body_bytes, 10485760u);
  EXPECT_EQ(c.limits.max_connections, 10000u);
  EXPECT_DOUBLE_EQ(c.rollout.judge.alpha, 0.01);
  EXPECT_EQ(c.rollout.judge.quantiles, (std::vector<double>{0.5, 0.9, 0.99}));
  EXPECT_FALSE(c.fleet.enabled());
  EXPECT_EQ(c.fleet.cluster, "default");
  EXPECT_EQ(c.fleet.lease_ttl, 3s);
  EXPECT_EQ(c.rollout.post_promotion_watch, 30min);
  EXPECT_EQ(c.state_file, "");
  EXPECT_EQ(c.notify.webhook, "");
  EXPECT_EQ(c.log.level, LogLevel::info);
  EXPECT_EQ(c.log.format, LogFormat::text);
}

TEST(LoadConfig, EmptyFileIsTheDefaultConfig) {
  expect_defaults(load_ok(""));
}

TEST(LoadConfig, CommentsOnlyIsTheDefaultConfig) {
  expect_defaults(load_ok("# nothing here\n\n   # still nothing\n"));
}

TEST(LoadConfig, EmptySectionsKeepTheirDefaults) {
  expect_defaults(load_ok("admin:\nbackends: {}\nrollout:\n  thresholds:\nlog: {}\n"));
}

TEST(LoadConfig, ExampleFileLoadsAsTheDefaults) {
  const auto result = load_config_file(BGPROXY_SOURCE_DIR "/examples/bgproxy.yaml");
  ASSERT_TRUE(result.ok()) << errors_of(result);
  expect_defaults(*result.config);
}

constexpr std::string_view kEveryKey = R"(
listen: "[::1]:0"
workers: 4
admin:
  listen: 0.0.0.0:9000
  token: s3cret
  token_file: ""
  max_connections: 8
  idle_timeout: 3s
backends:
  live: green
  blue:
    endpoints: []
  green:
    endpoints: [10.0.0.1:80, "backend.internal:8081", "[2001:db8::1]:443"]
  health_check:
    type: http
    path: /healthz?deep=1
    interval: 2s
    timeout: 500ms
    unhealthy_after: 5
    healthy_after: 4
rollout:
  steps:
    - 0.5
    - {weight: 10.25, duration: 1m30s}
    - weight: 50
    - 100
  step_duration: 30s
  check_interval: 1s
  min_requests: 0
  failure_limit: 3
  auto_start: true
  retain_previous: 0s
  thresholds:
    max_error_rate: 0.1
    max_p99: 250ms
    max_p99_increase: 0
    p99_noise_floor: 0s
  judge:
    alpha: 0.05
    quantiles: [0.99]
  post_promotion_watch: 0s
routing:
  sticky_header: X-User-Id
  sticky_cookie: session_id
  override_header: ""
timeouts:
  client_header: 2s
  client_idle: 5m
  upstream_connect: 100ms
  upstream_response: 1h
  upstream_idle: 4s
  drain: 0s
limits:
  max_header_bytes: 1024
  max_body_bytes: 0
  max_connections: 1
state_file: /tmp/bgproxy-state.json
fleet:
  etcd: [127.0.0.1:2379, "[::1]:22379"]
  cluster: shop
  replica_id: lb-1
  lease_ttl: 5s
notify:
  webhook: http://hooks.internal:8080/bgproxy/events
log:
  level: debug
  format: json
)";

TEST(LoadConfig, EveryKeyReachesItsField) {
  const Config c = load_ok(kEveryKey);
  EXPECT_EQ(c.listen, (Address{"::1", 0}));
  EXPECT_EQ(c.workers, 4u);
  EXPECT_EQ(c.admin.listen, (Address{"0.0.0.0", 9000}));
  EXPECT_EQ(c.admin.token, "s3cret");
  EXPECT_EQ(c.admin.token_file, "");
  EXPECT_EQ(c.admin.max_connections, 8u);
  EXPECT_EQ(c.admin.idle_timeout, 3s);
  EXPECT_EQ(c.backends.live, Color::green);
  EXPECT_TRUE(c.backends.blue.endpoints.empty());
  EXPECT_THAT(c.backends.green.endpoints,
              ElementsAre(Address{"10.0.0.1", 80}, Address{"backend.internal", 8081},
                          Address{"2001:db8::1", 443}));
  EXPECT_EQ(c.backends.health_check.type, HealthCheckType::http);
  EXPECT_EQ(c.backends.health_check.path, "/healthz?deep=1");
  EXPECT_TRUE(c.backends.health_check.enabled());
  EXPECT_EQ(c.backends.health_check.interval, 2s);
  EXPECT_EQ(c.backends.health_check.timeout, 500ms);
  EXPECT_EQ(c.backends.health_check.unhealthy_after, 5);
  EXPECT_EQ(c.backends.health_check.healthy_after, 4);
  EXPECT_THAT(c.rollout.steps, ElementsAre(RolloutStep{50, {}}, RolloutStep{1025, 90s},
                                           RolloutStep{5000, {}}, RolloutStep{10000, {}}));
  EXPECT_EQ(c.rollout.step_duration, 30s);
  EXPECT_EQ(c.rollout.duration_of(0), 30s);
  EXPECT_EQ(c.rollout.duration_of(1), 90s);
  EXPECT_EQ(c.rollout.check_interval, 1s);
  EXPECT_EQ(c.rollout.min_requests, 0u);
  EXPECT_EQ(c.rollout.failure_limit, 3);
  EXPECT_TRUE(c.rollout.auto_start);
  EXPECT_EQ(c.rollout.retain_previous, 0s);
  EXPECT_DOUBLE_EQ(c.rollout.thresholds.max_error_rate, 0.1);
  EXPECT_EQ(c.rollout.thresholds.max_p99, 250ms);
  EXPECT_DOUBLE_EQ(c.rollout.thresholds.max_p99_increase, 0);
  EXPECT_EQ(c.rollout.thresholds.p99_noise_floor, 0s);
  EXPECT_DOUBLE_EQ(c.rollout.judge.alpha, 0.05);
  EXPECT_EQ(c.rollout.judge.quantiles, std::vector<double>{0.99});
  EXPECT_EQ(c.rollout.post_promotion_watch, 0s);
  EXPECT_EQ(c.routing.sticky_header, "X-User-Id");
  EXPECT_EQ(c.routing.sticky_cookie, "session_id");
  EXPECT_EQ(c.routing.override_header, "");
  EXPECT_EQ(c.timeouts.client_header, 2s);
  EXPECT_EQ(c.timeouts.client_idle, 5min);
  EXPECT_EQ(c.timeouts.upstream_connect, 100ms);
  EXPECT_EQ(c.timeouts.upstream_response, 1h);
  EXPECT_EQ(c.timeouts.upstream_idle, 4s);
  EXPECT_EQ(c.timeouts.drain, 0s);
  EXPECT_EQ(c.limits.max_header_bytes, 1024u);
  EXPECT_EQ(c.limits.max_body_bytes, 0u);
  EXPECT_EQ(c.limits.max_connections, 1u);
  EXPECT_EQ(c.state_file, "/tmp/bgproxy-state.json");
  ASSERT_EQ(c.fleet.etcd.size(), 2u);
  EXPECT_EQ(c.fleet.etcd[1].to_string(), "[::1]:22379");
  EXPECT_EQ(c.fleet.cluster, "shop");
  EXPECT_EQ(c.fleet.replica_id, "lb-1");
  EXPECT_EQ(c.fleet.lease_ttl, 5s);
  EXPECT_EQ(c.notify.webhook, "http://hooks.internal:8080/bgproxy/events");
  EXPECT_EQ(c.log.level, LogLevel::debug);
  EXPECT_EQ(c.log.format, LogFormat::json);
}

// A gRPC check needs no path: the method it calls is fixed by grpc.health.v1.
TEST(LoadConfig, AGrpcHealthCheckIsOnWithoutAPath) {
  const Config whole_server = load_ok("backends:\n  health_check:\n    type: grpc\n");
  EXPECT_EQ(whole_server.backends.health_check.type, HealthCheckType::grpc);
  EXPECT_EQ(whole_server.backends.health_check.grpc_service, "");
  EXPECT_TRUE(whole_server.backends.health_check.enabled());

  const Config one_service = load_ok(
      "backends:\n  health_check:\n    type: grpc\n    grpc_service: shop.Cart\n    path: \"\"\n");
  EXPECT_EQ(one_service.backends.health_check.grpc_service, "shop.Cart");
  EXPECT_EQ(one_service.backends.health_check.path, "");
}

TEST(LoadConfig, AbsentKeysKeepTheirDefaultsBesidePresentOnes) {
  const Config c = load_ok("rollout:\n  failure_limit: 2\n");
  EXPECT_EQ(c.rollout.failure_limit, 2);
  EXPECT_EQ(c.rollout.step_duration, 5min);
  EXPECT_EQ(c.rollout.steps.size(), 5u);
}

TEST(LoadConfig, LargeNumbersFitTheirFields) {
  const Config c = load_ok("limits:\n  max_body_bytes: 18446744073709551615\n");
  EXPECT_EQ(c.limits.max_body_bytes, 18446744073709551615u);
}

TEST(LoadConfig, QuotedScalarsStayText) {
  const Config c = load_ok("admin:\n  token: \"0x1F\"\nstate_file: 'null'\n");
  EXPECT_EQ(c.admin.token, "0x1F");
  EXPECT_EQ(c.state_file, "null");
}

TEST(LoadConfig, NonLoopbackAdminWithATokenIsFine) {
  const Config c = load_ok("admin:\n  listen: 10.1.2.3:9901\n  token: abc\n");
  EXPECT_EQ(c.admin.listen, (Address{"10.1.2.3", 9901}));
}

TEST(LoadConfig, CandidateMayHaveNoEndpoints) {
  const Config c = load_ok("backends:\n  green:\n    endpoints: []\n");
  EXPECT_TRUE(c.backends.green.endpoints.empty());
}

TEST(LoadConfigFile, ReadsAFileAndNamesItInErrors) {
  const TempFile file("bad_workers.yaml", "log:\n  level: loud\n");
  const auto result = load_config_file(file.path());
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].to_string(),
            file.path() +
                ":2:10: log.level: invalid value 'loud': expected one of debug, info, warn, error");
}

TEST(LoadConfigFile, LoadsAValidFile) {
  const TempFile file("valid.yaml", "workers: 2\n");
  const auto result = load_config_file(file.path());
  ASSERT_TRUE(result.ok()) << errors_of(result);
  EXPECT_EQ(result.config->workers, 2u);
}

TEST(LoadConfigFile, MissingFileIsOneError) {
  const std::string path = ::testing::TempDir() + "/does-not-exist.yaml";
  const auto result = load_config_file(path);
  EXPECT_FALSE(result.ok());
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].to_string(), path + ": cannot read file: No such file or directory");
}

TEST(LoadConfigFile, DirectoryIsOneError) {
  const auto result = load_config_file(::testing::TempDir());
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_THAT(result.errors[0].message, ::testing::HasSubstr("cannot read file"));
}

TEST(TokenFile, IsReadIntoTheTokenWithoutTrailingWhitespace) {
  const TempFile token("token.txt", "t0ken value\r\n\n  ");
  const Config c = load_ok("admin:\n  listen: 0.0.0.0:9901\n  token_file: " + token.path() + "\n");
  EXPECT_EQ(c.admin.token, "t0ken value");
  EXPECT_EQ(c.admin.token_file, token.path());
}

TEST(TokenFile, EmptyFileIsAnError) {
  const TempFile token("empty-token.txt", " \n\n");
  const auto result = load_config_string("admin:\n  token_file: " + token.path() + "\n", "t.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].to_string(),
            "t.yaml:2:15: admin.token_file: token file '" + token.path() + "' is empty");
}

TEST(TokenFile, UnreadableFileIsAnError) {
  const std::string path = ::testing::TempDir() + "/no-such-token";
  const auto result = load_config_string("admin:\n  token_file: " + path + "\n", "t.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].to_string(),
            "t.yaml:2:15: admin.token_file: cannot read token file '" + path +
                "': No such file or directory");
}

TEST(TokenFile, CannotBeCombinedWithAToken) {
  const TempFile token("token2.txt", "abc\n");
  const auto result =
      load_config_string("admin:\n  token: x\n  token_file: " + token.path() + "\n", "t.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].to_string(),
            "t.yaml:3:15: admin.token_file: admin.token and admin.token_file are mutually "
            "exclusive");
}

}  // namespace
}  // namespace bgp
