#include "metrics/histogram.h"

#include <cmath>
#include <limits>

namespace bgp {

std::uint64_t LatencyHistogram::count() const noexcept {
  std::uint64_t total = 0;
  for (auto n : counts_) total += n;
  return total;
}

double LatencyHistogram::quantile_micros(double q) const noexcept {
  const std::uint64_t total = count();
  if (total == 0) return 0.0;
  // total * q can land one ulp above a whole rank (100 * 0.07 == 7.000000000000001): shave that
  // rounding off before ceil so that the nearest rank is not one too high.
  const auto wanted =
      static_cast<double>(total) * q * (1.0 - 4 * std::numeric_limits<double>::epsilon());
  std::uint64_t rank = static_cast<std::uint64_t>(std::ceil(wanted));
  if (rank < 1) rank = 1;
  if (rank > total) rank = total;
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < counts_.size(); ++b) {
    seen += counts_[b];
    if (seen >= rank) return HistogramLayout::representative(b);
  }
  return HistogramLayout::representative(counts_.size() - 1);
}

std::uint64_t LatencyHistogram::count_at_most(double micros) const noexcept {
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < counts_.size(); ++b) {
    const double upper = static_cast<double>(HistogramLayout::lower_bound(b)) +
                         static_cast<double>(HistogramLayout::width(b));
    if (upper > micros + 1.0) break;  // bucket b holds values up to upper - 1
    seen += counts_[b];
  }
  return seen;
}

LatencyHistogram& LatencyHistogram::operator+=(const LatencyHistogram& other) noexcept {
  for (std::size_t b = 0; b < counts_.size(); ++b) counts_[b] += other.counts_[b];
  return *this;
}

LatencyHistogram& LatencyHistogram::operator-=(const LatencyHistogram& other) noexcept {
  for (std::size_t b = 0; b < counts_.size(); ++b) counts_[b] -= other.counts_[b];
  return *this;
}

void ShardHistogram::copy_into(LatencyHistogram& out) const noexcept {
  for (std::size_t b = 0; b < counts_.size(); ++b) {
    if (const auto n = counts_[b].read()) out.add_to_bucket(b, n);
  }
}

}  // namespace bgp
