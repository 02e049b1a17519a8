#include "controller/notifier.h"

#include <charconv>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>

#include "proxy/tls/tls_context.h"
#include "proxy/tls/tls_stream.h"

namespace bgp {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

namespace {

// One deadline over several operations on a socket: when it passes, what is pending fails, and so
// does what comes next (shutdown, not close: OpenSSL may still hold the descriptor). The timer's
// handler can run after the guard is gone, so it reaches the socket only while armed.
class SocketDeadline {
 public:
  SocketDeadline(tcp::socket& socket, std::chrono::steady_clock::time_point deadline)
      : timer_(socket.get_executor(), deadline) {
    timer_.async_wait([state = state_, socket = &socket](boost::system::error_code ec) {
      if (ec || !state->armed) return;
      state->expired = true;
      socket->cancel(ec);
      socket->shutdown(tcp::socket::shutdown_both, ec);
    });
  }
  ~SocketDeadline() { state_->armed = false; }  // then timer_'s destructor cancels the wait
  SocketDeadline(const SocketDeadline&) = delete;
  SocketDeadline& operator=(const SocketDeadline&) = delete;

  bool expired() const noexcept { return state_->expired; }

 private:
  struct State {
    bool armed = true;
    bool expired = false;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
  asio::steady_timer timer_;
};

http::request<http::string_body> make_request(const WebhookTarget& target,
                                              const std::string& body) {
  http::request<http::string_body> request{http::verb::post, target.target, 11};
  request.set(http::field::host, target.authority);
  request.set(http::field::content_type, "application/json");
  request.set(http::field::user_agent, "bgproxy");
  request.keep_alive(false);
  request.body() = body;
  request.prepare_payload();
  return request;
}

// Writes the request and reads the answer's status; 0 with `ec` set when none came. A body cut
// short after the status line still counts: the status is the verdict.
template <typename Stream>
asio::awaitable<unsigned> exchange(Stream& stream, const http::request<http::string_body>& request,
                                   boost::system::error_code& ec) {
  std::tie(ec, std::ignore) = co_await http::async_write(stream, request, use_nothrow);
  if (ec) co_return 0;
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  std::tie(ec, std::ignore) = co_await http::async_read(stream, buffer, parser, use_nothrow);
  if (ec && !parser.is_header_done()) co_return 0;
  ec = {};
  co_return parser.get().result_int();
}

}  // namespace

WebhookTarget parse_webhook_url(std::string_view url) {
  WebhookTarget out;
  out.tls = url.starts_with("https://");
  url.remove_prefix(std::string_view(out.tls ? "https://" : "http://").size());
  const auto slash = url.find('/');
  const auto authority = url.substr(0, slash);
  out.authority = std::string(authority);
  out.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  out.host = out.authority;
  out.port = out.tls ? 443 : 80;
  const auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    out.host = std::string(authority.substr(0, colon));
    const auto port = authority.substr(colon + 1);
    std::from_chars(port.data(), port.data() + port.size(), out.port);
  }
  if (out.host.starts_with('[')) out.host = out.host.substr(1, out.host.size() - 2);
  return out;
}

Notifier::Notifier(asio::io_context& io, Logger& log) : io_(io), log_(log) {}

Notifier::~Notifier() = default;

void Notifier::set_webhook(const NotifyConfig& notify) {
  url_ = notify.webhook;
  tls_.reset();
  tls_error_.clear();
  if (url_.empty()) return;
  target_ = parse_webhook_url(url_);
  if (!target_.tls) return;
  // The receiver's certificate is always verified: an event is never sent to an unverified peer.
  auto built = TlsClientContext::create(BackendTlsConfig{
      .enabled = true, .ca = notify.webhook_ca, .server_name = "", .verify = true});
  if (built.ok()) {
    tls_ = std::move(built.context);
  } else {
    tls_error_ = std::move(built.error);
    log_.error("webhook {}: {}", url_, tls_error_);
  }
}

void Notifier::post(boost::json::object event) {
  if (url_.empty()) return;
  if (queue_.size() >= kQueueLimit) {
    queue_.pop_front();
    ++failures_;  // an event lost to a full queue is as lost as one given up
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
    if (!co_await deliver(body)) ++failures_;
  }
  sending_ = false;
}

// Events go out in order: the next waits while this one is retried. A reason is logged once per
// event (again only when it changes), not at every attempt.
asio::awaitable<bool> Notifier::deliver(const std::string& body) {
  auto delay = std::chrono::duration_cast<std::chrono::steady_clock::duration>(kFirstRetry);
  std::string last_reason;
  for (int attempt = 1; attempt <= kAttempts && !url_.empty(); ++attempt) {
    std::string reason = co_await send(body);
    if (reason.empty()) co_return true;
    if (reason != last_reason) log_.warn("webhook {} failed: {}", url_, reason);
    last_reason = std::move(reason);
    if (attempt == kAttempts) break;
    asio::steady_timer timer(io_, delay);
    co_await timer.async_wait(use_nothrow);
    delay *= 2;
  }
  if (!url_.empty()) {
    log_.error("webhook {}: an event is lost after {} attempts ({})", url_, kAttempts, last_reason);
  }
  co_return false;
}

asio::awaitable<std::string> Notifier::send(const std::string& body) {
  // Copies: a reload may replace the webhook while this attempt runs.
  const WebhookTarget target = target_;
  const std::shared_ptr<const TlsClientContext> tls = tls_;
  if (target.tls && !tls) co_return tls_error_;

  tcp::resolver resolver(io_);
  const std::string port = std::to_string(target.port);
  auto [resolve_ec, results] = co_await resolver.async_resolve(target.host, port, use_nothrow);
  if (resolve_ec) co_return fmt::format("cannot resolve {}: {}", target.host, resolve_ec.message());

  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  const auto timed_out = fmt::format("no answer within {} s", kTimeout.count());
  tcp::socket socket(io_);
  boost::system::error_code ec;
  {
    const SocketDeadline guard(socket, deadline);
    std::tie(ec, std::ignore) = co_await asio::async_connect(socket, results, use_nothrow);
    if (ec && guard.expired()) co_return timed_out;
  }
  if (ec) co_return fmt::format("cannot connect to {}: {}", target.authority, ec.message());

  const auto request = make_request(target, body);
  unsigned status = 0;
  if (target.tls) {
    TlsStream stream = TlsStream::client(std::move(socket), tls, Address{target.host, target.port});
    const SocketDeadline guard(stream.socket(), deadline);
    std::tie(ec) = co_await stream.async_handshake(use_nothrow);
    if (ec && guard.expired()) co_return timed_out;
    if (ec) {
      co_return fmt::format("TLS handshake with {}: {}", target.authority,
                            stream.error_detail().empty() ? ec.message() : stream.error_detail());
    }
    status = co_await exchange(stream, request, ec);
    if (ec && guard.expired()) co_return timed_out;
    if (!ec) co_await stream.async_shutdown(use_nothrow);  // the answer is in: its outcome is moot
  } else {
    const SocketDeadline guard(socket, deadline);
    status = co_await exchange(socket, request, ec);
    if (ec && guard.expired()) co_return timed_out;
  }
  if (ec) co_return ec.message();
  if (status < 200 || status >= 300) co_return fmt::format("answered {}", status);
  co_return std::string();
}

}  // namespace bgp
