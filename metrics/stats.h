// Per-worker statistics shards and their sums. Each worker writes only its own shard (no locks,
// no atomics with a lock prefix); the control plane and /metrics sum all shards when they read.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "config/color.h"
#include "metrics/histogram.h"

namespace bgp {

enum class UpstreamError : std::uint8_t { connect = 0, timeout = 1, reset = 2 };
inline constexpr std::size_t kUpstreamErrorKinds = 3;
inline constexpr std::size_t kStatusClasses = 5;  // 1xx .. 5xx

std::string_view name(UpstreamError kind) noexcept;

// Totals for one color, summed over shards at one instant (or a difference of two such sums).
struct ColorTotals {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;  // responses with status >= 500, the proxy's own 502/503/504 included
  std::array<std::uint64_t, kStatusClasses> by_class{};  // [0] = 1xx ... [4] = 5xx
  std::array<std::uint64_t, kUpstreamErrorKinds> upstream_errors{};
  std::uint64_t latency_sum_micros = 0;
  LatencyHistogram latency;

  double error_rate() const noexcept {
    return requests ? static_cast<double>(errors) / static_cast<double>(requests) : 0.0;
  }
  double p99_ms() const noexcept { return latency.quantile_micros(0.99) / 1000.0; }

  ColorTotals& operator+=(const ColorTotals& other) noexcept;
  ColorTotals& operator-=(const ColorTotals& other) noexcept;
};

struct StatsTotals {
  std::array<ColorTotals, 2> colors;
  std::int64_t downstream_connections = 0;  // open now

  const ColorTotals& of(Color c) const noexcept { return colors[index(c)]; }
  // The window between an earlier reading and this one (connections stay a level, not a delta).
  StatsTotals since(const StatsTotals& earlier) const;
};

// One worker's shard. Cache-line aligned so that two workers never share a line.
class alignas(64) StatsShard {
 public:
  // Records one finished request, once, on every exit path.
  void record_request(Color color, unsigned status, std::chrono::microseconds latency) noexcept;
  void record_upstream_error(Color color, UpstreamError kind) noexcept;
  void connection_opened() noexcept { opened_.add(); }
  void connection_closed() noexcept { closed_.add(); }

  void add_to(StatsTotals& totals) const noexcept;

 private:
  struct PerColor {
    SingleWriterCounter requests, errors, latency_sum_micros;
    std::array<SingleWriterCounter, kStatusClasses> by_class;
    std::array<SingleWriterCounter, kUpstreamErrorKinds> upstream_errors;
    ShardHistogram latency;
  };
  std::array<PerColor, 2> colors_;
  SingleWriterCounter opened_, closed_;
};

// Owns one shard per worker (plus any extra writers the caller asks for).
class StatsRegistry {
 public:
  explicit StatsRegistry(std::size_t shards);

  StatsShard& shard(std::size_t i) { return *shards_.at(i); }
  std::size_t size() const noexcept { return shards_.size(); }
  StatsTotals totals() const;  // sums every shard now

 private:
  std::vector<std::unique_ptr<StatsShard>> shards_;
};

}  // namespace bgp
