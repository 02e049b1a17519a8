// Hand-made samples for the judge's and the rollout's unit tests.
#pragma once

#include <cstdint>

#include "controller/judge.h"

namespace bgp::testing {

// `n` requests with `errors` errors, latencies spread evenly over [0.9, 1.1] x `ms`.
inline Sample spread_sample(std::uint64_t n, std::uint64_t errors, double ms) {
  Sample s;
  s.requests = n;
  s.errors = errors;
  for (std::uint64_t i = 0; i < n; ++i) {
    const double spread = n > 1 ? 0.9 + 0.2 * static_cast<double>(i) / (n - 1) : 1.0;
    s.latency.record(static_cast<std::uint64_t>(ms * 1000 * spread));
  }
  return s;
}

}  // namespace bgp::testing
