#include "proxy/upstream_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace bgp {

bool idle_socket_looks_open(UpstreamStream& connection) noexcept {
  auto& socket = connection.socket();
  if (!socket.is_open() || connection.has_buffered_input()) return false;
  char byte = 0;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::optional<UpstreamStream> UpstreamPool::take(const Endpoint& endpoint, bool retry_safe) {
  const auto it = std::find_if(endpoints_.begin(), endpoints_.end(),
                               [&](const PerEndpoint& e) { return e.key.serves(endpoint); });
  if (it == endpoints_.end()) return std::nullopt;
  const auto now = Clock::now();
  drop_expired(*it, now);
  auto& idle = it->idle;
  while (!idle.empty()) {
    const bool trusted = retry_safe && now - idle.back().since < kTrustedIdle;
    UpstreamStream connection = std::move(idle.back().connection);
    idle.pop_back();
    if (trusted || idle_socket_looks_open(connection)) return connection;
  }
  return std::nullopt;
}

void UpstreamPool::put_back(const Endpoint& endpoint, UpstreamStream connection) {
  PerEndpoint& entry = entry_for(endpoint);
  const auto now = Clock::now();
  drop_expired(entry, now);
  if (entry.idle.size() >= limits_.max_idle_per_endpoint) entry.idle.erase(entry.idle.begin());
  if (connection.is_tls()) connection.tls().release_buffers();
  entry.idle.push_back({std::move(connection), now});
}

std::size_t UpstreamPool::idle_count() const noexcept {
  std::size_t n = 0;
  for (const auto& entry : endpoints_) n += entry.idle.size();
  return n;
}

void UpstreamPool::clear() noexcept {
  endpoints_.clear();  // the sockets close as they are destroyed
}

UpstreamPool::PerEndpoint& UpstreamPool::entry_for(const Endpoint& endpoint) {
  const auto it = std::find_if(endpoints_.begin(), endpoints_.end(),
                               [&](const PerEndpoint& e) { return e.key.serves(endpoint); });
  if (it != endpoints_.end()) return *it;
  return endpoints_.emplace_back(PerEndpoint{UpstreamKey::of(endpoint), {}});
}

void UpstreamPool::drop_expired(PerEndpoint& entry, Clock::time_point now) noexcept {
  const auto fresh = std::find_if(entry.idle.begin(), entry.idle.end(), [&](const auto& c) {
    return now - c.since < limits_.max_idle_time;
  });
  entry.idle.erase(entry.idle.begin(), fresh);
}

}  // namespace bgp
