#include "config/descriptors.h"

#include <algorithm>

namespace bgp {

std::uint64_t reserved_descriptors(unsigned workers) noexcept {
  // Standard streams, the log, the state file, the webhook and health checks, then per worker a
  // listener and the event loop's own (epoll, eventfd, timerfd).
  constexpr std::uint64_t kProcess = 64;
  constexpr std::uint64_t kPerWorker = 4;
  return kProcess + kPerWorker * workers;
}

DescriptorPlan plan_descriptors(std::uint64_t max_connections, std::uint64_t admin_connections,
                                unsigned workers, std::uint64_t soft, std::uint64_t hard) noexcept {
  DescriptorPlan plan;
  const std::uint64_t fixed = admin_connections + reserved_descriptors(workers);
  plan.wanted = 2 * max_connections + fixed;
  plan.soft_limit = std::max(soft, std::min(plan.wanted, hard));
  const std::uint64_t left = plan.soft_limit > fixed ? plan.soft_limit - fixed : 0;
  plan.data_plane_connections = std::min(max_connections, std::max<std::uint64_t>(left / 2, 1));
  return plan;
}

}  // namespace bgp
