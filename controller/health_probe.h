// Active health checks: every interval, on each endpoint with a timeout, GET health_check.path
// (type http) or a grpc.health.v1.Health/Check call over HTTP/2 (type grpc, controller/
// grpc_health.h). Results go to a callback on the control io_context; the streak logic lives in
// health.h.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "config/config.h"
#include "config/log.h"
#include "proxy/snapshot.h"

namespace bgp {

class HealthProber {
 public:
  using Observer = std::function<void(Color, const std::string& label, bool success)>;

  HealthProber(boost::asio::io_context& io, HealthCheckConfig config, Logger& log,
               Observer observer);
  ~HealthProber();

  void start(const std::array<std::vector<Endpoint>, 2>& endpoints);
  void stop();  // the probe loops end at their next wake-up

 private:
  boost::asio::awaitable<void> probe_loop(Color color, Endpoint endpoint,
                                          std::shared_ptr<bool> stopped);
  boost::asio::awaitable<bool> probe_once(const Endpoint& endpoint);
  // Sends the probe on a connected stream and reads the verdict.
  template <typename Stream>
  boost::asio::awaitable<bool> ask(Stream& stream, const Endpoint& endpoint);
  // GET health_check.path; the status line is the verdict.
  template <typename Stream>
  boost::asio::awaitable<bool> ask_http(Stream& stream, const Endpoint& endpoint);
  // Health/Check for health_check.grpc_service; a failure's reason is logged at debug level.
  template <typename Stream>
  boost::asio::awaitable<bool> ask_grpc(Stream& stream, const Endpoint& endpoint);

  boost::asio::io_context& io_;
  HealthCheckConfig config_;
  Logger& log_;
  Observer observer_;
  std::shared_ptr<bool> stopped_ = std::make_shared<bool>(false);
};

}  // namespace bgp
