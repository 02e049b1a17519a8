#include "proxy/http2/upstream.h"

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/write.hpp>

#include "proxy/connection.h"
#include "proxy/upstream_connect.h"
#include "proxy/worker.h"

namespace bgp {

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::uint32_t kCancel = 0x8;

http2::ClientLimits client_limits() {
  http2::ClientLimits limits;
  limits.max_header_bytes = 64 * 1024;  // as for an HTTP/1 upstream's head
  return limits;
}

}  // namespace

Http2Upstream::Http2Upstream(WorkerContext& worker, const Endpoint& endpoint,
                             const TimeoutsConfig& timeouts)
    : worker_(worker),
      endpoint_(endpoint),
      key_(UpstreamKey::of(endpoint)),
      timeouts_(timeouts),
      socket_(tcp::socket(worker.pool_timer.get_executor())),
      codec_(*this, client_limits()),
      writer_wake_(worker.pool_timer.get_executor()),
      watch_(worker.pool_timer.get_executor()) {}

Http2Upstream::~Http2Upstream() = default;

net::awaitable<void> Http2Upstream::run() {
  auto self = shared_from_this();  // the pool may let go of it while it runs
  net::co_spawn(watch_.wake.get_executor(), watch(), [this, self](std::exception_ptr failure) {
    log_coroutine_failure(worker_.log, failure);
  });
  const error_code connect_ec = co_await connect();
  if (connect_ec) {
    over_ = true;
    fail_calls(connect_ec, true);
  } else {
    connected_ = true;
    last_read_ = Clock::now();
    idle_since_ = last_read_;
    worker_.stats.upstream_connection_opened(endpoint_.stats_slot);
    net::co_spawn(
        writer_wake_.get_executor(), write_loop(),
        [this, self](std::exception_ptr failure) { log_coroutine_failure(worker_.log, failure); });
    co_await read_loop();
    over_ = true;
    error_code ignored;
    socket_.socket().close(ignored);
    fail_calls(net::error::connection_reset, false);
    worker_.http2_connection_ended(Http2Side::upstream, codec_.ending());
  }
  watch_.wake.cancel();
  wake_writer();
  worker_.http2_upstreams.remove(*this);
}

// Connect and TLS handshake, bounded by connect_timeout (the watch closes the socket); an h2
// endpoint must agree to HTTP/2 in ALPN.
net::awaitable<error_code> Http2Upstream::connect() {
  error_code ec = co_await connect_upstream(socket_, endpoint_, worker_.log);
  if (ec == net::error::operation_aborted || ec == net::error::bad_descriptor) {
    ec = net::error::timed_out;  // the watch closed the socket
  }
  if (!ec && socket_.is_tls() && socket_.tls().alpn() != "h2") {
    if (const auto refused = worker_.alpn_refusals.hit()) {
      worker_.log.warn(
          "upstream {} did not agree to HTTP/2 in ALPN (got '{}'): {} connect(s) failed",
          endpoint_.label, socket_.tls().alpn(), refused);
    }
    ec = net::error::no_protocol_option;
  }
  co_return ec;
}

net::awaitable<void> Http2Upstream::read_loop() {
  std::string buffer(kReadChunk, '\0');
  while (codec_.wants_read()) {
    auto [ec, n] = co_await socket_.async_read_some(net::buffer(buffer), as_values);
    if (ec) co_return;
    last_read_ = Clock::now();
    const bool open = codec_.receive({buffer.data(), n});
    wake_writer();
    if (!open) co_return;
  }
}

net::awaitable<void> Http2Upstream::write_loop() {
  std::string out;
  for (;;) {
    out.clear();
    if (codec_.take_output(out)) {
      auto [ec, n] = co_await net::async_write(socket_, net::buffer(out), as_values);
      if (ec) break;
      for (auto& [id, call] : calls_) {
        if (call->awaiting_room) call->notify();
      }
      continue;
    }
    if (over_ || (!codec_.wants_read() && !codec_.wants_write())) break;
    writer_wake_.expires_at(net::steady_timer::time_point::max());
    co_await writer_wake_.async_wait(as_values);
  }
  // The reader may wait for bytes that no longer matter.
  error_code ignored;
  socket_.socket().cancel(ignored);
}

// Once a second (and at the connect's deadline), as the worker's wheel times it: a connect that
// takes too long, a connection idle for idle_timeout (closed with GOAWAY), a silent one (PING), a
// PING not answered (dead).
net::awaitable<void> Http2Upstream::watch() {
  const auto connect_deadline = Clock::now() + timeouts_.upstream_connect;
  while (!over_) {
    const auto now = Clock::now();
    if (!connected_) {
      auto next = connect_deadline;
      if (now >= connect_deadline) {
        error_code ignored;
        socket_.socket().close(ignored);  // the connect ends with an error, and run() with it
        next = now + std::chrono::seconds(1);
      }
      watch_.arm(worker_.deadlines, next);
    } else {
      if (calls_.empty() && (worker_.draining || now - idle_since_ >= timeouts_.upstream_idle))
        shutdown();
      if (codec_.ping_outstanding() && now - ping_sent_at_ >= timeouts_.http2_ping_timeout) {
        worker_.log.debug("upstream {} did not answer a PING: closed", endpoint_.label);
        error_code ignored;
        socket_.socket().close(ignored);
      } else if (!codec_.ping_outstanding() && now - last_read_ >= timeouts_.http2_ping_interval) {
        codec_.ping();
        ping_sent_at_ = now;
        wake_writer();
      }
      watch_.arm(worker_.deadlines, now + std::chrono::seconds(1));
    }
    watch_.wake.expires_at(net::steady_timer::time_point::max());
    co_await watch_.wake.async_wait(as_values);
  }
  watch_.disarm();  // leaves the wheel when its slot comes round (or with the connection)
}

bool Http2Upstream::open(UpstreamCall& call, std::string_view method, std::string_view scheme,
                         std::string_view authority, std::string_view path,
                         std::span<const http2::Field> fields, bool end_stream) {
  if (!can_open()) return false;
  const std::int32_t id =
      codec_.submit_request(method, scheme, authority, path, fields, end_stream);
  if (id == 0) return false;
  if (streams_carried_++ > 0 && connected_) {
    worker_.stats.upstream_connection_reused(endpoint_.stats_slot);
  }
  call.stream = id;
  call.finished = end_stream;
  calls_.emplace(id, &call);
  wake_writer();
  return true;
}

void Http2Upstream::send(UpstreamCall& call, std::string_view bytes) {
  if (call.over() || bytes.empty()) return;
  codec_.submit_data(call.stream, bytes);
  wake_writer();
}

void Http2Upstream::finish(UpstreamCall& call, std::span<const http2::Field> trailers) {
  if (call.over()) return;
  call.finished = true;
  codec_.submit_end(call.stream, trailers);
  wake_writer();
}

std::size_t Http2Upstream::queued(const UpstreamCall& call) const noexcept {
  return call.over() ? 0 : codec_.queued(call.stream);
}

void Http2Upstream::consume(UpstreamCall& call, std::size_t bytes) {
  if (call.over() || bytes == 0) return;
  codec_.consume(call.stream, bytes);
  wake_writer();
}

void Http2Upstream::forget(UpstreamCall& call) noexcept {
  const auto it = calls_.find(call.stream);
  if (it == calls_.end() || it->second != &call) return;
  calls_.erase(it);
  note_if_idle();
  // A stream whose exchange is complete both ways closes by itself.
  if (!call.over() && !(call.ended && call.finished)) {
    codec_.reset(call.stream, kCancel);
    wake_writer();
  }
}

void Http2Upstream::shutdown() noexcept {
  if (over_) return;
  codec_.shutdown();
  wake_writer();
}

// A draining worker keeps no idle connection: it would hold the worker's end for upstream_idle.
void Http2Upstream::note_if_idle() noexcept {
  if (!calls_.empty()) return;
  idle_since_ = Clock::now();
  if (worker_.draining) shutdown();
}

void Http2Upstream::abort() noexcept {
  error_code ignored;
  socket_.socket().close(ignored);
}

UpstreamCall* Http2Upstream::find(std::int32_t stream) noexcept {
  const auto it = calls_.find(stream);
  return it == calls_.end() ? nullptr : it->second;
}

void Http2Upstream::on_response(std::int32_t stream, http2::ResponseHead head) {
  if (UpstreamCall* call = find(stream)) {
    call->head = std::move(head);
    call->notify();
  }
}

void Http2Upstream::on_data(std::int32_t stream, std::string_view bytes) {
  if (UpstreamCall* call = find(stream)) {
    call->body.append(bytes);
    call->notify();
  }
}

void Http2Upstream::on_response_end(std::int32_t stream, std::vector<http2::Field> trailers) {
  if (UpstreamCall* call = find(stream)) {
    call->ended = true;
    call->trailers = std::move(trailers);
    call->notify();
  }
}

void Http2Upstream::on_stream_close(std::int32_t stream, std::uint32_t error_code) {
  const auto it = calls_.find(stream);
  if (it == calls_.end()) return;
  UpstreamCall& call = *it->second;
  calls_.erase(it);
  note_if_idle();
  call.closed = error_code;
  call.notify();
}

void Http2Upstream::fail_calls(const error_code& ec, bool connect_failed) noexcept {
  for (auto& [id, call] : calls_) {
    call->failure = ec;
    call->connect_failed = connect_failed;
    call->notify();
  }
  calls_.clear();
}

std::shared_ptr<Http2Upstream> Http2UpstreamPool::connection_for(WorkerContext& worker,
                                                                 const Endpoint& endpoint,
                                                                 const Config& config) {
  Http2Upstream* best = nullptr;
  std::shared_ptr<Http2Upstream> found;
  for (const auto& connection : connections_) {
    if (!connection->serves(endpoint) || !connection->can_open()) continue;
    if (best == nullptr || connection->open_streams() < best->open_streams()) {
      best = connection.get();
      found = connection;
    }
  }
  if (found) return found;
  auto connection = std::make_shared<Http2Upstream>(worker, endpoint, config.timeouts);
  connections_.push_back(connection);
  net::co_spawn(
      worker.pool_timer.get_executor(), connection->run(),
      [&worker](std::exception_ptr failure) { log_coroutine_failure(worker.log, failure); });
  return connection;
}

void Http2UpstreamPool::remove(const Http2Upstream& connection) noexcept {
  std::erase_if(connections_, [&](const auto& kept) { return kept.get() == &connection; });
}

void Http2UpstreamPool::shutdown_all() noexcept {
  for (const auto& connection : connections_) connection->shutdown();
}

void Http2UpstreamPool::abort_all() noexcept {
  for (const auto& connection : connections_) connection->abort();
}

}  // namespace bgp
