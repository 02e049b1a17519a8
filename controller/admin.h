// The admin API (docs/admin-api.md) on its own listener, served on the control thread's io_context
// so that it calls the controller without locks.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "config/config.h"
#include "config/descriptors.h"
#include "config/log.h"
#include "controller/api.h"

namespace bgp {

class Controller;

using AdminRequest = boost::beast::http::request<boost::beast::http::string_body>;
using AdminResponse = boost::beast::http::response<boost::beast::http::string_body>;

// Routing, authentication and cross-site rules of the admin API, independent of sockets.
class AdminApi {
 public:
  AdminApi(Controller& controller, std::function<std::string()> render_metrics, Logger& log);

  void set_token(std::string token) { token_ = std::move(token); }
  void set_local_endpoint(boost::asio::ip::tcp::endpoint local) { local_endpoint_ = local; }
  // Awaited: in a fleet an operator call waits for its compare-and-swap in etcd.
  boost::asio::awaitable<AdminResponse> handle(const AdminRequest& request,
                                               const std::string& peer);

 private:
  boost::asio::awaitable<ApiResult> route(const AdminRequest& request);
  boost::asio::awaitable<ApiResult> mutate(const AdminRequest& request, std::string_view path);
  std::optional<ApiResult> refuse_mutation(const AdminRequest& request) const;

  Controller& controller_;
  std::function<std::string()> render_metrics_;
  Logger& log_;
  std::string token_;
  boost::asio::ip::tcp::endpoint local_endpoint_;  // the admin port's own origin
};

class AdminServer {
 public:
  AdminServer(boost::asio::io_context& io, AdminApi& api, Logger& log);

  // Binds admin.listen (throws std::runtime_error "cannot listen on admin ADDRESS: why" when it
  // cannot) and starts accepting.
  void start(const Address& listen);
  // admin.max_connections and admin.idle_timeout (at start and after a reload).
  void set_limits(std::uint64_t max_connections, Duration idle_timeout) noexcept {
    max_connections_ = max_connections;
    idle_timeout_ = idle_timeout;
  }
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> serve(boost::asio::ip::tcp::socket socket);
  void refuse(boost::asio::ip::tcp::socket& socket);

  boost::asio::io_context& io_;
  AdminApi& api_;
  Logger& log_;
  boost::asio::ip::tcp::acceptor acceptor_;
  // The admin port's share of the descriptors (docs/configuration.md, "Descriptors"): beyond it a
  // connection is closed at once, so idle admin connections cannot starve the data plane.
  std::uint64_t max_connections_ = 64;
  Duration idle_timeout_ = std::chrono::seconds(10);
  std::uint64_t open_ = 0;  // control thread only
  LimitNotice refused_;
};

// Constant-time comparison of a presented token with the configured one.
bool tokens_equal(std::string_view presented, std::string_view expected) noexcept;

}  // namespace bgp
