// The fleet's pure parts: published totals and the leader's exact merge of their growth.
#include "fleet/fleet_math.h"

#include <gtest/gtest.h>

namespace bgp {
namespace {

using namespace std::chrono_literals;

const TimePoint t0 = *parse_time("2026-11-30T10:00:00Z");

ColorSamples green_requests(std::uint64_t n, std::uint64_t errors, std::uint64_t micros) {
  ColorSamples s;
  s.of(Color::green).requests = n;
  s.of(Color::green).errors = errors;
  for (std::uint64_t i = 0; i < n; ++i) s.of(Color::green).latency.record(micros);
  return s;
}

ReplicaTotals replica(std::string id, std::string incarnation, ColorSamples totals,
                      TimePoint at = t0) {
  return ReplicaTotals{std::move(id), std::move(incarnation), "127.0.0.1:9901", at,
                       std::move(totals)};
}

TEST(FleetMath, ReplicaTotalsRoundTripThroughJson) {
  const ReplicaTotals r = replica("lb-1", "42-7", green_requests(3, 1, 4000), t0 + 250ms);
  const auto back = replica_from_json(replica_to_json(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, "lb-1");
  EXPECT_EQ(back->incarnation, "42-7");
  EXPECT_EQ(back->at, t0 + 250ms);
  EXPECT_EQ(back->totals, r.totals);
  EXPECT_FALSE(replica_from_json("{}"));
  EXPECT_FALSE(replica_from_json("not json"));
}

TEST(FleetMath, TheLeaderTakesExactlyWhatEachReplicaAddedSinceItsLastCheck) {
  FleetMerge merge;
  Replicas replicas{{"a", replica("a", "1", green_requests(10, 1, 2000))},
                    {"b", replica("b", "1", green_requests(5, 0, 3000))}};
  merge.start_from(replicas);  // a new leader: what was counted before is not its to judge
  EXPECT_EQ(merge.take(replicas), ColorSamples{});

  replicas["a"].totals = green_requests(14, 2, 2000);
  replicas["b"].totals = green_requests(8, 0, 3000);
  const ColorSamples fresh = merge.take(replicas);
  EXPECT_EQ(fresh.of(Color::green).requests, 7u);  // 4 + 3
  EXPECT_EQ(fresh.of(Color::green).errors, 1u);
  EXPECT_EQ(fresh.of(Color::green).latency.count(), 7u);
  EXPECT_EQ(merge.take(replicas), ColorSamples{});  // nothing new, nothing counted twice
}

TEST(FleetMath, ANewReplicaOrARestartedOneCountsFromZero) {
  FleetMerge merge;
  Replicas replicas{{"a", replica("a", "1", green_requests(10, 0, 2000))}};
  merge.start_from(replicas);
  replicas["b"] = replica("b", "1", green_requests(6, 0, 2000));  // joined after the leader began
  replicas["a"] = replica("a", "2", green_requests(2, 0, 2000));  // restarted: its totals restart
  const ColorSamples fresh = merge.take(replicas);
  EXPECT_EQ(fresh.of(Color::green).requests, 8u);
}

TEST(FleetMath, AReplicaWhoseKeyLapsedIsNotCountedTwiceWhenItReturns) {
  FleetMerge merge;
  Replicas replicas{{"a", replica("a", "1", green_requests(10, 0, 2000))}};
  merge.start_from(replicas);
  EXPECT_EQ(merge.take({}).of(Color::green).requests, 0u);  // gone for a moment
  replicas["a"].totals = green_requests(12, 0, 2000);
  EXPECT_EQ(merge.take(replicas).of(Color::green).requests, 2u);
}

TEST(FleetMath, MeasurementsGivenBackAreJudgedNextTime) {
  FleetMerge merge;
  Replicas replicas{{"a", replica("a", "1", green_requests(0, 0, 0))}};
  merge.start_from(replicas);
  replicas["a"].totals = green_requests(5, 0, 2000);
  const ColorSamples fresh = merge.take(replicas);  // the leader's write then fails
  merge.give_back(fresh);
  replicas["a"].totals = green_requests(9, 0, 2000);
  EXPECT_EQ(merge.take(replicas).of(Color::green).requests, 9u);
}

TEST(FleetMath, TheFleetsNowIsTheOldestReplicasReading) {
  const Replicas replicas{{"a", replica("a", "1", {}, t0 + 2s)},
                          {"b", replica("b", "1", {}, t0 + 1500ms)}};
  EXPECT_EQ(fleet_now(t0 + 3s, replicas), t0 + 1500ms);
  EXPECT_EQ(fleet_now(t0 + 1s, replicas), t0 + 1s);
  EXPECT_EQ(fleet_now(t0, {}), t0);
}

}  // namespace
}  // namespace bgp
