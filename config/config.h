// The configuration of docs/configuration.md as plain structs, with every default, and its YAML
// loader.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/color.h"
#include "config/grpc_status.h"

namespace bgp {

using Duration = std::chrono::milliseconds;
using namespace std::chrono_literals;

struct Address {
  std::string host;  // without brackets, e.g. "::1"
  std::uint16_t port = 0;

  std::string to_string() const;  // "host:port" or "[::1]:port"
  bool operator==(const Address&) const = default;
};

struct AdminConfig {
  Address listen{"127.0.0.1", 9901};
  std::string token;                   // "" = none
  std::string token_file;              // read at load time into `token` when set
  std::uint64_t max_connections = 64;  // open at once; more are closed at once
  Duration idle_timeout = 10s;         // a connection with no request this long is closed
  bool operator==(const AdminConfig&) const = default;
};

// What an active check asks (docs/configuration.md, "backends"): an HTTP GET of `path`, or the
// gRPC health protocol (grpc.health.v1.Health/Check over HTTP/2).
enum class HealthCheckType { http, grpc };

struct HealthCheckConfig {
  HealthCheckType type = HealthCheckType::http;
  std::string path;          // the HTTP check's path; "" = no HTTP check
  std::string grpc_service;  // the service a gRPC check asks about; "" = the server as a whole
  Duration interval = 5s;
  Duration timeout = 1s;
  int unhealthy_after = 3;
  int healthy_after = 2;

  bool enabled() const noexcept { return type == HealthCheckType::grpc || !path.empty(); }
  bool operator==(const HealthCheckConfig&) const = default;
};

// TLS to one color's endpoints (docs/configuration.md, "TLS").
struct BackendTlsConfig {
  bool enabled = false;
  std::string ca;           // PEM file of trusted CAs; "" = the system store
  std::string server_name;  // SNI and the name verified; "" = the endpoint's host
  bool verify = true;       // verify the upstream's certificate chain and name
  bool operator==(const BackendTlsConfig&) const = default;
};

// How a color's endpoints are spoken to: HTTP/1.1, HTTP/2 in cleartext by prior knowledge (h2c),
// or HTTP/2 over TLS (h2, negotiated by ALPN; needs tls.enabled).
enum class UpstreamProtocol { http1, h2c, h2 };

struct ColorBackends {
  std::vector<Address> endpoints;
  UpstreamProtocol protocol = UpstreamProtocol::http1;
  BackendTlsConfig tls = {};
  bool operator==(const ColorBackends&) const = default;
};

struct BackendsConfig {
  Color live = Color::blue;
  ColorBackends blue{{{"127.0.0.1", 9001}}};
  ColorBackends green{{{"127.0.0.1", 9002}}};
  HealthCheckConfig health_check;

  const ColorBackends& of(Color c) const { return c == Color::blue ? blue : green; }
  bool operator==(const BackendsConfig&) const = default;
};

struct RolloutStep {
  std::uint32_t weight_bp = 0;       // candidate share in basis points (10.5% = 1050)
  std::optional<Duration> duration;  // else rollout.step_duration
  bool operator==(const RolloutStep&) const = default;
};

struct Thresholds {
  double max_error_rate = 0.02;
  Duration max_p99 = 2000ms;
  double max_p99_increase = 0.5;
  Duration p99_noise_floor = 5ms;
  bool operator==(const Thresholds&) const = default;
};

// The judge (docs/judge.md): the bound on false rollbacks and the compared latency quantiles.
struct JudgeConfig {
  double alpha = 0.01;  // chance that a healthy candidate is ever rolled back in one rollout
  std::vector<double> quantiles{0.5, 0.9, 0.99};
  bool operator==(const JudgeConfig&) const = default;
};

struct RolloutConfig {
  std::vector<RolloutStep> steps{{1000, {}}, {2500, {}}, {5000, {}}, {7500, {}}, {10000, {}}};
  Duration step_duration = 5min;
  Duration check_interval = 10s;
  std::uint64_t min_requests = 100;
  int failure_limit = 1;
  bool auto_start = false;
  Duration retain_previous = 24h;
  Thresholds thresholds;
  JudgeConfig judge;
  Duration post_promotion_watch = 30min;  // the new live color is still judged this long; 0 = off

  Duration duration_of(std::size_t step) const {
    return steps.at(step).duration.value_or(step_duration);
  }
  bool operator==(const RolloutConfig&) const = default;
};

struct RoutingConfig {
  std::string sticky_header;
  std::string sticky_cookie;
  std::string override_header = "X-Bluegreen";
  bool operator==(const RoutingConfig&) const = default;
};

struct TimeoutsConfig {
  Duration client_header = 10s;
  Duration client_idle = 60s;
  Duration upstream_connect = 1s;
  Duration upstream_response = 30s;
  Duration upstream_idle = 30s;        // a pooled upstream connection unused this long is closed
  Duration http2_ping_interval = 10s;  // an HTTP/2 upstream connection silent this long is pinged
  Duration http2_ping_timeout = 5s;    // ...and dead when the PING is not answered this soon
  Duration drain = 15s;
  bool operator==(const TimeoutsConfig&) const = default;
};

struct LimitsConfig {
  std::uint64_t max_header_bytes = 16384;
  std::uint64_t max_body_bytes = 10485760;  // 0 = unlimited
  std::uint64_t max_connections = 10000;
  bool operator==(const LimitsConfig&) const = default;
};

enum class TlsVersion { v1_2, v1_3 };  // 1.0 and 1.1 are refused (RFC 8996)

// The TLS listener (docs/configuration.md, "TLS"): off unless `listen` is set.
struct TlsConfig {
  std::optional<Address> listen;
  std::string cert;  // PEM: the leaf certificate, then its intermediates
  std::string key;   // PEM private key, unencrypted
  TlsVersion min_version = TlsVersion::v1_2;
  std::vector<std::string> alpn{"http/1.1"};  // offered in this order of preference

  bool enabled() const noexcept { return listen.has_value(); }
  bool operator==(const TlsConfig&) const = default;
};

struct NotifyConfig {
  std::string webhook;     // "" = off; http[s]://host[:port][/path]
  std::string webhook_ca;  // PEM file of CAs trusted for an https webhook; "" = the system store
  bool operator==(const NotifyConfig&) const = default;
};

enum class LogLevel { debug, info, warn, error };
enum class LogFormat { text, json };

struct LogConfig {
  LogLevel level = LogLevel::info;
  LogFormat format = LogFormat::text;
  bool access = false;      // one access line per request (docs/configuration.md)
  std::string access_file;  // where access lines go: "" = stdout
  bool operator==(const LogConfig&) const = default;
};

// N processes sharing one rollout through etcd (docs/fleet.md); no etcd = one process.
struct FleetConfig {
  std::vector<Address> etcd;        // etcd members' client addresses; empty = one process
  std::string cluster = "default";  // keys live under /bgproxy/<cluster>/
  std::string replica_id;           // "" = hostname:admin-port
  Duration lease_ttl = 3s;          // a dead leader is replaced after about this long (>= 2s)

  bool enabled() const noexcept { return !etcd.empty(); }
  bool operator==(const FleetConfig&) const = default;
};

// How gRPC exchanges are judged (docs/http2.md, "gRPC").
struct GrpcConfig {
  GrpcCodeSet error_codes = kDefaultGrpcErrorCodes;  // statuses that count as the server failing
  bool operator==(const GrpcConfig&) const = default;
};

struct Config {
  Address listen{"127.0.0.1", 8080};
  bool h2c = false;      // `protocols: [http1, h2c]`: HTTP/2 by prior knowledge on `listen` too
  unsigned workers = 0;  // 0 = one per CPU core
  TlsConfig tls;
  AdminConfig admin;
  BackendsConfig backends;
  RolloutConfig rollout;
  RoutingConfig routing;
  TimeoutsConfig timeouts;
  LimitsConfig limits;
  GrpcConfig grpc;
  std::string state_file;
  FleetConfig fleet;
  NotifyConfig notify;
  LogConfig log;

  unsigned worker_count() const;  // resolves 0 to the core count
};

// One problem in a config file, printed as `FILE:LINE:COL: key.path: message` (1-based line/col).
struct ConfigError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key_path;  // e.g. "rollout.steps[2]"
  std::string message;

  std::string to_string() const;
};

// Either a config or every error found (never just the first one).
struct ConfigResult {
  std::optional<Config> config;
  std::vector<ConfigError> errors;

  bool ok() const { return config.has_value(); }
};

ConfigResult load_config_file(const std::string& path);
// `source_name` stands in for the file name in error messages.
ConfigResult load_config_string(std::string_view yaml, std::string_view source_name);

// Parsers shared with the admin API and the command line.
std::optional<Duration> parse_duration(std::string_view text);  // "250ms" "10s" "5m" "24h"
std::string format_duration(Duration d);                        // the inverse, shortest unit
std::optional<Address> parse_address(std::string_view text);    // "host:port", "[::1]:port"
std::optional<std::uint32_t> parse_weight_bp(double percent);   // 0..100, two decimals -> bp

// The admin address is loopback (127.0.0.0/8, ::1, localhost).
bool is_loopback(const Address& address);

}  // namespace bgp
