#include "metrics/stats.h"

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

ColorTotals& ColorTotals::operator+=(const ColorTotals& other) noexcept {
  requests += other.requests;
  errors += other.errors;
  for (std::size_t i = 0; i < by_class.size(); ++i) by_class[i] += other.by_class[i];
  for (std::size_t i = 0; i < upstream_errors.size(); ++i) {
    upstream_errors[i] += other.upstream_errors[i];
  }
  latency_sum_micros += other.latency_sum_micros;
  latency += other.latency;
  return *this;
}

ColorTotals& ColorTotals::operator-=(const ColorTotals& other) noexcept {
  requests -= other.requests;
  errors -= other.errors;
  for (std::size_t i = 0; i < by_class.size(); ++i) by_class[i] -= other.by_class[i];
  for (std::size_t i = 0; i < upstream_errors.size(); ++i) {
    upstream_errors[i] -= other.upstream_errors[i];
  }
  latency_sum_micros -= other.latency_sum_micros;
  latency -= other.latency;
  return *this;
}

StatsTotals StatsTotals::since(const StatsTotals& earlier) const {
  StatsTotals window = *this;
  for (std::size_t c = 0; c < colors.size(); ++c) window.colors[c] -= earlier.colors[c];
  return window;
}

void StatsShard::record_request(Color color, unsigned status,
                                std::chrono::microseconds latency) noexcept {
  auto& c = colors_[index(color)];
  const auto micros = static_cast<std::uint64_t>(latency.count() < 0 ? 0 : latency.count());
  c.requests.add();
  if (status >= 500) c.errors.add();
  const unsigned status_class = status / 100;
  if (status_class >= 1 && status_class <= kStatusClasses) c.by_class[status_class - 1].add();
  c.latency_sum_micros.add(micros);
  c.latency.record(micros);
}

void StatsShard::record_upstream_error(Color color, UpstreamError kind) noexcept {
  colors_[index(color)].upstream_errors[static_cast<std::size_t>(kind)].add();
}

void StatsShard::add_to(StatsTotals& totals) const noexcept {
  for (std::size_t i = 0; i < colors_.size(); ++i) {
    const auto& c = colors_[i];
    auto& t = totals.colors[i];
    t.requests += c.requests.read();
    t.errors += c.errors.read();
    for (std::size_t k = 0; k < kStatusClasses; ++k) t.by_class[k] += c.by_class[k].read();
    for (std::size_t k = 0; k < kUpstreamErrorKinds; ++k) {
      t.upstream_errors[k] += c.upstream_errors[k].read();
    }
    t.latency_sum_micros += c.latency_sum_micros.read();
    c.latency.copy_into(t.latency);
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
