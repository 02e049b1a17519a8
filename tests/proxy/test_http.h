// Test helpers over real loopback sockets: a small HTTP/1.1 backend the test controls, and a
// blocking client whose every operation is bounded in time (a hung proxy fails a test, never
// hangs it). Reusable by the integration tests.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace bgp::testing {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// A one-shot signal between a test and a backend handler (e.g. "answer now").
class Gate {
 public:
  void open();
  // True once open; false when `limit` passed first.
  bool wait(std::chrono::milliseconds limit = 10s) const;

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable opened_;
  bool open_ = false;
};

// One request as the backend received it, and what the backend does about it.
struct BackendExchange {
  Request request;
  std::size_t connection = 0;               // which accepted connection (0-based)
  std::size_t index_on_connection = 0;      // 0 for a connection's first request
  Response response{http::status::ok, 11};  // body "ok" unless the handler changes it
  // When set, called instead of writing `response` (send garbage, close abruptly, ...).
  std::function<void(tcp::socket&)> raw;
  // When set, called after `response` was written (e.g. a tunnel after a 101).
  std::function<void(tcp::socket&)> after;
};
using BackendHandler = std::function<void(BackendExchange&)>;

// An HTTP/1.1 server on 127.0.0.1 (any free port) with keep-alive, a thread per connection.
// The response gets a Content-Length unless the handler made it chunked or set one.
class TestBackend {
 public:
  explicit TestBackend(BackendHandler handler = {});
  ~TestBackend();
  TestBackend(const TestBackend&) = delete;
  TestBackend& operator=(const TestBackend&) = delete;

  tcp::endpoint endpoint() const { return endpoint_; }
  std::uint16_t port() const { return endpoint_.port(); }

  std::size_t connections() const;  // accepted so far
  std::size_t request_count() const;
  std::vector<Request> requests() const;  // as received, in order
  // Waits (bounded) until at least `n` requests arrived.
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds limit = 5s) const;

  void stop();  // closes the listener and every connection, joins the threads

 private:
  void accept_loop();
  void serve(std::shared_ptr<tcp::socket> socket, std::size_t connection);

  BackendHandler handler_;
  net::io_context io_;
  tcp::acceptor acceptor_;
  tcp::endpoint endpoint_;
  mutable std::mutex mutex_;
  mutable std::condition_variable arrived_;
  std::vector<Request> requests_;
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::vector<std::thread> threads_;
  std::thread acceptor_thread_;
  bool stopped_ = false;
};

// A client on one connection; every call returns within `limit`.
class TestClient {
 public:
  explicit TestClient(const tcp::endpoint& server, std::chrono::milliseconds limit = 5s);

  bool connected() const { return connected_; }
  bool send(std::string_view bytes);
  bool send(Request request);  // Content-Length or chunked framing as the request says
  // The next response, or nullopt when the connection closed or nothing came within the limit.
  // `head_request` tells the parser that no body follows.
  std::optional<Response> read_response(bool head_request = false);
  // Whatever bytes arrive next (at least one), "" on close or timeout.
  std::string read_some();
  // True when the peer closed the connection (EOF or reset) within the limit, discarding
  // anything still unread.
  bool wait_closed();
  void shutdown_send();

 private:
  template <typename Start>
  boost::system::error_code run(Start start);

  net::io_context io_;
  tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::chrono::milliseconds limit_;
  bool connected_ = false;
};

// A request with Host set and a Content-Length matching `body`.
Request make_request(http::verb method, std::string_view target, std::string body = {});

// One request on a fresh connection.
std::optional<Response> fetch(const tcp::endpoint& server, Request request);

// A loopback port where nothing listens (connections are refused).
tcp::endpoint dead_endpoint();

// The value of `name` in a message's fields, "" when absent.
template <typename Message>
std::string field(const Message& message, std::string_view name) {
  const auto it = message.find(name);
  return it == message.end() ? std::string{} : std::string(it->value());
}

}  // namespace bgp::testing
