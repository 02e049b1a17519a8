#include "controller/notifier.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>

namespace bgp {

namespace asio = boost::asio;
namespace http = boost::beast::http;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

namespace {

struct WebhookUrl {
  std::string host, port, target;
  std::string authority;  // host[:port] as written: the Host header
};

// "http://host:port/path" (validated at config load) split into its parts.
WebhookUrl split_url(std::string_view url) {
  url.remove_prefix(std::string_view("http://").size());
  const auto slash = url.find('/');
  const auto authority = url.substr(0, slash);
  WebhookUrl out{std::string(authority), "80",
                 slash == std::string_view::npos ? "/" : std::string(url.substr(slash)),
                 std::string(authority)};
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    out.host = std::string(authority.substr(0, colon));
    out.port = std::string(authority.substr(colon + 1));
  }
  if (out.host.starts_with('[')) out.host = out.host.substr(1, out.host.size() - 2);
  return out;
}

}  // namespace

void Notifier::post(boost::json::object event) {
  if (url_.empty()) return;
  if (queue_.size() >= kQueueLimit) {
    queue_.pop_front();
    log_.warn("webhook queue full: dropped the oldest event");
  }
  queue_.push_back(boost::json::serialize(event));
  if (!sending_) {
    sending_ = true;
    asio::co_spawn(io_, drain_queue(), asio::detached);
  }
}

asio::awaitable<void> Notifier::drain_queue() {
  while (!queue_.empty() && !url_.empty()) {
    std::string body = std::move(queue_.front());
    queue_.pop_front();
    if (!co_await deliver(body)) {
      ++failures_;
      log_.error("webhook {}: an event is lost after {} attempts", url_, kAttempts);
    }
  }
  sending_ = false;
}

// Events go out in order: the next waits while this one is retried.
asio::awaitable<bool> Notifier::deliver(const std::string& body) {
  auto delay = std::chrono::duration_cast<std::chrono::steady_clock::duration>(kFirstRetry);
  for (int attempt = 1; attempt <= kAttempts && !url_.empty(); ++attempt) {
    if (co_await send(url_, body)) co_return true;
    if (attempt == kAttempts) break;
    asio::steady_timer timer(io_, delay);
    co_await timer.async_wait(use_nothrow);
    delay *= 2;
  }
  co_return false;
}

asio::awaitable<bool> Notifier::send(const std::string& url, const std::string& body) {
  const WebhookUrl parts = split_url(url);
  asio::ip::tcp::resolver resolver(io_);
  auto [resolve_ec, results] = co_await resolver.async_resolve(parts.host, parts.port, use_nothrow);
  boost::beast::tcp_stream stream(io_);
  stream.expires_after(kTimeout);
  boost::system::error_code ec = resolve_ec;
  if (!ec) std::tie(ec, std::ignore) = co_await stream.async_connect(results, use_nothrow);
  http::request<http::string_body> request{http::verb::post, parts.target, 11};
  request.set(http::field::host, parts.authority);
  request.set(http::field::content_type, "application/json");
  request.set(http::field::user_agent, "bgproxy");
  request.keep_alive(false);
  request.body() = body;
  request.prepare_payload();
  if (!ec) std::tie(ec, std::ignore) = co_await http::async_write(stream, request, use_nothrow);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  if (!ec)
    std::tie(ec, std::ignore) = co_await http::async_read(stream, buffer, response, use_nothrow);
  if (ec) {
    log_.warn("webhook {} failed: {}", url, ec.message());
    co_return false;
  }
  if (response.result_int() >= 300) {
    log_.warn("webhook {} answered {}", url, response.result_int());
    co_return false;
  }
  co_return true;
}

}  // namespace bgp
