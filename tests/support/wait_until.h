// Waiting for a condition in a test, bounded: what a test uses instead of a sleep.
#pragma once

#include <chrono>
#include <thread>

namespace bgp::testing {

// Polls `predicate` every `poll` until it returns true or `timeout` passes; the predicate's last
// answer.
template <typename Predicate>
bool wait_until(Predicate&& predicate,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(5000),
                std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (predicate()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
}

}  // namespace bgp::testing
