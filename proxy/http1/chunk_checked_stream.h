// ChunkCheckedStream: a stream that Beast's parser reads a chunked body through, each read checked
// by ChunkLines (chunk_lines.h) first. A template over the stream type: the session uses it on its
// client and upstream streams, the tests on Beast's in-memory test stream.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string_view>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/system/error_code.hpp>

#include "proxy/http1/chunk_lines.h"

namespace bgp {

// A socket as Beast's parser reads a body through it: with `lines` (a chunked body) every read is
// checked before Beast sees it, so that a malformed chunk line fails the read at once (Beast would
// wait past a bare LF for a CRLF until the read timed out).
template <typename Stream>
class ChunkCheckedStream {
 public:
  using executor_type = typename Stream::executor_type;

  ChunkCheckedStream(Stream& socket, ChunkLines* lines) noexcept : socket_(socket), lines_(lines) {}

  executor_type get_executor() noexcept { return socket_.get_executor(); }

  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return socket_.async_read_some(
        buffers,
        boost::asio::deferred([this, buffers](boost::system::error_code ec, std::size_t n) {
          if (!ec && !check(buffers, n)) ec = boost::beast::http::error::bad_chunk;
          return boost::asio::deferred.values(ec, n);
        }))(std::forward<Token>(token));
  }

 private:
  template <typename MutableBuffers>
  bool check(const MutableBuffers& buffers, std::size_t n) noexcept {
    if (!lines_) return true;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && n > 0; ++it) {
      const boost::asio::mutable_buffer piece = *it;
      const std::size_t size = std::min(n, piece.size());
      if (!lines_->feed({static_cast<const char*>(piece.data()), size})) return false;
      n -= size;
    }
    return true;
  }

  Stream& socket_;
  ChunkLines* lines_;
};

}  // namespace bgp
