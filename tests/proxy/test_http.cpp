#include "proxy/test_http.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace bgp::testing {

using boost::system::error_code;

void Gate::open() {
  {
    std::lock_guard lock(mutex_);
    open_ = true;
  }
  opened_.notify_all();
}

bool Gate::wait(std::chrono::milliseconds limit) const {
  std::unique_lock lock(mutex_);
  return opened_.wait_for(lock, limit, [&] { return open_; });
}

// --- TestBackend -----------------------------------------------------------------------------

TestBackend::TestBackend(BackendHandler handler)
    : handler_(std::move(handler)),
      acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
  endpoint_ = acceptor_.local_endpoint();
  acceptor_thread_ = std::thread([this] { accept_loop(); });
}

TestBackend::~TestBackend() {
  stop();
}

void TestBackend::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    // shutdown() wakes threads blocked in accept() and read() on Linux; close() would not.
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    for (auto& socket : sockets_) ::shutdown(socket->native_handle(), SHUT_RDWR);
  }
  acceptor_thread_.join();
  for (auto& thread : threads_) thread.join();  // no new threads once stopped_ is set
}

void TestBackend::accept_loop() {
  for (std::size_t connection = 0;; ++connection) {
    auto socket = std::make_shared<tcp::socket>(io_);
    error_code ec;
    acceptor_.accept(*socket, ec);
    std::lock_guard lock(mutex_);
    if (ec || stopped_) return;
    sockets_.push_back(socket);
    threads_.emplace_back([this, socket, connection] { serve(socket, connection); });
  }
}

void TestBackend::serve(std::shared_ptr<tcp::socket> socket, std::size_t connection) {
  boost::beast::flat_buffer buffer;
  for (std::size_t index = 0;; ++index) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    error_code ec;
    http::read(*socket, buffer, parser, ec);
    if (ec) break;
    BackendExchange exchange{parser.release(), connection, index, {}, {}, {}};
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(exchange.request);
    }
    arrived_.notify_all();
    exchange.response.body() = "ok";
    exchange.response.keep_alive(exchange.request.keep_alive());
    if (handler_) handler_(exchange);
    if (exchange.raw) {
      exchange.raw(*socket);
      break;
    }
    if (!exchange.response.chunked() && !exchange.response.has_content_length()) {
      exchange.response.prepare_payload();
    }
    http::write(*socket, exchange.response, ec);
    if (ec) break;
    if (exchange.after) {
      exchange.after(*socket);
      break;
    }
    if (!exchange.response.keep_alive()) break;
  }
  error_code ignored;
  socket->shutdown(tcp::socket::shutdown_both, ignored);
}

std::size_t TestBackend::connections() const {
  std::lock_guard lock(mutex_);
  return sockets_.size();
}

std::size_t TestBackend::request_count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

std::vector<Request> TestBackend::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

bool TestBackend::wait_for_requests(std::size_t n, std::chrono::milliseconds limit) const {
  std::unique_lock lock(mutex_);
  return arrived_.wait_for(lock, limit, [&] { return requests_.size() >= n; });
}

// --- TestClient ------------------------------------------------------------------------------

TestClient::TestClient(const tcp::endpoint& server, std::chrono::milliseconds limit)
    : socket_(io_), limit_(limit) {
  const auto ec = run([&](auto done) { socket_.async_connect(server, done); });
  connected_ = !ec;
}

// Runs one asynchronous operation on the client's own io_context for at most limit_.
template <typename Start>
error_code TestClient::run(Start start) {
  std::optional<error_code> result;
  start([&result](error_code ec, auto&&...) { result = ec; });
  io_.restart();
  io_.run_for(limit_);
  if (result) return *result;
  error_code ignored;
  socket_.cancel(ignored);
  io_.restart();
  io_.run();
  return net::error::timed_out;
}

bool TestClient::send(std::string_view bytes) {
  return !run([&](auto done) { net::async_write(socket_, net::buffer(bytes), done); });
}

bool TestClient::send(Request request) {
  return !run([&](auto done) { http::async_write(socket_, request, done); });
}

std::optional<Response> TestClient::read_response(bool head_request) {
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  parser.skip(head_request);
  if (run([&](auto done) { http::async_read(socket_, buffer_, parser, done); })) {
    return std::nullopt;
  }
  return parser.release();
}

std::string TestClient::read_some() {
  if (buffer_.size() == 0) {
    std::size_t received = 0;
    const auto ec = run([&](auto done) {
      socket_.async_read_some(buffer_.prepare(64 * 1024),
                              [&received, done](error_code ec, std::size_t n) mutable {
                                received = n;
                                done(ec, n);
                              });
    });
    if (ec) return {};
    buffer_.commit(received);
  }
  const auto data = buffer_.data();
  std::string bytes(static_cast<const char*>(data.data()), data.size());
  buffer_.consume(data.size());
  return bytes;
}

// With poll() rather than Asio: Asio's edge-triggered reactor does not report an EOF a second
// time (after Beast's parser consumed it, a new read would wait for an edge that never comes).
bool TestClient::wait_closed() {
  const auto deadline = std::chrono::steady_clock::now() + limit_;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd readable{socket_.native_handle(), POLLIN | POLLRDHUP, 0};
    if (left.count() <= 0 || ::poll(&readable, 1, static_cast<int>(left.count())) <= 0)
      return false;
    std::array<char, 4096> sink;
    const auto n = ::recv(socket_.native_handle(), sink.data(), sink.size(), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return true;
  }
}

void TestClient::shutdown_send() {
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

// --- free helpers ----------------------------------------------------------------------------

Request make_request(http::verb method, std::string_view target, std::string body) {
  Request request{method, target, 11};
  request.set(http::field::host, "test.local");
  request.body() = std::move(body);
  request.prepare_payload();
  return request;
}

std::optional<Response> fetch(const tcp::endpoint& server, Request request) {
  TestClient client(server);
  if (!client.connected() || !client.send(request)) return std::nullopt;
  return client.read_response(request.method() == http::verb::head);
}

tcp::endpoint dead_endpoint() {
  net::io_context io;
  tcp::acceptor probe(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  return probe.local_endpoint();  // closed when `probe` goes: nothing listens there any more
}

}  // namespace bgp::testing
