// `bgproxy demo`: a newcomer's first run. Two demo backends (blue, green) and a steady load run
// inside this process in front of a real bgproxy with a fast rollout; each verdict is printed as
// it happens, and the demo ends promoted (or rolled back when green is made bad).
#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

#include <fmt/core.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "app/process.h"

namespace bgp {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

struct DemoOptions {
  double green_error_rate = 0;
  Duration green_latency{0};
  Duration step_duration = 3s;
  unsigned requests_per_second = 300;
};

struct BackendBehaviour {
  std::string_view color;
  double error_rate = 0;
  Duration latency{0};
};

// A tiny keep-alive HTTP server that answers "hello from <color>", slowly or with 500s on demand.
asio::awaitable<void> serve_backend_connection(tcp::socket socket, BackendBehaviour behaviour) {
  boost::beast::tcp_stream stream(std::move(socket));
  boost::beast::flat_buffer buffer;
  std::minstd_rand random(std::random_device{}());
  std::uniform_real_distribution<double> unit(0, 1);
  asio::steady_timer delay(stream.get_executor());
  for (;;) {
    http::request<http::string_body> request;
    auto [ec, n] = co_await http::async_read(stream, buffer, request, use_nothrow);
    if (ec) co_return;
    if (behaviour.latency.count() > 0) {
      delay.expires_after(behaviour.latency);
      co_await delay.async_wait(use_nothrow);
    }
    const bool fail = unit(random) < behaviour.error_rate;
    http::response<http::string_body> response{
        fail ? http::status::internal_server_error : http::status::ok, request.version()};
    response.set(http::field::content_type, "text/plain");
    response.body() = fmt::format("{} from {}\n", fail ? "error" : "hello", behaviour.color);
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    auto [write_ec, m] = co_await http::async_write(stream, response, use_nothrow);
    if (write_ec || !response.keep_alive()) co_return;
  }
}

asio::awaitable<void> accept_backend(tcp::acceptor& acceptor, BackendBehaviour behaviour) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
    if (ec) co_return;
    asio::co_spawn(acceptor.get_executor(), serve_backend_connection(std::move(socket), behaviour),
                   asio::detached);
  }
}

// One client connection sending GET / at a fixed pace until `running` turns false.
asio::awaitable<void> load_connection(tcp::endpoint proxy, Duration interval,
                                      const std::atomic<bool>& running) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer pace(executor);
  while (running) {
    boost::beast::tcp_stream stream(executor);
    auto [connect_ec] = co_await stream.async_connect(proxy, use_nothrow);
    boost::beast::flat_buffer buffer;
    while (!connect_ec && running) {
      pace.expires_after(interval);
      http::request<http::empty_body> request{http::verb::get, "/", 11};
      request.set(http::field::host, "demo");
      auto [write_ec, n] = co_await http::async_write(stream, request, use_nothrow);
      http::response<http::string_body> response;
      auto [read_ec, m] = co_await http::async_read(stream, buffer, response, use_nothrow);
      if (write_ec || read_ec) break;
      co_await pace.async_wait(use_nothrow);
    }
    pace.expires_after(interval);
    co_await pace.async_wait(use_nothrow);
  }
}

std::optional<DemoOptions> parse_demo_options(std::span<char*> args) {
  DemoOptions options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (i + 1 >= args.size()) return std::nullopt;  // every option takes a value
    const std::string_view value = args[++i];
    if (arg == "--green-error-rate") {
      char* end = nullptr;
      options.green_error_rate = std::strtod(std::string(value).c_str(), &end);
      if (options.green_error_rate < 0 || options.green_error_rate > 1) return std::nullopt;
    } else if (arg == "--green-latency") {
      auto d = parse_duration(value);
      if (!d) return std::nullopt;
      options.green_latency = *d;
    } else if (arg == "--step-duration") {
      auto d = parse_duration(value);
      if (!d || d->count() <= 0) return std::nullopt;
      options.step_duration = *d;
    } else {
      return std::nullopt;
    }
  }
  return options;
}

Config demo_config(const DemoOptions& options, std::uint16_t blue_port, std::uint16_t green_port) {
  Config config;
  config.listen = {"127.0.0.1", 0};
  config.admin.listen = {"127.0.0.1", 0};
  config.workers = 1;
  config.backends.blue.endpoints = {{"127.0.0.1", blue_port}};
  config.backends.green.endpoints = {{"127.0.0.1", green_port}};
  config.rollout.step_duration = options.step_duration;
  config.rollout.check_interval = 500ms;
  config.rollout.min_requests = 40;
  config.rollout.auto_start = true;
  config.log.level = LogLevel::warn;  // the demo prints the verdicts itself
  return config;
}

// Prints each new history event, and stops the process once the rollout has ended.
class Narrator {
 public:
  Narrator(Process& process) : process_(process), timer_(process.control()) {}

  void watch() {
    timer_.expires_after(200ms);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      if (!report()) watch();
    });
  }

 private:
  // Returns true when the rollout is over.
  bool report() {
    const auto status = process_.controller().status().body.as_object();
    const auto& history = status.at("history").as_array();
    for (; printed_ < history.size(); ++printed_) {
      const auto& e = history[printed_].as_object();
      const auto& w = e.at("weights").as_object();
      fmt::print("  {:<8} blue {:>5}%  green {:>5}%  {}\n",
                 std::string_view(e.at("event").as_string()), w.at("blue").to_number<double>(),
                 w.at("green").to_number<double>(), std::string_view(e.at("detail").as_string()));
    }
    const std::string_view state = status.at("state").as_string();
    const bool promoted = state == "stable" && status.at("retained").is_object();
    if (state != "rolled_back" && !promoted) return false;
    if (promoted) {
      fmt::print(
          "\ndemo: green passed every step and is live; blue is kept for an instant "
          "rollback.\n      Make green bad to see a rollback: bgproxy demo "
          "--green-error-rate 0.1 (or --green-latency 300ms)\n");
    } else {
      const auto& rollback = status.at("last_rollback").as_object();
      fmt::print("\ndemo: green was rolled back ({}); blue kept the traffic.\n",
                 std::string_view(rollback.at("reason").as_string()));
    }
    std::fflush(stdout);
    process_.stop();
    return true;
  }

  Process& process_;
  asio::steady_timer timer_;
  std::size_t printed_ = 0;
};

}  // namespace

int demo_command(std::span<char*> args) {
  constexpr std::string_view kDemoUsage =
      "usage: bgproxy demo [--green-error-rate 0..1] [--green-latency 300ms] "
      "[--step-duration 3s]\n";
  if (asks_for_help(args)) {
    fmt::print("{}", kDemoUsage);
    return 0;
  }
  const auto options = parse_demo_options(args);
  if (!options) {
    fmt::print(stderr, "{}", kDemoUsage);
    return 2;
  }
  asio::io_context backends_io{1};
  tcp::acceptor blue(backends_io, {asio::ip::make_address("127.0.0.1"), 0});
  tcp::acceptor green(backends_io, {asio::ip::make_address("127.0.0.1"), 0});
  asio::co_spawn(backends_io, accept_backend(blue, {"blue", 0, Duration{0}}), asio::detached);
  asio::co_spawn(
      backends_io,
      accept_backend(green, {"green", options->green_error_rate, options->green_latency}),
      asio::detached);

  auto config = std::make_shared<const Config>(
      demo_config(*options, blue.local_endpoint().port(), green.local_endpoint().port()));
  Process process(config, std::nullopt);
  Narrator narrator(process);
  std::atomic<bool> load_running{true};
  std::thread backends_thread;

  const int code = process.run([&] {
    const auto proxy = process.server().local_endpoint();
    fmt::print(
        "demo: blue and green backends, bgproxy on {}:{} (admin http://127.0.0.1:{}), "
        "{} requests/s\n",
        proxy.address().to_string(), proxy.port(), process.admin().local_endpoint().port(),
        options->requests_per_second);
    fmt::print("demo: rollout to green, {} per step; green error rate {}, extra latency {}\n\n",
               format_duration(options->step_duration), options->green_error_rate,
               format_duration(options->green_latency));
    constexpr unsigned kConnections = 16;
    const auto interval = Duration(1000 * kConnections / options->requests_per_second);
    for (unsigned i = 0; i < kConnections; ++i) {
      asio::co_spawn(backends_io, load_connection(proxy, interval, load_running), asio::detached);
    }
    backends_thread = std::thread([&] { backends_io.run(); });
    narrator.watch();
  });
  load_running = false;
  backends_io.stop();
  if (backends_thread.joinable()) backends_thread.join();
  return code;
}

}  // namespace bgp
