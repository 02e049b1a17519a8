// Opening a connection to an upstream endpoint, for every protocol's forwarder.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include "config/log.h"
#include "proxy/snapshot.h"
#include "proxy/upstream_stream.h"

namespace bgp {

// Opens `connection` (a fresh socket) to `endpoint`: connect, TCP_NODELAY, then the TLS handshake
// when the endpoint's color has TLS. A certificate that fails verification is a failed connect:
// nothing is sent. The caller's deadline (armed before) cancels it; the error is returned as it
// came (operation_aborted when cancelled).
boost::asio::awaitable<boost::system::error_code> connect_upstream(UpstreamStream& connection,
                                                                   const Endpoint& endpoint,
                                                                   Logger& log);

}  // namespace bgp
