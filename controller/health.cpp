#include "controller/health.h"

#include <algorithm>

namespace bgp {

HealthStreak::HealthStreak(int unhealthy_after, int healthy_after) noexcept
    : unhealthy_after_(std::max(unhealthy_after, 1)), healthy_after_(std::max(healthy_after, 1)) {}

void HealthStreak::set_thresholds(int unhealthy_after, int healthy_after) noexcept {
  unhealthy_after_ = std::max(unhealthy_after, 1);
  healthy_after_ = std::max(healthy_after, 1);
}

bool HealthStreak::observe(bool success) noexcept {
  passed_ = passed_ || success;
  if (success == healthy_) {
    contrary_ = 0;
    return false;
  }
  if (++contrary_ < (healthy_ ? unhealthy_after_ : healthy_after_)) return false;
  healthy_ = !healthy_;
  contrary_ = 0;
  return true;
}

HealthTable::HealthTable(const BackendsConfig& backends) {
  reconfigure(backends);
}

void HealthTable::reconfigure(const BackendsConfig& backends) {
  const auto& check = backends.health_check;
  for (Color color : kColors) {
    std::vector<EndpointHealth> next;
    for (const Address& address : backends.of(color).endpoints) {
      std::string label = address.to_string();
      const EndpointHealth* known = find(color, label);
      HealthStreak streak =
          known ? known->streak : HealthStreak{check.unhealthy_after, check.healthy_after};
      streak.set_thresholds(check.unhealthy_after, check.healthy_after);
      next.push_back({std::move(label), streak});
    }
    table_[index(color)] = std::move(next);
  }
}

bool HealthTable::observe(Color color, std::string_view label, bool success) {
  EndpointHealth* endpoint = find(color, label);
  return endpoint && endpoint->streak.observe(success);
}

bool HealthTable::healthy(Color color, std::string_view label) const {
  const EndpointHealth* endpoint = find(color, label);
  return !endpoint || endpoint->streak.healthy();
}

bool HealthTable::any_proven(Color color) const {
  const auto& endpoints = table_[index(color)];
  return std::any_of(endpoints.begin(), endpoints.end(),
                     [](const EndpointHealth& e) { return e.streak.proven(); });
}

bool HealthTable::any_healthy(Color color) const {
  const auto& endpoints = table_[index(color)];
  return std::any_of(endpoints.begin(), endpoints.end(),
                     [](const EndpointHealth& e) { return e.streak.healthy(); });
}

template <typename Endpoints>
auto* HealthTable::find_in(Endpoints& endpoints, std::string_view label) {
  const auto it = std::find_if(endpoints.begin(), endpoints.end(),
                               [&](const EndpointHealth& e) { return e.label == label; });
  return it == endpoints.end() ? nullptr : &*it;
}

EndpointHealth* HealthTable::find(Color color, std::string_view label) {
  return find_in(table_[index(color)], label);
}

const EndpointHealth* HealthTable::find(Color color, std::string_view label) const {
  return find_in(table_[index(color)], label);
}

}  // namespace bgp
