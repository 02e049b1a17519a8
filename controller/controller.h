// The control loop: every check_interval it reads the step window from the stats shards, calls the
// pure rollout decision, publishes a new routing snapshot when the weights or health change, keeps
// the state file and posts webhook events. Runs on one io_context (the control thread) together
// with the admin API, so nothing here needs a lock.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.h"
#include "config/log.h"
#include "controller/api.h"
#include "controller/health.h"
#include "controller/rollout.h"
#include "controller/shared_state.h"
#include "controller/state_store.h"
#include "metrics/exporter.h"
#include "metrics/stats.h"
#include "proxy/snapshot.h"

namespace bgp {

class HealthProber;
class Notifier;

// The judged (split-routed) traffic of a stats reading, as the judge counts it.
ColorSamples judged_samples(const StatsTotals& totals);

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
  std::string not_ready_reason() const;  // why ready() is false, in one sentence
  ApiResult status() const;
  // Operator calls. One process: applied at once. A fleet: applied to a fresh read of the shared
  // state and written back with a compare-and-swap (409 after repeated conflicts).
  boost::asio::awaitable<ApiResult> start_rollout(boost::json::object body);
  boost::asio::awaitable<ApiResult> pause();
  boost::asio::awaitable<ApiResult> resume();
  boost::asio::awaitable<ApiResult> promote();
  boost::asio::awaitable<ApiResult> rollback();
  boost::asio::awaitable<ApiResult> set_weights(boost::json::object body);

  ControlView control_view() const;  // for /metrics

  // --- a fleet (docs/fleet.md): the state lives in `shared`; the fleet runs the checks ---
  void attach(SharedState& shared, std::function<boost::json::value()> fleet_status);
  const RolloutState& state() const { return state_; }
  // A state read from the shared store (a watch, a write that succeeded): in force from now on.
  void adopt(RolloutState next);
  // The leader's check over the fleet's new measurements; record() once the result is stored.
  Decision decide(const ColorSamples& fresh, TimePoint now) const;
  // Logs the verdict (a hold once: `was_held` is the state's before) and posts its event.
  void record(const Decision& decision, bool was_held);
  // A rollback applied locally while the shared store was unreachable: written when it returns.
  bool take_pending_rollback() { return std::exchange(pending_rollback_, false); }
  TimePoint now() const { return clock_(); }

 private:
  void start_probes();
  bool candidate_ready(Color candidate) const;
  void try_auto_start();
  void schedule_check();
  void check();
  using Op = std::function<OpResult(const RolloutState&, TimePoint)>;
  boost::asio::awaitable<ApiResult> mutate(std::string action, Op op);
  // Every operator transition: the measurements so far go into the windows first, then `op`.
  ApiResult apply(std::string_view action, const Op& op);
  boost::asio::awaitable<ApiResult> apply_shared(std::string action, Op op);
  ApiResult store_unreachable(std::string_view action, const Op& op);
  void after_change(std::string_view action, const OpResult& result);
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
  static constexpr std::chrono::hours kTicketKeyLife{12};
  void rotate_ticket_keys_later();
  // The access log's destination for `log` (null when log.access is off). Throws when it cannot
  // be opened.
  static std::shared_ptr<const AccessLogFile> open_access_log(const LogConfig& log);

  boost::asio::io_context& io_;
  std::shared_ptr<const Config> config_;
  SnapshotSlot& routing_;
  const StatsRegistry& stats_;
  Logger& log_;
  Clock clock_;

  std::array<std::vector<Endpoint>, 2> endpoints_;   // resolved once per config
  std::shared_ptr<const AccessLogFile> access_log_;  // opened once per config; null when off
  TlsServerContextSlot tls_;  // the TLS listener's handshake settings; ticket keys outlive reloads
  RolloutState state_;
  StatsTotals last_reading_;                     // the shard totals at the last reading
  std::vector<RuleEvidence> evidence_;           // the judge's rules at the last check
  std::vector<RuleEvidence> rollback_evidence_;  // ... at the last automatic rollback
  HealthTable health_;
  std::unique_ptr<HealthProber> prober_;
  std::unique_ptr<Notifier> notifier_;
  boost::asio::steady_timer check_timer_;
  boost::asio::steady_timer ticket_timer_;  // rotates the TLS listener's ticket keys
  std::uint64_t snapshot_version_ = 0;
  bool listening_ = false;
  // The state file in use (fixed at start; a reload does not move it), its lock, and the last
  // write's error: a decision holds in memory and the write is retried at every check.
  std::string state_path_;
  std::unique_ptr<StateFileLock> state_lock_;
  std::optional<std::string> persist_error_;
  std::uint64_t state_write_errors_ = 0;
  SharedState* shared_ = nullptr;  // a fleet's store; null for one process
  std::function<boost::json::value()> fleet_status_;
  bool pending_rollback_ = false;
  bool auto_start_pending_ = false;
  std::string last_decision_;  // the last verdict line, shown in /status
};

}  // namespace bgp
