// The immutable routing snapshot: everything a worker needs to route a request. The control plane
// builds a new one and publishes it whole; workers never see one change under them.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/smart_ptr/intrusive_ptr.hpp>
#include <boost/smart_ptr/intrusive_ref_counter.hpp>

#include "config/color.h"
#include "config/config.h"
#include "metrics/stats.h"
#include "proxy/access_log.h"
#include "proxy/tls/tls_context.h"

namespace bgp {

struct Endpoint {
  Address address;    // as configured, for logs and metric labels
  std::string label;  // address.to_string()
  boost::asio::ip::tcp::endpoint
      resolved;  // resolved when the snapshot is built, never per request
  bool healthy = true;
  std::uint16_t stats_slot = kNoEndpointSlot;  // where its per-endpoint figures are counted
  std::shared_ptr<const TlsClientContext>
      tls{};           // its color's TLS (backends.<color>.tls); null: TCP
  bool http2 = false;  // spoken to in HTTP/2 (backends.<color>.protocol h2c or h2)
};

struct RoutingSnapshot {
  std::uint64_t version = 0;
  Color live = Color::blue;
  Weights weights;  // basis points per color, sums to 10000
  std::array<std::vector<Endpoint>, 2> endpoints;
  std::shared_ptr<const Config> config;             // routing, timeouts and limits in force
  std::shared_ptr<const AccessLogFile> access_log;  // null: log.access is off
  std::shared_ptr<const TlsServerContext> tls;      // the TLS listener's, for new handshakes

  Color candidate() const noexcept { return other(live); }
  const std::vector<Endpoint>& endpoints_of(Color c) const noexcept { return endpoints[index(c)]; }
  bool has_healthy(Color c) const noexcept;
};

// Where the control plane publishes snapshots. Readers on the hot path compare one version number
// (an uncontended acquire load) and take the lock only on the rare change.
class SnapshotSlot {
 public:
  void publish(std::shared_ptr<const RoutingSnapshot> snapshot);
  std::shared_ptr<const RoutingSnapshot> load() const;
  std::uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const RoutingSnapshot> current_;
  std::atomic<std::uint64_t> version_{0};
};

// A snapshot kept alive for one request on one worker. Copying it counts without atomics: a
// shared_ptr copy per request would bounce one reference count between every worker's cache.
class SnapshotLease {
 public:
  SnapshotLease() = default;

  const RoutingSnapshot& operator*() const noexcept { return *held_->snapshot; }
  const RoutingSnapshot* operator->() const noexcept { return held_->snapshot.get(); }
  explicit operator bool() const noexcept { return held_ != nullptr; }

 private:
  friend class SnapshotCache;
  // One worker's reference to a snapshot; lives while the worker's cache or a lease points to it.
  struct Held : boost::intrusive_ref_counter<Held, boost::thread_unsafe_counter> {
    explicit Held(std::shared_ptr<const RoutingSnapshot> s) : snapshot(std::move(s)) {}
    std::shared_ptr<const RoutingSnapshot> snapshot;
  };
  explicit SnapshotLease(boost::intrusive_ptr<Held> held) noexcept : held_(std::move(held)) {}

  boost::intrusive_ptr<Held> held_;
};

// A worker's copy of the current snapshot (one per worker thread, not shared). Leases taken from
// it must be released on the same thread (or after the worker stopped).
class SnapshotCache {
 public:
  explicit SnapshotCache(const SnapshotSlot& slot) : slot_(slot) {}

  const RoutingSnapshot& get() {
    const auto version = slot_.version();
    if (version != seen_version_ || !current_) refresh(version);
    return *current_->snapshot;
  }
  // Keeps the snapshot alive across a request even if a newer one arrives meanwhile.
  SnapshotLease hold() {
    get();
    return SnapshotLease(current_);
  }

 private:
  void refresh(std::uint64_t version);

  const SnapshotSlot& slot_;
  std::uint64_t seen_version_ = 0;
  boost::intrusive_ptr<SnapshotLease::Held> current_;
};

// Resolves every configured endpoint (blocking DNS, control plane only) and names its stats slot.
// Throws on failure.
std::array<std::vector<Endpoint>, 2> resolve_endpoints(const BackendsConfig& backends,
                                                       const StatsRegistry& stats);

}  // namespace bgp
