// One downstream connection: read a request, route it, relay it to an upstream and the response
// back, record it once; repeat while the connection is kept alive.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include "proxy/worker.h"

namespace bgp {

// Serves one accepted connection until it closes, on the worker's io_context thread. A keep-alive
// connection idle for a moment between requests is parked: it keeps its socket and a few fields
// (no coroutine, buffer or parser) until its next request arrives.
void start_connection(boost::asio::ip::tcp::socket client, ConnectionTicket ticket,
                      WorkerContext& worker);
// The same for a connection to the TLS listener: its handshake first (with the TLS context of
// the snapshot in force), within timeouts.client_header of the accept.
void start_tls_connection(boost::asio::ip::tcp::socket client, ConnectionTicket ticket,
                          WorkerContext& worker);

}  // namespace bgp
