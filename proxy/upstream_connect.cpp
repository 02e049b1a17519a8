#include "proxy/upstream_connect.h"

#include "proxy/connection.h"

namespace bgp {

net::awaitable<error_code> connect_upstream(UpstreamStream& connection, const Endpoint& endpoint,
                                            Logger& log) {
  auto [ec] = co_await connection.socket().async_connect(endpoint.resolved, as_values);
  if (ec) co_return ec;
  error_code ignored;
  connection.socket().set_option(tcp::no_delay(true), ignored);
  if (!endpoint.tls) {
    enable_drain_reports(connection.socket());
    co_return ec;
  }
  connection.start_tls(endpoint.tls, endpoint.address);
  auto [handshake_ec] = co_await connection.tls().async_handshake(as_values);
  if (handshake_ec && handshake_ec != net::error::operation_aborted) {
    const std::string& detail = connection.tls().error_detail();
    log.debug("TLS to {} failed: {}", endpoint.label,
              detail.empty() ? handshake_ec.message() : detail);
  }
  co_return handshake_ec;
}

}  // namespace bgp
