// An HTTP/1.1 connection to an upstream endpoint as one exchange uses it, for both fronts (the
// HTTP/1 session and the HTTP/2 front): taken from the worker's pool or opened (a failed connect
// tried once more on the color's next healthy endpoint), its final response head read and judged
// (response_head.h), and afterwards given back to the pool or closed by one rule
// (may_pool_upstream, proxy/policy.h). What goes up and comes down between those steps is the
// front's: each reads its client and writes its response in its own protocol.
#pragma once

#include <concepts>
#include <optional>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/buffer_pool.h"
#include "proxy/connection.h"
#include "proxy/exchange.h"
#include "proxy/heap_optional.h"
#include "proxy/http1/response_head.h"
#include "proxy/policy.h"
#include "proxy/upstream_connect.h"
#include "proxy/upstream_stream.h"
#include "proxy/worker.h"

namespace bgp {

// What guards a leg's I/O: the deadline wheel entry of the front's exchange (a session's
// connection handle, an HTTP/2 stream). arm(t): the next operation ends by t (expiry cancels the
// watched connection's operations); timed(ec): a cancellation by expiry, as timed_out; watch():
// the connection expiry cancels (nullptr: none); abandoned(): the client left (an HTTP/2 stream's
// reset), so nothing more is done for it.
template <typename G>
concept LegGuard = requires(G& guard, const G& read_only, Clock::time_point deadline,
                            const error_code& ec, UpstreamStream* connection) {
  guard.arm(deadline);
  { read_only.timed(ec) } -> std::same_as<error_code>;
  guard.watch(connection);
  { read_only.abandoned() } -> std::same_as<bool>;
};

// An upstream's final response head as read_final_response_head() found it.
struct FinalResponseHead {
  std::optional<SimpleResponse> simple;         // a head the fast path takes (relay_head.h)
  std::size_t size = 0;                         // of the simple head, at the start of the buffer
  HeapOptional<UpstreamResponseParser> parser;  // any other head, parsed
};

// Reads an upstream's final response head from `stream` into `buffer` (its bytes read so far),
// each head within `timeout`: interim responses (100, 103) are passed over, and a 101 is an error
// unless the request asked for an `upgrade`. A simple head (never for an upgrade) stays at the
// start of `buffer`; any other is parsed, and consumed from `buffer`. An error is how the read
// failed or why the head was refused (a 502 for the client: never relayed, and its connection
// never reused). Any stream and buffer: the stream tests (tests/proxy/http1_stream_test.cpp) run
// it over reads of a few bytes.
template <typename Stream, typename Buffer, LegGuard Guard>
net::awaitable<error_code> read_final_response_head(Stream& stream, Buffer& buffer, Guard& guard,
                                                    FinalResponseHead& head, http::verb method,
                                                    bool upgrade, Duration timeout) {
  for (;;) {
    head.simple.reset();
    head.parser.reset();
    if (guard.abandoned()) co_return net::error::operation_aborted;
    guard.arm(Clock::now() + timeout);
    ResponseHeadScan scan;
    error_code limit_ec;
    while (const std::size_t want = scan.next_read(readable(buffer), limit_ec)) {
      auto [read_ec, n] = co_await stream.async_read_some(buffer.prepare(want), as_values);
      if (read_ec) co_return guard.timed(read_ec);
      buffer.commit(n);
    }
    if (limit_ec) co_return limit_ec;
    head.size = scan.size;
    if (!upgrade) {
      head.simple = simple_response_head(readable(buffer), scan, method);
      if (head.simple) co_return error_code{};
    }
    std::size_t used = 0;
    const error_code ec =
        parse_response_head(readable(buffer), scan, method, head.parser.emplace(), used);
    if (ec) co_return ec;
    buffer.consume(used);
    const unsigned status = head.parser->get().result_int();
    if (status == 101 && !upgrade) co_return http::error::bad_status;
    if (!is_interim_status(status)) co_return error_code{};
  }
}

template <LegGuard Guard>
class Http1UpstreamLeg {
 public:
  Http1UpstreamLeg(const net::any_io_executor& executor, BufferPool& buffers, Guard& guard)
      : executor_(executor), buffer_(PoolAllocator<char>(buffers)), guard_(guard) {}
  ~Http1UpstreamLeg() { discard(); }
  Http1UpstreamLeg(const Http1UpstreamLeg&) = delete;
  Http1UpstreamLeg& operator=(const Http1UpstreamLeg&) = delete;

  UpstreamStream& connection() noexcept { return *connection_; }
  bool reused() const noexcept { return reused_; }  // it came from the pool
  // Bytes read from the upstream and not relayed yet: after read_response_head(), a simple head
  // and what followed it, or what followed a parsed head.
  IoBuffer& buffer() noexcept { return buffer_; }
  // A byte of a response arrived (it may have been the answer: the request is not sent again).
  bool response_started() const noexcept { return buffer_.size() > 0; }

  // The final response head, after read_response_head(): a simple one (relay_head.h) at the
  // start of buffer(), head_size() bytes long, or a parsed one.
  const std::optional<SimpleResponse>& simple() const noexcept { return head_.simple; }
  std::size_t head_size() const noexcept { return head_.size; }
  UpstreamResponseParser& parser() noexcept { return *head_.parser; }

  // Replaces any connection by an idle pooled one to `endpoint`, if the pool has one.
  // `retry_safe`: the request would be sent again if it turned out closed (UpstreamPool::take).
  bool take_pooled(WorkerContext& worker, const Endpoint& endpoint, bool retry_safe) {
    discard();
    auto pooled = worker.upstreams.take(endpoint, retry_safe);
    if (!pooled) return false;
    use(std::move(*pooled), true);
    worker.stats.upstream_connection_reused(endpoint.stats_slot);
    return true;
  }

  // A connection for ex.endpoint when take_pooled() found none (or may not be used): a fresh
  // one; after a failed connect (nothing was sent, counted against its endpoint) one more try on
  // the color's next healthy endpoint, which ex.endpoint then names: pooled when `may_reuse`,
  // else fresh. false with ex.status set (502, 504 for a timeout, 499 when abandoned).
  net::awaitable<bool> open(WorkerContext& worker, const RoutingSnapshot& snapshot,
                            Duration connect_timeout, Exchange& ex, bool may_reuse,
                            bool retry_safe) {
    if (co_await connect(worker, connect_timeout, ex)) co_return true;
    if (guard_.abandoned()) co_return false;
    const Endpoint* next = worker.endpoints.next_healthy(snapshot, ex.color);
    if (next == nullptr || next == ex.endpoint) co_return false;
    ex.endpoint = next;
    if (may_reuse && take_pooled(worker, *next, retry_safe)) co_return true;
    co_return co_await connect(worker, connect_timeout, ex);
  }

  // Reads the upstream's final response head (read_final_response_head). Not a coroutine itself:
  // the one it returns is awaited in place (a frame fewer per request).
  net::awaitable<error_code> read_response_head(http::verb method, bool upgrade, Duration timeout) {
    return read_final_response_head(*connection_, buffer_, guard_, head_, method, upgrade, timeout);
  }

  // After the response: the connection goes back to the pool when may_pool_upstream() allows it
  // (`response_reusable`: the response ended cleanly and kept the connection alive), else closes.
  void finish(WorkerContext& worker, const Endpoint& endpoint, bool response_reusable,
              bool body_unsent) {
    if (!connection_) return;
    PoolFacts facts;
    facts.response_reusable = response_reusable;
    facts.bytes_left = buffer_.size() > 0 || connection_->has_buffered_input();
    facts.body_unsent = body_unsent;
    facts.draining = worker.draining;
    if (!may_pool_upstream(facts)) return discard();
    guard_.watch(nullptr);
    worker.upstreams.put_back(endpoint, std::move(*connection_));
    connection_.reset();
  }

  // Closes the connection, if any, and forgets what was read from it.
  void discard() noexcept {
    guard_.watch(nullptr);
    buffer_.clear();
    if (!connection_) return;
    error_code ignored;
    connection_->socket().close(ignored);
    connection_.reset();
  }

 private:
  // A fresh connection to ex.endpoint, its TLS handshake included, within `timeout`. A
  // certificate that fails verification is a failed connect: nothing is sent.
  net::awaitable<bool> connect(WorkerContext& worker, Duration timeout, Exchange& ex) {
    discard();
    use(UpstreamStream(tcp::socket(executor_)), false);
    guard_.arm(Clock::now() + timeout);
    const error_code ec =
        guard_.timed(co_await connect_upstream(*connection_, *ex.endpoint, worker.log));
    if (!ec && !guard_.abandoned()) {
      worker.stats.upstream_connection_opened(ex.endpoint->stats_slot);
      co_return true;
    }
    discard();
    if (guard_.abandoned()) {
      ex.status = kClientClosedRequest;
      co_return false;
    }
    worker.upstream_connect_failed(ex, ec);
    ex.status = static_cast<unsigned>(ec == net::error::timed_out ? http::status::gateway_timeout
                                                                  : http::status::bad_gateway);
    co_return false;
  }

  void use(UpstreamStream connection, bool reused) {
    connection_.emplace(std::move(connection));
    reused_ = reused;
    buffer_.clear();
    // A peer never makes it hold more than a head and one read.
    buffer_.max_size(kUpstreamHeadLimit + kRelayChunkBytes);
    guard_.watch(&*connection_);
  }

  static constexpr std::size_t kRelayChunkBytes = 16 * 1024;

  net::any_io_executor executor_;
  IoBuffer buffer_;
  Guard& guard_;
  std::optional<UpstreamStream> connection_;
  bool reused_ = false;
  FinalResponseHead head_;
};

}  // namespace bgp
