#include "controller/admin.h"
#include "controller/dashboard.h"

#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "controller/controller.h"
#include "proxy/http1/syntax.h"

namespace bgp {

namespace http = boost::beast::http;
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr std::size_t kMaxAdminBody = 64 * 1024;
constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

bool is_mutation_path(std::string_view path) {
  return path.starts_with("/rollout/") || path == "/weights";
}

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

bool is_json_content_type(std::string_view value) {
  const auto semicolon = value.find(';');
  auto media = value.substr(0, semicolon);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  return http1::iequals(media, "application/json");
}

// The origins a page served by the admin port itself would have; anything else is cross-site.
bool is_own_origin(std::string_view origin, const tcp::endpoint& local) {
  const auto port = std::to_string(local.port());
  const auto address = local.address();
  std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  if (origin == "http://" + host + ":" + port) return true;
  return address.is_loopback() && origin == "http://localhost:" + port;
}

// One plain sentence: the address and the system's reason, no library internals.
[[noreturn]] void throw_admin_listen_error(const Address& listen,
                                           const boost::system::error_code& ec) {
  throw std::runtime_error("cannot listen on admin " + listen.to_string() + ": " + ec.message());
}

}  // namespace

bool tokens_equal(std::string_view presented, std::string_view expected) noexcept {
  // Touches every byte of the expected token whatever the input, so timing reveals nothing.
  unsigned char diff = presented.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const unsigned char p = i < presented.size() ? presented[i] : 0;
    diff |= static_cast<unsigned char>(p ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

AdminApi::AdminApi(Controller& controller, std::function<std::string()> render_metrics, Logger& log)
    : controller_(controller), render_metrics_(std::move(render_metrics)), log_(log) {}

asio::awaitable<AdminResponse> AdminApi::handle(const AdminRequest& request,
                                                const std::string& peer) {
  const auto path = path_of(request.target());
  AdminResponse response;
  response.version(11);
  response.keep_alive(request.keep_alive());
  const bool read = request.method() == http::verb::get || request.method() == http::verb::head;
  if (read && path == "/") {
    // The live dashboard: nothing but this page and /status may be loaded by it.
    response.result(http::status::ok);
    response.set(http::field::content_type, "text/html; charset=utf-8");
    response.set("Content-Security-Policy",
                 "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                 "connect-src 'self'");
    response.set("X-Frame-Options", "DENY");
    response.set(http::field::cache_control, "no-store");
    response.body() = std::string(kDashboardPage);
  } else if (read && path == "/metrics") {
    response.result(http::status::ok);
    response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    response.body() = render_metrics_();
  } else {
    const ApiResult result = co_await route(request);
    response.result(result.status);
    response.set(http::field::content_type, "application/json");
    response.body() = boost::json::serialize(result.body);
    if (result.status == 405) {
      response.set(http::field::allow,
                   is_mutation_path(path) ? (path == "/weights" ? "PUT" : "POST") : "GET");
    }
    if (is_mutation_path(path)) {
      log_.info("audit: {} {} from {} -> {}", std::string_view(request.method_string()),
                std::string_view(request.target()), peer, result.status);
    }
  }
  response.prepare_payload();
  if (request.method() == http::verb::head) {  // the length a GET gets, and no body
    const auto length = response.body().size();
    response.body().clear();
    response.content_length(length);
  }
  co_return response;
}

asio::awaitable<ApiResult> AdminApi::route(const AdminRequest& request) {
  const auto path = path_of(request.target());
  const auto method = request.method();
  const bool read = method == http::verb::get || method == http::verb::head;
  if (path == "/healthz" || path == "/readyz" || path == "/status") {
    if (!read) co_return ApiResult::error(405, "method not allowed");
    if (path == "/healthz") co_return ApiResult::ok({{"status", "ok"}});
    if (path == "/readyz") {
      co_return controller_.ready()
          ? ApiResult::ok({{"status", "ready"}})
          : ApiResult::error(503, "not ready: " + controller_.not_ready_reason());
    }
    co_return controller_.status();
  }
  if (!is_mutation_path(path)) co_return ApiResult::error(404, "no such path");
  const auto expected = path == "/weights" ? http::verb::put : http::verb::post;
  if (method != expected) co_return ApiResult::error(405, "method not allowed");
  if (auto refusal = refuse_mutation(request)) co_return *refusal;
  co_return co_await mutate(request, path);
}

// Authentication and cross-site rules shared by every mutation.
std::optional<ApiResult> AdminApi::refuse_mutation(const AdminRequest& request) const {
  if (!token_.empty()) {
    const std::string_view auth = request[http::field::authorization];
    constexpr std::string_view kBearer = "Bearer ";
    if (!auth.starts_with(kBearer) || !tokens_equal(auth.substr(kBearer.size()), token_)) {
      return ApiResult::error(401, "missing or wrong bearer token");
    }
  }
  if (http1::iequals(request["Sec-Fetch-Site"], "cross-site")) {
    return ApiResult::error(403, "cross-site request refused");
  }
  if (const std::string_view origin = request[http::field::origin]; !origin.empty()) {
    if (!is_own_origin(origin, local_endpoint_)) {
      return ApiResult::error(403, "cross-origin request refused");
    }
  }
  if (!request.body().empty() && !is_json_content_type(request[http::field::content_type])) {
    return ApiResult::error(415, "Content-Type must be application/json");
  }
  return std::nullopt;
}

asio::awaitable<ApiResult> AdminApi::mutate(const AdminRequest& request, std::string_view path) {
  boost::json::object body;
  if (!request.body().empty()) {
    boost::system::error_code ec;
    auto parsed = boost::json::parse(request.body(), ec);
    if (ec || !parsed.is_object()) co_return ApiResult::error(400, "body must be a JSON object");
    body = std::move(parsed.as_object());
  }
  if (path == "/rollout/start") co_return co_await controller_.start_rollout(body);
  if (!body.empty() && path != "/weights") {
    co_return ApiResult::error(400, "this call takes no body");
  }
  if (path == "/rollout/pause") co_return co_await controller_.pause();
  if (path == "/rollout/resume") co_return co_await controller_.resume();
  if (path == "/rollout/promote") co_return co_await controller_.promote();
  if (path == "/rollout/rollback") co_return co_await controller_.rollback();
  if (path == "/weights") co_return co_await controller_.set_weights(body);
  co_return ApiResult::error(404, "no such path");
}

AdminServer::AdminServer(asio::io_context& io, AdminApi& api, Logger& log)
    : io_(io), api_(api), log_(log), acceptor_(io) {}

void AdminServer::start(const Address& listen) {
  boost::system::error_code ec;
  asio::ip::tcp::resolver resolver(io_);
  const auto results = resolver.resolve(listen.host, std::to_string(listen.port), ec);
  if (!ec && results.empty()) ec = asio::error::host_not_found;
  if (ec) throw_admin_listen_error(listen, ec);
  const auto endpoint = results.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    throw_admin_listen_error(listen, ec);
  }
  api_.set_local_endpoint(acceptor_.local_endpoint());
  asio::co_spawn(io_, accept_loop(), asio::detached);
}

void AdminServer::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> AdminServer::accept_loop() {
  while (acceptor_.is_open()) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_nothrow);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      log_.debug("admin: accept failed: {}", ec.message());
      continue;  // e.g. too many open files: keep serving the others
    }
    if (open_ >= max_connections_) {
      refuse(socket);
      continue;
    }
    asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
  }
}

void AdminServer::refuse(tcp::socket& socket) {
  boost::system::error_code ignored;
  socket.close(ignored);
  if (const auto refused = refused_.hit()) {
    log_.warn("admin: {} connection(s) refused: admin.max_connections ({}) are open", refused,
              max_connections_);
  }
}

asio::awaitable<void> AdminServer::serve(tcp::socket socket) {
  // Counted while the connection is open, however the coroutine ends.
  ++open_;
  struct Release {
    std::uint64_t& open;
    ~Release() { --open; }
  } release{open_};
  boost::system::error_code peer_ec;
  const auto peer = socket.remote_endpoint(peer_ec);
  const std::string peer_name = peer_ec ? "?" : peer.address().to_string();
  boost::beast::tcp_stream stream(std::move(socket));
  boost::beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(kMaxAdminBody);
    stream.expires_after(idle_timeout_);
    auto [read_ec, _] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    if (read_ec) {
      if (read_ec == http::error::body_limit || read_ec == http::error::header_limit) {
        AdminResponse too_large{http::status::payload_too_large, 11};
        too_large.set(http::field::content_type, "application/json");
        too_large.body() = R"({"error":"request too large"})";
        too_large.keep_alive(false);
        too_large.prepare_payload();
        co_await http::async_write(stream, too_large, use_nothrow);
      }
      break;
    }
    AdminResponse response = co_await api_.handle(parser.get(), peer_name);
    stream.expires_after(idle_timeout_);
    auto [write_ec, __] = co_await http::async_write(stream, response, use_nothrow);
    if (write_ec || !response.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

}  // namespace bgp
