// gRPC end to end (docs/http2.md, "gRPC"): real grpcio servers on both colors behind a running
// bgproxy that speaks h2c to them, and a real grpcio client. Statuses and trailing metadata pass
// as the server sent them, and the judge counts the gRPC errors of grpc.error_codes, not HTTP's.
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "integration/harness.h"

namespace bgt {
namespace {

namespace json = boost::json;

const std::string kPeer = std::string(BGPROXY_SOURCE_DIR) + "/tests/integration/grpc_peer.py";
constexpr const char* kPython = "/usr/bin/python3";

// tests/integration/grpc_peer.py serving echo.Echo as `name`, with `options`.
ScriptServer grpc_server(std::string name, std::vector<std::string> options = {}) {
  std::vector<std::string> args{"serve", "$PORT", std::move(name)};
  args.insert(args.end(), options.begin(), options.end());
  return ScriptServer("grpc_peer.py", std::move(args));
}

// One call through the proxy: the status name, then the messages and trailing metadata lines.
std::vector<std::string> grpc_call(const Bgproxy& proxy, std::string_view method,
                                   std::string_view request) {
  const auto r =
      run_process({kPython, kPeer, "call", fmt::format("127.0.0.1:{}", proxy.proxy_port()),
                   std::string(method), std::string(request)},
                  40s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool has_line(const std::vector<std::string>& lines, std::string_view wanted) {
  return std::find(lines.begin(), lines.end(), wanted) != lines.end();
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

double grpc_responses(const Bgproxy& proxy, std::string_view color, std::string_view code) {
  return metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_grpc_responses_total",
                    {fmt::format(R"(color="{}")", color), fmt::format(R"(code="{}")", code)});
}

class GrpcTest : public ::testing::Test {
 protected:
  static std::string config(const ScriptServer& blue, const ScriptServer& green,
                            std::string rollout = {}) {
    return make_config({.blue = {blue.address()},
                        .green = {green.address()},
                        .color_keys = "protocol: h2c\n",
                        .rollout = std::move(rollout),
                        .top = "protocols: [http1, h2c]\n"});
  }
};

TEST_F(GrpcTest, AUnaryCallPassesWithItsTrailingMetadata) {
  const auto blue = grpc_server("blue-1");
  const auto green = grpc_server("green-1");
  Bgproxy proxy(config(blue, green));
  ASSERT_TRUE(proxy.start());
  const auto lines = grpc_call(proxy, "Say", "hi");
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "OK") << joined(lines);
  EXPECT_TRUE(has_line(lines, "blue-1:hi")) << joined(lines);
  EXPECT_TRUE(has_line(lines, "x-backend=blue-1")) << "trailing metadata lost: " << joined(lines);
  EXPECT_TRUE(wait_until([&] { return grpc_responses(proxy, "blue", "OK") == 1; }));

  // A server-streaming call: every message, then the status.
  const auto stream = grpc_call(proxy, "Count", "go");
  EXPECT_EQ(joined(stream), "OK\n1\n2\n3\n");
}

TEST_F(GrpcTest, ATrailersOnlyErrorAndALateErrorReachTheClientAndAreCounted) {
  const auto blue = grpc_server("blue-1");
  const auto green = grpc_server("green-1");
  Bgproxy proxy(config(blue, green));
  ASSERT_TRUE(proxy.start());

  const auto unavailable = grpc_call(proxy, "Say", "status:UNAVAILABLE");
  // A trailers-only response's head is its trailers: the proxy's Via is among them.
  EXPECT_EQ(joined(unavailable), "UNAVAILABLE\ndetails=asked for UNAVAILABLE\nvia=2.0 bgproxy\n");
  // INTERNAL after the response head (and, streaming, after two messages): in the trailers.
  const auto late = grpc_call(proxy, "Say", "late:INTERNAL");
  EXPECT_EQ(joined(late), "INTERNAL\ndetails=late INTERNAL\n");
  const auto late_stream = grpc_call(proxy, "Count", "late:INTERNAL");
  EXPECT_EQ(joined(late_stream), "INTERNAL\n1\n2\ndetails=late INTERNAL\n");
  // NOT_FOUND is no error of the default grpc.error_codes: counted, but not against the color.
  const auto not_found = grpc_call(proxy, "Say", "status:NOT_FOUND");
  EXPECT_EQ(not_found.at(0), "NOT_FOUND");

  EXPECT_TRUE(wait_until([&] {
    return grpc_responses(proxy, "blue", "UNAVAILABLE") == 1 &&
           grpc_responses(proxy, "blue", "INTERNAL") == 2 &&
           grpc_responses(proxy, "blue", "NOT_FOUND") == 1;
  })) << proxy.admin("GET", "/metrics").body;
  const auto metrics = proxy.admin("GET", "/metrics").body;
  EXPECT_EQ(metric_sum(metrics, "bgproxy_requests_total", {R"(color="blue")", R"(code="2xx")"}), 4)
      << "every gRPC answer here travels in an HTTP 200";
}

// gRPC load through the proxy until a stop file appears: the tally of statuses and backends.
class GrpcLoad {
 public:
  explicit GrpcLoad(const Bgproxy& proxy)
      : stop_file_(dir_.path() + "/stop"),
        result_(std::async(std::launch::async, [this, port = proxy.proxy_port()] {
          return run_process(
              {kPython, kPeer, "load", fmt::format("127.0.0.1:{}", port), "60", stop_file_}, 90s);
        })) {}
  ~GrpcLoad() { stop(); }
  json::value stop() {
    if (!result_.valid()) return {};
    std::ofstream(stop_file_) << "stop";
    const auto r = result_.get();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out.empty() ? json::value() : json::parse(r.out);
  }

 private:
  TempDir dir_;
  std::string stop_file_;
  std::future<ProcessResult> result_;
};

TEST_F(GrpcTest, AGreenFailingOneCallInTenWithUnavailableIsRolledBack) {
  const auto blue = grpc_server("blue-1");
  const auto green = grpc_server("green-1", {"--fail-every", "10", "UNAVAILABLE"});
  Bgproxy proxy(config(blue, green,
                       "steps: [50, 100]\nstep_duration: 1m\ncheck_interval: 200ms\n"
                       "min_requests: 20\n"));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);
  GrpcLoad load(proxy);
  const auto s = wait_status(
      proxy, [](const json::value& v) { return in_state(v, "rolled_back"); }, 60s);
  const auto tally = load.stop();
  ASSERT_TRUE(in_state(s, "rolled_back")) << json::serialize(s) << json::serialize(tally);
  EXPECT_EQ(rollback_reason(s), "error_rate") << json::serialize(s);
  EXPECT_GT(grpc_responses(proxy, "green", "UNAVAILABLE"), 0);
}

TEST_F(GrpcTest, AGreenAnsweringNotFoundToHalfItsCallsIsPromoted) {
  const auto blue = grpc_server("blue-1");
  const auto green = grpc_server("green-1", {"--fail-every", "2", "NOT_FOUND"});
  Bgproxy proxy(config(blue, green,
                       "steps: [50, 100]\nstep_duration: 1500ms\n"
                       "check_interval: 200ms\nmin_requests: 20\n"
                       "post_promotion_watch: 0s\n"));
  ASSERT_TRUE(proxy.start());
  ASSERT_EQ(proxy.admin("POST", "/rollout/start").status, 200u);
  GrpcLoad load(proxy);
  const auto s = wait_status(
      proxy, [](const json::value& v) { return !in_state(v, "progressing"); }, 60s);
  const auto tally = load.stop();
  ASSERT_EQ(string_at(s, "state"), "stable") << json::serialize(s) << json::serialize(tally);
  EXPECT_EQ(string_at(s, "live"), "green");
  EXPECT_GT(grpc_responses(proxy, "green", "NOT_FOUND"), 0);
}

}  // namespace
}  // namespace bgt
