// The data path's three decisions about connections, as pure functions of plain facts: whether a
// failed upstream attempt is made again on a fresh connection, whether the client connection
// stays open after an answer, and whether an upstream connection is pooled after it. The fronts
// (proxy/session.cpp, proxy/http2/front.cpp) gather the facts and obey; the tests
// (tests/proxy/policy_test.cpp) cover every case without a socket.
#pragma once

namespace bgp {

// How an upstream attempt failed.
enum class UpstreamFailure {
  closed,   // the upstream closed or reset the connection (EOF, RST, EPIPE)
  timeout,  // a deadline passed
  other,    // anything else: a malformed or refused response, a local error
};

struct RetryFacts {
  int attempt = 0;                // 0: the first attempt, on a pooled connection if any
  bool reused = false;            // the connection came from the keep-alive pool
  bool idempotent = false;        // the method may be applied twice (RFC 9110, 9.2.2)
  bool request_read = false;      // the whole request body is held, so it can be sent again
  bool body_streamed = false;     // body bytes beyond the held part were taken from the client
  bool request_written = false;   // the head and held body were written whole
  bool response_started = false;  // a byte of a response arrived
  // HTTP/2: the upstream refused the stream unprocessed (REFUSED_STREAM, or above its GOAWAY's
  // last stream).
  bool refused = false;
  UpstreamFailure failure = UpstreamFailure::other;
};

// Whether the request is sent again on a fresh connection after its attempt failed. Only a
// pooled connection that the upstream closed before answering is retried, and only once: the
// upstream may close an idle keep-alive connection as the request goes out (RFC 9112, 9.3.1).
// A request that was written whole may have been processed, so it is retried only when it is
// idempotent and whole. A refused HTTP/2 stream was not processed at all: it is sent again
// whatever its method (RFC 9113 section 8.7), twice at most, if its body is still whole. Also
// asked before the attempt (as a closed connection awaiting its
// response): a pooled connection is then trusted without a look.
bool may_retry_upstream(const RetryFacts& facts) noexcept;

struct KeepAliveFacts {
  bool client_keep_alive = false;  // the request asked for it (HTTP/1.1's default)
  unsigned client_version = 11;    // the request's HTTP version: 10 or 11
  bool request_read = false;       // the request body was read whole: the next bytes are a request
  bool draining = false;           // the worker is draining: every answer closes
  bool upgrade = false;            // the request asked for an upgrade
  // The proxy's own answer (an error) instead of the upstream's response.
  bool own_answer = false;
  bool refusal = false;  // the own answer refuses the request (408, framing): its rest is untrusted
  // The upstream's response (not for an own answer).
  bool response_has_body = false;     // by its status and the request's method
  bool response_chunked = false;      // as the upstream sent it
  bool response_until_close = false;  // the upstream ends its body by closing
};

// Whether the client connection stays open for another request after the answer.
bool keep_client_alive(const KeepAliveFacts& facts) noexcept;

struct PoolFacts {
  // The response ended cleanly, and its head let the connection live (keep-alive, no body
  // delimited by the close).
  bool response_reusable = false;
  bool bytes_left = false;   // bytes arrived beyond the response: they belong to no request
  bool body_unsent = false;  // the upstream stopped taking the request body before its end
  bool draining = false;     // the worker is draining: no connection is kept
};

// Whether an upstream connection goes back to the pool after an exchange, to carry another.
bool may_pool_upstream(const PoolFacts& facts) noexcept;

}  // namespace bgp
