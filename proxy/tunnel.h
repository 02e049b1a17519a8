// An upgraded connection (after a 101 Switching Protocols: WebSocket and the like) as the proxy
// carries it: bytes copied both ways, as they come, until both directions have ended. Over any
// two streams with an end_sending() (proxy/connection.h: a client transport, an upstream
// connection); the tunnel tests (tests/proxy/tunnel_test.cpp) run it over in-memory streams.
#pragma once

#include <array>
#include <cstddef>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/write.hpp>

#include "proxy/connection.h"
#include "proxy/deadline.h"

namespace bgp {

// Bytes moved per read and write, each way.
constexpr std::size_t kTunnelChunk = 16 * 1024;

// Writes what `buffer` holds to `to` within `timeout` (guard.arm); false when the write failed.
template <typename Buffer, typename To, typename Guard>
net::awaitable<bool> flush_to(Buffer& buffer, To& to, Guard& guard, Duration timeout) {
  if (buffer.size() == 0) co_return true;
  guard.arm(Clock::now() + timeout);
  auto [ec, n] = co_await net::async_write(to, buffer.data(), as_values);
  buffer.consume(n);
  co_return !ec;
}

// Copies bytes one way until the reader ends or fails, then ends the writer's sending side.
// Every read and write must end within `idle` (guard.arm).
template <typename From, typename To, typename Guard>
net::awaitable<void> pump(From& from, To& to, Guard& guard, Duration idle) {
  std::array<char, kTunnelChunk> buffer;
  for (;;) {
    guard.arm(Clock::now() + idle);
    auto [read_ec, n] = co_await from.async_read_some(net::buffer(buffer), as_values);
    if (read_ec) break;
    guard.arm(Clock::now() + idle);
    auto [write_ec, written] =
        co_await net::async_write(to, net::buffer(buffer.data(), n), as_values);
    if (write_ec) break;
  }
  co_await end_sending(to);
}

// Bytes between `client` and `upstream`, both ways, until both directions have ended or no byte
// went either way for `idle` (guard.arm: one deadline for both, pushed on by every transfer).
// The bytes that arrived behind either head (`from_client`, `from_upstream`) go first.
template <typename Client, typename ClientBuffer, typename Upstream, typename UpstreamBuffer,
          typename Guard>
net::awaitable<void> tunnel(Client& client, ClientBuffer& from_client, Upstream& upstream,
                            UpstreamBuffer& from_upstream, Guard& guard, Duration idle) {
  using namespace net::experimental::awaitable_operators;
  if (!co_await flush_to(from_client, upstream, guard, idle) ||
      !co_await flush_to(from_upstream, client, guard, idle)) {
    co_return;
  }
  co_await (pump(client, upstream, guard, idle) && pump(upstream, client, guard, idle));
}

}  // namespace bgp
