// Signals on the real bgproxy (SPEC section 2): SIGHUP reloads the config file without dropping
// open connections and refuses an invalid file; SIGTERM drains (requests in flight finish, new
// connections are refused, idle keep-alive connections close) and exits 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <future>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>

#include "integration/harness.h"

namespace bgt {
namespace {

namespace http = boost::beast::http;

// One client connection that never reconnects behind the test's back (HttpClient does): a
// request on it fails once the proxy closed it.
class Conn {
 public:
  explicit Conn(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Conn() {
    if (fd_ >= 0) ::close(fd_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool connected() const { return fd_ >= 0; }

  // GET `target` with `headers` (raw lines, each ending in \r\n); nullopt when no whole response
  // came back within `timeout`.
  std::optional<http::response<http::string_body>> get(std::string_view target,
                                                       std::string_view headers = {},
                                                       Ms timeout = 5s) {
    const std::string request =
        "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(headers) + "\r\n";
    for (std::size_t sent = 0; sent < request.size();) {
      const auto n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return std::nullopt;
      sent += static_cast<std::size_t>(n);
    }
    http::response_parser<http::string_body> parser;
    parser.eager(true);
    const auto deadline = Clock::now() + timeout;
    while (!parser.is_done()) {
      if (!pending_.empty()) {
        boost::system::error_code ec;
        const auto used = parser.put(boost::asio::buffer(pending_), ec);
        pending_.erase(0, used);
        if (ec && ec != http::error::need_more) return std::nullopt;
        if (used > 0 && !ec) continue;
      }
      if (!fill(deadline)) return std::nullopt;
    }
    return parser.release();
  }

  // True when the peer closes the connection within `timeout`.
  bool closed_within(Ms timeout) {
    const auto deadline = Clock::now() + timeout;
    while (fill(deadline)) pending_.clear();
    return eof_;
  }

 private:
  bool fill(Clock::time_point deadline) {
    if (fd_ < 0 || eof_) return false;
    const auto left = std::chrono::duration_cast<Ms>(deadline - Clock::now()).count();
    pollfd p{fd_, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char chunk[16 * 1024];
    const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    pending_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_;
  bool eof_ = false;
  std::string pending_;
};

std::string backend_of(const std::optional<http::response<http::string_body>>& r) {
  return r ? std::string(r->at("X-Backend")) : "(no response)";
}

class ReloadDrainTest : public ::testing::Test {
 protected:
  TestBackend blue{"blue-1"};
  TestBackend blue2{"blue-2"};
  TestBackend green{"green-1"};
};

TEST_F(ReloadDrainTest, SighupAppliesAnEditedFileWithoutDroppingConnections) {
  Bgproxy proxy(make_config({.blue = {blue.address()}, .green = {green.address()}}));
  ASSERT_TRUE(proxy.start());
  Conn conn(proxy.proxy_port());
  ASSERT_TRUE(conn.connected());
  EXPECT_EQ(backend_of(conn.get("/")), "blue-1");
  EXPECT_EQ(backend_of(conn.get("/", "X-Bluegreen: green\r\n")), "green-1");

  // Blue moves to another backend; the override header is renamed.
  proxy.rewrite_config(make_config({.blue = {blue2.address()},
                                    .green = {green.address()},
                                    .routing = "override_header: X-Color"}));
  proxy.signal(SIGHUP);
  ASSERT_TRUE(proxy.wait_log("reloaded")) << proxy.log();

  // The same connection, open across the reload, is served by the new config.
  EXPECT_EQ(backend_of(conn.get("/")), "blue-2");
  EXPECT_EQ(backend_of(conn.get("/", "X-Color: green\r\n")), "green-1");
  EXPECT_EQ(backend_of(conn.get("/", "X-Bluegreen: green\r\n")), "blue-2");
  EXPECT_EQ(send_requests(proxy.proxy_port(), 10).of("blue"), 10);
  EXPECT_EQ(blue.requests(), 1u) << "the old blue endpoint still gets traffic";
  EXPECT_TRUE(proxy.running());
}

TEST_F(ReloadDrainTest, SighupWithAnInvalidFileKeepsTheRunningConfig) {
  Bgproxy proxy(make_config({.blue = {blue.address()}, .green = {green.address()}}));
  ASSERT_TRUE(proxy.start());
  Conn conn(proxy.proxy_port());
  EXPECT_EQ(backend_of(conn.get("/")), "blue-1");

  proxy.rewrite_config(make_config({.blue = {blue2.address()}, .green = {green.address()}}) +
                       "no_such_key: 1\n");
  proxy.signal(SIGHUP);
  ASSERT_TRUE(proxy.wait_log("reload refused")) << proxy.log();
  EXPECT_NE(proxy.log().find("no_such_key"), std::string::npos) << "the log names the error";

  EXPECT_EQ(backend_of(conn.get("/")), "blue-1");
  EXPECT_EQ(backend_of(conn.get("/", "X-Bluegreen: green\r\n")), "green-1");
  const Tally t = send_requests(proxy.proxy_port(), 10);
  EXPECT_EQ(t.of("blue"), 10) << t.to_string();
  EXPECT_EQ(blue2.requests(), 0u);
  EXPECT_TRUE(proxy.running());
}

TEST_F(ReloadDrainTest, SigtermFinishesRequestsInFlightThenExits) {
  ConfigSpec spec{.blue = {blue.address()}, .green = {green.address()}, .timeouts = "drain: 5s"};
  Bgproxy proxy(make_config(spec));
  ASSERT_TRUE(proxy.start());
  Conn idle(proxy.proxy_port());
  ASSERT_EQ(backend_of(idle.get("/")), "blue-1");  // now an idle keep-alive connection

  blue.set_latency(1s);
  auto in_flight = std::async(std::launch::async, [&] {
    return http_request(proxy.proxy_port(), "GET", "/slow", {}, {}, 5s);
  });
  ASSERT_TRUE(wait_until([&] { return blue.requests() == 2; }, 3s)) << "the request never arrived";
  proxy.signal(SIGTERM);

  EXPECT_TRUE(idle.closed_within(2s)) << "the idle keep-alive connection stayed open";
  bool refused_while_draining = false;
  wait_until(
      [&] {
        Conn fresh(proxy.proxy_port());
        refused_while_draining = !fresh.connected() && proxy.running();
        return !fresh.connected();
      },
      2s);
  EXPECT_TRUE(refused_while_draining) << "new connections were still accepted while draining";

  const HttpResponse answer = in_flight.get();
  EXPECT_EQ(answer.status, 200u) << answer.error;
  EXPECT_EQ(color_of(answer), "blue");
  EXPECT_FALSE(answer.keep_alive) << "a draining proxy keeps no connection open";
  EXPECT_EQ(proxy.wait_exit(3s), 0) << proxy.log();
}

}  // namespace
}  // namespace bgt
