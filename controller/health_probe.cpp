#include "controller/health_probe.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "proxy/tls/tls_stream.h"

namespace bgp {

namespace asio = boost::asio;
namespace http = boost::beast::http;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

HealthProber::HealthProber(asio::io_context& io, HealthCheckConfig config, Observer observer)
    : io_(io), config_(std::move(config)), observer_(std::move(observer)) {}

HealthProber::~HealthProber() {
  stop();
}

void HealthProber::start(const std::array<std::vector<Endpoint>, 2>& endpoints) {
  if (config_.path.empty()) return;
  for (Color color : kColors) {
    for (const Endpoint& endpoint : endpoints[index(color)]) {
      asio::co_spawn(io_, probe_loop(color, endpoint, stopped_), asio::detached);
    }
  }
}

void HealthProber::stop() {
  *stopped_ = true;
}

// `stopped` is shared so that a loop outliving a stopped prober notices and ends.
asio::awaitable<void> HealthProber::probe_loop(Color color, Endpoint endpoint,
                                               std::shared_ptr<bool> stopped) {
  asio::steady_timer timer(io_);
  while (!*stopped) {
    const bool success = co_await probe_once(endpoint);
    if (*stopped) break;
    observer_(color, endpoint.label, success);
    timer.expires_after(config_.interval);
    co_await timer.async_wait(use_nothrow);
  }
}

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

}  // namespace

asio::awaitable<bool> HealthProber::probe_once(const Endpoint& endpoint) {
  asio::ip::tcp::socket socket(io_);
  ProbeDeadline deadline(io_, config_.timeout, socket);
  auto [connect_ec] = co_await socket.async_connect(endpoint.resolved, use_nothrow);
  if (connect_ec) co_return false;
  if (!endpoint.tls) co_return co_await ask(socket, endpoint);
  // A color with TLS to its upstreams is probed over TLS, verified as its requests are.
  TlsStream stream = TlsStream::client(std::move(socket), endpoint.tls, endpoint.address);
  deadline.follow(stream.socket());
  auto [handshake_ec] = co_await stream.async_handshake(use_nothrow);
  if (handshake_ec) co_return false;
  co_return co_await ask(stream, endpoint);
}

template <typename Stream>
asio::awaitable<bool> HealthProber::ask(Stream& stream, const Endpoint& endpoint) {
  http::request<http::empty_body> request{http::verb::get, config_.path, 11};
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

}  // namespace bgp
