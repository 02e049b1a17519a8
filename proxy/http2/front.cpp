#include "proxy/http2/front.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include "config/grpc_status.h"
#include "proxy/http1/chunk_checked_stream.h"
#include "proxy/http1/chunk_lines.h"
#include "proxy/http1/http_framing.h"
#include "proxy/http1/relay_head.h"
#include "proxy/http1/response_head.h"
#include "proxy/http1/syntax.h"
#include "proxy/http1/upstream_leg.h"
#include "proxy/http2/server_session.h"
#include "proxy/http2/upstream.h"

namespace bgp {

Preface match_http2_preface(std::string_view received) noexcept {
  constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const std::size_t n = std::min(received.size(), kPreface.size());
  if (received.substr(0, n) != kPreface.substr(0, n)) return Preface::no;
  return n == kPreface.size() ? Preface::yes : Preface::partial;
}

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using ResponseParser = http::response_parser<http::buffer_body>;

constexpr std::size_t kReadChunk = 16 * 1024;  // bytes asked for per read from the client
// Streams started per turn of the event loop (Envoy's max_requests_per_io_cycle): a read that
// brought more starts the rest after the client's next bytes, which may reset them (Rapid
// Reset), or after the other connections had their turn.
constexpr std::size_t kStartsPerTurn = 16;
constexpr unsigned kReadsBeforeStart = 4;  // reads of what the client sent before streams start
// Forwarders a connection keeps waiting for its next streams (Forwarder): what an idle connection
// holds after a burst of streams is bounded.
constexpr std::size_t kMaxIdleForwarders = 16;
constexpr std::size_t kRelayChunk = 16 * 1024;  // response body bytes moved per upstream read
// Response bytes a stream may have waiting in the codec before it stops reading its upstream:
// about one stream window, so that a client that reads slowly holds this much per stream.
constexpr std::size_t kMaxQueued = 64 * 1024;
// How long, and for how many body bytes, a request is held before it goes upstream
// (hold_request_body).
constexpr Duration kHoldWait = std::chrono::milliseconds(100);
constexpr std::size_t kHoldBytes = 16 * 1024;

// RST_STREAM codes (RFC 9113 section 7).
constexpr std::uint32_t kInternalError = 0x2;
constexpr std::uint32_t kRefusedStream = 0x7;
constexpr std::uint32_t kCancel = 0x8;

enum class Step { done, retry, failed };

constexpr std::size_t kFieldsReserve = 8;  // a response's fields, as most have no more
constexpr std::size_t kHeadReserve = 512;  // an upstream request head, as most take no more

// One request stream, from its head to its record. Its forwarder owns it; the connection's map
// shares it while the client side of the stream is open.
struct Http2Stream final : DeadlineWheel::Entry {
  Http2Stream(std::int32_t stream_id, http2::RequestHead request,
              const net::any_io_executor& executor)
      : id(stream_id), head(std::move(request)), wake(executor) {}

  // The deadline passed: what the forwarder waits for ends (it then sees expired()).
  void on_expired() noexcept override { cancel_io(); }
  void cancel_io() noexcept {
    error_code ignored;
    if (upstream) upstream->socket().cancel(ignored);
    wake.cancel();
  }
  void notify() noexcept { wake.cancel(); }
  error_code timed(const error_code& ec) const noexcept {
    if (ec == net::error::operation_aborted && expired()) return net::error::timed_out;
    return ec;
  }

  const std::int32_t id;
  http2::RequestHead head;
  Exchange exchange;
  std::string body;                    // request body bytes received and not yet written upstream
  std::vector<http2::Field> trailers;  // the request's (passed on to an HTTP/2 upstream only)
  bool request_ended = false;
  bool body_taken = false;   // body bytes went upstream: the request cannot be sent again
  bool client_gone = false;  // the client reset the stream, or the connection ended
  bool response_started = false;
  bool awaiting_room = false;  // waits for the writer to take queued response bytes
  bool grpc = false;           // content-type application/grpc*: answered and judged as gRPC
  net::steady_timer wake;      // the forwarder's wait: body bytes, room, the client's reset
  UpstreamStream* upstream = nullptr;  // the HTTP/1.1 upstream leg's connection (StreamGuard)
  bool upstream_reused = false;        // the HTTP/2 upstream connection carried streams before
  bool held_body_consumed = false;     // the client's window for the held body was given back
  // Over an HTTP/2 upstream (backends.<color>.protocol h2c or h2): the connection and the call.
  std::shared_ptr<Http2Upstream> http2_upstream;
  std::optional<UpstreamCall> call;
};

// A coroutine that forwards a connection's streams one after another (Http2Front::
// forward_streams): a connection keeps as many as it had streams in flight at once. Spawning one
// per stream cost about 1 000 instructions more per request (co_spawn's frames, dispatches and
// work guards).
struct Forwarder {
  explicit Forwarder(const net::any_io_executor& executor) : wake(executor) {}
  std::shared_ptr<Http2Stream> next;  // handed over by start() when it wakes the forwarder
  net::steady_timer wake;
};

// A connection's streams whose client side is open, by id: at most max_concurrent_streams (100),
// usually a few, so a scan beats a hash map's lookups and nodes.
using OpenStreams = std::vector<std::pair<std::int32_t, std::shared_ptr<Http2Stream>>>;

// What guards a stream's HTTP/1.1 upstream leg (proxy/http1/upstream_leg.h): the stream's
// deadline, whose expiry, like the client's reset, cancels the leg's operations.
struct StreamGuard {
  Http2Stream& stream;
  DeadlineWheel& wheel;

  void arm(Clock::time_point deadline) noexcept { stream.arm(wheel, deadline); }
  error_code timed(const error_code& ec) const noexcept { return stream.timed(ec); }
  void watch(UpstreamStream* connection) noexcept { stream.upstream = connection; }
  bool abandoned() const noexcept { return stream.client_gone; }
};
using Http1Leg = Http1UpstreamLeg<StreamGuard>;

// A relay chunk for a body read through Beast's parser, taken from a connection's free list and
// given back when the relay ends: a busy connection allocates none per response.
class RelayChunk {
 public:
  static constexpr std::size_t kMaxSpare = 4;  // the free list's room, reserved up front

  explicit RelayChunk(std::vector<std::unique_ptr<char[]>>& spares) : spares_(spares) {
    if (spares_.empty()) {
      chunk_ = std::make_unique_for_overwrite<char[]>(kRelayChunk);  // not zeroed: written first
    } else {
      chunk_ = std::move(spares_.back());
      spares_.pop_back();
    }
  }
  ~RelayChunk() {
    if (spares_.size() < kMaxSpare) spares_.push_back(std::move(chunk_));
  }
  RelayChunk(const RelayChunk&) = delete;
  RelayChunk& operator=(const RelayChunk&) = delete;

  char* get() const noexcept { return chunk_.get(); }

 private:
  std::vector<std::unique_ptr<char[]>>& spares_;
  std::unique_ptr<char[]> chunk_;
};

http2::ServerLimits limits_of(const Config& config) {
  http2::ServerLimits limits;
  limits.max_header_bytes = static_cast<std::size_t>(config.limits.max_header_bytes);
  return limits;
}

template <typename Client>
class Http2Front final : public http2::ServerEvents {
 public:
  explicit Http2Front(Connection<Client>& connection)
      : connection_(connection),
        worker_(connection.worker),
        client_(connection.client),
        executor_(client_.get_executor()),
        limits_(limits_of(worker_.config_of(worker_.snapshots.get()))),
        codec_(*this, limits_),
        writer_wake_(executor_),
        done_wake_(executor_) {
    spare_chunks_.reserve(RelayChunk::kMaxSpare);
  }
  Http2Front(const Http2Front&) = delete;
  Http2Front& operator=(const Http2Front&) = delete;
  ~Http2Front() = default;

  net::awaitable<void> run(std::string_view received) {
    writing_ = true;
    net::co_spawn(executor_, write_loop(), [this](std::exception_ptr failure) {
      log_coroutine_failure(worker_.log, failure);
      writing_ = false;
      done_wake_.cancel();
    });
    const bool open = codec_.receive(received);
    wake_writer();
    if (open) co_await read_loop();
    abandon_waiting();
    // The reading ended: the writer sends what is left (a GOAWAY), then the streams end. A client
    // that no longer reads holds the connection no longer than client_idle.
    ending_ = true;
    connection_.handle.arm(
        worker_.deadlines,
        Clock::now() + worker_.config_of(worker_.snapshots.get()).timeouts.client_idle);
    wake_writer();
    while (writing_) co_await wait_done();
    error_code ignored;
    lowest_layer(client_).close(ignored);
    for (auto& [id, stream] : streams_) {
      stream->client_gone = true;
      stream->cancel_io();
    }
    streams_.clear();
    for (Forwarder* idle : idle_forwarders_) idle->wake.cancel();  // with no stream: it ends
    idle_forwarders_.clear();
    while (forwarders_ > 0) co_await wait_done();
    worker_.http2_connection_ended(Http2Side::client, codec_.ending());
  }

 private:
  // --- the connection: one reader, one writer -------------------------------------------------

  net::awaitable<void> read_loop() {
    std::string buffer(kReadChunk, '\0');
    ConnectionHandle& handle = connection_.handle;
    unsigned reads_first = 0;
    bool read_was_full = false;  // the socket may hold more: a short read took all there was
    while (codec_.wants_read()) {
      if (!starting_.empty() && start_waiting(reads_first, read_was_full) == Turn::yield) {
        co_await net::post(executor_, net::deferred);
        continue;
      }
      arm_idle();
      // Idle (no stream in flight): the end of the drain's grace cancels the read
      // (close_if_idle), and nothing else is under way on the socket.
      handle.set_idle(in_flight() == 0);
      auto [ec, n] = co_await client_.async_read_some(net::buffer(buffer), as_values);
      handle.set_idle(false);
      if (ec == net::error::operation_aborted && !handle.expired() && worker_.closing_idle &&
          !draining_) {
        go_away_if_draining();
        continue;
      }
      if (ec) {
        if (handle.expired()) codec_.shutdown();  // idle for client_idle: a clean GOAWAY
        co_return;
      }
      read_was_full = n == buffer.size();
      const bool open = codec_.receive({buffer.data(), n});
      go_away_if_draining();
      wake_writer();
      if (!open) co_return;
    }
  }

  enum class Turn { read, yield };

  // Streams wait to start (start_some): bytes the client sent meanwhile are read first, a few
  // reads at most, as they may reset them (Rapid Reset); then some start. With more to start and
  // nothing to read, the other connections have their turn first. (After a short read, the usual
  // case, no system call asks whether more came.) While streams wait, no read may wait for the
  // client: over TLS, bytes read ahead can be part of a record it never finishes.
  Turn start_waiting(unsigned& reads_first, bool read_was_full) {
    const bool may_hold_more = read_was_full || has_buffered_input(client_);
    if (reads_first < kReadsBeforeStart && may_hold_more && read_returns_at_once(client_)) {
      ++reads_first;
      return Turn::read;
    }
    reads_first = 0;
    start_some();
    return starting_.empty() || read_returns_at_once(client_) ? Turn::read : Turn::yield;
  }

  net::awaitable<void> write_loop() {
    std::string out;
    for (;;) {
      out.clear();
      if (codec_.take_output(out)) {
        auto [ec, n] = co_await net::async_write(client_, net::buffer(out), as_values);
        if (ec) break;
        wake_streams_awaiting_room();
        continue;
      }
      if (ending_ || (!codec_.wants_read() && !codec_.wants_write())) break;
      writer_wake_.expires_at(net::steady_timer::time_point::max());
      co_await writer_wake_.async_wait(as_values);
    }
    // The reader may be waiting for bytes that will not matter any more.
    error_code ignored;
    lowest_layer(client_).cancel(ignored);
  }

  void wake_writer() noexcept { writer_wake_.cancel(); }

  // A draining worker takes no new streams: GOAWAY, and the streams in flight finish (a busy
  // connection finds out at its next read or the end of a stream; an idle one when the drain's
  // grace cancels its read).
  void go_away_if_draining() {
    if (!worker_.draining || draining_) return;
    draining_ = true;
    codec_.shutdown();
    wake_writer();
  }

  void wake_streams_awaiting_room() noexcept {
    for (auto& [id, stream] : streams_) {
      if (stream->awaiting_room) stream->notify();
    }
  }

  net::awaitable<void> wait_done() {
    done_wake_.expires_at(net::steady_timer::time_point::max());
    co_await done_wake_.async_wait(as_values);
  }

  // A connection with no stream in flight closes after client_idle; one with streams has their
  // deadlines instead.
  void arm_idle() noexcept {
    const Config& config = worker_.config_of(worker_.snapshots.get());
    if (in_flight() == 0) {
      connection_.handle.arm(worker_.deadlines, Clock::now() + config.timeouts.client_idle);
    } else {
      connection_.handle.disarm();
    }
  }

  // --- the codec's events ---------------------------------------------------------------------

  // A reset stream keeps counting against the cap until its forwarder ended (Rapid Reset: a
  // client cannot have more upstream work in flight than streams it may open). The stream starts
  // once the read that brought it has been taken whole (start_some).
  void on_request(std::int32_t id, http2::RequestHead head) override {
    if (in_flight() >= limits_.max_concurrent_streams) {
      codec_.reset(id, kRefusedStream);
      return;
    }
    auto stream = std::make_shared<Http2Stream>(id, std::move(head), executor_);
    streams_.emplace_back(id, stream);
    starting_.push_back(std::move(stream));
    connection_.handle.disarm();
  }

  std::size_t in_flight() const noexcept { return forwarding_ + starting_.size(); }

  // Starts the streams waiting, at most kStartsPerTurn, in the order they came. (One the client
  // reset meanwhile has left the queue: settle_if_unstarted.)
  void start_some() {
    const auto first = starting_.begin();
    const auto last =
        first + static_cast<std::ptrdiff_t>(std::min(starting_.size(), kStartsPerTurn));
    for (auto it = first; it != last; ++it) start(std::move(*it));
    starting_.erase(first, last);
  }

  // The reading ended (the client left, or the codec ended the connection, as it does for a
  // reset flood): streams not started go nowhere, as no answer could reach their client.
  void abandon_waiting() {
    for (const auto& stream : starting_) {
      stream->client_gone = true;
      settle_unstarted(*stream);
    }
    starting_.clear();
  }

  // A stream goes to an idle forwarder, or to a new one when all are busy.
  void start(std::shared_ptr<Http2Stream> stream) {
    ++forwarding_;
    if (!idle_forwarders_.empty()) {
      Forwarder& idle = *idle_forwarders_.back();
      idle_forwarders_.pop_back();
      idle.next = std::move(stream);
      idle.wake.cancel();
      return;
    }
    ++forwarders_;
    net::co_spawn(executor_, forward_streams(std::move(stream)),
                  [this](std::exception_ptr failure) {
                    log_coroutine_failure(worker_.log, failure);
                    --forwarders_;
                    done_wake_.cancel();
                  });
  }

  // A forwarder: forwards streams one after another, waiting between them for the next one that
  // start() hands it, until the connection ends.
  net::awaitable<void> forward_streams(std::shared_ptr<Http2Stream> stream) {
    Forwarder self(executor_);
    while (stream) {
      try {
        co_await forward(std::move(stream));
      } catch (...) {  // a bug: logged, and the connection goes on
        log_coroutine_failure(worker_.log, std::current_exception());
      }
      stream_forwarded();
      if (ending_ || idle_forwarders_.size() == kMaxIdleForwarders) break;
      idle_forwarders_.push_back(&self);
      self.wake.expires_at(net::steady_timer::time_point::max());
      co_await self.wake.async_wait(as_values);
      stream = std::move(self.next);  // none when the connection ends
    }
  }

  void stream_forwarded() {
    --forwarding_;
    if (!ending_) go_away_if_draining();
    if (in_flight() == 0 && !ending_) arm_idle();
    done_wake_.cancel();
  }

  // Routed for its color only: its client left before it started (499, counted as abandoned and
  // never judged), even where the proxy would have answered itself (no healthy endpoint: no 503
  // for the color). A refused head stays refused, counted against no color.
  void settle_unstarted(Http2Stream& stream) {
    const SnapshotLease snapshot = worker_.snapshots.hold();
    route(stream, *snapshot, worker_.config_of(*snapshot));
    if (stream.exchange.route != Route::refused) stream.exchange.status = kClientClosedRequest;
    finish(stream, *snapshot);
  }

  void on_data(std::int32_t id, std::string_view bytes) override {
    if (Http2Stream* stream = find(id)) {
      stream->body.append(bytes);
      stream->notify();
    }
  }

  // Trailers of a request go to an HTTP/2 upstream only (an HTTP/1.1 one gets none, as from an
  // HTTP/1 client).
  void on_request_end(std::int32_t id, std::vector<http2::Field> trailers) override {
    if (Http2Stream* stream = find(id)) {
      stream->trailers = std::move(trailers);
      stream->request_ended = true;
      stream->notify();
    }
  }

  void on_stream_close(std::int32_t id, std::uint32_t) override {
    const auto it = open_stream(id);
    if (it == streams_.end()) return;
    // Out of streams_ first (the order means nothing), then told: nothing below holds an iterator.
    const std::shared_ptr<Http2Stream> stream = std::move(it->second);
    *it = std::move(streams_.back());
    streams_.pop_back();
    stream->client_gone = true;  // a forwarder still at work stops
    stream->cancel_io();
    settle_if_unstarted(*stream);
  }

  // A stream reset before its start is recorded at once, and counts against the cap no more.
  void settle_if_unstarted(Http2Stream& stream) {
    const auto waiting = std::find_if(starting_.rbegin(), starting_.rend(),
                                      [&](const auto& s) { return s.get() == &stream; });
    if (waiting == starting_.rend()) return;
    settle_unstarted(stream);
    starting_.erase(std::next(waiting).base());
  }

  Http2Stream* find(std::int32_t id) noexcept {
    const auto it = open_stream(id);
    return it == streams_.end() ? nullptr : it->second.get();
  }
  OpenStreams::iterator open_stream(std::int32_t id) noexcept {
    return std::find_if(streams_.begin(), streams_.end(),
                        [id](const auto& open) { return open.first == id; });
  }

  // --- one stream -----------------------------------------------------------------------------

  net::awaitable<void> forward(std::shared_ptr<Http2Stream> owned) {
    Http2Stream& stream = *owned;
    const SnapshotLease snapshot = worker_.snapshots.hold();
    const Config& config = worker_.config_of(*snapshot);
    if (route(stream, *snapshot, config)) {
      answer_expect_continue(stream);
      // Most requests end with their head: no hold, and no coroutine frame for one.
      if (!stream.request_ended) co_await hold_request_body(stream, config);
      if (ready_for_upstream(stream)) co_await proxy_either(stream, *snapshot);
    }
    finish(stream, *snapshot);
  }

  // Fills the exchange from the request head and picks its color and endpoint; false when the
  // proxy answers the stream itself (a refused head, CONNECT, no endpoint).
  bool route(Http2Stream& stream, const RoutingSnapshot& snapshot, const Config& config) {
    Exchange& ex = stream.exchange;
    ex.version = 20;
    ex.method = stream.head.method;
    ex.target = stream.head.path;
    ex.authority = stream.head.authority;
    ex.headers = HeaderView(stream.head.fields);
    const auto content_type = ex.headers.first("content-type");
    stream.grpc = content_type && content_type->starts_with("application/grpc");
    if (stream.head.refusal) {
      respond_own(stream, *stream.head.refusal);
      return false;
    }
    if (stream.head.method == "CONNECT") {
      respond_own(stream, static_cast<unsigned>(http::status::not_implemented));
      return false;
    }
    const RouteChoice choice = choose_color(ex.headers, snapshot, config.routing, worker_.random);
    ex.color = choice.color;
    ex.route = choice.route;
    ex.endpoint = worker_.endpoints.next_healthy(snapshot, ex.color);
    if (ex.endpoint == nullptr) {
      ex.outcome = Outcome::no_endpoint;
      respond_own(stream, static_cast<unsigned>(http::status::service_unavailable));
      return false;
    }
    return true;
  }

  void finish(Http2Stream& stream, const RoutingSnapshot& snapshot) {
    Exchange& ex = stream.exchange;
    stream.disarm();
    if (ex.finished_at == Clock::time_point{}) {  // the response did not end
      if (stream.response_started && stream.client_gone) note_client_gone(ex);
      ex.finished_at = Clock::now();
    }
    forget_call(stream);
    worker_.record(ex, connection_.client_ip, snapshot);
  }

  // To the upstream in its protocol.
  net::awaitable<void> proxy_either(Http2Stream& stream, const RoutingSnapshot& snapshot) {
    return stream.exchange.endpoint->http2 ? proxy_http2(stream, snapshot)
                                           : proxy(stream, snapshot);
  }

  // After what comes before the request goes upstream, whatever the upstream's protocol (in
  // forward(): 100-continue answered, the body held a moment): false when the client reset the
  // stream meanwhile (a Rapid Reset's stream, a body nghttp2 found at odds with its
  // content-length), and nothing is sent.
  static bool ready_for_upstream(Http2Stream& stream) {
    if (stream.client_gone) {
      stream.exchange.status = kClientClosedRequest;
      return false;
    }
    stream.exchange.upstream_at = Clock::now();
    return true;
  }

  // Sends the request to ex.endpoint over HTTP/1.1 and relays the response; a reused connection
  // that turns out dead is replaced by a fresh one once, as the retry policy allows.
  net::awaitable<void> proxy(Http2Stream& stream, const RoutingSnapshot& snapshot) {
    const Config& config = worker_.config_of(snapshot);
    Exchange& ex = stream.exchange;
    StreamGuard guard{stream, worker_.deadlines};
    Http1Leg leg(executor_, worker_.buffers, guard);
    for (;; ++ex.attempt) {
      const bool may_reuse = ex.attempt == 0;  // a retry goes on a fresh connection
      const bool safe = retry_safe(stream);
      // The usual case, a pooled connection, needs no coroutine frame of its own.
      const bool pooled = may_reuse && leg.take_pooled(worker_, *ex.endpoint, safe);
      if (!pooled && !co_await leg.open(worker_, snapshot, config.timeouts.upstream_connect, ex,
                                        may_reuse, safe)) {
        break;
      }
      Step step = co_await send_request(stream, config, leg);
      if (step == Step::done) {
        const error_code head_ec = co_await leg.read_response_head(
            method_of(stream), false, config.timeouts.upstream_response);
        if (head_ec) step = upstream_failed(stream, head_ec, leg_facts(stream, leg, true));
      }
      if (step == Step::retry) continue;
      if (step == Step::done && leg.simple()) {
        co_await relay_simple_response(stream, config, leg);
      } else if (step == Step::done) {
        co_await relay_response(stream, config, leg);
      }
      break;
    }
    // A client that reset the stream as the head came gets no answer (499, not the head's status).
    if (!stream.response_started) {
      respond_own(stream, stream.client_gone ? kClientClosedRequest : ex.status);
    }
  }

  // --- to an HTTP/2 upstream -------------------------------------------------------------------

  // Sends the request on a stream of an HTTP/2 upstream connection and relays the response. Both
  // directions go on at once (a gRPC stream may answer before its request ends); a refused
  // stream is sent again, a failed connect once more to the color's next healthy endpoint.
  net::awaitable<void> proxy_http2(Http2Stream& stream, const RoutingSnapshot& snapshot) {
    const Config& config = worker_.config_of(snapshot);
    Exchange& ex = stream.exchange;
    UpstreamRequestOptions options;
    options.client_ip = connection_.client_ip;
    options.scheme = scheme_of(static_cast<const Client*>(nullptr));
    std::vector<http2::Field> fields;
    http2_upstream_fields(stream.head.fields, options, fields);
    bool endpoint_switched = false;
    for (;; ++ex.attempt) {
      const Step step = co_await call_http2(stream, config, fields);
      const bool connect_failed = stream.call->connect_failed;  // nothing was sent
      forget_call(stream);
      if (step == Step::done) break;
      if (step == Step::retry) continue;
      // A failed connect sent nothing: the color's next healthy endpoint gets one more try.
      const Endpoint* next = worker_.endpoints.next_healthy(snapshot, ex.color);
      if (!connect_failed || endpoint_switched || next == nullptr || next == ex.endpoint) {
        break;
      }
      ex.endpoint = next;
      endpoint_switched = true;
    }
    if (!stream.response_started) respond_own(stream, ex.status);
  }

  // One attempt: opens the stream, then moves request bytes up and response bytes down as each
  // side has room, until the response ended (done), failed, or may be sent again (retry).
  net::awaitable<Step> call_http2(Http2Stream& stream, const Config& config,
                                  std::span<const http2::Field> fields) {
    Exchange& ex = stream.exchange;
    stream.http2_upstream = worker_.http2_upstreams.connection_for(worker_, *ex.endpoint, config);
    Http2Upstream& upstream = *stream.http2_upstream;
    UpstreamCall& call = stream.call.emplace(stream.wake);
    stream.upstream_reused = upstream.carried_streams();
    // A request held whole is sent from its copy, which stays for a retry.
    const bool whole = stream.request_ended && !stream.body_taken;
    const bool no_body = whole && stream.body.empty() && stream.trailers.empty();
    const std::string_view scheme = ex.endpoint->tls ? "https" : "http";
    if (!upstream.open(call, stream.head.method, scheme, stream.head.authority, stream.head.path,
                       fields, no_body)) {
      // The pool gave a connection that may open a stream: nghttp2 refused it all the same.
      worker_.upstream_failed(ex, UpstreamError::reset);
      ex.status = static_cast<unsigned>(http::status::bad_gateway);
      co_return Step::failed;
    }
    bool request_done = no_body;
    if (whole && !no_body) {
      upstream.send(call, stream.body);
      upstream.finish(call, stream.trailers);
      request_done = true;
      give_back_held_body(stream);
    }
    stream.arm(worker_.deadlines, Clock::now() + config.timeouts.upstream_response);
    for (;;) {
      if (stream.client_gone) {
        if (!stream.response_started) ex.status = kClientClosedRequest;  // else: what it got
        co_return Step::failed;
      }
      bool progress = false;
      if (!request_done) request_done = pass_request_body(stream, upstream, call, progress);
      if (!stream.response_started && call.head) {
        start_http2_response(stream, *call.head);
        progress = true;
      }
      if (stream.response_started)
        progress = pass_response_body(stream, upstream, call) || progress;
      if (stream.response_started && call.ended && call.body.empty()) {
        end_http2_response(stream, call);
        co_return Step::done;
      }
      // A stream that closed after its whole response waits only for its bytes to be relayed.
      if (call.over() && !call.ended) co_return http2_call_failed(stream, call);
      if (stream.expired()) co_return http2_call_expired(stream, request_done);
      if (progress) arm_http2_deadline(stream, config, request_done);
      call.awaiting_room = stream.awaiting_room = true;
      stream.wake.expires_at(net::steady_timer::time_point::max());
      co_await stream.wake.async_wait(as_values);
      call.awaiting_room = stream.awaiting_room = false;
    }
  }

  // The client's window for a held body, once it went upstream the first time (the copy stays
  // for a retry): other streams of the connection need the connection's window meanwhile.
  void give_back_held_body(Http2Stream& stream) {
    if (stream.held_body_consumed) return;
    stream.held_body_consumed = true;
    codec_.consume(stream.id, stream.body.size());
    wake_writer();
  }

  // Request body bytes go up while the upstream's queue has room; the client's window is given
  // back as they leave. true once the request ended (its trailers sent).
  bool pass_request_body(Http2Stream& stream, Http2Upstream& upstream, UpstreamCall& call,
                         bool& progress) {
    if (!stream.body.empty() && upstream.queued(call) <= kMaxQueued) {
      const std::size_t taken = stream.body.size();
      upstream.send(call, stream.body);
      stream.body.clear();
      stream.body_taken = true;
      codec_.consume(stream.id, taken);
      wake_writer();
      progress = true;
    }
    if (!stream.request_ended || !stream.body.empty()) return false;
    upstream.finish(call, stream.trailers);
    progress = true;
    return true;
  }

  void start_http2_response(Http2Stream& stream, http2::ResponseHead& head) {
    Exchange& ex = stream.exchange;
    ex.status = head.status;
    ex.response_head_at = Clock::now();
    if (head.end_stream) note_grpc_status(stream, head.status, head.fields);
    append_via(head.fields);
    codec_.submit_response(stream.id, head.status, head.fields, head.end_stream);
    stream.response_started = true;
    wake_writer();
  }

  // Response body bytes go down while the client's queue has room; the upstream's window is
  // given back as they do.
  bool pass_response_body(Http2Stream& stream, Http2Upstream& upstream, UpstreamCall& call) {
    if (call.body.empty() || codec_.queued(stream.id) > kMaxQueued) return false;
    const std::size_t relayed = call.body.size();
    codec_.submit_data(stream.id, call.body);
    stream.exchange.bytes_sent += relayed;
    call.body.clear();
    upstream.consume(call, relayed);
    wake_writer();
    return true;
  }

  void end_http2_response(Http2Stream& stream, const UpstreamCall& call) {
    const http2::ResponseHead& head = *call.head;
    if (!head.end_stream) {
      codec_.submit_end(stream.id, call.trailers);
      note_grpc_status(stream, head.status,
                       call.trailers.empty() ? std::span(head.fields) : std::span(call.trailers));
      wake_writer();
    }
    stream.exchange.finished_at = Clock::now();
  }

  // The call ended without a whole response: a connect that failed, a stream reset or refused, a
  // connection lost.
  Step http2_call_failed(Http2Stream& stream, const UpstreamCall& call) {
    Exchange& ex = stream.exchange;
    const error_code ec = call.failure ? call.failure : error_code(net::error::connection_reset);
    if (call.connect_failed) {
      worker_.upstream_connect_failed(ex, ec);
      ex.status = static_cast<unsigned>(ec == net::error::timed_out ? http::status::gateway_timeout
                                                                    : http::status::bad_gateway);
      return Step::failed;
    }
    if (stream.response_started) {
      body_failed(stream, ec);
      return Step::failed;
    }
    RetryFacts facts = attempt_facts(stream, stream.upstream_reused, true);
    facts.refused = call.refused();
    facts.failure = UpstreamFailure::closed;
    if (may_retry_upstream(facts)) return Step::retry;
    worker_.log.debug("upstream {} failed a stream: {}", ex.endpoint->label,
                      call.closed ? fmt::format("reset with code {}", *call.closed) : ec.message());
    worker_.upstream_failed(ex, UpstreamError::reset);
    ex.status = static_cast<unsigned>(http::status::bad_gateway);
    return Step::failed;
  }

  // The stream's deadline passed: the upstream was too slow (504, or the stream reset once the
  // response started), or the client stopped sending its body (408) or reading (reset).
  Step http2_call_expired(Http2Stream& stream, bool request_done) {
    Exchange& ex = stream.exchange;
    if (codec_.queued(stream.id) > kMaxQueued) {
      codec_.reset(stream.id, kCancel);  // the client stopped reading
      note_client_gone(ex);
      wake_writer();
    } else if (stream.response_started) {
      body_failed(stream, net::error::timed_out);
    } else if (!request_done) {
      ex.status = static_cast<unsigned>(http::status::request_timeout);
    } else {
      worker_.upstream_failed(ex, UpstreamError::timeout);
      ex.status = static_cast<unsigned>(http::status::gateway_timeout);
    }
    return Step::failed;
  }

  // Each step of progress gives the exchange more time: upstream_response while the upstream is
  // awaited, client_idle while the client is (its body, or room to take the response).
  void arm_http2_deadline(Http2Stream& stream, const Config& config, bool request_done) {
    const auto& timeouts = config.timeouts;
    Duration wait = timeouts.upstream_response;
    if (!request_done) wait = std::max(wait, timeouts.client_idle);
    if (codec_.queued(stream.id) > kMaxQueued) wait = timeouts.client_idle;
    stream.arm(worker_.deadlines, Clock::now() + wait);
  }

  static void append_via(std::vector<http2::Field>& fields) {
    for (auto& field : fields) {
      if (field.name == "via") {
        field.value += ", 2.0 bgproxy";
        return;
      }
    }
    fields.push_back({"via", "2.0 bgproxy"});
  }

  static void forget_call(Http2Stream& stream) noexcept {
    if (!stream.call) return;
    stream.http2_upstream->forget(*stream.call);
    stream.call.reset();
    stream.http2_upstream.reset();
  }

  // --- to an HTTP/1.1 upstream ------------------------------------------------------------------

  // The proxy answers `Expect: 100-continue` itself, as for HTTP/1: the upstream gets none.
  void answer_expect_continue(Http2Stream& stream) {
    if (stream.request_ended) return;
    const auto expect = HeaderView(stream.head.fields).first("expect");
    if (expect && http1::iequals(http1::trim(*expect), "100-continue")) {
      codec_.submit_response(stream.id, 100, {}, false);
      wake_writer();
    }
  }

  // Waits a moment for the request's end, as the HTTP/1 session holds a body: a request that ends
  // meanwhile (an empty DATA frame with END_STREAM after the head is common) goes upstream with
  // its Content-Length, not chunked, and may be sent again if its connection turns out dead.
  net::awaitable<void> hold_request_body(Http2Stream& stream, const Config& config) {
    stream.arm(worker_.deadlines, Clock::now() + std::min(kHoldWait, config.timeouts.client_idle));
    while (!stream.request_ended && stream.body.size() < kHoldBytes && !stream.client_gone &&
           !stream.expired()) {
      stream.wake.expires_at(net::steady_timer::time_point::max());
      co_await stream.wake.async_wait(as_values);
    }
    stream.disarm();
  }

  // The head, then the body as it arrives: the window the client may fill is given back only
  // when its bytes were written upstream. A body of unknown length goes chunked.
  net::awaitable<Step> send_request(Http2Stream& stream, const Config& config, Http1Leg& leg) {
    const BodyFraming framing = request_framing(stream);
    UpstreamRequestOptions options;
    options.client_ip = connection_.client_ip;
    options.framing = framing;
    options.scheme = scheme_of(static_cast<const Client*>(nullptr));
    std::string out;
    out.reserve(kHeadReserve);
    write_upstream_request_head(Http2RequestHead{stream.head.method, stream.head.path,
                                                 stream.head.authority, stream.head.fields},
                                options, out);
    bool written = false;  // the head went out whole
    for (;;) {
      const std::size_t taken = stream.body.size();
      append_body(out, stream.body, framing);
      stream.body.clear();
      stream.body_taken = stream.body_taken || taken > 0;
      const bool last = stream.request_ended;
      if (last && framing.kind == BodyFraming::Kind::chunked) out += "0\r\n\r\n";
      // A reset may come while no upstream operation is pending to cancel: checked before each.
      if (stream.client_gone)
        co_return upstream_failed(stream, net::error::operation_aborted,
                                  leg_facts(stream, leg, written));
      stream.arm(worker_.deadlines, Clock::now() + config.timeouts.upstream_response);
      auto [write_ec, n] = co_await net::async_write(leg.connection(), net::buffer(out), as_values);
      if (write_ec) {
        co_return upstream_failed(stream, stream.timed(write_ec), leg_facts(stream, leg, written));
      }
      written = true;
      if (taken > 0) {
        codec_.consume(stream.id, taken);
        wake_writer();
      }
      if (last) co_return Step::done;
      out.clear();
      if (!co_await wait_for_body(stream, config)) co_return Step::failed;
    }
  }

  static BodyFraming request_framing(const Http2Stream& stream) noexcept {
    if (stream.head.content_length) {
      return {BodyFraming::Kind::length, *stream.head.content_length};
    }
    if (stream.request_ended) {
      if (stream.body.empty()) return {};
      return {BodyFraming::Kind::length, stream.body.size()};
    }
    return {BodyFraming::Kind::chunked, 0};
  }

  static void append_body(std::string& out, std::string_view body, const BodyFraming& framing) {
    if (body.empty()) return;
    if (framing.kind == BodyFraming::Kind::chunked) {
      out += fmt::format("{:x}\r\n", body.size());
      out += body;
      out += "\r\n";
    } else {
      out += body;
    }
  }

  // Waits up to client_idle for more of the request body; false (with ex.status) when the client
  // left or stayed silent.
  net::awaitable<bool> wait_for_body(Http2Stream& stream, const Config& config) {
    stream.arm(worker_.deadlines, Clock::now() + config.timeouts.client_idle);
    while (stream.body.empty() && !stream.request_ended) {
      if (stream.client_gone || stream.expired()) break;
      stream.wake.expires_at(net::steady_timer::time_point::max());
      co_await stream.wake.async_wait(as_values);
    }
    if (!stream.body.empty() || stream.request_ended) co_return true;
    stream.exchange.status = stream.client_gone
                                 ? kClientClosedRequest
                                 : static_cast<unsigned>(http::status::request_timeout);
    co_return false;
  }

  // The fast path: a simple response (relay_head.h), its body delimited by Content-Length (or
  // none). Its fields are read from the head in the buffer, and its body goes to the codec from
  // the buffer as it arrives, at the client's pace.
  net::awaitable<void> relay_simple_response(Http2Stream& stream, const Config& config,
                                             Http1Leg& leg) {
    Exchange& ex = stream.exchange;
    const SimpleResponse& simple = *leg.simple();
    IoBuffer& buffer = leg.buffer();
    ex.status = simple.status;
    ex.response_head_at = Clock::now();
    if (stream.client_gone) co_return;
    std::uint64_t remaining =
        response_has_no_body(method_of(stream), ex.status) ? 0 : simple.content_length.value_or(0);
    // The connection's own field list and scratch: filled and given to the codec (which copies
    // them) with no suspension between, so the streams can share them.
    simple_fields_.clear();
    response_fields_for_http2(readable(buffer).substr(0, leg.head_size()), simple, simple_fields_,
                              simple_scratch_);
    const bool body = remaining > 0;
    codec_.submit_response_views(stream.id, ex.status, simple_fields_, !body);
    // Read now: the body's reads reuse the buffer, and other streams the fields.
    const std::optional<std::uint8_t> grpc_status =
        grpc_status_in(stream, ex.status, simple_fields_);
    buffer.consume(leg.head_size());
    stream.response_started = true;
    wake_writer();
    while (remaining > 0) {
      const std::size_t taken =
          static_cast<std::size_t>(std::min<std::uint64_t>(remaining, buffer.size()));
      if (taken > 0) {
        if (stream.client_gone) co_return;
        codec_.submit_data(stream.id, readable(buffer).substr(0, taken));
        ex.bytes_sent += taken;
        wake_writer();
        buffer.consume(taken);
        remaining -= taken;
        if (remaining == 0) break;
        if (!co_await wait_for_room(stream, config)) co_return;
      }
      stream.arm(worker_.deadlines, Clock::now() + config.timeouts.upstream_response);
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, kRelayChunk));
      auto [read_ec, n] =
          co_await leg.connection().async_read_some(buffer.prepare(want), as_values);
      if (read_ec) {
        body_failed(stream, stream.timed(read_ec));
        co_return;
      }
      buffer.commit(n);
    }
    if (body) {
      codec_.submit_end(stream.id, {});
      wake_writer();
    }
    ex.finished_at = Clock::now();
    ex.grpc_status = grpc_status;  // a length-delimited body has no trailers
    leg.finish(worker_, *ex.endpoint, simple.keep_alive, false);
  }

  // The response head, then its body at the client's pace: the upstream is read no faster than
  // the client takes the stream's bytes.
  net::awaitable<void> relay_response(Http2Stream& stream, const Config& config, Http1Leg& leg) {
    Exchange& ex = stream.exchange;
    ResponseParser& parser = leg.parser();
    IoBuffer& buffer = leg.buffer();
    ex.status = parser.get().result_int();
    ex.response_head_at = Clock::now();
    if (stream.client_gone) co_return;
    std::vector<http2::Field> fields;
    fields.reserve(kFieldsReserve);
    response_fields_for_http2(parser.get(), fields);
    const bool body = !parser.is_done() && !response_has_no_body(method_of(stream), ex.status);
    if (!body) note_grpc_status(stream, parser.get());
    codec_.submit_response(stream.id, ex.status, fields, !body);
    stream.response_started = true;
    wake_writer();
    std::optional<RelayChunk> chunk;
    if (body) chunk.emplace(spare_chunks_);
    // A chunked body's lines are checked as they arrive, starting with what came behind the head.
    ChunkLines lines;
    ChunkCheckedStream<UpstreamStream> upstream(leg.connection(),
                                                parser.chunked() ? &lines : nullptr);
    const auto buffered = buffer.data();
    if (parser.chunked() &&
        !lines.feed({static_cast<const char*>(buffered.data()), buffered.size()})) {
      body_failed(stream, http::error::bad_chunk);
      co_return;
    }
    while (body && !parser.is_done()) {
      parser.get().body().data = chunk->get();
      parser.get().body().size = kRelayChunk;
      stream.arm(worker_.deadlines, Clock::now() + config.timeouts.upstream_response);
      auto [read_ec, n] = co_await http::async_read(upstream, buffer, parser, as_values);
      const std::size_t got = kRelayChunk - parser.get().body().size;
      if (got > 0 && !stream.client_gone) {
        codec_.submit_data(stream.id, {chunk->get(), got});
        ex.bytes_sent += got;
        wake_writer();
      }
      if (read_ec && read_ec != http::error::need_buffer) {
        body_failed(stream, stream.timed(read_ec));
        co_return;
      }
      if (!co_await wait_for_room(stream, config)) co_return;
    }
    if (body) {
      codec_.submit_end(stream.id, {});
      wake_writer();
    }
    ex.finished_at = Clock::now();
    note_grpc_status(stream, parser.get());  // trailers are among the fields once the body ended
    leg.finish(worker_, *ex.endpoint, parser.is_done() && parser.keep_alive(), false);
  }

  // The upstream failed after the response head went to the client: the stream is reset, so the
  // client never takes a cut body for a whole one. The exchange keeps the status it got.
  void body_failed(Http2Stream& stream, const error_code& ec) {
    if (stream.client_gone) return;
    worker_.log.debug("upstream {} failed in a body: {}", stream.exchange.endpoint->label,
                      ec.message());
    worker_.upstream_failed(stream.exchange, ec == net::error::timed_out ? UpstreamError::timeout
                                                                         : UpstreamError::reset);
    codec_.reset(stream.id, kInternalError);
    wake_writer();
  }

  // Waits up to client_idle while more than kMaxQueued response bytes wait for the client.
  net::awaitable<bool> wait_for_room(Http2Stream& stream, const Config& config) {
    stream.arm(worker_.deadlines, Clock::now() + config.timeouts.client_idle);
    stream.awaiting_room = true;
    while (codec_.queued(stream.id) > kMaxQueued && !stream.client_gone && !stream.expired()) {
      stream.wake.expires_at(net::steady_timer::time_point::max());
      co_await stream.wake.async_wait(as_values);
    }
    stream.awaiting_room = false;
    if (stream.client_gone) co_return false;
    if (stream.expired()) {
      codec_.reset(stream.id, kCancel);  // the client stopped reading
      note_client_gone(stream.exchange);
      wake_writer();
      co_return false;
    }
    co_return true;
  }

  static http::verb method_of(const Http2Stream& stream) noexcept {
    return http::string_to_verb(stream.head.method);
  }

  // What may_retry_upstream() asks of a stream's attempt, all but how it failed.
  static RetryFacts attempt_facts(const Http2Stream& stream, bool reused, bool request_written) {
    RetryFacts facts;
    facts.attempt = stream.exchange.attempt;
    facts.reused = reused;
    facts.idempotent = is_idempotent(method_of(stream));
    facts.request_read = stream.request_ended && !stream.body_taken;
    facts.body_streamed = stream.body_taken;
    facts.request_written = request_written;
    facts.response_started = stream.response_started;
    return facts;
  }
  // The same for an attempt on an HTTP/1.1 leg, whose response may have begun unseen.
  static RetryFacts leg_facts(const Http2Stream& stream, const Http1Leg& leg,
                              bool request_written) {
    RetryFacts facts = attempt_facts(stream, leg.reused(), request_written);
    facts.response_started = facts.response_started || leg.response_started();
    return facts;
  }
  // Whether the request would be sent again if a pooled connection turned out closed when its
  // response is awaited: a recently pooled connection is then taken without a look.
  static bool retry_safe(const Http2Stream& stream) {
    RetryFacts facts = attempt_facts(stream, true, true);
    facts.failure = UpstreamFailure::closed;
    return may_retry_upstream(facts);
  }

  // An attempt failed with `ec`: retried on a fresh connection when the retry policy allows it,
  // else counted as the color's upstream error (502, or 504 for a timeout).
  Step upstream_failed(Http2Stream& stream, const error_code& ec, RetryFacts facts) {
    Exchange& ex = stream.exchange;
    if (stream.client_gone) {
      if (!stream.response_started) ex.status = kClientClosedRequest;  // else: what it got
      return Step::failed;
    }
    facts.failure = upstream_failure(ec);
    if (may_retry_upstream(facts)) return Step::retry;
    worker_.upstream_gave_up(ex, ec);
    return Step::failed;
  }

  // The proxy's own answer (an error) with a short text body, unless the client is gone; to a
  // gRPC request, a gRPC status in a trailers-only response (docs/http2.md, "gRPC").
  void respond_own(Http2Stream& stream, unsigned status) {
    Exchange& ex = stream.exchange;
    ex.status = status;
    if (ex.outcome == Outcome::answered) ex.outcome = Outcome::refused;  // else: why it failed
    if (stream.client_gone || status == kClientClosedRequest) return;
    const auto code = static_cast<http::status>(status);
    const std::string text = fmt::format("{} {}", status, http::obsolete_reason(code));
    if (stream.grpc) {
      const std::uint8_t grpc_status = grpc_status_for_http(status);
      const std::array<http2::Field, 3> fields{
          http2::Field{"content-type", "application/grpc"},
          http2::Field{"grpc-status", std::to_string(grpc_status)},
          http2::Field{"grpc-message", "bgproxy: " + text}};
      codec_.submit_response(stream.id, 200, fields, true);
      ex.status = 200;
      ex.grpc_status = grpc_status;
    } else {
      const std::string body = text + "\n";
      const std::array<http2::Field, 2> fields{
          http2::Field{"content-type", "text/plain; charset=utf-8"},
          http2::Field{"content-length", std::to_string(body.size())}};
      codec_.submit_response(stream.id, status, fields, false);
      codec_.submit_data(stream.id, body);
      codec_.submit_end(stream.id, {});
      ex.bytes_sent += body.size();
    }
    stream.response_started = true;
    ex.finished_at = Clock::now();
    wake_writer();
  }

  // A gRPC exchange's status, as its client will read it: grpc-status in the head (a
  // trailers-only response) or the trailers, else derived from the HTTP status.
  static void note_grpc_status(Http2Stream& stream, const http::response_header<>& response) {
    if (!stream.grpc) return;
    const auto it = response.find("grpc-status");
    note_grpc_status(
        stream, response.result_int(),
        it == response.end() ? std::nullopt : std::optional<std::string_view>(it->value()));
  }
  template <typename Fields>  // of http2::Field or HeaderFieldRef
  static void note_grpc_status(Http2Stream& stream, unsigned status, const Fields& fields) {
    stream.exchange.grpc_status = grpc_status_in(stream, status, fields);
  }
  template <typename Fields>
  static std::optional<std::uint8_t> grpc_status_in(const Http2Stream& stream, unsigned status,
                                                    const Fields& fields) {
    if (!stream.grpc) return std::nullopt;
    const auto field = std::find_if(fields.begin(), fields.end(),
                                    [](const auto& f) { return f.name == "grpc-status"; });
    return grpc_status_from(status, field == fields.end()
                                        ? std::nullopt
                                        : std::optional<std::string_view>(field->value));
  }
  static void note_grpc_status(Http2Stream& stream, unsigned status,
                               std::optional<std::string_view> grpc_status) {
    stream.exchange.grpc_status = grpc_status_from(status, grpc_status);
  }
  static std::uint8_t grpc_status_from(unsigned status,
                                       std::optional<std::string_view> grpc_status) {
    if (grpc_status) {
      if (const auto code = grpc_code_from_text(http1::trim(*grpc_status))) return *code;
    }
    return grpc_status_for_http(status);
  }

  Connection<Client>& connection_;
  WorkerContext& worker_;
  Client& client_;
  const net::any_io_executor executor_;  // the client's, copied once
  const http2::ServerLimits limits_;
  http2::ServerSession codec_;
  OpenStreams streams_;
  std::vector<std::shared_ptr<Http2Stream>> starting_;  // streams read, not started yet
  std::size_t forwarding_ = 0;  // streams started whose forwarding has not ended
  std::size_t forwarders_ = 0;  // forwarder coroutines alive, forwarding or idle
  std::vector<Forwarder*> idle_forwarders_;
  std::vector<std::unique_ptr<char[]>> spare_chunks_;  // RelayChunk's free list
  std::vector<HeaderFieldRef> simple_fields_;  // a simple response's fields (relay_simple_response)
  std::string simple_scratch_;                 // and their lower-case names
  net::steady_timer writer_wake_;
  net::steady_timer done_wake_;  // the writer or a forwarder ended
  bool writing_ = false;
  bool ending_ = false;
  bool draining_ = false;
};

}  // namespace

template <typename Client>
net::awaitable<void> serve_http2(Connection<Client>& connection, std::string received) {
  Http2Front<Client> front(connection);
  co_await front.run(received);
}

template net::awaitable<void> serve_http2(Connection<tcp::socket>&, std::string);
template net::awaitable<void> serve_http2(Connection<TlsStream>&, std::string);

}  // namespace bgp
