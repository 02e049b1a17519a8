// An HTTP/1 client's request as the session (proxy/session.cpp) and its forwarders (to an
// HTTP/1.1 upstream in the session, to an HTTP/2 one in http2_upstream_forward.h) share it: the
// HTTP/1 side of its Exchange, how a stage of its upstream exchange ended, and the two ways one
// fails (the upstream's, the client's).
#pragma once

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>

#include "proxy/connection.h"
#include "proxy/exchange.h"
#include "proxy/http1/request_head.h"
#include "proxy/worker.h"

namespace bgp {

// What the connection does after a request; http2: it turned out to speak HTTP/2 (h2c).
enum class Next { keep_alive, close, tunnel, http2 };
enum class Step { done, retry, failed };  // how a stage of the upstream exchange ended

// The HTTP/1 side of an exchange: what its client asked of the connection, and how far its body
// went.
struct Http1Exchange : Exchange {
  http::verb verb = http::verb::unknown;
  bool client_keep_alive = false;  // asked for by the client
  bool upgrade = false;
  bool expects_continue = false;
  bool continue_sent = false;
  bool body_started = false;  // body bytes beyond the held part were read: no retry any more
  bool body_unsent = false;   // the upstream stopped taking the body: never pooled again
};

inline bool is_http_error(const error_code& ec) noexcept {
  return ec.category() == http::make_error_code(http::error::end_of_stream).category();
}

// The status a request gets when reading its body from the client failed.
inline unsigned status_for_client_body_error(const error_code& ec) noexcept {
  if (ec == net::error::timed_out) return static_cast<unsigned>(http::status::request_timeout);
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      !is_http_error(ec)) {
    return kClientClosedRequest;
  }
  return static_cast<unsigned>(status_for_parse_error(ec));
}

// An upstream attempt failed with `ec`: made again when `retry`, else counted against the
// endpoint, and the client is to get a 502 (504 after a timeout).
inline Step upstream_failed(WorkerContext& worker, Http1Exchange& ex, const error_code& ec,
                            bool retry) {
  if (retry) return Step::retry;
  const bool timeout = ec == net::error::timed_out;
  worker.log.debug("upstream {} failed: {}", ex.endpoint->label, ec.message());
  worker.upstream_failed(ex, timeout ? UpstreamError::timeout : UpstreamError::reset);
  ex.status =
      static_cast<unsigned>(timeout ? http::status::gateway_timeout : http::status::bad_gateway);
  return Step::failed;
}

// The client failed the exchange (it left, its body was refused or too slow): it is to get
// `status` (none for kClientClosedRequest).
inline Step client_failed(Http1Exchange& ex, unsigned status) noexcept {
  ex.status = status;
  return Step::failed;
}

}  // namespace bgp
