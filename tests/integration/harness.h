// The integration-test harness: the real bgproxy binary on loopback, in-test HTTP backends whose
// behaviour a test changes at run time, a blocking HTTP client, a background traffic loop, and
// child-process helpers for the CLI, promtool and Prometheus.
//
// Typical use:
//   TestBackend blue("blue-1"), green("green-1");
//   Bgproxy proxy(make_config({.blue = {blue.address()}, .green = {green.address()}}));
//   ASSERT_TRUE(proxy.start());
//   Tally t = send_requests(proxy.proxy_port(), 100);
//   EXPECT_EQ(t.of("blue"), 100);
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

#include "support/http_reply.h"
#include "support/wait_until.h"

namespace bgt {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

using bgp::testing::wait_until;

// A loopback port that was free a moment ago (bind 127.0.0.1:0, read, close).
std::uint16_t free_port();

// ---------------------------------------------------------------------------------------------
// HTTP client

using bgp::testing::Headers;

struct HttpResponse {
  unsigned status = 0;  // 0 when no response arrived (see `error`)
  Headers headers;
  std::string body;
  std::string error;  // the transport error, "" when a response arrived
  bool keep_alive = false;

  std::string header(std::string_view name) const;  // case-insensitive; "" when absent
  boost::json::value json() const;                  // the body parsed; null when not JSON
};

// A blocking HTTP/1.1 client on one connection to 127.0.0.1:port. With keep-alive the connection
// is reused until either side closes it; the next request then connects again.
class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port, Ms timeout = 10s);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Adds Host (and Content-Length) itself. Never throws: failures come back in `error`.
  HttpResponse request(std::string_view method, std::string_view target,
                       const Headers& headers = {}, std::string_view body = {},
                       bool keep_alive = true);
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One request on a fresh connection (Connection: close).
HttpResponse http_request(std::uint16_t port, std::string_view method, std::string_view target,
                          const Headers& headers = {}, std::string_view body = {},
                          Ms timeout = 10s);

// Writes `bytes` on a fresh connection and returns everything read until the peer closes or
// `timeout` passes (for malformed or hand-framed requests).
std::string raw_exchange(std::uint16_t port, std::string_view bytes, Ms timeout = 5s);

// "blue" or "green" when the body starts with that color (TestBackend bodies do), else "".
std::string color_of(const HttpResponse& response);

// Counts of responses by the color that answered and by status (0 = transport failure).
struct Tally {
  std::map<std::string, int> by_color;
  std::map<unsigned, int> by_status;
  int total = 0;

  void add(const HttpResponse& response);
  void merge(const Tally& other);
  int of(std::string_view color) const;
  int status(unsigned code) const;
  std::string to_string() const;  // for assertion messages
};

// `n` requests, one after another on one keep-alive connection.
Tally send_requests(std::uint16_t port, int n, const Headers& headers = {},
                    std::string_view target = "/");

// Requests from a background thread per connection, until stop(), `max_duration` or
// `max_requests` (all connections together), whichever comes first.
class TrafficLoop {
 public:
  struct Options {
    int connections = 2;
    Ms pause{0};  // between two requests of one connection
    Ms max_duration{60s};
    int max_requests = 200'000;
    std::string target = "/";
    Headers headers{};
  };

  explicit TrafficLoop(std::uint16_t port) : TrafficLoop(port, Options{}) {}
  TrafficLoop(std::uint16_t port, Options options);
  ~TrafficLoop();
  TrafficLoop(const TrafficLoop&) = delete;
  TrafficLoop& operator=(const TrafficLoop&) = delete;

  void stop();          // joins the threads; idempotent
  Tally tally() const;  // so far

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// Backends

struct ReceivedRequest {
  std::string method;
  std::string target;
  std::string version;  // "1.1"
  Headers headers;
  std::string body;

  std::string header(std::string_view name) const;  // case-insensitive; "" when absent
};

// An HTTP/1.1 keep-alive server on 127.0.0.1 (a free port) on its own thread. Every answer carries
// `X-Backend: NAME`; its body is NAME (plus padding), or with echo on a JSON echo of the request:
// {"backend", "method", "target", "version", "headers": [[name, value], ...], "body"}.
// Every setter is thread-safe and takes effect from the next request.
class TestBackend {
 public:
  static constexpr std::size_t kKeepReceived = 1000;  // received() keeps the last ones

  explicit TestBackend(std::string name);  // e.g. "blue-1"
  ~TestBackend();
  TestBackend(const TestBackend&) = delete;
  TestBackend& operator=(const TestBackend&) = delete;

  const std::string& name() const;
  std::uint16_t port() const;
  std::string address() const;  // "127.0.0.1:PORT"

  void set_status(unsigned status);  // for every answer (default 200)
  // This fraction of answers are 500, spread evenly (rate 0.2: every 5th), not at random.
  void set_error_rate(double rate);
  void set_latency(Ms latency);  // before the response headers
  // Before the response headers: base + an exponential with this mean (seeded by the name).
  void set_noisy_latency(std::chrono::microseconds base, std::chrono::microseconds mean);
  // "Slow": the headers at once, then the body in `pieces` writes `gap` apart.
  void set_slow(Ms gap, int pieces = 5);
  void set_body_padding(std::size_t bytes);  // appends this many '.' to the body
  void set_echo(bool on);
  // Overrides status and error rate for one path (e.g. a health-check path); 0 removes it.
  void set_path_status(std::string path, unsigned status);

  std::uint64_t requests() const;     // requests answered (or being answered)
  std::uint64_t connections() const;  // connections accepted
  // The most requests read whole and not yet answered at one time (the latency wait included,
  // whether or not the client still listens), since the start.
  std::uint64_t max_in_flight() const;
  // Connections that ended in the middle of a request: part of its head or body had arrived.
  std::uint64_t incomplete_requests() const;
  std::vector<ReceivedRequest> received() const;

  void stop();     // stops listening and closes every connection (a dead endpoint)
  void restart();  // listens again on the same port

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// Processes

// A temporary directory, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string write(std::string_view name, std::string_view content) const;  // its full path

 private:
  std::string path_;
};

std::string read_file(const std::string& path);  // "" when unreadable

// A child process with stdout and stderr appended to `log_path`. Killed (SIGTERM, then SIGKILL
// after `grace`) on destruction if still running.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int signal);
  // The exit code (128 + N when killed by signal N), or nullopt while it still runs.
  std::optional<int> wait_exit(Ms timeout);
  std::optional<int> terminate(Ms grace = 5s);  // SIGTERM, then SIGKILL after `grace`

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// A server script of tests/integration run by /usr/bin/python3 on a free loopback port: `args`
// with $PORT replaced by the port. Ready once the script printed "listening"; stopped with its
// owner.
class ScriptServer {
 public:
  ScriptServer(std::string_view script, std::vector<std::string> args);
  std::uint16_t port() const { return port_; }
  std::string address() const;  // "127.0.0.1:PORT"

 private:
  TempDir dir_;
  std::uint16_t port_;
  std::optional<ChildProcess> process_;
};

struct ProcessResult {
  std::optional<int> exit_code;  // nullopt when killed at the timeout
  std::string out;
  std::string err;
};

// Runs `argv` to completion (killed at `timeout`); `stdin_data` is its standard input.
ProcessResult run_process(const std::vector<std::string>& argv, Ms timeout = 10s,
                          std::string_view stdin_data = {},
                          const std::vector<std::string>& extra_env = {});
// `bgproxy ARGS...` (the binary under test).
ProcessResult run_cli(const std::vector<std::string>& args, Ms timeout = 10s,
                      const std::vector<std::string>& extra_env = {});

// ---------------------------------------------------------------------------------------------
// bgproxy

// The YAML of a test config. Each section string is indented under its key by make_config, e.g.
// .rollout = "step_duration: 1s\ncheck_interval: 100ms". listen and admin.listen use the
// placeholders $PROXY_PORT and $ADMIN_PORT that Bgproxy fills in.
struct ConfigSpec {
  std::vector<std::string> blue{};   // endpoint addresses
  std::vector<std::string> green{};  // endpoint addresses
  std::string admin{};               // extra keys under admin:
  std::string backends{};            // extra keys under backends: (live, health_check)
  std::string color_keys{};          // extra keys under backends.blue and backends.green
  std::string rollout{};             // under rollout:
  std::string routing{};             // under routing:
  std::string timeouts = "drain: 2s";
  std::string top{};  // extra top-level keys (state_file, notify, limits, log, ...)
};
std::string make_config(const ConfigSpec& spec);
// Fills $PROXY_PORT and $ADMIN_PORT (0 = a free port) for a config run without Bgproxy.
std::string with_ports(std::string config_yaml, std::uint16_t proxy_port = 0,
                       std::uint16_t admin_port = 0);

// Health checks for tests (under backends:): probed every 100 ms, `after` results flip a state.
inline std::string fast_health_check(int after) {
  const std::string n = std::to_string(after);
  return "health_check:\n  path: /health\n  interval: 100ms\n  timeout: 500ms\n"
         "  unhealthy_after: " +
         n + "\n  healthy_after: " + n + "\n";
}

// A fast rollout for tests: 1 s steps, checks every 100 ms, 20 requests make a window count.
inline constexpr std::string_view kFastRollout =
    "step_duration: 1s\ncheck_interval: 100ms\nmin_requests: 20\n";

// One bgproxy process (`bgproxy run -c FILE`) with its own temp dir holding the config and the log.
// The config may use $PROXY_PORT and $ADMIN_PORT (free loopback ports chosen here) and $DIR (the
// temp dir, e.g. for state_file). The destructor stops the process and, if the test failed,
// prints its log.
class Bgproxy {
 public:
  explicit Bgproxy(std::string config_yaml);
  ~Bgproxy();
  Bgproxy(const Bgproxy&) = delete;
  Bgproxy& operator=(const Bgproxy&) = delete;

  // Launches and waits for GET /healthz = 200. On failure: a test failure with the log, false.
  // Retries with other ports if the ones picked were taken meanwhile.
  [[nodiscard]] bool start(Ms timeout = 10s);
  void launch();  // without waiting
  // Runs the binary through `prefix` (a command that execs it, e.g. {"prlimit", "--nofile=256"}).
  void set_launcher(std::vector<std::string> prefix) { launcher_ = std::move(prefix); }
  [[nodiscard]] bool wait_healthy(Ms timeout = 10s);
  // Starts the binary again with the same config file, ports and temp dir (after it exited).
  [[nodiscard]] bool restart(Ms timeout = 10s);
  void rewrite_config(std::string config_yaml);  // same placeholders; for SIGHUP

  bool running();
  pid_t pid() const;  // of the running process, -1 before launch()
  void signal(int signal);
  std::optional<int> wait_exit(Ms timeout);  // exit code, nullopt while it runs

  std::string log() const;
  bool wait_log(std::string_view text, Ms timeout = 5s) const;

  HttpResponse admin(std::string_view method, std::string_view path, std::string_view body = {},
                     Headers headers = {}) const;
  boost::json::value status() const;  // GET /status parsed (null + test failure on error)

  std::uint16_t proxy_port() const { return proxy_port_; }
  std::uint16_t admin_port() const { return admin_port_; }
  std::string admin_url() const;  // "http://127.0.0.1:PORT"
  const std::string& dir() const { return dir_.path(); }
  const std::string& config_path() const { return config_path_; }
  std::string log_path() const;

 private:
  void pick_ports();
  void write_config();

  TempDir dir_;
  std::string config_template_;
  std::string config_path_;
  std::uint16_t proxy_port_ = 0;
  std::uint16_t admin_port_ = 0;
  std::unique_ptr<ChildProcess> process_;
  std::vector<std::string> launcher_;
};

// Small readers of /status JSON: the number at `key` of an object (NaN when absent).
double number_at(const boost::json::value& object, std::string_view key);
std::string string_at(const boost::json::value& object, std::string_view key);  // "" if absent
// weights.<color> of a /status answer.
double weight_of(const boost::json::value& status, std::string_view color);
// window.<color>.requests of a /status answer.
double window_requests(const boost::json::value& status, std::string_view color);

// Polls /status until `predicate(status)` (every 20 ms, up to `timeout`); the last status seen.
template <typename Predicate>
boost::json::value wait_status(const Bgproxy& proxy, Predicate predicate, Ms timeout) {
  boost::json::value last;
  wait_until(
      [&] {
        last = proxy.status();
        return predicate(last);
      },
      timeout, 20ms);
  return last;
}

bool in_state(const boost::json::value& status, std::string_view state);  // "state" of /status
// Starts a rollout and sends traffic until the judge rolls it back (the candidate must be bad);
// false if it did not within `timeout`.
bool start_and_drive_until_rolled_back(const Bgproxy& proxy, Ms timeout = 15s);
std::string rollback_reason(const boost::json::value& status);  // last_rollback.reason or ""

// The sum of the samples of metric `name` in a Prometheus text exposition whose labels include
// every `label="value"` of `labels` (all samples of `name` when empty).
double metric_sum(const std::string& exposition, std::string_view name,
                  const std::vector<std::string>& labels = {});
// Polls the proxy's /metrics until metric_sum(name, labels) reaches `at_least` (requests are
// recorded just after their answer went out); the last sum seen.
double wait_metric(const Bgproxy& proxy, std::string_view name,
                   const std::vector<std::string>& labels, double at_least, Ms timeout = 10s);

}  // namespace bgt
