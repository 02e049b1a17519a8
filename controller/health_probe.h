// Active health checks: every interval, GET health_check.path on each endpoint with a timeout.
// Results go to a callback on the control io_context; the streak logic lives in health.h.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "config/config.h"
#include "proxy/snapshot.h"

namespace bgp {

class HealthProber {
 public:
  using Observer = std::function<void(Color, const std::string& label, bool success)>;

  HealthProber(boost::asio::io_context& io, HealthCheckConfig config, Observer observer);
  ~HealthProber();

  void start(const std::array<std::vector<Endpoint>, 2>& endpoints);
  void stop();  // the probe loops end at their next wake-up

 private:
  boost::asio::awaitable<void> probe_loop(Color color, Endpoint endpoint,
                                          std::shared_ptr<bool> stopped);
  boost::asio::awaitable<bool> probe_once(const Endpoint& endpoint);
  // Sends the probe on a connected stream and reads the status line.
  template <typename Stream>
  boost::asio::awaitable<bool> ask(Stream& stream, const Endpoint& endpoint);

  boost::asio::io_context& io_;
  HealthCheckConfig config_;
  Observer observer_;
  std::shared_ptr<bool> stopped_ = std::make_shared<bool>(false);
};

}  // namespace bgp
