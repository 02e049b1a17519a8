// A worker's keep-alive connections to upstream endpoints. One pool per worker thread: no locks.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "config/config.h"
#include "proxy/snapshot.h"
#include "proxy/upstream_stream.h"

namespace bgp {

// Whether an idle connection still looks usable: nothing to read and no EOF or error pending
// (one non-blocking peek; a response byte, or a TLS close_notify, arriving unasked also makes the
// connection unusable).
bool idle_socket_looks_open(UpstreamStream& connection) noexcept;

// Which pooled connections may serve an endpoint: the same address, the same configured name
// (SNI and the verified name come from it), the same TLS settings (none: plain TCP) and the same
// protocol. A reload builds new TLS settings, so connections verified under the old ones are not
// taken again.
struct UpstreamKey {
  boost::asio::ip::tcp::endpoint resolved;
  std::string label;
  const TlsClientContext* tls = nullptr;
  bool http2 = false;

  static UpstreamKey of(const Endpoint& endpoint) {
    return {endpoint.resolved, endpoint.label, endpoint.tls.get(), endpoint.http2};
  }
  bool serves(const Endpoint& endpoint) const noexcept {
    return resolved == endpoint.resolved && tls == endpoint.tls.get() && http2 == endpoint.http2 &&
           label == endpoint.label;
  }
};

class UpstreamPool {
 public:
  using tcp = boost::asio::ip::tcp;
  using Clock = std::chrono::steady_clock;

  static constexpr Clock::duration kTrustedIdle = std::chrono::seconds(1);

  struct Limits {
    // As many as a busy worker has in flight: every connection over the limit is closed after its
    // response, and the next request pays a connect (under 1000 concurrent requests, a stream of
    // connects that overflows the upstream's accept queue). Idle ones still expire.
    std::size_t max_idle_per_endpoint = 4096;
    Duration max_idle_time = std::chrono::seconds(30);  // older idle connections are closed
  };

  UpstreamPool() = default;
  explicit UpstreamPool(Limits limits) : limits_(limits) {}

  // An idle connection to `endpoint` that still looks open (the most recently used first), if any.
  // Connections the upstream closed meanwhile, or idle for too long, are dropped on the way.
  // `retry_safe`: the request can be sent again on a fresh connection if this one turns out dead
  // (idempotent, no body): a connection idle for less than kTrustedIdle is then taken without the
  // look (a system call per request), since no server closes one that soon.
  std::optional<UpstreamStream> take(const Endpoint& endpoint, bool retry_safe = false);

  // Keeps a connection whose last exchange ended cleanly, for the next request to `endpoint`. A
  // TLS one gives its record buffers back while it waits.
  void put_back(const Endpoint& endpoint, UpstreamStream connection);

  // Closes the idle connections unused for `max_idle` or longer (also the limit take() applies
  // from now on), those the upstream closed meanwhile (one non-blocking peek each), and every one
  // whose key `kept(key)` refuses (gone from the config, or its TLS settings replaced). Run by the
  // worker's timer and after a reload: an endpoint that gets no more traffic keeps no descriptors.
  template <typename Kept>
  void sweep(Duration max_idle, Kept&& kept) noexcept {
    limits_.max_idle_time = max_idle;
    const auto now = Clock::now();
    std::erase_if(endpoints_, [&](PerEndpoint& entry) {
      if (!kept(entry.key)) return true;  // the sockets close as they are destroyed
      drop_expired(entry, now);
      std::erase_if(entry.idle,
                    [](IdleConnection& c) { return !idle_socket_looks_open(c.connection); });
      return entry.idle.empty();
    });
  }

  std::size_t idle_count() const noexcept;
  void clear() noexcept;  // closes every idle connection (draining)

 private:
  struct IdleConnection {
    UpstreamStream connection;
    Clock::time_point since;
  };
  struct PerEndpoint {
    UpstreamKey key;
    std::vector<IdleConnection> idle;  // oldest first
  };

  PerEndpoint& entry_for(const Endpoint& endpoint);
  void drop_expired(PerEndpoint& entry, Clock::time_point now) noexcept;

  Limits limits_;
  std::vector<PerEndpoint> endpoints_;  // a handful of endpoints: a linear search beats hashing
};

}  // namespace bgp
