// The session's resource handling over real loopback sockets: keep-alive connections parked while
// idle, and pooled upstream connections the upstream closed meanwhile.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/write.hpp>

#include "proxy/proxy_harness.h"
#include "proxy/test_http.h"
#include "support/wait_until.h"

namespace bgp::testing {
namespace {

class SessionTest : public ::testing::Test {
 protected:
  ProxyHarness proxy;
};

TEST_F(SessionTest, AParkedConnectionServesItsNextRequest) {
  TestBackend backend;
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  for (int i = 0; i < 3; ++i) {
    const std::string target = std::string("/").append(std::to_string(i));  // GCC 12: no "/" + s
    ASSERT_TRUE(client.send(make_request(http::verb::get, target))) << i;
    const auto response = client.read_response();
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->result(), http::status::ok) << i;
    ASSERT_TRUE(wait_until([&] { return proxy.server().parked_connections() == 1; })) << i;
  }
  EXPECT_EQ(backend.request_count(), 3u);
  EXPECT_EQ(backend.connections(), 1u);  // the upstream connection was pooled meanwhile
  EXPECT_EQ(proxy.totals_after_stop().of(Color::blue).requests, 3u);
}

TEST_F(SessionTest, AParkedConnectionClosesAtItsIdleDeadline) {
  TestBackend backend;
  proxy.config.timeouts.client_idle = std::chrono::milliseconds(600);
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy(), 3s);
  ASSERT_TRUE(client.send(make_request(http::verb::get, "/")));
  ASSERT_TRUE(client.read_response());
  const auto idle_since = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.wait_closed());
  const auto waited = std::chrono::steady_clock::now() - idle_since;
  EXPECT_GE(waited, std::chrono::milliseconds(550));
  EXPECT_LT(waited, std::chrono::milliseconds(2000));
}

// Within the drain's grace for idle connections (a request on its way is still served) and the
// linger after their FIN.
TEST_F(SessionTest, ADrainClosesParkedConnectionsWithinASecond) {
  TestBackend backend;
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(client.send(make_request(http::verb::get, "/")));
  ASSERT_TRUE(client.read_response());
  ASSERT_TRUE(wait_until([&] { return proxy.server().parked_connections() == 1; }));
  const auto started = std::chrono::steady_clock::now();
  proxy.server().drain(std::chrono::seconds(5));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  EXPECT_TRUE(client.wait_closed());
}

// The backend answers with keep-alive, then closes the connection at once (counted in `closed`).
BackendHandler answer_and_close(std::atomic<int>& closed) {
  return [&closed](BackendExchange& ex) {
    ex.raw = [&closed](tcp::socket& socket) {
      constexpr std::string_view kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      boost::system::error_code ec;
      net::write(socket, net::buffer(kResponse), ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
      socket.close(ec);
      ++closed;
    };
  };
}

TEST_F(SessionTest, AGetOnAPooledConnectionTheUpstreamClosedIsSentAgain) {
  std::atomic<int> closed{0};
  TestBackend backend(answer_and_close(closed));
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.send(make_request(http::verb::get, "/"))) << i;
    const auto response = client.read_response();
    ASSERT_TRUE(response) << i;
    EXPECT_EQ(response->result(), http::status::ok) << i;
  }
  EXPECT_EQ(backend.request_count(), 3u);
  const auto totals = proxy.totals_after_stop();
  EXPECT_EQ(totals.of(Color::blue).errors, 0u);
}

TEST_F(SessionTest, APostNeverGoesToAPooledConnectionTheUpstreamClosed) {
  std::atomic<int> closed{0};
  TestBackend backend(answer_and_close(closed));
  proxy.start({endpoint_at(backend.endpoint())});

  TestClient client(proxy.proxy());
  ASSERT_TRUE(client.send(make_request(http::verb::get, "/")));
  ASSERT_TRUE(client.read_response());
  ASSERT_TRUE(wait_until([&] { return closed == 1; }));  // the pooled connection is closed
  ASSERT_TRUE(client.send(make_request(http::verb::post, "/p", "body")));
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->result(), http::status::ok);
  ASSERT_EQ(backend.request_count(), 2u);
  EXPECT_EQ(backend.requests()[1].body(), "body");
}

}  // namespace
}  // namespace bgp::testing
