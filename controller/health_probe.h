// Active health checks: every interval, on each endpoint with a timeout, GET health_check.path
// (type http) or a grpc.health.v1.Health/Check call over HTTP/2 (type grpc, controller/
// grpc_health.h). Results go to a callback on the control io_context; the streak logic lives in
// health.h.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "config/config.h"
#include "config/log.h"
#include "proxy/snapshot.h"

namespace bgp {

struct ProbeShared;  // what the probe loops share with their prober (health_probe.cpp)

class HealthProber {
 public:
  using Observer = std::function<void(Color, const std::string& label, bool success)>;

  HealthProber(boost::asio::io_context& io, HealthCheckConfig config, Logger& log,
               Observer observer);
  ~HealthProber();

  void start(const std::array<std::vector<Endpoint>, 2>& endpoints);
  void stop();  // the probe loops end at their next wake-up

 private:
  // Shared, not borrowed: a loop in the middle of a probe when its prober is replaced (a reload)
  // still reads live settings, then sees that it must stop.
  std::shared_ptr<ProbeShared> shared_;
};

}  // namespace bgp
