// The I/O path's clock and its completion token with errors as values. Deadlines are the
// worker's deadline wheel's (proxy/deadline_wheel.h): one per connection, one mechanism.
#pragma once

#include <chrono>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace bgp {

using Clock = std::chrono::steady_clock;

// Completion token of the I/O path: `auto [ec, n] = co_await op(use_tuple);` never throws.
inline constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace bgp
