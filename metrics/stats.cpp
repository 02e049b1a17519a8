#include "metrics/stats.h"

#include <type_traits>

namespace bgp {

std::string_view name(UpstreamError kind) noexcept {
  switch (kind) {
    case UpstreamError::connect:
      return "connect";
    case UpstreamError::timeout:
      return "timeout";
    case UpstreamError::reset:
      return "reset";
  }
  return "reset";
}

std::string_view name(Route route) noexcept {
  switch (route) {
    case Route::split:
      return "split";
    case Route::override:
      return "override";
    case Route::refused:
      return "none";
  }
  return "none";
}

namespace {

// The one list of a lane's fields: calls op(totals_field, source_field) for each field of
// ColorTotals and the same-named field of `source` (another ColorTotals, or a shard's lane), array
// fields element by element.
template <typename Source, typename Op>
void for_each_field(ColorTotals& totals, Source& source, Op&& op) {
  op(totals.requests, source.requests);
  op(totals.errors, source.errors);
  for (std::size_t k = 0; k < kStatusClasses; ++k) op(totals.by_class[k], source.by_class[k]);
  for (std::size_t k = 0; k < kUpstreamErrorKinds; ++k) {
    op(totals.upstream_errors[k], source.upstream_errors[k]);
  }
  op(totals.latency_sum_micros, source.latency_sum_micros);
  op(totals.latency, source.latency);
}

}  // namespace

ColorTotals& ColorTotals::operator+=(const ColorTotals& other) noexcept {
  for_each_field(*this, other, [](auto& sum, const auto& add) { sum += add; });
  return *this;
}

ColorTotals& ColorTotals::operator-=(const ColorTotals& other) noexcept {
  for_each_field(*this, other, [](auto& difference, const auto& sub) { difference -= sub; });
  return *this;
}

StatsTotals StatsTotals::since(const StatsTotals& earlier) const {
  StatsTotals window = *this;
  const auto window_lanes = window.lanes();
  const auto earlier_lanes = earlier.lanes();
  for (std::size_t i = 0; i < kLanes; ++i) *window_lanes[i] -= *earlier_lanes[i];
  return window;
}

void StatsShard::record_request(Route route, Color color, unsigned status,
                                std::chrono::microseconds latency) noexcept {
  auto& lane = lanes_[lane_index(route, color)];
  const auto micros = static_cast<std::uint64_t>(latency.count() < 0 ? 0 : latency.count());
  lane.requests.add();
  if (status >= 500) lane.errors.add();
  const unsigned status_class = status / 100;
  if (status_class >= 1 && status_class <= kStatusClasses) lane.by_class[status_class - 1].add();
  lane.latency_sum_micros.add(micros);
  lane.latency.record(micros);
}

void StatsShard::record_upstream_error(Color color, UpstreamError kind) noexcept {
  lanes_[lane_index(Route::split, color)].upstream_errors[static_cast<std::size_t>(kind)].add();
}

void StatsShard::add_to(StatsTotals& totals) const noexcept {
  const auto totals_lanes = totals.lanes();
  for (std::size_t i = 0; i < kLanes; ++i) {
    for_each_field(*totals_lanes[i], lanes_[i], [](auto& sum, const auto& counter) {
      if constexpr (std::is_same_v<std::decay_t<decltype(counter)>, ShardHistogram>) {
        counter.copy_into(sum);
      } else {
        sum += counter.read();
      }
    });
  }
  totals.downstream_connections +=
      static_cast<std::int64_t>(opened_.read()) - static_cast<std::int64_t>(closed_.read());
}

StatsRegistry::StatsRegistry(std::size_t shards) {
  shards_.reserve(shards);
  for (std::size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<StatsShard>());
}

StatsTotals StatsRegistry::totals() const {
  StatsTotals totals;
  for (const auto& shard : shards_) shard->add_to(totals);
  return totals;
}

}  // namespace bgp
