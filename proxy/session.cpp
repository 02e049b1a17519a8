#include "proxy/session.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include "proxy/connection.h"
#include "proxy/deadline.h"
#include "proxy/heap_optional.h"
#include "proxy/http1/chunk_checked_stream.h"
#include "proxy/http1/chunk_lines.h"
#include "proxy/http1/http1_exchange.h"
#include "proxy/http1/http1_upstream_forward.h"
#include "proxy/http1/http2_upstream_forward.h"
#include "proxy/http1/http_framing.h"
#include "proxy/http1/read_request.h"
#include "proxy/http1/relay_body.h"
#include "proxy/http1/relay_head.h"
#include "proxy/http1/request_head.h"
#include "proxy/http1/response_head.h"
#include "proxy/http1/upstream_leg.h"
#include "proxy/http2/front.h"
#include "proxy/policy.h"
#include "proxy/tls/tls_stream.h"
#include "proxy/tunnel.h"
#include "proxy/upstream_stream.h"

namespace bgp {

namespace {

namespace beast = boost::beast;

// How long the start of a request body is waited for before the head goes upstream without it:
// a body sent with its head is there at once; a client that streams slowly is not held up.
constexpr Duration kHoldWait = std::chrono::milliseconds(100);
// The first read of a head (request or response): one pool block, which almost every head fits.
// A bigger head grows the buffer by kHeadReadChunk reads; a smaller first read keeps the memory of
// connections waiting for their next request small.
constexpr std::size_t kFirstRead = BufferPool::kBlockSize;
// What a buffer may hold beyond a head: one read. Bounds too what a chunk-size line or trailers
// can take while a body is read (Beast waits for their end), so no peer grows a buffer at will.
constexpr std::size_t kBufferSlack = kHeadReadChunk;
constexpr Duration kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = 1024 * 1024;
// How long a drained idle connection waits after its FIN for the client to close its side.
constexpr Duration kIdleLinger = std::chrono::milliseconds(500);
// How long a keep-alive connection waits for its next request with its session (coroutine frames,
// a few KB) before it is parked with a few hundred bytes. Longer than the gap between the requests
// of a busy client, so that parking costs nothing under load.
constexpr Duration kParkAfter = std::chrono::milliseconds(20);

// Refusals close the connection: the rest of the request cannot be trusted.
bool is_refusal(http::status status) noexcept {
  return status == http::status::request_timeout || is_framing_refusal(status);
}

HeadLimits head_limits(const LimitsConfig& limits) noexcept {
  HeadLimits head;
  head.max_header_bytes = static_cast<std::size_t>(limits.max_header_bytes);
  head.max_body_bytes = limits.max_body_bytes;
  return head;
}

// What guards the session's upstream leg (upstream_leg.h): the connection's one deadline, whose
// expiry or abort also ends the upstream connection's operations. An HTTP/1 client's leaving
// shows as an error on its own socket, never as an abandoned leg.
struct SessionGuard {
  ConnectionHandle& handle;
  DeadlineWheel& wheel;

  void arm(Clock::time_point deadline) noexcept { handle.arm(wheel, deadline); }
  error_code timed(const error_code& ec) const noexcept {
    if (ec == net::error::operation_aborted && handle.expired()) return net::error::timed_out;
    return ec;
  }
  void watch(UpstreamStream* connection) noexcept { handle.set_upstream(connection); }
  static bool abandoned() noexcept { return false; }
};

// How a session ends: the connection closes, waits parked, or goes on as HTTP/2.
enum class Handoff { close, park, http2 };

// Where the wait for a next request stands.
// drained: idle while the worker drains and its grace for idle connections is over (see
// WorkerContext::begin_drain): the connection ends with FIN and a linger.
enum class Wait { reading, ready, close, park, drained, again };

// The work on a connection while it is busy: from a request's first bytes until the connection
// closes or is parked. Lives on the connection's coroutine frame.
template <typename Client>
class Session {
 public:
  explicit Session(Connection<Client>& connection)
      : worker_(connection.worker),
        stats_(connection.stats),
        client_(connection.client),
        handle_(connection.handle),
        client_ip_(connection.client_ip),
        accepted_at_(connection.accepted_at),
        idle_deadline_(connection.idle_deadline),
        first_request_(connection.first_request),
        client_buffer_(PoolAllocator<char>(worker_.buffers)),
        guard_{handle_, worker_.deadlines},
        upstream_(client_.get_executor(), worker_.buffers, guard_) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() = default;

  // Serves requests until the connection is to close, to be parked, or to go on as HTTP/2
  // (received() then holds what was read of it).
  net::awaitable<Handoff> run() {
    for (;;) {
      take_snapshot();
      request_.reset();
      // The wait for the next request is awaited here, not in a coroutine of its own: a frame
      // fewer to allocate per request.
      Wait wait = start_wait();
      if (wait == Wait::reading) {
        auto [read_ec, n] =
            co_await client_reads_.async_read_some(client_buffer_.prepare(kFirstRead), as_values);
        wait = end_wait(read_ec, n);
      }
      if (wait == Wait::park) co_return Handoff::park;
      if (wait == Wait::again) continue;
      if (wait == Wait::drained) {
        co_await close_idle();
        co_return Handoff::close;
      }
      if (wait == Wait::close) break;
      // The idle wait may have lasted through a rollback or a reload: route with what holds now.
      take_snapshot();
      const Next next = co_await serve_one();
      if (next == Next::http2) co_return Handoff::http2;
      if (next == Next::tunnel) {
        co_await tunnel();
        upstream_.discard();
      }
      if (next != Next::keep_alive) break;
      client_reads_.wrote();
    }
    error_code ignored;
    lowest_layer(client_).close(ignored);
    co_return Handoff::close;
  }

  // The bytes read and not taken yet (after Handoff::http2: the preface and what followed).
  std::string received() const { return std::string(readable(client_buffer_)); }

  // --- what a forwarder asks of the session (Http1ClientSide, http1/http1_exchange.h) ----------

  WorkerContext& worker() noexcept { return worker_; }
  const Config& config() const noexcept { return *config_; }
  const RoutingSnapshot& snapshot() const noexcept { return *snapshot_; }

  RequestParser& request() noexcept { return *request_; }
  // The options the request's upstream head is written with (an HTTP/1.1 upstream's forward adds
  // its own two).
  UpstreamRequestOptions upstream_options(const Http1Exchange& ex) const noexcept {
    UpstreamRequestOptions options;
    options.client_ip = client_ip_;
    options.framing = framing_;
    options.received_version = ex.version;
    options.drop_expect = ex.expects_continue;
    options.scheme = scheme_of(static_cast<const Client*>(nullptr));
    return options;
  }

  // Reads the body into the relay buffer before anything goes upstream, until it ends, the buffer
  // is full or kHoldWait passed. A body that arrives whole meanwhile is checked whole (framing,
  // chunk sizes and extensions, the size limit), so a refused request reaches no backend; a longer
  // or slower one streams on after this part (an error there ends the upstream connection before
  // the last chunk). The held part is also what a retry sends again. Not a coroutine itself: the
  // usual hold is awaited in place (held() judges it); a 100 Continue goes out first.
  net::awaitable<error_code> hold_request_body(Http1Exchange& ex) {
    if (needs_continue(ex)) return continue_then_hold(ex);
    return hold_request_body_bytes(*request_, request_body_stream(), client_buffer_, relay_buffer(),
                                   held_, guard_, hold_deadline());
  }

  // Whether the hold that ended with `ec` lets the request go upstream: a hold that ran out of
  // time leaves the rest of the body to stream.
  bool held(Http1Exchange& ex, const error_code& ec) {
    const bool hold_ends_first = kHoldWait < config_->timeouts.client_idle;
    if (!ec || (ec == net::error::timed_out && hold_ends_first)) return true;
    client_failed(ex, status_for_client_body_error(ec));
    return false;
  }

  // The body bytes the hold read (none allocates the relay buffer).
  std::span<const char> held_body() noexcept {
    return held_ == 0 ? std::span<const char>() : std::span<const char>(relay_->data(), held_);
  }

  ChunkCheckedStream<Client> request_body_stream() noexcept {
    const bool chunked = framing_.kind == BodyFraming::Kind::chunked;
    return ChunkCheckedStream(client_, chunked ? &request_lines_ : nullptr);
  }

  IoBuffer& client_buffer() noexcept { return client_buffer_; }
  const BodyFraming& framing() const noexcept { return framing_; }

  // For the HTTP/1.1 upstream's forward (Http1UpstreamSide, http1_upstream_forward.h): the
  // client's stream, the guard of its deadlines, and the upstream leg kept from request to request.
  Client& client() noexcept { return client_; }
  SessionGuard& guard() noexcept { return guard_; }
  Http1UpstreamLeg<SessionGuard>& upstream_leg() noexcept { return upstream_; }

  // The chunk bodies are relayed through, allocated by the first body of a busy period.
  std::array<char, kRelayChunk>& relay_buffer() { return relay_ ? *relay_ : relay_.emplace(); }

  // The next operation on either socket must end within `timeout` (the worker's deadline wheel
  // cancels it otherwise; timed() then tells a timeout from other cancellations).
  void arm(Duration timeout) noexcept { guard_.arm(Clock::now() + timeout); }
  error_code timed(const error_code& ec) const noexcept { return guard_.timed(ec); }

  // Writes `bytes` to the client, as one chunk when `chunked` (its size line and CRLF around them,
  // in one gathered write).
  net::awaitable<bool> write_to_client(Http1Exchange& ex, std::string_view bytes,
                                       bool chunked = false) {
    static constexpr std::string_view kChunkEnd = "\r\n";
    ChunkSizeLine size_line;
    const std::size_t size_line_length = chunked ? write_size_line(size_line, bytes.size()) : 0;
    const std::array<net::const_buffer, 3> pieces{
        net::buffer(size_line.data(), size_line_length), net::buffer(bytes),
        net::buffer(kChunkEnd.data(), chunked ? kChunkEnd.size() : 0)};
    arm(config_->timeouts.client_idle);
    auto [ec, n] = co_await net::async_write(client_, pieces, as_values);
    ex.bytes_sent += n;
    if (ec) note_client_gone(ex);
    co_return !ec;
  }

  // The buffer the head being sent is written into: the upstream's request, or the client's
  // response.
  std::string& head_buffer() noexcept { return head_out_; }

  // What keep_client_alive() asks of the exchange, all but the answer.
  KeepAliveFacts keep_alive_facts(const Http1Exchange& ex) const noexcept {
    KeepAliveFacts facts;
    facts.client_keep_alive = ex.client_keep_alive;
    facts.client_version = ex.version;
    facts.request_read = request_ && request_->is_done();
    facts.draining = worker_.draining;
    facts.upgrade = ex.upgrade;
    return facts;
  }

  // Answers with ex.status, unless the client is gone.
  net::awaitable<Next> fail(Http1Exchange& ex) {
    upstream_.discard();
    if (ex.status == kClientClosedRequest) {
      ex.finished_at = Clock::now();
      co_return Next::close;
    }
    co_return co_await respond_error(ex, static_cast<http::status>(ex.status));
  }

  // Ends the connection after its last answer. When request bytes may be left unread, stop
  // sending, then read and drop what the client still sends for a moment: closing with unread
  // bytes resets the connection, and a reset can destroy the answer before the client read it.
  net::awaitable<void> close_after_answer() {
    arm(config_->timeouts.client_idle);
    co_await end_sending(client_);
    const bool request_read = request_ && request_->is_done() && client_buffer_.size() == 0;
    if (request_read && !has_unread_input(client_)) {
      error_code ignored;
      lowest_layer(client_).close(ignored);
      co_return;
    }
    co_await linger(std::min(kLingerTime, config_->timeouts.client_idle));
  }

 private:
  enum class Head { ready, closed, refused, http2 };

  void take_snapshot() {
    snapshot_ = worker_.snapshots.hold();
    config_ = &worker_.config_of(*snapshot_);
  }

  // One request after its first bytes arrived: its head, its answer, its record (exactly once).
  net::awaitable<Next> serve_one() {
    Http1Exchange ex;
    const bool sniff_http2 = start_request_head();
    const RequestHeadRead read = co_await read_request_head_bytes(
        client_reads_, client_buffer_, head_limits_, sniff_http2, guard_, head_deadline_);
    const Head head = request_head_read(ex, read);
    if (head == Head::closed) co_return Next::close;
    // Only the wait for the next request, after the response, may find the client's socket drained
    // (edge_read.h); a request whose handling reads the client sooner re-arms it.
    if (head != Head::ready || !request_->is_done() || ex.upgrade) client_reads_.rearm();
    if (head == Head::http2) co_return Next::http2;
    const Next next = head == Head::ready ? co_await handle(ex) : co_await refuse_head(ex);
    worker_.record(ex, client_ip_, *snapshot_);
    if (next != Next::tunnel) upstream_.discard();
    co_return next;
  }

  // After a 101: the client's and the upstream's bytes both ways (proxy/tunnel.h), until both
  // directions have ended or no byte went either way for client_idle. Not a coroutine itself.
  net::awaitable<void> tunnel() {
    return bgp::tunnel(client_, client_buffer_, upstream_.connection(), upstream_.buffer(), guard_,
                       config_->timeouts.client_idle);
  }

  // --- the request head ------------------------------------------------------------------------

  // The wait for the first bytes of a request: up to client_idle between requests (client_header
  // for a connection's first request). Wait::reading: run() reads into client_buffer_, then
  // end_wait() judges the read. A read, not a wait for readiness: Asio re-registers the socket
  // with epoll for every wait (one more system call per request). The buffer comes from the
  // worker's pool and goes back to it when the connection is parked.
  Wait start_wait() {
    client_buffer_.consume(leading_empty_lines(readable(client_buffer_)));
    head_deadline_ =
        (first_request_ ? accepted_at_ : Clock::now()) + config_->timeouts.client_header;
    if (client_buffer_.size() > 0) return Wait::ready;
    // While draining, a request that arrives is still served (with Connection: close); once the
    // worker's grace for idle connections is over, one that has none waiting ends.
    error_code ignored;
    if (worker_.closing_idle && !has_unread_input(client_)) return Wait::drained;
    idle_deadline_ = first_request_ ? head_deadline_ : Clock::now() + config_->timeouts.client_idle;
    // What the wait does not need goes first (cheaply: the block back to the worker's pool).
    upstream_.buffer().shrink_to_fit();
    std::string().swap(head_out_);
    handle_.set_idle(true);
    handle_.arm(worker_.deadlines, std::min(idle_deadline_, Clock::now() + kParkAfter));
    return Wait::reading;
  }

  // A connection still idle after kParkAfter is parked: the session ends and park() waits on
  // until idle_deadline_.
  Wait end_wait(const error_code& ec, std::size_t n) {
    handle_.set_idle(false);
    const bool expired = handle_.expired();
    handle_.disarm();  // the head is read against head_deadline_ (read_request_head)
    if (ec && expired && Clock::now() < idle_deadline_) return Wait::park;
    // Cancelled by the drain (close_idle_connections): a request that arrived meanwhile is read
    // and served by the next wait; else the connection ends cleanly.
    if (ec == net::error::operation_aborted && !expired && worker_.closing_idle) {
      error_code ignored;
      return has_unread_input(client_) ? Wait::again : Wait::drained;
    }
    if (ec) return Wait::close;
    client_buffer_.commit(n);
    // The head must be whole within client_header of its first byte (or of the accept).
    if (!first_request_) head_deadline_ = Clock::now() + config_->timeouts.client_header;
    return Wait::ready;
  }

  // Before the head's bytes are read (read_request_head_bytes, whole before they are parsed, so
  // that its raw bytes can be checked): whether they may be HTTP/2's preface instead.
  bool start_request_head() {
    // With `protocols: [http1, h2c]`, a plain connection's first bytes may be HTTP/2's preface.
    const bool sniff = first_request_ && config_->h2c && std::is_same_v<Client, tcp::socket>;
    first_request_ = false;
    head_limits_ = head_limits(config_->limits);
    // A peer never makes the buffer hold more than a head and one read (Beast stops reading a
    // body at this size too). What it holds already stays allowed after a limit was lowered: the
    // scan then refuses the head before reading more.
    client_buffer_.max_size(
        std::max(client_buffer_.size(), head_limits_.max_head_bytes() + kBufferSlack));
    return sniff;
  }

  Head request_head_read(Http1Exchange& ex, const RequestHeadRead& read) {
    switch (read.end) {
      case RequestHeadRead::End::head:
        return parse_request_head(ex, read.size);
      case RequestHeadRead::End::refused:
        return refused(ex, read.refusal);
      case RequestHeadRead::End::timed_out:
        return refused(ex, http::status::request_timeout);
      case RequestHeadRead::End::http2:
        return Head::http2;
      case RequestHeadRead::End::closed:
        break;
    }
    return Head::closed;  // the client left in the middle of a head
  }

  Head parse_request_head(Http1Exchange& ex, std::size_t head_size) {
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
    // What came behind the head is the start of the body: its chunk lines are checked now, so a
    // malformed one is refused before anything goes upstream.
    request_lines_ = {};
    if (framing_.kind == BodyFraming::Kind::chunked &&
        !request_lines_.feed(readable(client_buffer_))) {
      request_.reset();
      return refused(ex, http::status::bad_request);
    }
    const auto& request = parser.get();
    ex.version = request.version();
    ex.verb = request.method();
    ex.method = request.method_string();
    ex.target = request.target();
    ex.headers = HeaderView(request);
    ex.client_keep_alive = request.keep_alive();
    ex.upgrade = parser.upgrade() && !asks_for_h2c(request);
    ex.expects_continue = expects_continue(request);
    return Head::ready;
  }

  static Head refused(Http1Exchange& ex, http::status status) noexcept {
    ex.status = static_cast<unsigned>(status);
    ex.received_at = Clock::now();
    return Head::refused;
  }

  // A request refused before it could be routed counts against no color (Route::refused): no
  // client can move a color's judged numbers with requests the proxy answers itself.
  net::awaitable<Next> refuse_head(Http1Exchange& ex) {
    ex.route = Route::refused;
    co_return co_await respond_error(ex, static_cast<http::status>(ex.status));
  }

  // --- routing, and the hold of the request body ----------------------------------------------

  // Not a coroutine itself: it picks the one to await (a coroutine frame fewer per request).
  net::awaitable<Next> handle(Http1Exchange& ex) {
    const RouteChoice choice =
        choose_color(ex.headers, *snapshot_, config_->routing, worker_.random);
    ex.color = choice.color;
    ex.route = choice.route;  // the proxy's own answers from here on count on this lane too
    ex.endpoint = worker_.endpoints.next_healthy(*snapshot_, ex.color);
    if (!ex.endpoint) {
      ex.outcome = Outcome::no_endpoint;
      return respond_error(ex, http::status::service_unavailable);
    }
    held_ = 0;
    // Most requests end with their head: no hold, and no coroutine frame for one.
    if (!request_->is_done()) return hold_then_forward(ex);
    return forward_upstream(ex);
  }

  // The body held a moment first (hold_request_body), for either forwarder.
  net::awaitable<Next> hold_then_forward(Http1Exchange& ex) {
    const error_code hold_ec = co_await hold_request_body(ex);
    if (!held(ex, hold_ec)) co_return co_await fail(ex);
    co_return co_await forward_upstream(ex);
  }

  net::awaitable<Next> forward_upstream(Http1Exchange& ex) {
    if (ex.endpoint->http2) return Http2UpstreamForward<Session>::forward(*this, ex);
    return Http1UpstreamForward<Session>::forward(*this, ex);
  }

  net::awaitable<error_code> continue_then_hold(Http1Exchange& ex) {
    if (!co_await send_continue(ex)) co_return net::error::connection_reset;
    // No temporaries in a co_await expression: GCC 12 may destroy them twice.
    const ChunkCheckedStream<Client> body = request_body_stream();
    const error_code ec = co_await hold_request_body_bytes(
        *request_, body, client_buffer_, relay_buffer(), held_, guard_, hold_deadline());
    co_return ec;
  }
  Clock::time_point hold_deadline() const {
    return Clock::now() + std::min(kHoldWait, config_->timeouts.client_idle);
  }

  // Answers `Expect: 100-continue` (HTTP/1.1 clients only) once, just before reading the body.
  static bool needs_continue(const Http1Exchange& ex) noexcept {
    return ex.expects_continue && ex.version >= 11 && !ex.continue_sent;
  }
  net::awaitable<bool> send_continue(Http1Exchange& ex) {
    ex.continue_sent = true;
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    arm(config_->timeouts.client_idle);
    auto [ec, n] = co_await net::async_write(client_, net::buffer(kContinue), as_values);
    co_return !ec;
  }

  // --- the proxy's own answers, and the end of the connection ---------------------------------

  // The proxy's own answer; the connection stays open only when the request was read whole.
  net::awaitable<Next> respond_error(Http1Exchange& ex, http::status status) {
    ex.status = static_cast<unsigned>(status);
    if (ex.outcome == Outcome::answered) ex.outcome = Outcome::refused;  // else: why it failed
    upstream_.discard();
    KeepAliveFacts facts = keep_alive_facts(ex);
    facts.own_answer = true;
    facts.refusal = is_refusal(status);
    const bool keep_alive = keep_client_alive(facts);
    auto response = make_error_response(status, ex.version >= 11 ? 11 : 10, keep_alive);
    arm(config_->timeouts.client_idle);
    auto [ec, n] = co_await http::async_write(client_, response, as_values);
    ex.finished_at = Clock::now();
    ex.bytes_sent += n;
    if (ec) co_return Next::close;
    if (keep_alive) co_return Next::keep_alive;
    co_await close_after_answer();
    co_return Next::close;
  }

  // Ends an idle keep-alive connection of a draining worker: FIN first, then what the client still
  // sends is read and dropped until it closes too or a moment passed, so that no unread byte turns
  // the close into a reset. A request that crossed the FIN gets no answer, and its client sees the
  // connection closed before any byte of one: HTTP lets it send the request again elsewhere.
  net::awaitable<void> close_idle() {
    handle_.set_idle(false);
    handle_.arm(worker_.deadlines, Clock::now() + kIdleLinger);  // a close_notify may not go out
    co_await end_sending(client_);
    co_await linger(kIdleLinger);
  }

  // Reads and drops what the client sends, for `time` at most, then closes.
  net::awaitable<void> linger(Duration time) {
    handle_.arm(worker_.deadlines, Clock::now() + time);
    for (std::size_t dropped = 0; dropped < kLingerBytes;) {
      auto [ec, n] = co_await client_.async_read_some(net::buffer(relay_buffer()), as_values);
      if (ec) break;
      dropped += n;
    }
    error_code ignored;
    lowest_layer(client_).close(ignored);
  }

  WorkerContext& worker_;
  StatsShard& stats_;
  Client& client_;
  ClientReads<Client> client_reads_{client_};  // its reads of requests (edge_read.h)
  ConnectionHandle& handle_;
  const std::string& client_ip_;
  const Clock::time_point& accepted_at_;
  Clock::time_point& idle_deadline_;
  bool& first_request_;
  Clock::time_point head_deadline_{};  // the current request head must be whole by then
  HeadLimits head_limits_;             // of the current request
  BodyFraming framing_;                // of the current request

  SnapshotLease snapshot_;          // in force for the current request
  const Config* config_ = nullptr;  // snapshot_'s config

  // Request-scoped memory: a parked connection has none (its session, and this, is gone).
  IoBuffer client_buffer_;
  std::string head_out_;  // the head being sent: the upstream's request, or the client's response
  HeapOptional<std::array<char, kRelayChunk>> relay_;
  std::size_t held_ = 0;  // body bytes at the start of relay_ not yet sent upstream
  std::optional<RequestParser> request_;
  ChunkLines request_lines_;  // of the current request's chunked body
  SessionGuard guard_;        // declared before the leg, which uses it to its end
  Http1UpstreamLeg<SessionGuard> upstream_;
};

template <typename Client>
void spawn(std::unique_ptr<Connection<Client>> connection);

// The heap, as an allocator Asio does not replace with its recycling one (as it does
// std::allocator): memory of exactly the size asked for.
template <typename T>
struct ExactAllocator {
  using value_type = T;
  ExactAllocator() = default;
  template <typename U>
  explicit ExactAllocator(const ExactAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>().deallocate(p, n); }
  bool operator==(const ExactAllocator&) const noexcept = default;
};

// Waits for the next request of a parked connection without a coroutine: the wait's handler owns
// the connection, and a session starts again when bytes arrive. The idle deadline stays armed;
// its expiry, a drain or an abort cancels the wait, and the connection closes. A TLS connection
// gives back its record buffers while it waits (what it already decrypted is served at once).
template <typename Client>
void park(std::unique_ptr<Connection<Client>> connection) {
  Connection<Client>& parked = *connection;
  if (has_buffered_input(parked.client)) return spawn(std::move(connection));
  if constexpr (std::is_same_v<Client, TlsStream>) parked.client.release_buffers();
  parked.handle.set_idle(true);
  parked.handle.arm(parked.worker.deadlines, parked.idle_deadline);
  parked.worker.parked.fetch_add(1, std::memory_order_relaxed);
  // The wait's memory comes from the heap at its size: Asio's recycled blocks are as large as the
  // largest operation that used them, and a parked wait lasts.
  lowest_layer(parked.client)
      .async_wait(tcp::socket::wait_read,
                  net::bind_allocator(ExactAllocator<void>(), [connection = std::move(connection)](
                                                                  const error_code& ec) mutable {
                    connection->handle.set_idle(false);
                    connection->worker.parked.fetch_sub(1, std::memory_order_relaxed);
                    // The idle deadline passed, or the connection was aborted: it closes. A drain's
                    // cancel starts a session, which serves a request that arrived or ends the
                    // connection cleanly (Session::close_idle).
                    const bool drained = connection->worker.closing_idle &&
                                         !connection->handle.expired() &&
                                         lowest_layer(connection->client).is_open();
                    if (ec && !drained) return;
                    connection->handle.disarm();
                    spawn(std::move(connection));
                  }));
}

template <typename Client>
net::awaitable<void> serve(std::unique_ptr<Connection<Client>> connection) {
  Handoff handoff = Handoff::close;
  std::string received;
  {
    Session<Client> session(*connection);
    handoff = co_await session.run();
    if (handoff == Handoff::http2) received = session.received();
  }
  if (handoff == Handoff::park) park(std::move(connection));
  if (handoff == Handoff::http2) co_await serve_http2(*connection, std::move(received));
}

// A TLS connection's handshake, within timeouts.client_header of its accept; then its requests.
// Failures are counted by reason, never logged one by one (a scanner would fill the log).
net::awaitable<void> handshake_and_serve(std::unique_ptr<Connection<TlsStream>> connection) {
  const Config& config = connection->worker.config_of(connection->worker.snapshots.get());
  connection->handle.arm(connection->worker.deadlines,
                         connection->accepted_at + config.timeouts.client_header);
  auto [ec] = co_await connection->client.async_handshake(as_values);
  const bool expired = connection->handle.expired();
  connection->handle.disarm();
  if (ec) {
    connection->stats.tls_handshake_failed(expired ? HandshakeFailure::timeout
                                                   : classify_handshake_failure(ec));
    co_return;
  }
  connection->stats.tls_handshake_done(connection->client.resumed());
  if (connection->client.alpn() == "h2") {
    co_await serve_http2(*connection, {});
  } else {
    co_await serve(std::move(connection));
  }
}

template <typename Client>
void spawn(std::unique_ptr<Connection<Client>> connection) {
  const auto executor = connection->client.get_executor();
  Logger& log = connection->worker.log;
  net::co_spawn(executor, serve(std::move(connection)),
                [&log](std::exception_ptr failure) { log_coroutine_failure(log, failure); });
}

}  // namespace

void start_connection(tcp::socket client, ConnectionTicket ticket, WorkerContext& worker) {
  spawn(std::make_unique<Connection<tcp::socket>>(std::move(client), std::move(ticket), worker));
}

void start_tls_connection(tcp::socket client, ConnectionTicket ticket, WorkerContext& worker) {
  auto context = worker.snapshots.get().tls;
  if (!context) return;  // no TLS listener in force: the connection closes
  auto connection = std::make_unique<Connection<TlsStream>>(
      TlsStream::server(std::move(client), std::move(context)), std::move(ticket), worker);
  const auto executor = connection->client.get_executor();
  Logger& log = worker.log;
  net::co_spawn(executor, handshake_and_serve(std::move(connection)),
                [&log](std::exception_ptr failure) { log_coroutine_failure(log, failure); });
}

}  // namespace bgp
