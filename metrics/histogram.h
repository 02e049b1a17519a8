// A log-linear latency histogram (HdrHistogram-style) in microseconds.
//
// Values below 128 us get a bucket each. Above, every power of two [2^k, 2^(k+1)) is split into 64
// equal buckets, so a bucket is at most 1/64 of its lower bound wide. Reporting a bucket's midpoint
// therefore errs by at most 1/128 (0.79%) of the true value: the p99 is within 1% of the exact one.
// Values above ~4.7 hours are clamped into the last bucket.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>

namespace bgp {

struct HistogramLayout {
  static constexpr int kLinearBits = 7;                        // 0..127 us exact
  static constexpr std::uint64_t kLinear = 1u << kLinearBits;  // 128
  static constexpr std::uint64_t kHalf = kLinear / 2;          // 64 buckets per power of two
  static constexpr int kMaxBit = 33;                           // largest value < 2^34 us
  static constexpr std::size_t kBuckets = kLinear + (kMaxBit - kLinearBits + 1) * kHalf;

  static constexpr std::size_t bucket_of(std::uint64_t micros) noexcept {
    if (micros < kLinear) return static_cast<std::size_t>(micros);
    const int msb = 63 - std::countl_zero(micros);
    if (msb > kMaxBit) return kBuckets - 1;
    const int shift = msb - (kLinearBits - 1);
    const std::uint64_t top = micros >> shift;  // in [64, 128)
    return kLinear + static_cast<std::size_t>(shift - 1) * kHalf + (top - kHalf);
  }
  static constexpr std::uint64_t lower_bound(std::size_t bucket) noexcept {
    if (bucket < kLinear) return bucket;
    const std::size_t shift = (bucket - kLinear) / kHalf + 1;
    const std::uint64_t top = kHalf + (bucket - kLinear) % kHalf;
    return top << shift;
  }
  static constexpr std::uint64_t width(std::size_t bucket) noexcept {
    return bucket < kLinear ? 1 : std::uint64_t{1} << ((bucket - kLinear) / kHalf + 1);
  }
  // The value reported for a bucket: its midpoint (exact for the linear range).
  static constexpr double representative(std::size_t bucket) noexcept {
    return bucket < kLinear ? static_cast<double>(bucket)
                            : static_cast<double>(lower_bound(bucket)) + width(bucket) / 2.0;
  }
};

// The fixed `le` bounds of the exported duration histograms, in microseconds (+Inf is added).
// 20 from 0.5 ms to 10 s, at most 1.67x apart from 10 ms to 1 s (where web p99s live), so that
// histogram_quantile() reads a p99 there within a few percent (a 387 ms p99 reads ~395 ms).
inline constexpr std::array<std::uint64_t, 20> kDurationBoundsMicros{
    500,   1000,   2000,   3000,   5000,   7500,   10000,   15000,   25000,   40000,
    60000, 100000, 150000, 250000, 400000, 600000, 1000000, 2500000, 5000000, 10000000};

// The index of the first bound a latency is at most (kDurationBoundsMicros.size(): above them all).
constexpr std::size_t duration_bucket(std::uint64_t micros) noexcept {
  std::size_t i = 0;
  while (i < kDurationBoundsMicros.size() && micros > kDurationBoundsMicros[i]) ++i;
  return i;
}

// A plain (single-threaded) histogram: sums and differences of shards, percentiles.
class LatencyHistogram {
 public:
  void record(std::uint64_t micros) noexcept { ++counts_[HistogramLayout::bucket_of(micros)]; }
  void add_to_bucket(std::size_t bucket, std::uint64_t n) noexcept { counts_[bucket] += n; }

  std::uint64_t count() const noexcept;
  std::uint64_t bucket_count(std::size_t bucket) const noexcept { return counts_[bucket]; }
  // The q-quantile (0 < q <= 1) in microseconds; 0 when empty. Nearest rank, bucket midpoint.
  double quantile_micros(double q) const noexcept;
  // How many recorded values are <= `micros` (bucket granularity: a bucket counts when its upper
  // edge is <= micros). For Prometheus `le` buckets.
  std::uint64_t count_at_most(double micros) const noexcept;

  LatencyHistogram& operator+=(const LatencyHistogram& other) noexcept;
  LatencyHistogram& operator-=(const LatencyHistogram& other) noexcept;  // other must be older
  bool operator==(const LatencyHistogram&) const = default;

 private:
  std::array<std::uint64_t, HistogramLayout::kBuckets> counts_{};
};

// A counter written by exactly one thread and read by others: the write is a plain load and
// store (no lock prefix, no contended cache line), the read is tear-free.
class SingleWriterCounter {
 public:
  void add(std::uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t read() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A level written by one thread and read by others.
class SingleWriterGauge {
 public:
  void set(std::uint64_t value) noexcept { value_.store(value, std::memory_order_relaxed); }
  std::uint64_t read() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// The histogram a worker writes (one writer) and the control plane copies.
class ShardHistogram {
 public:
  void record(std::uint64_t micros) noexcept { counts_[HistogramLayout::bucket_of(micros)].add(); }
  void copy_into(LatencyHistogram& out) const noexcept;  // adds this shard's counts to `out`

 private:
  std::array<SingleWriterCounter, HistogramLayout::kBuckets> counts_{};
};

}  // namespace bgp
