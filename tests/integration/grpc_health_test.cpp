// The gRPC health check (backends.health_check.type: grpc, docs/http2.md "gRPC health checks")
// against real grpcio servers (tests/integration/grpc_health_server.py, /usr/bin/python3): what
// an operator sees in /metrics, /readyz, the rollout API and the log as a server's serving
// status changes.
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "integration/harness.h"

namespace bgt {
namespace {

using ::testing::Each;
using ::testing::HasSubstr;

constexpr const char* kPython = "/usr/bin/python3";
const std::string kServerScript =
    std::string(BGPROXY_SOURCE_DIR) + "/tests/integration/grpc_health_server.py";

// A grpcio server on 127.0.0.1 whose Health/Check answers the status the test sets, or (without
// the health service) UNIMPLEMENTED.
class GrpcHealthServer {
 public:
  enum class Health { implemented, missing };

  explicit GrpcHealthServer(Health health = Health::implemented) {
    std::vector<std::string> argv{kPython, kServerScript, dir_.path()};
    if (health == Health::missing) argv.push_back("--without-health");
    process_ = std::make_unique<ChildProcess>(argv, dir_.path() + "/server.log");
    std::string port;
    wait_until([&] { return !(port = read_file(dir_.path() + "/port")).empty(); }, 20s);
    port_ = port.empty() ? 0 : static_cast<std::uint16_t>(std::stoi(port));
  }

  bool listening() const { return port_ != 0; }
  std::string address() const { return fmt::format("127.0.0.1:{}", port_); }
  std::string log() const { return read_file(dir_.path() + "/server.log"); }

  // What every Check answers from now on, e.g. "NOT_SERVING"; replaced whole, never half-written.
  void set_status(std::string_view status) const {
    std::filesystem::rename(dir_.write("status.tmp", status), dir_.path() + "/status");
  }

  // The service each answered call asked about, in order.
  std::vector<std::string> services_asked() const {
    std::vector<std::string> services;
    std::istringstream lines(read_file(dir_.path() + "/calls"));
    for (std::string line; std::getline(lines, line);) services.push_back(line);
    return services;
  }

 private:
  TempDir dir_;
  std::unique_ptr<ChildProcess> process_;
  std::uint16_t port_ = 0;
};

// gRPC checks every 100 ms; two results in a row flip an endpoint.
std::string grpc_health_check(std::string_view service) {
  return fmt::format(
      "health_check:\n  type: grpc\n  grpc_service: \"{}\"\n  interval: 100ms\n  timeout: 2s\n"
      "  unhealthy_after: 2\n  healthy_after: 2\n",
      service);
}

double endpoint_healthy(const Bgproxy& proxy, const std::string& address) {
  return metric_sum(proxy.admin("GET", "/metrics").body, "bgproxy_endpoint_healthy",
                    {fmt::format(R"(endpoint="{}")", address)});
}

class GrpcHealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(run_process({kPython, "-c", "import grpc"}).exit_code, 0)
        << "these tests need grpcio (python3-grpcio) for /usr/bin/python3";
  }

  static std::string config(const std::string& blue, const std::string& green,
                            std::string_view service = "") {
    return make_config({.blue = {blue},
                        .green = {green},
                        .backends = grpc_health_check(service),
                        .top = "log:\n  level: debug\n"});
  }
};

TEST_F(GrpcHealthTest, AServingEndpointStaysHealthyAndFollowsItsServingStatus) {
  GrpcHealthServer blue, green;
  ASSERT_TRUE(blue.listening()) << blue.log();
  ASSERT_TRUE(green.listening()) << green.log();
  Bgproxy proxy(config(blue.address(), green.address(), "shop.Cart"));
  ASSERT_TRUE(proxy.start());

  // Past unhealthy_after answered checks, still healthy: every one of them passed.
  ASSERT_TRUE(wait_until([&] { return blue.services_asked().size() >= 3; }, 20s)) << blue.log();
  EXPECT_THAT(blue.services_asked(), Each(std::string("shop.Cart")));
  EXPECT_EQ(endpoint_healthy(proxy, blue.address()), 1);
  EXPECT_EQ(proxy.admin("GET", "/readyz").status, 200u);

  blue.set_status("NOT_SERVING");
  EXPECT_TRUE(wait_until([&] { return proxy.admin("GET", "/readyz").status == 503; }, 20s));
  EXPECT_EQ(endpoint_healthy(proxy, blue.address()), 0);
  EXPECT_TRUE(proxy.wait_log(fmt::format("endpoint {} (blue) is now unhealthy", blue.address())));
  EXPECT_THAT(proxy.log(), HasSubstr(fmt::format("gRPC health check of {} failed: NOT_SERVING",
                                                 blue.address())));
  EXPECT_EQ(endpoint_healthy(proxy, green.address()), 1) << "green still serves";

  blue.set_status("SERVING");
  EXPECT_TRUE(wait_until([&] { return proxy.admin("GET", "/readyz").status == 200; }, 20s));
  EXPECT_EQ(endpoint_healthy(proxy, blue.address()), 1);
  EXPECT_TRUE(proxy.wait_log(fmt::format("endpoint {} (blue) is now healthy", blue.address())));
}

// A candidate must pass a check before a rollout starts: SERVING is a pass.
TEST_F(GrpcHealthTest, ARolloutStartsOnceTheCandidateAnsweredServing) {
  GrpcHealthServer blue, green;
  ASSERT_TRUE(blue.listening()) << blue.log();
  ASSERT_TRUE(green.listening()) << green.log();
  Bgproxy proxy(config(blue.address(), green.address()));
  ASSERT_TRUE(proxy.start());
  EXPECT_TRUE(wait_until([&] { return proxy.admin("POST", "/rollout/start").status == 200; }, 20s));
  EXPECT_THAT(green.services_asked(), Each(std::string(""))) << "the server as a whole";
}

TEST_F(GrpcHealthTest, AServerWithoutTheHealthServiceIsUnhealthy) {
  GrpcHealthServer blue;
  GrpcHealthServer green(GrpcHealthServer::Health::missing);
  ASSERT_TRUE(blue.listening()) << blue.log();
  ASSERT_TRUE(green.listening()) << green.log();
  Bgproxy proxy(config(blue.address(), green.address()));
  ASSERT_TRUE(proxy.start());

  ASSERT_TRUE(wait_until([&] { return endpoint_healthy(proxy, green.address()) == 0; }, 20s));
  EXPECT_THAT(proxy.log(), HasSubstr(fmt::format(
                               "gRPC health check of {} failed: grpc-status 12 (UNIMPLEMENTED)",
                               green.address())));
  const auto refused = proxy.admin("POST", "/rollout/start");
  EXPECT_EQ(refused.status, 409u);
  EXPECT_THAT(refused.body, HasSubstr("green has no healthy endpoint"));
  EXPECT_EQ(endpoint_healthy(proxy, blue.address()), 1);
}

// A gRPC check pointed at an HTTP/1.1 server (a wrong port, a backend that is not gRPC) fails.
TEST_F(GrpcHealthTest, AnHttp1EndpointFailsTheCheck) {
  GrpcHealthServer blue;
  ASSERT_TRUE(blue.listening()) << blue.log();
  TestBackend green("green-1");
  Bgproxy proxy(config(blue.address(), green.address()));
  ASSERT_TRUE(proxy.start());
  ASSERT_TRUE(wait_until([&] { return endpoint_healthy(proxy, green.address()) == 0; }, 20s));
  // TestBackend closes the connection on the HTTP/2 preface; another server may answer 400.
  EXPECT_THAT(proxy.log(),
              HasSubstr(fmt::format("gRPC health check of {} failed: ", green.address())));
}

}  // namespace
}  // namespace bgt
