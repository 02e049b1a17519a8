// Invalid configs: every error kind, reported as `FILE:LINE:COL: key.path: message`, all at once.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.h"

namespace bgp {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// Every error of `yaml`, printed the way `bgproxy check-config` prints them.
std::vector<std::string> errors(std::string_view yaml) {
  const auto result = load_config_string(yaml, "t.yaml");
  EXPECT_EQ(result.ok(), result.errors.empty());
  std::vector<std::string> printed;
  for (const auto& error : result.errors) printed.push_back(error.to_string());
  return printed;
}

// The one error of `yaml`: it starts with `where` ("t.yaml:L:C: key.path: ") and says `what`.
::testing::Matcher<std::vector<std::string>> one_error(const std::string& where,
                                                       const std::string& what) {
  return ElementsAre(AllOf(StartsWith("t.yaml:" + where + ": "), HasSubstr(what)));
}

TEST(ConfigErrors, PrintsFileLineColumnKeyPathAndMessage) {
  EXPECT_THAT(errors("workers: many\n"),
              ElementsAre("t.yaml:1:10: workers: expected a whole number, got 'many'"));
}

TEST(ConfigErrors, YamlSyntaxErrorIsOneErrorAtItsPosition) {
  EXPECT_THAT(errors("listen: 127.0.0.1:8080\nbackends:\n  blue: {endpoints: [a:1\n"),
              ElementsAre(StartsWith("t.yaml:4:1: ")));
  EXPECT_THAT(errors("a: b: c\n"), ElementsAre("t.yaml:1:5: illegal map value"));
}

TEST(ConfigErrors, TopLevelMustBeAMap) {
  EXPECT_THAT(errors("- listen\n"), ElementsAre("t.yaml:1:1: expected a map of keys, got a list"));
  EXPECT_THAT(errors("just text\n"), one_error("1:1", "expected a map of keys"));
}

TEST(ConfigErrors, OnlyOneDocument) {
  EXPECT_THAT(errors("workers: 1\n---\nworkers: 2\n"),
              one_error("3:1", "only one YAML document is allowed"));
}

TEST(ConfigErrors, UnknownKeySuggestsTheClosestKnownKey) {
  EXPECT_THAT(errors("listne: 127.0.0.1:80\n"),
              ElementsAre("t.yaml:1:1: listne: unknown key 'listne', did you mean 'listen'?"));
  EXPECT_THAT(errors("rollout:\n  thresholds:\n    max_p98: 1s\n"),
              ElementsAre("t.yaml:3:5: rollout.thresholds.max_p98: unknown key 'max_p98', did "
                          "you mean 'max_p99'?"));
  EXPECT_THAT(errors("Workers: 2\n"), one_error("1:1: Workers", "did you mean 'workers'?"));
}

TEST(ConfigErrors, UnknownKeyFarFromAnyListsTheKnownKeys) {
  EXPECT_THAT(errors("log:\n  colour: red\n"),
              ElementsAre("t.yaml:2:3: log.colour: unknown key 'colour' (known keys: level, "
                          "format, access, access_file)"));
}

TEST(ConfigErrors, UnknownKeyInsideAListEntry) {
  EXPECT_THAT(errors("rollout:\n  steps:\n    - {weight: 10, durtion: 1m}\n    - 100\n"),
              one_error("3:20: rollout.steps[0].durtion", "did you mean 'duration'?"));
}

TEST(ConfigErrors, DuplicateKey) {
  EXPECT_THAT(errors("workers: 1\nworkers: 2\n"),
              ElementsAre("t.yaml:2:1: workers: duplicate key"));
}

TEST(ConfigErrors, WrongTypes) {
  EXPECT_THAT(errors("listen: {host: a}\n"),
              one_error("1:9: listen", "expected an address like 127.0.0.1:8080, got a map"));
  EXPECT_THAT(errors("admin: [a]\n"),
              one_error("1:8: admin", "expected a map of keys, got a list"));
  EXPECT_THAT(errors("backends:\n  blue:\n    endpoints: 127.0.0.1:80\n"),
              one_error("3:16: backends.blue.endpoints", "expected a list of host:port"));
  EXPECT_THAT(errors("rollout:\n  auto_start: yes please\n"),
              one_error("2:15: rollout.auto_start", "expected true or false"));
  EXPECT_THAT(errors("state_file: [a, b]\n"), one_error("1:13: state_file", "expected a string"));
  EXPECT_THAT(errors("state_file: /nonexistent-dir/state.json\n"),
              one_error("1:13: state_file", "the directory '/nonexistent-dir' does not exist"));
  EXPECT_THAT(errors("fleet:\n  lease_ttl: 1s\n"),
              one_error("2:14: fleet.lease_ttl", "must be at least 2s, got 1s"));
  EXPECT_THAT(errors("fleet:\n  etcd: [localhost]\n"), one_error("2:10: fleet.etcd[0]", ""));
  EXPECT_THAT(errors("rollout:\n  judge:\n    alpha: 0\n"),
              one_error("3:12: rollout.judge.alpha", "must be between 0 and 1, both excluded"));
  EXPECT_THAT(errors("rollout:\n  judge:\n    quantiles: [0.5, 1]\n"),
              one_error("3:22: rollout.judge.quantiles[1]", "a quantile is between 0 and 1"));
  EXPECT_THAT(errors("rollout:\n  judge:\n    quantiles: 0.5\n"),
              one_error("3:16: rollout.judge.quantiles", "expected a list of quantiles"));
  EXPECT_THAT(errors("rollout:\n  thresholds:\n    max_error_rate: lots\n"),
              one_error("3:21: rollout.thresholds.max_error_rate", "expected a number"));
}

TEST(ConfigErrors, EmptyValueOfATypedKeyPointsAtTheKey) {
  EXPECT_THAT(errors("rollout:\n  step_duration:\nlog: {}\n"),
              one_error("2:3: rollout.step_duration", "expected a duration like 10s, got nothing"));
}

TEST(ConfigErrors, BadDurations) {
  EXPECT_THAT(errors("timeouts:\n  drain: 15\n"),
              one_error("2:10: timeouts.drain", "invalid duration '15': a unit is required"));
  EXPECT_THAT(errors("timeouts:\n  drain: 2d\n"), one_error("2:10", "unknown unit 'd'"));
  EXPECT_THAT(errors("timeouts:\n  drain: 1.5s\n"), one_error("2:10", "whole number"));
  EXPECT_THAT(errors("timeouts:\n  drain: -1s\n"), one_error("2:10", "cannot be negative"));
  EXPECT_THAT(errors("timeouts:\n  drain: 99999999999999h\n"), one_error("2:10", "too long"));
}

TEST(ConfigErrors, ZeroDurationWhereItMakesNoSense) {
  EXPECT_THAT(errors("rollout:\n  check_interval: 0s\n"),
              ElementsAre("t.yaml:2:19: rollout.check_interval: must be greater than 0, got 0s"));
  EXPECT_THAT(errors("backends:\n  health_check:\n    interval: 0ms\n    timeout: 0s\n"),
              ElementsAre(StartsWith("t.yaml:3:15: backends.health_check.interval: "),
                          StartsWith("t.yaml:4:14: backends.health_check.timeout: ")));
  EXPECT_THAT(errors("timeouts:\n  upstream_connect: 0s\n"),
              one_error("2:21: timeouts.upstream_connect", "must be greater than 0"));
  EXPECT_THAT(errors("timeouts:\n  upstream_idle: 0s\n"),
              one_error("2:18: timeouts.upstream_idle", "must be greater than 0"));
  EXPECT_THAT(errors("timeouts:\n  http2_ping_timeout: 0s\n"),
              one_error("2:23: timeouts.http2_ping_timeout", "must be greater than 0"));
  EXPECT_THAT(errors("rollout:\n  thresholds:\n    max_p99: 0ms\n"),
              one_error("3:14: rollout.thresholds.max_p99", "must be greater than 0"));
}

TEST(ConfigErrors, BadAddresses) {
  EXPECT_THAT(errors("listen: 8080\n"),
              ElementsAre("t.yaml:1:9: listen: invalid address '8080': expected host:port"));
  EXPECT_THAT(errors("listen: :8080\n"), one_error("1:9: listen", "the host is empty"));
  EXPECT_THAT(errors("listen: localhost:70000\n"), one_error("1:9: listen", "out of range"));
  EXPECT_THAT(errors("admin:\n  listen: ::1:9901\n"),
              one_error("2:11: admin.listen", "needs brackets"));
  EXPECT_THAT(errors("backends:\n  blue:\n    endpoints: [127.0.0.1:9001, 127.0.0.1:0]\n"),
              one_error("3:33: backends.blue.endpoints[1]", "the port must be 1..65535"));
}

TEST(ConfigErrors, PortZeroIsOnlyForListeners) {
  EXPECT_THAT(errors("listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\n"), IsEmpty());
}

TEST(ConfigErrors, DuplicateEndpointInOneColor) {
  EXPECT_THAT(
      errors("backends:\n  green:\n    endpoints:\n      - a:1\n      - b:2\n      - a:1\n"),
      ElementsAre("t.yaml:6:9: backends.green.endpoints[2]: duplicate endpoint a:1"));
}

TEST(ConfigErrors, LiveColorNeedsAnEndpoint) {
  EXPECT_THAT(errors("backends:\n  live: green\n  green:\n    endpoints: []\n"),
              ElementsAre("t.yaml:4:16: backends.green.endpoints: the live color (green) needs "
                          "at least one endpoint"));
  EXPECT_THAT(errors("backends:\n  blue:\n    endpoints:\n"),
              one_error("3:5: backends.blue.endpoints", "needs at least one endpoint"));
}

TEST(ConfigErrors, BadEnumValues) {
  EXPECT_THAT(errors("backends:\n  live: purple\n"),
              ElementsAre("t.yaml:2:9: backends.live: invalid value 'purple': expected one of "
                          "blue, green"));
  EXPECT_THAT(errors("log:\n  format: xml\n"),
              one_error("2:11: log.format", "expected one of text, json"));
}

TEST(ConfigErrors, WeightsOutOfRangeOrTooPrecise) {
  EXPECT_THAT(errors("rollout:\n  steps: [10, 150]\n"),
              ElementsAre("t.yaml:2:15: rollout.steps[1]: invalid weight '150': must be between "
                          "0 and 100 (percent)"));
  EXPECT_THAT(errors("rollout:\n  steps: [-5, 100]\n"),
              one_error("2:11: rollout.steps[0]", "must be between 0 and 100"));
  EXPECT_THAT(errors("rollout:\n  steps: [10.125, 100]\n"),
              one_error("2:11: rollout.steps[0]", "at most two decimals"));
  EXPECT_THAT(errors("rollout:\n  steps: [ten, 100]\n"),
              one_error("2:11: rollout.steps[0]", "expected a number, got 'ten'"));
}

TEST(ConfigErrors, StepsMustIncreaseStrictly) {
  EXPECT_THAT(errors("rollout:\n  steps: [10, 50, 50, 100]\n"),
              ElementsAre("t.yaml:2:19: rollout.steps[2]: steps must be strictly increasing: 50 "
                          "follows 50"));
  EXPECT_THAT(errors("rollout:\n  steps: [25, 10.5, 100]\n"),
              one_error("2:15: rollout.steps[1]", "10.5 follows 25"));
}

TEST(ConfigErrors, StepsMustEndAt100) {
  EXPECT_THAT(errors("rollout:\n  steps:\n    - 10\n    - 50\n"),
              ElementsAre("t.yaml:4:7: rollout.steps[1]: the last step must be 100, got 50"));
}

TEST(ConfigErrors, StepsMustNotBeEmpty) {
  EXPECT_THAT(errors("rollout:\n  steps: []\n"),
              one_error("2:10: rollout.steps", "at least one step is required"));
  EXPECT_THAT(errors("rollout:\n  steps: 50\n"),
              one_error("2:10: rollout.steps", "expected a list of steps"));
}

TEST(ConfigErrors, StepMapNeedsAWeightAndAPositiveDuration) {
  EXPECT_THAT(errors("rollout:\n  steps:\n    - {duration: 1m}\n    - 100\n"),
              ElementsAre(StartsWith("t.yaml:3:7: rollout.steps[0].weight: missing")));
  EXPECT_THAT(errors("rollout:\n  steps:\n    - weight: 100\n      duration: 0s\n"),
              one_error("4:17: rollout.steps[0].duration", "must be greater than 0"));
  EXPECT_THAT(errors("rollout:\n  steps:\n    - weight: 50.001\n"),
              one_error("3:15: rollout.steps[0].weight", "at most two decimals"));
  EXPECT_THAT(errors("rollout:\n  steps: [[10], 100]\n"),
              one_error("2:11: rollout.steps[0]", "expected a percentage or {weight"));
}

TEST(ConfigErrors, NumbersOutOfRange) {
  EXPECT_THAT(errors("workers: 1025\n"),
              ElementsAre("t.yaml:1:10: workers: must be between 0 and 1024, got 1025"));
  EXPECT_THAT(errors("workers: -1\n"), one_error("1:10: workers", "must be between 0 and 1024"));
  EXPECT_THAT(errors("workers: 2.5\n"), one_error("1:10: workers", "expected a whole number"));
  EXPECT_THAT(errors("rollout:\n  failure_limit: 0\n"),
              ElementsAre("t.yaml:2:18: rollout.failure_limit: must be at least 1, got 0"));
  EXPECT_THAT(errors("backends:\n  health_check:\n    unhealthy_after: 0\n    healthy_after: -2\n"),
              ElementsAre(StartsWith("t.yaml:3:22: backends.health_check.unhealthy_after: "
                                     "must be at least 1"),
                          StartsWith("t.yaml:4:20: backends.health_check.healthy_after: "
                                     "must be at least 1")));
  EXPECT_THAT(errors("rollout:\n  failure_limit: 99999999999\n"),
              one_error("2:18: rollout.failure_limit", "too large"));
  EXPECT_THAT(errors("limits:\n  max_connections: 0\n"),
              one_error("2:20: limits.max_connections", "must be at least 1"));
  EXPECT_THAT(errors("limits:\n  max_header_bytes: 1023\n"),
              one_error("2:21: limits.max_header_bytes", "must be at least 1024, got 1023"));
  EXPECT_THAT(errors("limits:\n  max_body_bytes: 99999999999999999999\n"),
              one_error("2:19: limits.max_body_bytes", "too large"));
}

TEST(ConfigErrors, ThresholdRanges) {
  EXPECT_THAT(errors("rollout:\n  thresholds:\n    max_error_rate: 1.5\n"),
              ElementsAre("t.yaml:3:21: rollout.thresholds.max_error_rate: must be between 0 "
                          "and 1, got 1.5"));
  EXPECT_THAT(errors("rollout:\n  thresholds:\n    max_error_rate: -0.1\n"),
              one_error("3:21", "must be between 0 and 1"));
  EXPECT_THAT(errors("rollout:\n  thresholds:\n    max_p99_increase: -0.5\n"),
              one_error("3:23: rollout.thresholds.max_p99_increase", "must be at least 0"));
  EXPECT_THAT(errors("rollout:\n  thresholds:\n    max_p99_increase: .nan\n"),
              one_error("3:23", "expected a number"));
}

TEST(ConfigErrors, HealthCheckPathStartsWithSlash) {
  EXPECT_THAT(errors("backends:\n  health_check:\n    path: healthz\n"),
              ElementsAre("t.yaml:3:11: backends.health_check.path: 'healthz' must start with "
                          "'/'"));
}

TEST(ConfigErrors, HealthCheckTypeIsHttpOrGrpc) {
  EXPECT_THAT(errors("backends:\n  health_check:\n    type: tcp\n"),
              ElementsAre("t.yaml:3:11: backends.health_check.type: invalid value 'tcp': expected "
                          "one of http, grpc"));
}

TEST(ConfigErrors, AGrpcHealthCheckHasNoPath) {
  EXPECT_THAT(errors("backends:\n  health_check:\n    type: grpc\n    path: /health\n"),
              ElementsAre("t.yaml:4:11: backends.health_check.path: not used with type: grpc (a "
                          "gRPC check calls grpc.health.v1.Health/Check): remove it, or name the "
                          "service in grpc_service"));
}

TEST(ConfigErrors, GrpcServiceNeedsTypeGrpc) {
  EXPECT_THAT(
      errors("backends:\n  health_check:\n    path: /health\n    grpc_service: shop.Cart\n"),
      ElementsAre("t.yaml:4:19: backends.health_check.grpc_service: only used with type: "
                  "grpc: set type: grpc, or remove it"));
  EXPECT_THAT(errors("backends:\n  health_check:\n    type: http\n    grpc_service: x\n"),
              one_error("4:19: backends.health_check.grpc_service", "only used with type: grpc"));
}

// A misspelt type is reported alone, not also as a path or service set for the wrong type.
TEST(ConfigErrors, ABadHealthCheckTypeHidesTheRulesThatDependOnIt) {
  EXPECT_THAT(errors("backends:\n  health_check:\n    type: gprc\n    grpc_service: x\n"),
              one_error("3:11: backends.health_check.type", "invalid value 'gprc'"));
}

TEST(ConfigErrors, HeaderNamesAreHttpTokens) {
  EXPECT_THAT(errors("routing:\n  sticky_header: X User\n"),
              one_error("2:18: routing.sticky_header", "not a valid HTTP token"));
  EXPECT_THAT(errors("routing:\n  override_header: \"X:Color\"\n"),
              one_error("2:20: routing.override_header", "not a valid HTTP token"));
  EXPECT_THAT(errors("routing:\n  sticky_cookie: a;b\n"),
              one_error("2:18: routing.sticky_cookie", "not a valid HTTP token"));
}

TEST(ConfigErrors, WebhookMustBeAnHttpOrHttpsUrl) {
  const std::vector<std::string> good{"http://hooks:8080/x",
                                      "http://hooks",
                                      "http://10.0.0.1/a/b?c=d",
                                      "http://[::1]:9000/",
                                      "https://hooks.slack.com/services/T0/B0/x",
                                      "https://hooks:8443",
                                      "https://[::1]/x"};
  for (const auto& url : good) {
    EXPECT_THAT(errors("notify:\n  webhook: " + url + "\n"), IsEmpty()) << url;
  }
  for (const std::string url : {"ftp://hooks/x", "HTTPS://hooks/x", "https:/hooks"}) {
    EXPECT_THAT(errors("notify:\n  webhook: " + url + "\n"),
                one_error("2:12: notify.webhook", "must start with http:// or https://"))
        << url;
  }
  for (const std::string url :
       {"http://", "http://:80/x", "http://h:0/", "http://h:99999", "hooks:8080/x",
        "http://u:p@h/x", "http://h/a b", "https://", "https://h:0/", "https://u:p@h/"}) {
    EXPECT_THAT(errors("notify:\n  webhook: \"" + url + "\"\n"),
                one_error("2:12: notify.webhook", "invalid webhook URL"))
        << url;
  }
}

TEST(ConfigErrors, NonLoopbackAdminNeedsAToken) {
  EXPECT_THAT(errors("admin:\n  listen: 0.0.0.0:9901\n"),
              ElementsAre("t.yaml:2:3: admin.token: a token is required when admin.listen is "
                          "not a loopback address"));
  EXPECT_THAT(errors("admin:\n  listen: 0.0.0.0:9901\n  token: \"\"\n"),
              one_error("3:10: admin.token", "a token is required"));
}

TEST(ConfigErrors, AdminCannotShareTheDataPlaneAddress) {
  EXPECT_THAT(errors("listen: 127.0.0.1:9000\nadmin:\n  listen: 127.0.0.1:9000\n"),
              one_error("3:11: admin.listen", "cannot share"));
}

TEST(ConfigErrors, EveryErrorIsReportedInFileOrder) {
  const auto found = errors(R"(
listen: nowhere
workers: 2000
backends:
  live: green
  green:
    endpoints: []
  colour: red
rollout:
  steps: [50, 25]
  failure_limit: 0
log:
  level: loud
)");
  EXPECT_THAT(found,
              ElementsAre(StartsWith("t.yaml:2:9: listen: "), StartsWith("t.yaml:3:10: workers: "),
                          StartsWith("t.yaml:7:16: backends.green.endpoints: "),
                          StartsWith("t.yaml:8:3: backends.colour: "),
                          StartsWith("t.yaml:10:15: rollout.steps[1]: steps must be"),
                          StartsWith("t.yaml:10:15: rollout.steps[1]: the last step"),
                          StartsWith("t.yaml:11:18: rollout.failure_limit: "),
                          StartsWith("t.yaml:13:10: log.level: ")));
}

}  // namespace
}  // namespace bgp
