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

std::string_view name(Http2Ending ending) noexcept {
  switch (ending) {
    case Http2Ending::closed:
      return "closed";
    case Http2Ending::goaway:
      return "goaway";
    case Http2Ending::protocol_error:
      return "protocol_error";
    case Http2Ending::flow_control:
      return "flow_control";
    case Http2Ending::flood:
      return "flood";
    case Http2Ending::rapid_reset:
      return "rapid_reset";
    case Http2Ending::header_flood:
      return "header_flood";
  }
  return "closed";
}

std::string_view name(HandshakeFailure failure) noexcept {
  switch (failure) {
    case HandshakeFailure::protocol_version:
      return "protocol_version";
    case HandshakeFailure::no_shared_cipher:
      return "no_shared_cipher";
    case HandshakeFailure::no_alpn:
      return "no_alpn";
    case HandshakeFailure::bad_certificate:
      return "bad_certificate";
    case HandshakeFailure::not_tls:
      return "not_tls";
    case HandshakeFailure::timeout:
      return "timeout";
    case HandshakeFailure::closed:
      return "closed";
    case HandshakeFailure::other:
      return "other";
  }
  return "other";
}

std::string_view name(Route route) noexcept {
  switch (route) {
    case Route::split:
      return "split";
    case Route::override:
      return "override";
    case Route::refused:
      return "none";
    case Route::abandoned:
      return "abandoned";
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
  for (std::size_t k = 0; k < kGrpcCodes; ++k) op(totals.grpc[k], source.grpc[k]);
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

bool counts_as_error(unsigned status, std::optional<std::uint8_t> grpc_status,
                     const GrpcCodeSet& grpc_errors) noexcept {
  return status >= 500 || (grpc_status && grpc_errors.contains(*grpc_status));
}

void StatsShard::record_request(Route route, Color color, unsigned status,
                                std::chrono::microseconds latency,
                                std::optional<std::uint8_t> grpc_status, bool error) noexcept {
  auto& lane = lanes_[lane_index(route, color)];
  const auto micros = static_cast<std::uint64_t>(latency.count() < 0 ? 0 : latency.count());
  lane.requests.add();
  if (error) lane.errors.add();
  if (grpc_status && *grpc_status < kGrpcCodes) lane.grpc[*grpc_status].add();
  const unsigned status_class = status / 100;
  if (status_class >= 1 && status_class <= kStatusClasses) lane.by_class[status_class - 1].add();
  lane.latency_sum_micros.add(micros);
  lane.latency.record(micros);
}

void StatsShard::record_upstream_error(Color color, UpstreamError kind) noexcept {
  lanes_[lane_index(Route::split, color)].upstream_errors[static_cast<std::size_t>(kind)].add();
}

std::uint64_t EndpointTotals::requests() const noexcept {
  std::uint64_t n = 0;
  for (const auto count : by_class) n += count;
  return n;
}

void StatsShard::record_endpoint_request(std::uint16_t slot, unsigned status,
                                         std::chrono::microseconds latency) noexcept {
  PerEndpoint* e = endpoint(slot);
  if (!e) return;
  const auto micros = static_cast<std::uint64_t>(latency.count() < 0 ? 0 : latency.count());
  const unsigned status_class = status / 100;
  if (status_class >= 1 && status_class <= kStatusClasses) e->by_class[status_class - 1].add();
  e->latency_sum_micros.add(micros);
  e->latency_buckets[duration_bucket(micros)].add();
}

void StatsShard::record_endpoint_error(std::uint16_t slot, UpstreamError kind) noexcept {
  if (PerEndpoint* e = endpoint(slot)) e->upstream_errors[static_cast<std::size_t>(kind)].add();
}

void StatsShard::upstream_connection_opened(std::uint16_t slot) noexcept {
  if (PerEndpoint* e = endpoint(slot)) e->connections_opened.add();
}

void StatsShard::upstream_connection_reused(std::uint16_t slot) noexcept {
  if (PerEndpoint* e = endpoint(slot)) e->connections_reused.add();
}

void StatsShard::add_endpoints_to(std::vector<EndpointTotals>& totals) const noexcept {
  const auto sum = [](auto& out, const auto& counters) {
    for (std::size_t k = 0; k < out.size(); ++k) out[k] += counters[k].read();
  };
  for (std::size_t slot = 0; slot < totals.size() && slot < kMaxEndpointSlots; ++slot) {
    EndpointTotals& out = totals[slot];
    const PerEndpoint& in = endpoints_[slot];
    sum(out.by_class, in.by_class);
    sum(out.upstream_errors, in.upstream_errors);
    sum(out.latency_buckets, in.latency_buckets);
    out.connections_opened += in.connections_opened.read();
    out.connections_reused += in.connections_reused.read();
    out.latency_sum_micros += in.latency_sum_micros.read();
  }
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
  totals.idle_upstream_connections += idle_upstreams_.read();
  totals.access_lines_lost += access_lines_lost_.read();
  totals.tls_handshakes_full += tls_full_.read();
  totals.tls_handshakes_resumed += tls_resumed_.read();
  for (std::size_t k = 0; k < kHandshakeFailureKinds; ++k) {
    totals.tls_handshake_failures[k] += tls_failures_[k].read();
  }
  for (std::size_t side = 0; side < 2; ++side) {
    for (std::size_t k = 0; k < kHttp2EndingKinds; ++k) {
      totals.http2_endings[side][k] += http2_endings_[side][k].read();
    }
  }
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

std::uint16_t StatsRegistry::endpoint_slot(Color color, std::string_view endpoint) const {
  std::lock_guard lock(slots_mutex_);
  for (std::size_t slot = 0; slot < slot_names_.size(); ++slot) {
    if (slot_names_[slot].color == color && slot_names_[slot].endpoint == endpoint) {
      return static_cast<std::uint16_t>(slot);
    }
  }
  if (slot_names_.size() >= kMaxEndpointSlots) return kNoEndpointSlot;
  slot_names_.push_back({color, std::string(endpoint)});
  return static_cast<std::uint16_t>(slot_names_.size() - 1);
}

std::vector<EndpointSlotName> StatsRegistry::endpoint_names() const {
  std::lock_guard lock(slots_mutex_);
  return slot_names_;
}

std::vector<EndpointTotals> StatsRegistry::endpoint_totals() const {
  std::vector<EndpointTotals> totals(endpoint_names().size());
  for (const auto& shard : shards_) shard->add_endpoints_to(totals);
  return totals;
}

}  // namespace bgp
