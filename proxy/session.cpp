#include "proxy/session.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include "proxy/deadline.h"
#include "proxy/http_framing.h"
#include "proxy/request_head.h"

namespace bgp {

void ConnectionHandle::close_if_idle() noexcept {
  boost::system::error_code ignored;
  if (idle_) client_.cancel(ignored);
}

void ConnectionHandle::abort() noexcept {
  boost::system::error_code ignored;
  client_.close(ignored);
  if (upstream_) upstream_->close(ignored);
}

void WorkerContext::begin_drain() noexcept {
  draining = true;
  upstreams.clear();
  for (auto& connection : connections) connection.close_if_idle();
}

void WorkerContext::abort_connections() noexcept {
  for (auto& connection : connections) connection.abort();
}

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using boost::system::error_code;

using ResponseParser = http::response_parser<http::buffer_body>;

constexpr std::size_t kReadChunk = 16 * 1024;   // bytes asked for per read of a request head
constexpr std::size_t kRelayChunk = 16 * 1024;  // body bytes moved per read and write
constexpr std::uint32_t kUpstreamHeaderLimit = 64 * 1024;
// What a buffer may hold beyond a head: one read. Bounds too what a chunk-size line or trailers
// can take while a body is read (Beast waits for their end), so no peer grows a buffer at will.
constexpr std::size_t kBufferSlack = kReadChunk;
constexpr Duration kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = 1024 * 1024;
constexpr unsigned kClientClosedRequest = 499;  // recorded when the client left before an answer

enum class Next { keep_alive, close, tunnel };  // what the connection does after a request
enum class Step { done, retry, failed };        // how a stage of the upstream exchange ended

// One request, from its head received to its record.
struct Exchange {
  Clock::time_point received_at = Clock::now();
  Clock::time_point finished_at{};  // the response's last byte written
  Color color = Color::blue;
  unsigned status = 0;
  unsigned version = 11;  // the client's HTTP version
  http::verb method = http::verb::unknown;
  bool client_keep_alive = false;  // asked for by the client
  bool upgrade = false;
  bool expects_continue = false;
  bool continue_sent = false;
  bool body_started = false;      // body bytes were taken from the client: no retry any more
  bool response_started = false;  // response bytes went to the client: no error status any more
  const Endpoint* endpoint = nullptr;
};

struct RelayResult {
  enum class Side { none, reader, writer };
  Side failed = Side::none;
  error_code ec;
};

std::string_view readable(const beast::flat_buffer& buffer) noexcept {
  const auto data = buffer.data();
  return {static_cast<const char*>(data.data()), data.size()};
}

std::string client_address(const tcp::socket& socket) {
  error_code ec;
  auto address = socket.remote_endpoint(ec).address();
  if (ec) return "unknown";
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
  }
  return address.to_string();
}

bool is_http_error(const error_code& ec) noexcept {
  return ec.category() == http::make_error_code(http::error::end_of_stream).category();
}

// The upstream closed or reset the connection (as opposed to a timeout or garbage).
bool is_connection_closed(const error_code& ec) noexcept {
  return ec == http::error::end_of_stream || ec == net::error::eof ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted;
}

// The status a request gets when reading its body from the client failed.
unsigned status_for_client_body_error(const error_code& ec) noexcept {
  if (ec == net::error::timed_out) return static_cast<unsigned>(http::status::request_timeout);
  if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
      !is_http_error(ec)) {
    return kClientClosedRequest;
  }
  return static_cast<unsigned>(status_for_parse_error(ec));
}

// Refusals close the connection: the rest of the request cannot be trusted.
bool is_refusal(http::status status) noexcept {
  switch (status) {
    case http::status::bad_request:
    case http::status::request_timeout:
    case http::status::payload_too_large:
    case http::status::uri_too_long:
    case http::status::expectation_failed:
    case http::status::request_header_fields_too_large:
    case http::status::not_implemented:
    case http::status::http_version_not_supported:
      return true;
    default:
      return false;
  }
}

HeadLimits head_limits(const LimitsConfig& limits) noexcept {
  HeadLimits head;
  head.max_header_bytes = static_cast<std::size_t>(limits.max_header_bytes);
  head.max_body_bytes = limits.max_body_bytes;
  return head;
}

// Copies bytes one way until the reader ends or fails, then ends the writer's sending side.
net::awaitable<void> pump(tcp::socket& from, tcp::socket& to, Duration idle_timeout) {
  std::array<char, kRelayChunk> buffer;
  net::steady_timer timer(co_await net::this_coro::executor);
  for (;;) {
    auto [read_ec, n] = co_await with_deadline(timer, Clock::now() + idle_timeout, [&](auto t) {
      return from.async_read_some(net::buffer(buffer), std::move(t));
    })(use_tuple);
    if (read_ec) break;
    auto [write_ec, written] =
        co_await with_deadline(timer, Clock::now() + idle_timeout, [&](auto t) {
          return net::async_write(to, net::buffer(buffer.data(), n), std::move(t));
        })(use_tuple);
    if (write_ec) break;
  }
  error_code ignored;
  to.shutdown(tcp::socket::shutdown_send, ignored);
}

class Session {
 public:
  Session(tcp::socket client, WorkerContext& worker)
      : worker_(worker),
        stats_(worker.stats),
        client_(std::move(client)),
        handle_(client_),
        timer_(client_.get_executor()),
        client_ip_(client_address(client_)) {
    error_code ignored;
    client_.set_option(tcp::no_delay(true), ignored);
    worker_.connections.push_back(handle_);
    stats_.connection_opened();
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  // May run when the worker's io_context is destroyed: touches nothing of the worker but the shard.
  ~Session() { stats_.connection_closed(); }

  net::awaitable<void> run() {
    for (;;) {
      const Next next = co_await serve_one();
      if (next == Next::tunnel) co_await tunnel();
      if (next != Next::keep_alive) break;
    }
    error_code ignored;
    client_.close(ignored);
  }

 private:
  enum class Head { ready, closed, refused };

  // One request: its head, its answer, its record (exactly once, here).
  net::awaitable<Next> serve_one() {
    snapshot_ = worker_.snapshots.hold();
    config_ = &worker_.config_of(*snapshot_);
    request_.reset();
    if (!co_await wait_for_request()) co_return Next::close;
    // The idle wait may have lasted through a rollback or a reload: route with what holds now.
    snapshot_ = worker_.snapshots.hold();
    config_ = &worker_.config_of(*snapshot_);
    Exchange ex;
    const Head head = co_await read_request_head(ex);
    if (head == Head::closed) co_return Next::close;
    const Next next = head == Head::ready ? co_await handle(ex) : co_await refuse_head(ex);
    record(ex);
    if (next != Next::tunnel) discard_upstream();
    co_return next;
  }

  void record(const Exchange& ex) noexcept {
    const auto end = ex.finished_at == Clock::time_point{} ? Clock::now() : ex.finished_at;
    stats_.record_request(
        ex.color, ex.status,
        std::chrono::duration_cast<std::chrono::microseconds>(end - ex.received_at));
  }

  // --- the request head ------------------------------------------------------------------------

  // Waits for the first bytes of a request: up to client_idle between requests (client_header for
  // a connection's first request). False when the connection should close instead.
  net::awaitable<bool> wait_for_request() {
    client_buffer_.consume(leading_empty_lines(readable(client_buffer_)));
    head_deadline_ =
        (first_request_ ? accepted_at_ : Clock::now()) + config_->timeouts.client_header;
    if (client_buffer_.size() > 0) co_return true;
    // While draining, a request the client already sent is still served (with Connection: close).
    error_code ignored;
    if (worker_.draining && client_.available(ignored) == 0) co_return false;
    const auto deadline =
        first_request_ ? head_deadline_ : Clock::now() + config_->timeouts.client_idle;
    handle_.set_idle(true);
    auto [ec, n] = co_await with_deadline(timer_, deadline, [&](auto t) {
      return client_.async_read_some(client_buffer_.prepare(kReadChunk), std::move(t));
    })(use_tuple);
    handle_.set_idle(false);
    if (ec) co_return false;
    client_buffer_.commit(n);
    // The head must be whole within client_header of its first byte (or of the accept).
    if (!first_request_) head_deadline_ = Clock::now() + config_->timeouts.client_header;
    co_return true;
  }

  // Reads until the whole head is buffered (so that its raw bytes can be checked), then reads it.
  net::awaitable<Head> read_request_head(Exchange& ex) {
    first_request_ = false;
    head_limits_ = head_limits(config_->limits);
    // A peer never makes the buffer hold more than a head and one read (Beast stops reading a
    // body at this size too). What it holds already stays allowed after a limit was lowered: the
    // scan then refuses the head before reading more.
    client_buffer_.max_size(
        std::max(client_buffer_.size(), head_limits_.max_head_bytes() + kBufferSlack));
    HeadScan scan;
    for (;;) {
      if (const auto empty = leading_empty_lines(readable(client_buffer_)); empty > 0) {
        client_buffer_.consume(empty);
        scan = {};
      }
      scan = scan_request_head(readable(client_buffer_), scan, head_limits_);
      if (scan.refusal) co_return refused(ex, *scan.refusal);
      if (scan.end > 0) break;
      auto [ec, n] = co_await with_deadline(timer_, head_deadline_, [&](auto t) {
        return client_.async_read_some(client_buffer_.prepare(kReadChunk), std::move(t));
      })(use_tuple);
      if (ec == net::error::timed_out) co_return refused(ex, http::status::request_timeout);
      if (ec) co_return Head::closed;  // the client left in the middle of a head
      client_buffer_.commit(n);
    }
    co_return parse_request_head(ex, scan.end);
  }

  Head parse_request_head(Exchange& ex, std::size_t head_size) {
    RequestParser& parser = request_.emplace();
    const HeadVerdict verdict =
        bgp::read_request_head(readable(client_buffer_).substr(0, head_size), head_limits_, parser);
    client_buffer_.consume(head_size);
    ex.received_at = Clock::now();
    if (verdict.refusal) {
      request_.reset();  // nothing of it is used; what follows it is never read as a request
      return refused(ex, *verdict.refusal);
    }
    framing_ = verdict.framing;
    const auto& request = parser.get();
    ex.version = request.version();
    ex.method = request.method();
    ex.client_keep_alive = request.keep_alive();
    ex.upgrade = parser.upgrade();
    ex.expects_continue = expects_continue(request);
    return Head::ready;
  }

  static Head refused(Exchange& ex, http::status status) noexcept {
    ex.status = static_cast<unsigned>(status);
    ex.received_at = Clock::now();
    return Head::refused;
  }

  // A request refused before it could be routed counts for a color picked by weight, so that
  // refusals spread like traffic and do not skew one color's numbers.
  net::awaitable<Next> refuse_head(Exchange& ex) {
    ex.color = pick_color(snapshot_->weights, snapshot_->live, worker_.random.next());
    co_return co_await respond_error(ex, static_cast<http::status>(ex.status));
  }

  // --- routing and forwarding ------------------------------------------------------------------

  net::awaitable<Next> handle(Exchange& ex) {
    const auto& request = request_->get();
    ex.color = choose_color(request, *snapshot_, config_->routing, worker_.random);
    ex.endpoint = worker_.endpoints.next_healthy(*snapshot_, ex.color);
    if (!ex.endpoint) co_return co_await respond_error(ex, http::status::service_unavailable);
    prepare_upstream_request(ex);
    co_return co_await forward(ex);
  }

  void prepare_upstream_request(const Exchange& ex) {
    auto& request = request_->get();
    strip_hop_by_hop(request, ex.upgrade);
    // This proxy answers 100 Continue itself, right before it reads the body.
    if (ex.expects_continue) request.erase(http::field::expect);
    // One normalized framing field for the next hop (duplicate lengths were checked to agree).
    if (framing_.kind == BodyFraming::Kind::length) request.content_length(framing_.length);
    if (framing_.kind == BodyFraming::Kind::chunked) {
      request.set(http::field::transfer_encoding, "chunked");
    }
    // Only HTTP/1.0 may come without Host (an HTTP/1.1 request without one was refused).
    if (request.find(http::field::host) == request.end()) {
      request.set(http::field::host, ex.endpoint->label);
    }
    add_forwarding_headers(request, client_ip_, ex.version);
    request.version(11);
  }

  // Sends the request upstream and relays the response back; a reused connection that turns out
  // dead is replaced by a fresh one once.
  net::awaitable<Next> forward(Exchange& ex) {
    for (int attempt = 0;; ++attempt) {
      const bool may_reuse = attempt == 0;
      if (!co_await open_upstream(ex, may_reuse)) co_return co_await fail(ex);
      Step step = co_await send_request(ex);
      if (step == Step::done) step = co_await receive_response_head(ex);
      if (step == Step::retry && attempt == 0) continue;
      if (step != Step::done) co_return co_await fail(ex);
      co_return co_await relay_response(ex);
    }
  }

  // A pooled connection to the chosen endpoint, else a fresh one; a failed connect is tried once
  // more on the color's next healthy endpoint.
  net::awaitable<bool> open_upstream(Exchange& ex, bool may_reuse) {
    discard_upstream();
    if (may_reuse && take_pooled(*ex.endpoint)) co_return true;
    if (co_await connect(ex)) co_return true;
    const Endpoint* next = worker_.endpoints.next_healthy(*snapshot_, ex.color);
    if (next == nullptr || next == ex.endpoint) co_return false;
    ex.endpoint = next;
    if (may_reuse && take_pooled(*next)) co_return true;
    co_return co_await connect(ex);
  }

  bool take_pooled(const Endpoint& endpoint) {
    auto pooled = worker_.upstreams.take(endpoint.resolved);
    if (!pooled) return false;
    use_upstream(std::move(*pooled), true);
    return true;
  }

  net::awaitable<bool> connect(Exchange& ex) {
    use_upstream(tcp::socket(client_.get_executor()), false);
    const auto deadline = Clock::now() + config_->timeouts.upstream_connect;
    auto [ec] = co_await with_deadline(timer_, deadline, [&](auto t) {
      return upstream_->async_connect(ex.endpoint->resolved, std::move(t));
    })(use_tuple);
    if (!ec) {
      error_code ignored;
      upstream_->set_option(tcp::no_delay(true), ignored);
      co_return true;
    }
    worker_.log.debug("connect to {} failed: {}", ex.endpoint->label, ec.message());
    stats_.record_upstream_error(ex.color, UpstreamError::connect);
    ex.status = static_cast<unsigned>(ec == net::error::timed_out ? http::status::gateway_timeout
                                                                  : http::status::bad_gateway);
    discard_upstream();
    co_return false;
  }

  net::awaitable<Step> send_request(Exchange& ex) {
    RequestParser& parser = *request_;
    http::request_serializer<http::buffer_body> serializer{parser.get()};
    const auto write_timeout = config_->timeouts.upstream_response;
    auto& body = parser.get().body();
    body = {nullptr, 0, !parser.is_done()};
    // The head goes alone first when a body follows: a dead reused connection shows before any
    // body byte is taken from the client, so the request can still be sent again.
    auto [ec, n] = co_await with_deadline(timer_, Clock::now() + write_timeout, [&](auto t) {
      return parser.is_done() ? http::async_write(*upstream_, serializer, std::move(t))
                              : http::async_write_header(*upstream_, serializer, std::move(t));
    })(use_tuple);
    if (ec) {
      co_return upstream_failed(ex, ec,
                                upstream_reused_ && !ex.body_started && is_connection_closed(ec));
    }
    if (parser.is_done()) co_return Step::done;
    if (!co_await send_continue(ex)) co_return client_failed(ex, kClientClosedRequest);
    const RelayResult relayed =
        co_await relay_body(parser, client_, client_buffer_, config_->timeouts.client_idle,
                            serializer, *upstream_, write_timeout, &ex.body_started);
    switch (relayed.failed) {
      case RelayResult::Side::none:
        co_return Step::done;
      case RelayResult::Side::reader:
        co_return client_failed(ex, status_for_client_body_error(relayed.ec));
      case RelayResult::Side::writer:
        break;
    }
    co_return upstream_failed(ex, relayed.ec, false);
  }

  // Answers `Expect: 100-continue` (HTTP/1.1 clients only) once, just before reading the body.
  net::awaitable<bool> send_continue(Exchange& ex) {
    if (!ex.expects_continue || ex.version < 11 || ex.continue_sent) co_return true;
    ex.continue_sent = true;
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    auto [ec, n] =
        co_await with_deadline(timer_, Clock::now() + config_->timeouts.client_idle, [&](auto t) {
          return net::async_write(client_, net::buffer(kContinue), std::move(t));
        })(use_tuple);
    co_return !ec;
  }

  net::awaitable<Step> receive_response_head(Exchange& ex) {
    for (;;) {
      ResponseParser& parser = response_.emplace();
      parser.header_limit(kUpstreamHeaderLimit);
      parser.body_limit(boost::none);
      if (ex.method == http::verb::head) parser.skip(true);
      const auto deadline = Clock::now() + config_->timeouts.upstream_response;
      auto [ec, n] = co_await with_deadline(timer_, deadline, [&](auto t) {
        return http::async_read_header(*upstream_, upstream_buffer_, parser, std::move(t));
      })(use_tuple);
      if (ec) {
        const bool nothing_received = !parser.got_some() && upstream_buffer_.size() == 0;
        const bool may_retry = upstream_reused_ && !ex.body_started && nothing_received &&
                               is_idempotent(ex.method) && is_connection_closed(ec);
        co_return upstream_failed(ex, ec, may_retry);
      }
      const unsigned status = parser.get().result_int();
      // Interim responses (100, 103) are not relayed; the final response follows.
      if (status / 100 == 1 && status != 101) continue;
      // An ambiguous response is not relayed, and its connection not reused (fail() closes it).
      if (!is_acceptable_response(parser.get())) {
        co_return upstream_failed(ex, http::error::bad_transfer_encoding, false);
      }
      co_return Step::done;
    }
  }

  Step upstream_failed(Exchange& ex, const error_code& ec, bool may_retry) {
    if (may_retry) return Step::retry;
    const bool timeout = ec == net::error::timed_out;
    worker_.log.debug("upstream {} failed: {}", ex.endpoint->label, ec.message());
    stats_.record_upstream_error(ex.color, timeout ? UpstreamError::timeout : UpstreamError::reset);
    ex.status =
        static_cast<unsigned>(timeout ? http::status::gateway_timeout : http::status::bad_gateway);
    return Step::failed;
  }

  static Step client_failed(Exchange& ex, unsigned status) noexcept {
    ex.status = status;
    return Step::failed;
  }

  // Answers with ex.status, unless the client is gone.
  net::awaitable<Next> fail(Exchange& ex) {
    discard_upstream();
    if (ex.status == kClientClosedRequest) {
      ex.finished_at = Clock::now();
      co_return Next::close;
    }
    co_return co_await respond_error(ex, static_cast<http::status>(ex.status));
  }

  // --- the response ------------------------------------------------------------------------------

  net::awaitable<Next> relay_response(Exchange& ex) {
    ResponseParser& parser = *response_;
    ex.status = parser.get().result_int();
    if (ex.status == 101 && !ex.upgrade) {
      upstream_failed(ex, http::error::bad_status, false);
      co_return co_await fail(ex);
    }
    const bool upstream_reusable = parser.get().keep_alive() && !parser.need_eof();
    const bool keep_alive = shape_response(ex, parser);
    http::response_serializer<http::buffer_body> serializer{parser.get()};
    ex.response_started = true;
    if (ex.status == 101 || response_has_no_body(ex.method, ex.status)) {
      auto [ec, n] =
          co_await with_deadline(timer_, Clock::now() + config_->timeouts.client_idle, [&](auto t) {
            return http::async_write_header(client_, serializer, std::move(t));
          })(use_tuple);
      ex.finished_at = Clock::now();
      if (ec) co_return Next::close;
      if (ex.status == 101) co_return Next::tunnel;
    } else {
      const RelayResult relayed = co_await relay_body(
          parser, *upstream_, upstream_buffer_, config_->timeouts.upstream_response, serializer,
          client_, config_->timeouts.client_idle, nullptr);
      ex.finished_at = Clock::now();
      if (relayed.failed == RelayResult::Side::reader) upstream_failed(ex, relayed.ec, false);
      if (relayed.failed != RelayResult::Side::none) co_return Next::close;
    }
    if (upstream_reusable && parser.is_done() && upstream_buffer_.size() == 0) {
      release_upstream(*ex.endpoint);
    }
    if (keep_alive) co_return Next::keep_alive;
    co_await close_after_answer();
    co_return Next::close;
  }

  // Turns the upstream's response head into the client's; returns whether the client
  // connection stays open after it.
  bool shape_response(const Exchange& ex, ResponseParser& parser) {
    auto& response = parser.get();
    const bool upgraded = ex.status == 101;
    const bool has_body = !response_has_no_body(ex.method, ex.status);
    // After an upgrade request the client may already have sent bytes of the new protocol: unless
    // the upstream switched (101, a tunnel), they are never read as HTTP; the connection ends.
    bool keep_alive =
        ex.client_keep_alive && !worker_.draining && request_->is_done() && !ex.upgrade;
    strip_hop_by_hop(response, upgraded);
    add_via(response, response.version());
    if (ex.version < 11 && response.chunked()) {
      response.chunked(false);  // an HTTP/1.0 client reads the body until the close
      keep_alive = keep_alive && !has_body;
    } else if (has_body && parser.need_eof()) {
      // The upstream ends the body by closing; an HTTP/1.1 client gets it chunked instead.
      if (ex.version >= 11 && keep_alive) {
        response.chunked(true);
      } else {
        keep_alive = false;
      }
    }
    response.version(ex.version >= 11 ? 11 : 10);
    if (!upgraded) response.keep_alive(keep_alive);
    return keep_alive;
  }

  // Moves a body from `parser` (reading `from`) to `serializer` (writing `to`) through relay_, a
  // chunk at a time, so that it is never held whole (Beast's `relay` example, asynchronous).
  template <bool isRequest>
  net::awaitable<RelayResult> relay_body(http::parser<isRequest, http::buffer_body>& parser,
                                         tcp::socket& from, beast::flat_buffer& from_buffer,
                                         Duration read_timeout,
                                         http::serializer<isRequest, http::buffer_body>& serializer,
                                         tcp::socket& to, Duration write_timeout,
                                         bool* body_started) {
    auto& body = parser.get().body();
    for (;;) {
      if (parser.is_done()) {
        body = {nullptr, 0, false};
      } else {
        if (body_started) *body_started = true;
        body = {relay_.data(), relay_.size(), true};
        auto [ec, n] = co_await with_deadline(timer_, Clock::now() + read_timeout, [&](auto t) {
          return http::async_read(from, from_buffer, parser, std::move(t));
        })(use_tuple);
        if (ec && ec != http::error::need_buffer)
          co_return RelayResult{RelayResult::Side::reader, ec};
        const std::size_t filled = relay_.size() - body.size;
        // A zero-sized chunk would end a chunked body early: hand over no buffer instead.
        body = {filled > 0 ? relay_.data() : nullptr, filled, !parser.is_done()};
      }
      auto [ec, n] = co_await with_deadline(timer_, Clock::now() + write_timeout, [&](auto t) {
        return http::async_write(to, serializer, std::move(t));
      })(use_tuple);
      if (ec && ec != http::error::need_buffer)
        co_return RelayResult{RelayResult::Side::writer, ec};
      if (serializer.is_done()) co_return RelayResult{};
    }
  }

  // The proxy's own answer; the connection stays open only when the request was read whole.
  net::awaitable<Next> respond_error(Exchange& ex, http::status status) {
    ex.status = static_cast<unsigned>(status);
    discard_upstream();
    const bool request_read = request_ && request_->is_done();
    const bool keep_alive =
        ex.client_keep_alive && request_read && !worker_.draining && !is_refusal(status);
    auto response = make_error_response(status, ex.version >= 11 ? 11 : 10, keep_alive);
    ex.response_started = true;
    auto [ec, n] = co_await with_deadline(
        timer_, Clock::now() + config_->timeouts.client_idle,
        [&](auto t) { return http::async_write(client_, response, std::move(t)); })(use_tuple);
    ex.finished_at = Clock::now();
    if (ec) co_return Next::close;
    if (keep_alive) co_return Next::keep_alive;
    co_await close_after_answer();
    co_return Next::close;
  }

  // Ends the connection after its last answer. When request bytes may be left unread, stop
  // sending, then read and drop what the client still sends for a moment: closing with unread
  // bytes resets the connection, and a reset can destroy the answer before the client read it.
  net::awaitable<void> close_after_answer() {
    error_code ignored;
    client_.shutdown(tcp::socket::shutdown_send, ignored);
    const bool request_read = request_ && request_->is_done() && client_buffer_.size() == 0;
    if (request_read && client_.available(ignored) == 0) {
      client_.close(ignored);
      co_return;
    }
    const auto deadline = Clock::now() + std::min(kLingerTime, config_->timeouts.client_idle);
    for (std::size_t dropped = 0; dropped < kLingerBytes;) {
      auto [ec, n] = co_await with_deadline(timer_, deadline, [&](auto t) {
        return client_.async_read_some(net::buffer(relay_), std::move(t));
      })(use_tuple);
      if (ec) break;
      dropped += n;
    }
    client_.close(ignored);
  }

  // --- the upgraded connection -------------------------------------------------------------------

  // After a 101: bytes both ways until both directions have ended.
  net::awaitable<void> tunnel() {
    using namespace net::experimental::awaitable_operators;
    const auto idle = config_->timeouts.client_idle;
    // Bytes that arrived behind either head go first.
    if (!co_await flush(client_buffer_, *upstream_) || !co_await flush(upstream_buffer_, client_)) {
      discard_upstream();
      co_return;
    }
    co_await (pump(client_, *upstream_, idle) && pump(*upstream_, client_, idle));
    discard_upstream();
  }

  net::awaitable<bool> flush(beast::flat_buffer& buffer, tcp::socket& to) {
    if (buffer.size() == 0) co_return true;
    auto [ec, n] = co_await with_deadline(
        timer_, Clock::now() + config_->timeouts.client_idle,
        [&](auto t) { return net::async_write(to, buffer.data(), std::move(t)); })(use_tuple);
    buffer.consume(n);
    co_return !ec;
  }

  // --- the upstream connection -------------------------------------------------------------------

  void use_upstream(tcp::socket socket, bool reused) {
    upstream_.emplace(std::move(socket));
    upstream_reused_ = reused;
    upstream_buffer_.clear();
    upstream_buffer_.max_size(kUpstreamHeaderLimit + kBufferSlack);
    handle_.set_upstream(&*upstream_);
  }

  void release_upstream(const Endpoint& endpoint) {
    if (worker_.draining) return discard_upstream();
    handle_.set_upstream(nullptr);
    worker_.upstreams.put_back(endpoint.resolved, std::move(*upstream_));
    upstream_.reset();
  }

  void discard_upstream() noexcept {
    handle_.set_upstream(nullptr);
    if (!upstream_) return;
    error_code ignored;
    upstream_->close(ignored);
    upstream_.reset();
    upstream_buffer_.clear();
  }

  WorkerContext& worker_;
  StatsShard& stats_;
  tcp::socket client_;
  ConnectionHandle handle_;
  net::steady_timer timer_;  // one deadline at a time, reused by every operation
  std::string client_ip_;
  const Clock::time_point accepted_at_ = Clock::now();
  bool first_request_ = true;
  Clock::time_point head_deadline_{};  // the current request head must be whole by then
  HeadLimits head_limits_;             // of the current request
  BodyFraming framing_;                // of the current request

  std::shared_ptr<const RoutingSnapshot> snapshot_;  // in force for the current request
  const Config* config_ = nullptr;                   // snapshot_'s config

  beast::flat_buffer client_buffer_;
  beast::flat_buffer upstream_buffer_;
  std::array<char, kRelayChunk> relay_;
  std::optional<RequestParser> request_;
  std::optional<ResponseParser> response_;
  std::optional<tcp::socket> upstream_;
  bool upstream_reused_ = false;
};

}  // namespace

net::awaitable<void> serve_connection(tcp::socket client, [[maybe_unused]] ConnectionTicket ticket,
                                      WorkerContext& worker) {
  Session session(std::move(client), worker);
  co_await session.run();
}

}  // namespace bgp
