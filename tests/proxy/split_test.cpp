#include "proxy/split.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace bgp {
namespace {

Weights candidate_share(Color live, std::uint32_t candidate_bp) {
  Weights weights = Weights::all_to(live);
  weights.set(other(live), candidate_bp);
  return weights;
}

TEST(PickColor, ZeroPercentNeverPicksTheCandidate) {
  const Weights weights = candidate_share(Color::blue, 0);
  SplitMix64 random(1);
  for (int i = 0; i < 5000; ++i)
    EXPECT_EQ(pick_color(weights, Color::blue, random.next()), Color::blue);
  EXPECT_EQ(pick_color(weights, Color::blue, 0), Color::blue);
  EXPECT_EQ(pick_color(weights, Color::blue, ~std::uint64_t{0}), Color::blue);
}

TEST(PickColor, HundredPercentAlwaysPicksTheCandidate) {
  const Weights weights = candidate_share(Color::blue, kFullWeight);
  SplitMix64 random(2);
  for (int i = 0; i < 5000; ++i)
    EXPECT_EQ(pick_color(weights, Color::blue, random.next()), Color::green);
  EXPECT_EQ(pick_color(weights, Color::blue, kFullWeight - 1), Color::green);
  EXPECT_EQ(pick_color(weights, Color::blue, ~std::uint64_t{0}), Color::green);
}

TEST(PickColor, BoundaryOfTheCandidateShare) {
  const Weights weights = candidate_share(Color::green, 2500);
  EXPECT_EQ(pick_color(weights, Color::green, 2499), Color::blue);
  EXPECT_EQ(pick_color(weights, Color::green, 2500), Color::green);
  EXPECT_EQ(pick_color(weights, Color::green, kFullWeight + 2499), Color::blue);
}

TEST(PickColor, TwentyFivePercentGivesAQuarterOfRandomValues) {
  const Weights weights = candidate_share(Color::blue, 2500);
  SplitMix64 random(12345);
  constexpr int kDraws = 5000;
  int green = 0;
  for (int i = 0; i < kDraws; ++i)
    green += pick_color(weights, Color::blue, random.next()) == Color::green;
  EXPECT_NEAR(static_cast<double>(green) / kDraws, 0.25, 0.02);
}

TEST(SplitMix64, SeedsGiveDifferentSequences) {
  SplitMix64 a(1), b(2);
  EXPECT_NE(a.next(), b.next());
}

TEST(StickyHash, SameKeySameValueDifferentKeysSpread) {
  EXPECT_EQ(sticky_hash("user-42"), sticky_hash("user-42"));
  EXPECT_NE(sticky_hash("user-42"), sticky_hash("user-43"));
  // Keys that differ in one character land in both halves of the range.
  int low = 0;
  for (int i = 0; i < 1000; ++i)
    low += sticky_hash("k" + std::to_string(i)) % kFullWeight < kFullWeight / 2;
  EXPECT_NEAR(low, 500, 60);
}

// As the candidate's weight rises 0 -> 100%, a key moves live -> candidate once and never back;
// at a given weight it always gets the same color.
void expect_sticky_keys_only_move_to_the_candidate(Color live) {
  constexpr int kKeys = 10000;
  std::vector<std::uint64_t> hashes;
  for (int i = 0; i < kKeys; ++i) hashes.push_back(sticky_hash("user-" + std::to_string(i)));
  std::vector<bool> on_candidate(kKeys, false);
  for (std::uint32_t bp = 0; bp <= kFullWeight; bp += 50) {
    const Weights weights = candidate_share(live, bp);
    int moved_back = 0, unstable = 0, candidates = 0;
    for (int k = 0; k < kKeys; ++k) {
      const Color color = pick_color(weights, live, hashes[k]);
      const bool candidate = color == other(live);
      moved_back += on_candidate[k] && !candidate;
      unstable += pick_color(weights, live, hashes[k]) != color;
      on_candidate[k] = candidate;
      candidates += candidate;
    }
    ASSERT_EQ(moved_back, 0) << "at " << bp << " bp";
    ASSERT_EQ(unstable, 0) << "at " << bp << " bp";
    EXPECT_NEAR(candidates, static_cast<double>(kKeys) * bp / kFullWeight, 300) << bp;
  }
  for (bool candidate : on_candidate) EXPECT_TRUE(candidate);
}

TEST(StickyRouting, KeysOnlyMoveLiveToCandidateBlueLive) {
  expect_sticky_keys_only_move_to_the_candidate(Color::blue);
}

TEST(StickyRouting, KeysOnlyMoveLiveToCandidateGreenLive) {
  expect_sticky_keys_only_move_to_the_candidate(Color::green);
}

}  // namespace
}  // namespace bgp
