// The prober on a loopback socket: what its probe loops do once the prober is gone (a reload
// replaces it). Run under ASan, a loop that still read the prober would fail here.
#include "controller/health_probe.h"

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>

namespace bgp {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// An endpoint that accepts a probe's connection and never answers it.
class SilentEndpoint {
 public:
  explicit SilentEndpoint(asio::io_context& io)
      : acceptor_(io, {asio::ip::make_address("127.0.0.1"), 0}), peer_(io) {
    acceptor_.async_accept(peer_, [this](const boost::system::error_code& ec) {
      if (!ec)
        asio::async_read(peer_, asio::buffer(first_bytes_),
                         [this](auto, std::size_t n) { heard_ = n > 0; });
    });
  }

  Endpoint endpoint() const {
    const auto local = acceptor_.local_endpoint();
    const Address address{"127.0.0.1", local.port()};
    Endpoint endpoint;
    endpoint.address = address;
    endpoint.label = address.to_string();
    endpoint.resolved = local;
    return endpoint;
  }
  bool heard() const { return heard_; }  // the probe's first bytes arrived

 private:
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::socket peer_;
  std::array<char, 9> first_bytes_{};  // fewer than either probe's request
  bool heard_ = false;
};

HealthCheckConfig checks(HealthCheckType type, Duration timeout) {
  HealthCheckConfig config;
  config.type = type;
  config.path = type == HealthCheckType::http ? "/health" : "";
  config.timeout = timeout;
  return config;
}

Logger quiet_logger() {
  LogConfig quiet;
  quiet.level = LogLevel::error;
  return Logger(quiet);
}

TEST(HealthProber, AGrpcCheckWithoutAnAnswerFailsAtItsTimeout) {
  asio::io_context io;
  SilentEndpoint silent(io);
  Logger log = quiet_logger();
  std::optional<bool> result;
  HealthProber prober(io, checks(HealthCheckType::grpc, 300ms), log,
                      [&](Color, const std::string&, bool success) { result = success; });
  const auto started = std::chrono::steady_clock::now();
  prober.start({{{silent.endpoint()}, {}}});
  while (!result && io.run_one_for(5s) > 0) {
  }
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(result.has_value()) << "no result within 5 s";
  EXPECT_FALSE(*result);
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 3s);
}

TEST(HealthProber, AProberReplacedInTheMiddleOfAProbeIsNeitherReadNorCalledBack) {
  for (const HealthCheckType type : {HealthCheckType::http, HealthCheckType::grpc}) {
    asio::io_context io;
    SilentEndpoint silent(io);
    Logger log = quiet_logger();
    const HealthCheckConfig config = checks(type, 300ms);
    int observed = 0;
    auto prober = std::make_unique<HealthProber>(
        io, config, log, [&](Color, const std::string&, bool) { ++observed; });
    prober->start({{{silent.endpoint()}, {}}});

    // The probe connected and sent its request: it now waits for an answer.
    while (!silent.heard() && io.run_one_for(5s) > 0) {
    }
    ASSERT_TRUE(silent.heard());
    prober.reset();  // as a reload does

    // The probe times out and its loop ends: nothing is left to run.
    io.run_for(10s);
    EXPECT_TRUE(io.stopped()) << "a probe loop outlived its prober";
    EXPECT_EQ(observed, 0) << "a stopped prober's loop reported a result";
  }
}

}  // namespace
}  // namespace bgp
