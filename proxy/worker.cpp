#include "proxy/worker.h"

#include <cerrno>
#include <chrono>
#include <new>

namespace bgp {

void ConnectionHandle::close_if_idle() noexcept {
  boost::system::error_code ignored;
  if (idle_) client_.cancel(ignored);
}

void ConnectionHandle::abort() noexcept {
  boost::system::error_code ignored;
  client_.close(ignored);
  if (upstream_) upstream_->socket().close(ignored);
}

void ConnectionHandle::on_expired() noexcept {
  boost::system::error_code ignored;
  client_.cancel(ignored);
  if (upstream_) upstream_->socket().cancel(ignored);
}

// Idle keep-alive connections are not closed at once: a busy client's next request is usually on
// its way, and closing the connection as it arrives would lose it (or reset the connection). For
// a moment every request that arrives is served with Connection: close; then the connections still
// idle close cleanly.
void WorkerContext::begin_drain() noexcept {
  draining = true;
  pool_timer.cancel();
  upstreams.clear();
  http2_upstreams.shutdown_all();
  stats.set_idle_upstream_connections(0);
  drain_timer.expires_after(drain_idle_grace());
  drain_timer.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) close_idle_connections();
  });
}

Duration WorkerContext::drain_idle_grace() noexcept {
  return std::min<Duration>(kDrainIdleGrace, config_of(snapshots.get()).timeouts.drain / 2);
}

void WorkerContext::close_idle_connections() noexcept {
  closing_idle = true;
  for (auto& connection : connections) connection.close_if_idle();
}

void WorkerContext::abort_connections() noexcept {
  for (auto& connection : connections) connection.abort();
  http2_upstreams.abort_all();
}

// Idle connections expire by this timer, not by the next use of their endpoint: an endpoint that
// gets no more traffic (removed, or just quiet) would hold its descriptors for ever otherwise.
void WorkerContext::start_pool_sweeps() {
  pool_timer.expires_after(std::chrono::seconds(1));
  pool_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec || draining) return;
    sweep_upstreams();
    flush_access_log();
    start_pool_sweeps();
  });
}

void WorkerContext::sweep_upstreams() noexcept {
  const RoutingSnapshot& snapshot = snapshots.get();
  const auto configured = [&](const UpstreamKey& key) {
    for (const auto& color : snapshot.endpoints) {
      for (const auto& known : color) {
        if (key.serves(known)) return true;
      }
    }
    return false;
  };
  upstreams.sweep(config_of(snapshot).timeouts.upstream_idle, configured);
  http2_upstreams.sweep(configured);
  stats.set_idle_upstream_connections(upstreams.idle_count());
}

void WorkerContext::flush_access_log() noexcept {
  if (access_log.empty()) return;
  if (const auto& file = snapshots.get().access_log) {
    flush_access_log_to(*file);
  } else {
    access_log.discard();  // log.access was turned off meanwhile
  }
}

void WorkerContext::flush_access_log_to(const AccessLogFile& file) noexcept {
  const std::size_t lost = access_log.flush(file);
  if (lost == 0) return;
  stats.access_lines_lost(lost);
  if (const auto failed = access_log_failures.hit()) {
    log.warn(
        "access log: {} write(s) failed and their lines were dropped (a full disk?); see "
        "bgproxy_access_log_lines_lost_total",
        failed);
  }
}

void WorkerContext::http2_connection_ended(Http2Side side, http2::Ending why) noexcept {
  const Http2Ending counted = [why] {
    switch (why) {
      case http2::Ending::none:
        return Http2Ending::closed;
      case http2::Ending::protocol_error:
        return Http2Ending::protocol_error;
      case http2::Ending::flow_control:
        return Http2Ending::flow_control;
      case http2::Ending::flood:
        return Http2Ending::flood;
      case http2::Ending::rapid_reset:
        return Http2Ending::rapid_reset;
      case http2::Ending::header_flood:
        return Http2Ending::header_flood;
      case http2::Ending::goaway:
        return Http2Ending::goaway;
    }
    return Http2Ending::closed;
  }();
  stats.http2_connection_ended(side, counted);
}

void WorkerContext::upstream_failed(Exchange& exchange, UpstreamError kind) noexcept {
  stats.record_upstream_error(exchange.color, kind);
  stats.record_endpoint_error(exchange.endpoint->stats_slot, kind);
  switch (kind) {
    case UpstreamError::connect:
      exchange.outcome = Outcome::connect_failed;
      break;
    case UpstreamError::timeout:
      exchange.outcome = Outcome::upstream_timeout;
      break;
    case UpstreamError::reset:
      exchange.outcome = Outcome::upstream_reset;
      break;
  }
}

void WorkerContext::upstream_gave_up(Exchange& exchange,
                                     const boost::system::error_code& ec) noexcept {
  constexpr unsigned kBadGateway = 502;
  constexpr unsigned kGatewayTimeout = 504;
  const bool timeout = ec == boost::asio::error::timed_out;
  log.debug("upstream {} failed: {}", exchange.endpoint->label, ec.message());
  upstream_failed(exchange, timeout ? UpstreamError::timeout : UpstreamError::reset);
  exchange.status = timeout ? kGatewayTimeout : kBadGateway;
}

void WorkerContext::upstream_connect_failed(Exchange& exchange,
                                            const boost::system::error_code& ec) {
  log.debug("connect to {} failed: {}", exchange.endpoint->label, ec.message());
  if (ec == boost::asio::error::no_descriptors || ec.value() == ENFILE) {
    if (const auto failed = out_of_descriptors.hit()) {
      log.warn("{} upstream connect(s) failed: {} (see the descriptor budget in the log at start)",
               failed, ec.message());
    }
  }
  upstream_failed(exchange, UpstreamError::connect);
}

void WorkerContext::record(const Exchange& exchange, std::string_view client,
                           const RoutingSnapshot& snapshot) noexcept {
  const auto end =
      exchange.finished_at == Clock::time_point{} ? Clock::now() : exchange.finished_at;
  const auto latency =
      std::chrono::duration_cast<std::chrono::microseconds>(end - exchange.received_at);
  const bool error =
      counts_as_error(exchange.status, exchange.grpc_status, config_of(snapshot).grpc.error_codes);
  stats.record_request(recorded_route(exchange), exchange.color, exchange.status, latency,
                       exchange.grpc_status, error);
  if (const Endpoint* endpoint = reached_endpoint(exchange)) {
    stats.record_endpoint_request(endpoint->stats_slot, exchange.status, latency);
  }
  if (!snapshot.access_log) return;
  try {
    log_access(exchange, client, latency, snapshot);
  } catch (const std::bad_alloc&) {  // an access line is not worth the connection
  }
}

void WorkerContext::log_access(const Exchange& exchange, std::string_view client,
                               std::chrono::microseconds latency, const RoutingSnapshot& snapshot) {
  using std::chrono::duration_cast;
  using std::chrono::microseconds;
  AccessRecord line;
  line.client = client;
  line.method = exchange.method;
  line.target = exchange.target;
  line.version = exchange.version;
  line.status = exchange.status;
  line.bytes = exchange.bytes_sent;
  line.route = recorded_route(exchange);
  line.color = exchange.route == Route::refused ? name(exchange.route) : name(exchange.color);
  if (const Endpoint* endpoint = reached_endpoint(exchange)) line.endpoint = endpoint->label;
  if (exchange.response_head_at != Clock::time_point{}) {
    line.upstream = duration_cast<microseconds>(exchange.response_head_at - exchange.upstream_at);
  }
  line.total = latency;
  line.outcome = outcome_of(exchange);
  access_log.append(line, config_of(snapshot).log.format, std::chrono::system_clock::now());
  if (access_log.full()) flush_access_log_to(*snapshot.access_log);
}

void log_coroutine_failure(Logger& log, std::exception_ptr failure) {
  if (!failure) return;
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    log.error("connection ended by an error: {}", e.what());
  } catch (...) {
    log.error("connection ended by an unknown error");
  }
}

}  // namespace bgp
