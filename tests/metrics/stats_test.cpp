#include "metrics/stats.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace bgp {
namespace {

using std::chrono::microseconds;

constexpr std::size_t kClass2xx = 1, kClass4xx = 3, kClass5xx = 4;

TEST(StatsShard, CountsRequestsErrorsAndStatusClasses) {
  StatsRegistry registry{1};
  auto& shard = registry.shard(0);
  shard.record_request(Route::split, Color::green, 200, microseconds{1'000});
  shard.record_request(Route::split, Color::green, 204, microseconds{2'000});
  shard.record_request(Route::split, Color::green, 404, microseconds{3'000});
  shard.record_request(Route::split, Color::green, 500, microseconds{4'000});
  shard.record_request(Route::split, Color::green, 503, microseconds{5'000});
  shard.record_request(Route::split, Color::green, 101, microseconds{6'000});

  const auto totals = registry.totals();
  const auto& green = totals.of(Color::green);
  EXPECT_EQ(green.requests, 6u);
  EXPECT_EQ(green.errors, 2u);  // 500 and 503; a 404 is the client's error, not the color's
  EXPECT_DOUBLE_EQ(green.error_rate(), 2.0 / 6.0);
  EXPECT_EQ(green.by_class[0], 1u);
  EXPECT_EQ(green.by_class[kClass2xx], 2u);
  EXPECT_EQ(green.by_class[kClass4xx], 1u);
  EXPECT_EQ(green.by_class[kClass5xx], 2u);
  EXPECT_EQ(green.latency_sum_micros, 21'000u);
  EXPECT_EQ(green.latency.count(), 6u);
  EXPECT_NEAR(green.p99_ms(), 6.0, 0.06);
  EXPECT_EQ(totals.of(Color::blue).requests, 0u);  // the other color is untouched
}

TEST(StatsShard, EachRouteCountsInItsOwnLane) {
  StatsRegistry registry{2};
  auto& first = registry.shard(0);
  auto& second = registry.shard(1);
  first.record_request(Route::split, Color::green, 200, microseconds{1'000});
  second.record_request(Route::split, Color::green, 200, microseconds{1'000});
  first.record_request(Route::override, Color::green, 200, microseconds{2'000});
  first.record_request(Route::override, Color::green, 204, microseconds{2'000});
  second.record_request(Route::override, Color::green, 500, microseconds{2'000});
  second.record_request(Route::override, Color::blue, 503, microseconds{3'000});
  // A refusal has no color: the one passed is ignored.
  first.record_request(Route::refused, Color::green, 400, microseconds{10});
  second.record_request(Route::refused, Color::blue, 505, microseconds{20});
  second.record_request(Route::refused, Color::green, 431, microseconds{30});

  const auto totals = registry.totals();
  // The judged numbers are the split's only.
  EXPECT_EQ(totals.of(Color::green).requests, 2u);
  EXPECT_EQ(totals.of(Color::green).errors, 0u);
  EXPECT_EQ(totals.of(Color::green).latency.count(), 2u);
  EXPECT_EQ(totals.of(Color::blue).requests, 0u);
  EXPECT_EQ(totals.of(Color::blue).latency.count(), 0u);

  const auto& green_override = totals.overridden_of(Color::green);
  EXPECT_EQ(green_override.requests, 3u);
  EXPECT_EQ(green_override.errors, 1u);
  EXPECT_EQ(green_override.by_class[kClass2xx], 2u);
  EXPECT_EQ(green_override.by_class[kClass5xx], 1u);
  EXPECT_EQ(green_override.latency_sum_micros, 6'000u);
  EXPECT_EQ(green_override.latency.count(), 3u);
  EXPECT_EQ(totals.overridden_of(Color::blue).requests, 1u);
  EXPECT_EQ(totals.overridden_of(Color::blue).errors, 1u);
  EXPECT_EQ(&totals.overridden_of(Color::blue), &totals.overridden[index(Color::blue)]);

  EXPECT_EQ(totals.refused.requests, 3u);
  EXPECT_EQ(totals.refused.errors, 1u);  // the 505
  EXPECT_EQ(totals.refused.by_class[kClass4xx], 2u);
  EXPECT_EQ(totals.refused.by_class[kClass5xx], 1u);
  EXPECT_EQ(totals.refused.latency_sum_micros, 60u);
  EXPECT_EQ(totals.refused.latency.count(), 3u);
}

TEST(StatsShard, UpstreamErrorsStayPerColorWhateverTheRoute) {
  StatsRegistry registry{1};
  auto& shard = registry.shard(0);
  shard.record_request(Route::override, Color::green, 502, microseconds{1'000});
  shard.record_upstream_error(Color::green, UpstreamError::reset);
  const auto totals = registry.totals();
  EXPECT_EQ(totals.of(Color::green).upstream_errors[static_cast<std::size_t>(UpstreamError::reset)],
            1u);
  EXPECT_EQ(totals.of(Color::green).requests, 0u);  // the request itself is not judged
}

// A gRPC exchange counts by the status its client got, and as an error when the caller says.
TEST(StatsShard, GrpcStatusesAreCountedPerColor) {
  StatsRegistry registry(1);
  auto& shard = registry.shard(0);
  shard.record_request(Route::split, Color::green, 200, microseconds(1000), 14, true);
  shard.record_request(Route::split, Color::green, 200, microseconds(1000), 0, false);
  shard.record_request(Route::split, Color::green, 200, microseconds(1000), std::nullopt, false);
  const auto totals = registry.totals();
  const auto& green = totals.of(Color::green);
  EXPECT_EQ(green.requests, 3u);
  EXPECT_EQ(green.errors, 1u);
  EXPECT_EQ(green.by_class[1], 3u);
  EXPECT_EQ(green.grpc[14], 1u);
  EXPECT_EQ(green.grpc[0], 1u);
  EXPECT_EQ(totals.of(Color::blue).grpc[14], 0u);
}

// The judge's rule: a 5xx, or a gRPC status of the configured set (a gRPC error rides in a 200).
TEST(CountsAsError, AnErrorIsA5xxOrAConfiguredGrpcStatus) {
  EXPECT_TRUE(counts_as_error(503, std::nullopt, kDefaultGrpcErrorCodes));
  EXPECT_FALSE(counts_as_error(404, std::nullopt, kDefaultGrpcErrorCodes));
  EXPECT_TRUE(counts_as_error(200, 14, kDefaultGrpcErrorCodes));  // UNAVAILABLE
  EXPECT_TRUE(counts_as_error(200, 13, kDefaultGrpcErrorCodes));  // INTERNAL
  EXPECT_FALSE(counts_as_error(200, 5, kDefaultGrpcErrorCodes));  // NOT_FOUND: the caller's
  EXPECT_FALSE(counts_as_error(200, 1, kDefaultGrpcErrorCodes));  // CANCELLED
  EXPECT_FALSE(counts_as_error(200, 0, kDefaultGrpcErrorCodes));
  EXPECT_FALSE(counts_as_error(200, 14, GrpcCodeSet{}));
}

TEST(Route, NamesAreTheMetricsLabels) {
  EXPECT_EQ(name(Route::split), "split");
  EXPECT_EQ(name(Route::override), "override");
  EXPECT_EQ(name(Route::refused), "none");
}

TEST(StatsTotals, LanesAreDistinctAndInTheShardsOrder) {
  StatsTotals totals;
  const auto lanes = totals.lanes();
  EXPECT_EQ(lanes[lane_index(Route::split, Color::blue)], &totals.colors[0]);
  EXPECT_EQ(lanes[lane_index(Route::split, Color::green)], &totals.colors[1]);
  EXPECT_EQ(lanes[lane_index(Route::override, Color::blue)], &totals.overridden[0]);
  EXPECT_EQ(lanes[lane_index(Route::override, Color::green)], &totals.overridden[1]);
  EXPECT_EQ(lanes[lane_index(Route::refused, Color::blue)], &totals.refused);
  EXPECT_EQ(lanes[lane_index(Route::refused, Color::green)], &totals.refused);
}

TEST(StatsShard, NegativeLatencyCountsAsZero) {
  StatsRegistry registry{1};
  registry.shard(0).record_request(Route::split, Color::blue, 200, microseconds{-5});
  const auto totals = registry.totals();
  const auto& blue = totals.of(Color::blue);
  EXPECT_EQ(blue.latency_sum_micros, 0u);
  EXPECT_EQ(blue.latency.count_at_most(0), 1u);
}

TEST(StatsShard, CountsUpstreamErrorsByKind) {
  StatsRegistry registry{2};
  registry.shard(0).record_upstream_error(Color::blue, UpstreamError::connect);
  registry.shard(1).record_upstream_error(Color::blue, UpstreamError::connect);
  registry.shard(1).record_upstream_error(Color::green, UpstreamError::timeout);

  const auto totals = registry.totals();
  const auto kind = [](UpstreamError e) { return static_cast<std::size_t>(e); };
  EXPECT_EQ(totals.of(Color::blue).upstream_errors[kind(UpstreamError::connect)], 2u);
  EXPECT_EQ(totals.of(Color::blue).upstream_errors[kind(UpstreamError::reset)], 0u);
  EXPECT_EQ(totals.of(Color::green).upstream_errors[kind(UpstreamError::timeout)], 1u);
  EXPECT_EQ(name(UpstreamError::connect), "connect");
  EXPECT_EQ(name(UpstreamError::timeout), "timeout");
  EXPECT_EQ(name(UpstreamError::reset), "reset");
}

TEST(StatsShard, DownstreamConnectionsIsTheLevelOverAllShards) {
  StatsRegistry registry{2};
  registry.shard(0).connection_opened();
  registry.shard(0).connection_opened();
  registry.shard(1).connection_opened();
  registry.shard(0).connection_closed();
  EXPECT_EQ(registry.totals().downstream_connections, 2);
  // A connection accepted by one worker's shard may be closed through another's: the sum holds.
  registry.shard(1).connection_closed();
  registry.shard(1).connection_closed();
  EXPECT_EQ(registry.totals().downstream_connections, 0);
}

TEST(StatsTotals, SinceGivesTheWindowAndKeepsTheConnectionLevel) {
  StatsRegistry registry{1};
  auto& shard = registry.shard(0);
  shard.connection_opened();
  for (int i = 0; i < 100; ++i)
    shard.record_request(Route::split, Color::blue, 200, microseconds{100'000});
  const auto before = registry.totals();

  shard.connection_opened();
  for (int i = 0; i < 10; ++i)
    shard.record_request(Route::split, Color::blue, 502, microseconds{1'000});
  shard.record_upstream_error(Color::blue, UpstreamError::reset);
  const auto window = registry.totals().since(before);

  const auto& blue = window.of(Color::blue);
  EXPECT_EQ(blue.requests, 10u);
  EXPECT_EQ(blue.errors, 10u);
  EXPECT_DOUBLE_EQ(blue.error_rate(), 1.0);
  EXPECT_EQ(blue.by_class[kClass2xx], 0u);
  EXPECT_EQ(blue.by_class[kClass5xx], 10u);
  EXPECT_EQ(blue.upstream_errors[static_cast<std::size_t>(UpstreamError::reset)], 1u);
  EXPECT_EQ(blue.latency_sum_micros, 10'000u);
  // The window's p99 is the new fast requests', not the old slow ones'.
  EXPECT_NEAR(blue.p99_ms(), 1.0, 0.01);
  EXPECT_EQ(window.downstream_connections, 2);
}

TEST(StatsTotals, SinceCoversEveryLane) {
  StatsRegistry registry{1};
  auto& shard = registry.shard(0);
  const auto record_each_lane = [&shard](int n, unsigned status, microseconds latency) {
    for (int i = 0; i < n; ++i) {
      shard.record_request(Route::split, Color::blue, status, latency);
      shard.record_request(Route::split, Color::green, status, latency);
      shard.record_request(Route::override, Color::blue, status, latency);
      shard.record_request(Route::override, Color::green, status, latency);
      shard.record_request(Route::abandoned, Color::blue, status, latency);
      shard.record_request(Route::abandoned, Color::green, status, latency);
      shard.record_request(Route::refused, Color::blue, status, latency);
    }
  };
  record_each_lane(100, 200, microseconds{100'000});
  const auto before = registry.totals();
  record_each_lane(10, 503, microseconds{1'000});
  const auto window = registry.totals().since(before);

  for (const ColorTotals* lane : window.lanes()) {
    EXPECT_EQ(lane->requests, 10u);
    EXPECT_EQ(lane->errors, 10u);
    EXPECT_EQ(lane->by_class[kClass2xx], 0u);
    EXPECT_EQ(lane->by_class[kClass5xx], 10u);
    EXPECT_EQ(lane->latency_sum_micros, 10'000u);
    EXPECT_EQ(lane->latency.count(), 10u);
    EXPECT_NEAR(lane->p99_ms(), 1.0, 0.01);  // the new fast requests', not the old slow ones'
  }
  EXPECT_EQ(registry.totals().refused.requests, 110u);  // the totals still hold all of them
}

TEST(StatsRegistry, TotalsSumShardsWrittenConcurrently) {
  constexpr std::size_t kWorkers = 4;
  constexpr int kRequestsPerWorker = 20'000;
  StatsRegistry registry{kWorkers};

  std::atomic<std::size_t> finished{0};
  std::vector<std::thread> workers;
  for (std::size_t w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&registry, &finished, w] {
      auto& shard = registry.shard(w);
      shard.connection_opened();
      for (int i = 0; i < kRequestsPerWorker; ++i) {
        const Color color = i % 4 == 0 ? Color::green : Color::blue;
        const unsigned status = i % 10 == 0 ? 503 : 200;
        shard.record_request(Route::split, color, status, microseconds{100 + i % 1000});
        if (i % 100 == 0) shard.record_upstream_error(color, UpstreamError::connect);
      }
      finished.fetch_add(1, std::memory_order_release);
    });
  }
  // Read while they write: every reading is a consistent lower bound, never more than written.
  std::uint64_t last_seen = 0;
  while (finished.load(std::memory_order_acquire) < kWorkers) {
    const auto totals = registry.totals();
    const auto seen = totals.of(Color::blue).requests + totals.of(Color::green).requests;
    ASSERT_GE(seen, last_seen);
    ASSERT_LE(seen, kWorkers * kRequestsPerWorker);
    last_seen = seen;
  }
  for (auto& worker : workers) worker.join();

  const auto totals = registry.totals();
  const auto& blue = totals.of(Color::blue);
  const auto& green = totals.of(Color::green);
  EXPECT_EQ(green.requests, kWorkers * kRequestsPerWorker / 4);
  EXPECT_EQ(blue.requests, kWorkers * kRequestsPerWorker * 3 / 4);
  EXPECT_EQ(blue.latency.count(), blue.requests);
  EXPECT_EQ(green.latency.count(), green.requests);
  // i % 10 == 0 are 503s; of those, the ones with i % 4 == 0 (i % 20 == 0) went to green.
  EXPECT_EQ(green.errors, kWorkers * kRequestsPerWorker / 20);
  EXPECT_EQ(blue.errors, kWorkers * kRequestsPerWorker / 10 - green.errors);
  EXPECT_EQ(blue.by_class[kClass5xx] + blue.by_class[kClass2xx], blue.requests);
  const auto connect = static_cast<std::size_t>(UpstreamError::connect);
  EXPECT_EQ(green.upstream_errors[connect] + blue.upstream_errors[connect],
            kWorkers * kRequestsPerWorker / 100);
  EXPECT_EQ(totals.downstream_connections, static_cast<std::int64_t>(kWorkers));
}

}  // namespace
}  // namespace bgp

namespace bgp {
namespace {

TEST(StatsRegistry, AnEndpointKeepsItsSlotAndNoSlotIsGivenTwice) {
  const StatsRegistry registry{1};
  const auto blue = registry.endpoint_slot(Color::blue, "127.0.0.1:9001");
  const auto green = registry.endpoint_slot(Color::green, "127.0.0.1:9001");  // same address
  EXPECT_NE(blue, green);
  EXPECT_EQ(registry.endpoint_slot(Color::blue, "127.0.0.1:9001"), blue);  // a reload names again
  const auto names = registry.endpoint_names();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[blue].endpoint, "127.0.0.1:9001");
  EXPECT_EQ(names[green].color, Color::green);
}

TEST(StatsRegistry, EndpointsOverTheLimitAreNotCountedPerEndpoint) {
  StatsRegistry registry{1};
  for (std::size_t i = 0; i < kMaxEndpointSlots; ++i) {
    EXPECT_NE(registry.endpoint_slot(Color::blue, "10.0.0.1:" + std::to_string(i)),
              kNoEndpointSlot);
  }
  const auto over = registry.endpoint_slot(Color::blue, "10.0.0.2:1");
  EXPECT_EQ(over, kNoEndpointSlot);
  registry.shard(0).record_endpoint_request(over, 200, std::chrono::microseconds{10});
  registry.shard(0).upstream_connection_opened(over);
  EXPECT_EQ(registry.endpoint_totals().size(), kMaxEndpointSlots);
}

TEST(StatsRegistry, EndpointTotalsSumShardsPerSlot) {
  StatsRegistry registry{2};
  const auto a = registry.endpoint_slot(Color::blue, "a:1");
  const auto b = registry.endpoint_slot(Color::green, "b:1");
  registry.shard(0).record_endpoint_request(a, 200, std::chrono::microseconds{400});
  registry.shard(1).record_endpoint_request(a, 502, std::chrono::microseconds{20'000});
  registry.shard(1).record_endpoint_request(b, 200, std::chrono::microseconds{20'000'000});
  registry.shard(0).record_endpoint_error(a, UpstreamError::reset);
  registry.shard(0).upstream_connection_opened(a);
  registry.shard(1).upstream_connection_reused(a);
  registry.shard(1).upstream_connection_reused(a);
  const auto totals = registry.endpoint_totals();
  ASSERT_EQ(totals.size(), 2u);
  EXPECT_EQ(totals[a].requests(), 2u);
  EXPECT_EQ(totals[a].by_class[4], 1u);
  EXPECT_EQ(totals[a].upstream_errors[static_cast<std::size_t>(UpstreamError::reset)], 1u);
  EXPECT_EQ(totals[a].connections_opened, 1u);
  EXPECT_EQ(totals[a].connections_reused, 2u);
  EXPECT_EQ(totals[a].latency_sum_micros, 20'400u);
  EXPECT_EQ(totals[a].latency_buckets[0], 1u);                        // <= 0.5 ms
  EXPECT_EQ(totals[a].latency_buckets[duration_bucket(20'000)], 1u);  // <= 25 ms
  EXPECT_EQ(totals[b].latency_buckets.back(), 1u);                    // above 10 s
  EXPECT_EQ(totals[b].requests(), 1u);
}

TEST(StatsRegistry, IdleUpstreamConnectionsIsTheSumOfTheWorkersLevels) {
  StatsRegistry registry{2};
  registry.shard(0).set_idle_upstream_connections(3);
  registry.shard(1).set_idle_upstream_connections(4);
  registry.shard(1).set_idle_upstream_connections(2);
  EXPECT_EQ(registry.totals().idle_upstream_connections, 5u);
}

}  // namespace
}  // namespace bgp
