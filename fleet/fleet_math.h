// The pure parts of a fleet (docs/fleet.md): each replica's published totals, and how the leader
// turns their growth into the fleet's measurements. No I/O, no clock.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "controller/judge.h"
#include "controller/rollout.h"

namespace bgp {

// What one replica publishes at every check: its judged requests since it started.
struct ReplicaTotals {
  std::string id;
  std::string incarnation;  // new at every start of the process
  std::string admin;        // its admin address, for people
  TimePoint at;             // when it read its totals
  ColorSamples totals;
};

std::string replica_to_json(const ReplicaTotals& replica);
// nullopt when `text` is not a replica's JSON.
std::optional<ReplicaTotals> replica_from_json(std::string_view text);

using Replicas = std::map<std::string, ReplicaTotals>;  // by id

// The leader's memory of how much of each replica's totals it has already judged. Totals only
// grow within an incarnation, so the difference is exactly what came in since: merged over the
// replicas, the fleet's measurements, as one process would have counted them.
class FleetMerge {
 public:
  // A new leadership: what every replica counted so far is taken as judged (a new leader loses at
  // most one check of measurements, like a restart).
  void start_from(const Replicas& replicas);
  // The fleet's measurements since the last call. A replica seen for the first time, or with a new
  // incarnation, counts from zero: it has just started.
  ColorSamples take(const Replicas& replicas);
  // Measurements taken but not judged after all (the leader's write failed): in the next take().
  void give_back(const ColorSamples& fresh) { unjudged_ += fresh; }

 private:
  struct Judged {
    std::string incarnation;
    ColorSamples totals;
  };
  std::map<std::string, Judged> judged_;
  ColorSamples unjudged_;
};

// `after - before` (before's counts are a part of after's).
Sample difference(const Sample& after, const Sample& before);

// The time up to which every replica has published: a step is never passed on measurements that
// a replica has not sent yet (a rollback does not wait: it uses whatever is in).
TimePoint fleet_now(TimePoint now, const Replicas& replicas);

}  // namespace bgp
