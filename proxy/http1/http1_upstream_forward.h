// An HTTP/1 client's request forwarded to an HTTP/1.1 upstream, the proxy's hot path: the head
// written as bytes (relay_head.h) and sent with the held body in one write on a pooled or fresh
// connection (the session's Http1UpstreamLeg, upstream_leg.h), the rest of the body streamed,
// the response relayed back by the fast path (a simple head and a Content-Length body) or
// through Beast's parser and serializer. A pooled connection that turns out dead is replaced by
// a fresh one once (may_retry_upstream, proxy/policy.h). The session (proxy/session.cpp) reads
// and routes the request, then hands it over; what the forward asks of it is an
// Http1UpstreamSide.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include "proxy/connection.h"
#include "proxy/http1/chunk_checked_stream.h"
#include "proxy/http1/chunk_lines.h"
#include "proxy/http1/http1_exchange.h"
#include "proxy/http1/http_framing.h"
#include "proxy/http1/relay_body.h"
#include "proxy/http1/relay_head.h"
#include "proxy/http1/response_head.h"
#include "proxy/http1/upstream_leg.h"
#include "proxy/policy.h"

namespace bgp {

// What the forward to an HTTP/1.1 upstream asks of the session beyond an Http1ClientSide: the
// client's stream itself (a response goes to it through Beast's serializer, or gathered with its
// head on the fast path), the guard its relays arm, the session's upstream leg (kept from request
// to request: its buffer is the session's), and the request body's framing.
template <typename S>
concept Http1UpstreamSide = Http1ClientSide<S> && requires(S& side, const S& read_only) {
  side.client();
  side.guard();
  side.upstream_leg();
  { read_only.framing() } -> std::same_as<const BodyFraming&>;
};

// The steps are static, over the session they serve: each coroutine's frame holds what a member
// of the session held (the session and the exchange), and nothing is built per request.
template <Http1UpstreamSide Side>
class Http1UpstreamForward {
 public:
  // Sends the request upstream and relays the response back; a reused connection that turns out
  // dead is replaced by a fresh one once. What the connection does next.
  static net::awaitable<Next> forward(Side& side, Http1Exchange& ex) {
    ex.upstream_at = Clock::now();
    auto& leg = side.upstream_leg();
    for (;; ++ex.attempt) {
      const bool may_reuse = ex.attempt == 0;  // a retry goes on a fresh connection
      const bool safe = retry_safe(side, ex);
      // The usual case, a pooled connection, needs no coroutine frame of its own.
      const bool pooled = may_reuse && leg.take_pooled(side.worker(), *ex.endpoint, safe);
      if (!pooled &&
          !co_await leg.open(side.worker(), side.snapshot(),
                             side.config().timeouts.upstream_connect, ex, may_reuse, safe)) {
        co_return co_await side.fail(ex);
      }
      // The head goes with the held body (hold_request_body()) in one write. A dead reused
      // connection shows before any later body byte is taken from the client, so the request can
      // still be sent again.
      const std::string& head = write_upstream_head(side, ex);
      side.arm(side.config().timeouts.upstream_response);
      ChunkSizeLine size_line;
      const auto held = body_piece(size_line, side.relay_buffer().data(), side.held_body().size(),
                                   chunked_request(side), side.request().is_done());
      const std::array<net::const_buffer, 5> pieces{net::buffer(head), held[0], held[1], held[2],
                                                    held[3]};
      // Without a body, one buffer: Asio's single-buffer write is the plain send().
      auto [write_ec, n] =
          net::buffer_size(held) == 0
              ? co_await net::async_write(leg.connection(), net::buffer(head), as_values)
              : co_await net::async_write(leg.connection(), pieces, as_values);
      Step step = head_sent(side, ex, side.timed(write_ec));
      if (step == Step::done && !side.request().is_done()) {
        step = co_await send_request_body(side, ex);
      }
      if (step == Step::done) {
        const error_code head_ec = co_await read_response_head(side, ex);
        step = response_head_read(side, ex, head_ec);
      }
      if (step == Step::retry) continue;  // may_retry_upstream() allows one
      if (step != Step::done) co_return co_await side.fail(ex);
      ex.response_head_at = Clock::now();
      if (leg.simple()) co_return co_await relay_simple_response(side, ex, *leg.simple());
      co_return co_await relay_response(side, ex);
    }
  }

 private:
  static bool chunked_request(const Side& side) noexcept {
    return side.framing().kind == BodyFraming::Kind::chunked;
  }

  // The head the upstream gets, into the session's head buffer (relay_head.h): hop-by-hop headers
  // removed, one normalized framing field (duplicate lengths were checked to agree), Host when an
  // HTTP/1.0 request had none, forwarding headers added; `Expect` dropped, since this proxy
  // answers 100 Continue itself right before it reads the body.
  static const std::string& write_upstream_head(Side& side, const Http1Exchange& ex) {
    UpstreamRequestOptions options = side.upstream_options(ex);
    options.default_host = ex.endpoint->label;
    options.upgrade = ex.upgrade;
    std::string& head = side.head_buffer();
    head.clear();
    head.reserve(kHeadReserve);
    write_upstream_request_head(side.request().get(), options, head);
    return head;
  }

  // Whether the request would be sent again on a fresh connection if a pooled one turned out
  // closed when its response is awaited: a recently pooled connection is then taken without a look.
  static bool retry_safe(Side& side, const Http1Exchange& ex) noexcept {
    RetryFacts facts = attempt_facts(side, ex, true);
    facts.reused = true;
    facts.response_started = false;
    facts.failure = UpstreamFailure::closed;
    return may_retry_upstream(facts);
  }

  // What may_retry_upstream() asks of the current attempt, all but how it failed.
  static RetryFacts attempt_facts(Side& side, const Http1Exchange& ex,
                                  bool request_written) noexcept {
    const auto& leg = side.upstream_leg();
    RetryFacts facts;
    facts.attempt = ex.attempt;
    facts.reused = leg.reused();
    facts.idempotent = is_idempotent(ex.verb);
    facts.request_read = side.request().is_done();
    facts.body_streamed = ex.body_started;
    facts.request_written = request_written;
    facts.response_started = leg.response_started();
    return facts;
  }

  // Whether the attempt that failed with `ec` is made again on a fresh connection.
  static bool may_retry(Side& side, const Http1Exchange& ex, const error_code& ec,
                        bool request_written) noexcept {
    RetryFacts facts = attempt_facts(side, ex, request_written);
    facts.failure = upstream_failure(ec);
    return may_retry_upstream(facts);
  }

  static Step head_sent(Side& side, Http1Exchange& ex, const error_code& ec) {
    if (!ec) return Step::done;
    return upstream_failed(side.worker(), ex, ec, may_retry(side, ex, ec, false));
  }

  // The request body, after its head went out.
  static net::awaitable<Step> send_request_body(Side& side, Http1Exchange& ex) {
    ex.body_started = true;  // bytes beyond the held part are read from here on: no retry
    const auto body = side.request_body_stream();  // not a temporary (GCC 12)
    const Config& config = side.config();
    const RelayResult relayed = co_await relay_request_body(
        side.request(), body, side.client_buffer(), config.timeouts.client_idle,
        side.upstream_leg().connection(), config.timeouts.upstream_response, chunked_request(side),
        side.relay_buffer(), side.guard());
    switch (relayed.failed) {
      case RelayResult::Side::none:
        co_return Step::done;
      case RelayResult::Side::reader:
        co_return client_failed(ex, status_for_client_body_error(relayed.ec));
      case RelayResult::Side::writer:
        break;
    }
    co_return co_await early_response(side, ex, relayed.ec);
  }

  // The upstream stopped taking the body: it may have answered before reading all of it (413,
  // 401, a redirect) and closed. The answer it sent, if any, is what the client gets (the client
  // connection closes after it: the rest of the body is not read) and what the color is charged
  // with; without one it is a reset.
  static net::awaitable<Step> early_response(Side& side, Http1Exchange& ex,
                                             const error_code& write_ec) {
    ex.body_unsent = true;
    if (!is_connection_closed(write_ec)) {
      co_return upstream_failed(side.worker(), ex, write_ec, may_retry(side, ex, write_ec, true));
    }
    const error_code head_ec = co_await read_response_head(side, ex);
    co_return response_head_read(side, ex, head_ec);
  }

  // The upstream's final response head, read and judged by the leg as the HTTP/2 front's is: a
  // simple one (relay_head.h) for relay_simple_response(), any other parsed for relay_response().
  static net::awaitable<error_code> read_response_head(Side& side, const Http1Exchange& ex) {
    return side.upstream_leg().read_response_head(ex.verb, ex.upgrade,
                                                  side.config().timeouts.upstream_response);
  }
  // How the attempt goes on after the head's read: a failed one may be made again.
  static Step response_head_read(Side& side, Http1Exchange& ex, const error_code& ec) {
    if (!ec) return Step::done;
    return upstream_failed(side.worker(), ex, ec, may_retry(side, ex, ec, true));
  }

  // --- the response ------------------------------------------------------------------------------

  static net::awaitable<Next> relay_response(Side& side, Http1Exchange& ex) {
    auto& leg = side.upstream_leg();
    const Config& config = side.config();
    UpstreamResponseParser& parser = leg.parser();
    ex.status = parser.get().result_int();  // a 101 only when the request asked for an upgrade
    const bool upstream_reusable = parser.get().keep_alive() && !parser.need_eof();
    const bool keep_alive = shape_response(side, ex, parser);
    http::response_serializer<http::buffer_body> serializer{parser.get()};
    if (ex.status == 101 || response_has_no_body(ex.verb, ex.status)) {
      side.arm(config.timeouts.client_idle);
      auto [ec, n] = co_await http::async_write_header(side.client(), serializer, as_values);
      ex.finished_at = Clock::now();
      ex.bytes_sent += n;
      if (ec) {
        note_client_gone(ex);
        co_return Next::close;
      }
      if (ex.status == 101) co_return Next::tunnel;
    } else {
      // A chunked body's lines are checked as they arrive, starting with what came behind the head.
      ChunkLines lines;
      ChunkCheckedStream<UpstreamStream> upstream(leg.connection(),
                                                  parser.chunked() ? &lines : nullptr);
      RelayResult relayed;
      if (parser.chunked() && !lines.feed(readable(leg.buffer()))) {
        relayed = {RelayResult::Side::reader, http::error::bad_chunk};
      } else {
        relayed = co_await relay_response_body(
            parser, upstream, leg.buffer(), config.timeouts.upstream_response, serializer,
            side.client(), config.timeouts.client_idle, side.relay_buffer(), side.guard());
      }
      ex.finished_at = Clock::now();
      ex.bytes_sent += relayed.bytes;
      if (relayed.failed == RelayResult::Side::reader) {
        upstream_failed(side.worker(), ex, relayed.ec, false);
        // Nothing reached the client yet: it gets a 502 (504) instead of a bare close.
        if (!relayed.wrote) co_return co_await side.fail(ex);
      }
      if (relayed.failed == RelayResult::Side::writer) note_client_gone(ex);
      if (relayed.failed != RelayResult::Side::none) co_return Next::close;
    }
    leg.finish(side.worker(), *ex.endpoint, upstream_reusable && parser.is_done(), ex.body_unsent);
    if (keep_alive) co_return Next::keep_alive;
    co_await side.close_after_answer();
    co_return Next::close;
  }

  // The fast path: a simple response (relay_head.h) with its body delimited by Content-Length (or
  // none). Its head is rewritten into the session's head buffer and goes out in one write with the
  // body bytes that came with it; the rest of the body is copied as it arrives.
  static net::awaitable<Next> relay_simple_response(Side& side, Http1Exchange& ex,
                                                    const SimpleResponse& response) {
    auto& leg = side.upstream_leg();
    const Config& config = side.config();
    ex.status = response.status;
    KeepAliveFacts facts = side.keep_alive_facts(ex);
    facts.response_has_body = !response_has_no_body(ex.verb, ex.status);
    const bool keep_alive = keep_client_alive(facts);
    std::string& head_out = side.head_buffer();
    head_out.clear();
    head_out.reserve(kHeadReserve);
    IoBuffer& buffer = leg.buffer();
    write_client_response_head(readable(buffer).substr(0, leg.head_size()), response, ex.version,
                               keep_alive, head_out);
    buffer.consume(leg.head_size());
    std::uint64_t remaining =
        response_has_no_body(ex.verb, ex.status) ? 0 : response.content_length.value_or(0);
    std::size_t body_bytes =
        static_cast<std::size_t>(std::min<std::uint64_t>(remaining, buffer.size()));
    net::const_buffer head = net::buffer(head_out);
    for (;;) {
      const std::array<net::const_buffer, 2> pieces{head,
                                                    net::buffer(buffer.data().data(), body_bytes)};
      side.arm(config.timeouts.client_idle);
      auto [write_ec, written] = co_await net::async_write(side.client(), pieces, as_values);
      ex.bytes_sent += written;
      if (write_ec) {
        ex.finished_at = Clock::now();
        note_client_gone(ex);
        co_return Next::close;
      }
      head = {};
      buffer.consume(body_bytes);
      remaining -= body_bytes;
      if (remaining == 0) break;
      side.arm(config.timeouts.upstream_response);
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, kRelayChunk));
      auto [read_ec, n] =
          co_await leg.connection().async_read_some(buffer.prepare(want), as_values);
      if (read_ec) {
        ex.finished_at = Clock::now();
        upstream_failed(side.worker(), ex, side.timed(read_ec), false);
        co_return Next::close;
      }
      buffer.commit(n);
      body_bytes = n;
    }
    ex.finished_at = Clock::now();
    leg.finish(side.worker(), *ex.endpoint, response.keep_alive, ex.body_unsent);
    if (keep_alive) co_return Next::keep_alive;
    co_await side.close_after_answer();
    co_return Next::close;
  }

  // Turns the upstream's response head into the client's; returns whether the client
  // connection stays open after it.
  static bool shape_response(Side& side, const Http1Exchange& ex, UpstreamResponseParser& parser) {
    auto& response = parser.get();
    const bool upgraded = ex.status == 101;
    const bool has_body = !response_has_no_body(ex.verb, ex.status);
    strip_hop_by_hop(response, upgraded);
    add_via(response, response.version());
    KeepAliveFacts facts = side.keep_alive_facts(ex);
    facts.response_has_body = has_body;
    facts.response_chunked = response.chunked();
    facts.response_until_close = parser.need_eof();
    const bool keep_alive = keep_client_alive(facts);
    if (ex.version < 11 && response.chunked()) {
      response.chunked(false);  // an HTTP/1.0 client reads the body until the close
    } else if (has_body && parser.need_eof() && keep_alive) {
      response.chunked(true);  // the upstream ends the body by closing; the client keeps its own
    }
    response.version(ex.version >= 11 ? 11 : 10);
    if (!upgraded) response.keep_alive(keep_alive);
    return keep_alive;
  }
};

}  // namespace bgp
