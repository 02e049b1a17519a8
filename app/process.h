// One running bgproxy: config, data plane, controller, admin API and signal handling, wired
// together. `bgproxy run` and `bgproxy demo` both run one.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "app/commands.h"
#include "app/systemd_notify.h"
#include "config/config.h"
#include "config/descriptors.h"
#include "config/log.h"
#include "controller/admin.h"
#include "controller/controller.h"
#include "fleet/fleet.h"
#include "metrics/exporter.h"
#include "proxy/server.h"

namespace bgp {

// "127.0.0.1:8080", "[::1]:8080": an endpoint as the logs and the config write it.
inline std::string endpoint_text(const boost::asio::ip::tcp::endpoint& e) {
  const auto address = e.address();
  const auto host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(e.port());
}

// What a reload changes, for its log line: "backends.green.endpoints, rollout" or "nothing".
inline std::string changed_sections(const Config& a, const Config& b) {
  std::vector<std::string> changed;
  const auto note = [&](bool differs, std::string_view what) {
    if (differs) changed.emplace_back(what);
  };
  note(a.backends.blue != b.backends.blue, "backends.blue.endpoints");
  note(a.backends.green != b.backends.green, "backends.green.endpoints");
  note(a.backends.health_check != b.backends.health_check, "backends.health_check");
  note(a.rollout != b.rollout, "rollout");
  note(a.routing != b.routing, "routing");
  note(a.timeouts != b.timeouts, "timeouts");
  note(a.limits != b.limits, "limits");
  note(a.admin.token != b.admin.token, "admin.token");
  note(a.notify != b.notify, "notify");
  note(a.log != b.log, "log");
  note(!(a.tls == b.tls), "tls");
  return changed.empty() ? "nothing" : fmt::format("{}", fmt::join(changed, ", "));
}

// Settings that need a new process; a reload keeps the running values and says so.
inline void warn_restart_only_changes(const Config& running, const Config& next, Logger& log) {
  if (!(running.listen == next.listen) || running.workers != next.workers ||
      !(running.admin.listen == next.admin.listen) || running.state_file != next.state_file ||
      running.tls.listen != next.tls.listen) {
    log.warn(
        "reload: listen, workers, admin.listen, tls.listen and state_file take effect only after "
        "a restart");
  }
  if (running.backends.live != next.backends.live) {
    log.warn(
        "reload: backends.live changed in the file, but the live color is the rollout "
        "state's: promote or roll back to change it");
  }
}

class Process {
 public:
  Process(std::shared_ptr<const Config> config, std::optional<std::string> path)
      : config_(std::move(config)),
        path_(std::move(path)),
        log_(config_->log),
        stats_(config_->worker_count()),
        controller_(control_, config_, routing_, stats_, log_),
        exporter_(
            stats_, [this] { return control_view(); }, std::string(kVersion)),
        api_(
            controller_, [this] { return render_text(exporter_); }, log_),
        admin_(control_, api_, log_),
        signals_(control_, SIGINT, SIGTERM, SIGHUP) {
    api_.set_token(config_->admin.token);
    admin_.set_limits(config_->admin.max_connections, config_->admin.idle_timeout);
  }

  boost::asio::io_context& control() { return control_; }
  Controller& controller() { return controller_; }
  Server& server() { return *server_; }
  AdminServer& admin() { return admin_; }

  // Drains and stops, as SIGTERM does (call on the control thread).
  void stop() { drain_and_stop(); }

  // Serves until SIGTERM/SIGINT (or stop()); `on_started` runs once everything listens.
  int run(const std::function<void()>& on_started = {}) {
    try {
      controller_.restore();
    } catch (const std::exception& e) {
      log_.error("{}", e.what());
      return 1;
    }
    if (!start_listeners()) return 1;
    controller_.set_data_plane_listening(true);
    controller_.start();
    if (config_->fleet.enabled()) start_fleet();
    wait_for_signal();
    if (on_started) on_started();
    log_.info("bgproxy {} listening on {} (admin {}), {} workers", kVersion,
              endpoint_text(server_->local_endpoint()), endpoint_text(admin_.local_endpoint()),
              config_->worker_count());
    notify_systemd("READY=1");
    control_.run();
    return 0;
  }

 private:
  // RLIMIT_NOFILE against what the limits need (config/descriptors.h): the soft limit is raised
  // toward the hard one; if even that is too low, the data plane takes fewer connections than
  // limits.max_connections, and the log says so. Returns the data plane's connection limit.
  std::uint64_t plan_descriptors_for(const Config& config) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return config.limits.max_connections;
    const auto plan = plan_descriptors(config.limits.max_connections, config.admin.max_connections,
                                       config.worker_count(), limit.rlim_cur, limit.rlim_max);
    if (plan.soft_limit > limit.rlim_cur) {
      const rlim_t before = limit.rlim_cur;
      limit.rlim_cur = plan.soft_limit;
      if (::setrlimit(RLIMIT_NOFILE, &limit) == 0) {
        log_.info("raised the descriptor limit (RLIMIT_NOFILE) from {} to {}", before,
                  limit.rlim_cur);
      } else {
        limit.rlim_cur = before;
      }
    }
    if (plan.data_plane_connections < config.limits.max_connections) {
      log_.warn(
          "descriptor limit (RLIMIT_NOFILE) {} is too low: limits.max_connections {} x2 (client "
          "and upstream) + admin.max_connections {} + {} reserved = {}; the data plane takes at "
          "most {} connections. Raise the hard limit (ulimit -Hn, LimitNOFILE=) to {}",
          limit.rlim_cur, config.limits.max_connections, config.admin.max_connections,
          reserved_descriptors(config.worker_count()), plan.wanted, plan.data_plane_connections,
          plan.wanted);
    }
    return plan.data_plane_connections;
  }

  bool start_listeners() {
    const std::uint64_t connection_cap = plan_descriptors_for(*config_);
    server_ = std::make_unique<Server>(*config_, routing_, stats_, log_);
    server_->limit_connections(connection_cap);
    try {
      server_->start();
    } catch (const std::exception& e) {
      log_.error("{}", e.what());  // names the address and why
      return false;
    }
    try {
      admin_.start(config_->admin.listen);
    } catch (const std::exception& e) {
      log_.error("{}", e.what());  // names the address and why
      return false;
    }
    return true;
  }

  // One replica of a fleet: the rollout state lives in etcd (docs/fleet.md).
  void start_fleet() {
    if (!config_->state_file.empty()) {
      log_.warn("state_file is not used in a fleet: the rollout state lives in etcd");
    }
    std::string self = config_->fleet.replica_id;
    if (self.empty()) {
      std::array<char, 256> host{};
      ::gethostname(host.data(), host.size() - 1);
      self = fmt::format("{}:{}", host.data(), admin_.local_endpoint().port());
    }
    fleet_ = std::make_unique<Fleet>(control_, config_, controller_, stats_, log_, std::move(self));
    controller_.attach(*fleet_, [this] { return fleet_->status(); });
    fleet_->start();
  }

  void wait_for_signal() {
    signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        reload();
        wait_for_signal();
      } else {
        drain_and_stop();
      }
    });
  }

  void reload() {
    notify_systemd("RELOADING=1");
    reload_file();
    notify_systemd("READY=1");
  }

  void reload_file() {
    if (!path_) {
      log_.warn("reload: no config file was given (-c); nothing to reload");
      return;
    }
    auto result = load_config_file(*path_);
    if (!result.ok()) {
      ++reloads_refused_;
      log_.error("reload refused, the running config stays: {} error(s)", result.errors.size());
      for (const auto& error : result.errors) log_.error("{}", error.to_string());
      return;
    }
    auto next = std::make_shared<const Config>(std::move(*result.config));
    if (auto problem = controller_.reload(next)) {
      ++reloads_refused_;
      log_.error("reload refused, the running config stays: {}: {}", *path_, *problem);
      return;
    }
    ++reloads_ok_;
    warn_restart_only_changes(*config_, *next, log_);
    log_.configure(next->log);
    api_.set_token(next->admin.token);
    admin_.set_limits(next->admin.max_connections, next->admin.idle_timeout);
    if (server_) server_->routing_changed();
    log_.info("reloaded {}: changed {}", *path_, changed_sections(*config_, *next));
    config_ = std::move(next);
  }

  ControlView control_view() const {
    ControlView view = controller_.control_view();
    if (fleet_) view.fleet = fleet_->gauges();
    view.config_reloads_ok = reloads_ok_;
    view.config_reloads_refused = reloads_refused_;
    return view;
  }

  void drain_and_stop() {
    notify_systemd("STOPPING=1");
    log_.info("draining: up to {} for requests in flight",
              format_duration(config_->timeouts.drain));
    controller_.set_data_plane_listening(false);
    admin_.stop();
    controller_.stop();
    if (fleet_) fleet_->stop();
    server_->drain(config_->timeouts.drain);
    log_.info("stopped");
    control_.stop();
  }

  std::shared_ptr<const Config> config_;
  std::optional<std::string> path_;
  Logger log_;
  // Before the io_context: its coroutines still hold the fleet's connections when it is
  // destroyed, so the fleet must outlive it.
  std::unique_ptr<Fleet> fleet_;
  boost::asio::io_context control_{1};
  SnapshotSlot routing_;
  StatsRegistry stats_;
  Controller controller_;
  Exporter exporter_;
  AdminApi api_;
  AdminServer admin_;
  boost::asio::signal_set signals_;
  std::unique_ptr<Server> server_;
  std::uint64_t reloads_ok_ = 0, reloads_refused_ = 0;
};

}  // namespace bgp
