// Endpoint health as a tiny state machine (Pingora's observe_health): an endpoint starts healthy,
// `unhealthy_after` consecutive failed probes flip it unhealthy, `healthy_after` consecutive
// successes flip it back. Pure: the controller runs the probes and feeds the results in.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "config/color.h"
#include "config/config.h"

namespace bgp {

class HealthStreak {
 public:
  HealthStreak(int unhealthy_after, int healthy_after) noexcept;

  // Records one probe result; returns true when the endpoint's health flipped.
  bool observe(bool success) noexcept;
  bool healthy() const noexcept { return healthy_; }
  // Healthy with at least one passed probe: shown to answer, not just assumed to at start.
  bool proven() const noexcept { return healthy_ && passed_; }
  void set_thresholds(int unhealthy_after, int healthy_after) noexcept;

 private:
  int unhealthy_after_;
  int healthy_after_;
  bool healthy_ = true;
  bool passed_ = false;
  int contrary_ = 0;  // consecutive results that disagree with the current health
};

struct EndpointHealth {
  std::string label;  // Address::to_string(), as in the routing snapshot
  HealthStreak streak;
};

// The health of every configured endpoint, by color, in configuration order.
class HealthTable {
 public:
  explicit HealthTable(const BackendsConfig& backends);

  // A new config: endpoints still configured keep their health and streak (a reload must not
  // send traffic to an endpoint known down); new ones start healthy.
  void reconfigure(const BackendsConfig& backends);

  // Records a probe result; returns true when the health flipped. Unknown endpoints are ignored.
  bool observe(Color color, std::string_view label, bool success);
  // Unknown endpoints count as healthy (never probed, like every endpoint at start).
  bool healthy(Color color, std::string_view label) const;
  // At least one configured endpoint of `color` is healthy (false when it has none).
  bool any_healthy(Color color) const;
  // At least one is healthy and has passed a probe.
  bool any_proven(Color color) const;
  const std::vector<EndpointHealth>& endpoints(Color color) const { return table_[index(color)]; }

 private:
  EndpointHealth* find(Color color, std::string_view label);
  const EndpointHealth* find(Color color, std::string_view label) const;
  template <typename Endpoints>
  static auto* find_in(Endpoints& endpoints, std::string_view label);

  std::array<std::vector<EndpointHealth>, 2> table_;
};

}  // namespace bgp
