#include "integration/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "support/fd.h"

extern char** environ;

namespace bgt {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

using bgp::testing::Fd;
using bgp::testing::find_header;
using bgp::testing::headers_of;
using bgp::testing::send_all;

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::uint64_t kMaxBody = 256 * 1024 * 1024;

}  // namespace

// ---------------------------------------------------------------------------------------------
// Ports

std::uint16_t free_port() {
  const Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error("free_port: bind failed");
  }
  socklen_t length = sizeof address;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

// ---------------------------------------------------------------------------------------------
// HTTP client

std::string HttpResponse::header(std::string_view name) const {
  return find_header(headers, name);
}

json::value HttpResponse::json() const {
  error_code ec;
  json::value parsed = json::parse(body, ec);
  return ec ? json::value(nullptr) : parsed;
}

std::string ReceivedRequest::header(std::string_view name) const {
  return find_header(headers, name);
}

struct HttpClient::Impl {
  Impl(std::uint16_t p, Ms t) : port(p), timeout(t) {}

  std::uint16_t port;
  Ms timeout;
  asio::io_context io;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  // Runs the queued asynchronous operation to completion (the stream's deadline bounds it).
  void run() {
    io.restart();
    io.run();
  }

  error_code connect() {
    error_code result;
    stream.emplace(io);
    buffer.clear();
    stream->expires_after(timeout);
    stream->async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port),
                          [&](error_code ec) { result = ec; });
    run();
    error_code ignored;
    if (!result) stream->socket().set_option(tcp::no_delay(true), ignored);
    return result;
  }

  error_code exchange(http::request<http::string_body>& request, HttpResponse& out) {
    error_code result;
    stream->expires_after(timeout);
    http::async_write(*stream, request, [&](error_code ec, std::size_t) { result = ec; });
    run();
    if (result) return result;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBody);
    if (request.method() == http::verb::head) parser.skip(true);
    stream->expires_after(timeout);
    http::async_read(*stream, buffer, parser, [&](error_code ec, std::size_t) { result = ec; });
    run();
    if (result) return result;
    const auto& response = parser.get();
    out.status = response.result_int();
    out.headers = headers_of(response);
    out.body = response.body();
    out.keep_alive = response.keep_alive();
    return {};
  }
};

HttpClient::HttpClient(std::uint16_t port, Ms timeout)
    : impl_(std::make_unique<Impl>(port, timeout)) {}

HttpClient::~HttpClient() = default;

void HttpClient::close() {
  if (!impl_->stream) return;
  error_code ignored;
  impl_->stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
  impl_->stream.reset();
}

HttpResponse HttpClient::request(std::string_view method, std::string_view target,
                                 const Headers& headers, std::string_view body, bool keep_alive) {
  HttpResponse out;
  if (!impl_->stream) {
    if (const auto ec = impl_->connect()) {
      out.error = "connect: " + ec.message();
      impl_->stream.reset();
      return out;
    }
  }
  http::request<http::string_body> request;
  request.version(11);
  if (const auto verb = http::string_to_verb(method); verb != http::verb::unknown) {
    request.method(verb);
  } else {
    request.method_string(method);
  }
  request.target(target);
  request.set(http::field::host, fmt::format("127.0.0.1:{}", impl_->port));
  for (const auto& [name, value] : headers) request.insert(name, value);
  request.body() = std::string(body);
  const bool framed = !find_header(headers, "Content-Length").empty() ||
                      !find_header(headers, "Transfer-Encoding").empty();
  if (!framed && (!body.empty() || method == "POST" || method == "PUT")) request.prepare_payload();
  request.keep_alive(keep_alive);
  if (const auto ec = impl_->exchange(request, out)) {
    out = HttpResponse{};
    out.error = ec.message();
    close();
    return out;
  }
  if (!keep_alive || !out.keep_alive) close();
  return out;
}

HttpResponse http_request(std::uint16_t port, std::string_view method, std::string_view target,
                          const Headers& headers, std::string_view body, Ms timeout) {
  HttpClient client(port, timeout);
  return client.request(method, target, headers, body, false);
}

std::string raw_exchange(std::uint16_t port, std::string_view bytes, Ms timeout) {
  const Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return {};
  send_all(fd.get(), bytes);  // if the proxy closed early, what it answered is still read
  std::string out;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
    pollfd p{fd.get(), POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char chunk[4096];
    const auto n = ::recv(fd.get(), chunk, sizeof chunk, 0);
    if (n <= 0) break;
    out.append(chunk, static_cast<std::size_t>(n));
  }
  return out;
}

std::string color_of(const HttpResponse& response) {
  for (std::string_view color : {"blue", "green"}) {
    if (std::string_view(response.body).starts_with(color)) return std::string(color);
  }
  return {};
}

void Tally::add(const HttpResponse& response) {
  ++total;
  ++by_status[response.status];
  if (auto color = color_of(response); !color.empty()) ++by_color[color];
}

void Tally::merge(const Tally& other) {
  total += other.total;
  for (const auto& [color, n] : other.by_color) by_color[color] += n;
  for (const auto& [code, n] : other.by_status) by_status[code] += n;
}

int Tally::of(std::string_view color) const {
  const auto it = by_color.find(std::string(color));
  return it == by_color.end() ? 0 : it->second;
}

int Tally::status(unsigned code) const {
  const auto it = by_status.find(code);
  return it == by_status.end() ? 0 : it->second;
}

std::string Tally::to_string() const {
  std::string out = fmt::format("{} responses; colors:", total);
  for (const auto& [color, n] : by_color) out += fmt::format(" {}={}", color, n);
  out += "; statuses:";
  for (const auto& [code, n] : by_status) out += fmt::format(" {}={}", code, n);
  return out;
}

Tally send_requests(std::uint16_t port, int n, const Headers& headers, std::string_view target) {
  HttpClient client(port);
  Tally tally;
  for (int i = 0; i < n; ++i) tally.add(client.request("GET", target, headers));
  return tally;
}

// ---------------------------------------------------------------------------------------------
// Traffic loop

struct TrafficLoop::Impl {
  std::uint16_t port;
  Options options;
  Clock::time_point deadline;
  std::atomic<bool> stopping{false};
  std::atomic<int> started{0};
  mutable std::mutex mutex;
  Tally tally;
  std::vector<std::thread> threads;

  void connection() {
    HttpClient client(port, 5s);
    while (!stopping && Clock::now() < deadline && started++ < options.max_requests) {
      const HttpResponse response = client.request("GET", options.target, options.headers);
      {
        const std::lock_guard lock(mutex);
        tally.add(response);
      }
      // Pacing, not waiting for a condition; a failure backs off so a dead proxy is not spun on.
      if (options.pause.count() > 0) std::this_thread::sleep_for(options.pause);
      if (response.status == 0) std::this_thread::sleep_for(10ms);
    }
  }
};

TrafficLoop::TrafficLoop(std::uint16_t port, Options options) : impl_(std::make_unique<Impl>()) {
  impl_->port = port;
  impl_->options = std::move(options);
  impl_->deadline = Clock::now() + impl_->options.max_duration;
  for (int i = 0; i < impl_->options.connections; ++i) {
    impl_->threads.emplace_back([impl = impl_.get()] { impl->connection(); });
  }
}

TrafficLoop::~TrafficLoop() {
  stop();
}

void TrafficLoop::stop() {
  impl_->stopping = true;
  for (auto& thread : impl_->threads) {
    if (thread.joinable()) thread.join();
  }
}

Tally TrafficLoop::tally() const {
  const std::lock_guard lock(impl_->mutex);
  return impl_->tally;
}

// ---------------------------------------------------------------------------------------------
// Test backend

namespace {

struct Behaviour {
  unsigned status = 200;
  double error_rate = 0;
  Ms latency{0};
  std::chrono::microseconds noise_base{0}, noise_mean{0};  // latency base + Exp(mean) when set
  Ms slow_gap{0};
  int slow_pieces = 1;
  std::size_t padding = 0;
  bool echo = false;
  std::map<std::string, unsigned, std::less<>> path_status;
};

// What one answer looks like, decided under the lock when the request is complete.
struct Answer {
  unsigned status = 200;
  std::string body;
  std::string content_type = "text/plain";
  std::chrono::microseconds latency{0};
  Ms slow_gap{0};
  int slow_pieces = 1;
};

std::string echo_body(const std::string& backend, const http::request<http::string_body>& request) {
  json::array headers;
  for (const auto& field : request) {
    headers.push_back(json::array{field.name_string(), field.value()});
  }
  return json::serialize(json::object{
      {"backend", backend},
      {"method", request.method_string()},
      {"target", request.target()},
      {"version", fmt::format("{}.{}", request.version() / 10, request.version() % 10)},
      {"headers", std::move(headers)},
      {"body", request.body()},
  });
}

bool has_body(unsigned status, http::verb method) {
  return method != http::verb::head && status >= 200 && status != 204 && status != 304;
}

}  // namespace

struct TestBackend::Impl {
  // State first: coroutine frames destroyed together with `io` below still touch it.
  std::string name;
  mutable std::mutex mutex;
  Behaviour behaviour;
  std::deque<ReceivedRequest> received;
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> connections{0};
  std::uint64_t in_flight = 0;  // io thread only
  std::atomic<std::uint64_t> max_in_flight{0};
  std::atomic<std::uint64_t> incomplete{0};
  std::uint64_t counted_for_errors = 0;                    // under mutex
  std::mt19937_64 random{std::hash<std::string>{}(name)};  // under mutex, for noisy latency
  std::set<tcp::socket*> open;                             // io thread only
  std::uint16_t port = 0;

  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  tcp::acceptor acceptor{io};
  std::thread thread;

  void listen() {
    const tcp::endpoint endpoint(asio::ip::address_v4::loopback(), port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen();
    port = acceptor.local_endpoint().port();
    asio::co_spawn(io, accept_loop(), asio::detached);
  }

  // Runs `f` on the backend's thread and waits for it.
  template <typename F>
  void on_io(F f) {
    std::packaged_task<void()> task(std::move(f));
    auto done = task.get_future();
    asio::post(io, std::move(task));
    done.get();
  }

  asio::awaitable<void> accept_loop() {
    while (acceptor.is_open()) {
      auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
      if (ec) co_return;
      ++connections;
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      asio::co_spawn(io, serve(std::move(socket)), asio::detached);
    }
  }

  Answer answer(const http::request<http::string_body>& request) {
    const std::lock_guard lock(mutex);
    received.push_back({std::string(request.method_string()), std::string(request.target()),
                        fmt::format("{}.{}", request.version() / 10, request.version() % 10),
                        headers_of(request), request.body()});
    if (received.size() > kKeepReceived) received.pop_front();
    const Behaviour& b = behaviour;
    std::chrono::microseconds latency = b.latency;
    if (b.noise_mean.count() > 0) {
      std::exponential_distribution<double> tail(1.0 / static_cast<double>(b.noise_mean.count()));
      latency = b.noise_base + std::chrono::microseconds(static_cast<long>(tail(random)));
    }
    Answer a{b.status,
             b.echo ? echo_body(name, request) : name + std::string(b.padding, '.'),
             b.echo ? "application/json" : "text/plain",
             latency,
             b.slow_gap,
             b.slow_pieces};
    const std::string_view target = request.target();
    const auto path = target.substr(0, target.find('?'));
    if (const auto it = b.path_status.find(path); it != b.path_status.end()) {
      a.status = it->second;
    } else if (b.error_rate > 0) {
      // Bresenham: request i fails when floor(i * rate) steps up, so any run of 1/rate has one.
      const auto i = static_cast<double>(++counted_for_errors);
      if (std::floor(i * b.error_rate) > std::floor((i - 1) * b.error_rate)) a.status = 500;
    }
    return a;
  }

  std::string head_of(const Answer& a, bool keep_alive) const {
    std::string head =
        fmt::format("HTTP/1.1 {} {}\r\nX-Backend: {}\r\n", a.status,
                    std::string_view(http::obsolete_reason(http::int_to_status(a.status))), name);
    if (a.status >= 200 && a.status != 204 && a.status != 304) {
      head += fmt::format("Content-Type: {}\r\nContent-Length: {}\r\n", a.content_type,
                          a.body.size());  // also for HEAD: the size a GET would have
    }
    if (!keep_alive) head += "Connection: close\r\n";
    return head + "\r\n";
  }

  asio::awaitable<error_code> wait(asio::steady_timer& timer,
                                   std::chrono::steady_clock::duration delay) {
    timer.expires_after(delay);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    co_return ec;
  }

  asio::awaitable<error_code> respond(tcp::socket& socket, const Answer& a, http::verb method,
                                      bool keep_alive) {
    asio::steady_timer timer(io);
    if (a.latency.count() > 0) co_await wait(timer, a.latency);
    const bool body = has_body(a.status, method);
    const bool slow = body && a.slow_gap.count() > 0 && !a.body.empty();
    std::string head = head_of(a, keep_alive);
    if (body && !slow) head += a.body;  // one write
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(head), use_nothrow);
    if (ec || !slow) co_return ec;
    const std::size_t pieces = std::clamp<std::size_t>(a.slow_pieces, 1, a.body.size());
    const std::size_t size = (a.body.size() + pieces - 1) / pieces;
    for (std::size_t at = 0; at < a.body.size() && !ec; at += size) {
      co_await wait(timer, a.slow_gap);
      std::tie(ec, n) = co_await asio::async_write(
          socket, asio::buffer(a.body.data() + at, std::min(size, a.body.size() - at)),
          use_nothrow);
    }
    co_return ec;
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    open.insert(&socket);
    struct Unregister {
      std::set<tcp::socket*>& open;
      tcp::socket* socket;
      ~Unregister() { open.erase(socket); }
    } unregister{open, &socket};
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(64 * 1024);
      parser.body_limit(kMaxBody);
      auto [ec, n] = co_await http::async_read_header(socket, buffer, parser, use_nothrow);
      if (ec) {
        if (parser.got_some() || buffer.size() > 0) ++incomplete;
        break;
      }
      if (bgp::http1::iequals(parser.get()[http::field::expect], "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        std::tie(ec, n) = co_await asio::async_write(socket, asio::buffer(kContinue), use_nothrow);
      }
      if (!ec && !parser.is_done()) {
        std::tie(ec, n) = co_await http::async_read(socket, buffer, parser, use_nothrow);
      }
      if (ec) {
        ++incomplete;
        break;
      }
      ++requests;
      const auto& request = parser.get();
      const bool keep_alive = request.keep_alive();
      max_in_flight = std::max<std::uint64_t>(max_in_flight, ++in_flight);
      const error_code responded =
          co_await respond(socket, answer(request), request.method(), keep_alive);
      --in_flight;
      if (responded || !keep_alive) break;
    }
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    socket.close(ignored);
  }
};

TestBackend::TestBackend(std::string name) : impl_(std::make_unique<Impl>()) {
  impl_->name = std::move(name);
  impl_->listen();
  impl_->thread = std::thread([impl = impl_.get()] { impl->io.run(); });
}

TestBackend::~TestBackend() {
  impl_->io.stop();
  impl_->thread.join();
}

const std::string& TestBackend::name() const {
  return impl_->name;
}
std::uint16_t TestBackend::port() const {
  return impl_->port;
}
std::string TestBackend::address() const {
  return fmt::format("127.0.0.1:{}", impl_->port);
}

void TestBackend::set_status(unsigned status) {
  const std::lock_guard lock(impl_->mutex);
  impl_->behaviour.status = status;
}

void TestBackend::set_error_rate(double rate) {
  const std::lock_guard lock(impl_->mutex);
  impl_->behaviour.error_rate = rate;
  impl_->counted_for_errors = 0;
}

void TestBackend::set_noisy_latency(std::chrono::microseconds base,
                                    std::chrono::microseconds mean) {
  const std::lock_guard lock(impl_->mutex);
  impl_->behaviour.noise_base = base;
  impl_->behaviour.noise_mean = mean;
}

void TestBackend::set_latency(Ms latency) {
  const std::lock_guard lock(impl_->mutex);
  impl_->behaviour.latency = latency;
}

void TestBackend::set_slow(Ms gap, int pieces) {
  const std::lock_guard lock(impl_->mutex);
  impl_->behaviour.slow_gap = gap;
  impl_->behaviour.slow_pieces = pieces;
}

void TestBackend::set_body_padding(std::size_t bytes) {
  const std::lock_guard lock(impl_->mutex);
  impl_->behaviour.padding = bytes;
}

void TestBackend::set_echo(bool on) {
  const std::lock_guard lock(impl_->mutex);
  impl_->behaviour.echo = on;
}

void TestBackend::set_path_status(std::string path, unsigned status) {
  const std::lock_guard lock(impl_->mutex);
  if (status == 0) {
    impl_->behaviour.path_status.erase(path);
  } else {
    impl_->behaviour.path_status[std::move(path)] = status;
  }
}

std::uint64_t TestBackend::requests() const {
  return impl_->requests;
}
std::uint64_t TestBackend::connections() const {
  return impl_->connections;
}
std::uint64_t TestBackend::max_in_flight() const {
  return impl_->max_in_flight;
}
std::uint64_t TestBackend::incomplete_requests() const {
  return impl_->incomplete;
}

std::vector<ReceivedRequest> TestBackend::received() const {
  const std::lock_guard lock(impl_->mutex);
  return {impl_->received.begin(), impl_->received.end()};
}

void TestBackend::stop() {
  impl_->on_io([impl = impl_.get()] {
    error_code ignored;
    impl->acceptor.close(ignored);
    for (tcp::socket* socket : impl->open) socket->close(ignored);
  });
}

void TestBackend::restart() {
  impl_->on_io([impl = impl_.get()] {
    if (!impl->acceptor.is_open()) impl->listen();
  });
}

// ---------------------------------------------------------------------------------------------
// Processes

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "bgproxy-it-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::write(std::string_view name, std::string_view content) const {
  const std::string path = path_ + "/" + std::string(name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  return path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

namespace {

// fork + exec with the given standard streams; the child dies with the test process.
pid_t spawn(const std::vector<std::string>& argv, int in_fd, int out_fd, int err_fd,
            const std::vector<std::string>& extra_env) {
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  for (const auto& entry : extra_env) env.push_back(const_cast<char*>(entry.c_str()));
  for (char** entry = environ; *entry != nullptr; ++entry) env.push_back(*entry);
  env.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  // The child: only async-signal-safe calls until exec.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);
  const int null_fd = ::open("/dev/null", O_RDONLY);
  ::dup2(in_fd >= 0 ? in_fd : null_fd, 0);
  ::dup2(out_fd, 1);
  ::dup2(err_fd, 2);
  // Test sockets (backends, clients) must not leak into the child: a stopped backend must be dead.
  if (::close_range(3, ~0U, 0) != 0) {
    for (int fd = 3; fd < 4096; ++fd) ::close(fd);
  }
  ::execve(args[0], args.data(), env.data());
  ::_exit(127);
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::optional<int> wait_for(pid_t pid, Ms timeout) {
  std::optional<int> code;
  wait_until(
      [&] {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) code = decode_status(status);
        return code.has_value();
      },
      timeout, 5ms);
  return code;
}

// Reads both pipes to EOF (or the deadline).
void drain_pipes(int out_fd, int err_fd, std::string& out, std::string& err,
                 Clock::time_point deadline) {
  std::array<pollfd, 2> fds{pollfd{out_fd, POLLIN, 0}, pollfd{err_fd, POLLIN, 0}};
  std::array<std::string*, 2> sinks{&out, &err};
  int open_count = 2;
  while (open_count > 0) {
    const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
    if (left <= 0 || ::poll(fds.data(), fds.size(), static_cast<int>(left)) <= 0) return;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char chunk[4096];
      const auto n = ::read(fds[i].fd, chunk, sizeof chunk);
      if (n > 0) {
        sinks[i]->append(chunk, static_cast<std::size_t>(n));
      } else {
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& log_path) {
  const Fd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (log.get() < 0) throw std::runtime_error("cannot open " + log_path);
  pid_ = spawn(argv, -1, log.get(), log.get(), {});
  if (pid_ < 0) throw std::runtime_error("fork failed");
}

ChildProcess::~ChildProcess() {
  terminate();
}

bool ChildProcess::running() {
  return !wait_exit(0ms).has_value();
}

void ChildProcess::signal(int signal) {
  if (running()) ::kill(pid_, signal);
}

std::optional<int> ChildProcess::wait_exit(Ms timeout) {
  if (!exit_code_) exit_code_ = wait_for(pid_, timeout);
  return exit_code_;
}

std::optional<int> ChildProcess::terminate(Ms grace) {
  signal(SIGTERM);
  if (!wait_exit(grace)) {
    signal(SIGKILL);
    wait_exit(10s);
  }
  return exit_code_;
}

ProcessResult run_process(const std::vector<std::string>& argv, Ms timeout,
                          std::string_view stdin_data, const std::vector<std::string>& extra_env) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2 failed");
  }
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]), err_read(err_pipe[0]), err_write(err_pipe[1]);
  Fd in(::memfd_create("stdin", MFD_CLOEXEC));
  if (::write(in.get(), stdin_data.data(), stdin_data.size()) !=
      static_cast<ssize_t>(stdin_data.size())) {
    throw std::runtime_error("cannot write the child's stdin");
  }
  ::lseek(in.get(), 0, SEEK_SET);
  const auto deadline = Clock::now() + timeout;
  const pid_t pid = spawn(argv, in.get(), out_write.get(), err_write.get(), extra_env);
  out_write.reset();
  err_write.reset();
  ProcessResult result;
  drain_pipes(out_read.get(), err_read.get(), result.out, result.err, deadline);
  const auto left = std::max(std::chrono::duration_cast<Ms>(deadline - Clock::now()), Ms{0});
  result.exit_code = wait_for(pid, left);
  if (!result.exit_code) {
    ::kill(pid, SIGKILL);
    wait_for(pid, 10s);
  }
  return result;
}

ProcessResult run_cli(const std::vector<std::string>& args, Ms timeout,
                      const std::vector<std::string>& extra_env) {
  std::vector<std::string> argv{BGPROXY_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, timeout, {}, extra_env);
}

// ---------------------------------------------------------------------------------------------
// bgproxy

namespace {

std::string indent(std::string_view block) {
  std::string out;
  std::istringstream lines{std::string(block)};
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) out += "  " + line + "\n";
  }
  return out;
}

std::string section(std::string_view key, std::string_view body) {
  return body.empty() ? std::string() : fmt::format("{}:\n{}", key, indent(body));
}

std::string endpoint_list(const std::vector<std::string>& endpoints) {
  std::string out = "[";
  for (std::size_t i = 0; i < endpoints.size(); ++i) out += (i ? ", " : "") + endpoints[i];
  return out + "]";
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

std::string tail(const std::string& text, std::size_t max_bytes) {
  return text.size() <= max_bytes ? text : "...\n" + text.substr(text.size() - max_bytes);
}

}  // namespace

ScriptServer::ScriptServer(std::string_view script, std::vector<std::string> args)
    : port_(free_port()) {
  std::vector<std::string> argv{"/usr/bin/python3",
                                fmt::format("{}/tests/integration/{}", BGPROXY_SOURCE_DIR, script)};
  for (auto& arg : args) {
    replace_all(arg, "$PORT", std::to_string(port_));
    argv.push_back(std::move(arg));
  }
  const std::string log = dir_.path() + "/server.log";
  process_.emplace(argv, log);
  EXPECT_TRUE(
      wait_until([&] { return read_file(log).find("listening") != std::string::npos; }, 20s))
      << script << " did not start: " << read_file(log);
}

std::string ScriptServer::address() const {
  return fmt::format("127.0.0.1:{}", port_);
}

std::string make_config(const ConfigSpec& spec) {
  std::string out = "listen: 127.0.0.1:$PROXY_PORT\nworkers: 2\n";
  out += section("admin", "listen: 127.0.0.1:$ADMIN_PORT\n" + spec.admin);
  out += section("backends",
                 fmt::format("blue:\n  endpoints: {}\n{}green:\n  endpoints: {}\n{}{}",
                             endpoint_list(spec.blue), indent(spec.color_keys),
                             endpoint_list(spec.green), indent(spec.color_keys), spec.backends));
  out += section("rollout", spec.rollout);
  out += section("routing", spec.routing);
  out += section("timeouts", spec.timeouts);
  return out + spec.top + (spec.top.ends_with('\n') || spec.top.empty() ? "" : "\n");
}

std::string with_ports(std::string config_yaml, std::uint16_t proxy_port,
                       std::uint16_t admin_port) {
  replace_all(config_yaml, "$PROXY_PORT", std::to_string(proxy_port ? proxy_port : free_port()));
  replace_all(config_yaml, "$ADMIN_PORT", std::to_string(admin_port ? admin_port : free_port()));
  return config_yaml;
}

Bgproxy::Bgproxy(std::string config_yaml)
    : config_template_(std::move(config_yaml)), config_path_(dir_.path() + "/bgproxy.yaml") {
  pick_ports();
  write_config();
}

namespace {

// A crash of bgproxy fails the test that ran it, whatever it asserted: a test that only looks at
// answers would not notice the process dying by a signal after its last one.
void fail_on_crash(std::optional<int> exit_code) {
  if (!exit_code || *exit_code <= 128) return;
  const int signal = *exit_code - 128;
  if (signal == SIGSEGV || signal == SIGBUS || signal == SIGABRT || signal == SIGFPE ||
      signal == SIGILL) {
    ADD_FAILURE() << "bgproxy died by signal " << signal << " (" << ::strsignal(signal) << ")";
  }
}

}  // namespace

Bgproxy::~Bgproxy() {
  if (process_) fail_on_crash(process_->terminate());
  if (::testing::Test::HasFailure()) {
    std::cerr << "---- bgproxy log (" << log_path() << ") ----\n"
              << tail(log(), 16 * 1024) << "---- end of bgproxy log ----\n";
  }
}

void Bgproxy::pick_ports() {
  proxy_port_ = free_port();
  do {
    admin_port_ = free_port();
  } while (admin_port_ == proxy_port_);
}

void Bgproxy::write_config() {
  std::string text = config_template_;
  replace_all(text, "$PROXY_PORT", std::to_string(proxy_port_));
  replace_all(text, "$ADMIN_PORT", std::to_string(admin_port_));
  replace_all(text, "$DIR", dir_.path());
  dir_.write("bgproxy.yaml", text);
}

void Bgproxy::rewrite_config(std::string config_yaml) {
  config_template_ = std::move(config_yaml);
  write_config();
}

std::string Bgproxy::log_path() const {
  return dir_.path() + "/bgproxy.log";
}
std::string Bgproxy::log() const {
  return read_file(log_path());
}

bool Bgproxy::wait_log(std::string_view text, Ms timeout) const {
  return wait_until([&] { return log().find(text) != std::string::npos; }, timeout, 20ms);
}

std::string Bgproxy::admin_url() const {
  return fmt::format("http://127.0.0.1:{}", admin_port_);
}

void Bgproxy::launch() {
  if (process_) fail_on_crash(process_->terminate());  // a previous run: stopped and reaped first
  process_.reset();
  std::vector<std::string> argv = launcher_;  // e.g. prlimit, which execs the binary (same pid)
  for (std::string arg :
       {std::string(BGPROXY_BINARY), std::string("run"), std::string("-c"), config_path_}) {
    argv.push_back(std::move(arg));
  }
  process_ = std::make_unique<ChildProcess>(argv, log_path());
}

bool Bgproxy::running() {
  return process_ && process_->running();
}

pid_t Bgproxy::pid() const {
  return process_ ? process_->pid() : -1;
}

void Bgproxy::signal(int signal) {
  if (process_) process_->signal(signal);
}

std::optional<int> Bgproxy::wait_exit(Ms timeout) {
  return process_ ? process_->wait_exit(timeout) : std::nullopt;
}

bool Bgproxy::wait_healthy(Ms timeout) {
  bool healthy = false;
  wait_until(
      [&] {
        healthy = http_request(admin_port_, "GET", "/healthz", {}, {}, 1s).status == 200;
        return healthy || !running();
      },
      timeout, 20ms);
  return healthy && running();
}

bool Bgproxy::start(Ms timeout) {
  const bool own_ports = config_template_.find("$PROXY_PORT") != std::string::npos ||
                         config_template_.find("$ADMIN_PORT") != std::string::npos;
  for (int attempt = 0; attempt < 3; ++attempt) {
    launch();
    if (wait_healthy(timeout)) return true;
    // Another process may have taken a port picked here: try others.
    if (running() || !own_ports || log().find("cannot listen") == std::string::npos) break;
    pick_ports();
    write_config();
  }
  ADD_FAILURE() << "bgproxy did not become healthy on admin port " << admin_port_ << "\n"
                << tail(log(), 16 * 1024);
  return false;
}

bool Bgproxy::restart(Ms timeout) {
  launch();
  if (wait_healthy(timeout)) return true;
  ADD_FAILURE() << "bgproxy did not come back after a restart\n" << tail(log(), 16 * 1024);
  return false;
}

HttpResponse Bgproxy::admin(std::string_view method, std::string_view path, std::string_view body,
                            Headers headers) const {
  if (!body.empty() && find_header(headers, "Content-Type").empty()) {
    headers.emplace_back("Content-Type", "application/json");
  }
  return http_request(admin_port_, method, path, headers, body);
}

json::value Bgproxy::status() const {
  const HttpResponse response = admin("GET", "/status");
  const json::value parsed = response.json();
  if (response.status != 200 || !parsed.is_object()) {
    ADD_FAILURE() << "GET /status: " << response.status << " " << response.error << " "
                  << response.body;
  }
  return parsed;
}

double number_at(const json::value& object, std::string_view key) {
  const auto* found = object.is_object() ? object.as_object().if_contains(key) : nullptr;
  return found && found->is_number() ? found->to_number<double>() : std::nan("");
}

std::string string_at(const json::value& object, std::string_view key) {
  const auto* found = object.is_object() ? object.as_object().if_contains(key) : nullptr;
  return found && found->is_string() ? std::string(found->as_string()) : std::string();
}

bool in_state(const json::value& status, std::string_view state) {
  return string_at(status, "state") == state;
}

bool start_and_drive_until_rolled_back(const Bgproxy& proxy, Ms timeout) {
  if (proxy.admin("POST", "/rollout/start").status != 200u) return false;
  TrafficLoop traffic(proxy.proxy_port(), {.connections = 2, .max_duration = timeout + 5s});
  return wait_until([&] { return in_state(proxy.status(), "rolled_back"); }, timeout);
}

std::string rollback_reason(const json::value& status) {
  const auto* last = status.is_object() ? status.as_object().if_contains("last_rollback") : nullptr;
  return last && last->is_object() ? string_at(*last, "reason") : std::string();
}

double weight_of(const json::value& status, std::string_view color) {
  const auto* weights = status.is_object() ? status.as_object().if_contains("weights") : nullptr;
  return weights ? number_at(*weights, color) : std::nan("");
}

double window_requests(const json::value& status, std::string_view color) {
  const auto* window = status.is_object() ? status.as_object().if_contains("window") : nullptr;
  const auto* of = window && window->is_object() ? window->as_object().if_contains(color) : nullptr;
  return of ? number_at(*of, "requests") : std::nan("");
}

double metric_sum(const std::string& exposition, std::string_view name,
                  const std::vector<std::string>& labels) {
  double sum = 0;
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    const std::string_view rest = std::string_view(line).substr(std::min(name.size(), line.size()));
    if (!line.starts_with(name) || !(rest.starts_with('{') || rest.starts_with(' '))) continue;
    const bool match = std::all_of(labels.begin(), labels.end(), [&](const std::string& label) {
      return line.find(label) != std::string::npos;
    });
    if (match) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

double wait_metric(const Bgproxy& proxy, std::string_view name,
                   const std::vector<std::string>& labels, double at_least, Ms timeout) {
  double sum = 0;
  wait_until(
      [&] {
        sum = metric_sum(proxy.admin("GET", "/metrics").body, name, labels);
        return sum >= at_least;
      },
      timeout, 50ms);
  return sum;
}

}  // namespace bgt
