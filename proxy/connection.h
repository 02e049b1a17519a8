// A client connection's transport: a plain socket, or TLS over one (proxy/tls/tls_stream.h), and
// what a connection keeps from its accept to its close. The HTTP/1 session and the HTTP/2 front
// are templates on the transport; the few functions here are what differs between the two.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/error.hpp>

#include "proxy/deadline.h"
#include "proxy/edge_read.h"
#include "proxy/policy.h"
#include "proxy/tls/tls_stream.h"
#include "proxy/upstream_stream.h"
#include "proxy/worker.h"

namespace bgp {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;

// Completion token of the data path's own I/O: errors as values, as with use_tuple, and awaited in
// place (Asio's use_awaitable allocates a coroutine frame for every operation; a deferred
// operation is awaited without one).
constexpr auto as_values = net::as_tuple(net::deferred);

// The client's transport: a plain socket, or TLS over one (proxy/tls/tls_stream.h). Connection
// and Session are templates on it; these few functions are what differs.
inline tcp::socket& lowest_layer(tcp::socket& socket) noexcept {
  return socket;
}
inline tcp::socket& lowest_layer(TlsStream& stream) noexcept {
  return stream.socket();
}
inline bool has_buffered_input(const tcp::socket&) noexcept {
  return false;
}
inline bool has_buffered_input(const TlsStream& stream) noexcept {
  return stream.has_buffered_input();
}
constexpr std::string_view scheme_of(const tcp::socket*) noexcept {
  return "http";
}
constexpr std::string_view scheme_of(const TlsStream*) noexcept {
  return "https";
}

// The session's reads of its client: a plain socket's go through edge_read.h, which knows when a
// read drained it; TLS reads as usual (OpenSSL reads the socket).
template <typename Client>
class ClientReads {
 public:
  explicit ClientReads(Client& client) noexcept : client_(client) {}

  template <typename Token>
  auto async_read_some(net::mutable_buffer buffer, Token&& token) {
    if constexpr (std::is_same_v<Client, tcp::socket>) {
      return async_read_some_edge(client_, buffer, drain_, std::forward<Token>(token));
    } else {
      return client_.async_read_some(buffer, std::forward<Token>(token));
    }
  }
  // A response went out whole after the last read: the next may wait for epoll.
  void wrote() noexcept { drain_.wrote(); }
  // Before the client is read other than through async_read_some (a body, a tunnel, HTTP/2).
  void rearm() {
    if constexpr (std::is_same_v<Client, tcp::socket>) bgp::rearm(client_, drain_);
  }

 private:
  Client& client_;
  SocketDrain drain_;
};

// Whether the client sent bytes no read took yet: in the socket, or inside TLS.
template <typename Client>
bool has_unread_input(Client& client) noexcept {
  error_code ignored;
  return lowest_layer(client).available(ignored) > 0 || has_buffered_input(client);
}

// Whether a read would complete without waiting for the client: bytes in the socket; with TLS,
// decrypted bytes or a whole record (one read ahead in part waits for its rest).
inline bool read_returns_at_once(tcp::socket& socket) noexcept {
  error_code ignored;
  return socket.available(ignored) > 0;
}
inline bool read_returns_at_once(TlsStream& stream) noexcept {
  return stream.read_returns_at_once();
}

// Ends the sending side: TLS says close_notify first, so the client can tell the end from a cut.
inline net::awaitable<void> end_sending(tcp::socket& socket) {
  error_code ignored;
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  co_return;
}
inline net::awaitable<void> end_sending(TlsStream& stream) {
  co_await stream.async_shutdown(as_values);  // a peer already gone changes nothing here
  co_await end_sending(stream.socket());
}
inline net::awaitable<void> end_sending(UpstreamStream& stream) {
  if (stream.is_tls()) {
    co_await end_sending(stream.tls());
  } else {
    co_await end_sending(stream.socket());
  }
}

inline std::string client_address(const tcp::socket& socket) {
  error_code ec;
  auto address = socket.remote_endpoint(ec).address();
  if (ec) return "unknown";
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
  }
  return address.to_string();
}

// The upstream closed or reset the connection (as opposed to a timeout or garbage).
inline bool is_connection_closed(const error_code& ec) noexcept {
  return ec == boost::beast::http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted || ec == TlsErrc::truncated;
}

inline UpstreamFailure upstream_failure(const error_code& ec) noexcept {
  if (is_connection_closed(ec)) return UpstreamFailure::closed;
  if (ec == net::error::timed_out) return UpstreamFailure::timeout;
  return UpstreamFailure::other;
}

// What a downstream connection keeps from its accept to its close, also while it is parked
// (idle with no session: no coroutine, buffer or parser; see Session::end_wait()).
template <typename Client>
struct Connection {
  Connection(Client stream, ConnectionTicket connection_ticket, WorkerContext& context)
      : worker(context),
        stats(context.stats),
        ticket(std::move(connection_ticket)),
        client(std::move(stream)),
        client_ip(client_address(lowest_layer(client))) {
    error_code ignored;
    lowest_layer(client).set_option(tcp::no_delay(true), ignored);
    if constexpr (std::is_same_v<Client, tcp::socket>) enable_drain_reports(client);
    worker.connections.push_back(handle);
    stats.connection_opened();
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  // May run when the worker's io_context is destroyed: touches nothing of the worker but the shard.
  ~Connection() { stats.connection_closed(); }

  WorkerContext& worker;
  StatsShard& stats;
  ConnectionTicket ticket;
  Client client;
  ConnectionHandle handle{lowest_layer(client)};
  std::string client_ip;
  const Clock::time_point accepted_at = Clock::now();
  Clock::time_point idle_deadline{};  // while parked: when the connection is closed
  bool first_request = true;
};

}  // namespace bgp
