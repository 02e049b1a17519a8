#include "controller/health_probe.h"

#include <array>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "controller/grpc_health.h"
#include "proxy/tls/tls_stream.h"

namespace bgp {

namespace asio = boost::asio;
namespace http = boost::beast::http;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

struct ProbeShared {
  asio::io_context& io;
  const HealthCheckConfig config;
  Logger& log;
  const HealthProber::Observer observer;
  bool stopped = false;
};

namespace {

// Cancels the probe's socket when the probe's timeout passes (connect, handshake, write and read
// together); forgets it when the probe ends first, even if the expiry is already queued.
class ProbeDeadline {
 public:
  ProbeDeadline(asio::io_context& io, Duration timeout, asio::ip::tcp::socket& socket)
      : timer_(io), target_(std::make_shared<asio::ip::tcp::socket*>(&socket)) {
    timer_.expires_after(timeout);
    timer_.async_wait([target = target_](const boost::system::error_code& ec) {
      if (ec || !*target) return;
      // Cancel what waits now, and shut the socket so that what comes next fails at once too
      // (not closed: OpenSSL may still hold its descriptor).
      boost::system::error_code ignored;
      (*target)->cancel(ignored);
      (*target)->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    });
  }
  ProbeDeadline(const ProbeDeadline&) = delete;
  ProbeDeadline& operator=(const ProbeDeadline&) = delete;
  ~ProbeDeadline() { *target_ = nullptr; }

  void follow(asio::ip::tcp::socket& socket) noexcept { *target_ = &socket; }  // it moved

 private:
  asio::steady_timer timer_;
  std::shared_ptr<asio::ip::tcp::socket*> target_;
};

// The probe's deadline cancels what waits on its socket: no other cancellation reaches a probe.
grpc_health::Verdict io_failure(std::string_view operation, const boost::system::error_code& ec) {
  if (ec == asio::error::operation_aborted) {
    return {false, "no answer within health_check.timeout"};
  }
  if (ec == asio::error::eof) return {false, "the endpoint closed the connection"};
  return {false, fmt::format("{}: {}", operation, ec.message())};
}

// Runs a gRPC health call to its verdict: writes what the codec has to send, reads what comes
// back, until the codec knows the answer or the connection fails.
template <typename Stream>
asio::awaitable<grpc_health::Verdict> run_call(Stream& stream, grpc_health::Call& call) {
  std::string output;
  std::array<char, 4096> input;
  while (!call.done()) {
    output.clear();
    call.take_output(output);
    if (call.done()) break;  // the connection ended: its GOAWAY need not go out
    if (!output.empty()) {
      auto [write_ec, written] =
          co_await asio::async_write(stream, asio::buffer(output), use_nothrow);
      if (write_ec) co_return io_failure("write", write_ec);
    }
    auto [read_ec, read] = co_await stream.async_read_some(asio::buffer(input), use_nothrow);
    if (read_ec) co_return io_failure("read", read_ec);
    call.receive({input.data(), read});
  }
  co_return call.verdict();
}

template <typename Stream>
asio::awaitable<bool> ask_http(const HealthCheckConfig& config, Stream& stream,
                               const Endpoint& endpoint) {
  http::request<http::empty_body> request{http::verb::get, config.path, 11};
  request.set(http::field::host, endpoint.label);
  request.set(http::field::user_agent, "bgproxy-health");
  request.keep_alive(false);
  auto [write_ec, written] = co_await http::async_write(stream, request, use_nothrow);
  if (write_ec) co_return false;
  boost::beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // the status line is the verdict; ignore the body
  auto [read_ec, read] = co_await http::async_read_header(stream, buffer, parser, use_nothrow);
  if (read_ec) co_return false;
  const unsigned status = parser.get().result_int();
  co_return status >= 200 && status < 400;
}

// Health/Check for health_check.grpc_service; a failure's reason is logged at debug level.
template <typename Stream>
asio::awaitable<bool> ask_grpc(const ProbeShared& shared, Stream& stream,
                               const Endpoint& endpoint) {
  grpc_health::Call call(endpoint.tls ? "https" : "http", endpoint.label,
                         shared.config.grpc_service);
  const grpc_health::Verdict verdict = co_await run_call(stream, call);
  if (!verdict.serving) {
    shared.log.debug("gRPC health check of {} failed: {}", endpoint.label, verdict.reason);
  }
  co_return verdict.serving;
}

// `GET health_check.path` over HTTP/2, for an endpoint its color speaks HTTP/2 to.
template <typename Stream>
asio::awaitable<bool> ask_http2(const ProbeShared& shared, Stream& stream,
                                const Endpoint& endpoint) {
  grpc_health::Call call(endpoint.tls ? "https" : "http", endpoint.label,
                         grpc_health::HttpGet{shared.config.path});
  const grpc_health::Verdict verdict = co_await run_call(stream, call);
  if (!verdict.serving) {
    shared.log.debug("health check of {} failed: {}", endpoint.label, verdict.reason);
  }
  co_return verdict.serving;
}

// Sends the probe on a connected stream and reads the verdict.
template <typename Stream>
asio::awaitable<bool> ask(const ProbeShared& shared, Stream& stream, const Endpoint& endpoint) {
  if (shared.config.type == HealthCheckType::grpc) {
    co_return co_await ask_grpc(shared, stream, endpoint);
  }
  if (endpoint.http2) co_return co_await ask_http2(shared, stream, endpoint);
  co_return co_await ask_http(shared.config, stream, endpoint);
}

asio::awaitable<bool> probe_once(const ProbeShared& shared, const Endpoint& endpoint) {
  asio::ip::tcp::socket socket(shared.io);
  ProbeDeadline deadline(shared.io, shared.config.timeout, socket);
  auto [connect_ec] = co_await socket.async_connect(endpoint.resolved, use_nothrow);
  if (connect_ec) co_return false;
  if (!endpoint.tls) co_return co_await ask(shared, socket, endpoint);
  // A color with TLS to its upstreams is probed over TLS, verified as its requests are.
  TlsStream stream = TlsStream::client(std::move(socket), endpoint.tls, endpoint.address);
  deadline.follow(stream.socket());
  auto [handshake_ec] = co_await stream.async_handshake(use_nothrow);
  if (handshake_ec) co_return false;
  // gRPC, and an h2 color, need HTTP/2, which a TLS endpoint agrees to by ALPN.
  if ((shared.config.type == HealthCheckType::grpc || endpoint.http2) && stream.alpn() != "h2") {
    shared.log.debug("health check of {} failed: TLS negotiated ALPN '{}', not h2", endpoint.label,
                     stream.alpn());
    co_return false;
  }
  co_return co_await ask(shared, stream, endpoint);
}

asio::awaitable<void> probe_loop(std::shared_ptr<ProbeShared> shared, Color color,
                                 Endpoint endpoint) {
  asio::steady_timer timer(shared->io);
  while (!shared->stopped) {
    const bool success = co_await probe_once(*shared, endpoint);
    if (shared->stopped) break;
    shared->observer(color, endpoint.label, success);
    timer.expires_after(shared->config.interval);
    co_await timer.async_wait(use_nothrow);
  }
}

}  // namespace

HealthProber::HealthProber(asio::io_context& io, HealthCheckConfig config, Logger& log,
                           Observer observer)
    : shared_(std::make_shared<ProbeShared>(io, std::move(config), log, std::move(observer))) {}

HealthProber::~HealthProber() {
  stop();
}

void HealthProber::start(const std::array<std::vector<Endpoint>, 2>& endpoints) {
  if (!shared_->config.enabled()) return;
  for (Color color : kColors) {
    for (const Endpoint& endpoint : endpoints[index(color)]) {
      asio::co_spawn(shared_->io, probe_loop(shared_, color, endpoint), asio::detached);
    }
  }
}

void HealthProber::stop() {
  shared_->stopped = true;
}

}  // namespace bgp
