// The rollout state kept across restarts: a JSON file written atomically (temp file in the same
// directory, fsync, rename, fsync the directory), so a crash leaves either the old or the new file.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "controller/rollout.h"

namespace bgp {

// An exclusive lock on `<state file>.lock` for as long as it lives, so that two processes never
// share one state file. Creating the lock file also proves at start that the directory can be
// written. Throws std::runtime_error naming the file when either fails.
class StateFileLock {
 public:
  explicit StateFileLock(const std::string& state_path);
  ~StateFileLock();
  StateFileLock(const StateFileLock&) = delete;
  StateFileLock& operator=(const StateFileLock&) = delete;

 private:
  int fd_ = -1;
};

// Throws std::runtime_error naming `path` when the file cannot be written.
void save_state(const std::string& path, const RolloutState& state);

// nullopt when the file does not exist. A file that cannot be read, is not JSON or does not hold a
// valid state throws std::runtime_error naming the file and what is wrong: never a silent reset.
std::optional<RolloutState> load_state(const std::string& path);

// A window's JSON form (per color: counts and the non-empty latency buckets as [bucket, count]),
// as in the state file; the fleet publishes each replica's totals in it too.
boost::json::object samples_to_json(const ColorSamples& samples);
// `source` names the origin in error messages; throws std::runtime_error when malformed.
ColorSamples samples_from_json(const boost::json::value& json, std::string_view source);

// The file's JSON form (times RFC 3339 with milliseconds, weights and durations exact integers).
boost::json::value state_to_json(const RolloutState& state);
// `source` names the origin in error messages (the file path).
RolloutState state_from_json(const boost::json::value& json, std::string_view source);

}  // namespace bgp
