#include "proxy/snapshot.h"

#include <algorithm>
#include <stdexcept>

#include <boost/asio/io_context.hpp>

namespace bgp {

bool RoutingSnapshot::has_healthy(Color c) const noexcept {
  const auto& group = endpoints_of(c);
  return std::any_of(group.begin(), group.end(), [](const Endpoint& e) { return e.healthy; });
}

void SnapshotSlot::publish(std::shared_ptr<const RoutingSnapshot> snapshot) {
  std::lock_guard lock(mutex_);
  current_ = std::move(snapshot);
  version_.fetch_add(1, std::memory_order_acq_rel);
}

std::shared_ptr<const RoutingSnapshot> SnapshotSlot::load() const {
  std::lock_guard lock(mutex_);
  return current_;
}

void SnapshotCache::refresh(std::uint64_t version) {
  // The one allocation per published snapshot and worker; intrusive_ptr adopts it.
  current_ = boost::intrusive_ptr<SnapshotLease::Held>(new SnapshotLease::Held(slot_.load()));
  seen_version_ = version;
}

std::array<std::vector<Endpoint>, 2> resolve_endpoints(const BackendsConfig& backends,
                                                       const StatsRegistry& stats) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  std::array<std::vector<Endpoint>, 2> out;
  for (Color c : kColors) {
    for (const Address& address : backends.of(c).endpoints) {
      boost::system::error_code ec;
      auto results = resolver.resolve(address.host, std::to_string(address.port), ec);
      if (ec || results.empty()) {
        throw std::runtime_error("cannot resolve " + address.to_string() + ": " + ec.message());
      }
      const std::string label = address.to_string();
      Endpoint& endpoint = out[index(c)].emplace_back(Endpoint{
          address, label, results.begin()->endpoint(), true, stats.endpoint_slot(c, label)});
      endpoint.http2 = backends.of(c).protocol != UpstreamProtocol::http1;
    }
  }
  return out;
}

}  // namespace bgp
