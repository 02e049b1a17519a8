// Micro-benchmarks of the per-request hot path and of the controller's window read.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "metrics/stats.h"
#include "proxy/split.h"

namespace {

using bgp::Color;

bgp::Weights split_75_25() {
  bgp::Weights w;
  w.set(Color::green, 2500);
  return w;
}

void BM_PickColorRandom(benchmark::State& state) {
  const auto weights = split_75_25();
  bgp::SplitMix64 random(42);
  for (auto _ : state) {
    benchmark::DoNotOptimize(bgp::pick_color(weights, Color::blue, random.next()));
  }
}
BENCHMARK(BM_PickColorRandom);

void BM_PickColorSticky(benchmark::State& state) {
  const auto weights = split_75_25();
  std::vector<std::string> keys;
  for (int i = 0; i < 1024; ++i) keys.push_back("user-" + std::to_string(i * 7919));
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& key = keys[i++ & 1023];
    benchmark::DoNotOptimize(bgp::pick_color(weights, Color::blue, bgp::sticky_hash(key)));
  }
}
BENCHMARK(BM_PickColorSticky);

void BM_RecordRequest(benchmark::State& state) {
  bgp::StatsShard shard;
  std::minstd_rand random(7);
  std::lognormal_distribution<double> latency_us(7.0, 1.0);  // ~1 ms median
  std::vector<std::chrono::microseconds> latencies;
  for (int i = 0; i < 4096; ++i) {
    latencies.emplace_back(static_cast<long>(latency_us(random)));
  }
  std::size_t i = 0;
  for (auto _ : state) {
    shard.record_request(i & 1 ? Color::green : Color::blue, 200, latencies[i & 4095]);
    ++i;
  }
  benchmark::ClobberMemory();
}
BENCHMARK(BM_RecordRequest);

// What the controller does every check_interval: sum the shards, take the window, read the p99.
void BM_WindowP99(benchmark::State& state) {
  const auto workers = static_cast<std::size_t>(state.range(0));
  bgp::StatsRegistry registry(workers);
  std::minstd_rand random(7);
  std::lognormal_distribution<double> latency_us(7.0, 1.0);
  for (std::size_t w = 0; w < workers; ++w) {
    for (int i = 0; i < 100000; ++i) {
      registry.shard(w).record_request(Color::green, 200,
                                       std::chrono::microseconds(long(latency_us(random))));
    }
  }
  const bgp::StatsTotals start;
  for (auto _ : state) {
    const auto window = registry.totals().since(start);
    benchmark::DoNotOptimize(window.of(Color::green).p99_ms());
  }
}
BENCHMARK(BM_WindowP99)->Arg(1)->Arg(2)->Arg(8);

}  // namespace

BENCHMARK_MAIN();
