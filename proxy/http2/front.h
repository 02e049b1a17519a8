// The HTTP/2 front (docs/http2.md): a client connection that speaks HTTP/2, by prior knowledge on
// `listen` (`protocols: [http1, h2c]`, the preface sniffed on the first read) or by ALPN on the
// TLS listener. Each stream is an Exchange of its own: routed, forwarded to an HTTP/1.1 upstream
// and recorded exactly once, as an HTTP/1 request is.
#pragma once

#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "proxy/connection.h"

namespace bgp {

// Whether the first bytes of a connection are the HTTP/2 client preface (RFC 9113 section 3.4),
// or may still become it.
enum class Preface { no, partial, yes };
Preface match_http2_preface(std::string_view received) noexcept;

// Serves `connection` as HTTP/2 until it ends. `received`: what was read from it already (the
// preface and whatever followed it).
template <typename Client>
boost::asio::awaitable<void> serve_http2(Connection<Client>& connection, std::string received);

extern template boost::asio::awaitable<void> serve_http2(Connection<tcp::socket>&, std::string);
extern template boost::asio::awaitable<void> serve_http2(Connection<TlsStream>&, std::string);

}  // namespace bgp
