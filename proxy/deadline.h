// Deadlines for single asynchronous operations on the I/O path, with errors as values.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace bgp {

using Clock = std::chrono::steady_clock;

// Completion token of the I/O path: `auto [ec, n] = co_await op(use_tuple);` never throws.
inline constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);

// Runs one asynchronous operation against a deadline; `initiate(token)` starts it. If the deadline
// passes first, the operation is cancelled and reports `boost::asio::error::timed_out`. The socket
// stays open (beast::tcp_stream's timeouts close it), so the caller can still answer 408 or 504.
// Both the operation and the timer have completed when this completes: no handler outlives it.
// Returns a deferred operation with the wrapped operation's completion values:
//   auto [ec, n] = co_await with_deadline(timer, deadline, [&](auto t) {...})(use_tuple);
template <typename Initiate>
auto with_deadline(boost::asio::steady_timer& timer, Clock::time_point deadline,
                   Initiate initiate) {
  timer.expires_at(deadline);
  return boost::asio::experimental::make_parallel_group(
             [&timer](auto token) { return timer.async_wait(std::move(token)); },
             std::move(initiate))
      .async_wait(boost::asio::experimental::wait_for_one(),
                  boost::asio::deferred([](std::array<std::size_t, 2> order,
                                           boost::system::error_code timer_ec,
                                           boost::system::error_code ec, auto... values) {
                    const bool timer_fired_first = order[0] == 0 && !timer_ec;
                    if (ec && timer_fired_first) ec = boost::asio::error::timed_out;
                    return boost::asio::deferred.values(ec, std::move(values)...);
                  }));
}

}  // namespace bgp
