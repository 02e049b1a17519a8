// A connection to an upstream endpoint: plain TCP, or TLS over it (backends.<color>.tls). Which one
// is known only at run time (per color), so the two hide behind one stream type that Beast and
// the session read and write like a socket; the plain case costs one variant dispatch.
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>
#include <variant>

#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/edge_read.h"
#include "proxy/tls/tls_stream.h"

namespace bgp {

class UpstreamStream {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  using executor_type = Socket::executor_type;
  using error_code = boost::system::error_code;

  explicit UpstreamStream(Socket socket) : stream_(std::move(socket)) {}

  executor_type get_executor() noexcept { return socket().get_executor(); }
  Socket& socket() noexcept {
    return std::visit([](auto& s) -> Socket& { return lowest(s); }, stream_);
  }
  bool is_tls() const noexcept { return std::holds_alternative<TlsStream>(stream_); }
  TlsStream& tls() { return std::get<TlsStream>(stream_); }
  // Bytes already decrypted and not read (0 for plain TCP).
  bool has_buffered_input() const noexcept {
    return is_tls() && std::get<TlsStream>(stream_).has_buffered_input();
  }

  // Turns the connected socket into a TLS client (the handshake is the caller's next step).
  void start_tls(std::shared_ptr<const TlsClientContext> context, const Address& endpoint) {
    stream_ = TlsStream::client(std::move(std::get<Socket>(stream_)), std::move(context), endpoint);
  }

  // A plain connection's reads and writes go through edge_read.h: after the request's write, the
  // read of its response waits for epoll instead of failing with EAGAIN first.
  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          std::visit([&](auto& s) { read_some(s, b, std::move(handler)); }, stream_);
        },
        token, buffers);
  }

  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          std::visit([&](auto& s) { write_some(s, b, std::move(handler)); }, stream_);
        },
        token, buffers);
  }

 private:
  template <typename MutableBuffers, typename Handler>
  void read_some(Socket& socket, const MutableBuffers& buffers, Handler&& handler) {
    if constexpr (std::is_convertible_v<const MutableBuffers&, boost::asio::mutable_buffer>) {
      async_read_some_edge(socket, buffers, drain_, std::forward<Handler>(handler));
    } else {
      rearm(socket, drain_);
      socket.async_read_some(buffers, std::forward<Handler>(handler));
    }
  }
  template <typename ConstBuffers, typename Handler>
  void write_some(Socket& socket, const ConstBuffers& buffers, Handler&& handler) {
    async_write_some_edge(socket, buffers, drain_, std::forward<Handler>(handler));
  }
  template <typename Buffers, typename Handler>
  static void read_some(TlsStream& stream, const Buffers& buffers, Handler&& handler) {
    stream.async_read_some(buffers, std::forward<Handler>(handler));
  }
  template <typename Buffers, typename Handler>
  static void write_some(TlsStream& stream, const Buffers& buffers, Handler&& handler) {
    stream.async_write_some(buffers, std::forward<Handler>(handler));
  }
  static Socket& lowest(Socket& socket) noexcept { return socket; }
  static Socket& lowest(TlsStream& stream) noexcept { return stream.socket(); }

  std::variant<Socket, TlsStream> stream_;
  SocketDrain drain_;  // of the plain socket
};

}  // namespace bgp
