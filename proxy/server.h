// The data plane: one event loop per worker thread, each with its own SO_REUSEPORT listener,
// upstream pool, stats shard and snapshot cache (shared nothing on the hot path). A new connection
// goes to the worker with the fewest open connections, whichever listener accepted it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "config/config.h"
#include "config/log.h"
#include "metrics/stats.h"
#include "proxy/snapshot.h"

namespace bgp {

class Server {
 public:
  // `stats` has one shard per worker (worker i writes shard i only). The slot already holds a
  // snapshot; every request reads the newest one (routing, and the timeouts and limits of the
  // config every snapshot carries).
  Server(const Config& config, const SnapshotSlot& routing, StatsRegistry& stats, Logger& log);
  ~Server();  // stops and joins if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds one listener per worker on config.listen (SO_REUSEPORT) and starts config.worker_count()
  // threads. Throws std::system_error when the address cannot be bound (port in use),
  // std::invalid_argument when `stats` has fewer shards than workers, std::logic_error when the
  // slot holds no snapshot with a config yet.
  void start();

  // At most `connections` downstream connections whatever limits.max_connections says: what the
  // descriptor limit leaves the data plane (config/descriptors.h). Before start().
  void limit_connections(std::uint64_t connections) noexcept { connection_cap_ = connections; }

  // The bound address (with listen port 0: the port picked by the system).
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  // The TLS listener's bound address, when tls.listen is configured.
  std::optional<boost::asio::ip::tcp::endpoint> tls_endpoint() const;

  // Stops accepting, closes idle keep-alive connections, lets requests in flight finish (their
  // responses carry Connection: close) up to `timeout`, then closes everything and joins.
  void drain(Duration timeout);

  // After a reload: every worker closes at once its pooled connections to endpoints the new
  // config no longer has (call after the new snapshot was published).
  void routing_changed();

  std::uint64_t open_connections() const noexcept {
    return open_connections_.load(std::memory_order_relaxed);
  }
  // Keep-alive connections idle long enough to have given up their session (see park()).
  std::uint64_t parked_connections() const noexcept;

 private:
  class Worker;

  bool wait_for_workers(std::chrono::steady_clock::time_point deadline);
  void join_workers();

  std::shared_ptr<const Config> config_;
  const SnapshotSlot& routing_;
  StatsRegistry& stats_;
  Logger& log_;
  std::atomic<std::uint64_t> open_connections_{0};  // all workers: limits.max_connections
  std::uint64_t connection_cap_ = UINT64_MAX;       // set before the workers start
  boost::asio::ip::tcp::endpoint local_endpoint_;
  std::optional<boost::asio::ip::tcp::endpoint> tls_endpoint_;
  std::vector<std::unique_ptr<Worker>> workers_;
  bool running_ = false;
};

}  // namespace bgp
