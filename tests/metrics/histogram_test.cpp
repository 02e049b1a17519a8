#include "metrics/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

namespace bgp {
namespace {

using Layout = HistogramLayout;
using Generator = std::function<std::uint64_t(std::mt19937_64&)>;

struct Distribution {
  std::string name;
  Generator draw;
};

std::uint64_t to_micros(double value) {
  return static_cast<std::uint64_t>(std::llround(std::max(0.0, value)));
}

std::vector<Distribution> distributions() {
  return {
      {"Uniform1usTo10s",
       [](std::mt19937_64& rng) {
         return std::uniform_int_distribution<std::uint64_t>{1, 10'000'000}(rng);
       }},
      {"LogUniform1usTo10s",
       [](std::mt19937_64& rng) {
         return to_micros(
             std::exp(std::uniform_real_distribution<double>{0.0, std::log(1e7)}(rng)));
       }},
      {"LogNormalAround20ms",
       [](std::mt19937_64& rng) {
         return to_micros(std::lognormal_distribution<double>{std::log(20'000.0), 0.6}(rng));
       }},
      // 99.5% fast, 0.5% slow: p50 and p99 in the fast mode, p999 in the slow one.
      {"Bimodal1msAnd800ms",
       [](std::mt19937_64& rng) {
         const bool slow = std::bernoulli_distribution{0.005}(rng);
         const double mean = slow ? 800'000.0 : 1'000.0;
         return to_micros(std::normal_distribution<double>{mean, mean / 10}(rng));
       }},
      {"ExactLinearRangeBelow128us",
       [](std::mt19937_64& rng) {
         return std::uniform_int_distribution<std::uint64_t>{0, Layout::kLinear - 1}(rng);
       }},
  };
}

// The nearest-rank percentile of sorted data: the smallest value with at least
// ceil(n * per_mille / 1000) values at or below it, computed in integers.
std::uint64_t nearest_rank(const std::vector<std::uint64_t>& sorted, std::uint64_t per_mille) {
  const std::uint64_t n = sorted.size();
  const std::uint64_t rank = std::max<std::uint64_t>(1, (n * per_mille + 999) / 1000);
  return sorted[rank - 1];
}

class HistogramAccuracy : public ::testing::TestWithParam<std::tuple<Distribution, std::size_t>> {};

TEST_P(HistogramAccuracy, PercentilesWithinOnePercentOfExact) {
  const auto& [distribution, size] = GetParam();
  std::mt19937_64 rng{size * 7919 + distribution.name.size()};
  std::vector<std::uint64_t> values(size);
  LatencyHistogram histogram;
  for (auto& value : values) {
    value = distribution.draw(rng);
    histogram.record(value);
  }
  std::sort(values.begin(), values.end());

  ASSERT_EQ(histogram.count(), size);
  for (const std::uint64_t per_mille : {500u, 990u, 999u}) {
    const auto exact = static_cast<double>(nearest_rank(values, per_mille));
    const double estimate = histogram.quantile_micros(static_cast<double>(per_mille) / 1000.0);
    EXPECT_NEAR(estimate, exact, exact * 0.01) << "quantile " << per_mille << "/1000";
  }
}

std::string accuracy_name(
    const ::testing::TestParamInfo<std::tuple<Distribution, std::size_t>>& info) {
  return std::get<0>(info.param).name + "_" + std::to_string(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(DistributionsAndSizes, HistogramAccuracy,
                         ::testing::Combine(::testing::ValuesIn(distributions()),
                                            ::testing::Values(1, 99, 100, 10'000, 1'000'000)),
                         accuracy_name);

TEST(LatencyHistogram, NearestRankIsExactForQuantilesThatRoundUpInFloatingPoint) {
  LatencyHistogram histogram;
  for (std::uint64_t micros = 1; micros <= 100; ++micros) histogram.record(micros);
  // 100 * 0.07 is 7.000000000000001 in doubles: the 7th value, not the 8th.
  EXPECT_EQ(histogram.quantile_micros(0.07), 7.0);
  EXPECT_EQ(histogram.quantile_micros(0.5), 50.0);
  EXPECT_EQ(histogram.quantile_micros(1.0), 100.0);
}

TEST(LatencyHistogram, EmptyReportsZero) {
  const LatencyHistogram histogram;
  EXPECT_EQ(histogram.count(), 0u);
  EXPECT_EQ(histogram.quantile_micros(0.99), 0.0);
  EXPECT_EQ(histogram.count_at_most(1e9), 0u);
}

TEST(HistogramLayout, BucketsAreContiguousAndIncreasing) {
  EXPECT_EQ(Layout::lower_bound(0), 0u);
  for (std::size_t b = 0; b + 1 < Layout::kBuckets; ++b) {
    ASSERT_GE(Layout::width(b), 1u);
    ASSERT_EQ(Layout::lower_bound(b) + Layout::width(b), Layout::lower_bound(b + 1))
        << "bucket " << b;
    ASSERT_LE(Layout::width(b), std::max<std::uint64_t>(1, Layout::lower_bound(b) / 64))
        << "bucket " << b << " is wider than 1/64 of its lower bound";
  }
}

void expect_inside_own_bucket(std::uint64_t micros) {
  const std::size_t b = Layout::bucket_of(micros);
  ASSERT_LT(b, Layout::kBuckets);
  ASSERT_LE(Layout::lower_bound(b), micros) << micros;
  ASSERT_LT(micros, Layout::lower_bound(b) + Layout::width(b)) << micros;
  const double representative = Layout::representative(b);
  ASSERT_LE(std::abs(representative - static_cast<double>(micros)),
            std::max(0.5, static_cast<double>(micros) / 128.0))
      << micros;
}

TEST(HistogramLayout, EveryValueLiesInItsBucket) {
  for (std::uint64_t micros = 0; micros < (1u << 16); ++micros) expect_inside_own_bucket(micros);
  // Above that, both edges of every bucket and a point in between, up to the largest unclamped.
  for (std::size_t b = 0; b < Layout::kBuckets; ++b) {
    const auto low = Layout::lower_bound(b);
    const auto high = low + Layout::width(b) - 1;
    expect_inside_own_bucket(low);
    expect_inside_own_bucket(low + (high - low) / 2);
    expect_inside_own_bucket(high);
    ASSERT_EQ(Layout::bucket_of(low), b);
    ASSERT_EQ(Layout::bucket_of(high), b);
  }
}

TEST(HistogramLayout, HugeValuesAreClampedIntoTheLastBucket) {
  const std::size_t last = Layout::kBuckets - 1;
  const std::uint64_t largest_unclamped = Layout::lower_bound(last) + Layout::width(last) - 1;
  EXPECT_GE(static_cast<double>(largest_unclamped), 4.5 * 3600 * 1e6);  // over 4.5 hours
  EXPECT_EQ(Layout::bucket_of(largest_unclamped + 1), last);
  EXPECT_EQ(Layout::bucket_of(std::uint64_t{1} << 50), last);
  EXPECT_EQ(Layout::bucket_of(std::numeric_limits<std::uint64_t>::max()), last);

  LatencyHistogram histogram;
  histogram.record(std::numeric_limits<std::uint64_t>::max());
  histogram.record(10);
  EXPECT_EQ(histogram.count(), 2u);
  EXPECT_EQ(histogram.quantile_micros(1.0), Layout::representative(last));
  EXPECT_EQ(histogram.count_at_most(std::numeric_limits<double>::infinity()), 2u);
}

TEST(LatencyHistogram, CountAtMostNeverCountsAValueAboveTheBound) {
  std::mt19937_64 rng{42};
  std::vector<std::uint64_t> values(20'000);
  LatencyHistogram histogram;
  for (auto& value : values) {
    value = to_micros(std::lognormal_distribution<double>{std::log(20'000.0), 1.5}(rng));
    histogram.record(value);
  }
  for (const double bound : {0.0, 127.0, 500.0, 1'000.0, 2'500.0, 10'000.0, 100'000.0, 1e6, 1e7}) {
    const auto at_most = [&](double limit) {
      return std::count_if(values.begin(), values.end(),
                           [&](std::uint64_t v) { return static_cast<double>(v) <= limit; });
    };
    const auto counted = static_cast<std::int64_t>(histogram.count_at_most(bound));
    // Never above the exact count, and missing only values within 1/64 below the bound.
    EXPECT_LE(counted, at_most(bound)) << bound;
    EXPECT_GE(counted, at_most(bound - bound / 64.0 - 1.0)) << bound;
  }
  EXPECT_EQ(histogram.count_at_most(1e30), values.size());
}

TEST(LatencyHistogram, SumAndDifferenceGiveTheWindow) {
  LatencyHistogram older, newer;
  for (std::uint64_t micros : {100u, 200u, 300u}) older.record(micros);
  newer = older;
  for (std::uint64_t micros : {5'000u, 5'000u}) newer.record(micros);

  LatencyHistogram window = newer;
  window -= older;
  EXPECT_EQ(window.count(), 2u);
  EXPECT_NEAR(window.quantile_micros(0.5), 5'000.0, 50.0);

  window += older;
  EXPECT_EQ(window.count(), newer.count());
}

TEST(ShardHistogram, CopyIntoAddsTheShardCounts) {
  ShardHistogram shard;
  for (std::uint64_t micros : {1u, 1u, 150u, 1'000'000u}) shard.record(micros);
  LatencyHistogram total;
  total.record(1);
  shard.copy_into(total);
  EXPECT_EQ(total.count(), 5u);
  EXPECT_EQ(total.bucket_count(Layout::bucket_of(1)), 3u);
  EXPECT_EQ(total.bucket_count(Layout::bucket_of(1'000'000)), 1u);
}

}  // namespace
}  // namespace bgp
