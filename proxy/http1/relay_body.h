// Relaying an HTTP/1 response body from an upstream to a client through Beast's parser and
// serializer, a relay buffer at a time, so that it is never held whole (Beast's `relay` example,
// asynchronous). Over any streams: the session relays with it, and the stream tests
// (tests/proxy/http1_stream_test.cpp) run it over reads of a few bytes.
#pragma once

#include <cstdint>
#include <span>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include "proxy/connection.h"
#include "proxy/deadline.h"

namespace bgp {

namespace http = boost::beast::http;

// How a relay of a body ended, and how far it got.
struct RelayResult {
  enum class Side { none, reader, writer };
  Side failed = Side::none;
  error_code ec;
  bool wrote = false;       // bytes went to the writer (for a response: the client saw its head)
  std::uint64_t bytes = 0;  // written to the writer
};

// Moves the body `parser` reads from `from` (after `from_buffer`'s bytes) to `serializer`, which
// writes `to` the head first, then the body in `relay`-sized pieces as they come (some, not all:
// a streamed response, server-sent events or a long poll, is relayed as it comes). Each read must
// end within `read_timeout`, each write within `write_timeout` (guard.arm; guard.timed tells a
// timeout from other failures).
template <typename From, typename FromBuffer, typename To, typename Guard>
net::awaitable<RelayResult> relay_response_body(
    http::response_parser<http::buffer_body>& parser, From& from, FromBuffer& from_buffer,
    Duration read_timeout, http::response_serializer<http::buffer_body>& serializer, To& to,
    Duration write_timeout, std::span<char> relay, Guard& guard) {
  auto& body = parser.get().body();
  parser.eager(false);  // read_some returns with what came, not when the buffer is full
  bool wrote = false;
  std::uint64_t bytes = 0;
  for (;;) {
    if (parser.is_done()) {
      body = {nullptr, 0, false};
    } else {
      body = {relay.data(), relay.size(), true};
      guard.arm(Clock::now() + read_timeout);
      auto [ec, n] = co_await http::async_read_some(from, from_buffer, parser, as_values);
      if (ec && ec != http::error::need_buffer) {
        co_return RelayResult{RelayResult::Side::reader, guard.timed(ec), wrote, bytes};
      }
      const std::size_t filled = relay.size() - body.size;
      // A zero-sized chunk would end a chunked body early: hand over no buffer instead.
      body = {filled > 0 ? relay.data() : nullptr, filled, !parser.is_done()};
    }
    guard.arm(Clock::now() + write_timeout);
    auto [ec, n] = co_await http::async_write(to, serializer, as_values);
    wrote = true;
    bytes += n;
    if (ec && ec != http::error::need_buffer) {
      co_return RelayResult{RelayResult::Side::writer, guard.timed(ec), wrote, bytes};
    }
    if (serializer.is_done()) co_return RelayResult{RelayResult::Side::none, {}, wrote, bytes};
  }
}

}  // namespace bgp
