// The rollout state shared by a fleet of bgproxy processes (docs/fleet.md). fleet/ keeps it in
// etcd; the controller reads it fresh and writes it back with a compare-and-swap for every
// operator action, so that any replica's admin API takes every call. Runs on the control thread.
#pragma once

#include <cstdint>
#include <optional>

#include <boost/asio/awaitable.hpp>

#include "controller/rollout.h"

namespace bgp {

class SharedState {
 public:
  struct Snapshot {
    RolloutState state;
    std::int64_t revision = 0;  // what a write compares against; 0 = nothing stored yet
  };
  enum class Write { done, conflict, unreachable };

  virtual ~SharedState() = default;
  // The stored state, read now (not from a cache); nullopt when the store cannot be reached.
  virtual boost::asio::awaitable<std::optional<Snapshot>> read() = 0;
  // Stores `state` if nothing was written since `expected_revision`.
  virtual boost::asio::awaitable<Write> write(const RolloutState& state,
                                              std::int64_t expected_revision) = 0;
};

}  // namespace bgp
