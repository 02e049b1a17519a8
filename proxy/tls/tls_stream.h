// A TLS connection driven directly on a connected TCP socket: OpenSSL reads and writes the
// non-blocking descriptor itself, and a would-block becomes a socket readiness wait. Unlike
// asio::ssl::stream there are no buffers of our own, so an idle connection can give OpenSSL's
// back (release_buffers) and park with a socket wait like a plain one.
//
// The operations are Asio async operations (async_compose): any completion token works, e.g. the
// sessions' `as_tuple(deferred)` without a coroutine frame per operation, and Beast's
// http::async_read/async_write accept a TlsStream as a stream. At most one read-side and one
// write-side operation at a time, as with a socket; cancel them by cancelling socket() (a
// deadline) or through the handler's cancellation slot.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include "metrics/stats.h"
#include "proxy/tls/tls_context.h"

namespace bgp {

// TLS failures as error codes (category "bgproxy.tls").
enum class TlsErrc {
  protocol_version = 1,  // no TLS version both sides accept
  no_shared_cipher,      // no common cipher suite or group
  no_alpn,               // ALPN offered without overlap: alert 120
  bad_certificate,       // the peer's certificate failed verification, or was refused
  not_tls,               // plain HTTP or other bytes on a TLS port
  handshake_failed,      // any other handshake failure
  truncated,             // the peer closed without close_notify
  protocol_error,        // a TLS error after the handshake
};
const boost::system::error_category& tls_category() noexcept;
inline boost::system::error_code make_error_code(TlsErrc e) noexcept {
  return {static_cast<int>(e), tls_category()};
}

HandshakeFailure classify_handshake_failure(const boost::system::error_code& ec) noexcept;

}  // namespace bgp

template <>
struct boost::system::is_error_code_enum<bgp::TlsErrc> : std::true_type {};

namespace bgp {

class TlsStream {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  using executor_type = Socket::executor_type;
  using error_code = boost::system::error_code;

  // Throw std::bad_alloc when OpenSSL cannot allocate the connection.
  static TlsStream server(Socket socket, std::shared_ptr<const TlsServerContext> context);
  static TlsStream client(Socket socket, std::shared_ptr<const TlsClientContext> context,
                          const Address& endpoint);
  // Any SSL already in accept or connect state; `owner` keeps what its callbacks use alive.
  TlsStream(Socket socket, SslPtr ssl, std::shared_ptr<const void> owner);

  TlsStream(TlsStream&&) noexcept = default;  // not while an operation is pending
  TlsStream& operator=(TlsStream&& other) noexcept;
  ~TlsStream() = default;

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  Socket& socket() noexcept { return socket_; }

  // void(error_code). A failure's reason: classify_handshake_failure(ec), error_detail().
  template <typename Token>
  auto async_handshake(Token&& token) {
    return start<false>([](TlsStream& s) { return s.handshake_step(); },
                        std::forward<Token>(token));
  }

  // void(error_code, std::size_t): into the first non-empty buffer. eof after the peer's
  // close_notify; TlsErrc::truncated when it closed without one.
  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    const boost::asio::mutable_buffer first = first_buffer(buffers);
    return start<true>([first](TlsStream& s) { return s.read_step(first.data(), first.size()); },
                       std::forward<Token>(token));
  }

  // void(error_code, std::size_t): at most one record. Small leading buffers of a gather write
  // are copied into one record (one encryption and one send instead of several).
  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return start<true>([source = gather(buffers)](
                           TlsStream& s) { return s.write_step(source.data(), source.size()); },
                       std::forward<Token>(token));
  }

  // void(error_code): sends close_notify without waiting for the peer's (as web servers do);
  // nothing is sent after a failed handshake or a fatal error.
  template <typename Token>
  auto async_shutdown(Token&& token) {
    return start<false>([](TlsStream& s) { return s.shutdown_step(); }, std::forward<Token>(token));
  }

  // Input waiting inside OpenSSL, decrypted or read ahead and not yet decrypted: a caller that
  // waits for the socket to be readable must read it first, or wait forever.
  bool has_buffered_input() const noexcept;

  // Whether a read would complete without waiting for the socket: decrypted bytes wait, or a whole
  // record (or the peer's close or an error) does, which a peek decrypts. A record read ahead in
  // part does not count: a read would wait for the rest, which the peer may never send.
  bool read_returns_at_once() noexcept;

  // Frees OpenSSL's read and write buffers (about 34 KB) while the connection idles; the next
  // operation allocates them again. False when data is pending in them (nothing freed).
  bool release_buffers() noexcept;

  std::string_view alpn() const noexcept;  // "" when none was negotiated
  std::string_view sni() const noexcept;   // the server name the client sent, "" when none
  bool resumed() const noexcept;           // the handshake resumed a session
  // OpenSSL's reason for the last failure, with the verification error when a certificate was
  // refused, e.g. "certificate verify failed: self-signed certificate".
  const std::string& error_detail() const noexcept { return error_detail_; }
  SSL* native_handle() const noexcept { return ssl_.get(); }

 private:
  enum class Want { nothing, read, write };
  enum class Phase { handshake, data };
  struct Progress {
    Want want = Want::nothing;
    error_code ec;
    std::size_t bytes = 0;
  };

  // A write's bytes: the first buffer, or small leading buffers copied into one record.
  class Source {
   public:
    Source(const void* data, std::size_t size) : data_(data), size_(size) {}
    explicit Source(std::vector<unsigned char> copy) : copy_(std::move(copy)) {}
    const void* data() const noexcept { return copy_.empty() ? data_ : copy_.data(); }
    std::size_t size() const noexcept { return copy_.empty() ? size_ : copy_.size(); }

   private:
    const void* data_ = nullptr;
    std::size_t size_ = 0;
    std::vector<unsigned char> copy_;
  };

  static constexpr std::size_t kRecord = 16384;  // the largest TLS plaintext record

  template <typename MutableBuffers>
  static boost::asio::mutable_buffer first_buffer(const MutableBuffers& buffers);
  template <typename ConstBuffers>
  static Source gather(const ConstBuffers& buffers);

  Progress handshake_step();
  Progress read_step(void* data, std::size_t size);
  Progress write_step(const void* data, std::size_t size);
  Progress shutdown_step();
  Progress outcome(int result, std::size_t bytes, int saved_errno, Phase phase);
  error_code failure(Phase phase);

  template <bool WithBytes, typename Step>
  class Op;
  template <bool WithBytes, typename Step, typename Token>
  auto start(Step step, Token&& token);

  Socket socket_;                      // closed last, after OpenSSL let go of its descriptor
  std::shared_ptr<const void> owner_;  // outlives ssl_: its callbacks reach the owner
  SslPtr ssl_;
  std::string error_detail_;
  bool fatal_ = false;  // after a fatal error OpenSSL must not be asked to shut down
};

// One TLS operation: run the OpenSSL step; on would-block wait for the socket and run it again.
// A result ready at once is posted, never delivered inside the initiating call (Asio's rule, and
// what keeps a composed write loop from recursing).
template <bool WithBytes, typename Step>
class TlsStream::Op {
 public:
  Op(TlsStream& stream, Step step) : stream_(stream), step_(std::move(step)) {}

  template <typename Self>
  void operator()(Self& self, error_code wait_error = {}) {
    if (state_ == State::posted) return finish(self, result_);
    if (wait_error) return finish(self, Progress{Want::nothing, wait_error, 0});
    // A socket closed under the stream (a drain's abort) leaves OpenSSL a descriptor number that
    // may already belong to another connection: it must not read or write it.
    if (!stream_.socket_.is_open()) {
      result_ = {Want::nothing, boost::asio::error::bad_descriptor, 0};
      state_ = State::posted;
      return boost::asio::post(stream_.socket_.get_executor(), std::move(self));
    }
    result_ = step_(stream_);
    if (result_.want != Want::nothing) {
      state_ = State::waiting;
      return stream_.socket_.async_wait(
          result_.want == Want::read ? Socket::wait_read : Socket::wait_write, std::move(self));
    }
    if (state_ == State::started) {
      state_ = State::posted;
      return boost::asio::post(stream_.socket_.get_executor(), std::move(self));
    }
    finish(self, result_);
  }

 private:
  enum class State { started, waiting, posted };

  template <typename Self>
  static void finish(Self& self, const Progress& result) {
    if constexpr (WithBytes) {
      self.complete(result.ec, result.bytes);
    } else {
      self.complete(result.ec);
    }
  }

  TlsStream& stream_;
  Step step_;
  State state_ = State::started;
  Progress result_;
};

template <bool WithBytes, typename Step, typename Token>
auto TlsStream::start(Step step, Token&& token) {
  using Signature = std::conditional_t<WithBytes, void(error_code, std::size_t), void(error_code)>;
  return boost::asio::async_compose<Token, Signature>(Op<WithBytes, Step>(*this, std::move(step)),
                                                      token, socket_);
}

template <typename MutableBuffers>
boost::asio::mutable_buffer TlsStream::first_buffer(const MutableBuffers& buffers) {
  for (auto it = boost::asio::buffer_sequence_begin(buffers);
       it != boost::asio::buffer_sequence_end(buffers); ++it) {
    const boost::asio::mutable_buffer buffer(*it);
    if (buffer.size() != 0) return buffer;
  }
  return {};
}

template <typename ConstBuffers>
TlsStream::Source TlsStream::gather(const ConstBuffers& buffers) {
  auto it = boost::asio::buffer_sequence_begin(buffers);
  const auto end = boost::asio::buffer_sequence_end(buffers);
  while (it != end && boost::asio::const_buffer(*it).size() == 0) ++it;
  if (it == end) return {nullptr, 0};
  const boost::asio::const_buffer first(*it);
  if (first.size() >= kRecord || std::next(it) == end) return {first.data(), first.size()};
  std::vector<unsigned char> copy;
  for (; it != end && copy.size() < kRecord; ++it) {
    const boost::asio::const_buffer buffer(*it);
    const auto* bytes = static_cast<const unsigned char*>(buffer.data());
    copy.insert(copy.end(), bytes, bytes + std::min(buffer.size(), kRecord - copy.size()));
  }
  return Source(std::move(copy));
}

}  // namespace bgp
