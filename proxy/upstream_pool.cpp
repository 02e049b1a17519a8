#include "proxy/upstream_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace bgp {

bool idle_socket_looks_open(boost::asio::ip::tcp::socket& socket) noexcept {
  if (!socket.is_open()) return false;
  char byte = 0;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::optional<UpstreamPool::tcp::socket> UpstreamPool::take(const tcp::endpoint& endpoint,
                                                            bool retry_safe) {
  const auto it = std::find_if(endpoints_.begin(), endpoints_.end(),
                               [&](const PerEndpoint& e) { return e.endpoint == endpoint; });
  if (it == endpoints_.end()) return std::nullopt;
  const auto now = Clock::now();
  drop_expired(*it, now);
  auto& idle = it->idle;
  while (!idle.empty()) {
    const bool trusted = retry_safe && now - idle.back().since < kTrustedIdle;
    tcp::socket socket = std::move(idle.back().socket);
    idle.pop_back();
    if (trusted || idle_socket_looks_open(socket)) return socket;
    boost::system::error_code ignored;
    socket.close(ignored);
  }
  return std::nullopt;
}

void UpstreamPool::put_back(const tcp::endpoint& endpoint, tcp::socket socket) {
  PerEndpoint& entry = entry_for(endpoint);
  const auto now = Clock::now();
  drop_expired(entry, now);
  if (entry.idle.size() >= limits_.max_idle_per_endpoint) {
    boost::system::error_code ignored;
    entry.idle.front().socket.close(ignored);
    entry.idle.erase(entry.idle.begin());
  }
  entry.idle.push_back({std::move(socket), now});
}

std::size_t UpstreamPool::idle_count() const noexcept {
  std::size_t n = 0;
  for (const auto& entry : endpoints_) n += entry.idle.size();
  return n;
}

void UpstreamPool::clear() noexcept {
  endpoints_.clear();  // the sockets close as they are destroyed
}

UpstreamPool::PerEndpoint& UpstreamPool::entry_for(const tcp::endpoint& endpoint) {
  const auto it = std::find_if(endpoints_.begin(), endpoints_.end(),
                               [&](const PerEndpoint& e) { return e.endpoint == endpoint; });
  if (it != endpoints_.end()) return *it;
  return endpoints_.emplace_back(PerEndpoint{endpoint, {}});
}

void UpstreamPool::drop_expired(PerEndpoint& entry, Clock::time_point now) noexcept {
  const auto fresh = std::find_if(entry.idle.begin(), entry.idle.end(), [&](const auto& c) {
    return now - c.since < limits_.max_idle_time;
  });
  entry.idle.erase(entry.idle.begin(), fresh);
}

}  // namespace bgp
