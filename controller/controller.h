// The control loop: every check_interval it reads the step window from the stats shards, calls the
// pure rollout decision, publishes a new routing snapshot when the weights or health change, keeps
// the state file and posts webhook events. Runs on one io_context (the control thread) together
// with the admin API, so nothing here needs a lock.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.h"
#include "config/log.h"
#include "controller/api.h"
#include "controller/health.h"
#include "controller/rollout.h"
#include "controller/state_store.h"
#include "metrics/exporter.h"
#include "metrics/stats.h"
#include "proxy/snapshot.h"

namespace bgp {

class HealthProber;
class Notifier;

class Controller {
 public:
  using Clock = std::function<TimePoint()>;

  Controller(
      boost::asio::io_context& io, std::shared_ptr<const Config> config, SnapshotSlot& routing,
      const StatsRegistry& stats, Logger& log,
      Clock clock = [] { return std::chrono::system_clock::now(); });
  ~Controller();

  // Loads the state file (throws std::runtime_error naming it when corrupt) and publishes the
  // first snapshot. Call before the data plane starts.
  void restore();
  // Starts the check timer, the health probes and, with rollout.auto_start, a rollout.
  void start();
  void stop();
  // SIGHUP with a valid file: new endpoints, routing, timeouts and policy; the rollout state stays.
  // Refused (the running config stays) when it would leave the live color, as the state has it,
  // or the retained color without endpoints: the reason, else nullopt.
  std::optional<std::string> reload(std::shared_ptr<const Config> config);
  void set_data_plane_listening(bool listening) { listening_ = listening; }

  bool ready() const;
  ApiResult status() const;
  ApiResult start_rollout(const boost::json::object& body);
  ApiResult pause();
  ApiResult resume();
  ApiResult promote();
  ApiResult rollback();
  ApiResult set_weights(const boost::json::object& body);

  ControlView control_view() const;  // for /metrics

 private:
  void start_probes();
  void schedule_check();
  void check();
  // Every operator transition: the measurements so far go into the windows first, then `op`.
  template <typename Op>
  ApiResult apply(std::string_view action, Op op);
  void commit(RolloutState next, bool weights_changed);
  void publish_snapshot();
  void on_probe(Color color, const std::string& label, bool success);
  void announce(std::string_view event, std::string_view detail);
  // The split-routed requests since the last reading; take_fresh() moves the reading on, so
  // every request lands in exactly one window.
  ColorSamples take_fresh();
  ColorSamples peek_fresh() const;
  ColorSamples current_window() const;  // the step window with what came since the last check
  void persist();
  std::optional<std::string> endpoint_problem(const Config& config) const;

  boost::asio::io_context& io_;
  std::shared_ptr<const Config> config_;
  SnapshotSlot& routing_;
  const StatsRegistry& stats_;
  Logger& log_;
  Clock clock_;

  std::array<std::vector<Endpoint>, 2> endpoints_;  // resolved once per config
  RolloutState state_;
  StatsTotals last_reading_;            // the shard totals at the last reading
  std::vector<RuleEvidence> evidence_;  // the judge's rules at the last check
  HealthTable health_;
  std::unique_ptr<HealthProber> prober_;
  std::unique_ptr<Notifier> notifier_;
  boost::asio::steady_timer check_timer_;
  std::uint64_t snapshot_version_ = 0;
  bool listening_ = false;
  // The state file in use (fixed at start; a reload does not move it), its lock, and the last
  // write's error: a decision holds in memory and the write is retried at every check.
  std::string state_path_;
  std::unique_ptr<StateFileLock> state_lock_;
  std::optional<std::string> persist_error_;
  std::uint64_t state_write_errors_ = 0;
  std::string last_decision_;  // the last verdict line, shown in /status
};

}  // namespace bgp
