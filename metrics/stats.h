// Per-worker statistics shards and their sums. Each worker writes only its own shard (no locks,
// no atomics with a lock prefix); the control plane and /metrics sum all shards when they read.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/color.h"
#include "config/grpc_status.h"
#include "metrics/histogram.h"

namespace bgp {

enum class UpstreamError : std::uint8_t { connect = 0, timeout = 1, reset = 2 };
inline constexpr std::size_t kUpstreamErrorKinds = 3;
inline constexpr std::size_t kStatusClasses = 5;  // 1xx .. 5xx

std::string_view name(UpstreamError kind) noexcept;

// Why a TLS handshake failed, for a metric label: few values, none from the peer's free choice.
enum class HandshakeFailure : std::uint8_t {
  protocol_version,
  no_shared_cipher,
  no_alpn,
  bad_certificate,
  not_tls,
  timeout,  // the handshake's deadline cancelled it
  closed,   // the peer closed or reset the connection mid-handshake
  other,
};
inline constexpr std::size_t kHandshakeFailureKinds = 8;
std::string_view name(HandshakeFailure failure) noexcept;

// Why an HTTP/2 connection ended, for a metric label (the codecs' ending(); closed: the socket
// ended, or a GOAWAY of ours without error), and on which side of the proxy.
enum class Http2Ending : std::uint8_t {
  closed,
  goaway,  // the peer's GOAWAY
  protocol_error,
  flow_control,
  flood,  // SETTINGS, PING, empty frames, CONTINUATION
  rapid_reset,
  header_flood,
};
inline constexpr std::size_t kHttp2EndingKinds = 7;
std::string_view name(Http2Ending ending) noexcept;
enum class Http2Side : std::uint8_t { client, upstream };

// How a request found its color: split = the weighted split or a sticky key, judged by the rollout;
// override = the override header, served and counted, never judged; refused = answered by the
// proxy before routing, counted against no color; abandoned = split traffic whose client left
// before the color answered (499): its wait is a censored latency, never an outcome
// (docs/judge.md, "Requests their clients abandon").
enum class Route : std::uint8_t { split, override, refused, abandoned };

// "split", "override", "none", "abandoned" (the metrics label)
std::string_view name(Route route) noexcept;

// Totals for one lane (a color and a route), summed over shards at one instant (or a difference of
// two such sums).
struct ColorTotals {
  std::uint64_t requests = 0;
  std::uint64_t errors =
      0;  // as counts_as_error() says: 5xx, and gRPC statuses of grpc.error_codes
  std::array<std::uint64_t, kStatusClasses> by_class{};  // [0] = 1xx ... [4] = 5xx
  // Failed upstream attempts of the color, whatever the route: kept in the split lane only (for
  // the metrics; the judge reads requests, errors and latency).
  std::array<std::uint64_t, kUpstreamErrorKinds> upstream_errors{};
  std::uint64_t latency_sum_micros = 0;
  LatencyHistogram latency;
  std::array<std::uint64_t, kGrpcCodes> grpc{};  // gRPC exchanges, by the status the client got

  double error_rate() const noexcept {
    return requests ? static_cast<double>(errors) / static_cast<double>(requests) : 0.0;
  }
  double p99_ms() const noexcept { return latency.quantile_micros(0.99) / 1000.0; }

  ColorTotals& operator+=(const ColorTotals& other) noexcept;
  ColorTotals& operator-=(const ColorTotals& other) noexcept;
};

// Requests are counted in lanes: one per color for the judged split traffic, one per color for the
// override header's traffic, one per color for split traffic its clients abandoned, and one for
// refusals, which have no color.
inline constexpr std::size_t kLanes = 7;

struct StatsTotals {
  std::array<ColorTotals, 2> colors;            // Route::split: the traffic a rollout judges
  std::array<ColorTotals, 2> overridden;        // Route::override: served, never judged
  std::array<ColorTotals, 2> abandoned;         // Route::abandoned: waits, judged as censored
  ColorTotals refused;                          // Route::refused: no color
  std::int64_t downstream_connections = 0;      // open now
  std::uint64_t idle_upstream_connections = 0;  // pooled, as of each worker's last sweep
  std::uint64_t access_lines_lost = 0;          // log.access lines a failed write dropped
  std::uint64_t tls_handshakes_full = 0;        // TLS listener: handshakes done, full ...
  std::uint64_t tls_handshakes_resumed = 0;     // ... or resuming a session (a ticket)
  std::array<std::uint64_t, kHandshakeFailureKinds> tls_handshake_failures{};
  std::array<std::array<std::uint64_t, kHttp2EndingKinds>, 2> http2_endings{};  // by Http2Side

  // The judged traffic of a color (Route::split only).
  const ColorTotals& of(Color c) const noexcept { return colors[index(c)]; }
  const ColorTotals& overridden_of(Color c) const noexcept { return overridden[index(c)]; }
  const ColorTotals& abandoned_of(Color c) const noexcept { return abandoned[index(c)]; }
  // Every lane, in the order of lane_index(): the one list of the lanes.
  std::array<ColorTotals*, kLanes> lanes() noexcept {
    return {&colors[0],    &colors[1],    &overridden[0], &overridden[1],
            &abandoned[0], &abandoned[1], &refused};
  }
  std::array<const ColorTotals*, kLanes> lanes() const noexcept {
    return {&colors[0],    &colors[1],    &overridden[0], &overridden[1],
            &abandoned[0], &abandoned[1], &refused};
  }
  // The window between an earlier reading and this one (connections stay a level, not a delta).
  StatsTotals since(const StatsTotals& earlier) const;
};

// The lane of a request in StatsShard and StatsTotals::lanes().
constexpr std::size_t lane_index(Route route, Color color) noexcept {
  switch (route) {
    case Route::split:
      return index(color);
    case Route::override:
      return 2 + index(color);
    case Route::abandoned:
      return 4 + index(color);
    case Route::refused:
      break;
  }
  return kLanes - 1;
}

// Per-endpoint figures, for finding the one bad backend of a color and reading its pool. Endpoints
// are counted in slots, one per (color, endpoint) for the process's lifetime: a reload keeps an
// endpoint's slot (its counters go on), and a slot is never given to another endpoint.
inline constexpr std::size_t kMaxEndpointSlots = 256;
inline constexpr std::uint16_t kNoEndpointSlot =
    0xffff;  // over the limit: not counted per endpoint

struct EndpointTotals {
  std::array<std::uint64_t, kStatusClasses> by_class{};  // every route's requests it answered
  std::array<std::uint64_t, kUpstreamErrorKinds> upstream_errors{};
  std::uint64_t connections_opened = 0;  // fresh upstream connections
  std::uint64_t connections_reused = 0;  // requests sent on a pooled connection
  std::uint64_t latency_sum_micros = 0;
  // Per bucket of kDurationBoundsMicros, not cumulative; the last one: above every bound.
  std::array<std::uint64_t, kDurationBoundsMicros.size() + 1> latency_buckets{};

  std::uint64_t requests() const noexcept;
};

// An endpoint's slot name.
struct EndpointSlotName {
  Color color;
  std::string endpoint;  // "host:port" as configured
};

// Whether a finished request counts as an error for the judge: a 5xx (the proxy's own 502, 503
// and 504 included), or, for a gRPC exchange, a status among `grpc_errors` (a gRPC error travels
// in a 200).
bool counts_as_error(unsigned status, std::optional<std::uint8_t> grpc_status,
                     const GrpcCodeSet& grpc_errors) noexcept;

// One worker's shard. Cache-line aligned so that two workers never share a line.
class alignas(64) StatsShard {
 public:
  // Records one finished request, once, on every exit path, in the lane of its route and color
  // (the color is ignored for Route::refused).
  void record_request(Route route, Color color, unsigned status, std::chrono::microseconds latency,
                      std::optional<std::uint8_t> grpc_status, bool error) noexcept;
  // An HTTP exchange: an error when its status is.
  void record_request(Route route, Color color, unsigned status,
                      std::chrono::microseconds latency) noexcept {
    record_request(route, color, status, latency, std::nullopt,
                   counts_as_error(status, std::nullopt, {}));
  }
  void record_upstream_error(Color color, UpstreamError kind) noexcept;
  void connection_opened() noexcept { opened_.add(); }
  void connection_closed() noexcept { closed_.add(); }

  // The same request or failure counted for its endpoint (`slot` may be kNoEndpointSlot).
  void record_endpoint_request(std::uint16_t slot, unsigned status,
                               std::chrono::microseconds latency) noexcept;
  void record_endpoint_error(std::uint16_t slot, UpstreamError kind) noexcept;
  void upstream_connection_opened(std::uint16_t slot) noexcept;
  void upstream_connection_reused(std::uint16_t slot) noexcept;
  void access_lines_lost(std::uint64_t n) noexcept { access_lines_lost_.add(n); }
  void tls_handshake_done(bool resumed) noexcept { (resumed ? tls_resumed_ : tls_full_).add(); }
  void tls_handshake_failed(HandshakeFailure why) noexcept {
    tls_failures_[static_cast<std::size_t>(why)].add();
  }
  void http2_connection_ended(Http2Side side, Http2Ending why) noexcept {
    http2_endings_[static_cast<std::size_t>(side)][static_cast<std::size_t>(why)].add();
  }
  // The worker's pooled idle upstream connections (set by its pool sweep, once a second).
  void set_idle_upstream_connections(std::uint64_t n) noexcept { idle_upstreams_.set(n); }

  void add_to(StatsTotals& totals) const noexcept;
  void add_endpoints_to(std::vector<EndpointTotals>& totals) const noexcept;  // slot-indexed

 private:
  struct PerEndpoint {
    std::array<SingleWriterCounter, kStatusClasses> by_class;
    std::array<SingleWriterCounter, kUpstreamErrorKinds> upstream_errors;
    SingleWriterCounter connections_opened, connections_reused, latency_sum_micros;
    std::array<SingleWriterCounter, kDurationBoundsMicros.size() + 1> latency_buckets;
  };
  struct PerLane {
    SingleWriterCounter requests, errors, latency_sum_micros;
    std::array<SingleWriterCounter, kStatusClasses> by_class;
    std::array<SingleWriterCounter, kUpstreamErrorKinds> upstream_errors;
    ShardHistogram latency;
    std::array<SingleWriterCounter, kGrpcCodes> grpc;
  };
  PerEndpoint* endpoint(std::uint16_t slot) noexcept {
    return slot < kMaxEndpointSlots ? &endpoints_[slot] : nullptr;
  }

  std::array<PerLane, kLanes> lanes_;  // indexed by lane_index(), as StatsTotals::lanes()
  SingleWriterCounter opened_, closed_;
  SingleWriterGauge idle_upstreams_;
  SingleWriterCounter tls_full_, tls_resumed_, access_lines_lost_;
  std::array<SingleWriterCounter, kHandshakeFailureKinds> tls_failures_;
  std::array<std::array<SingleWriterCounter, kHttp2EndingKinds>, 2> http2_endings_;
  std::array<PerEndpoint, kMaxEndpointSlots> endpoints_;
};

// Owns one shard per worker (plus any extra writers the caller asks for).
class StatsRegistry {
 public:
  explicit StatsRegistry(std::size_t shards);

  StatsShard& shard(std::size_t i) { return *shards_.at(i); }
  std::size_t size() const noexcept { return shards_.size(); }
  StatsTotals totals() const;  // sums every shard now

  // The slot of an endpoint (the one it had, or a new one; kNoEndpointSlot when all are taken).
  // Control plane only. Naming a slot changes no counted value, hence const: whoever reads the
  // stats may name the endpoints it builds routing from.
  std::uint16_t endpoint_slot(Color color, std::string_view endpoint) const;
  std::vector<EndpointSlotName> endpoint_names() const;  // indexed by slot
  std::vector<EndpointTotals> endpoint_totals() const;   // sums every shard now, by slot

 private:
  std::vector<std::unique_ptr<StatsShard>> shards_;
  mutable std::mutex slots_mutex_;
  mutable std::vector<EndpointSlotName> slot_names_;
};

}  // namespace bgp
