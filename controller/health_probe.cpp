#include "controller/health_probe.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

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

asio::awaitable<bool> HealthProber::probe_once(const Endpoint& endpoint) {
  boost::beast::tcp_stream stream(io_);
  stream.expires_after(config_.timeout);  // one deadline for connect, write and read together
  auto [connect_ec] = co_await stream.async_connect(endpoint.resolved, use_nothrow);
  if (connect_ec) co_return false;
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
