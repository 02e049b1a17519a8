// How the process's file descriptors are shared (docs/configuration.md, "Descriptors"), and the
// rate limit of the log lines that say a connection limit was hit. Pure: the caller reads and sets
// RLIMIT_NOFILE and logs.
#pragma once

#include <chrono>
#include <cstdint>

namespace bgp {

// Every data-plane connection may hold two descriptors (the client's and an upstream's); the admin
// port at most admin.max_connections; a reserve goes to listeners, event loops, health checks, the
// webhook, the state file and the log. As HAProxy derives its maxsock from maxconn.
struct DescriptorPlan {
  std::uint64_t wanted = 0;      // descriptors the configured limits need
  std::uint64_t soft_limit = 0;  // RLIMIT_NOFILE to run with (raised toward the hard limit)
  // limits.max_connections, or fewer when even the hard limit cannot hold them: then the data
  // plane refuses connections instead of failing upstream connects (502) for lack of descriptors.
  std::uint64_t data_plane_connections = 0;
};

std::uint64_t reserved_descriptors(unsigned workers) noexcept;

// `soft` and `hard` as getrlimit gives them (RLIM_INFINITY as the largest value).
DescriptorPlan plan_descriptors(std::uint64_t max_connections, std::uint64_t admin_connections,
                                unsigned workers, std::uint64_t soft, std::uint64_t hard) noexcept;

// Says "log now" at most once per interval, with the number of hits since the last line: a flood
// of refused connections must not become a flood of log lines. One per thread (no lock).
class LimitNotice {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LimitNotice(Clock::duration interval = std::chrono::seconds(10)) noexcept
      : interval_(interval) {}

  // Counts a hit; returns the hits to report (this one included) when a line is due, else 0.
  std::uint64_t hit(Clock::time_point now = Clock::now()) noexcept {
    ++pending_;
    if (logged_once_ && now - last_ < interval_) return 0;
    logged_once_ = true;
    last_ = now;
    const std::uint64_t hits = pending_;
    pending_ = 0;
    return hits;
  }

 private:
  Clock::duration interval_;
  Clock::time_point last_{};
  std::uint64_t pending_ = 0;
  bool logged_once_ = false;
};

}  // namespace bgp
