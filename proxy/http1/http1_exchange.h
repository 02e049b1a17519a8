// An HTTP/1 client's request as the session (proxy/session.cpp) and its forwarders (to an
// HTTP/1.1 upstream, http1_upstream_forward.h; to an HTTP/2 one, http2_upstream_forward.h) share
// it: the HTTP/1 side of its Exchange, how a stage of its upstream exchange ended, the two ways
// one fails (the upstream's, the client's), and what a forwarder asks of the session
// (Http1ClientSide).
#pragma once

#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>

#include "proxy/buffer_pool.h"
#include "proxy/connection.h"
#include "proxy/exchange.h"
#include "proxy/http1/relay_head.h"
#include "proxy/http1/request_head.h"
#include "proxy/policy.h"
#include "proxy/worker.h"

namespace bgp {

constexpr std::size_t kRelayChunk = 16 * 1024;  // body bytes moved per read and write
// Room for a usual head at once (a small allocation, not grown step by step).
constexpr std::size_t kHeadReserve = 1000;

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
  worker.upstream_gave_up(ex, ec);
  return Step::failed;
}

// The client failed the exchange (it left, its body was refused or too slow): it is to get
// `status` (none for kClientClosedRequest).
inline Step client_failed(Http1Exchange& ex, unsigned status) noexcept {
  ex.status = status;
  return Step::failed;
}

// What a forwarder asks of the HTTP/1 session whose request it forwards (both do: to an HTTP/1.1
// upstream, http1_upstream_forward.h, and to an HTTP/2 one, http2_upstream_forward.h), by purpose:
// - what is in force: the worker, and the config and snapshot the request was routed with;
// - the request: its parsed head and the options its upstream head is written with; the body
//   bytes the session held before it handed the request on, and for the rest the client's
//   chunk-checked stream, the bytes read from the client and not taken yet, and the relay buffer
//   it is read into;
// - the client's connection: arm(t), its next operation ends within t (timed() tells that
//   timeout from other failures); writes to it (as one chunk when asked); the buffer the head
//   is written into;
// - the answer: whether the connection stays open after it (keep_alive_facts(), all but the
//   response's), fail(): the proxy's own answer with ex.status, close_after_answer().
template <typename S>
concept Http1ClientSide = requires(S& side, const S& read_only, Http1Exchange& ex,
                                   const error_code& ec, std::string_view bytes, bool chunked,
                                   Duration timeout) {
  { side.worker() } -> std::same_as<WorkerContext&>;
  { read_only.config() } -> std::same_as<const Config&>;
  { read_only.snapshot() } -> std::same_as<const RoutingSnapshot&>;

  { side.request() } -> std::same_as<RequestParser&>;
  { read_only.upstream_options(ex) } -> std::same_as<UpstreamRequestOptions>;
  { side.held_body() } -> std::same_as<std::span<const char>>;
  side.request_body_stream();
  { side.client_buffer() } -> std::same_as<IoBuffer&>;
  { side.relay_buffer() } -> std::convertible_to<std::span<char>>;

  side.arm(timeout);
  { read_only.timed(ec) } -> std::same_as<error_code>;
  { side.write_to_client(ex, bytes, chunked) } -> std::same_as<net::awaitable<bool>>;
  { side.head_buffer() } -> std::same_as<std::string&>;

  { read_only.keep_alive_facts(ex) } -> std::same_as<KeepAliveFacts>;
  { side.fail(ex) } -> std::same_as<net::awaitable<Next>>;
  { side.close_after_answer() } -> std::same_as<net::awaitable<void>>;
};

}  // namespace bgp
