// An HTTP/1 client's request forwarded to an HTTP/2 upstream (`backends.<color>.protocol` h2c or
// h2): sent on a stream of one of the worker's multiplexed connections (proxy/http2/upstream.h),
// its response relayed back as HTTP/1. The session (proxy/session.cpp) reads and routes the
// request, then hands it over; what the forward asks of it is an Http1ClientSide.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/http/read.hpp>

#include "proxy/connection.h"
#include "proxy/deadline_wheel.h"
#include "proxy/http1/http1_exchange.h"
#include "proxy/http1/http_framing.h"
#include "proxy/http1/relay_body.h"
#include "proxy/http1/relay_head.h"
#include "proxy/http1/request_head.h"
#include "proxy/http2/upstream.h"
#include "proxy/policy.h"
#include "proxy/worker.h"

namespace bgp {

// Request body bytes an HTTP/2 upstream's codec may hold for a stream before the client is read
// again.
constexpr std::size_t kMaxQueuedUpstream = 64 * 1024;

// The request target as an HTTP/2 :path: origin-form (an absolute-form target loses its scheme
// and authority).
std::string_view origin_form(std::string_view target) noexcept;

// A request's stream on an HTTP/2 upstream (proxy/http2/upstream.h): the connection, the call,
// and the timer its events wake. Its waits end at their deadline by the worker's wheel.
struct Http2Leg final : DeadlineWheel::Entry {
  Http2Leg(const net::any_io_executor& executor, DeadlineWheel& deadlines)
      : wake(executor), wheel(deadlines) {}
  ~Http2Leg() { forget(); }
  Http2Leg(const Http2Leg&) = delete;
  Http2Leg& operator=(const Http2Leg&) = delete;

  void forget() noexcept {
    if (call) upstream->forget(*call);
    call.reset();
    upstream.reset();
  }
  // Waits for the call's next event; false when `deadline` passed first.
  net::awaitable<bool> wait(Clock::time_point deadline);

  net::steady_timer wake;
  DeadlineWheel& wheel;
  std::shared_ptr<Http2Upstream> upstream;
  std::optional<UpstreamCall> call;
  bool reused = false;  // the connection carried streams before this one

 private:
  void on_expired() noexcept override { wake.cancel(); }
};

// The call ended without a response head: a connect that failed, a stream reset or refused, a
// connection lost. How the attempt goes on: a refused stream is sent again while its body is
// whole (`request_read`), as may_retry_upstream() says.
Step http2_call_failed(WorkerContext& worker, Http1Exchange& ex, const Http2Leg& leg,
                       bool request_read);

template <Http1ClientSide Side>
class Http2UpstreamForward {
 public:
  // Sends the request on a stream of a multiplexed HTTP/2 connection and relays the response as
  // HTTP/1: the held body goes with the head, the rest streams from the client as the upstream
  // takes it. A refused stream is sent again (while its body is whole), a failed connect once
  // more to the color's next healthy endpoint. What the connection does next.
  static net::awaitable<Next> forward(Side& side, Http1Exchange& ex) {
    ex.upstream_at = Clock::now();
    std::vector<http2::Field> fields;
    http2_upstream_fields(side.request().get(), side.upstream_options(ex), fields);
    const net::any_io_executor executor = co_await net::this_coro::executor;
    Http2UpstreamForward forwarding(side, ex, executor);
    bool endpoint_switched = false;
    for (;; ++ex.attempt) {
      Step step = co_await forwarding.send_request(fields);
      if (step == Step::done) step = co_await forwarding.await_head();
      if (step == Step::done) co_return co_await forwarding.relay_response();
      Http2Leg& leg = forwarding.leg_;
      const bool connect_failed = leg.call && leg.call->connect_failed;  // nothing was sent
      leg.forget();
      if (step == Step::retry) continue;
      WorkerContext& worker = side.worker();
      const Endpoint* next = worker.endpoints.next_healthy(side.snapshot(), ex.color);
      if (!connect_failed || endpoint_switched || next == nullptr || next == ex.endpoint) {
        co_return co_await side.fail(ex);
      }
      ex.endpoint = next;
      endpoint_switched = true;
    }
  }

 private:
  Http2UpstreamForward(Side& side, Http1Exchange& ex, const net::any_io_executor& executor)
      : side_(side), ex_(ex), leg_(executor, side.worker().deadlines) {}

  // Opens the stream with the head and the held body; a body longer than the hold streams on.
  net::awaitable<Step> send_request(std::span<const http2::Field> fields) {
    WorkerContext& worker = side_.worker();
    leg_.upstream = worker.http2_upstreams.connection_for(worker, *ex_.endpoint, side_.config());
    UpstreamCall& call = leg_.call.emplace(leg_.wake);
    leg_.reused = leg_.upstream->carried_streams();
    const std::span<const char> held = side_.held_body();
    const bool whole = side_.request().is_done();
    const bool no_body = whole && held.empty();
    const auto host = ex_.headers.first("host");
    const std::string_view authority = host ? *host : std::string_view(ex_.endpoint->label);
    const std::string_view scheme = ex_.endpoint->tls ? "https" : "http";
    if (!leg_.upstream->open(call, ex_.method, scheme, authority, origin_form(ex_.target), fields,
                             no_body)) {
      // The pool gave a connection that may open a stream: nghttp2 refused it all the same.
      co_return upstream_failed(worker, ex_, net::error::connection_reset, false);
    }
    if (!held.empty()) leg_.upstream->send(call, {held.data(), held.size()});
    if (whole) {
      if (!no_body) leg_.upstream->finish(call, {});
      co_return Step::done;
    }
    co_return co_await stream_request_body();
  }

  // The rest of the body, read from the client as the upstream's queue drains; an upstream that
  // answers (or fails) meanwhile gets no more of it.
  net::awaitable<Step> stream_request_body() {
    UpstreamCall& call = *leg_.call;
    RequestParser& parser = side_.request();
    auto& body = parser.get().body();
    const std::span<char> relay = side_.relay_buffer();
    const Config& config = side_.config();
    parser.eager(false);
    auto client = side_.request_body_stream();
    while (!parser.is_done()) {
      ex_.body_started = true;
      const auto deadline = Clock::now() + config.timeouts.upstream_response;
      while (leg_.upstream->queued(call) > kMaxQueuedUpstream && !call.over() && !call.head) {
        if (!co_await leg_.wait(deadline)) co_return timed_out();
      }
      if (call.over() || call.head) {
        ex_.body_unsent = true;
        co_return Step::done;
      }
      body = {relay.data(), relay.size(), true};
      side_.arm(config.timeouts.client_idle);
      auto [read_ec, n] =
          co_await http::async_read_some(client, side_.client_buffer(), parser, as_values);
      if (read_ec && read_ec != http::error::need_buffer) {
        co_return client_failed(ex_, status_for_client_body_error(side_.timed(read_ec)));
      }
      leg_.upstream->send(call, {relay.data(), relay.size() - body.size});
    }
    leg_.upstream->finish(call, {});
    co_return Step::done;
  }

  net::awaitable<Step> await_head() {
    UpstreamCall& call = *leg_.call;
    const auto deadline = Clock::now() + side_.config().timeouts.upstream_response;
    while (!call.head) {
      if (call.over()) {
        co_return http2_call_failed(side_.worker(), ex_, leg_, side_.request().is_done());
      }
      if (!co_await leg_.wait(deadline)) co_return timed_out();
    }
    co_return Step::done;
  }

  Step timed_out() { return upstream_failed(side_.worker(), ex_, net::error::timed_out, false); }

  // The response as HTTP/1: its length as the upstream gave it, else chunked (to an HTTP/1.1
  // client) with the upstream's trailers in the last chunk, else until the close.
  net::awaitable<Next> relay_response() {
    UpstreamCall& call = *leg_.call;
    const http2::ResponseHead& head = *call.head;
    ex_.status = head.status;
    ex_.response_head_at = Clock::now();
    const bool no_body = response_has_no_body(ex_.verb, ex_.status);
    BodyFraming framing;
    if (head.content_length) {
      framing = {BodyFraming::Kind::length, *head.content_length};
    } else if (no_body) {
      framing = {};
    } else if (head.end_stream) {
      framing = {BodyFraming::Kind::length, 0};
    } else if (ex_.version >= 11) {
      framing = {BodyFraming::Kind::chunked, 0};
    }
    KeepAliveFacts facts = side_.keep_alive_facts(ex_);
    facts.response_has_body = !no_body;
    facts.response_chunked = framing.kind == BodyFraming::Kind::chunked;
    facts.response_until_close = !no_body && framing.kind == BodyFraming::Kind::none;
    const bool keep_alive = keep_client_alive(facts) && !ex_.body_unsent;
    std::string& head_out = side_.head_buffer();
    head_out.clear();
    write_client_head_for_http2(ex_.status, head.fields, framing, ex_.version, keep_alive,
                                head_out);
    if (!co_await side_.write_to_client(ex_, head_out, false)) co_return Next::close;
    if (!co_await relay_body(framing.kind == BodyFraming::Kind::chunked)) co_return Next::close;
    ex_.finished_at = Clock::now();
    leg_.forget();
    if (keep_alive) co_return Next::keep_alive;
    co_await side_.close_after_answer();
    co_return Next::close;
  }

  // Body bytes as they come, the upstream's window given back once they are written; false when
  // either side failed (the client then sees a cut body: no last chunk, or fewer bytes).
  net::awaitable<bool> relay_body(bool chunked) {
    UpstreamCall& call = *leg_.call;
    const Duration timeout = side_.config().timeouts.upstream_response;
    std::string sending;  // taken out of the call: its event may append while a write is on
    auto deadline = Clock::now() + timeout;
    for (;;) {
      if (!call.body.empty()) {
        sending.clear();
        sending.swap(call.body);
        if (!co_await side_.write_to_client(ex_, sending, chunked)) co_return false;
        leg_.upstream->consume(call, sending.size());
        deadline = Clock::now() + timeout;
        continue;
      }
      if (call.ended) break;
      if (call.over()) {
        const error_code ec = call.failure ? call.failure : net::error::connection_reset;
        upstream_failed(side_.worker(), ex_, ec, false);
        co_return false;
      }
      if (!co_await leg_.wait(deadline)) {
        timed_out();
        co_return false;
      }
    }
    if (!chunked) co_return true;
    sending = "0\r\n";  // the last chunk, then the upstream's trailers
    for (const auto& field : call.trailers) {
      sending.append(field.name).append(": ").append(field.value).append("\r\n");
    }
    sending += "\r\n";
    co_return co_await side_.write_to_client(ex_, sending, false);
  }

  Side& side_;
  Http1Exchange& ex_;
  Http2Leg leg_;
};

}  // namespace bgp
