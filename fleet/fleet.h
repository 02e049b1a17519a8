// One replica of a fleet: N bgproxy processes sharing one rollout through etcd (docs/fleet.md).
//
// Keys under /bgproxy/<cluster>/:
//   leader          the deciding replica's id, bound to its lease; its create_revision fences
//                   the leader's writes, so a deposed leader cannot write
//   state           the rollout state (the state file's JSON); every write a compare-and-swap
//   replicas/<id>   each replica's judged totals since it started, bound to its lease
//
// Every replica publishes its totals at every check, applies the state from a watch and routes
// as before. The leader turns the growth of every replica's totals into the fleet's measurements,
// calls the same decision as one process, and writes the result fenced on its leadership. Any
// replica's admin API takes every call (Controller's SharedState: a CAS on a fresh read).
// Everything runs on the control thread; a request never waits on etcd.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/value.hpp>

#include "config/config.h"
#include "config/log.h"
#include "controller/controller.h"
#include "controller/shared_state.h"
#include "fleet/etcd_client.h"
#include "fleet/fleet_math.h"
#include "metrics/stats.h"

namespace bgp {

class Fleet final : public SharedState {
 public:
  // `config`: the one at start (fleet settings take effect at a restart).
  Fleet(boost::asio::io_context& io, std::shared_ptr<const Config> config, Controller& controller,
        const StatsRegistry& stats, Logger& log, std::string self);
  ~Fleet() override;

  void start();
  void stop();

  // SharedState
  boost::asio::awaitable<std::optional<Snapshot>> read() override;
  boost::asio::awaitable<Write> write(const RolloutState& state,
                                      std::int64_t expected_revision) override;

  boost::json::value status() const;  // /status `fleet`
  FleetGauges gauges() const;         // bgproxy_fleet_*

 private:
  struct Keys {
    std::string prefix, leader, state, replicas;
    std::string replica(const std::string& id) const { return replicas + id; }
  };

  boost::asio::awaitable<void> lease_loop();
  boost::asio::awaitable<void> watch_loop();
  boost::asio::awaitable<void> check_loop();
  boost::asio::awaitable<void> campaign();
  boost::asio::awaitable<void> publish_totals();
  boost::asio::awaitable<void> lead_check();
  boost::asio::awaitable<void> seed_state();
  boost::asio::awaitable<void> write_unwritten_rollback();
  boost::asio::awaitable<void> sleep(std::chrono::milliseconds delay);

  void apply(const etcd::KeyValue& kv, bool deleted);
  void apply_state(const etcd::KeyValue& kv);
  void lose_lease(std::string_view why);
  bool leading() const noexcept { return leader_ == self_ && lease_ != 0; }
  void set_connected(bool connected);

  boost::asio::io_context& io_;
  std::shared_ptr<const Config> config_holder_;
  const Config& config_;
  Controller& controller_;
  const StatsRegistry& stats_;
  Logger& log_;
  std::string self_;
  std::string incarnation_;  // tells a restarted replica from the one before it
  Keys keys_;
  std::unique_ptr<etcd::Client> etcd_;

  etcd::LeaseId lease_ = 0;
  std::optional<std::string> leader_;
  etcd::Revision leadership_ = 0;      // the create_revision of our leader key while we lead
  etcd::Revision state_revision_ = 0;  // mod_revision of the state last applied
  std::map<std::string, ReplicaTotals> replicas_;  // from the watch
  FleetMerge merge_;                               // the leader's baselines
  struct UnwrittenRollback {
    RolloutState state;
    etcd::Revision based_on = 0;
  };
  std::optional<UnwrittenRollback> unwritten_rollback_;  // decided while etcd was out of reach
  bool connected_ = false;
  bool stopped_ = false;
};

}  // namespace bgp
