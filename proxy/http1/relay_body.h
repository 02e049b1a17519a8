// Relaying HTTP/1 bodies through Beast's parser, a relay buffer at a time, so that no body is held
// whole (Beast's `relay` example, asynchronous): a request body from the client (held a moment,
// then streamed upstream), a response body from the upstream through Beast's serializer. Over any
// streams: the session relays with these, and the stream tests (tests/proxy/http1_stream_test.cpp)
// run them over reads of a few bytes.
#pragma once

#include <array>
#include <charconv>
#include <cstdint>
#include <span>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
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

// A chunk's size in hex and its CRLF.
using ChunkSizeLine = std::array<char, 24>;

// Writes the size line of a chunk of `size` bytes into `line`; its length.
inline std::size_t write_size_line(ChunkSizeLine& line, std::size_t size) noexcept {
  auto* end = std::to_chars(line.data(), line.data() + 20, size, 16).ptr;
  *end++ = '\r';
  *end++ = '\n';
  return static_cast<std::size_t>(end - line.data());
}

// `size` body bytes at `data` as they go upstream: as they came for a length; one chunk when
// `chunked`, followed by the last chunk when the body ends with them (chunk extensions and
// trailers are not forwarded). Empty pieces are left zero-sized.
inline std::array<net::const_buffer, 4> body_piece(ChunkSizeLine& size_line, const char* data,
                                                   std::size_t size, bool chunked,
                                                   bool body_ends) noexcept {
  if (size == 0) data = nullptr;
  if (!chunked) return {net::buffer(data, size)};
  static constexpr std::string_view kChunkEnd = "\r\n";
  static constexpr std::string_view kLastChunk = "0\r\n\r\n";
  const std::size_t size_line_length = size > 0 ? write_size_line(size_line, size) : 0;
  return {net::buffer(size_line.data(), size_line_length), net::buffer(data, size),
          net::buffer(kChunkEnd.data(), size > 0 ? kChunkEnd.size() : 0),
          net::buffer(kLastChunk.data(), body_ends ? kLastChunk.size() : 0)};
}

// Reads a request body `parser` reads from `from` (after `from_buffer`'s bytes) into `relay`
// until the body ends or `relay` is full, by `deadline`; `held`: the bytes in `relay` (also when
// it failed). The body is checked as it comes (framing, chunk lines through a ChunkCheckedStream,
// the size limit). The error is the read's, a timeout as guard.timed tells it.
template <typename Parser, typename From, typename FromBuffer, typename Guard>
net::awaitable<error_code> hold_request_body_bytes(Parser& parser, From from,
                                                   FromBuffer& from_buffer, std::span<char> relay,
                                                   std::size_t& held, Guard& guard,
                                                   Clock::time_point deadline) {
  auto& body = parser.get().body();
  guard.arm(deadline);
  held = 0;
  while (!parser.is_done() && held < relay.size()) {
    body = {relay.data() + held, relay.size() - held, true};
    auto [read_ec, n] = co_await http::async_read(from, from_buffer, parser, as_values);
    held = relay.size() - body.size;
    if (read_ec && read_ec != http::error::need_buffer) co_return guard.timed(read_ec);
  }
  co_return error_code{};
}

// Moves the rest of a request body `parser` reads from `from` (after `from_buffer`'s bytes) to
// `to` a piece at a time, as it comes (some, not all: a client may stream, and wait for
// answers), chunked again when `chunked`. Reads within `read_timeout`, writes within
// `write_timeout`.
template <typename Parser, typename From, typename FromBuffer, typename To, typename Guard>
net::awaitable<RelayResult> relay_request_body(Parser& parser, From from, FromBuffer& from_buffer,
                                               Duration read_timeout, To& to,
                                               Duration write_timeout, bool chunked,
                                               std::span<char> relay, Guard& guard) {
  auto& body = parser.get().body();
  parser.eager(false);  // http::async_read (the hold) set it: read_some would wait for more
  while (!parser.is_done()) {
    body = {relay.data(), relay.size(), true};
    guard.arm(Clock::now() + read_timeout);
    auto [read_ec, n] = co_await http::async_read_some(from, from_buffer, parser, as_values);
    if (read_ec && read_ec != http::error::need_buffer) {
      co_return RelayResult{RelayResult::Side::reader, guard.timed(read_ec)};
    }
    ChunkSizeLine size_line;
    const auto pieces =
        body_piece(size_line, relay.data(), relay.size() - body.size, chunked, parser.is_done());
    if (net::buffer_size(pieces) == 0) continue;  // a chunk's head was read, no data yet
    guard.arm(Clock::now() + write_timeout);
    auto [write_ec, written] = co_await net::async_write(to, pieces, as_values);
    if (write_ec) co_return RelayResult{RelayResult::Side::writer, guard.timed(write_ec)};
  }
  co_return RelayResult{};
}

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
