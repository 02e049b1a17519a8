// An in-process Server wired to a snapshot the test publishes, for tests over loopback sockets.
#pragma once

#include <memory>
#include <vector>

#include "config/config.h"
#include "config/log.h"
#include "metrics/stats.h"
#include "proxy/server.h"
#include "proxy/snapshot.h"
#include "proxy/test_http.h"

namespace bgp::testing {

inline Endpoint endpoint_at(const tcp::endpoint& where, bool healthy = true) {
  Address address{where.address().to_string(), where.port()};
  return Endpoint{address, address.to_string(), where, healthy};
}

class ProxyHarness {
 public:
  ProxyHarness() {
    config.listen = {"127.0.0.1", 0};
    config.workers = 1;
  }

  // Publishes the first snapshot and starts the server. Tweak `config` before.
  void start(std::vector<Endpoint> blue, std::vector<Endpoint> green = {},
             Weights weights = Weights::all_to(Color::blue)) {
    publish(std::move(blue), std::move(green), weights);
    stats_ = std::make_unique<StatsRegistry>(config.worker_count());
    server_ = std::make_unique<Server>(config, slot_, *stats_, log_);
    server_->start();
  }

  // Replaces the snapshot (as the controller does); `config` as it is now goes with it.
  void publish(std::vector<Endpoint> blue, std::vector<Endpoint> green,
               Weights weights = Weights::all_to(Color::blue), Color live = Color::blue) {
    auto snapshot = std::make_shared<RoutingSnapshot>();
    snapshot->version = ++version_;
    snapshot->live = live;
    snapshot->weights = weights;
    snapshot->endpoints[index(Color::blue)] = std::move(blue);
    snapshot->endpoints[index(Color::green)] = std::move(green);
    snapshot->config = std::make_shared<const Config>(config);
    slot_.publish(std::move(snapshot));
  }

  tcp::endpoint proxy() const { return server_->local_endpoint(); }
  Server& server() { return *server_; }
  // What worker `i` has recorded so far (its connections open now, its requests).
  StatsTotals worker_totals(std::size_t i) const {
    StatsTotals totals;
    stats_->shard(i).add_to(totals);
    return totals;
  }
  // Stops the server (every record written), then sums the shards.
  StatsTotals totals_after_stop() {
    server_->drain(std::chrono::seconds(5));
    return stats_->totals();
  }

  Config config;

 private:
  std::uint64_t version_ = 0;
  SnapshotSlot slot_;
  Logger log_{[] {
    LogConfig quiet;
    quiet.level = LogLevel::error;
    return quiet;
  }()};
  std::unique_ptr<StatsRegistry> stats_;
  std::unique_ptr<Server> server_;  // last: stops before the rest goes
};

}  // namespace bgp::testing
