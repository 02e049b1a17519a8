// A Beast test stream that the proxy's own stream code can read and write (tests/README.md,
// "stream seams").
#pragma once

#include <cstddef>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/beast/_experimental/test/stream.hpp>

namespace bgp::testing {

// Beast's test stream predates Asio's deferred tokens (its async_read_some names
// async_result<>::return_type), which the session's code awaits (as_tuple(deferred)) and
// ChunkCheckedStream composes with. Initiated through async_initiate, its reads take any token, as
// a socket's do; nothing else of it is used.
class PieceStream {
 public:
  using executor_type = boost::beast::test::stream::executor_type;

  explicit PieceStream(boost::beast::test::stream& stream) noexcept : stream_(stream) {}
  executor_type get_executor() noexcept { return stream_.get_executor(); }

  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& to) {
          stream_.async_read_some(to, std::move(handler));
        },
        token, buffers);
  }

  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& from) {
          stream_.async_write_some(from, std::move(handler));
        },
        token, buffers);
  }

 private:
  boost::beast::test::stream& stream_;
};

}  // namespace bgp::testing
